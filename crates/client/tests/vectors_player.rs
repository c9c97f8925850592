//! Replays every test vector in `sdk/vectors/player/` (format: `sdk/vectors/README.md`) against the player
//! machine. The JavaScript SDK replays the same files.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use client::player::machine::{Input, Output, PlayMode, PlayerConfig, PlayerMachine};
use serde_json::{json, Value};

/// The machine's settings from a vector's `config` (milliseconds; omitted fields take the defaults).
fn config(v: &Value) -> Result<PlayerConfig, String> {
    let mut c = PlayerConfig::default();
    let Some(obj) = v.as_object() else {
        return Err("config is not an object".into());
    };
    let ms = |v: &Value, k: &str| {
        v.as_u64()
            .map(Duration::from_millis)
            .ok_or_else(|| format!("config.{k} is not a number of milliseconds"))
    };
    for (k, v) in obj {
        match k.as_str() {
            "mode" => {
                c.mode = serde_json::from_value::<PlayMode>(v.clone())
                    .map_err(|e| format!("config.mode: {e}"))?
            }
            "min_cache_ms" => c.min_cache = ms(v, k)?,
            "max_cache_ms" => c.max_cache = ms(v, k)?,
            "retry_interval_ms" => c.retry_interval = ms(v, k)?,
            "max_wait_ms" => c.max_wait = Some(ms(v, k)?),
            "retries" => {
                c.retries = v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("config.retries is not a count")?
            }
            other => return Err(format!("unknown config field {other:?}")),
        }
    }
    Ok(c)
}

/// An output in the vectors' notation.
fn notation(at_ms: u64, o: &Output) -> Value {
    match o {
        Output::Status(s) => {
            json!({"at_ms": at_ms, "event": {"code": s.code, "message": s.message}})
        }
        Output::Action(a) => json!({"at_ms": at_ms, "action": a}),
    }
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

fn replay(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    for field in ["name", "description"] {
        if !v[field].is_string() {
            return Err(format!("{field} missing"));
        }
    }
    let mut machine = PlayerMachine::new(config(&v["config"])?);
    let base = Instant::now();
    let mut got = Vec::new();
    let mut last = 0;
    let steps = v["steps"].as_array().ok_or("steps missing")?;
    for (i, step) in steps.iter().enumerate() {
        let at = step["at_ms"]
            .as_u64()
            .ok_or(format!("step {i}: at_ms missing"))?;
        if at < last {
            return Err(format!("step {i}: at_ms {at} goes back from {last}"));
        }
        last = at;
        let now = base + Duration::from_millis(at);
        machine.handle_timeout(now);
        while let Some(o) = machine.poll_output() {
            got.push(notation(at, &o));
        }
        if let Some(input) = step.get("input") {
            let input: Input = serde_json::from_value(input.clone())
                .map_err(|e| format!("step {i}: bad input {input}: {e}"))?;
            machine.handle_input(input, now);
            while let Some(o) = machine.poll_output() {
                got.push(notation(at, &o));
            }
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

#[test]
fn every_player_vector_replays() {
    common::replay_all("player", replay);
}
