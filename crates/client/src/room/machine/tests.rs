//! The events besides the codes (the vectors in `sdk/vectors/room/` cover the codes and actions).

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn params() -> JoinParams {
    JoinParams {
        app_id: "wxapp".into(),
        group_id: "g1".into(),
        open_id: "me".into(),
        nonce_str: "n1".into(),
        time_stamp: "100".into(),
        signature: "s".into(),
        room_type: RoomType::Video,
        mute_config: MuteConfig::default(),
    }
}

fn drain(m: &mut RoomMachine) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn events(out: &[Output]) -> Vec<&RoomEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn joined(t0: Instant) -> RoomMachine {
    let mut m = RoomMachine::new(RoomConfig::default());
    m.handle_input(Input::Join { payload: params() }, t0);
    m.handle_input(Input::SocketOpen, t0);
    let msg = json!({"type":"joined","reqId":1,"groupId":"g1","roomType":"video","openIdList":["a","me"],
        "pushUrl":"rtmp://h/room/g1_me?txSecret=x","members":[{"openId":"a","playUrls":{"flv":"http://h/a.flv"}}],
        "heartbeatIntervalMs":5000,"resumeToken":"tok","resumed":false});
    m.handle_input(Input::Message { msg }, t0);
    m
}

#[test]
fn joined_hands_over_the_push_url_and_the_members() {
    let t0 = Instant::now();
    let mut m = RoomMachine::new(RoomConfig::default());
    m.handle_input(Input::Join { payload: params() }, t0);
    m.handle_input(Input::SocketOpen, t0);
    let out = drain(&mut m);
    // The join frame carries every signed field under the wire names.
    let Some(Output::Action(Action::Send { msg })) = out.get(1) else {
        panic!("no join frame: {out:?}")
    };
    assert_eq!(msg["type"], "join");
    assert_eq!(msg["nonceStr"], "n1");
    assert_eq!(msg["muteConfig"]["muteMicrophone"], false);
    assert_eq!(events(&out), [&RoomEvent::JoinSent]);
    let mut m = joined(t0);
    let out = drain(&mut m);
    let RoomEvent::Joined {
        push_url, members, ..
    } = events(&out)[1]
    else {
        panic!("no joined: {out:?}")
    };
    assert_eq!(push_url, "rtmp://h/room/g1_me?txSecret=x");
    assert_eq!(members[0].open_id, "a");
    assert_eq!(m.state(), RoomState::Joined);
    // The server's heartbeat interval replaces the default.
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(5)));
}

#[test]
fn requests_are_answered_by_req_id_and_fail_on_a_drop() {
    let t0 = Instant::now();
    let mut m = joined(t0);
    drain(&mut m);
    let id = m.handle_input(
        Input::Request {
            kind: "updateMuteConfig".into(),
            body: serde_json::from_value(json!({"muteConfig":{"muteMicrophone":true}})).unwrap(),
        },
        t0,
    );
    assert_eq!(id, Some(2));
    let out = drain(&mut m);
    assert!(
        matches!(&out[0], Output::Action(Action::Send { msg }) if msg["reqId"] == 2 && msg["type"] == "updateMuteConfig"),
        "{out:?}"
    );
    m.handle_input(
        Input::Message {
            msg: json!({"type":"ok","reqId":2}),
        },
        t0,
    );
    assert!(matches!(
        events(&drain(&mut m))[..],
        [RoomEvent::Reply {
            req_id: 2,
            ok: true,
            ..
        }]
    ));
    m.handle_input(
        Input::Request {
            kind: "subscribeVideoMembers".into(),
            body: Default::default(),
        },
        t0,
    );
    drain(&mut m);
    m.handle_input(
        Input::SocketClosed {
            code: Some(1006),
            reason: String::new(),
        },
        t0,
    );
    let out = drain(&mut m);
    assert!(
        matches!(
            events(&out)[..],
            [
                RoomEvent::Reply {
                    req_id: 3,
                    ok: false,
                    err_code: err::SYSTEM,
                    ..
                },
                RoomEvent::Reconnecting { .. }
            ]
        ),
        "{out:?}"
    );
    assert_eq!(m.state(), RoomState::Resuming);
}

#[test]
fn the_servers_interrupted_ends_the_membership() {
    let t0 = Instant::now();
    let mut m = joined(t0);
    drain(&mut m);
    let msg = json!({"type":"interrupted","errCode":-10010,"errMsg":"taken over"});
    m.handle_input(Input::Message { msg }, t0);
    let out = drain(&mut m);
    assert_eq!(out[0], Output::Action(Action::Close));
    assert_eq!(
        events(&out),
        [&RoomEvent::Interrupted {
            err_code: -10010,
            err_msg: "taken over".into()
        }]
    );
    assert_eq!(m.poll_timeout(), None);
    // A new join is allowed afterwards.
    m.handle_input(Input::Join { payload: params() }, t0);
    assert_eq!(drain(&mut m), [Output::Action(Action::Open)]);
}

#[test]
fn never_panics_on_odd_frames() {
    let t0 = Instant::now();
    let mut m = joined(t0);
    for msg in [
        json!(null),
        json!(42),
        json!({"type": 7}),
        json!({"type":"joined","reqId":"x"}),
        json!({"type":"roomEvent","code":"1020","message":{}}),
        json!({"type":"roomEvent","code":99999999999i64,"message":"x"}),
        json!({"type":"membersChanged","openIdList":[1,null],"members":[{"x":1}]}),
        json!({"type":"error"}),
    ] {
        m.handle_input(Input::Message { msg }, t0);
    }
    drain(&mut m);
    assert_eq!(m.state(), RoomState::Joined);
}
