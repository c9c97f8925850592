//! Replays every case in `sdk/vectors/managed/` against the Vhall reconnect machine.

use std::path::PathBuf;

use client::managed::{ManagedConfig, ManagedInput, ManagedMachine, ManagedOutput};
use serde_json::{json, Value};

fn vectors() -> Vec<(PathBuf, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sdk/vectors/managed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect()
}

fn output_json(at: u64, o: ManagedOutput) -> Value {
    match o {
        ManagedOutput::Event(e) => json!({ "at_ms": at, "event": e }),
        ManagedOutput::Action(a) => json!({ "at_ms": at, "action": a }),
    }
}

#[test]
fn every_managed_vector_replays() {
    for (path, case) in vectors() {
        let config: ManagedConfig = serde_json::from_value(case["config"].clone()).expect("config");
        let mut m = ManagedMachine::new(config);
        let mut got = Vec::new();
        for step in case["steps"].as_array().expect("steps") {
            let at = step["at_ms"].as_u64().expect("at_ms");
            m.handle_timeout(at);
            while let Some(o) = m.poll_output() {
                got.push(output_json(at, o));
            }
            if let Some(input) = step.get("input") {
                let input: ManagedInput = serde_json::from_value(input.clone())
                    .unwrap_or_else(|e| panic!("{}: input {input}: {e}", path.display()));
                m.handle(input, at);
                while let Some(o) = m.poll_output() {
                    got.push(output_json(at, o));
                }
            }
        }
        assert_eq!(
            Value::Array(got),
            case["expect"],
            "{} ({})",
            path.display(),
            case["name"]
        );
    }
}
