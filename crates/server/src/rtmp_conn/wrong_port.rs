//! A client on the RTMP port that does not speak RTMP: an HTTP request gets a `400` that names the HTTP port, a
//! TLS handshake a log line. Recognized from the first bytes, peeked so an RTMP connection reads them again: an
//! RTMP handshake starts with its version (3), an HTTP request with its method and a space, TLS with record type 22.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::Shared;

/// What the first bytes say.
enum Opening {
    Rtmp,
    Http,
    Tls,
}

/// Request methods, with the space after them: an RTMP handshake's first byte is its version, never a letter.
const METHODS: [&[u8]; 8] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
];

fn opening(first: &[u8]) -> Opening {
    let http = METHODS.iter().any(|m| {
        first.starts_with(m) || (first.len() >= 3 && first.len() < m.len() && m.starts_with(first))
    });
    match first.first() {
        _ if http => Opening::Http,
        Some(22) => Opening::Tls,
        _ => Opening::Rtmp,
    }
}

/// Looks at the first bytes of a new connection. `true` when the connection is not RTMP and has been answered
/// or closed: the caller drops it. Anything else, including silence until the handshake timeout, goes on to the
/// RTMP session (whose handshake clock started before this look).
pub(super) async fn handled(socket: &mut TcpStream, peer: SocketAddr, shared: &Shared) -> bool {
    let mut first = [0u8; 8];
    let peeked = tokio::select! {
        _ = shared.shutdown.cancelled() => return true,
        r = tokio::time::timeout(shared.session_config.handshake_timeout, socket.peek(&mut first)) => r,
    };
    let opening = match peeked {
        Ok(Ok(0)) => {
            debug!(%peer, "RTMP connection closed before a handshake");
            return true;
        }
        Ok(Ok(n)) => opening(&first[..n]),
        Ok(Err(e)) => {
            debug!(%peer, "RTMP connection failed before a handshake: {e}");
            return true;
        }
        Err(_) => Opening::Rtmp,
    };
    let http_port = shared.url_base.http_port;
    let scheme = if shared.url_base.https {
        "https"
    } else {
        "http"
    };
    match opening {
        Opening::Rtmp => false,
        Opening::Http => {
            info!(%peer, "an HTTP request on the RTMP port; answered 400: HTTP is on port {http_port}");
            let body = format!(
                "this is mplive's RTMP port; HTTP is on port {http_port} ({scheme}://HOST:{http_port}/)\n"
            );
            crate::http::conn::answer_400_and_close(socket, &body).await;
            true
        }
        Opening::Tls => {
            info!(
                %peer,
                "a TLS handshake on the RTMP port (rtmps is not served); closed. HTTPS is on port {http_port}"
            );
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{opening, Opening};

    #[test]
    fn first_bytes_tell_the_protocol() {
        assert!(matches!(opening(b"GET / HT"), Opening::Http));
        assert!(matches!(opening(b"POST /v1"), Opening::Http));
        assert!(matches!(opening(b"OPT"), Opening::Http));
        assert!(matches!(opening(&[3, 0, 0, 0, 0, 0, 0, 0]), Opening::Rtmp));
        // A wrong RTMP version is the session's to refuse, even when it is a letter.
        assert!(matches!(opening(b"GGGGGGGG"), Opening::Rtmp));
        assert!(matches!(opening(&[22, 3, 1, 0, 0]), Opening::Tls));
    }
}
