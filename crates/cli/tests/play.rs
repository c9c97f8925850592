//! `mplive play` against a real server and real publishers (ffmpeg): the live-player status codes under real
//! conditions, over RTMP and HTTP-FLV.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{ffmpeg_push, fixture_av, make_fixture, Server};
use serde_json::Value;

/// A running `mplive play --json`, its stdout lines collected by a thread.
struct Play {
    child: Child,
    lines: Option<JoinHandle<Vec<String>>>,
    url: String,
}

/// What a finished play printed.
struct Played {
    url: String,
    status: ExitStatus,
    lines: Vec<Value>,
    stderr: String,
}

fn spawn_play(url: &str, args: &[&str]) -> Play {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mplive"))
        .arg("play")
        .arg(url)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mplive play");
    let stdout = child.stdout.take().expect("piped stdout");
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect()
    });
    Play {
        child,
        lines: Some(lines),
        url: url.to_string(),
    }
}

impl Play {
    /// Waits (at most `limit`) for the play to exit; every stdout line must be a JSON object with a `type`.
    fn finish(mut self, limit: Duration) -> Played {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let lines = self.lines.take().unwrap().join().unwrap();
                panic!(
                    "mplive play {} still running after {limit:?}; output:\n{}",
                    self.url,
                    lines.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let raw = self.lines.take().unwrap().join().unwrap();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let lines = raw
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                assert!(v["type"].is_string(), "no type in {l}");
                v
            })
            .collect();
        Played {
            url: self.url.clone(),
            status,
            lines,
            stderr,
        }
    }
}

impl Drop for Play {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Played {
    fn codes(&self) -> Vec<i64> {
        self.of_type("status")
            .map(|v| v["code"].as_i64().unwrap())
            .collect()
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.lines.iter().filter(move |v| v["type"] == kind)
    }

    fn summary(&self) -> &Value {
        self.of_type("summary")
            .last()
            .unwrap_or_else(|| panic!("{}: no summary\n{}", self.url, self.dump()))
    }

    fn dump(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .filter(|v| v["type"] != "netStatus")
            .map(Value::to_string)
            .collect();
        format!("{}\nstderr: {}", lines.join("\n"), self.stderr)
    }

    /// `want` appears in the status codes in this order (other codes may come between).
    fn assert_in_order(&self, want: &[i64]) {
        let codes = self.codes();
        let mut it = codes.iter();
        for w in want {
            assert!(
                it.any(|c| c == w),
                "{}: codes {codes:?} do not contain {want:?} in order\n{}",
                self.url,
                self.dump()
            );
        }
    }

    fn assert_success(&self) {
        assert!(
            self.status.success(),
            "{}: exit {:?}\n{}",
            self.url,
            self.status,
            self.dump()
        );
    }
}

/// Makes (once) a landscape 960x540 version of the A/V fixture, for a republish at another resolution.
fn fixture_landscape() -> PathBuf {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| {
        make_fixture(
            "av-960x540-10s.flv",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=960x540:rate=25",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=660:sample_rate=44100",
                "-t",
                "10",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-b:v",
                "800k",
                "-g",
                "25",
                "-keyint_min",
                "25",
                "-sc_threshold",
                "0",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
            ],
        )
    })
    .clone()
}

/// Both play URLs of `stream` on `server`.
fn urls(server: &Server, stream: &str) -> [String; 2] {
    [
        server.rtmp_url(stream),
        server.http_url(&format!("{stream}.flv")),
    ]
}

#[test]
fn rtmp_and_flv_plays_report_2001_to_2004_in_order_and_count_frames() {
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/happy"));
    server.wait_live("live/happy");
    let plays: Vec<Play> = urls(&server, "live/happy")
        .iter()
        .map(|u| spawn_play(u, &["--seconds", "4"]))
        .collect();
    for play in plays {
        let p = play.finish(Duration::from_secs(20));
        p.assert_success();
        assert_eq!(
            p.codes()[..4],
            [2001, 2002, 2003, 2004],
            "{}: {}",
            p.url,
            p.dump()
        );
        assert!(!p.codes().contains(&-2301), "{}", p.dump());
        let net: Vec<&Value> = p.of_type("netStatus").collect();
        assert!(net.len() >= 2, "{}: {} netStatus lines", p.url, net.len());
        let last = net[net.len() - 1];
        for key in [
            "videoBitrate",
            "audioBitrate",
            "videoFPS",
            "netSpeed",
            "netJitter",
            "videoCache",
        ] {
            assert!(last[key].is_number(), "{}: {key} missing in {last}", p.url);
        }
        assert_eq!(
            (last["videoWidth"].as_u64(), last["videoHeight"].as_u64()),
            (Some(540), Some(960))
        );
        assert!(last["videoFPS"].as_f64().unwrap() > 10.0, "{last}");
        let s = p.summary();
        // About 4 s of 25 fps video and 43 fps audio, plus the cached GOP.
        assert!(s["videoFrames"].as_u64().unwrap() > 60, "{s}");
        assert!(s["audioFrames"].as_u64().unwrap() > 60, "{s}");
        assert!(s["keyframes"].as_u64().unwrap() >= 3, "{s}");
        assert_eq!(s["finalState"], "stopped", "{s}");
        assert!(s["startupMs"].as_u64().is_some(), "{s}");
    }
}

