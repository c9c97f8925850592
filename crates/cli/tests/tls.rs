//! `mplive serve` with HTTPS: the `--tls-cert` / `--tls-key` flags and their environment variables, the printed
//! `https://` URLs (checked with curl trusting a self-signed certificate), and the errors a person sees.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Writes a self-signed certificate for `127.0.0.1` and its key into `dir`; returns their paths.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen makes a certificate");
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// `mplive serve` on free loopback ports with its data in `dir`.
fn serve(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mplive"));
    cmd.args([
        "serve",
        "--rtmp-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir.join("data"))
    .env_remove("MPLIVE_TLS_CERT")
    .env_remove("MPLIVE_TLS_KEY")
    .env_remove("MPLIVE_CONFIG")
    .env("MPLIVE_ADMIN_TOKEN", ADMIN_TOKEN);
    cmd
}

#[test]
fn serve_with_tls_flags_prints_https_urls_that_work() {
    require("curl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let mut child = serve(dir.path())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _server = Peer(child);
    let mut http_lines = Vec::new();
    let api = loop {
        let line = lines.next().expect("serve output ended early").unwrap();
        let line = line.trim().to_string();
        if line.starts_with("http") {
            http_lines.push(line.clone());
        }
        if line.ends_with("/v1/streams") {
            break line;
        }
    };
    assert!(
        http_lines.iter().all(|l| l.starts_with("https://")),
        "{http_lines:?}"
    );
    let (out, timed_out) = run_with_timeout(
        Command::new("curl")
            .args(["-sS", "--fail", "-H"])
            .arg(format!("Authorization: Bearer {ADMIN_TOKEN}"))
            .arg("--cacert")
            .arg(&cert)
            .arg(&api),
        Duration::from_secs(10),
    );
    assert!(
        !timed_out && out.status.success(),
        "curl {api}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("streams"));
}

/// Runs `serve` expecting it to refuse to start; returns its stderr.
fn refused(cmd: &mut Command) -> String {
    let (out, timed_out) = run_with_timeout(cmd, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !timed_out && !out.status.success(),
        "serve started: {stderr}"
    );
    stderr
}

#[test]
fn serve_refuses_half_or_unusable_tls_settings_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());

    // Through the environment, as a container would set it.
    let e = refused(serve(dir.path()).env("MPLIVE_TLS_CERT", &cert));
    assert!(e.contains("tls_cert is set but tls_key is not"), "{e}");

    std::fs::write(&key, "garbage\n").unwrap();
    let e = refused(
        serve(dir.path())
            .env("MPLIVE_TLS_CERT", &cert)
            .env("MPLIVE_TLS_KEY", &key),
    );
    assert!(
        e.contains(&key.display().to_string()) && e.contains("no private key found"),
        "{e}"
    );

    let missing = dir.path().join("missing.crt");
    let e = refused(
        serve(dir.path())
            .arg("--tls-cert")
            .arg(&missing)
            .arg("--tls-key")
            .arg(&key),
    );
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("cannot read"),
        "{e}"
    );
}
