//! The HTTP/1.1 an HTTP-FLV player needs around the body: one GET, and the response head with its framing
//! (close-delimited, Content-Length or chunked).

use crate::url::HttpUrl;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// The GET request for `url`, sent as `user_agent`; the connection closes with the response.
pub fn request(url: &HttpUrl, user_agent: &str) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        url.target,
        url.host_header()
    )
}

/// Index just after the blank line ending the head in `buf`, once complete.
pub(super) fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// What the response head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The status line (`HTTP/1.1 404 Not Found`), for messages.
    pub status_line: String,
    /// How the body ends.
    pub framing: Framing,
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// When the server closes the connection.
    Close,
    /// After this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Parses a complete response head (up to and including the blank line).
pub(super) fn parse_head(head: &[u8]) -> Result<ResponseHead, String> {
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
    Ok(ResponseHead {
        status,
        status_line,
        framing,
    })
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
}
