//! The shell examples of the README and the docs, run as written, so they cannot rot.
//!
//! Every ```` ```sh ```` or ```` ```bash ```` block of `README.md`, `docs/*.md` and `sdk/miniprogram/README.md` runs
//! unless its fence says `no-run` (the README's two commands, which CI runs itself; benchmarks; TLS files that do
//! not exist here). The blocks of one file run in order, as one reader would type them, in a fresh directory where
//! `mplive serve` runs with its defaults (its data dir `./mplive-data`), on free ports: `127.0.0.1:8080` and
//! `rtmp://127.0.0.1/` in a block are rewritten to the server's ports. On `PATH`: `mplive` (and
//! `./target/release/mplive`), `ffplay` replaced by a 3 s headless decode of its URL (retried while the stream
//! comes up), and `curl` with `--fail` so that an HTTP error fails the example. Each block must exit 0 within
//! 90 s; whatever it started in the background is killed after it. Files `clip.flv` and `in.mp4` (a few seconds of
//! test picture and tone) are there for the examples that read them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// One shell block: its file, the line of its fence, and its text.
struct Block {
    file: String,
    line: usize,
    run: bool,
    text: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn blocks() -> Vec<Block> {
    let root = repo();
    let mut files = vec![
        root.join("README.md"),
        root.join("sdk/miniprogram/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        // Inside a shell block: its fence's line, whether it runs, its text so far. Inside another block: None
        // in `shell`, `true` in `fenced`.
        let mut fenced = false;
        let mut shell: Option<(usize, bool, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let Some(info) = line.trim_start().strip_prefix("```") else {
                if let Some((_, _, body)) = &mut shell {
                    body.push_str(line);
                    body.push('\n');
                }
                continue;
            };
            if fenced {
                if let Some((at, run, body)) = shell.take() {
                    out.push(Block {
                        file: name.clone(),
                        line: at,
                        run,
                        text: body,
                    });
                }
                fenced = false;
                continue;
            }
            fenced = true;
            let mut words = info.split_whitespace();
            if matches!(words.next(), Some("sh" | "bash")) {
                shell = Some((i + 1, !words.any(|w| w == "no-run"), String::new()));
            }
        }
    }
    out
}

/// `dir/bin` with `mplive`, the `ffplay` stand-in and the failing `curl`; returns it.
fn tools(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mplive = PathBuf::from(env!("CARGO_BIN_EXE_mplive"));
    std::os::unix::fs::symlink(&mplive, bin.join("mplive")).unwrap();
    std::fs::create_dir_all(dir.join("target/release")).unwrap();
    std::os::unix::fs::symlink(&mplive, dir.join("target/release/mplive")).unwrap();
    std::os::unix::fs::symlink(repo().join("scripts"), dir.join("scripts")).unwrap();
    let script = |name: &str, text: &str| {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // The last argument is the URL; the stream may take a moment to come up after a background push.
    script(
        "ffplay",
        "#!/bin/sh\nfor url; do :; done\nfor i in 1 2 3 4 5 6 7 8 9 10; do\n  \
         ffmpeg -v error -i \"$url\" -t 3 -f null - && exit 0\n  sleep 1\ndone\n\
         echo \"ffplay stand-in: could not decode $url\" >&2\nexit 1\n",
    );
    let curl = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v curl"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    script(
        "curl",
        &format!(
            "#!/bin/sh\nexec {} --fail-with-body -sS \"$@\"\n",
            curl.trim()
        ),
    );
    bin
}

/// Runs the blocks of one file in `dir` against a fresh server; panics with the block and its output on failure.
fn run_file(file: &str, blocks: &[&Block]) {
    let dir = tempfile::tempdir().unwrap();
    let bin = tools(dir.path());
    let fixture = fixture_av();
    std::fs::copy(&fixture, dir.path().join("clip.flv")).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&fixture)
        .args(["-c", "copy"])
        .arg(dir.path().join("in.mp4"))
        .status()
        .unwrap();
    assert!(status.success(), "make in.mp4");
    let (rtmp_port, http_port) = (free_port(), free_port());
    let config = dir.path().join("mplive.toml");
    std::fs::write(
        &config,
        format!(
            "rtmp_addr = \"127.0.0.1:{rtmp_port}\"\nhttp_addr = \"127.0.0.1:{http_port}\"\ncatalog_refresh_ms = 200\n"
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = |cmd: &mut Command| {
        cmd.current_dir(dir.path())
            .env("PATH", &path)
            .env("MPLIVE_CONFIG", &config)
            .env_remove("MPLIVE_DATA_DIR")
            .env_remove("MPLIVE_DATABASE_URL")
            .env_remove("MPLIVE_ADMIN_TOKEN");
    };
    let ready = dir.path().join("ready.json");
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_mplive"));
    env(&mut serve);
    let mut server = serve
        .arg("serve")
        .arg("--ready-file")
        .arg(&ready)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "{file}: mplive serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for block in blocks {
        let text = block
            .text
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{http_port}"))
            .replace(
                "rtmp://127.0.0.1/",
                &format!("rtmp://127.0.0.1:{rtmp_port}/"),
            );
        // Daemons the block starts in fixed places (the README's three nodes) start afresh.
        let mut cleanup = Vec::new();
        for line in text.lines() {
            for (script, verb) in [
                ("scripts/redis.sh", "start"),
                ("scripts/postgres.sh", "start"),
            ] {
                if let Some(rest) = line.split(&format!("{script} {verb} ")).nth(1) {
                    let place = rest
                        .split([')', ' '])
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = Command::new(repo().join(script))
                        .args(["stop", &place])
                        .status();
                    let _ = std::fs::remove_dir_all(&place);
                    cleanup.push((script, place));
                }
            }
            if let Some(rest) = line.split("--data-dir ").nth(1) {
                let place = rest.split(' ').next().unwrap_or_default();
                if place.starts_with("/tmp/") {
                    let _ = std::fs::remove_dir_all(place);
                }
            }
        }
        let script = format!("set -e\n{text}");
        let mut cmd = Command::new("bash");
        env(&mut cmd);
        cmd.args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: what the block leaves in the background is killed with it.
            .process_group(0);
        let child = cmd.spawn().unwrap();
        let pgid = child.id();
        let (out, timed_out) = wait_output(child, Duration::from_secs(90));
        unsafe_kill_group(pgid);
        for (script, place) in cleanup {
            let _ = Command::new(repo().join(script))
                .args(["stop", &place])
                .status();
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !timed_out && out.status.success(),
            "{}:{}: the example failed ({}):\n{}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log\n{}",
            block.file,
            block.line,
            if timed_out { "over 90 s".to_string() } else { out.status.to_string() },
            block.text,
            std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
        );
        eprintln!("{}:{}: ok", block.file, block.line);
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// Waits for `child` at most `limit`; its output and whether it ran over.
fn wait_output(mut child: std::process::Child, limit: Duration) -> (std::process::Output, bool) {
    use std::io::Read;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, false);
        }
        if Instant::now() > deadline {
            unsafe_kill_group(child.id());
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Background children of the block hold the pipes open: kill the group before reading to the end.
    unsafe_kill_group(child.id());
    let output = std::process::Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, timed_out)
}

/// `kill -KILL -PGID`.
fn unsafe_kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_shell_example_runs() {
    require("ffmpeg");
    require("curl");
    let all = blocks();
    let runnable: Vec<&Block> = all.iter().filter(|b| b.run).collect();
    assert!(
        runnable.len() >= 10,
        "only {} runnable blocks found: the scan is broken",
        runnable.len()
    );
    let needs_engines =
        |b: &&Block| b.text.contains("scripts/redis.sh") || b.text.contains("scripts/postgres.sh");
    let mut files: Vec<&str> = runnable.iter().map(|b| b.file.as_str()).collect();
    files.dedup();
    for file in files {
        let blocks: Vec<&Block> = runnable
            .iter()
            .copied()
            .filter(|b| b.file == file)
            .filter(|b| {
                let engines = needs_engines(b);
                if engines && Command::new("sh").args(["-c", "command -v redis-server && command -v initdb || ls /usr/lib/postgresql/*/bin/initdb"]).stdout(Stdio::null()).stderr(Stdio::null()).status().map_or(true, |s| !s.success()) {
                    peers::skip_for_missing_peer("docs example with Redis and PostgreSQL", "redis-server and PostgreSQL", None);
                    return false;
                }
                true
            })
            .collect();
        run_file(file, &blocks);
    }
}
