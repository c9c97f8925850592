//! Replays every test vector in `sdk/vectors/room/` (format: `sdk/vectors/README.md`) against the room machine.
//! The JavaScript SDK replays the same files against its `RoomMachine`. Only actions and codes are compared: the
//! other events of each SDK (replies to the page's calls, members changed, ...) differ in shape.

mod common;

use std::path::Path;
use std::time::Duration;

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

/// Actions and codes in the vectors' notation; the other events are not compared.
fn drain(m: &mut RoomMachine, at_ms: u64, into: &mut Vec<Value>) {
    while let Some(o) = m.poll_output() {
        match o {
            Output::Status(s) => {
                into.push(json!({"at_ms": at_ms, "event": {"code": s.code, "message": s.message}}))
            }
            Output::Action(a) => into.push(json!({"at_ms": at_ms, "action": a})),
            Output::Event(_) => {}
        }
    }
}

fn replay(path: &Path) -> Result<(), String> {
    let steps = common::Steps {
        timeout: RoomMachine::handle_timeout,
        input: |m: &mut RoomMachine, i: Input, now| {
            m.handle_input(i, now);
        },
        drain,
    };
    common::replay_stepped(path, |c| Ok(RoomMachine::new(config(c)?)), steps)
}

#[test]
fn every_room_vector_replays() {
    common::replay_all("room", replay);
}
