//! Replays every live-pusher state-machine vector in `sdk/vectors/pusher/` (format: `sdk/vectors/README.md`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use client::pusher::machine::{Action, Input, MachineConfig, Output, PusherMachine};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    #[allow(dead_code)]
    description: String,
    #[serde(default)]
    config: Config,
    steps: Vec<Step>,
    expect: Vec<Expected>,
}

/// The machine's settings in milliseconds; omitted fields take the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    max_retries: Option<u32>,
    retry_interval_ms: Option<u64>,
    net_busy_repeat_ms: Option<u64>,
}

impl Config {
    fn machine(&self) -> MachineConfig {
        let d = MachineConfig::default();
        MachineConfig {
            max_retries: self.max_retries.unwrap_or(d.max_retries),
            retry_interval: self
                .retry_interval_ms
                .map_or(d.retry_interval, Duration::from_millis),
            net_busy_repeat: self
                .net_busy_repeat_ms
                .map_or(d.net_busy_repeat, Duration::from_millis),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at_ms: u64,
    input: Option<Input>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    at_ms: u64,
    event: Option<ExpectedEvent>,
    action: Option<Action>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedEvent {
    code: i32,
    message: Option<String>,
}

/// Runs the steps; returns every output with the clock value when it was produced. A timer fires at its deadline.
fn replay(v: &Vector) -> Result<Vec<(u64, Output)>, String> {
    let t0 = Instant::now();
    let mut m = PusherMachine::new(v.config.machine());
    let mut out = Vec::new();
    let drain = |m: &mut PusherMachine, at: Instant, out: &mut Vec<(u64, Output)>| {
        let ms = (at - t0).as_millis() as u64;
        while let Some(o) = m.poll_output() {
            out.push((ms, o));
        }
    };
    let mut last = 0;
    for step in &v.steps {
        if step.at_ms < last {
            return Err(format!("step at {} ms goes back in time", step.at_ms));
        }
        last = step.at_ms;
        let now = t0 + Duration::from_millis(step.at_ms);
        while let Some(due) = m.poll_timeout().filter(|d| *d <= now) {
            m.handle_timeout(due);
            drain(&mut m, due, &mut out);
        }
        if let Some(input) = &step.input {
            m.handle_input(input.clone(), now);
            drain(&mut m, now, &mut out);
        }
    }
    Ok(out)
}

fn describe(o: &(u64, Output)) -> String {
    match &o.1 {
        Output::Event(e) => format!("{} ms: event {} {:?}", o.0, e.code, e.message),
        Output::Action(a) => format!("{} ms: action {a:?}", o.0),
    }
}

fn matches(e: &Expected, got: &(u64, Output)) -> bool {
    if e.at_ms != got.0 {
        return false;
    }
    match (&e.event, &e.action, &got.1) {
        (Some(want), None, Output::Event(ev)) => {
            want.code == ev.code && want.message.as_ref().is_none_or(|m| *m == ev.message)
        }
        (None, Some(want), Output::Action(a)) => want == a,
        _ => false,
    }
}

fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let v: Vector = serde_json::from_str(&text).map_err(|e| format!("not a vector: {e}"))?;
    for (i, e) in v.expect.iter().enumerate() {
        if e.event.is_some() == e.action.is_some() {
            return Err(format!("expect[{i}] needs exactly one of event and action"));
        }
    }
    let got = replay(&v)?;
    let n = got.len().max(v.expect.len());
    for i in 0..n {
        let ok = match (v.expect.get(i), got.get(i)) {
            (Some(e), Some(g)) => matches(e, g),
            _ => false,
        };
        if !ok {
            let produced: Vec<String> = got.iter().map(describe).collect();
            return Err(format!(
                "{:?}: output {i} differs: expected {:?}, produced {}\nall produced:\n  {}",
                v.name,
                v.expect.get(i),
                got.get(i).map_or("nothing".into(), describe),
                produced.join("\n  ")
            ));
        }
    }
    Ok(())
}

#[test]
fn every_pusher_vector_replays() {
    common::replay_all("pusher", check);
}
