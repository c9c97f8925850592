//! Issue 16, parts 5 and 6: what a newcomer runs into. Commands that would silently make a second data directory,
//! errors that hide or repeat their cause, a client on the wrong port, names the CLI accepts and the server
//! refuses, URLs that cannot work, a play that never began and still "succeeded".

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// `mplive ARGS` in `cwd` with no data directory, database or configuration from the environment.
fn mplive_in(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mplive"));
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("MPLIVE_DATA_DIR")
        .env_remove("MPLIVE_DATABASE_URL")
        .env_remove("MPLIVE_CONFIG")
        .env_remove("MPLIVE_RTMP_ADDR")
        .env_remove("MPLIVE_HTTP_ADDR")
        .env_remove("MPLIVE_ADMIN_TOKEN");
    let (out, timed_out) = run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(!timed_out, "mplive {args:?} timed out");
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn commands_other_than_serve_never_create_a_data_directory_silently() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        &["url", "push", "demo"][..],
        &["token", "--channel", "room1", "--account", "alice"],
        &["app", "list"],
    ] {
        let out = mplive_in(cwd.path(), args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        let looked = std::path::absolute(cwd.path().join("mplive-data")).unwrap();
        assert!(
            err.contains(&looked.display().to_string()),
            "{args:?}: {err}"
        );
        for fix in ["--data-dir", "MPLIVE_DATA_DIR", "mplive serve", "--init"] {
            assert!(err.contains(fix), "{args:?}: no {fix} in {err}");
        }
        assert!(!cwd.path().join("mplive-data").exists(), "{args:?} made it");
    }
    // A data directory named explicitly is not made either.
    let out = mplive_in(
        cwd.path(),
        &["url", "push", "demo", "--data-dir", "elsewhere"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("elsewhere"), "{}", stderr(&out));
    assert!(!cwd.path().join("elsewhere").exists());

    // --init makes one, and says so; later commands say which one they use, in one line.
    let out = mplive_in(cwd.path(), &["url", "push", "demo", "--init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("--init"), "{}", stderr(&out));
    assert!(cwd.path().join("mplive-data/mplive.db").exists());
    let out = mplive_in(cwd.path(), &["url", "push", "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let using: Vec<&str> = err.lines().filter(|l| l.contains("mplive-data")).collect();
    assert_eq!(using.len(), 1, "{}", stderr(&out));
    assert!(using[0].contains("using data directory"), "{using:?}");
    assert_eq!(stdout(&out).lines().count(), 1, "the URL alone on stdout");
}

#[test]
fn a_url_signed_with_another_key_is_refused_with_a_hint() {
    let server = Server::start_with(Options {
        open_live: false,
        ..Options::default()
    });
    // The newcomer's mistake: a URL from a second data directory, for the right server.
    let other = tempfile::tempdir().unwrap();
    let data = other.path().join("data");
    let out = mplive_in(
        other.path(),
        &[
            "url",
            "push",
            "cam",
            "--init",
            "--data-dir",
            data.to_str().unwrap(),
            "--rtmp-addr",
            &server.rtmp,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let url = stdout(&out).trim().to_string();
    let mut push = Command::new(env!("CARGO_BIN_EXE_mplive"));
    push.args(["push", &url, "--json", "--seconds", "5", "--retries", "0"]);
    let (out, _) = run_with_timeout(&mut push, Duration::from_secs(20));
    let events = stdout(&out);
    assert!(events.contains("signature_bad"), "{events}");
    assert!(events.contains("another key"), "{events}");
    assert!(events.contains("mplive url push --app live"), "{events}");
    assert!(server.log().contains("another key"), "{}", server.log());

    // Play with play auth on: no signature names `url play` (not `url push`), a bad one the other key.
    server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    std::thread::sleep(Duration::from_millis(600));
    let (status, body) = http_get(&server.http, "/live/cam.flv");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("mplive url play --app live"), "{body}");
    assert!(!body.contains("url push"), "{body}");
    let tx_time = format!("{:08x}", control::now_unix() + 3600);
    let (status, body) = http_get(
        &server.http,
        &format!("/live/cam.flv?txSecret=00000000000000000000000000000000&txTime={tx_time}"),
    );
    assert!(status == 403, "{status} {body}");
    assert!(body.contains("another key"), "{body}");
}

/// Sends `bytes` and reads until the server closes (at most 5 s); returns what it answered.
fn exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    answer
}

fn wait_log(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = server.log().lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_on_the_wrong_port_is_told_where_to_go() {
    let server = Server::start("");
    let http_port = server.http.rsplit_once(':').unwrap().1;
    let rtmp_port = server.rtmp.rsplit_once(':').unwrap().1;

    // HTTP on the RTMP port: a 400 that names the HTTP port.
    let answer = exchange(
        &server.rtmp,
        b"GET /live/demo.flv HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains(&format!(
            "this is mplive's RTMP port; HTTP is on port {http_port}"
        )),
        "{text}"
    );
    wait_log(&server, "HTTP request on the RTMP port");

    // RTMP on the HTTP port: closed without an answer (an RTMP client shows no text), and the log says where.
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    let answer = exchange(&server.http, &c0c1);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let line = wait_log(&server, "RTMP client connected to the HTTP port");
    assert!(
        line.contains(&format!("RTMP is on port {rtmp_port}")),
        "{line}"
    );

    // RTMP itself still works on its port.
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/ok"));
    server.wait_live("live/ok");
}

#[test]
fn errors_say_their_cause_once() {
    let cwd = tempfile::tempdir().unwrap();
    // A server that is not there: the root cause, once.
    let out = mplive_in(
        cwd.path(),
        &[
            "push",
            "--api",
            "http://127.0.0.1:1",
            "--app",
            "live",
            "--channel",
            "c",
            "--account",
            "a",
            "--token",
            "t",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out).to_lowercase();
    assert_eq!(err.matches("connection refused").count(), 1, "{err}");

    // A port in use: said once, with what to do.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let serve = |rtmp: &str, http: &str| {
        mplive_in(
            cwd.path(),
            &[
                "serve",
                "--rtmp-addr",
                rtmp,
                "--http-addr",
                http,
                "--data-dir",
                "data",
            ],
        )
    };
    let out = serve(&format!("127.0.0.1:{port}"), "127.0.0.1:0");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("port {port} is in use")), "{err}");
    let error_line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert_eq!(error_line.matches(&port).count(), 2, "{error_line}");
    assert!(!error_line.contains("os error"), "said twice: {error_line}");

    // Addresses: a bad port is named as such; `:PORT` and `localhost:PORT` work.
    for (bad, why) in [
        ("127.0.0.1:99999", "port 99999 is out of range 0-65535"),
        ("127.0.0.1", "no port"),
        (":http", "is not a number"),
    ] {
        let out = serve(bad, "127.0.0.1:0");
        assert!(!out.status.success(), "{bad}");
        let err = stderr(&out);
        assert!(err.contains(why), "{bad}: {err}");
        assert!(!err.contains("invalid socket address syntax"), "{err}");
    }
    let config = cwd.path().join("bad.toml");
    std::fs::write(&config, "rtmp_addr = \"0.0.0.0:70000\"\n").unwrap();
    let out = mplive_in(cwd.path(), &["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("port 70000 is out of range 0-65535"),
        "{}",
        stderr(&out)
    );

    let ready = cwd.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mplive"))
        .current_dir(cwd.path())
        .args([
            "serve",
            "--rtmp-addr",
            "localhost:0",
            "--http-addr",
            ":0",
            "--data-dir",
            "data",
        ])
        .arg("--ready-file")
        .arg(&ready)
        .env_remove("MPLIVE_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("serve with localhost:0 and :0 did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(v["rtmp"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
    assert!(v["http"].as_str().unwrap().starts_with("127.0.0.1:"), "{v}");
}

#[test]
fn names_and_urls_are_checked_as_the_server_checks_them() {
    let server = Server::start("");
    // A channel the SDK endpoint refuses is refused here, naming the field, the value and the characters.
    let out = server.cli(&["token", "--channel", "room 1", "--account", "alice"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    for part in ["--channel", "room 1", "letters, digits"] {
        assert!(err.contains(part), "no {part:?} in {err}");
    }
    let out = server.cli(&["token", "--channel", "room1", "--account", ""]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--account"), "{}", stderr(&out));
    let out = server.cli(&["url", "push", "a/b"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a/b"), "{}", stderr(&out));
    let out = server.cli(&["url", "push", "s", "--app", "my app"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--app"), "{}", stderr(&out));

    // `demo.flv` is the stream `demo`.
    let out = server.cli(&["url", "play", "demo.flv", "--http-addr", &server.http]);
    assert!(out.status.success(), "{}", stderr(&out));
    let urls = stdout(&out);
    assert!(urls.contains("/live/demo.flv\n"), "{urls}");
    assert!(!urls.contains("demo.flv.flv"), "{urls}");
    assert!(urls.contains("/live/demo/ll.m3u8"), "LL-HLS too: {urls}");

    // The test configuration's ports are 0: the URL cannot work as printed, and the CLI says so.
    let out = server.cli(&["url", "push", "demo"]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("port is 0") && err.contains("--rtmp-addr"),
        "{err}"
    );
    let out = server.cli(&["url", "push", "demo", "--rtmp-addr", &server.rtmp]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // An expiry in the past: printed (scripts may want it) with a warning.
    server.cli_ok(&["app", "set", "live", "--push-auth", "on"]);
    let out = server.cli(&[
        "url",
        "push",
        "demo",
        "--rtmp-addr",
        &server.rtmp,
        "--expires-at",
        "1000",
    ]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("expired") && err.contains("--ttl"), "{err}");
}

#[test]
fn a_play_that_never_began_fails() {
    let server = Server::start("");
    let mut play = Command::new(env!("CARGO_BIN_EXE_mplive"));
    play.args(["play", &server.rtmp_url("live/nobody"), "--seconds", "2"]);
    let (out, timed_out) = run_with_timeout(&mut play, Duration::from_secs(20));
    assert!(!timed_out);
    assert!(!out.status.success(), "exit 0 without media");
    assert!(
        stderr(&out).contains("no media arrived"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn app_set_prints_what_changed_without_secrets() {
    let server = Server::start("");
    let key = {
        let v: serde_json::Value =
            serde_json::from_str(&server.cli_ok(&["app", "show", "live"])).unwrap();
        v.as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.to_lowercase().contains("push") && k.to_lowercase().contains("key"))
            .map(|(_, v)| v.as_str().unwrap().to_string())
            .unwrap()
    };
    let out = server.cli_ok(&[
        "app",
        "set",
        "live",
        "--play-auth",
        "on",
        "--callback-url",
        "https://hooks.example/in?apikey=hush",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("play") && l.contains("false -> true")),
        "{out}"
    );
    assert!(out.contains("https://hooks.example/in"), "{out}");
    assert!(!out.contains("hush") && !out.contains(&key), "{out}");
    let out = server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
    assert!(out.contains("nothing changed"), "{out}");
    let out = server.cli_ok(&["app", "set", "live", "--no-callbacks", "--show-secrets"]);
    assert!(out.contains("hush"), "{out}");

    // Help: the policy flags in their group, the data flags in theirs; `url` names LL-HLS.
    let help = server.cli_ok(&["app", "set", "--help"]);
    let policy = help.find("App policy:").expect("an App policy heading");
    let data = help.find("Data:").expect("a Data heading");
    let at = |flag: &str| help.find(flag).unwrap();
    assert!(
        policy < at("--play-auth") && at("--play-auth") < data,
        "{help}"
    );
    assert!(data < at("--data-dir"), "{help}");
    assert!(server.cli_ok(&["url", "--help"]).contains("LL-HLS"));
}

/// Behind a TLS-terminating proxy the URLs name the proxy: `public_http_port`, `public_https` and
/// `public_rtmp_port` replace the bound ports and scheme in every URL the server and `mplive url` print.
#[test]
fn urls_name_the_proxy_in_front() {
    let server = Server::start(
        "public_host = \"live.example.com\"\npublic_http_port = 443\npublic_https = true\npublic_rtmp_port = 1935\n",
    );
    let (status, body) = server.api(
        "POST",
        "/v1/apps/live/urls",
        Some(r#"{"stream": "cam", "ttlSecs": 3600}"#),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["push"]
            .as_str()
            .unwrap()
            .starts_with("rtmp://live.example.com/live/cam"),
        "{v}"
    );
    assert!(
        v["play"]["flv"]
            .as_str()
            .unwrap()
            .starts_with("https://live.example.com/live/cam.flv"),
        "{v}"
    );
    let printed = server.cli_ok(&["url", "play", "cam"]);
    assert!(
        printed.contains("https://live.example.com/live/cam.flv"),
        "{printed}"
    );
}
