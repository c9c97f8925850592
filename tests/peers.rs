//! What a test does when a real peer it needs (PostgreSQL, PyJWT, ffmpeg, Chromium) is not on the machine. Shared
//! by the test crates through `#[path]`, so the rule is written once.
//!
//! `./scripts/test` installs every peer and sets `MPLIVE_REQUIRE_PEERS=1`: then a missing peer fails the test. Run
//! by hand without that switch, the test returns early and its skip is written to `$MPLIVE_SKIP_LOG` (one line per
//! skip), which `./scripts/test` counts in its closing line; a skip never counts as a pass silently.

/// Whether peers are required: `MPLIVE_REQUIRE_PEERS=1`, or the older per-peer switch `legacy` (e.g.
/// `MPLIVE_REQUIRE_POSTGRES`) set to 1.
pub fn peers_required(legacy: Option<&str>) -> bool {
    let on = |name: &str| std::env::var(name).as_deref() == Ok("1");
    on("MPLIVE_REQUIRE_PEERS") || legacy.is_some_and(on)
}

/// Reports that `test` cannot run because `missing` is not available: panics when peers are required (see
/// [`peers_required`]), else records the skip and returns, so the caller returns too.
pub fn skip_for_missing_peer(test: &str, missing: &str, legacy: Option<&str>) {
    assert!(
        !peers_required(legacy),
        "{test}: {missing} is not available but peers are required (MPLIVE_REQUIRE_PEERS=1); ./scripts/test installs it"
    );
    eprintln!("skipped: {test}: {missing} is not available");
    if let Ok(path) = std::env::var("MPLIVE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(log, "{test}: {missing} is not available");
        }
    }
}
