//! Replays every file of fuzz/corpus/txsecret_verify/ through the checks the fuzz target runs
//! (`control::fuzzing`), so CI exercises the corpus on stable without cargo-fuzz.

use std::path::PathBuf;

#[test]
fn replay_txsecret_verify() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let (mut replayed, mut verified) = (0, Vec::new());
    for dir in [
        fuzz.join("corpus/txsecret_verify"),
        fuzz.join("artifacts/txsecret_verify"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                if control::fuzzing::txsecret_verify(&std::fs::read(&path).unwrap()) {
                    verified.push(path.file_name().unwrap().to_string_lossy().into_owned());
                }
                replayed += 1;
            }
        }
    }
    // The committed corpus (update when it is re-minimized): a moved or emptied corpus fails.
    assert!(
        replayed >= 67,
        "fuzz/corpus/txsecret_verify: {replayed} files"
    );
    // The seeds written by hand: the genuine URLs verify, the attacks and the out-of-range times do not.
    verified.sort();
    for seed in ["extra_params", "tencent", "upper_time", "valid"] {
        assert!(
            verified.iter().any(|v| v == seed),
            "{seed} should verify: {verified:?}"
        );
    }
    for seed in ["moved_digit", "plus_time", "too_far", "expired"] {
        assert!(
            !verified.iter().any(|v| v == seed),
            "{seed} must not verify"
        );
    }
}
