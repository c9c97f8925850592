//! The rooms' shared state in Redis: which node hosts each room, its members, the daily quota and the replay memory
//! of signed joins. Each operation is one Lua script, so a check and its change cannot interleave with another
//! node's.
//!
//! | key | type | what |
//! |---|---|---|
//! | `mplive:room:{app}/{group}` | hash `{home}`, TTL only while empty | the node that hosts the room |
//! | `mplive:room:{app}/{group}:members` | sorted set | openIds scored by join order |
//! | `mplive:room-seq` | counter | the join order |
//! | `mplive:room-of:{app}` | hash | openId -> the group it is in (one room per openId per app) |
//! | `mplive:room-opened:{app}:{day}` | counter, 2 days | rooms the app opened that UTC day |
//! | `mplive:room-mac:{hex}` | string, expires with the window | an accepted join's MAC (all apps) |
//! | `mplive:room-nonce:{app}:{nonce}` | string, expires with the window | an accepted join's nonce |
//! | `mplive:room-used:{app}` | sorted set | the app's MACs in the window, scored by expiry (the per-app bound) |
//! | `mplive:room-homes:{node}` | set | `{app}/{group}` of the rooms a node hosts, purged when it starts again |
//!
//! A room lives on one node (its home): the node a room's first member reached claims it, and members reaching
//! other nodes are proxied there (`rooms_ws`). A room whose home node died is purged by the next node that claims
//! it or that meets one of its members joining elsewhere, so a dead node's members never block anyone.
//! App and group ids are letters, digits, `_`, `-` and `.` (the room core refuses others before any of this
//! runs), so `/` and `:` in the keys cannot be forged by an id.

use std::time::Duration;

use redis::Script;
use rooms::{AddRefused, Added, Admit, AdmitRefused, ReplayCheck, RoomKey};

use super::{ttl_ms, unexpected_reply, Store, StoreError, PREFIX};

/// How long the record of a room without members is kept: the join that claimed it is still being checked (the
/// session key lookup, the signature); a join that is refused leaves nothing behind for longer than this.
pub(crate) const EMPTY_ROOM_TTL: Duration = Duration::from_secs(60);

/// Lua helpers shared by the scripts. `P` is the key prefix (ARGV[1] of every script).
macro_rules! room_lua {
    () => {
        r#"
local P = ARGV[1]
local function room_key(app, group) return P .. 'room:' .. app .. '/' .. group end
-- A node is alive while its registry record exists (`mplive:node:{id}`, as `Store::register_node` writes it).
local function home_alive(app, group)
  local home = redis.call('HGET', room_key(app, group), 'home')
  return home and redis.call('EXISTS', P .. 'node:' .. home) == 1
end
-- Drops a room whose home is gone: its members' entries, the member set, the home record.
local function purge(app, group)
  local room = room_key(app, group)
  local of = P .. 'room-of:' .. app
  for _, m in ipairs(redis.call('ZRANGE', room .. ':members', 0, -1)) do
    if redis.call('HGET', of, m) == group then redis.call('HDEL', of, m) end
  end
  redis.call('DEL', room .. ':members')
  local home = redis.call('HGET', room, 'home')
  if home then redis.call('SREM', P .. 'room-homes:' .. home, app .. '/' .. group) end
  redis.call('DEL', room)
end
"#
    };
}

/// Claims a room's home (see [`Store::claim_room_home`]). ARGV: prefix, app, group, node, empty TTL in ms.
/// Returns `{'here'}` or `{'elsewhere', node}`.
const CLAIM_HOME: &str = concat!(
    room_lua!(),
    r#"
local app, group, me = ARGV[2], ARGV[3], ARGV[4]
local room = room_key(app, group)
local home = redis.call('HGET', room, 'home')
if home and home ~= me and redis.call('EXISTS', P .. 'node:' .. home) == 1 then
  return {'elsewhere', home}
end
if home and home ~= me then purge(app, group) end
redis.call('HSET', room, 'home', me)
if redis.call('EXISTS', room .. ':members') == 0 then redis.call('PEXPIRE', room, ARGV[5]) end
redis.call('SADD', P .. 'room-homes:' .. me, app .. '/' .. group)
return {'here'}
"#
);

/// The live home of a room, or `''`. ARGV: prefix, app, group.
const HOME: &str = concat!(
    room_lua!(),
    r#"
if home_alive(ARGV[2], ARGV[3]) then return redis.call('HGET', room_key(ARGV[2], ARGV[3]), 'home') end
return ''
"#
);

