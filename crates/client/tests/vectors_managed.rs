//! Replays every case in `sdk/vectors/managed/` against the Vhall reconnect machine.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use client::managed::{ManagedConfig, ManagedInput, ManagedMachine, ManagedOutput};
use serde::Deserialize;
use serde_json::{json, Value};

/// A vector's `config`: the settings in milliseconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorConfig {
    interval_ms: Option<u64>,
}

impl VectorConfig {
    fn machine(&self) -> ManagedConfig {
        let d = ManagedConfig::default();
        ManagedConfig {
            interval: self.interval_ms.map_or(d.interval, Duration::from_millis),
        }
    }
}

fn output_json(at: u64, o: ManagedOutput) -> Value {
    match o {
        ManagedOutput::Event(e) => json!({ "at_ms": at, "event": e }),
        ManagedOutput::Action(a) => json!({ "at_ms": at, "action": a }),
    }
}

/// Runs one case; `Err` says how the outputs differ.
fn replay(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let config: VectorConfig =
        serde_json::from_value(case["config"].clone()).map_err(|e| format!("config: {e}"))?;
    let mut m = ManagedMachine::new(config.machine());
    // The vectors count milliseconds from the start of the case; the machine takes instants.
    let t0 = Instant::now();
    let mut got = Vec::new();
    for step in case["steps"].as_array().ok_or("no steps")? {
        let at = step["at_ms"].as_u64().ok_or("a step without at_ms")?;
        let now = t0 + Duration::from_millis(at);
        m.handle_timeout(now);
        while let Some(o) = m.poll_output() {
            got.push(output_json(at, o));
        }
        if let Some(input) = step.get("input") {
            let input: ManagedInput =
                serde_json::from_value(input.clone()).map_err(|e| format!("input {input}: {e}"))?;
            m.handle_input(input, now);
            while let Some(o) = m.poll_output() {
                got.push(output_json(at, o));
            }
        }
    }
    let got = Value::Array(got);
    if got == case["expect"] {
        Ok(())
    } else {
        Err(format!(
            "{}: expected {}\n got {}",
            case["name"], case["expect"], got
        ))
    }
}

#[test]
fn every_managed_vector_replays() {
    common::replay_all("managed", replay);
}
