//! The cost of one transcode per stream, for docs/benchmarks.md. Ignored by default; run it in release:
//! `cargo test --release -p mplive-audio --test cost -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use audio::{AacToOpus, OpusToAac};
use common::*;

const SECS: u32 = 30;

fn cpu_time() -> f64 {
    // User + system CPU of this process, so that a busy machine does not inflate the figure.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

#[test]
#[ignore]
fn cost_per_second_of_audio() {
    let dir = scratch("cost");
    let (asc, _, frames) = split_adts(&std::fs::read(aac_tone(&dir, 44_100, 2, SECS)).unwrap());
    let (cpu, wall) = (cpu_time(), Instant::now());
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut packets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        packets.extend(t.push(f, (i as u64 * 1024 * 1000 / 44_100) as u32).unwrap());
    }
    let (a2o_cpu, a2o_wall) = (cpu_time() - cpu, wall.elapsed().as_secs_f64());
    let (cpu, wall) = (cpu_time(), Instant::now());
    let mut t = OpusToAac::new(2).unwrap();
    let mut out = 0;
    for p in &packets {
        out += t.push(&p.data, p.pts_48k).unwrap().len();
    }
    let (o2a_cpu, o2a_wall) = (cpu_time() - cpu, wall.elapsed().as_secs_f64());
    assert!(out > 0);
    let secs = f64::from(SECS);
    println!(
        "AAC 44.1 kHz stereo -> Opus 64 kb/s: {:.2} ms CPU per s of audio ({:.2} ms wall), {:.2}% of a core",
        a2o_cpu * 1000.0 / secs,
        a2o_wall * 1000.0 / secs,
        a2o_cpu * 100.0 / secs
    );
    println!(
        "Opus 48 kHz stereo -> AAC-LC 128 kb/s: {:.2} ms CPU per s of audio ({:.2} ms wall), {:.2}% of a core",
        o2a_cpu * 1000.0 / secs,
        o2a_wall * 1000.0 / secs,
        o2a_cpu * 100.0 / secs
    );
}
