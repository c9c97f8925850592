//! Send times of published frames, keyed by their content.
//!
//! Latency is matched by content rather than timestamp because a server may rewrite timestamps (it does for
//! players that join late or across a publisher reconnect) but never the payload bytes. The key is a 64-bit
//! hash of the payload alone. The fixture repeats when it loops, so the table keeps only the last `window` of
//! send times: a payload seen again one fixture length later (longer than the window) is a new entry.
//!
//! WHEP players receive neither the FLV payload nor AAC: the server sends the video as an Annex B access unit
//! with parameter sets added before keyframes and delimiters dropped, and the audio as Opus. So for them a video
//! frame is keyed by its coded slices only ([`slices_key`]: the same bytes on both sides), and audio is not
//! matched.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

/// 64-bit content key of a payload. A word-at-a-time multiply-rotate hash with a final avalanche: several GB/s,
/// so hashing every received frame costs a player almost nothing, and good enough to tell apart the frames of a
/// video stream (not meant to resist crafted input).
pub fn content_key(payload: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = (payload.len() as u64).wrapping_mul(K);
    let mut words = payload.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    // murmur3 fmix64: spreads every input bit over the whole key, so the key can index a map directly.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// 64-bit content key of a picture's coded slices (VCL NAL units, in order, without their length prefixes or
/// start codes), `None` when there are none: what a WHEP player can match against the publisher's FLV payload.
/// Each slice is hashed where it lies and the hashes are combined, so nothing is copied.
pub(super) fn slices_key<'a>(slices: impl Iterator<Item = &'a [u8]>) -> Option<u64> {
    slices.fold(None, |key, slice| {
        let h = content_key(slice);
        Some(key.map_or(h, |k: u64| {
            (k.rotate_left(17) ^ h).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        }))
    })
}

/// Keys are already hashes: use them as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<u64, u64, BuildHasherDefault<KeyHasher>>,
    /// (send ns, key) in insertion order, to forget entries older than the window.
    order: VecDeque<(u64, u64)>,
}

/// content key -> send time (CLOCK_MONOTONIC ns) of the frames published in the last `window_ns`.
pub(super) struct SendTable {
    window_ns: u64,
    inner: RwLock<Inner>,
}

impl SendTable {
    pub(super) fn new(window_ns: u64) -> Self {
        Self {
            window_ns,
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Records a frame sent at `send_ns` and forgets those older than the window. A key already present (a payload
    /// repeated within the window) takes the newer time.
    pub(super) fn insert(&self, key: u64, send_ns: u64) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.by_key.insert(key, send_ns);
        inner.order.push_back((send_ns, key));
        while let Some(&(ns, old)) = inner.order.front() {
            if ns.saturating_add(self.window_ns) >= send_ns {
                break;
            }
            inner.order.pop_front();
            if inner.by_key.get(&old) == Some(&ns) {
                inner.by_key.remove(&old);
            }
        }
    }

    /// The send time of the frame with this content, if it was sent within the window.
    pub(super) fn lookup(&self, key: u64) -> Option<u64> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_key
            .get(&key)
            .copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_key
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_for_close_payloads() {
        let a = content_key(b"\x27\x01\x00\x00\x00abcdefgh");
        let b = content_key(b"\x27\x01\x00\x00\x00abcdefgi");
        let c = content_key(b"\x27\x01\x00\x00\x00abcdefgh\x00");
        assert!(a != b && a != c && b != c);
        assert_eq!(a, content_key(b"\x27\x01\x00\x00\x00abcdefgh"));
        assert_ne!(content_key(b""), content_key(b"\x00"));
    }

    #[test]
    fn slice_keys_agree_between_flv_and_annexb() {
        use client::whep::annexb::{avcc_slices, slices};
        // SEI + two slices, length-prefixed; the same slices in Annex B behind SPS, PPS and 4-byte start codes.
        let avcc = [
            0, 0, 0, 2, 0x06, 0x05, 0, 0, 0, 3, 0x65, 0x88, 0x01, 0, 0, 0, 2, 0x65, 0x9b,
        ];
        let annexb = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x01, 0, 0, 0,
            1, 0x65, 0x9b,
        ];
        let a = slices_key(avcc_slices(&avcc, 4));
        assert!(a.is_some());
        assert_eq!(a, slices_key(slices(&annexb)));
        // Order matters, and a missing slice changes the key.
        let swapped = [0, 0, 0, 1, 0x65, 0x9b, 0, 0, 0, 1, 0x65, 0x88, 0x01];
        assert_ne!(a, slices_key(slices(&swapped)));
        assert_ne!(a, slices_key(slices(&annexb[..19])));
        assert_eq!(slices_key(slices(&[0, 0, 0, 1, 0x67, 0x42])), None);
    }

    #[test]
    fn window_forgets_old_entries() {
        let t = SendTable::new(10_000);
        t.insert(1, 1_000);
        t.insert(2, 5_000);
        assert_eq!(t.lookup(1), Some(1_000));
        t.insert(3, 12_000);
        assert_eq!(
            (t.lookup(1), t.lookup(2), t.lookup(3)),
            (None, Some(5_000), Some(12_000))
        );
        // A repeat of key 2 after a loop replaces the old time; the old order entry must not delete it.
        t.insert(2, 16_000);
        t.insert(4, 26_000);
        assert_eq!(
            (t.lookup(2), t.lookup(3), t.lookup(4)),
            (Some(16_000), None, Some(26_000))
        );
        assert_eq!(t.len(), 2);
    }
}
