//! Shared by the vector replays: finding the cases, stepping a machine through one, comparing its outputs, and
//! reporting every failing case at once.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// How to step a machine under replay with the player's clock rule: at each step the timers due by then fire
/// (`timeout`), then the step's input is handled (`input`, deserialized from the vector); `drain` appends the
/// outputs so far in the vectors' notation (`{"at_ms", "event" | "action"}`), leaving out what is not compared.
pub struct Steps<M, I> {
    /// Fires the timers due by the instant.
    pub timeout: fn(&mut M, Instant),
    /// Handles one input.
    pub input: fn(&mut M, I, Instant),
    /// Appends the outputs, stamped with the step's `at_ms`.
    pub drain: fn(&mut M, u64, &mut Vec<Value>),
}

/// Replays the vector at `path` on the machine `make` builds from its `config`, stepped by `steps`, and compares the outputs with its
/// `expect` (status events by code, and by message when given; actions whole).
pub fn replay_stepped<M, I: serde::de::DeserializeOwned>(
    path: &Path,
    make: impl FnOnce(&Value) -> Result<M, String>,
    steps: Steps<M, I>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    for field in ["name", "description"] {
        if !v[field].is_string() {
            return Err(format!("{field} missing"));
        }
    }
    let mut machine = make(&v["config"])?;
    let base = Instant::now();
    let mut got = Vec::new();
    let mut last = 0;
    let list = v["steps"].as_array().ok_or("steps missing")?;
    for (i, step) in list.iter().enumerate() {
        let at = step["at_ms"]
            .as_u64()
            .ok_or(format!("step {i}: at_ms missing"))?;
        if at < last {
            return Err(format!("step {i}: at_ms {at} goes back from {last}"));
        }
        last = at;
        let now = base + Duration::from_millis(at);
        (steps.timeout)(&mut machine, now);
        (steps.drain)(&mut machine, at, &mut got);
        if let Some(input) = step.get("input") {
            let input = serde_json::from_value(input.clone())
                .map_err(|e| format!("step {i}: bad input {input}: {e}"))?;
            (steps.input)(&mut machine, input, now);
            (steps.drain)(&mut machine, at, &mut got);
        }
    }
    let want = v["expect"].as_array().ok_or("expect missing")?;
    let ok = want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| matches(w, g));
    if ok {
        return Ok(());
    }
    let show = |list: &[Value]| {
        list.iter()
            .map(|x| format!("    {x}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "outputs differ\n  expected:\n{}\n  got:\n{}",
        show(want),
        show(&got)
    ))
}

/// Whether `got` satisfies the expectation `want` (a status message is compared only when given).
fn matches(want: &Value, got: &Value) -> bool {
    if want["at_ms"] != got["at_ms"] {
        return false;
    }
    match (want.get("event"), want.get("action")) {
        (Some(w), None) => got.get("event").is_some_and(|g| {
            w["code"] == g["code"] && w.get("message").is_none_or(|m| *m == g["message"])
        }),
        (None, Some(w)) => got.get("action") == Some(w),
        _ => false,
    }
}
