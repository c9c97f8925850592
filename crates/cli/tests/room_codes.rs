//! The Rust SDK's room member (`client::room::RoomClient`) against the real server: live-pusher's ROOM codes for
//! an accepted join (1018), a leave (1019), a refused join (1022 with the server's reason), and a resume after
//! the TCP connection under the socket was cut (1021). The JavaScript SDK's `VoipRoom` is held to the same in
//! `sdk/miniprogram/test/room.e2e.test.js`.

mod common;

use std::time::Duration;

use client::room::{JoinParams, Notice, RoomClient, RoomEvent, RoomOptions, RoomUpdate};
use client::status::StatusEvent;
use common::cut_proxy::CutProxy;
use common::room_client::*;
use common::*;
use control::now_unix;
use serde_json::Value;
use tokio::sync::mpsc::Receiver;

const APP: &str = "wxroomcodes0001";

/// A signed join of `open_id` to `group` (the same join the raw-socket tests send).
fn signed_join(server: &Server, group: &str, open_id: &str) -> JoinParams {
    let key = session_key_in(server, APP, open_id);
    let msg = join_msg_in(
        APP,
        group,
        open_id,
        &key,
        &nonce(),
        &now_unix().to_string(),
        "video",
    );
    serde_json::from_value(msg).expect("a join message is a JoinParams")
}

/// Waits (10 s at most) for the code `code`; fails naming every code seen meanwhile.
async fn expect_code(updates: &mut Receiver<RoomUpdate>, code: i32) -> StatusEvent {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Ok(Some(RoomUpdate {
                notice: Notice::Status(s),
                ..
            })) if s.code == code => return s,
            Ok(Some(u)) => seen.push(format!("{:?}", u.notice)),
            Ok(None) => panic!("the client ended before {code}; seen: {seen:#?}"),
            Err(_) => panic!("no {code} within 10 s; seen: {seen:#?}"),
        }
    }
}

fn message(s: &StatusEvent) -> Value {
    serde_json::from_str(&s.message).expect("the message is a JSON string")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_leave_and_a_refused_join_give_1018_1019_1022() {
    let server = Server::start("");
    create_app(&server, APP);
    let group = format!("codes{}", now_unix());
    let url = format!("http://{}", server.http);

    let (alice, mut alice_updates) = RoomClient::start(&url, RoomOptions::default()).unwrap();
    alice.join(signed_join(&server, &group, "alice"));
    let joined = expect_code(&mut alice_updates, 1018).await;
    assert_eq!(
        message(&joined),
        serde_json::json!({"roomid": group, "userid": "alice"})
    );

    // A join with a signature the key did not make: 1022 with the server's errCode and reason.
    let (carol, mut carol_updates) = RoomClient::start(&url, RoomOptions::default()).unwrap();
    let mut bad = signed_join(&server, &group, "carol");
    bad.signature = "0".repeat(64);
    carol.join(bad);
    let refused = message(&expect_code(&mut carol_updates, 1022).await);
    assert_eq!(refused["errcode"], -10001, "{refused}");
    assert_eq!(refused["userid"], "carol");
    let reason = refused["errmsg"].as_str().unwrap();
    assert!(reason.contains("signature"), "{reason}");

    // A room that is full refuses with -10003.
    let small = Server::start("[rooms]\nmax_members = 1\n");
    create_app(&small, APP);
    let small_url = format!("http://{}", small.http);
    let (first, mut first_updates) = RoomClient::start(&small_url, RoomOptions::default()).unwrap();
    first.join(signed_join(&small, "full", "first"));
    expect_code(&mut first_updates, 1018).await;
    let (second, mut second_updates) =
        RoomClient::start(&small_url, RoomOptions::default()).unwrap();
    second.join(signed_join(&small, "full", "second"));
    let full = message(&expect_code(&mut second_updates, 1022).await);
    assert_eq!(full["errcode"], -10003, "{full}");

    alice.exit();
    let left = expect_code(&mut alice_updates, 1019).await;
    assert_eq!(
        message(&left),
        serde_json::json!({"roomid": group, "userid": "alice"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_with_1021_and_nobody_sees_a_leave() {
    let server = Server::start("");
    create_app(&server, APP);
    let group = format!("cut{}", now_unix());
    let proxy = CutProxy::start(&server.http).await;

    // bob joins directly and watches the room.
    let (bob, mut bob_updates) =
        RoomClient::start(&format!("http://{}", server.http), RoomOptions::default()).unwrap();
    bob.join(signed_join(&server, &group, "bob"));
    expect_code(&mut bob_updates, 1018).await;

    // alice joins through the proxy.
    let (alice, mut alice_updates) =
        RoomClient::start(&format!("http://{}", proxy.addr), RoomOptions::default()).unwrap();
    alice.join(signed_join(&server, &group, "alice"));
    expect_code(&mut alice_updates, 1018).await;
    assert_eq!(proxy.accepted(), 1);

    proxy.cut();
    let rejoined = expect_code(&mut alice_updates, 1021).await;
    assert_eq!(
        message(&rejoined),
        serde_json::json!({"roomid": group, "userid": "alice"})
    );
    assert_eq!(proxy.accepted(), 2, "the resume came on a new connection");

    // bob saw alice arrive and never leave.
    let mut lists = Vec::new();
    while let Ok(u) = bob_updates.try_recv() {
        if let Notice::Event(RoomEvent::MembersChanged { open_id_list, .. }) = u.notice {
            lists.push(open_id_list);
        }
    }
    assert!(
        !lists.is_empty() && lists.iter().all(|l| l.iter().any(|id| id == "alice")),
        "{lists:?}"
    );

    // Still a member: a request is answered, and exit is 1019.
    alice.request(
        "updateMuteConfig",
        serde_json::from_value(
            serde_json::json!({"muteConfig": {"muteMicrophone": true, "muteEarphone": false}}),
        )
        .unwrap(),
    );
    alice.exit();
    expect_code(&mut alice_updates, 1019).await;
    drop(bob);
}