/// Admits a join: replay memory first, then the membership (see [`Store::admit_member`]).
///
/// ARGV: prefix, app, group, openId, nonce, MAC (hex), expiry (Unix s), now (Unix s), max entries per app, max
/// members, daily quota, UTC day. Returns `{'signature_reused'}`, `{'nonce_reused'}`, `{'cache_full'}`,
/// `{'in_other', group}`, `{'full'}`, `{'quota'}`, `{'already'}` or `{'added', '0' | '1'}` (1: it opened the room).
const ADMIT: &str = concat!(
    room_lua!(),
    r#"
local app, group, oid, nonce, mac = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local expires, now = tonumber(ARGV[7]), tonumber(ARGV[8])
local max_per_app, max_members, quota, day = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
local used = P .. 'room-used:' .. app
redis.call('ZREMRANGEBYSCORE', used, '-inf', now)
if redis.call('EXISTS', P .. 'room-mac:' .. mac) == 1 then return {'signature_reused'} end
local nonce_key = P .. 'room-nonce:' .. app .. ':' .. nonce
if redis.call('EXISTS', nonce_key) == 1 then return {'nonce_reused'} end
if redis.call('ZCARD', used) >= max_per_app then return {'cache_full'} end
redis.call('SET', P .. 'room-mac:' .. mac, '1', 'EXAT', expires)
redis.call('SET', nonce_key, '1', 'EXAT', expires)
redis.call('ZADD', used, expires, mac)
local last = redis.call('ZRANGE', used, -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', used, last[2])

local of = P .. 'room-of:' .. app
local current = redis.call('HGET', of, oid)
if current == group then return {'already'} end
if current then
  if home_alive(app, current) then return {'in_other', current} end
  purge(app, current)
end
local room = room_key(app, group)
local members = room .. ':members'
local count = redis.call('ZCARD', members)
if count >= max_members then return {'full'} end
local opened = '0'
if count == 0 then
  local opened_key = P .. 'room-opened:' .. app .. ':' .. day
  if tonumber(redis.call('GET', opened_key) or '0') >= quota then return {'quota'} end
  redis.call('INCR', opened_key)
  redis.call('EXPIRE', opened_key, 172800)
  opened = '1'
end
redis.call('ZADD', members, redis.call('INCR', P .. 'room-seq'), oid)
redis.call('HSET', of, oid, group)
redis.call('PERSIST', room)
return {'added', opened}
"#
);

/// Removes a member. ARGV: prefix, app, group, openId. Returns 1 if it was there. The room's records go with its
/// last member.
const REMOVE: &str = concat!(
    room_lua!(),
    r#"
local app, group, oid = ARGV[2], ARGV[3], ARGV[4]
local room = room_key(app, group)
local removed = redis.call('ZREM', room .. ':members', oid)
local of = P .. 'room-of:' .. app
if redis.call('HGET', of, oid) == group then redis.call('HDEL', of, oid) end
if redis.call('EXISTS', room .. ':members') == 0 then purge(app, group) end
return removed
"#
);

/// Ends a room: whatever membership is still recorded for it goes. ARGV: prefix, app, group.
const END_ROOM: &str = concat!(
    room_lua!(),
    r#"
purge(ARGV[2], ARGV[3])
return 1
"#
);

/// Purges every room a node hosted (it starts again: its rooms died with its previous run). ARGV: prefix, node.
/// Returns how many rooms went.
const PURGE_NODE: &str = concat!(
    room_lua!(),
    r#"
local homes = P .. 'room-homes:' .. ARGV[2]
local rooms = redis.call('SMEMBERS', homes)
for _, r in ipairs(rooms) do
  local slash = string.find(r, '/', 1, true)
  if slash then
    local app, group = string.sub(r, 1, slash - 1), string.sub(r, slash + 1)
    if redis.call('HGET', room_key(app, group), 'home') == ARGV[2] then purge(app, group) end
  end
end
redis.call('DEL', homes)
return #rooms
"#
);

/// Where a room lives, as [`Store::claim_room_home`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomHome {
    /// This node hosts it (it did, or it just claimed it).
    Here,
    /// The live node with this id hosts it.
    Elsewhere(String),
}

