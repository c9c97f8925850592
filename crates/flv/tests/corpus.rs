//! Replays every file of fuzz/corpus/flv_*/ through the checks the fuzz targets run (`flv::fuzzing`), so CI
//! exercises the corpus on stable without cargo-fuzz.

use std::path::PathBuf;

use flv::avc::AvcDecoderConfig;

/// Every regular file of fuzz/corpus/<target>/ (and fuzz/artifacts/<target>/ if present), with its name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn replay_flv_tag() {
    let files = corpus("flv_tag");
    // The committed corpus (update when it is re-minimized): a moved or emptied corpus fails.
    assert!(
        files.len() >= 292,
        "fuzz/corpus/flv_tag: {} files",
        files.len()
    );
    for (name, data) in &files {
        let n = flv::fuzzing::tag(data);
        if name.ends_with("ffmpeg_540x960_head") {
            // Script, AVC sequence header, AAC sequence header, then frames.
            assert_eq!(n, 6, "{name}");
        }
    }
}

#[test]
fn replay_flv_avc() {
    let files = corpus("flv_avc");
    // The committed corpus (update when it is re-minimized): a moved or emptied corpus fails.
    assert!(
        files.len() >= 478,
        "fuzz/corpus/flv_avc: {} files",
        files.len()
    );
    for (name, data) in &files {
        flv::fuzzing::avc(data);
        if name.contains("avcc_540x960") {
            let i = AvcDecoderConfig::parse(data).unwrap().sps_info().unwrap();
            assert_eq!((i.width, i.height), (540, 960), "{name}");
        }
    }
}

#[test]
fn replay_flv_aac() {
    let files = corpus("flv_aac");
    // The committed corpus (update when it is re-minimized): a moved or emptied corpus fails.
    assert!(
        files.len() >= 63,
        "fuzz/corpus/flv_aac: {} files",
        files.len()
    );
    for (_, data) in &files {
        flv::fuzzing::aac(data);
    }
}
