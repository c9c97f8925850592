//! Where room membership, the daily quota and the replay memory (used signatures and nonces) live.
//!
//! The core ([`crate::Rooms`]) owns the rules and the per-connection state; the store owns the data that several
//! nodes would have to share. The core never calls the store: store work leaves it as outputs
//! ([`Output::Admit`], [`Output::RemoveMember`], [`Output::EndRoom`]) and the answer to an admit comes back as
//! [`Input::Admitted`], so the store may be remote and asynchronous (Redis in cluster mode). Each request is one
//! atomic step (check and change together; an [`Admit`] is the replay check then the membership add), the shape a
//! Redis implementation needs: each maps to one script. The caller must apply the requests in the order the core
//! emitted them.
//!
//! [`MemoryStore`] is the in-process store; [`MemoryStore::apply`] answers the core's outputs with it (tests and
//! the single-node server).

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::core::{Input, Output};

/// A room: one group of one app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey {
    /// The app (its name).
    pub app: String,
    /// The group id.
    pub group: String,
}

/// Why the store did not add a member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddRefused {
    /// The room already has `max` members.
    #[error("room is full ({max} members)")]
    Full {
        /// The bound.
        max: usize,
    },
    /// Opening the room would exceed the app's rooms for the day.
    #[error("daily room quota of {quota} used up")]
    Quota {
        /// The bound.
        quota: u64,
    },
    /// The openId is a member of another room of the app.
    #[error("already a member of group {group}")]
    InOtherRoom {
        /// That room's group.
        group: String,
    },
    /// The store itself failed.
    #[error("room store: {0}")]
    Backend(String),
}

/// A store failure (a remote store's connection, a corrupt record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("room store: {0}")]
pub struct StoreError(pub String);

/// The bounds an `add_member` must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddLimits {
    /// Members per room.
    pub max_members: usize,
    /// Rooms the app may open in the UTC day `day`.
    pub daily_room_quota: u64,
    /// The UTC day (Unix seconds / 86400).
    pub day: u64,
}

/// The outcome of a successful `add_member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// The join opened the room (it counted against the quota).
    pub opened: bool,
    /// The openId was already a member of this room (a takeover: nothing was added).
    pub already_member: bool,
}

/// A signed join to remember: what [`MemoryStore::use_signature`] checks and records.
#[derive(Debug, Clone, Copy)]
pub struct SignatureUse<'a> {
    /// The app (its name); the per-app bound counts here.
    pub app: &'a str,
    /// The join's `nonceStr`.
    pub nonce: &'a str,
    /// The verified HMAC-SHA256 of the join (the signature's bytes).
    pub mac: &'a [u8; 32],
    /// Until when (Unix seconds) the entry is kept; at or after it, it is forgotten.
    pub expires_unix: u64,
}

/// A join the core asks the store to admit ([`Output::Admit`]): replay check first, then the membership add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admit {
    /// The room to join.
    pub room: RoomKey,
    /// The joining user.
    pub open_id: String,
    /// The join's `nonceStr` (remembered per app).
    pub nonce: String,
    /// The verified HMAC-SHA256 of the join (remembered across apps).
    pub mac: [u8; 32],
    /// Until when (Unix seconds) the signature and nonce are remembered.
    pub expires_unix: u64,
    /// The wall clock of the join (Unix seconds); entries expiring at or before it are forgotten first.
    pub now_unix: u64,
    /// Config::max_nonces_per_app.
    pub max_per_app: usize,
    /// The bounds of the membership add.
    pub limits: AddLimits,
}

/// Why the store did not admit a join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitRefused {
    /// The replay memory refused it (never `ReplayCheck::Fresh`).
    #[error("replay: {0:?}")]
    Replay(ReplayCheck),
    /// The membership add refused it (AddRefused::Backend = the store failed).
    #[error(transparent)]
    Add(AddRefused),
}

