//! Replays every file of fuzz/corpus/rtmp_*/ (and fuzz/artifacts/rtmp_*/ when present) through the checks the fuzz
//! targets run (`rtmp::fuzzing`), so CI exercises the corpora on stable without cargo-fuzz.

use std::path::PathBuf;

/// Every regular file of fuzz/corpus/<target>/ and fuzz/artifacts/<target>/, sorted, with its name; at least
/// `min` of them (the committed corpus; update when it is re-minimized), so a moved or emptied corpus fails.
fn corpus(target: &str, min: usize) -> Vec<(String, Vec<u8>)> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    // libFuzzer always tries the empty input first.
    out.push(("(empty)".to_owned(), Vec::new()));
    assert!(
        out.len() > min,
        "fuzz/corpus/{target}: {} files, expected at least {min}",
        out.len() - 1
    );
    out
}

#[test]
fn replay_rtmp_handshake() {
    let files = corpus("rtmp_handshake", 70);
    let outcomes: Vec<_> = files
        .iter()
        .map(|(_, data)| rtmp::fuzzing::handshake(data))
        .collect();
    for (name, outcome) in files.iter().map(|(n, _)| n).zip(&outcomes) {
        if name.ends_with("_c0c1.bin") {
            assert!(outcome.server_replied, "{name}");
        }
        if name.ends_with("simple_s0s1s2.bin") {
            assert!(outcome.client_done, "{name}");
        }
    }
}

#[test]
fn replay_rtmp_chunk() {
    let files = corpus("rtmp_chunk", 125);
    let mut total = 0;
    for (name, data) in &files {
        let n = rtmp::fuzzing::chunk(data);
        if name.ends_with("ffmpeg_connect_chunks.bin") {
            // ffmpeg's connect command, in two chunks.
            assert_eq!(n, 1, "{name}");
        }
        total += n;
    }
    assert!(
        total >= files.len(),
        "the corpus decodes to real messages ({total})"
    );
}

#[test]
fn replay_rtmp_amf0() {
    let files = corpus("rtmp_amf0", 173);
    let mut decoded = 0;
    for (name, data) in &files {
        let n = rtmp::fuzzing::amf0(data);
        if name.ends_with("ffmpeg_connect.bin") {
            // "connect", transaction id, command object.
            assert_eq!(n, Some(3), "{name}");
        }
        decoded += usize::from(n.is_some());
    }
    assert!(decoded > 0, "no corpus file decodes");
}

#[test]
fn replay_rtmp_server_session() {
    let files = corpus("rtmp_server_session", 261);
    for (name, data) in &files {
        let outcome = rtmp::fuzzing::server_session(data);
        if name.ends_with("ffmpeg_publish_split64.bin") {
            // connect and publish, then media.
            assert!(
                outcome.requests >= 2 && outcome.media > 0,
                "{name}: {outcome:?}"
            );
        }
        if name.ends_with("ffmpeg_play_split7.bin") {
            assert!(outcome.requests >= 2, "{name}: {outcome:?}");
        }
    }
}

#[test]
fn replay_rtmp_command_fields() {
    let files = corpus("rtmp_command_fields", 13);
    let mut refused = 0;
    for (name, data) in &files {
        let outcome = rtmp::fuzzing::command_fields(data);
        let file = name.rsplit('/').next().unwrap_or_default();
        if file.contains("_long_") {
            assert!(outcome.refused, "{name}: {outcome:?}");
        }
        if file.ends_with("_ok.bin") || file.contains("exact_limit") || file.contains("ffmpeg") {
            assert!(outcome.decoded && !outcome.refused, "{name}: {outcome:?}");
        }
        refused += usize::from(outcome.refused);
    }
    assert!(refused > 0, "no corpus file reaches the bound");
}
