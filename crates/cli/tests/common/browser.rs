//! Headless Chromium (Playwright with `/usr/bin/chromium`): `tests/browser/hlsjs.mjs` plays a playlist with
//! hls.js, `tests/browser/whep.mjs` plays a WHEP URL and `tests/browser/console.mjs` drives the operator's
//! console; each reports what it did.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{peers, run_with_timeout};

/// `tests/browser` when its node modules and Chromium are there; else the test is skipped (or fails when the
/// browser is required).
pub fn browser_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = dir.join("node_modules/hls.js").exists()
        && dir.join("node_modules/playwright-core").exists()
        && dir.join("node_modules/jsqr").exists()
        && std::path::Path::new(&chromium).exists();
    if ready {
        return Some(dir);
    }
    peers::skip_for_missing_peer(
        "browser test",
        "Chromium or tests/browser/node_modules",
        Some("MPLIVE_REQUIRE_BROWSER"),
    );
    None
}

/// Runs hls.js on `url` for `seconds` and returns its JSON report.
pub fn hlsjs(dir: &PathBuf, url: &str, seconds: u32, low_latency: bool) -> serde_json::Value {
    let mut args = vec![url.to_string(), "--seconds".into(), seconds.to_string()];
    if low_latency {
        args.push("--low-latency".into());
    }
    node_report(dir, "hlsjs.mjs", &args, seconds)
}

/// Runs `tests/browser/{script}` with `args` (at most `seconds` + 60 s) and returns the JSON of its last line.
fn node_report(dir: &PathBuf, script: &str, args: &[String], seconds: u32) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.current_dir(dir).arg(script).args(args);
    let (out, timed_out) = run_with_timeout(&mut cmd, Duration::from_secs(u64::from(seconds) + 60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!timed_out, "{script} hung: {stderr}");
    assert!(out.status.success(), "{script} {args:?} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("report {line:?}: {e}; stderr: {stderr}"))
}

/// Runs `console.mjs` against the server at `base` (the stream `app/stream` live), screenshots into `out`;
/// returns its JSON report, or panics with the step that failed.
pub fn console(
    dir: &PathBuf,
    base: &str,
    token: &str,
    stream: &str,
    out: &std::path::Path,
) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.current_dir(dir)
        .arg("console.mjs")
        .args([
            "--base", base, "--token", token, "--stream", stream, "--out",
        ])
        .arg(out);
    let (output, timed_out) = run_with_timeout(&mut cmd, Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!timed_out, "console.mjs hung: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    assert!(
        output.status.success(),
        "console.mjs failed: {stderr}\nreport: {line}"
    );
    serde_json::from_str(line).unwrap_or_else(|e| panic!("report {line:?}: {e}; stderr: {stderr}"))
}

/// Plays the WHEP URL `url` in Chromium for `seconds` (`whep.mjs`) and returns its JSON report.
pub fn whep(dir: &PathBuf, url: &str, seconds: u32) -> serde_json::Value {
    let args = [url.to_string(), "--seconds".into(), seconds.to_string()];
    node_report(dir, "whep.mjs", &args, seconds)
}