#[test]
fn rtc_mode_begins_playback_with_the_first_keyframe() {
    let server = Server::start("");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/rtc"));
    server.wait_live("live/rtc");
    let plays: Vec<Play> = urls(&server, "live/rtc")
        .iter()
        .map(|u| spawn_play(u, &["--seconds", "2", "--mode", "rtc"]))
        .collect();
    for play in plays {
        let p = play.finish(Duration::from_secs(20));
        p.assert_success();
        assert_eq!(p.codes()[..4], [2001, 2002, 2003, 2004], "{}", p.dump());
        let at = |code: i64| {
            p.of_type("status")
                .find(|v| v["code"] == code)
                .and_then(|v| v["elapsedMs"].as_u64())
                .unwrap()
        };
        // No buffering: no min-cache wait between the keyframe and playback.
        assert!(at(2004) - at(2003) < 100, "{}", p.dump());
        assert_eq!(p.summary()["mode"], "rtc");
    }
}

#[test]
fn a_stream_not_published_yet_loads_then_plays_once_pushed() {
    let server = Server::start("");
    let plays: Vec<Play> = urls(&server, "live/later")
        .iter()
        .map(|u| spawn_play(u, &["--seconds", "10", "--retry-interval", "0.3"]))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/later"));
    for play in plays {
        let p = play.finish(Duration::from_secs(30));
        p.assert_success();
        let codes = p.codes();
        assert_eq!(codes[..2], [2001, 2007], "{}", p.dump());
        p.assert_in_order(&[2001, 2007, 2002, 2003, 2004]);
        assert!(
            !codes
                .iter()
                .any(|c| *c == -2301 || (3000..4000).contains(c)),
            "waiting for a publisher is not a failure: {codes:?}"
        );
        // 2001 and 2007 are reported once, however many times the player asked.
        assert_eq!(codes.iter().filter(|c| **c == 2001).count(), 1, "{codes:?}");
        let s = p.summary();
        assert!(s["videoFrames"].as_u64().unwrap() > 25, "{s}");
        assert_eq!(s["stalls"], 0, "the wait is not a stall: {s}");
    }
}

#[test]
fn the_publisher_gone_past_the_grace_ends_the_play_with_2006() {
    let server = Server::start("[hub]\nrepublish_grace_ms = 1000\n");
    let push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/gone"));
    server.wait_live("live/gone");
    let plays: Vec<Play> = urls(&server, "live/gone")
        .iter()
        .map(|u| spawn_play(u, &[]))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    drop(push);
    for play in plays {
        // Grace (1 s) + the buffer playing out (about 1 s) + margin; no --seconds: the end stops the player.
        let p = play.finish(Duration::from_secs(15));
        p.assert_success();
        p.assert_in_order(&[2001, 2002, 2003, 2004, 2006]);
        assert_eq!(p.codes().last(), Some(&2006), "{}", p.dump());
        assert_eq!(p.summary()["finalState"], "ended");
    }
}

#[test]
fn a_republish_at_another_resolution_reports_2009() {
    let server = Server::start("[hub]\nrepublish_grace_ms = 5000\n");
    let first = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/resize"));
    let landscape = fixture_landscape();
    server.wait_live("live/resize");
    let plays: Vec<Play> = urls(&server, "live/resize")
        .iter()
        .map(|u| spawn_play(u, &["--seconds", "9"]))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    drop(first);
    std::thread::sleep(Duration::from_millis(500));
    let _second = ffmpeg_push(&landscape, &server.rtmp_url("live/resize"));
    for play in plays {
        let p = play.finish(Duration::from_secs(30));
        p.assert_success();
        p.assert_in_order(&[2001, 2002, 2003, 2004, 2009]);
        let change = p.of_type("status").find(|v| v["code"] == 2009).unwrap();
        assert!(
            change["message"]
                .as_str()
                .unwrap()
                .contains("540x960 to 960x540"),
            "{change}"
        );
        let s = p.summary();
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(960), Some(540)),
            "{s}"
        );
        assert_eq!(
            p.codes().iter().filter(|c| **c == 2002).count(),
            1,
            "same connection throughout"
        );
    }
}

#[test]
fn nothing_listening_reports_3002_and_2103_then_gives_up_with_2301() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let urls = [
        format!("rtmp://127.0.0.1:{port}/live/none"),
        format!("http://127.0.0.1:{port}/live/none.flv"),
    ];
    let plays: Vec<Play> = urls
        .iter()
        .map(|u| spawn_play(u, &["--retry-interval", "0.1"]))
        .collect();
    for play in plays {
        let p = play.finish(Duration::from_secs(20));
        assert!(
            !p.status.success(),
            "{}: giving up must fail the command",
            p.url
        );
        assert_eq!(
            p.codes(),
            [3002, 2103, 3002, 2103, 3002, 2103, 3002, -2301],
            "{}",
            p.dump()
        );
        assert!(p.stderr.contains("(-2301)"), "{}", p.stderr);
        let s = p.summary();
        assert_eq!(
            (s["finalState"].as_str(), s["reconnects"].as_u64()),
            (Some("gave_up"), Some(3))
        );
    }
}
