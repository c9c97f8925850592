use serde_json::json;

use super::*;

const ALL: [EventKind; 9] = [
    EventKind::PushStart,
    EventKind::PushEnd,
    EventKind::PlayStart,
    EventKind::PlayStop,
    EventKind::Republish,
    EventKind::Kick,
    EventKind::PushRefused,
    EventKind::RecordDone,
    EventKind::StreamAnomaly,
];

fn push_end() -> StreamEvent {
    StreamEvent {
        sequence: "6f1c2a".into(),
        user_ip: "203.0.113.7".into(),
        stream_param: "txSecret=b77e812107e1d8b8f247885a46e1bd34&txTime=5c2acacc&mode=rtc".into(),
        push_duration_ms: Some(61_500),
        width: Some(1280),
        height: Some(720),
        ..StreamEvent::new(EventKind::PushEnd, "live", "cam-1", 1_700_000_000)
    }
}

#[test]
fn sign_of_a_fixed_key_and_t() {
    // Independently computed: python3 -c "import hashlib; print(hashlib.md5(b'callback-key-123' b'1700000600').hexdigest())"
    assert_eq!(
        sign("callback-key-123", 1_700_000_600),
        "92926b4dfc1319b2686d9e2b2c21aacf"
    );
    assert_eq!(sign("", 1_700_000_600), "5ebd8362121e0bc17b5f2c6bd90dc0b2");
    let b = body(&push_end(), "callback-key-123", 1_700_000_000);
    assert_eq!(b["t"], 1_700_000_600u64);
    assert_eq!(b["sign"], "92926b4dfc1319b2686d9e2b2c21aacf");
}

#[test]
fn verify_sign_checks_key_value_and_time() {
    let key = "callback-key-123";
    let good = "92926b4dfc1319b2686d9e2b2c21aacf";
    assert!(verify_sign(key, good, 1_700_000_600, 1_700_000_000));
    assert!(verify_sign(key, good, 1_700_000_600, 1_700_000_600));
    assert!(verify_sign(key, &good.to_uppercase(), 1_700_000_600, 0));
    assert!(
        !verify_sign(key, good, 1_700_000_600, 1_700_000_601),
        "expired"
    );
    assert!(!verify_sign("other", good, 1_700_000_600, 0), "wrong key");
    assert!(!verify_sign(key, good, 1_700_000_601, 0), "t altered");
    assert!(!verify_sign(key, "", 1_700_000_600, 0));
}

#[test]
fn push_end_body_has_every_tencent_field() {
    let b = body(&push_end(), "k", 1_700_000_000);
    assert_eq!(
        b,
        json!({
            "event_type": 0,
            "event": "push_end",
            "appname": "live",
            "app": "live",
            "stream_id": "cam-1",
            "channel_id": "cam-1",
            "event_time": 1_700_000_000u64,
            "sequence": "6f1c2a",
            "user_ip": "203.0.113.7",
            "stream_param": "txSecret=***&txTime=5c2acacc&mode=rtc",
            "push_duration": 61_500,
            "errcode": 0,
            "errmsg": "",
            "width": 1280,
            "height": 720,
            "t": 1_700_000_600u64,
            "sign": sign("k", 1_700_000_600),
        })
    );
}

#[test]
fn optional_fields() {
    let mut e = StreamEvent::new(EventKind::PlayStart, "live", "cam-1", 5);
    let b = body(&e, "k", 5);
    assert_eq!(
        (b["width"].as_u64(), b["height"].as_u64()),
        (Some(0), Some(0))
    );
    for absent in ["push_duration", "protocol", "player_ip"] {
        assert!(b.get(absent).is_none(), "{absent}");
    }
    e.protocol = Some("flv".into());
    e.player_ip = Some("198.51.100.2".into());
    let b = body(&e, "k", 5);
    assert_eq!(
        (b["protocol"].as_str(), b["player_ip"].as_str()),
        (Some("flv"), Some("198.51.100.2"))
    );
    // push_duration is a push end field; a push end without a known duration still carries it, as 0.
    let b = body(&StreamEvent::new(EventKind::PushEnd, "a", "s", 0), "k", 0);
    assert_eq!(b["push_duration"], 0);
}

