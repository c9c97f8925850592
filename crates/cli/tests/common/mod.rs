//! Test harness for interop tests: starts `mplive serve` on free ports, makes FLV fixtures with ffmpeg, runs peers.
#![allow(dead_code)]

pub mod browser;
pub mod cut_proxy;
pub mod pusher;
pub mod room_client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[path = "../../../../tests/peers.rs"]
pub mod peers;

/// The admin token every test server runs with (`MPLIVE_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Which database a test server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// The default: SQLite in the data directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server (`MPLIVE_TEST_POSTGRES_URL`).
    Postgres(String),
}

impl Db {
    /// SQLite, and PostgreSQL when the test command started one. When peers are required (./scripts/test) a
    /// missing PostgreSQL fails the test instead of being skipped.
    pub fn all() -> Vec<Db> {
        let mut dbs = vec![Db::Sqlite];
        match std::env::var("MPLIVE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => dbs.push(Db::Postgres(fresh_postgres_db(&url))),
            _ => peers::skip_for_missing_peer(
                "the PostgreSQL variant",
                "PostgreSQL (MPLIVE_TEST_POSTGRES_URL)",
                Some("MPLIVE_REQUIRE_POSTGRES"),
            ),
        }
        dbs
    }

    fn url(&self) -> Option<&str> {
        match self {
            Db::Sqlite => None,
            Db::Postgres(url) => Some(url),
        }
    }
}

/// Creates a database with a unique name on the test PostgreSQL server; returns its URL.
fn fresh_postgres_db(server_url: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "cli_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let out = Command::new("psql")
        .arg(server_url)
        .args(["-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "cannot create a test database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = server_url
        .rsplit_once('/')
        .expect("database URL with a path");
    format!("{base}/{name}")
}

/// How a test server starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Extra TOML configuration.
    pub config: String,
    /// Turn off push auth of the app `live` before starting (the media tests push unsigned URLs).
    pub open_live: bool,
    pub db: Db,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: String::new(),
            open_live: true,
            db: Db::Sqlite,
        }
    }
}

/// A running `mplive serve`, killed on drop.
pub struct Server {
    child: Child,
    pub rtmp: String,
    pub http: String,
    pub dir: tempfile::TempDir,
    pub db: Db,
    config_path: PathBuf,
}

impl Server {
    /// Starts the server with extra TOML configuration, the app `live` open for unsigned pushes.
    pub fn start(config: &str) -> Server {
        Server::start_with(Options {
            config: config.to_string(),
            ..Options::default()
        })
    }

    /// Starts the server as `opts` says.
    pub fn start_with(opts: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("mplive.toml");
        std::fs::write(
            &cfg,
            format!(
                "rtmp_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\ncatalog_refresh_ms = 200\n{}",
                opts.config
            ),
        )
        .unwrap();
        let mut server = Server {
            child: Command::new("true").spawn().unwrap(),
            rtmp: String::new(),
            http: String::new(),
            dir,
            db: opts.db,
            config_path: cfg,
        };
        if opts.open_live {
            // Before the first start: the data directory is made here, as `mplive serve` would.
            let out = server.cli(&["app", "set", "live", "--push-auth", "off", "--init"]);
            assert!(
                out.status.success(),
                "open app live: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        server.spawn();
        server
    }

    /// Runs `mplive ARGS` against this server's data directory, database and configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        let (out, timed_out) = run_with_timeout(&mut cmd, Duration::from_secs(30));
        assert!(!timed_out, "mplive {args:?} timed out");
        out
    }

    /// `mplive ARGS`, stdout as text, asserting success.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "mplive {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mplive"));
        cmd.env("MPLIVE_DATA_DIR", self.dir.path().join("data"))
            .env("MPLIVE_CONFIG", &self.config_path)
            .env("MPLIVE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("MPLIVE_DATABASE_URL");
        if let Some(url) = self.db.url() {
            cmd.env("MPLIVE_DATABASE_URL", url);
        }
        cmd
    }

    /// Starts (or restarts, after [`Server::kill`]) the server process on fresh ports.
    pub fn spawn(&mut self) {
        let dir = self.dir.path();
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let child = self
            .command()
            .arg("serve")
            .arg("--ready-file")
            .arg(&ready)
            .env("MPLIVE_LOG", "debug,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mplive");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = child;
        self.rtmp = v["rtmp"].as_str().unwrap().to_string();
        self.http = v["http"].as_str().unwrap().to_string();
    }

    /// `kill -9` the server process and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.http)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far (for assertions and for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// GET on the HTTP listener with the admin token; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_request(
            &self.http,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            None,
        )
    }

    /// A request with the admin token and an optional JSON body; returns (status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http_request(
            &self.http,
            method,
            path,
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            body,
        )
    }

    /// Waits until the API lists the stream as live with video (or audio when `audio_only`).
    pub fn wait_live(&self, stream: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get(&format!("/v1/streams/{stream}"));
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                if v["state"] == "live" && v["framesIn"].as_u64().unwrap_or(0) > 30 {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "stream {stream} never went live; server log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) and waits for the server to exit, at most 10 s; returns its exit status.
    pub fn terminate(&mut self, signal: &str) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), signal);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within 10 s of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log());
        } else {
            self.check_log_hygiene();
        }
    }
}

