//! `Transfer-Encoding: chunked`, decoded as the bytes arrive without buffering a chunk.

use super::HttpFlvError;

/// Largest chunk size accepted (a chunk is buffered by nobody, but a silly size means a broken peer).
const MAX_CHUNK: u64 = 1 << 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex size (`digits` so far).
    Size {
        size: u64,
        digits: u32,
    },
    /// Skipping a chunk extension up to the line end.
    Extension {
        size: u64,
    },
    /// After the size line's CR.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// The last chunk was read (trailers are not read).
    Done,
}

/// Streaming `Transfer-Encoding: chunked` decoder.
#[derive(Debug)]
pub(super) struct Dechunker {
    state: ChunkState,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self {
            state: ChunkState::Size { size: 0, digits: 0 },
        }
    }
}

impl Dechunker {
    /// The zero-size last chunk has been read.
    pub(super) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, handing each run of body bytes to `body`. Stops at the last chunk.
    pub(super) fn feed(
        &mut self,
        mut input: &[u8],
        mut body: impl FnMut(&[u8]) -> Result<(), HttpFlvError>,
    ) -> Result<(), HttpFlvError> {
        use ChunkState::*;
        while let Some(&b) = input.first() {
            if let Data { left } = self.state {
                // `left` > 0 in this state; the cast is bounded by the input length.
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                body(&input[..n])?;
                input = &input[n..];
                let left = left - n as u64;
                self.state = if left == 0 { DataCr } else { Data { left } };
                continue;
            }
            input = &input[1..];
            self.state = match (self.state, b) {
                (Size { size, digits }, _) if b.is_ascii_hexdigit() => {
                    // Checked: a digit is below 16 and `size` stays under MAX_CHUNK.
                    let size = size * 16 + u64::from((b as char).to_digit(16).unwrap_or(0));
                    if size > MAX_CHUNK || digits >= 16 {
                        return Err(HttpFlvError::BadChunk(format!(
                            "chunk size over {MAX_CHUNK} bytes"
                        )));
                    }
                    Size {
                        size,
                        digits: digits + 1,
                    }
                }
                (Size { size, digits }, b';' | b' ' | b'\t') if digits > 0 => Extension { size },
                (Size { size, digits }, b'\r') if digits > 0 => SizeLf { size },
                (Extension { size }, b'\r') => SizeLf { size },
                (Extension { size }, _) => Extension { size },
                (SizeLf { size: 0 }, b'\n') => Done,
                (SizeLf { size }, b'\n') => Data { left: size },
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => Size { size: 0, digits: 0 },
                (Done, _) => return Ok(()),
                (state, b) => {
                    return Err(HttpFlvError::BadChunk(format!(
                        "bad chunked encoding: byte 0x{b:02x} while reading {state:?}"
                    )))
                }
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_decode_in_any_split() {
        let wire = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut d = Dechunker::default();
            let mut out = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                d.feed(part, |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(out, b"Wikipedia in \r\n\r\nchunks.", "split at {split}");
            assert!(d.is_done());
        }
    }

    #[test]
    fn broken_chunks_are_errors() {
        let mut d = Dechunker::default();
        assert!(d.feed(b"zz\r\n", |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"3\r\nabcX", |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"fffffffffffffffff\r\n", |_| Ok(())).is_err());
    }
}