/// Replay bookkeeping outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayCheck {
    /// First use of both the signature and the nonce: remembered until the expiry.
    Fresh,
    /// The same MAC was accepted before, inside the window (by any app): a replay, maybe re-split into other
    /// field values.
    SignatureReused,
    /// The app used this nonce before, inside the window (with another signature).
    NonceReused,
    /// The app already has the most entries the store keeps in the window.
    CacheFull,
}

/// Rooms, quotas and the replay memory in this process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: HashMap<RoomKey, Vec<String>>,
    /// (app, openId) -> group: makes "one room per openId per app" a lookup.
    member_of: HashMap<(String, String), String>,
    /// app -> (UTC day, rooms opened that day).
    opened: HashMap<String, (u64, u64)>,
    replay: ReplayMemory,
}

/// Used signatures and nonces, each entry kept until its expiry.
#[derive(Debug, Default)]
struct ReplayMemory {
    /// Every entry, soonest expiry first: one ordered set purges all apps at once.
    by_expiry: BTreeSet<(u64, [u8; 32], String, String)>,
    /// MACs in the window, whatever the app.
    macs: HashSet<[u8; 32]>,
    /// (app, nonce) in the window.
    nonces: HashSet<(String, String)>,
    /// Entries per app.
    per_app: HashMap<String, usize>,
}

