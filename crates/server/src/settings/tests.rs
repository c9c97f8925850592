//! Settings checks and the `Debug` output that hides secrets.

use super::*;

#[test]
fn empty_toml_is_defaults() {
    let s = Settings::from_toml("").unwrap();
    assert_eq!(s.rtmp_addr.port(), 1935);
    assert_eq!(s.http_addr.port(), 8080);
    assert_eq!(s.publisher_timeout_secs, 70);
}

#[test]
fn unknown_key_is_refused() {
    let err = Settings::from_toml("rtmp_adr = \"0.0.0.0:1\"").unwrap_err();
    assert!(err.to_string().contains("rtmp_adr"), "{err}");
}

#[test]
fn tls_needs_both_files() {
    let err = Settings::from_toml("tls_cert = \"c.pem\"").unwrap_err();
    assert!(err.to_string().contains("tls_key is not"), "{err}");
    let err = Settings::from_toml("tls_key = \"k.pem\"").unwrap_err();
    assert!(err.to_string().contains("tls_cert is not"), "{err}");
    let s = Settings::from_toml("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"").unwrap();
    assert_eq!(s.tls_reload_secs, 5);
}

#[test]
fn rooms_settings_have_defaults_and_bounds() {
    let s = Settings::from_toml("").unwrap();
    assert_eq!(
        (s.rooms.max_members, s.rooms.daily_room_quota),
        (10, 100_000)
    );
    assert_eq!(
        (s.rooms.heartbeat_interval_ms, s.rooms.missed_heartbeats),
        (7000, 3)
    );
    assert_eq!(s.rooms.media_app, "room");
    assert_eq!(s.rooms.core_config().max_nonce_chars, 32);
    let s = Settings::from_toml(
        "[rooms]\nmax_members = 4\nmedia_app = \"calls\"\nmax_nonce_chars = 40",
    )
    .unwrap();
    assert_eq!(s.rooms.core_config().max_members, 4);
    assert_eq!(s.rooms.core_config().max_nonce_chars, 40);
    for (bad, field) in [
        ("max_members = 0", "rooms.max_members"),
        ("missed_heartbeats = 0", "rooms.missed_heartbeats"),
        ("media_app = \"a/b\"", "rooms.media_app"),
        ("speaker_threshold = 101", "rooms.speaker_threshold"),
        ("max_nonce_chars = 65", "rooms.max_nonce_chars"),
        ("max_nonce_chars = 0", "rooms.max_nonce_chars"),
    ] {
        let err = Settings::from_toml(&format!("[rooms]\n{bad}")).unwrap_err();
        assert!(err.to_string().contains(field), "{bad}: {err}");
    }
    assert!(Settings::from_toml("[rooms]\nmax_memebrs = 3").is_err());
}

#[test]
fn hls_settings_have_defaults_and_bounds() {
    let s = Settings::from_toml("").unwrap();
    assert_eq!((s.hls.target_duration_ms, s.hls.window), (2000, 6));
    assert_eq!((s.hls.idle_timeout_secs, s.hls.always), (30, false));
    let s = Settings::from_toml("[hls]\nwindow = 3\nalways = true").unwrap();
    assert!(s.hls.always && s.hls.window == 3);
    let err = Settings::from_toml("[hls]\nwindow = 0").unwrap_err();
    assert!(err.to_string().contains("hls.window"), "{err}");
    let err = Settings::from_toml("[hls]\ntarget = 2").unwrap_err();
    assert!(err.to_string().contains("target"), "{err}");
}

#[test]
fn bad_chunk_size_names_the_setting() {
    let err = Settings::from_toml("[rtmp]\nout_chunk_size = 0").unwrap_err();
    assert!(err.to_string().contains("rtmp.out_chunk_size"), "{err}");
}

#[test]
fn message_bounds_are_per_type_and_the_old_key_still_works() {
    let s = Settings::from_toml("").unwrap();
    let l = s.rtmp.session_config().message_limits;
    assert_eq!((l.video, l.audio, l.script), (16 << 20, 1 << 20, 64 << 10));
    assert_eq!((l.command, l.shared_object), (64 << 10, 64 << 10));
    assert_eq!(s.rtmp.session_config().max_field_bytes, 4096);
    assert_eq!(s.max_connections_per_address, 500);
    // `max_message_size` was the media bound: it is read as the video bound.
    let s = Settings::from_toml("[rtmp]\nmax_message_size = 1048576").unwrap();
    assert_eq!(s.rtmp.max_video_message_size, 1 << 20);
    let err = Settings::from_toml("[rtmp]\nmax_audio_message_size = 10").unwrap_err();
    assert!(
        err.to_string().contains("rtmp.max_audio_message_size"),
        "{err}"
    );
    let err = Settings::from_toml("[rtmp]\nmax_field_bytes = 100000").unwrap_err();
    assert!(err.to_string().contains("rtmp.max_field_bytes"), "{err}");
    let s = Settings::from_toml("max_connections_per_address = 0").unwrap();
    assert_eq!(s.max_connections_per_address, 0);
}

#[test]
fn the_documented_configuration_parses() {
    let doc = include_str!("../../../../docs/configuration.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let s = Settings::from_toml(&doc[start..end]).unwrap();
    assert_eq!(s.max_connections_per_address, 500);
    assert_eq!(s.rtmp.max_field_bytes, 4096);
    assert_eq!(s.interruptions.retention_days, 30);
    assert_eq!(
        s.health,
        media::health::HealthConfig::default(),
        "[health] shows the defaults"
    );
    let w = crate::webrtc::WebrtcSettings::default();
    assert_eq!(
        (
            s.webrtc.max_sessions,
            s.webrtc.session_queue,
            s.webrtc.udp_addr
        ),
        (w.max_sessions, w.session_queue, None),
        "[webrtc] shows the defaults"
    );
    assert_eq!(
        s.webrtc.whip,
        crate::webrtc::WhipSettings::default(),
        "[webrtc.whip] shows the defaults"
    );
    let tcp = |w: &crate::webrtc::WebrtcSettings| {
        (
            w.udp_candidates,
            w.tcp_enabled,
            w.tcp_addr,
            w.public_tcp_port,
            w.tcp_max_connections,
            w.tcp_max_frame,
            w.tcp_stun_timeout_secs,
            w.tcp_send_queue,
        )
    };
    assert_eq!(
        tcp(&s.webrtc),
        tcp(&w),
        "[webrtc] shows the ICE-TCP defaults"
    );
}

#[test]
fn webrtc_udp_address_follows_the_http_listener_by_default() {
    let s = Settings::from_toml("").unwrap();
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    assert_eq!(s.webrtc.udp_addr(http).to_string(), "127.0.0.1:8189");
    let second = std::net::SocketAddr::from(([127, 0, 0, 1], 12080));
    assert_eq!(
        s.webrtc.udp_addr(second).to_string(),
        "127.0.0.1:12189",
        "servers with their own HTTP ports on one host get their own UDP ports"
    );
    let top = std::net::SocketAddr::from(([127, 0, 0, 1], 65500));
    assert_eq!(s.webrtc.udp_addr(top).port(), 0, "no port past 65535");
    let tests = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    assert_eq!(
        s.webrtc.udp_addr(tests).port(),
        0,
        "servers on free ports share no UDP port"
    );
    let s = Settings::from_toml("[webrtc]\nudp_addr = \":9000\"").unwrap();
    assert_eq!(s.webrtc.udp_addr(http).to_string(), "0.0.0.0:9000");
    let err = Settings::from_toml("[webrtc]\nsession_queue = 1").unwrap_err();
    assert!(err.to_string().contains("webrtc.session_queue"), "{err}");
    // ICE-TCP listens next to it, on the same port number, TCP.
    let s = Settings::from_toml("").unwrap();
    assert_eq!(s.webrtc.tcp_addr(http).to_string(), "127.0.0.1:8189");
    assert_eq!(s.webrtc.tcp_addr(tests).port(), 0);
    let s = Settings::from_toml("[webrtc]\ntcp_addr = \":9443\"").unwrap();
    assert_eq!(s.webrtc.tcp_addr(http).to_string(), "0.0.0.0:9443");
    for (toml, field) in [
        ("tcp_max_frame = 100000", "webrtc.tcp_max_frame"),
        ("tcp_max_connections = 0", "webrtc.tcp_max_connections"),
        ("tcp_stun_timeout_secs = 0", "webrtc.tcp_stun_timeout_secs"),
        ("tcp_send_queue = 1", "webrtc.tcp_send_queue"),
        (
            "udp_candidates = false\ntcp_enabled = false",
            "webrtc.udp_candidates",
        ),
    ] {
        let err = Settings::from_toml(&format!("[webrtc]\n{toml}")).unwrap_err();
        assert!(err.to_string().contains(field), "{toml}: {err}");
    }
}

mod debug {
    use super::*;

    #[test]
    fn debug_hides_the_admin_token_and_the_database_password() {
        let s = Settings {
            admin_token: Some("very-secret-token".into()),
            database_url: Some("postgres://mplive:hunter2@db/mplive".into()),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("very-secret-token"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("rtmp_addr"));
    }
}

#[test]
fn health_settings_have_defaults_and_bounds() {
    let s = Settings::from_toml("").unwrap();
    assert!(s.health.enabled);
    assert_eq!((s.health.video_gap_ms, s.health.gop_max_ms), (3000, 10_000));
    let s = Settings::from_toml("[health]\nenabled = false\ngop_max_ms = 4000").unwrap();
    assert_eq!((s.health.enabled, s.health.gop_max_ms), (false, 4000));
    for (bad, field) in [
        ("low_fps_ratio = 1.5", "health.low_fps_ratio"),
        ("video_gap_ms = 10", "health.video_gap_ms"),
        ("rate_baseline_secs = 1", "health.rate_baseline_secs"),
        ("recent_episodes = 5000", "health.recent_episodes"),
    ] {
        let err = Settings::from_toml(&format!("[health]\n{bad}")).unwrap_err();
        assert!(err.to_string().contains(field), "{bad}: {err}");
    }
    assert!(Settings::from_toml("[health]\nvideo_gap = 3").is_err());
}
