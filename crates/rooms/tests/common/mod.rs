//! A simulated set of clients around one [`Rooms`] and its [`MemoryStore`]: joins sign with the right key, store
//! work is answered in the order emitted, outputs are collected per connection, the clock is advanced by hand.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rooms::{
    sign, Config, ConnId, Input, MediaUrls, MemoryStore, Output, PlayUrls, Rooms, ServerMessage,
    SessionKey, SignedFields,
};
use serde_json::{json, Value};

pub const APP: &str = "wx20afc706a711eefc";
pub const UNIX: u64 = 1_559_129_714;

pub struct Urls;
impl MediaUrls for Urls {
    fn push_url(&self, s: &str) -> String {
        format!("rtmp://h/room/{s}?txSecret=x")
    }
    fn play_urls(&self, s: &str) -> PlayUrls {
        PlayUrls {
            rtmp: format!("rtmp://h/room/{s}"),
            flv: format!("http://h/room/{s}.flv"),
        }
    }
}

/// The stream of a member of `APP`.
pub fn sn(group: &str, open_id: &str) -> String {
    rooms::stream_name(APP, group, open_id)
}

pub fn key_of(open_id: &str) -> String {
    format!("key-{open_id}")
}

pub struct Sim {
    pub rooms: Rooms,
    pub store: MemoryStore,
    pub start: Instant,
    pub now: Instant,
    pub unix: u64,
    pub inbox: HashMap<ConnId, Vec<Value>>,
    pub closed: Vec<ConnId>,
    nonce: u64,
}

impl Sim {
    pub fn new(config: Config) -> Sim {
        let now = Instant::now();
        // Seeded unless the test chose: the same steps give the same messages, tokens included.
        let config = Config {
            rng_seed: config.rng_seed.or(Some(1)),
            ..config
        };
        Sim {
            rooms: Rooms::new(config, Box::new(Urls)),
            store: MemoryStore::new(),
            start: now,
            now,
            unix: UNIX,
            inbox: HashMap::new(),
            closed: Vec::new(),
            nonce: 0,
        }
    }

    pub fn open(&mut self, conn: ConnId) {
        self.rooms.handle_input(Input::Open { conn }, self.now);
    }

    /// Feeds one input at the current time, without draining.
    pub fn input(&mut self, input: Input<'_>) {
        self.rooms.handle_input(input, self.now);
    }

    /// Feeds one text frame at the current time (and wall clock), without draining.
    pub fn text(&mut self, conn: ConnId, text: &str) {
        let unix_secs = self.unix;
        self.input(Input::Text {
            conn,
            text,
            unix_secs,
        });
    }

    pub fn send(&mut self, conn: ConnId, v: Value) {
        self.rooms.handle_input(
            Input::Text {
                conn,
                text: &v.to_string(),
                unix_secs: self.unix,
            },
            self.now,
        );
        self.drain();
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.unix = UNIX + (self.now - self.start).as_secs();
        self.rooms.handle_timeout(self.now);
        self.drain();
    }

    /// Answers lookups with the open id's key (`key-{openId}`), or none for open ids starting with "nokey"; store
    /// work with the store, in order.
    pub fn drain(&mut self) {
        while let Some(out) = self.rooms.poll_output() {
            match out {
                Output::Send { conn, message } => {
                    let text = message.to_json();
                    self.inbox
                        .entry(conn)
                        .or_default()
                        .push(serde_json::from_str(&text).unwrap());
                }
                Output::Close { conn, .. } => {
                    self.closed.push(conn);
                    self.rooms.handle_input(Input::Closed { conn }, self.now);
                }
                Output::LookupSessionKey {
                    conn,
                    app_id,
                    open_id,
                } => {
                    let key = if app_id != APP {
                        SessionKey::UnknownApp
                    } else if open_id.starts_with("nokey") {
                        SessionKey::NoKey
                    } else {
                        SessionKey::Found(key_of(&open_id))
                    };
                    self.rooms
                        .handle_input(Input::SessionKey { conn, key }, self.now);
                }
                store_work => {
                    if let Some(answer) = self.store.apply(&store_work) {
                        self.rooms.handle_input(answer, self.now);
                    }
                }
            }
        }
    }

    pub fn fresh_nonce(&mut self) -> String {
        self.nonce += 1;
        format!("nonce{}", self.nonce)
    }

    pub fn join_msg(&mut self, group: &str, open_id: &str, room_type: &str) -> Value {
        let nonce = self.fresh_nonce();
        signed_join(
            group,
            open_id,
            room_type,
            &nonce,
            &self.unix.to_string(),
            &key_of(open_id),
        )
    }

    /// Opens `conn` and joins; returns the reply.
    pub fn join(&mut self, conn: ConnId, group: &str, open_id: &str, room_type: &str) -> Value {
        self.open(conn);
        let m = self.join_msg(group, open_id, room_type);
        self.send(conn, m);
        let mut got = self.take(conn);
        let reply = got.remove(0);
        if !got.is_empty() {
            self.inbox.insert(conn, got);
        }
        reply
    }

    /// Messages received by `conn` since the last take.
    pub fn take(&mut self, conn: ConnId) -> Vec<Value> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    /// Messages of `type` received by `conn` since the last take (others are dropped).
    pub fn take_type(&mut self, conn: ConnId, kind: &str) -> Vec<Value> {
        self.take(conn)
            .into_iter()
            .filter(|m| m["type"] == kind)
            .collect()
    }
}

pub fn signed_join(
    group: &str,
    open_id: &str,
    room_type: &str,
    nonce: &str,
    ts: &str,
    key: &str,
) -> Value {
    let signature = sign(
        &SignedFields {
            app_id: APP,
            group_id: group,
            nonce_str: nonce,
            time_stamp: ts,
        },
        key,
    );
    json!({"type":"join","reqId":1,"appId":APP,"groupId":group,"openId":open_id,"nonceStr":nonce,
        "timeStamp":ts,"signature":signature,"roomType":room_type})
}

pub fn ids(v: &Value) -> Vec<String> {
    v["openIdList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

pub fn code(v: &Value) -> i64 {
    v["errCode"].as_i64().unwrap_or(0)
}

pub fn unused(_: ServerMessage) {}
