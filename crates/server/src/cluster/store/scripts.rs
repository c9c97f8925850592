//! The Lua scripts behind the node registry and the stream claims. Each runs atomically inside Redis, so a
//! read-decide-write (is the claim ours? is its holder alive?) cannot interleave with another node's.
//!
//! A claim is a hash `{node, session, claimed_at_ms, media_at_ms}`. Scripts that report a claim return it as the
//! array `{verdict, node, session, claimed_at_ms, media_at_ms}`, missing fields as `''` (a Lua `nil` in an array
//! would cut it short); `Store` parses those strings and calls a malformed claim corrupt.

/// Registers a node: its record with a TTL, and its expiry in the listing set.
///
/// KEYS[1] the node key, KEYS[2] the set of nodes. ARGV[1] the record (JSON), ARGV[2] the TTL in ms, ARGV[3] the
/// node id. The expiry is taken from Redis's own clock (`TIME`), the same clock [`NODES`] prunes with, so clock
/// skew between nodes cannot keep a dead node listed or drop a live one.
pub(super) const REGISTER_NODE: &str = r#"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[2]), ARGV[3])
return 1
"#;

/// Lists live nodes: prunes expired members from the set, then returns `{id1, record1, id2, record2, ...}` for
/// members whose record key still exists (a member whose key vanished early, e.g. deleted by hand, is pruned too).
///
/// KEYS[1] the set of nodes. ARGV[1] the node key prefix (`mplive:node:`): record keys are derived from members,
/// which only a standalone Redis allows (this store does not support Redis Cluster).
pub(super) const NODES: &str = r#"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local record = redis.call('GET', ARGV[1] .. id)
  if record then
    table.insert(out, id)
    table.insert(out, record)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"#;

/// Counts the live nodes: members of the set whose expiry (Redis's clock) is still ahead. KEYS[1] the set.
pub(super) const COUNT_NODES: &str = r#"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms, '+inf')
"#;

/// Claims a stream (see `Store::claim` for the rules).
///
/// KEYS[1] the stream key. ARGV[1] node, ARGV[2] session, ARGV[3] claimed_at_ms (the caller's now), ARGV[4]
/// media_at_ms, ARGV[5] TTL in ms, ARGV[6] idle takeover in ms, ARGV[7] the node key prefix (`mplive:node:`):
/// the holder's node key is known only once the claim is read, so it cannot be passed in KEYS.
///
/// Returns `{'claimed'}`, or `{'took_over' | 'busy', node, session, claimed_at_ms, media_at_ms}` with the claim
/// found. A hash without a `node` field (never written by us) counts as no claim, so it heals instead of blocking
/// the stream until its TTL.
pub(super) const CLAIM: &str = r#"
local cur = redis.call('HMGET', KEYS[1], 'node', 'session', 'claimed_at_ms', 'media_at_ms')
local function take()
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'node', ARGV[1], 'session', ARGV[2], 'claimed_at_ms', ARGV[3], 'media_at_ms', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
if not cur[1] or cur[1] == ARGV[1] then
  take()
  return {'claimed'}
end
local found = {cur[1], cur[2] or '', cur[3] or '', cur[4] or ''}
local holder_alive = redis.call('EXISTS', ARGV[7] .. cur[1]) == 1
local media_at = tonumber(cur[4])
local idle = media_at ~= nil and tonumber(ARGV[3]) - media_at >= tonumber(ARGV[6])
if not holder_alive or idle then
  take()
  return {'took_over', found[1], found[2], found[3], found[4]}
end
return {'busy', found[1], found[2], found[3], found[4]}
"#;

/// Refreshes a claim (see `Store::refresh`).
///
/// KEYS[1] the stream key. ARGV[1] node, ARGV[2] session, ARGV[3] the media time to record (the caller's
/// media_at_ms, else its now), ARGV[4] `'1'` if ARGV[3] is a media time to store on a held claim, ARGV[5] TTL in
/// ms.
///
/// Returns `{'held'}`, `{'restored'}` or `{'lost', node, session, claimed_at_ms, media_at_ms}`.
pub(super) const REFRESH: &str = r#"
local cur = redis.call('HMGET', KEYS[1], 'node', 'session', 'claimed_at_ms', 'media_at_ms')
if not cur[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'node', ARGV[1], 'session', ARGV[2], 'claimed_at_ms', ARGV[3], 'media_at_ms', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'restored'}
end
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then
  if ARGV[4] == '1' then
    redis.call('HSET', KEYS[1], 'media_at_ms', ARGV[3])
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'held'}
end
return {'lost', cur[1], cur[2] or '', cur[3] or '', cur[4] or ''}
"#;

/// Deletes a claim only if it is ours (compare-and-delete).
///
/// KEYS[1] the stream key. ARGV[1] node, ARGV[2] session. Returns 1 if the claim was ours and is gone, else 0.
pub(super) const RELEASE: &str = r#"
local cur = redis.call('HMGET', KEYS[1], 'node', 'session')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;
