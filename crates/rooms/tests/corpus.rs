//! Replays every file of fuzz/corpus/rooms_messages/ through the checks the fuzz target runs (`rooms::fuzzing`),
//! so CI exercises the corpus on stable without cargo-fuzz.

use std::path::PathBuf;

#[test]
fn replay_rooms_messages() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for dir in [
        fuzz.join("corpus/rooms_messages"),
        fuzz.join("artifacts/rooms_messages"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let sent = rooms::fuzzing::messages(&std::fs::read(&path).unwrap());
                // The two joins alone produce replies and events.
                assert!(sent >= 4, "{}", path.display());
                replayed += 1;
            }
        }
    }
    // The committed corpus (update when it is re-minimized): a moved or emptied corpus fails.
    assert!(
        replayed >= 344,
        "fuzz/corpus/rooms_messages: {replayed} files"
    );
}