impl ReplayMemory {
    fn purge(&mut self, now_unix: u64) {
        while let Some((expiry, ..)) = self.by_expiry.first() {
            if *expiry > now_unix {
                break;
            }
            // `first()` just returned an entry, so `pop_first()` returns it.
            let (_, mac, app, nonce) = self.by_expiry.pop_first().expect("non-empty");
            self.macs.remove(&mac);
            if let Some(count) = self.per_app.get_mut(&app) {
                *count -= 1;
                if *count == 0 {
                    self.per_app.remove(&app);
                }
            }
            self.nonces.remove(&(app, nonce));
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The group `open_id` of `app` is a member of.
    pub fn room_of(&self, app: &str, open_id: &str) -> Option<&str> {
        self.member_of
            .get(&(app.to_string(), open_id.to_string()))
            .map(String::as_str)
    }

    /// Every room and its members (tests check invariants with it).
    pub fn rooms(&self) -> impl Iterator<Item = (&RoomKey, &[String])> {
        self.rooms.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// Signed joins remembered for `app` (its entries in the replay memory).
    pub fn used_count(&self, app: &str) -> usize {
        self.replay.per_app.get(app).copied().unwrap_or(0)
    }

    /// Answers one output of the core: for [`Output::Admit`] the answer to feed back ([`Input::Admitted`]); a
    /// [`Output::RemoveMember`] or [`Output::EndRoom`] is carried out and answers nothing; any other output is not
    /// store work and is ignored (`None`). Call it on every output, in the order [`crate::Rooms::poll_output`]
    /// gives them, and feed an answer back before polling on: that is the order a shared store must see.
    pub fn apply(&mut self, output: &Output) -> Option<Input<'static>> {
        match output {
            Output::Admit { conn, admit } => Some(Input::Admitted {
                conn: *conn,
                result: self.admit(admit),
            }),
            Output::RemoveMember { room, open_id } => {
                // The in-process store cannot fail; the result only says whether it was there.
                let _ = self.remove_member(room, open_id);
                None
            }
            Output::EndRoom { room } => {
                self.end_room(room);
                None
            }
            _ => None,
        }
    }

    /// Admits a join: [`use_signature`](Self::use_signature), then, when the signature and nonce are fresh,
    /// [`add_member`](Self::add_member). A refused add leaves the signature remembered (it was spent by a
    /// verified join, as a refused join's always was).
    pub fn admit(&mut self, admit: &Admit) -> Result<Added, AdmitRefused> {
        let used = SignatureUse {
            app: &admit.room.app,
            nonce: &admit.nonce,
            mac: &admit.mac,
            expires_unix: admit.expires_unix,
        };
        match self.use_signature(used, admit.now_unix, admit.max_per_app) {
            Ok(ReplayCheck::Fresh) => {}
            Ok(refused) => return Err(AdmitRefused::Replay(refused)),
            // Spelled as before the admit existed ("room store: ..."), so the client's message is unchanged.
            Err(e) => return Err(AdmitRefused::Add(AddRefused::Backend(e.to_string()))),
        }
        self.add_member(&admit.room, &admit.open_id, admit.limits)
            .map_err(AdmitRefused::Add)
    }

    /// The room ended on the core: drops the room and every membership that still points at it (whatever the
    /// store holds for it is stale by then).
    pub fn end_room(&mut self, room: &RoomKey) {
        self.rooms.remove(room);
        self.member_of
            .retain(|(app, _), group| !(*app == room.app && *group == room.group));
    }

    /// Members of a room in join order; empty when the room does not exist.
    pub fn members(&self, room: &RoomKey) -> Result<Vec<String>, StoreError> {
        Ok(self.rooms.get(room).cloned().unwrap_or_default())
    }

    /// Adds `open_id` at the end of the room, opening the room if it has no members (counting it against the
    /// app's quota for `limits.day`). Refuses when the room is full, the quota is used, or the openId is in another
    /// room of the app. Adding a member already in this room changes nothing and says so.
    pub fn add_member(
        &mut self,
        room: &RoomKey,
        open_id: &str,
        limits: AddLimits,
    ) -> Result<Added, AddRefused> {
        let member_key = (room.app.clone(), open_id.to_string());
        if let Some(group) = self.member_of.get(&member_key) {
            if *group == room.group {
                return Ok(Added {
                    opened: false,
                    already_member: true,
                });
            }
            return Err(AddRefused::InOtherRoom {
                group: group.clone(),
            });
        }
        let opened = match self.rooms.get(room) {
            Some(members) if members.len() >= limits.max_members => {
                return Err(AddRefused::Full {
                    max: limits.max_members,
                })
            }
            Some(_) => false,
            None => {
                let (day, count) = self
                    .opened
                    .entry(room.app.clone())
                    .or_insert((limits.day, 0));
                if *day != limits.day {
                    *day = limits.day;
                    *count = 0;
                }
                if *count >= limits.daily_room_quota {
                    return Err(AddRefused::Quota {
                        quota: limits.daily_room_quota,
                    });
                }
                *count += 1;
                true
            }
        };
        self.rooms
            .entry(room.clone())
            .or_default()
            .push(open_id.to_string());
        self.member_of.insert(member_key, room.group.clone());
        Ok(Added {
            opened,
            already_member: false,
        })
    }

    /// Removes `open_id` from the room; returns whether it was there. The room ends with its last member.
    pub fn remove_member(&mut self, room: &RoomKey, open_id: &str) -> Result<bool, StoreError> {
        let Some(members) = self.rooms.get_mut(room) else {
            return Ok(false);
        };
        let Some(at) = members.iter().position(|m| m == open_id) else {
            return Ok(false);
        };
        members.remove(at);
        if members.is_empty() {
            self.rooms.remove(room);
        }
        self.member_of
            .remove(&(room.app.clone(), open_id.to_string()));
        Ok(true)
    }

    /// Records an accepted join's MAC (across all apps) and its nonce (per app) until `used.expires_unix`,
    /// unless either is already recorded; then nothing is recorded and the answer says which. Entries whose
    /// expiry is at or before `now_unix` are forgotten first. At most `max_per_app` entries are kept per app.
    ///
    /// The MAC is kept across apps, not per app: a re-split can move characters into the `appId` too, and one
    /// openId may have the same session key in two apps (keys can be registered), so per-app memory would leave
    /// that split open. A MAC collision between honest joins is a 2^-256 event.
    pub fn use_signature(
        &mut self,
        used: SignatureUse<'_>,
        now_unix: u64,
        max_per_app: usize,
    ) -> Result<ReplayCheck, StoreError> {
        let memory = &mut self.replay;
        memory.purge(now_unix);
        if memory.macs.contains(used.mac) {
            return Ok(ReplayCheck::SignatureReused);
        }
        let nonce_key = (used.app.to_string(), used.nonce.to_string());
        if memory.nonces.contains(&nonce_key) {
            return Ok(ReplayCheck::NonceReused);
        }
        let count = memory.per_app.entry(used.app.to_string()).or_insert(0);
        if *count >= max_per_app {
            return Ok(ReplayCheck::CacheFull);
        }
        *count += 1;
        memory.macs.insert(*used.mac);
        memory.by_expiry.insert((
            used.expires_unix,
            *used.mac,
            nonce_key.0.clone(),
            nonce_key.1.clone(),
        ));
        memory.nonces.insert(nonce_key);
        Ok(ReplayCheck::Fresh)
    }

    /// Number of rooms with members (for metrics and tests).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(g: &str) -> RoomKey {
        RoomKey {
            app: "app".into(),
            group: g.into(),
        }
    }

    const LIMITS: AddLimits = AddLimits {
        max_members: 2,
        daily_room_quota: 2,
        day: 1,
    };

    #[test]
    fn full_quota_other_room_and_end() {
        let mut s = MemoryStore::new();
        assert!(s.add_member(&key("g"), "a", LIMITS).unwrap().opened);
        assert!(!s.add_member(&key("g"), "b", LIMITS).unwrap().opened);
        assert_eq!(
            s.add_member(&key("g"), "c", LIMITS),
            Err(AddRefused::Full { max: 2 })
        );
        assert!(s.add_member(&key("g"), "a", LIMITS).unwrap().already_member);
        assert!(matches!(
            s.add_member(&key("h"), "a", LIMITS),
            Err(AddRefused::InOtherRoom { .. })
        ));
        assert!(s.add_member(&key("h"), "c", LIMITS).unwrap().opened);
        assert_eq!(
            (s.room_of("app", "a"), s.room_of("app", "c")),
            (Some("g"), Some("h"))
        );
        assert_eq!(s.room_of("other-app", "a"), None);
        assert_eq!(
            s.add_member(&key("i"), "d", LIMITS),
            Err(AddRefused::Quota { quota: 2 })
        );
        // A new UTC day resets the count.
        let tomorrow = AddLimits { day: 2, ..LIMITS };
        assert!(s.add_member(&key("i"), "d", tomorrow).unwrap().opened);
        assert!(s.remove_member(&key("h"), "c").unwrap());
        assert!(!s.remove_member(&key("h"), "c").unwrap());
        assert_eq!(s.room_of("app", "c"), None);
        assert_eq!(s.members(&key("h")).unwrap(), Vec::<String>::new());
        assert_eq!(s.room_count(), 2);
    }

    fn used<'a>(app: &'a str, nonce: &'a str, mac: &'a [u8; 32], expires: u64) -> SignatureUse<'a> {
        SignatureUse {
            app,
            nonce,
            mac,
            expires_unix: expires,
        }
    }

    #[test]
    fn signatures_and_nonces_expire_and_are_bounded() {
        let mut s = MemoryStore::new();
        let (m1, m2, m3, m4) = ([1; 32], [2; 32], [3; 32], [4; 32]);
        let fresh = Ok(ReplayCheck::Fresh);
        assert_eq!(s.use_signature(used("a", "n1", &m1, 400), 100, 2), fresh);
        // The same MAC is a replay whatever the nonce or the app.
        for (app, nonce) in [("a", "n1"), ("a", "other"), ("b", "n9")] {
            assert_eq!(
                s.use_signature(used(app, nonce, &m1, 400), 100, 2),
                Ok(ReplayCheck::SignatureReused)
            );
        }
        // The same nonce with another MAC is refused in its app only.
        assert_eq!(
            s.use_signature(used("a", "n1", &m2, 400), 100, 2),
            Ok(ReplayCheck::NonceReused)
        );
        assert_eq!(s.use_signature(used("b", "n1", &m2, 400), 100, 2), fresh);
        assert_eq!(s.use_signature(used("a", "n2", &m3, 500), 100, 2), fresh);
        assert_eq!(
            s.use_signature(used("a", "n3", &m4, 500), 100, 2),
            Ok(ReplayCheck::CacheFull)
        );
        assert_eq!((s.used_count("a"), s.used_count("b")), (2, 1));
        // The first entries expire at 400: then their MAC and nonce may come again, and there is room for n3.
        assert_eq!(s.use_signature(used("a", "n3", &m4, 700), 400, 2), fresh);
        assert_eq!(s.used_count("b"), 0, "other apps' entries are purged too");
        assert_eq!(
            s.use_signature(used("a", "n1", &m1, 700), 401, 2),
            Ok(ReplayCheck::CacheFull)
        );
        assert_eq!(s.use_signature(used("b", "n1", &m1, 700), 401, 2), fresh);
        assert_eq!(s.used_count("a"), 2);
    }

    fn admit(group: &str, open_id: &str, nonce: &str, mac: u8) -> Admit {
        Admit {
            room: key(group),
            open_id: open_id.into(),
            nonce: nonce.into(),
            mac: [mac; 32],
            expires_unix: 400,
            now_unix: 100,
            max_per_app: 10,
            limits: LIMITS,
        }
    }

    #[test]
    fn admit_checks_the_replay_memory_then_adds() {
        let mut s = MemoryStore::new();
        assert!(s.admit(&admit("g", "a", "n1", 1)).unwrap().opened);
        assert_eq!(
            s.admit(&admit("g", "b", "n1", 2)),
            Err(AdmitRefused::Replay(ReplayCheck::NonceReused))
        );
        assert_eq!(
            s.admit(&admit("h", "b", "n2", 1)),
            Err(AdmitRefused::Replay(ReplayCheck::SignatureReused))
        );
        assert_eq!(
            s.admit(&admit("h", "a", "n3", 3)),
            Err(AdmitRefused::Add(AddRefused::InOtherRoom {
                group: "g".into()
            }))
        );
        // A refused add still spent the signature (it was verified).
        assert_eq!(s.used_count("app"), 2);
        assert_eq!(s.members(&key("g")).unwrap(), ["a"]);
    }

    #[test]
    fn end_room_drops_every_membership_of_the_room() {
        let mut s = MemoryStore::new();
        s.add_member(&key("g"), "a", LIMITS).unwrap();
        s.add_member(&key("g"), "b", LIMITS).unwrap();
        s.add_member(&key("h"), "c", LIMITS).unwrap();
        s.end_room(&key("g"));
        assert_eq!((s.room_of("app", "a"), s.room_of("app", "b")), (None, None));
        assert_eq!(s.room_of("app", "c"), Some("h"));
        assert_eq!(s.room_count(), 1);
        // A membership left behind without its room (a store out of step) is dropped too.
        s.member_of.insert(("app".into(), "d".into()), "g".into());
        s.end_room(&key("g"));
        assert_eq!(s.room_of("app", "d"), None);
    }

    #[test]
    fn apply_answers_admits_and_carries_out_removals() {
        let mut s = MemoryStore::new();
        let out = Output::Admit {
            conn: 7,
            admit: admit("g", "a", "n1", 1),
        };
        assert!(matches!(
            s.apply(&out),
            Some(Input::Admitted {
                conn: 7,
                result: Ok(Added { opened: true, .. })
            })
        ));
        s.add_member(&key("g"), "b", LIMITS).unwrap();
        let remove = Output::RemoveMember {
            room: key("g"),
            open_id: "a".into(),
        };
        assert_eq!(s.apply(&remove), None);
        assert_eq!(s.members(&key("g")).unwrap(), ["b"]);
        assert_eq!(s.apply(&Output::EndRoom { room: key("g") }), None);
        assert_eq!((s.room_count(), s.room_of("app", "b")), (0, None));
        let close = Output::Close {
            conn: 7,
            reason: crate::CloseReason::Replaced,
        };
        assert_eq!(s.apply(&close), None);
    }
}
