//! Output batching: a player's pending shared buffers, written with as few vectored system calls as possible.
//!
//! Both write policies use it. The default (`live`) policy lets frames collect for the merge window and then writes
//! them together, which is where most of the CPU per delivered byte is saved; the `rtc` policy flushes after every
//! wake-up. The buffers are the hub's shared encodings: nothing is copied per player.

use std::io::IoSlice;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How a player's frames reach its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// Collect frames for the given window, then write them in one go (`live` mode players).
    Merged(Duration),
    /// Write as soon as frames are there (`?mode=rtc` players).
    Immediate,
}

impl WritePolicy {
    /// Picks the policy from a play URL query: `mode=rtc` asks for the low-latency policy.
    pub fn from_query(query: Option<&str>, merge_window: Duration) -> Self {
        if is_rtc(query) || merge_window.is_zero() {
            WritePolicy::Immediate
        } else {
            WritePolicy::Merged(merge_window)
        }
    }
}

/// Whether a play query asks for the low-latency (`RTC`) mode.
pub fn is_rtc(query: Option<&str>) -> bool {
    query
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("mode=rtc"))
}

/// Most buffers passed to one `writev`; Linux accepts 1024, and more rarely helps.
const MAX_IOV: usize = 64;

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

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// Writes everything, in vectored calls. Returns the number of bytes written.
    pub(crate) async fn flush<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
    ) -> std::io::Result<usize> {
        let total = self.len;
        let mut first = 0;
        while first < self.bufs.len() {
            let end = (first + MAX_IOV).min(self.bufs.len());
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            for (slot, buf) in slices.iter_mut().zip(&self.bufs[first..end]) {
                *slot = IoSlice::new(buf);
            }
            let mut n = w.write_vectored(&slices[..end - first]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while n > 0 {
                let head = &mut self.bufs[first];
                if n >= head.len() {
                    n -= head.len();
                    first += 1;
                } else {
                    head.advance(n);
                    n = 0;
                }
            }
        }
        self.bufs.clear();
        self.len = 0;
        w.flush().await?;
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtc_query() {
        assert!(is_rtc(Some("mode=rtc")));
        assert!(is_rtc(Some("txSecret=a&mode=RTC")));
        assert!(!is_rtc(Some("mode=live")));
        assert!(!is_rtc(None));
    }

    #[tokio::test]
    async fn flush_writes_all_in_order() {
        let mut batch = Batch::default();
        for i in 0..200u8 {
            batch.push(Bytes::from(vec![i; (i as usize % 7) + 1]));
        }
        let expected: Vec<u8> = (0..200u8)
            .flat_map(|i| vec![i; (i as usize % 7) + 1])
            .collect();
        let mut out = Vec::new();
        let n = batch.flush(&mut out).await.unwrap();
        assert_eq!(n, expected.len());
        assert_eq!(out, expected);
        assert!(batch.is_empty());
    }
}
