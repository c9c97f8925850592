//! Output batching: buffers waiting for one socket, written with as few vectored system calls as possible.
//!
//! The buffers are the hub's shared encodings (and the session's control messages): nothing is copied per player.
//! Writes are non-blocking; what the socket does not take stays queued, in order.

use std::io::IoSlice;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::net::tcp::OwnedWriteHalf;

/// How a player's frames reach its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// Collect frames for the given window, then write them in one go (`live` mode players).
    Merged(Duration),
    /// Write as soon as frames are there (`?mode=rtc` players).
    Immediate,
}

impl WritePolicy {
    /// The low-latency policy for `rtc` players, else frames merged over `merge_window`.
    pub fn new(rtc: bool, merge_window: Duration) -> Self {
        if rtc || merge_window.is_zero() {
            WritePolicy::Immediate
        } else {
            WritePolicy::Merged(merge_window)
        }
    }
}

/// Buffer slots an empty batch keeps allocated.
const KEEP_SLOTS: usize = 16;
/// Most buffers passed to one `writev`; Linux accepts 1024, and more rarely helps.
pub(crate) const MAX_IOV: usize = 64;

/// Buffers waiting to be written to one socket.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bufs: Vec<Bytes>,
    len: usize,
}

impl Batch {
    pub(crate) fn push(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.push(buf);
        }
    }

    /// Moves every buffer of `other` to the end of this batch.
    pub(crate) fn append(&mut self, other: Batch) {
        self.len += other.len;
        self.bufs.extend(other.bufs);
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// Writes as much as `write` accepts without blocking. Returns the bytes written and whether the batch is now
    /// empty; `WouldBlock` from `write` just ends the attempt.
    pub(crate) fn write_nonblocking(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> std::io::Result<usize>,
    ) -> std::io::Result<(usize, bool)> {
        let mut written = 0;
        while !self.bufs.is_empty() {
            let end = self.bufs.len().min(MAX_IOV);
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            for (slot, buf) in slices.iter_mut().zip(&self.bufs[..end]) {
                *slot = IoSlice::new(buf);
            }
            let mut n = match write(&slices[..end]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok((written, false))
                }
                Err(e) => return Err(e),
            };
            written += n;
            self.len -= n;
            let mut consumed = 0;
            for buf in &mut self.bufs {
                if n >= buf.len() {
                    n -= buf.len();
                    consumed += 1;
                } else {
                    buf.advance(n);
                    break;
                }
            }
            self.bufs.drain(..consumed);
        }
        // A start burst (the GOP cache) needs many slots once; a window needs a handful. Keep players small.
        self.bufs.shrink_to(KEEP_SLOTS);
        Ok((written, true))
    }

    /// Writes `bufs`, buffers shared with other players, to a socket with nothing queued: one non-blocking
    /// vectored write, and what the socket does not take is queued here (the rest of a partly written buffer as a
    /// view of it, no copy). Returns the bytes written and whether everything was.
    pub(crate) fn write_shared(
        &mut self,
        bufs: &[Bytes],
        write: impl FnOnce(&[IoSlice<'_>]) -> std::io::Result<usize>,
    ) -> std::io::Result<(usize, bool)> {
        debug_assert!(
            self.is_empty(),
            "shared buffers are written ahead of nothing"
        );
        let end = bufs.len().min(MAX_IOV);
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        for (slot, buf) in slices.iter_mut().zip(&bufs[..end]) {
            *slot = IoSlice::new(buf);
        }
        let written = match write(&slices[..end]) {
            Ok(0) if bufs.iter().any(|b| !b.is_empty()) => {
                return Err(std::io::ErrorKind::WriteZero.into())
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        let mut skip = written;
        for buf in bufs {
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            let mut rest = buf.clone();
            rest.advance(skip);
            skip = 0;
            self.push(rest);
        }
        Ok((written, self.is_empty()))
    }

    /// Writes everything, waiting for the socket when it is full.
    pub(crate) async fn write_to(&mut self, writer: &OwnedWriteHalf) -> std::io::Result<usize> {
        let mut total = 0;
        loop {
            let (n, done) = self.write_nonblocking(|s| writer.try_write_vectored(s))?;
            total += n;
            if done {
                return Ok(total);
            }
            writer.writable().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `cap` bytes per call and then refuses once (`WouldBlock`) every third call.
    fn partial_writer<'a>(
        out: &'a mut Vec<u8>,
        cap: usize,
        calls: &'a mut u32,
    ) -> impl FnMut(&[IoSlice<'_>]) -> std::io::Result<usize> + 'a {
        move |slices: &[IoSlice<'_>]| {
            *calls += 1;
            if (*calls).is_multiple_of(3) {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for s in slices {
                let take = s.len().min(cap - n);
                out.extend_from_slice(&s[..take]);
                n += take;
                if n == cap {
                    break;
                }
            }
            Ok(n)
        }
    }

    #[test]
    fn partial_and_refused_writes_keep_order_and_lose_nothing() {
        let mut batch = Batch::default();
        for i in 0..200u8 {
            batch.push(Bytes::from(vec![i; (i as usize % 7) + 1]));
        }
        let expected: Vec<u8> = (0..200u8)
            .flat_map(|i| vec![i; (i as usize % 7) + 1])
            .collect();
        let mut out = Vec::new();
        let mut calls = 0;
        let mut total = 0;
        loop {
            let (n, done) = batch
                .write_nonblocking(partial_writer(&mut out, 5, &mut calls))
                .unwrap();
            total += n;
            if done {
                break;
            }
        }
        assert_eq!(total, expected.len());
        assert_eq!(out, expected);
        assert!(batch.is_empty());
        assert_eq!(batch.len(), 0);
    }

    #[test]
    fn shared_buffers_partly_written_leave_the_rest_queued() {
        let bufs: Vec<Bytes> = (0..5u8).map(|i| Bytes::from(vec![i; 4])).collect();
        let expected: Vec<u8> = bufs.iter().flat_map(|b| b.to_vec()).collect();
        for cap in [0, 1, 4, 9, 20] {
            let mut batch = Batch::default();
            let mut out = Vec::new();
            let mut calls = 1; // the first call is not a refusal
            let result = if cap == 0 {
                batch.write_shared(&bufs, |_| Err(std::io::ErrorKind::WouldBlock.into()))
            } else {
                batch.write_shared(&bufs, partial_writer(&mut out, cap, &mut calls))
            };
            let (n, done) = result.unwrap();
            assert_eq!(n, cap, "cap {cap}");
            assert_eq!(done, cap == expected.len(), "cap {cap}");
            assert_eq!(batch.len(), expected.len() - cap, "cap {cap}");
            let mut calls = 1;
            loop {
                let (_, done) = batch
                    .write_nonblocking(partial_writer(&mut out, 3, &mut calls))
                    .unwrap();
                if done {
                    break;
                }
            }
            assert_eq!(out, expected, "cap {cap}: order kept, nothing lost");
            assert_eq!(bufs[0].len(), 4, "the shared buffers are untouched");
        }
    }
}
