//! The little HTTP/1.1 an HTTP-FLV player needs: a GET request, the response head, chunked transfer decoding.

/// Largest response head accepted.
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Largest chunk size accepted.
const MAX_CHUNK: u64 = 64 << 20;

pub(super) fn request(target: &str, host: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mplive-bench\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    )
}

/// The end of the response head in `buf` (index after the blank line), if complete.
pub(super) fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Status code and whether the body is chunked, from a complete response head.
pub(super) fn parse_head(head: &[u8]) -> Result<(u16, bool), String> {
    let text = std::str::from_utf8(head).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line:?}"));
    }
    let code = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    Ok((code, chunked))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: u8 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data { left: u64 },
    DataCr,
    DataLf,
    Done,
}

/// Streaming decoder of `Transfer-Encoding: chunked`.
#[derive(Debug)]
pub(super) struct Dechunker {
    state: State,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
            },
        }
    }
}

impl Dechunker {
    /// The last (zero-size) chunk has been read.
    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, passing each run of body bytes to `out`.
    pub(super) fn feed(
        &mut self,
        mut input: &[u8],
        mut out: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        while let Some((&b, rest)) = input.split_first() {
            match self.state {
                State::Data { left } => {
                    let n = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    out(&input[..n])?;
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    continue;
                }
                State::Size { value, digits } => {
                    self.state = match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
                            let value = value * 16 + digit;
                            if value > MAX_CHUNK {
                                return Err(format!("chunk size over {MAX_CHUNK}"));
                            }
                            State::Size {
                                value,
                                digits: digits.saturating_add(1),
                            }
                        }
                        b';' | b' ' | b'\t' if digits > 0 => State::Extension { value },
                        b'\r' if digits > 0 => State::SizeLf { value },
                        b'\n' if digits > 0 => Self::after_size(value),
                        _ => return Err(format!("bad byte {b:#04x} in a chunk size line")),
                    }
                }
                State::Extension { value } => {
                    self.state = match b {
                        b'\r' => State::SizeLf { value },
                        b'\n' => Self::after_size(value),
                        _ => State::Extension { value },
                    }
                }
                State::SizeLf { value } => {
                    if b != b'\n' {
                        return Err("CR without LF after a chunk size".into());
                    }
                    self.state = Self::after_size(value);
                }
                State::DataCr => {
                    self.state = match b {
                        b'\r' => State::DataLf,
                        b'\n' => State::Size {
                            value: 0,
                            digits: 0,
                        },
                        _ => return Err(format!("bad byte {b:#04x} after chunk data")),
                    }
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err("CR without LF after chunk data".into());
                    }
                    self.state = State::Size {
                        value: 0,
                        digits: 0,
                    };
                }
                State::Done => return Ok(()),
            }
            input = rest;
        }
        Ok(())
    }

    fn after_size(value: u64) -> State {
        if value == 0 {
            State::Done
        } else {
            State::Data { left: value }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(wire: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let mut d = Dechunker::default();
        let mut body = Vec::new();
        for part in wire.chunks(piece) {
            d.feed(part, |b| {
                body.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        }
        (body, d.is_done())
    }

    #[test]
    fn chunked_body_in_any_split() {
        let wire: &[u8] = b"9\r\nFLV\x01\x05\0\0\0\x09\r\n4;ext=1\r\n\0\0\0\0\r\n\
                            1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
        for piece in 1..wire.len() {
            let (body, done) = decode_in_pieces(wire, piece);
            assert_eq!(
                body, b"FLV\x01\x05\0\0\0\x09\0\0\0\0abcdefghijklmnopqrstuvwxyz",
                "piece {piece}"
            );
            assert!(done);
        }
    }

    #[test]
    fn bad_chunking_is_an_error() {
        let mut d = Dechunker::default();
        assert!(d.feed(b"zz\r\n", |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"2\r\nabX", |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"FFFFFFFFFF\r\n", |_| Ok(())).is_err());
    }

    #[test]
    fn response_heads() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\nFLV";
        let end = head_end(head).unwrap();
        assert_eq!(&head[end..], b"FLV");
        assert_eq!(parse_head(&head[..end]).unwrap(), (200, true));
        assert_eq!(
            parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap(),
            (404, false)
        );
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