impl Store {
    /// Claims `room` for `node` unless a live node hosts it already. A room left by a dead node is purged first
    /// (its members went with it). While the room has no member its record expires after [`EMPTY_ROOM_TTL`].
    pub(crate) async fn claim_room_home(
        &self,
        room: &RoomKey,
        node: &str,
    ) -> Result<RoomHome, StoreError> {
        let key = room_key(room);
        let reply: Vec<String> = Script::new(CLAIM_HOME)
            .arg(PREFIX)
            .arg(&room.app)
            .arg(&room.group)
            .arg(node)
            .arg(ttl_ms(EMPTY_ROOM_TTL))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("claim the home of {key}"), e))?;
        match reply.as_slice() {
            [verdict] if verdict == "here" => Ok(RoomHome::Here),
            [verdict, home] if verdict == "elsewhere" => Ok(RoomHome::Elsewhere(home.clone())),
            _ => Err(unexpected_reply(&key, "claim room home", &reply)),
        }
    }

    /// The live node hosting `room`, if any (a dead home counts as none).
    pub(crate) async fn room_home(&self, room: &RoomKey) -> Result<Option<String>, StoreError> {
        let home: String = Script::new(HOME)
            .arg(PREFIX)
            .arg(&room.app)
            .arg(&room.group)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("read the home of {}", room_key(room)), e))?;
        Ok(Some(home).filter(|h| !h.is_empty()))
    }

    /// Admits a join the room core checked: the replay memory (MAC across apps, nonce per app, at most
    /// `max_per_app` entries per app in the window), then the membership (one room per openId per app, the room
    /// size, the app's daily quota when the join opens the room). The outer error is Redis failing.
    pub(crate) async fn admit_member(
        &self,
        admit: &Admit,
    ) -> Result<Result<Added, AdmitRefused>, StoreError> {
        let key = room_key(&admit.room);
        let mac: String = admit.mac.iter().map(|b| format!("{b:02x}")).collect();
        let reply: Vec<String> = Script::new(ADMIT)
            .arg(PREFIX)
            .arg(&admit.room.app)
            .arg(&admit.room.group)
            .arg(&admit.open_id)
            .arg(&admit.nonce)
            .arg(mac)
            .arg(admit.expires_unix)
            .arg(admit.now_unix)
            .arg(admit.max_per_app)
            .arg(admit.limits.max_members)
            .arg(admit.limits.daily_room_quota)
            .arg(admit.limits.day)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("admit a member to {key}"), e))?;
        let added = |opened: bool, already_member: bool| {
            Ok(Added {
                opened,
                already_member,
            })
        };
        let refused = |why: AddRefused| Err(AdmitRefused::Add(why));
        Ok(match reply.as_slice() {
            [v, opened] if v == "added" => added(opened == "1", false),
            [v] if v == "already" => added(false, true),
            [v] if v == "signature_reused" => {
                Err(AdmitRefused::Replay(ReplayCheck::SignatureReused))
            }
            [v] if v == "nonce_reused" => Err(AdmitRefused::Replay(ReplayCheck::NonceReused)),
            [v] if v == "cache_full" => Err(AdmitRefused::Replay(ReplayCheck::CacheFull)),
            [v, group] if v == "in_other" => refused(AddRefused::InOtherRoom {
                group: group.clone(),
            }),
            [v] if v == "full" => refused(AddRefused::Full {
                max: admit.limits.max_members,
            }),
            [v] if v == "quota" => refused(AddRefused::Quota {
                quota: admit.limits.daily_room_quota,
            }),
            _ => return Err(unexpected_reply(&key, "admit", &reply)),
        })
    }

    /// Removes `open_id` from `room`; true if it was a member. The room's records go with its last member.
    pub(crate) async fn remove_room_member(
        &self,
        room: &RoomKey,
        open_id: &str,
    ) -> Result<bool, StoreError> {
        let removed: i64 = Script::new(REMOVE)
            .arg(PREFIX)
            .arg(&room.app)
            .arg(&room.group)
            .arg(open_id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| {
                StoreError::Redis(format!("remove {open_id} from {}", room_key(room)), e)
            })?;
        Ok(removed == 1)
    }

    /// Drops whatever is still recorded for `room` (its core says it ended).
    pub(crate) async fn end_room(&self, room: &RoomKey) -> Result<(), StoreError> {
        let _: i64 = Script::new(END_ROOM)
            .arg(PREFIX)
            .arg(&room.app)
            .arg(&room.group)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("end {}", room_key(room)), e))?;
        Ok(())
    }

    /// Purges the rooms `node` hosted in an earlier run; returns how many there were.
    pub(crate) async fn purge_rooms_of(&self, node: &str) -> Result<u64, StoreError> {
        Script::new(PURGE_NODE)
            .arg(PREFIX)
            .arg(node)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| StoreError::Redis(format!("purge the rooms of node {node}"), e))
    }
}

/// `mplive:room:{app}/{group}`, for messages.
fn room_key(room: &RoomKey) -> String {
    format!("{PREFIX}room:{}/{}", room.app, room.group)
}
