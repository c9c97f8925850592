//! Replays every file of `fuzz/corpus/hls_mux` through the same checks as the fuzz target (`hls::fuzzing::mux`),
//! so CI covers the corpus without nightly.

use std::path::PathBuf;

#[test]
fn hls_mux_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/hls_mux");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    // The committed corpus (update when it is re-minimized): a moved or emptied corpus fails.
    assert!(
        files.len() >= 187,
        "{}: {} files",
        dir.display(),
        files.len()
    );
    let mut tags = 0;
    for path in files {
        let data = std::fs::read(&path).unwrap();
        tags += hls::fuzzing::mux(&data);
        // Truncated at every few bytes' step too: a stream cut anywhere.
        for cut in (0..data.len()).step_by(data.len() / 16 + 1) {
            hls::fuzzing::mux(&data[..cut]);
        }
        eprintln!("ok {}", path.display());
    }
    assert!(tags > 100, "the corpus feeds real media ({tags} tags)");
}