/// The longest run of non-blank characters a server log line may hold: the server cuts every client-supplied
/// value to 96 characters, and its own values (paths, URLs with masked signatures) stay well below this.
pub const MAX_LOGGED_WORD: usize = 400;

impl Server {
    /// Every test server's whole log, checked when it is dropped: no secret (the admin token, the keys and secret
    /// of the app `live`, an unmasked `txSecret`) and no value longer than [`MAX_LOGGED_WORD`].
    pub fn check_log_hygiene(&self) {
        let log = self.log();
        if log.is_empty() {
            return;
        }
        let mut secrets = vec![ADMIN_TOKEN.to_string()];
        let out = self.command().args(["app", "show", "live"]).output();
        if let Ok(out) = out {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                for field in ["pushKey", "playKey", "secret", "callbackKey"] {
                    if let Some(k) = v[field].as_str() {
                        secrets.push(k.to_string());
                    }
                }
            }
        }
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "the server log contains a secret ({}...):\n{}",
                &secret[..6.min(secret.len())],
                tail(&log)
            );
        }
        for (n, line) in log.lines().enumerate() {
            if let Some(at) = line.find("txSecret=") {
                let value = &line[at + "txSecret=".len()..];
                assert!(
                    value.starts_with("***") || !value.starts_with(|c: char| c.is_ascii_hexdigit()),
                    "log line {} shows an unmasked txSecret: {}",
                    n + 1,
                    &line[..line.len().min(300)]
                );
            }
            if let Some(word) = line
                .split_whitespace()
                .find(|w| w.chars().count() > MAX_LOGGED_WORD)
            {
                panic!(
                    "log line {} holds a value of {} characters (more than {MAX_LOGGED_WORD}): {}...",
                    n + 1,
                    word.chars().count(),
                    word.chars().take(200).collect::<String>()
                );
            }
        }
    }
}

fn tail(log: &str) -> &str {
    let mut start = log.len().saturating_sub(3000);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// Sends a signal with the `kill` command (no libc dependency in tests).
pub fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Minimal HTTP/1.0 GET over a TCP socket; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[], None)
}

/// Minimal HTTP/1.0 request over a TCP socket, with a JSON body when given; returns (status, body).
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let (status, _, body) = http_request_typed(
        addr,
        method,
        path,
        headers,
        body.map(|b| ("application/json", b)),
    );
    (status, body)
}

/// [`http_request`] with a body of any type (`(content type, body)`); returns (status, head, body).
pub fn http_request_typed(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> (u16, String, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some((kind, b)) = body {
        head.push_str(&format!(
            "Content-Type: {kind}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body.map(|(_, b)| b).unwrap_or_default());
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or_default();
    (status, head, body)
}

/// Panics with the install hint when a peer program is missing.
pub fn require(program: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        ok,
        "{program} is not installed: run ./scripts/test, which installs the test peers"
    );
}

fn fixture_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Makes (once) an FLV fixture with ffmpeg: 540x960 25 fps H.264 with a 1 s GOP and AAC, like live-pusher HD.
pub fn fixture_av() -> PathBuf {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| {
        make_av_fixture(
            "av-10s.flv",
            "540x960",
            10,
            25,
            &[],
            &[
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-b:v",
                "1000k",
            ],
        )
    })
    .clone()
}

/// Makes (once) an FLV fixture `name`: `secs` seconds of a `size` 25 fps test picture and a 440 Hz tone, H.264
/// with a keyframe every `gop` pictures (no scene cuts) and 64 kbit/s AAC; `filter` goes before the encoder
/// (`-vf ...`), `x264` after `-c:v libx264` (preset, bitrate).
pub fn make_av_fixture(
    name: &str,
    size: &str,
    secs: u32,
    gop: u32,
    filter: &[&str],
    x264: &[&str],
) -> PathBuf {
    let source = format!("testsrc2=size={size}:rate=25");
    let (secs, gop) = (secs.to_string(), gop.to_string());
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        &source,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        &secs,
    ];
    args.extend_from_slice(filter);
    args.extend_from_slice(&["-c:v", "libx264"]);
    args.extend_from_slice(x264);
    args.extend_from_slice(&[
        "-g",
        &gop,
        "-keyint_min",
        &gop,
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
    ]);
    make_fixture(name, &args)
}

/// Makes (once) an audio-only FLV fixture (live-pusher `singleAudio`).
pub fn fixture_audio() -> PathBuf {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| {
        make_fixture(
            "audio-10s.flv",
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "10",
                "-c:a",
                "aac",
                "-b:a",
                "48k",
            ],
        )
    })
    .clone()
}

