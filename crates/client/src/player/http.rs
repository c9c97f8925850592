//! The HTTP/1.1 an HTTP-FLV player needs: one GET, the response head, and the body framing (close-delimited,
//! Content-Length or chunked).

/// Largest response head accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Largest chunk size accepted (a chunk is buffered by nobody, but a silly size means a broken peer).
const MAX_CHUNK: u64 = 1 << 32;

/// The GET request for `target` (path and query).
pub(crate) fn request(target: &str, host_header: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: mplive-player\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    )
}

/// Index just after the blank line ending the head in `buf`, once complete.
pub(crate) fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// What the response head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) status: u16,
    /// The status line, for messages.
    pub(crate) status_line: String,
    pub(crate) framing: Framing,
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// When the server closes the connection.
    Close,
    /// After this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Parses a complete response head (up to and including the blank line).
pub(crate) fn parse_head(head: &[u8]) -> Result<Head, String> {
    let text =
        std::str::from_utf8(head).map_err(|_| "the response head is not text".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(format!("not an HTTP/1 response: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut framing = Framing::Close;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            // Chunked wins over a Content-Length (RFC 9112 6.3).
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && framing == Framing::Close {
            let n = value
                .parse::<u64>()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            framing = Framing::Length(n);
        }
    }
    Ok(Head {
        status,
        status_line,
        framing,
    })
}

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
pub(crate) struct Dechunker {
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
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, handing each run of body bytes to `body`. Stops at the last chunk.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        mut body: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
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
                        return Err(format!("chunk size over {MAX_CHUNK} bytes"));
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
                    return Err(format!(
                        "bad chunked encoding: byte 0x{b:02x} while reading {state:?}"
                    ))
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
    fn heads_give_status_and_framing() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\n").unwrap();
        assert_eq!((h.status, h.framing), (200, Framing::Close));
        let h = parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\n").unwrap();
        assert_eq!((h.status, h.framing), (404, Framing::Length(9)));
        assert_eq!(h.status_line, "HTTP/1.1 404 Not Found");
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert!(parse_head(b"SSH-2.0-x\r\n\r\n").is_err());
    }

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
