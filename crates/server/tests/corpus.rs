//! Replays every file of fuzz/corpus/{http_request_line,whep_offer,ice_tcp_frames}/ (and fuzz/artifacts/ when present)
//! through the checks the fuzz target runs (`server::fuzzing`), so CI exercises the corpus on stable.

use std::path::PathBuf;

/// Every regular file of fuzz/corpus/<target>/ and fuzz/artifacts/<target>/, sorted, with its name, plus the
/// empty input; at least `min` files, so a moved or emptied corpus fails.
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
    assert!(
        out.len() >= min,
        "fuzz/corpus/{target}: {} files, expected at least {min}",
        out.len()
    );
    out.push(("(empty)".to_owned(), Vec::new()));
    out
}

#[test]
fn replay_http_request_line() {
    let files = corpus("http_request_line", 14);
    for (name, data) in &files {
        let maybe = server::fuzzing::request_line(data);
        let file = name.rsplit('/').next().unwrap_or_default();
        let expected = match file {
            "get_flv.txt" | "post_api.txt" | "options_star.txt" | "msearch_prefix.txt"
            | "lone_cr.txt" | "utf8_target.txt" | "(empty)" => Some(true),
            "tls_client_hello.bin"
            | "sip.txt"
            | "http2_preface.txt"
            | "long_method.txt"
            | "double_space.txt"
            | "tab.txt"
            | "rtmp_c0.bin"
            | "version_suffix.txt" => Some(false),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(maybe, expected, "{name}");
        }
    }
}

#[test]
fn replay_whep_offer() {
    let files = corpus("whep_offer", 4);
    for (name, data) in &files {
        let result = server::fuzzing::whep_offer(data);
        let file = name.rsplit('/').next().unwrap_or_default();
        match file {
            "chrome_offer.sdp" => assert!(result.is_ok(), "{name}: {result:?}"),
            "vp8_only.sdp" => assert_eq!(result, Err(406), "{name}"),
            // Found by libFuzzer: two m-lines with one mid, or one payload type in two m-lines, made str0m assert.
            "(empty)"
            | "garbage.txt"
            | "no_fingerprint.sdp"
            | "duplicate-mid"
            | "payload-type-in-two-mlines" => {
                assert_eq!(result, Err(400), "{name}")
            }
            _ => {}
        }
    }
}

#[test]
fn replay_whip_ingest() {
    let files = corpus("whip_ingest", 5);
    for (name, data) in &files {
        let made = server::fuzzing::whip_ingest(data);
        let file = name.rsplit('/').next().unwrap_or_default();
        match file {
            // The AAC sequence header (first, always), the AVC one and three pictures.
            "keyframe_then_inter.bin" => assert_eq!(made, 5, "{name}"),
            // The inter frame before any SPS/PPS is refused; then the AVC header and the keyframe.
            "inter_before_keyframe.bin" => assert_eq!(made, 3, "{name}"),
            "(empty)" => assert_eq!(made, 0, "{name}"),
            // Only the AAC sequence header: nothing in it converts.
            "garbage.bin" => assert_eq!(made, 1, "{name}"),
            _ => {}
        }
    }
}

#[test]
fn replay_ice_tcp_frames() {
    let files = corpus("ice_tcp_frames", 4);
    for (name, data) in &files {
        let result = server::fuzzing::ice_tcp_frames(data);
        let file = name.rsplit('/').next().unwrap_or_default();
        let expected = match file {
            "stun_request.bin" => Some(Some(1)),
            // The third frame is cut short: two read, the rest waits for more bytes.
            "three_frames_cut.bin" => Some(Some(2)),
            // 1500 bytes pass, 1501 close the connection.
            "http_get.txt" | "max_frame.bin" => Some(None),
            "(empty)" => Some(Some(0)),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(result, expected, "{name}");
        }
    }
}
