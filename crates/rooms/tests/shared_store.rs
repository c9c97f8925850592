//! Two room cores (two nodes of a cluster) answered from ONE shared [`MemoryStore`], as a Redis store would serve
//! them. In a cluster a room lives on one node, so each node hosts different rooms; what they share is the store:
//! the daily quota, the one-room-per-openId rule, and the replay memory.

mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::{code, key_of, signed_join, Urls, APP, UNIX};
use rooms::{codes, Config, ConnId, Input, MemoryStore, Output, Rooms, SessionKey};
use serde_json::{json, Value};

struct Node {
    rooms: Rooms,
    inbox: HashMap<ConnId, Vec<Value>>,
    now: Instant,
}

impl Node {
    fn new(config: &Config) -> Node {
        Node {
            rooms: Rooms::new(config.clone(), Box::new(Urls)),
            inbox: HashMap::new(),
            now: Instant::now(),
        }
    }

    /// Opens `conn` and sends `message`; returns the first reply.
    fn send(&mut self, store: &mut MemoryStore, conn: ConnId, message: &Value) -> Value {
        self.rooms.handle_input(Input::Open { conn }, self.now);
        self.rooms.handle_input(
            Input::Text {
                conn,
                text: &message.to_string(),
                unix_secs: UNIX,
            },
            self.now,
        );
        self.drain(store);
        self.inbox
            .remove(&conn)
            .unwrap_or_default()
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// Joins `group` as `open_id` with `nonce`; returns the reply.
    fn join(
        &mut self,
        store: &mut MemoryStore,
        conn: ConnId,
        group: &str,
        open_id: &str,
        nonce: &str,
    ) -> Value {
        let join = signed_join(
            group,
            open_id,
            "voice",
            nonce,
            &UNIX.to_string(),
            &key_of(open_id),
        );
        self.send(store, conn, &join)
    }

    /// Store work is answered from the shared store, in the order this node emitted it.
    fn drain(&mut self, store: &mut MemoryStore) {
        while let Some(out) = self.rooms.poll_output() {
            match out {
                Output::Send { conn, message } => self
                    .inbox
                    .entry(conn)
                    .or_default()
                    .push(serde_json::from_str(&message.to_json()).unwrap()),
                Output::Close { conn, .. } => {
                    self.rooms.handle_input(Input::Closed { conn }, self.now)
                }
                Output::LookupSessionKey { conn, open_id, .. } => {
                    let key = SessionKey::Found(key_of(&open_id));
                    self.rooms
                        .handle_input(Input::SessionKey { conn, key }, self.now);
                }
                store_work => {
                    if let Some(answer) = store.apply(&store_work) {
                        self.rooms.handle_input(answer, self.now);
                    }
                }
            }
        }
    }
}

fn nodes(config: Config) -> (Node, Node, MemoryStore) {
    let config = Config {
        rng_seed: Some(2),
        ..config
    };
    (Node::new(&config), Node::new(&config), MemoryStore::new())
}

fn err_msg(v: &Value) -> &str {
    v["errMsg"].as_str().unwrap_or_default()
}

#[test]
fn the_daily_quota_holds_across_nodes() {
    let (mut one, mut two, mut store) = nodes(Config {
        daily_room_quota: 2,
        ..Config::default()
    });
    assert_eq!(one.join(&mut store, 1, "g1", "x", "n1")["type"], "joined");
    assert_eq!(two.join(&mut store, 1, "g2", "y", "n2")["type"], "joined");
    for node in [&mut one, &mut two] {
        let r = node.join(
            &mut store,
            2,
            "g3",
            "z",
            &format!("n3{}", node.now.elapsed().as_nanos()),
        );
        assert_eq!(code(&r), codes::QUOTA_EXHAUSTED as i64, "{r}");
    }
    assert_eq!(store.room_count(), 2);
}

#[test]
fn an_open_id_in_a_room_on_one_node_cannot_join_a_room_on_the_other() {
    let (mut one, mut two, mut store) = nodes(Config::default());
    assert_eq!(one.join(&mut store, 1, "g1", "x", "n1")["type"], "joined");
    let r = two.join(&mut store, 1, "g2", "x", "n2");
    assert_eq!(code(&r), codes::ALREADY_IN_ROOM as i64, "{r}");
    assert!(err_msg(&r).contains("group g1"), "{r}");
    assert!(two.rooms.members(APP, "g2").is_empty());
    assert_eq!(store.room_of(APP, "x"), Some("g1"));

    // Once it left on node 1, node 2 takes it.
    assert_eq!(
        one.send(&mut store, 1, &json!({"type":"exit","reqId":3}))["type"],
        "exited"
    );
    assert_eq!(store.room_of(APP, "x"), None);
    assert_eq!(two.join(&mut store, 2, "g2", "x", "n3")["type"], "joined");
    assert_eq!(store.room_of(APP, "x"), Some("g2"));
    assert_eq!(two.rooms.members(APP, "g2"), ["x"]);
    assert_eq!(one.rooms.room_count(), 0);
}

#[test]
fn nonces_and_signatures_used_on_one_node_are_refused_on_the_other() {
    let (mut one, mut two, mut store) = nodes(Config::default());
    let nonce = "8AP6DT9ybtniUJfb";
    let genuine = signed_join(
        "team-vip1",
        "a",
        "voice",
        nonce,
        &UNIX.to_string(),
        &key_of("a"),
    );
    assert_eq!(one.send(&mut store, 1, &genuine)["type"], "joined");

    // The same nonce in another room (another signature) on node 2.
    let r = two.join(&mut store, 1, "g2", "b", nonce);
    assert_eq!(code(&r), codes::BAD_NONCE as i64, "{r}");
    assert!(err_msg(&r).contains("was already used"), "{r}");

    // The same signature re-split into another room (group "vip1") on node 2. (The openId is in a room already,
    // but the replay check comes first.)
    let mut resplit = genuine.clone();
    resplit["groupId"] = json!("vip1");
    resplit["nonceStr"] = json!(format!("{nonce}team-"));
    let r = two.send(&mut store, 2, &resplit);
    assert_eq!(code(&r), codes::BAD_NONCE as i64, "{r}");
    assert!(err_msg(&r).contains("signature already used"), "{r}");
    assert_eq!(two.rooms.room_count(), 0);
    assert_eq!(store.room_count(), 1);
}
