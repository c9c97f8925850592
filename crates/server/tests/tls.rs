//! HTTPS on the HTTP listener, checked with real clients: curl (OpenSSL) for the API and certificate reloads,
//! ffmpeg publishing over RTMP and curl and ffprobe reading HTTP-FLV over HTTPS, openssl writing PKCS#1 and SEC1
//! keys. Certificates are self-signed ones made by rcgen (or openssl) for `localhost` and `127.0.0.1`, trusted by the
//! clients with `--cacert`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use server::{RunningServer, ServerError, Settings};

/// A self-signed certificate and its key, both PEM.
struct Pair {
    cert: String,
    key: String,
}

fn self_signed() -> Pair {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen makes a certificate");
    Pair {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    }
}

/// The server's certificate files, and a copy of each certificate for the clients to trust.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// Installs `pair` as the server's files; returns the path of a CA file that trusts it.
    fn install(&self, name: &str, pair: &Pair) -> PathBuf {
        std::fs::write(self.cert(), &pair.cert).unwrap();
        std::fs::write(self.key(), &pair.key).unwrap();
        self.trust(name, pair)
    }

    /// Writes a CA file for clients that trusts `pair`'s certificate.
    fn trust(&self, name: &str, pair: &Pair) -> PathBuf {
        let ca = self.dir.path().join(format!("{name}.ca.pem"));
        std::fs::write(&ca, &pair.cert).unwrap();
        ca
    }
}

/// Everything the in-process servers of this binary log (at info and above), from the first call on.
fn captured_log() -> String {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        // Fails only if another subscriber was set first; then nothing is captured and the waits below say so.
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        log
    });
    String::from_utf8_lossy(&log.lock().unwrap()).into_owned()
}

/// A log writer into the shared buffer.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (at most 15 s) until the log holds `n` lines with every one of `needles`.
async fn wait_logged(needles: &[&str], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = captured_log();
        let found = log
            .lines()
            .filter(|l| needles.iter().all(|needle| l.contains(needle)))
            .count();
        if found >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} log lines with {needles:?} expected, {found} found:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The admin token of the test servers.
const ADMIN_TOKEN: &str = "tls-test-admin-token";

fn settings(files: &Files, reload_secs: u64) -> Settings {
    let mut settings = Settings {
        rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls_cert: Some(files.cert()),
        tls_key: Some(files.key()),
        tls_reload_secs: reload_secs,
        data_dir: files.dir.path().join("data"),
        ..Settings::default()
    };
    settings.admin_token = Some(ADMIN_TOKEN.to_string());
    settings
}

async fn start(files: &Files, reload_secs: u64) -> RunningServer {
    server::start(settings(files, reload_secs))
        .await
        .expect("server starts")
}

/// Panics with the install hint when a peer program is missing.
fn require(program: &str) {
    let found = Command::new(program)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{program} is not installed: run ./scripts/test, which installs the test peers"
    );
}