#[test]
fn kinds_have_their_names_and_numbers() {
    let expected = [
        ("push_start", 1),
        ("push_end", 0),
        ("play_start", 1001),
        ("play_stop", 1002),
        ("republish", 1003),
        ("kick", 1004),
        ("push_refused", 1005),
        ("record_done", 100),
        ("stream_anomaly", 321),
    ];
    for (kind, (name, number)) in ALL.into_iter().zip(expected) {
        assert_eq!((kind.as_str(), kind.event_type()), (name, number));
        assert_eq!(kind.to_string(), name);
        let b = body(&StreamEvent::new(kind, "a", "s", 0), "k", 0);
        assert_eq!(
            (b["event"].as_str(), b["event_type"].as_u64()),
            (Some(name), Some(u64::from(number)))
        );
    }
}

#[test]
fn credentials_are_masked_in_the_body_and_debug() {
    let cases = [
        ("", ""),
        ("txTime=5c2acacc", "txTime=5c2acacc"),
        ("txSecret=abc&txTime=1", "txSecret=***&txTime=1"),
        ("a=1&TXSECRET=abc&b=%20", "a=1&TXSECRET=***&b=%20"),
        ("token=eyJ.x.y&txsecret=", "token=***&txsecret=***"),
        ("txSecret&txSecretX=1&a==b", "txSecret&txSecretX=1&a==b"),
        ("txSecret=a=b", "txSecret=***"),
    ];
    for (query, masked) in cases {
        assert_eq!(redact_stream_param(query), masked, "{query}");
    }
    let debug = format!("{:?}", push_end());
    assert!(!debug.contains("b77e8121"), "{debug}");
    assert!(debug.contains("txSecret=***"), "{debug}");
}

#[test]
fn errcodes_for_reasons() {
    use errcode::*;
    let table = [
        ("", OK),
        ("normal", OK),
        ("signature_missing", SIGNATURE_MISSING),
        ("signature_bad", SIGNATURE_BAD),
        ("signature_expired", SIGNATURE_EXPIRED),
        ("forbidden", FORBIDDEN),
        ("unknown_app", UNKNOWN_APP),
        ("stream_busy", STREAM_BUSY),
        ("too_many_streams", TOO_MANY_STREAMS),
        ("too_many_players", TOO_MANY_PLAYERS),
        ("token_bad_signature", TOKEN_INVALID),
        ("token_expired", TOKEN_EXPIRED),
        ("token_wrong_channel", TOKEN_MISMATCH),
        ("signature_ttl_too_long", SIGNATURE_TTL_TOO_LONG),
        ("bad_name", BAD_NAME),
        ("ok", OK),
        ("token_malformed", TOKEN_INVALID),
        ("token_wrong_role", TOKEN_MISMATCH),
        // The push end and record done reasons: each has its own code, so a receiver can tell a kick from a
        // timeout, a socket error, a shutdown and a failed recording.
        ("kicked", KICKED),
        ("timeout", TIMEOUT),
        ("error", CONNECTION_ERROR),
        ("shutdown", SHUTDOWN),
        ("record_error", RECORD_ERROR),
        ("restart", RESTARTED),
        ("something_new", OTHER),
    ];
    for (reason, code) in table {
        assert_eq!(for_reason(reason), code, "{reason}");
    }
    let codes = [
        1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
        1016, 1017, 1018, 1019, 1099,
    ];
    assert_eq!(
        [
            SIGNATURE_MISSING,
            SIGNATURE_BAD,
            SIGNATURE_EXPIRED,
            FORBIDDEN,
            UNKNOWN_APP,
            STREAM_BUSY,
            TOO_MANY_STREAMS,
            TOO_MANY_PLAYERS,
            TOKEN_INVALID,
            TOKEN_EXPIRED,
            TOKEN_MISMATCH,
            KICKED,
            TIMEOUT,
            CONNECTION_ERROR,
            SHUTDOWN,
            RECORD_ERROR,
            SIGNATURE_TTL_TOO_LONG,
            BAD_NAME,
            RESTARTED,
            OTHER
        ],
        codes
    );
}

