//! Replays every test vector in `sdk/vectors/player/` (format: `sdk/vectors/README.md`) against the player
//! machine. The JavaScript SDK replays the same files.

mod common;

use std::path::Path;
use std::time::Duration;

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

/// The outputs in the vectors' notation.
fn drain(m: &mut PlayerMachine, at_ms: u64, into: &mut Vec<Value>) {
    while let Some(o) = m.poll_output() {
        into.push(match o {
            Output::Status(s) => {
                json!({"at_ms": at_ms, "event": {"code": s.code, "message": s.message}})
            }
            Output::Action(a) => json!({"at_ms": at_ms, "action": a}),
        });
    }
}

fn replay(path: &Path) -> Result<(), String> {
    let steps = common::Steps {
        timeout: PlayerMachine::handle_timeout,
        input: |m: &mut PlayerMachine, i: Input, now| m.handle_input(i, now),
        drain,
    };
    common::replay_stepped(path, |c| Ok(PlayerMachine::new(config(c)?)), steps)
}

#[test]
fn every_player_vector_replays() {
    common::replay_all("player", replay);
}
