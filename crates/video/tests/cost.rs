//! The CPU cost of re-encoding one stream, which a stream with B-frames pays once whatever its number of WebRTC
//! viewers (docs/benchmarks.md, "B-frame re-encode per stream"). Not a pass/fail test: run it by hand,
//!
//! ```sh
//! cargo test --release -p mplive-video --test cost -- --ignored --nocapture
//! ```

use std::process::Command;
use std::time::Instant;

use video::{Reencoder, ReencoderConfig};

/// CPU seconds (user + system) of this process so far, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Access units of an Annex B stream written with access unit delimiters (x264 `aud=1`).
fn access_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = stream
        .windows(5)
        .enumerate()
        .filter(|(_, w)| w[..4] == [0, 0, 0, 1] && w[4] & 0x1f == 9)
        .map(|(i, _)| i)
        .collect();
    starts.push(stream.len());
    starts.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

fn has_idr(au: &[u8]) -> bool {
    au.windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

#[test]
#[ignore = "a measurement: run by hand with --release (docs/benchmarks.md)"]
fn reencode_cost_per_second_of_video() {
    let seconds = 10u32;
    let dir = std::env::temp_dir().join(format!("mplive-video-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("| source (x264 veryfast -bf 2, ffmpeg testsrc2) | bitrate | CPU per second of video | share of one core |");
    println!("|---|---:|---:|---:|");
    for (size, fps, kbps) in [
        ("540x960", 25, 1000),
        ("1280x720", 30, 2500),
        ("1920x1080", 30, 4500),
    ] {
        let file = dir.join(format!("{size}.h264"));
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate={fps}"))
            .args([
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-bf",
                "2",
            ])
            .args([
                "-b:v",
                &format!("{kbps}k"),
                "-g",
                &(fps * 2).to_string(),
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-x264-params", "aud=1", "-f", "h264"])
            .arg(&file)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        let stream = std::fs::read(&file).unwrap();
        let units = access_units(&stream);
        let mut reencoder = Reencoder::new(ReencoderConfig {
            bitrate_bps: kbps * 1000,
            frame_rate: fps as f32,
            ..ReencoderConfig::default()
        })
        .unwrap();
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let mut out = 0usize;
        for (i, au) in units.iter().enumerate() {
            // Decode order with made-up presentation times: the cost does not depend on them.
            out += usize::from(
                reencoder
                    .push(au, i as i64 * 1000 / i64::from(fps), has_idr(au))
                    .unwrap()
                    .is_some(),
            );
        }
        out += reencoder.flush().unwrap().len();
        let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
        assert_eq!(out, units.len(), "every picture out");
        let per_second = cpu / f64::from(seconds) * 1000.0;
        println!(
            "| {size} {fps} fps | {kbps} kb/s | {per_second:.0} ms (wall {:.0} ms) | {:.1}% |",
            wall / f64::from(seconds) * 1000.0,
            per_second / 10.0
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
