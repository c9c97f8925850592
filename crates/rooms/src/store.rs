//! Where room membership, the daily quota and the nonce cache live.
//!
//! The core ([`crate::Rooms`]) owns the rules and the per-connection state; a [`RoomStore`] owns the data that
//! several nodes would have to share. Every method is one atomic step (check and change together), the shape a
//! Redis implementation needs: each maps to one script, so a remote store can back it. [`MemoryStore`] is the
//! in-process implementation.

use std::collections::{BTreeSet, HashMap};

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
#[derive(Debug, Clone, Copy)]
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

/// Nonce bookkeeping outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// First use: remembered until its expiry.
    Fresh,
    /// Used before, inside the window.
    Reused,
    /// The app already has the most nonces the store keeps in the window.
    CacheFull,
}

/// The shared data of the rooms. See the module docs for the atomicity each method promises.
pub trait RoomStore {
    /// Members of a room in join order; empty when the room does not exist.
    fn members(&self, room: &RoomKey) -> Result<Vec<String>, StoreError>;

    /// Adds `open_id` at the end of the room, opening the room if it has no members (counting it against the
    /// app's quota for `limits.day`). Refuses when the room is full, the quota is used, or the openId is in another
    /// room of the app. Adding a member already in this room changes nothing and says so.
    fn add_member(
        &mut self,
        room: &RoomKey,
        open_id: &str,
        limits: AddLimits,
    ) -> Result<Added, AddRefused>;

    /// Removes `open_id` from the room; returns whether it was there. The room ends with its last member.
    fn remove_member(&mut self, room: &RoomKey, open_id: &str) -> Result<bool, StoreError>;

    /// Records `nonce` for `app` until `expires_unix`, unless already recorded; expired nonces are forgotten
    /// (relative to `now_unix`). At most `max_per_app` are kept per app.
    fn use_nonce(
        &mut self,
        app: &str,
        nonce: &str,
        now_unix: u64,
        expires_unix: u64,
        max_per_app: usize,
    ) -> Result<NonceCheck, StoreError>;

    /// Number of rooms with members (for metrics and tests).
    fn room_count(&self) -> usize;
}

/// Rooms, quotas and nonces in this process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: HashMap<RoomKey, Vec<String>>,
    /// (app, openId) -> group: makes "one room per openId per app" a lookup.
    member_of: HashMap<(String, String), String>,
    /// app -> (UTC day, rooms opened that day).
    opened: HashMap<String, (u64, u64)>,
    nonces: HashMap<String, NonceCache>,
}

#[derive(Debug, Default)]
struct NonceCache {
    expiry_of: HashMap<String, u64>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl NonceCache {
    fn purge(&mut self, now_unix: u64) {
        while let Some((expiry, _)) = self.by_expiry.first() {
            if *expiry > now_unix {
                break;
            }
            // `first()` just returned an entry, so `pop_first()` returns it.
            let (_, nonce) = self.by_expiry.pop_first().expect("non-empty");
            self.expiry_of.remove(&nonce);
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

    /// Nonces remembered for `app`.
    pub fn nonce_count(&self, app: &str) -> usize {
        self.nonces.get(app).map_or(0, |c| c.expiry_of.len())
    }
}

impl RoomStore for MemoryStore {
    fn members(&self, room: &RoomKey) -> Result<Vec<String>, StoreError> {
        Ok(self.rooms.get(room).cloned().unwrap_or_default())
    }

    fn add_member(
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

    fn remove_member(&mut self, room: &RoomKey, open_id: &str) -> Result<bool, StoreError> {
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

    fn use_nonce(
        &mut self,
        app: &str,
        nonce: &str,
        now_unix: u64,
        expires_unix: u64,
        max_per_app: usize,
    ) -> Result<NonceCheck, StoreError> {
        let cache = self.nonces.entry(app.to_string()).or_default();
        cache.purge(now_unix);
        if cache.expiry_of.contains_key(nonce) {
            return Ok(NonceCheck::Reused);
        }
        if cache.expiry_of.len() >= max_per_app {
            return Ok(NonceCheck::CacheFull);
        }
        cache.expiry_of.insert(nonce.to_string(), expires_unix);
        cache.by_expiry.insert((expires_unix, nonce.to_string()));
        Ok(NonceCheck::Fresh)
    }

    fn room_count(&self) -> usize {
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
            s.add_member(&key("i"), "d", LIMITS),
            Err(AddRefused::Quota { quota: 2 })
        );
        // A new UTC day resets the count.
        let tomorrow = AddLimits { day: 2, ..LIMITS };
        assert!(s.add_member(&key("i"), "d", tomorrow).unwrap().opened);
        assert!(s.remove_member(&key("h"), "c").unwrap());
        assert!(!s.remove_member(&key("h"), "c").unwrap());
        assert_eq!(s.members(&key("h")).unwrap(), Vec::<String>::new());
        assert_eq!(s.room_count(), 2);
    }

    #[test]
    fn nonces_expire_and_are_bounded() {
        let mut s = MemoryStore::new();
        assert_eq!(s.use_nonce("a", "n1", 100, 400, 2), Ok(NonceCheck::Fresh));
        assert_eq!(s.use_nonce("a", "n1", 100, 400, 2), Ok(NonceCheck::Reused));
        assert_eq!(s.use_nonce("b", "n1", 100, 400, 2), Ok(NonceCheck::Fresh));
        assert_eq!(s.use_nonce("a", "n2", 100, 500, 2), Ok(NonceCheck::Fresh));
        assert_eq!(
            s.use_nonce("a", "n3", 100, 500, 2),
            Ok(NonceCheck::CacheFull)
        );
        // n1 expires at 400: then it may be used again, and there is room for n3.
        assert_eq!(s.use_nonce("a", "n3", 400, 700, 2), Ok(NonceCheck::Fresh));
        assert_eq!(
            s.use_nonce("a", "n1", 401, 700, 2),
            Ok(NonceCheck::CacheFull)
        );
        assert_eq!(s.nonce_count("a"), 2);
    }
}