#[test]
fn reasons_of_the_checkers_have_codes() {
    use crate::jwt::TokenError;
    use crate::txsecret::{verify, SignatureError};
    for err in [
        SignatureError::Missing,
        SignatureError::BadTime,
        SignatureError::BadSecret,
        SignatureError::Expired { expiry: 0, now: 1 },
        SignatureError::TooFarAhead {
            expiry: 2,
            now: 1,
            max_ttl: 0,
        },
    ] {
        assert_ne!(errcode::for_reason(err.reason()), errcode::OTHER, "{err:?}");
    }
    assert_eq!(
        verify("k", "s", None, 0, 0).map_err(|e| errcode::for_reason(e.reason())),
        Err(errcode::SIGNATURE_MISSING)
    );
    let token_errors = [
        TokenError::Malformed(String::new()),
        TokenError::UnsupportedAlg(String::new()),
        TokenError::BadSignature,
        TokenError::Expired { exp: 0, now: 0 },
        TokenError::MissingClaim("app"),
        TokenError::TooLong { len: 0, max: 0 },
        TokenError::WrongApp {
            expected: String::new(),
            got: String::new(),
        },
        TokenError::WrongChannel {
            expected: String::new(),
            got: String::new(),
        },
        TokenError::WrongAccount {
            expected: String::new(),
            got: String::new(),
        },
    ];
    for err in token_errors {
        assert_ne!(errcode::for_reason(err.reason()), errcode::OTHER, "{err:?}");
    }
}

#[test]
fn record_done_carries_the_file() {
    let event = StreamEvent {
        record: Some(RecordFile {
            file_path: "live/cam-1/20231114-221320.mp4".into(),
            file_format: "mp4".into(),
            duration: 61,
            file_size: 1234,
            start_time: 1_700_000_000,
            end_time: 1_700_000_061,
        }),
        ..StreamEvent::new(EventKind::RecordDone, "live", "cam-1", 1_700_000_061)
    };
    let b = body(&event, "k", 1_700_000_061);
    assert_eq!(b["event_type"], 100);
    assert_eq!(b["file_path"], "live/cam-1/20231114-221320.mp4");
    assert_eq!(b["file_format"], "mp4");
    assert_eq!(b["duration"], 61);
    assert_eq!(b["file_size"], 1234);
    assert_eq!(
        (b["start_time"].as_u64(), b["end_time"].as_u64()),
        (Some(1_700_000_000), Some(1_700_000_061))
    );
    // Other events do not carry the file fields.
    assert!(body(&push_end(), "k", 0).get("file_path").is_none());
}

#[test]
fn stream_param_is_capped_at_whole_pairs_and_char_boundaries() {
    let short = "a=1&b=2";
    assert_eq!(cap_stream_param(short), short);
    let pairs = format!("a=1&b={}&c=3", "x".repeat(2000));
    assert_eq!(cap_stream_param(&pairs), "a=1");
    let exact = format!("{}&c=3", "y".repeat(STREAM_PARAM_MAX_BYTES));
    assert_eq!(cap_stream_param(&exact).len(), STREAM_PARAM_MAX_BYTES);
    // One pair longer than the limit, in two-byte characters: cut at a boundary.
    let wide = format!("q={}", "é".repeat(1000));
    let cut = cap_stream_param(&wide);
    assert!(
        cut.len() <= STREAM_PARAM_MAX_BYTES && cut.len() > 1000,
        "{}",
        cut.len()
    );
    assert!(wide.starts_with(cut));
    // The limit falls inside a character (`q=a` puts every `é` at an odd offset): cut before that character,
    // never after it.
    let odd = format!("q=a{}", "é".repeat(1000));
    assert!(!odd.is_char_boundary(STREAM_PARAM_MAX_BYTES));
    assert_eq!(cap_stream_param(&odd), &odd[..STREAM_PARAM_MAX_BYTES - 1]);
}

