//! Two room cores (two nodes) on one shared [`RoomStore`]: what a node does with a member the store knows but the
//! node does not.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use common::{ids, key_of, signed_join, Urls, APP, UNIX};
use rooms::{
    AddLimits, AddRefused, Added, Config, ConnId, Input, MemoryStore, Output, ReplayCheck, RoomKey,
    RoomStore, Rooms, SessionKey, SignatureUse, StoreError,
};
use serde_json::Value;

/// One [`MemoryStore`] behind both nodes, as a remote store would be.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<MemoryStore>>);

impl RoomStore for Shared {
    fn members(&self, room: &RoomKey) -> Result<Vec<String>, StoreError> {
        self.0.borrow().members(room)
    }
    fn add_member(
        &mut self,
        room: &RoomKey,
        open_id: &str,
        limits: AddLimits,
    ) -> Result<Added, AddRefused> {
        self.0.borrow_mut().add_member(room, open_id, limits)
    }
    fn remove_member(&mut self, room: &RoomKey, open_id: &str) -> Result<bool, StoreError> {
        self.0.borrow_mut().remove_member(room, open_id)
    }
    fn use_signature(
        &mut self,
        used: SignatureUse<'_>,
        now_unix: u64,
        max_per_app: usize,
    ) -> Result<ReplayCheck, StoreError> {
        self.0
            .borrow_mut()
            .use_signature(used, now_unix, max_per_app)
    }
    fn room_count(&self) -> usize {
        self.0.borrow().room_count()
    }
}

struct Node {
    rooms: Rooms<Shared>,
    inbox: HashMap<ConnId, Vec<Value>>,
    now: Instant,
}

impl Node {
    fn new(store: &Shared) -> Node {
        Node {
            rooms: Rooms::new(
                Config {
                    rng_seed: Some(2),
                    ..Config::default()
                },
                store.clone(),
                Box::new(Urls),
            ),
            inbox: HashMap::new(),
            now: Instant::now(),
        }
    }

    /// Opens `conn`, joins group `g` as `open_id` with a fresh nonce, and returns everything `conn` received.
    fn join(&mut self, conn: ConnId, open_id: &str, nonce: &str) -> Vec<Value> {
        self.rooms.handle_input(Input::Open { conn }, self.now);
        let join = signed_join(
            "g",
            open_id,
            "voice",
            nonce,
            &UNIX.to_string(),
            &key_of(open_id),
        );
        self.rooms.handle_input(
            Input::Text {
                conn,
                text: &join.to_string(),
                unix_secs: UNIX,
            },
            self.now,
        );
        self.drain();
        self.take(conn)
    }

    fn drain(&mut self) {
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
            }
        }
    }

    fn take(&mut self, conn: ConnId) -> Vec<Value> {
        self.inbox.remove(&conn).unwrap_or_default()
    }
}

/// A member that the shared store already has in the room (it joined through the other node) joins this node: the
/// store adds nothing, but here it is a newcomer, so this node's members are told and it gets its own membership.
#[test]
fn a_member_known_only_to_the_store_joins_like_a_newcomer() {
    let store = Shared::default();
    let (mut a, mut b) = (Node::new(&store), Node::new(&store));
    assert_eq!(b.join(1, "x", "n1")[0]["type"], "joined");
    assert_eq!(a.join(1, "y", "n2")[0]["type"], "joined");
    assert_eq!(store.members(&room()).unwrap(), ["x", "y"]);

    let got = b.join(2, "y", "n3");
    assert_eq!(got[0]["type"], "joined", "{got:?}");
    assert_eq!(ids(&got[0]), ["x", "y"]);
    let told = b.take(1);
    let changed: Vec<_> = told
        .iter()
        .filter(|m| m["type"] == "membersChanged")
        .collect();
    assert_eq!(changed.len(), 1, "x must hear of y: {told:?}");
    assert_eq!(changed[0]["members"][0]["openId"], "y");
    assert_eq!(b.rooms.members(APP, "g"), ["x", "y"]);
    // Still one entry in the shared store.
    assert_eq!(store.members(&room()).unwrap(), ["x", "y"]);
}

fn room() -> RoomKey {
    RoomKey {
        app: APP.into(),
        group: "g".into(),
    }
}
