//! Compile-time guards on the public API.

use rtmp::{ClientEvent, ClientSession, Error, ServerEvent, ServerSession};

fn assert_send<T: Send + 'static>() {}

#[test]
fn sessions_and_events_are_send() {
    assert_send::<ServerSession>();
    assert_send::<ClientSession>();
    assert_send::<ServerEvent>();
    assert_send::<ClientEvent>();
    assert_send::<Error>();
}

#[test]
fn events_stay_small() {
    // Media events are frequent: keep them to a few words (Bytes is 4 words).
    assert!(
        std::mem::size_of::<ServerEvent>() <= 128,
        "{}",
        std::mem::size_of::<ServerEvent>()
    );
    assert!(
        std::mem::size_of::<ClientEvent>() <= 80,
        "{}",
        std::mem::size_of::<ClientEvent>()
    );
}

#[test]
fn split_query_cases() {
    assert_eq!(
        rtmp::split_query("name?txSecret=a&txTime=b"),
        ("name", Some("txSecret=a&txTime=b"))
    );
    assert_eq!(rtmp::split_query("live?"), ("live", None));
    assert_eq!(rtmp::split_query("a?b?c"), ("a", Some("b?c")));
    assert_eq!(rtmp::split_query(""), ("", None));
}