#[test]
fn long_stream_param_is_cut_and_still_redacted() {
    let secret = "b77e812107e1d8b8f247885a46e1bd34";
    let mut event = push_end();
    // In the raw query the secret straddles the limit: masked first, no part of it is left after the cut.
    let pad = "p".repeat(STREAM_PARAM_MAX_BYTES - 12);
    event.stream_param = format!("x={pad}&txSecret={secret}&txTime=5c2acacc");
    let sent = body(&event, "k", 1_700_000_000)["stream_param"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(sent.len() <= STREAM_PARAM_MAX_BYTES, "{}", sent.len());
    assert!(!sent.contains("b77e"), "{sent}");
    // A huge token value alone.
    event.stream_param = format!("token={}", "t".repeat(30_000));
    let sent = body(&event, "k", 1_700_000_000)["stream_param"].clone();
    assert_eq!(sent, "token=***");
}

#[test]
fn callback_urls_are_logged_without_credentials() {
    for (url, logged) in [
        (
            "https://user:pass@hooks.example:8443/a/b?apikey=SECRET#frag",
            "https://hooks.example:8443/a/b",
        ),
        ("http://h.example", "http://h.example"),
        ("http://h.example?k=SECRET", "http://h.example"),
        ("http://u@h/x@y", "http://h/x@y"),
        ("HTTP://a:b@h:1/", "HTTP://h:1/"),
    ] {
        assert_eq!(callback_url_for_log(url), logged, "{url}");
    }
}

#[test]
fn a_stream_anomaly_has_tencents_321_fields_and_says_which_end_of_the_episode() {
    let mut values = serde_json::Map::new();
    values.insert("gap_ms".into(), 4500.into());
    let anomaly = Anomaly {
        rule: "video_gap".into(),
        state: AnomalyState::End,
        abnormal_type: abnormal_type::VIDEO_GAP,
        count: 1,
        desc: "video frame arrive interval too long, interval=4500(msec)".into(),
        started_ms: 1_700_000_003_000,
        duration_ms: Some(1500),
        values,
    };
    let event = StreamEvent {
        sequence: "6f1c2a".into(),
        anomaly: Some(anomaly),
        ..StreamEvent::new(EventKind::StreamAnomaly, "live", "cam-1", 1_700_000_004)
    };
    let b = body(&event, "callback-key-123", 1_700_000_000);
    assert_eq!(b["event_type"], 321);
    assert_eq!(b["event"], "stream_anomaly");
    assert_eq!(b["stream_id"], "cam-1");
    assert_eq!(b["sequence"], "6f1c2a");
    assert_eq!(
        b["data_time"], 1_700_000_004_500u64,
        "when this end happened, ms"
    );
    assert_eq!(b["report_interval"], 0);
    assert_eq!(
        (b["domain"].as_str(), b["path"].as_str()),
        (Some("live"), Some("live"))
    );
    assert_eq!(
        b["abnormal_event"],
        json!([{
            "type": 6,
            "count": 1,
            "customer_visible": "true",
            "detail": [{"desc": "video frame arrive interval too long, interval=4500(msec)", "occur_time": 1_700_000_004_500u64}],
            "event_key": "video_gap",
            "type_desc_en": "video frame arrive interval too long",
            "type_desc_cn": "两帧视频帧到达时间太长",
        }])
    );
    assert_eq!(b["anomaly_state"], "end");
    assert_eq!(b["anomaly_rule"], "video_gap");
    assert_eq!(b["anomaly_detail"], json!({"gap_ms": 4500}));
    assert_eq!(b["episode_start_time"], 1_700_000_003_000u64);
    assert_eq!(b["episode_duration"], 1500);
    assert_eq!(
        b["sign"], "92926b4dfc1319b2686d9e2b2c21aacf",
        "signed like every body"
    );
    // A start has no duration; other events have none of these fields.
    let start = StreamEvent {
        anomaly: event.anomaly.clone().map(|a| Anomaly {
            state: AnomalyState::Start,
            duration_ms: None,
            ..a
        }),
        ..event
    };
    let b = body(&start, "k", 0);
    assert_eq!(b["anomaly_state"], "start");
    assert_eq!(b["data_time"], 1_700_000_003_000u64);
    assert!(b.get("episode_duration").is_none());
    assert!(body(&push_end(), "k", 0).get("abnormal_event").is_none());
}
