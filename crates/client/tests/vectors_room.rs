//! Replays every test vector in `sdk/vectors/room/` (format: `sdk/vectors/README.md`) against the room machine.
//! The JavaScript SDK replays the same files against its `RoomMachine`. Only actions and codes are compared: the
//! other events of each SDK (replies to the page's calls, members changed, ...) differ in shape.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use client::room::machine::{Input, Output, RoomConfig, RoomMachine};
use serde_json::{json, Value};

/// The machine's settings from a vector's `config` (milliseconds; omitted fields take the defaults).
fn config(v: &Value) -> Result<RoomConfig, String> {
    let mut c = RoomConfig::default();
    if v.is_null() {
        return Ok(c);
    }
    let obj = v.as_object().ok_or("config is not an object")?;
    for (k, v) in obj {
        let ms = v
            .as_u64()
            .map(Duration::from_millis)
            .ok_or_else(|| format!("config.{k} is not a number of milliseconds"))?;
        match k.as_str() {
            "heartbeat_ms" => c.heartbeat = ms,
            "answer_timeout_ms" => c.answer_timeout = ms,
            "resume_grace_ms" => c.resume_grace = ms,
            "resume_retry_ms" => c.resume_retry = ms,
            "resume_retry_max_ms" => c.resume_retry_max = ms,
            other => return Err(format!("unknown config field {other:?}")),
        }
    }
    Ok(c)
}

/// An output in the vectors' notation; `None` for the events the vectors do not compare.
fn notation(at_ms: u64, o: &Output) -> Option<Value> {
    match o {
        Output::Status(s) => {
            Some(json!({"at_ms": at_ms, "event": {"code": s.code, "message": s.message}}))
        }
        Output::Action(a) => Some(json!({"at_ms": at_ms, "action": a})),
        Output::Event(_) => None,
    }
}

/// Whether `got` satisfies the expectation `want` (a message is compared only when given).
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
    let mut machine = RoomMachine::new(config(&v["config"])?);
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
            got.extend(notation(at, &o));
        }
        if let Some(input) = step.get("input") {
            let input: Input = serde_json::from_value(input.clone())
                .map_err(|e| format!("step {i}: bad input {input}: {e}"))?;
            machine.handle_input(input, now);
            while let Some(o) = machine.poll_output() {
                got.extend(notation(at, &o));
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
fn every_room_vector_replays() {
    common::replay_all("room", replay);
}