/// Makes (once) an FLV fixture `name` with ffmpeg and `args` (inputs and encoder options).
pub fn make_fixture(name: &str, args: &[&str]) -> PathBuf {
    require("ffmpeg");
    let path = fixture_dir().join(name);
    if path.exists() {
        return path;
    }
    let tmp = fixture_dir().join(format!("{name}.{}.tmp.flv", std::process::id()));
    let out = Command::new("ffmpeg")
        .args(["-y", "-v", "error"])
        .args(args)
        .args(["-f", "flv"])
        .arg(&tmp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg fixture failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A child process killed on drop.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ffmpeg -re -stream_loop -1 -i FIXTURE -c copy -f flv URL` in the background.
pub fn ffmpeg_push(fixture: &Path, url: &str) -> Peer {
    require("ffmpeg");
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(fixture)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Peer(child)
}

/// Runs a command with a time limit; kills it when over. Returns its output (and whether it timed out).
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> (Output, bool) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain pipes in threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = t1.join().unwrap();
    let stderr = t2.join().unwrap();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        timed_out,
    )
}

/// Reads an FLV file into (tag type, timestamp, body) triples with our demuxer.
pub fn read_flv(path: &Path) -> Vec<(flv::MediaKind, u32, bytes::Bytes)> {
    let data = std::fs::read(path).unwrap();
    let mut demux = flv::FlvDemuxer::new(64 << 20);
    demux.handle_input(&data).unwrap();
    let mut tags = Vec::new();
    while let Some(tag) = demux.poll_tag() {
        tags.push((tag.tag_type, tag.timestamp, tag.body));
    }
    tags
}

/// ffmpeg decodes `url` for `secs` seconds; returns its stderr. Fails on any decode error.
pub fn ffmpeg_decode(url: &str, secs: u32) -> String {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg").args([
            "-v",
            "error",
            "-xerror",
            "-i",
            url,
            "-t",
            &secs.to_string(),
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(secs as u64 + 15),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!timed_out, "ffmpeg decode of {url} hung: {stderr}");
    assert!(
        out.status.success(),
        "ffmpeg decode of {url} failed: {stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "ffmpeg reported errors decoding {url}: {stderr}"
    );
    stderr
}

/// ffmpeg decodes the whole file at `path` (`-xerror`: the first damaged packet fails it) and returns how many video
/// frames it decoded. Fails on any decode error.
pub fn decoded_video_frames(path: &Path) -> u64 {
    require("ffmpeg");
    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-xerror", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-f", "null", "-progress", "pipe:1", "-"]),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !timed_out,
        "ffmpeg decode of {} hung: {stderr}",
        path.display()
    );
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg decode of {} failed: {stderr}",
        path.display()
    );
    // `-progress` reports `frame=N` as it goes; the last report counts them all.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("frame=")?.trim().parse().ok())
        .unwrap_or(0)
}

/// A webhook receiver on loopback: records bodies; answers 200, or 500 while `fail` is set.
pub struct Receiver {
    pub port: u16,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    pub fail: Arc<AtomicU16>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn on(listener: TcpListener) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(AtomicU16::new(0));
        let (b, f) = (bodies.clone(), fail.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let status = if f.load(Ordering::SeqCst) == 0 {
                    "200 OK"
                } else {
                    "500 Oops"
                };
                if status.starts_with("200") {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        b.lock().unwrap().push(v);
                    }
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, bodies, fail }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn wait_for(&self, event: &str, n: usize) -> Vec<serde_json::Value> {
        self.wait_for_within(event, n, Duration::from_secs(15))
    }

    pub fn wait_for_within(
        &self,
        event: &str,
        n: usize,
        limit: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let got: Vec<_> = self
                .bodies
                .lock()
                .unwrap()
                .iter()
                .filter(|v| v["event"] == event)
                .cloned()
                .collect();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "no {event} webhook; got {:?}",
                self.bodies.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// GET over HTTP/1.0 with the raw body bytes: (status, content type, body).
pub fn get_raw(addr: &str, path: &str) -> (u16, String, Vec<u8>) {
    get_raw_with(addr, path, "")
}

/// [`get_raw`] with extra request header lines (each ending in `\r\n`).
pub fn get_raw_with(addr: &str, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let (status, head, body) = get_with_head(addr, path, headers);
    let content_type = header(&head, "content-type")
        .unwrap_or_default()
        .to_string();
    (status, content_type, body)
}

/// A raw GET (HTTP/1.0, extra header lines each ending in `\r\n`): (status, response head, body bytes).
pub fn get_with_head(addr: &str, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, buf[split + 4..].to_vec())
}

/// The value of header `name` in a response head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The codec names ffprobe sees at `url`, one per line.
pub fn ffprobe_codecs(url: &str) -> String {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            url,
        ]),
        Duration::from_secs(30),
    );
    assert!(!timed_out, "ffprobe hung");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The container duration ffprobe reads, in seconds.
pub fn probe_duration(path: &Path) -> f64 {
    require("ffprobe");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text.parse()
        .unwrap_or_else(|_| panic!("ffprobe duration of {}: {text:?}", path.display()))
}