/// Runs a client program off the runtime's workers (the server runs on them) and returns its output.
async fn run(program: &'static str, args: Vec<String>) -> Output {
    require(program);
    tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `curl` with a time limit, trusting only `ca`.
async fn curl(ca: &Path, url: String, extra: &[&str]) -> Output {
    let mut args = vec![
        "-sS".to_string(),
        "--max-time".into(),
        "5".into(),
        "--cacert".into(),
        ca.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url);
    run("curl", args).await
}

fn https(server: &RunningServer, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", server.http_addr().port())
}

/// GET /healthz trusting `ca`: the body on success, curl's complaint otherwise.
async fn healthz(server: &RunningServer, ca: &Path) -> Result<String, String> {
    let out = curl(ca, https(server, "/healthz"), &[]).await;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Waits until GET /healthz trusting `ca` succeeds (the reload happened), at most 15 s.
async fn wait_trusted(server: &RunningServer, ca: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match healthz(server, ca).await {
            Ok(_) => return,
            Err(e) => assert!(
                Instant::now() < deadline,
                "the server never presented the certificate in {}: {e}",
                ca.display()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_api_and_plain_http_is_told_to_use_https() {
    let files = Files::new();
    let ca = files.install("a", &self_signed());
    let server = start(&files, 5).await;

    assert_eq!(healthz(&server, &ca).await, Ok("ok\n".to_string()));
    let out = curl(
        &ca,
        https(&server, "/v1/streams"),
        &["-i", "-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("HTTP/1.1 200"),
        "GET /v1/streams over https: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Another certificate for the same name is not trusted: curl checks what the server presents.
    let stranger = files.trust("stranger", &self_signed());
    assert!(healthz(&server, &stranger).await.is_err());

    // Plain HTTP on the HTTPS port gets a 400 that says what to change, not a TLS alert shown as garbage.
    let plain = run(
        "curl",
        vec![
            "-sS".into(),
            "-i".into(),
            "--max-time".into(),
            "5".into(),
            format!("http://127.0.0.1:{}/healthz", server.http_addr().port()),
        ],
    )
    .await;
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.starts_with("HTTP/1.1 400") && text.contains("use an https:// URL"),
        "plain HTTP to the HTTPS port: {text} {}",
        String::from_utf8_lossy(&plain.stderr)
    );
    // Neither ended more than its own connection.
    assert_eq!(healthz(&server, &ca).await, Ok("ok\n".to_string()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificate_is_served_after_reload() {
    let files = Files::new();
    let (a, b) = (self_signed(), self_signed());
    let ca_a = files.install("a", &a);
    let ca_b = files.trust("b", &b);
    let server = start(&files, 1).await;
    assert!(healthz(&server, &ca_a).await.is_ok());
    assert!(healthz(&server, &ca_b).await.is_err());

    files.install("b", &b);
    wait_trusted(&server, &ca_b).await;
    let old = healthz(&server, &ca_a).await;
    assert!(
        old.is_err(),
        "the old certificate is still served after the reload"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_new_files_keep_the_old_certificate() {
    captured_log();
    let files = Files::new();
    let (a, b) = (self_signed(), self_signed());
    let ca_a = files.install("a", &a);
    let ca_b = files.trust("b", &b);
    let server = start(&files, 1).await;
    // Each refused reload logs a warning naming the certificate file (this test's own temporary path).
    let cert = files.cert().display().to_string();
    let refused = [cert.as_str(), "keeping the certificate in use"];

    // A certificate file cut short, as a renewal caught half-written: the reload is tried, and refused.
    std::fs::write(files.cert(), &a.cert[..a.cert.len() / 2]).unwrap();
    wait_logged(&refused, 1).await;
    wait_logged(&[cert.as_str(), "is the file cut short?"], 1).await;
    assert_eq!(healthz(&server, &ca_a).await, Ok("ok\n".to_string()));

    // The new certificate before its key: they do not match, so the old pair stays.
    std::fs::write(files.cert(), &b.cert).unwrap();
    wait_logged(&refused, 2).await;
    wait_logged(&[cert.as_str(), "does not belong"], 1).await;
    assert_eq!(healthz(&server, &ca_a).await, Ok("ok\n".to_string()));

    // Then the key: now the new pair loads.
    std::fs::write(files.key(), &b.key).unwrap();
    wait_trusted(&server, &ca_b).await;
    wait_logged(&[cert.as_str(), "TLS certificate reloaded"], 1).await;
    server.shutdown().await;
}

/// The error `start` returns for these files, as a person reads it.
async fn start_error(files: &Files) -> String {
    match server::start(settings(files, 5)).await {
        Ok(running) => {
            running.shutdown().await;
            panic!("the server started with unusable TLS files");
        }
        Err(e @ ServerError::Tls(_)) => e.to_string(),
        Err(e) => panic!("expected a TLS error, got: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_stop_the_start_with_an_error_naming_the_file() {
    let files = Files::new();
    let (a, b) = (self_signed(), self_signed());
    std::fs::write(files.cert(), &a.cert).unwrap();
    let key = files.key().display().to_string();
    let cert = files.cert().display().to_string();

    let e = start_error(&files).await;
    assert!(
        e.contains(&key) && e.contains("cannot read the TLS private key"),
        "{e}"
    );

    std::fs::write(files.key(), "not a key\n").unwrap();
    let e = start_error(&files).await;
    assert!(
        e.contains(&key) && e.contains("no private key found"),
        "{e}"
    );

    std::fs::write(files.key(), &b.key).unwrap();
    let e = start_error(&files).await;
    assert!(
        e.contains(&key) && e.contains(&cert) && e.contains("does not belong"),
        "{e}"
    );

    std::fs::write(files.key(), &a.key).unwrap();
    std::fs::write(
        files.cert(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = start_error(&files).await;
    assert!(e.contains(&cert) && e.contains("not a valid X.509"), "{e}");

    std::fs::write(files.cert(), &a.key).unwrap();
    let e = start_error(&files).await;
    assert!(
        e.contains(&cert) && e.contains("no certificate found"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs1_and_sec1_keys_are_accepted() {
    let kinds: [(&[&str], &[&str], &str); 2] = [
        (
            &["-newkey", "rsa:2048"],
            &["rsa", "-traditional"],
            "BEGIN RSA PRIVATE KEY",
        ),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &["ec"],
            "BEGIN EC PRIVATE KEY",
        ),
    ];
    for (new_key, convert, marker) in kinds {
        let files = Files::new();
        let pkcs8 = files.dir.path().join("pkcs8.key");
        let path = |p: &Path| p.display().to_string();
        let mut req: Vec<String> = [
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ]
        .iter()
        .chain(new_key)
        .map(|s| s.to_string())
        .collect();
        req.extend([
            "-addext".into(),
            "subjectAltName=DNS:localhost,IP:127.0.0.1".into(),
            "-keyout".into(),
            path(&pkcs8),
            "-out".into(),
            path(&files.cert()),
        ]);
        let out = run("openssl", req).await;
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut conv: Vec<String> = convert.iter().map(|s| s.to_string()).collect();
        conv.extend([
            "-in".into(),
            path(&pkcs8),
            "-out".into(),
            path(&files.key()),
        ]);
        let out = run("openssl", conv).await;
        assert!(
            out.status.success(),
            "openssl {convert:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = std::fs::read_to_string(files.key()).unwrap();
        assert!(
            key.contains(marker),
            "openssl wrote another key format: {key}"
        );

        let server = start(&files, 5).await;
        assert_eq!(
            healthz(&server, &files.cert()).await,
            Ok("ok\n".to_string()),
            "with a key in {marker} format"
        );
        server.shutdown().await;
    }
}

/// ffmpeg publishing a live test pattern (H.264 + AAC, 1 s GOP) over RTMP, killed on drop.
struct Publisher(std::process::Child);

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn publish(url: &str) -> Publisher {
    require("ffmpeg");
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Publisher(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flv_plays_over_https() {
    let files = Files::new();
    let ca = files.install("a", &self_signed());
    let server = start(&files, 5).await;
    let app = server.catalog().app("live").expect("the default app");
    // Within the server's max_url_ttl_secs (30 days by default).
    let expires = control::now_unix() + 3600;
    let push = control::urls::app_urls(server.url_base(), &app, "x", expires).push;
    let _push = publish(&push);
    let key = media::StreamKey::new("live", "x");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.registry().get(&key).is_none_or(|s| s.frames_in < 30) {
        assert!(
            Instant::now() < deadline,
            "the ffmpeg publish never went live"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // curl reads the endless response for 3 s, then gives up (exit 28, timeout): what it saved is the stream.
    let saved = files.dir.path().join("x.flv");
    let url = https(&server, "/live/x.flv");
    let out = curl(
        &ca,
        url.clone(),
        &["--max-time", "3", "-o", &saved.display().to_string()],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(28),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&saved).unwrap();
    assert!(data.starts_with(b"FLV"), "not an FLV body");
    let mut demux = flv::FlvDemuxer::new(16 << 20);
    demux.handle_input(&data).expect("the FLV body parses");
    let mut video = 0;
    while let Some(tag) = demux.poll_tag() {
        if tag.tag_type == flv::MediaKind::Video {
            video += 1;
        }
    }
    assert!(video > 25, "only {video} video tags in 3 s");

    // A player checking the certificate: ffprobe over HTTPS, trusting the test CA.
    let probe = run(
        "ffprobe",
        vec![
            "-v".into(),
            "error".into(),
            "-tls_verify".into(),
            "1".into(),
            "-ca_file".into(),
            ca.display().to_string(),
            "-show_entries".into(),
            "stream=codec_name".into(),
            "-of".into(),
            "csv=p=0".into(),
            url,
        ],
    )
    .await;
    let codecs = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success() && codecs.contains("h264") && codecs.contains("aac"),
        "ffprobe over https: {codecs} {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    server.shutdown().await;
}

/// The rooms WebSocket works over HTTPS (`wss://`): openssl's client sends the upgrade request and one masked text
/// frame, and reads the 101 and the server's answer frame through TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_websocket_upgrades_over_https() {
    let files = Files::new();
    let ca = files.install("a", &self_signed());
    let server = start(&files, 5).await;
    require("openssl");
    let port = server.http_addr().port();
    let mut input = format!(
        "GET /rooms/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    // A client frame must be masked; the all-zero mask leaves the payload as it is.
    let payload = br#"{"type":"heartbeat"}"#;
    input.extend_from_slice(&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0]);
    input.extend_from_slice(payload);
    let ca_path = ca.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("timeout")
            .args([
                "3", "openssl", "s_client", "-quiet", "-ign_eof", "-CAfile", &ca_path, "-connect",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("HTTP/1.1 101"),
        "upgrade over https: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(r#"{"type":"heartbeat"}"#),
        "no heartbeat answer: {text}"
    );
    server.shutdown().await;
}
