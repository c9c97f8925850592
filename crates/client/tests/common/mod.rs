//! Shared by the vector replays: finding the cases and reporting every failing one at once.

use std::path::{Path, PathBuf};

/// Replays every `sdk/vectors/{kind}/*.json` with `check`; fails listing every case that failed (and when there
/// are none at all, so an emptied folder cannot pass).
pub fn replay_all(kind: &str, check: impl Fn(&Path) -> Result<(), String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sdk/vectors")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            check(f).err().map(|e| {
                format!(
                    "{}: {e}",
                    f.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {kind} vectors failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
