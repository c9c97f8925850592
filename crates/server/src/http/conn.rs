//! HTTP connections. The first request head of a plain-HTTP connection is read here: an HTTP-FLV play
//! (`GET /{app}/{stream}.flv`) is served straight from the socket by [`crate::http::flv_direct`], fed by the publisher like
//! an RTMP player; everything else (the API, and HTTP-FLV requests later on a kept-alive connection) goes to the axum
//! router through hyper.
//!
//! An HTTPS connection goes to hyper and the router whole, HTTP-FLV included ([`crate::http::flv_router`]): the direct path
//! writes the shared FLV bytes to the socket with `writev`, which encryption per connection rules out.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info};

use crate::Shared;

/// Longest request head we look at ourselves; a longer one goes to hyper, which answers 431.
const MAX_HEAD: usize = 8 * 1024;

/// An HTTP-FLV play request: `GET /{app}/{stream}.flv[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlvRequest {
    pub(crate) app: String,
    pub(crate) stream: String,
    pub(crate) query: Option<String>,
}

/// Serves one accepted HTTP connection until it ends.
pub(crate) async fn serve(
    mut socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    router: Router,
) {
    let mut head = BytesMut::with_capacity(1024);
    let complete = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = tokio::time::timeout(shared.http_header_timeout, read_head(&mut socket, &mut head)) => match r {
            Ok(Ok(Head::Rtmp)) => {
                log_rtmp_on_http(peer, &shared);
                return;
            }
            Ok(Ok(Head::NotHttp)) => {
                debug!(%peer, "not an HTTP request; answered 400");
                answer_400_and_close(&mut socket, "not an HTTP/1 request: expected METHOD /path HTTP/1.1\n").await;
                return;
            }
            Ok(Ok(Head::Complete)) => true,
            Ok(Ok(Head::TooLong)) => false,
            Ok(Err(e)) => {
                debug!(%peer, "HTTP connection closed before a request: {e}");
                return;
            }
            Err(_) => {
                debug!(%peer, "no HTTP request head within {} s (http_header_timeout_secs)", shared.http_header_timeout.as_secs());
                return;
            }
        },
    };
    if complete {
        if let Some(request) = parse_flv_request(&head) {
            drop(head);
            crate::http::flv_direct::serve(socket, peer, request, shared).await;
            return;
        }
    }
    let io = Prefixed {
        prefix: head.freeze(),
        inner: socket,
    };
    // Boxed: hyper's connection future is large, and inline it would size the task of every HTTP-FLV player too.
    Box::pin(serve_hyper(io, peer, &shared, router)).await;
}

/// Serves one accepted HTTPS connection until it ends: the TLS handshake, bounded like a request head, then hyper.
pub(crate) async fn serve_tls(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    router: Router,
    acceptor: TlsAcceptor,
) {
    let opened = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        r = tokio::time::timeout(shared.http_header_timeout, open_tls(socket, &acceptor)) => r,
    };
    let stream = match opened {
        Ok(Ok(TlsOpening::Tls(stream))) => stream,
        Ok(Ok(TlsOpening::Rtmp)) => {
            log_rtmp_on_http(peer, &shared);
            return;
        }
        Ok(Ok(TlsOpening::NotTls(socket))) => {
            debug!(%peer, "not a TLS connection on the HTTPS listener; answered 400");
            refuse_plain_http(socket).await;
            return;
        }
        Ok(Err(e)) => {
            // Debug, not warn: scanners and clients distrusting the certificate end here.
            debug!(%peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            debug!(%peer, "no TLS handshake within {} s (http_header_timeout_secs)", shared.http_header_timeout.as_secs());
            return;
        }
    };
    serve_hyper(stream, peer, &shared, router).await;
}

/// How a connection on the HTTPS listener began.
enum TlsOpening {
    /// Boxed: the TLS state is over a kilobyte, and the connection's future then moves only a pointer.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// The first byte is not a TLS handshake record: most likely a plain `http://` request.
    NotTls(TcpStream),
    /// The first byte is an RTMP handshake's version (3): an RTMP client on the wrong port.
    Rtmp,
}

/// The first byte of an RTMP handshake (C0: version 3). No HTTP request or TLS record starts with it.
const RTMP_VERSION: u8 = 3;

/// An RTMP client on the HTTP port: it shows no text, so the log says where RTMP is. Info, not debug: whoever
/// set up the client reads the server log to find out why it gets nothing.
fn log_rtmp_on_http(peer: SocketAddr, shared: &Shared) {
    info!(
        %peer,
        "an RTMP client connected to the HTTP port; closed. RTMP is on port {} (rtmp://HOST:{}/APP/STREAM)",
        shared.url_base.rtmp_port,
        shared.url_base.rtmp_port
    );
}

async fn open_tls(socket: TcpStream, acceptor: &TlsAcceptor) -> io::Result<TlsOpening> {
    let mut first = [0u8; 1];
    if socket.peek(&mut first).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if first[0] == RTMP_VERSION {
        return Ok(TlsOpening::Rtmp);
    }
    // Every TLS connection opens with a handshake record, content type 22.
    if first[0] != 22 {
        return Ok(TlsOpening::NotTls(socket));
    }
    Ok(TlsOpening::Tls(Box::new(acceptor.accept(socket).await?)))
}

/// Tells a plain-HTTP client what to change, instead of a TLS alert it would show as a garbled reply.
async fn refuse_plain_http(mut socket: TcpStream) {
    answer_400_and_close(&mut socket, "this port serves HTTPS: use an https:// URL\n").await;
}

/// Writes an HTTP `400` with `body` and closes, after reading what the client sent: closing with unread data would
/// send a reset, which can destroy the answer before the client reads it (read briefly and boundedly).
pub(crate) async fn answer_400_and_close(socket: &mut TcpStream, body: &str) {
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
    let mut sink = [0u8; 1024];
    let mut left: usize = 64 * 1024;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while left > 0 {
            match socket.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Serves HTTP/1 requests on `io` with hyper and the router until the connection ends or the server shuts down.
async fn serve_hyper<IO>(io: IO, peer: SocketAddr, shared: &Shared, router: Router)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Handlers see the peer's address (webhooks carry it) as axum's `ConnectInfo`.
    let service = TowerToHyperService::new(router.map_request(
        move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            req
        },
    ));
    // The same bound for every later request head on a kept-alive connection, so idle connections do not hold
    // their place under max_http_connections forever.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.http_header_timeout)
        .serve_connection(TokioIo::new(io), service)
        // WebSocket upgrades (`/rooms/v1/ws`) need the connection handed over after the 101 response.
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!(%peer, "HTTP connection: {e}");
            }
        }
        _ = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Reads until the end of the first request head. `Ok(false)`: the head is longer than we parse.
/// What [`read_head`] found.
enum Head {
    /// A whole request head.
    Complete,
    /// [`MAX_HEAD`] bytes without the end of a head: hyper answers.
    TooLong,
    /// An RTMP handshake: a client on the wrong port.
    Rtmp,
    /// Bytes that cannot begin an HTTP/1 request line: answered 400 at once rather than at the header timeout.
    NotHttp,
}

async fn read_head(socket: &mut TcpStream, head: &mut BytesMut) -> io::Result<Head> {
    loop {
        if head.first() == Some(&RTMP_VERSION) {
            return Ok(Head::Rtmp);
        }
        if !could_be_request_line(head) {
            return Ok(Head::NotHttp);
        }
        if find_head_end(head).is_some() {
            return Ok(Head::Complete);
        }
        if head.len() >= MAX_HEAD {
            return Ok(Head::TooLong);
        }
        if socket.read_buf(head).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Whether `buf` can still be (the start of) an HTTP/1 request: optional empty lines, then `METHOD SP TARGET SP
/// HTTP/1.x CRLF`. False as soon as one byte rules it out (a TLS record, binary, text that is not a request), so
/// such a connection is answered at once instead of holding a slot until the header timeout.
pub(crate) fn could_be_request_line(buf: &[u8]) -> bool {
    let mut rest = buf;
    while let Some(after) = rest.strip_prefix(b"\r\n") {
        rest = after;
    }
    if rest == b"\r" {
        return true;
    }
    // The method: a token (RFC 9110 tchar), at most 16 bytes (the longest registered method is shorter).
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let method_len = rest.iter().take_while(|b| is_tchar(**b)).count();
    if method_len > 16 {
        return false;
    }
    let Some(&after_method) = rest.get(method_len) else {
        return true;
    };
    if method_len == 0 || after_method != b' ' {
        return false;
    }
    rest = &rest[method_len + 1..];
    // The target: visible bytes up to the next space (non-ASCII is left for hyper to judge).
    let target_len = rest
        .iter()
        .take_while(|b| **b > b' ' && **b != 0x7f)
        .count();
    let Some(&after_target) = rest.get(target_len) else {
        return true;
    };
    if target_len == 0 || after_target != b' ' {
        return false;
    }
    rest = &rest[target_len + 1..];
    // The version: `HTTP/1.` and a digit, then the line's end.
    let version: &[u8] = b"HTTP/1.";
    let n = rest.len().min(version.len());
    if rest[..n] != version[..n] {
        return false;
    }
    match rest.get(version.len()) {
        None => true,
        Some(d) if d.is_ascii_digit() => match rest.get(version.len() + 1) {
            None | Some(b'\r') => true,
            Some(_) => false,
        },
        Some(_) => false,
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Recognizes `GET /{app}/{stream}.flv[?query] HTTP/1.x` with plain (not percent-encoded) names.
pub(crate) fn parse_flv_request(head: &[u8]) -> Option<FlvRequest> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(head.get(..line_end)?).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method != "GET" || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (target, None),
    };
    let mut segments = path.strip_prefix('/')?.split('/');
    let (app, file) = (segments.next()?, segments.next()?);
    if segments.next().is_some() || app.is_empty() || app.contains('%') || file.contains('%') {
        return None;
    }
    let stream = file.strip_suffix(".flv")?;
    if stream.is_empty() {
        return None;
    }
    // A signed recording link (`/recordings/{file}.flv?expires=..&sig=..`) is a file for the router, not a play.
    if crate::http::recording_files::is_signed_link(path, query.as_deref()) {
        return None;
    }
    Some(FlvRequest {
        app: app.to_string(),
        stream: stream.to_string(),
        query,
    })
}

/// A socket whose first bytes were already read: they are read again first.
struct Prefixed {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_told_from_other_bytes_early() {
        let full = b"GET /live/cam.flv?mode=rtc HTTP/1.1\r\nHost: x\r\n\r\n";
        // Every prefix of a real request may still become one.
        for n in 0..=full.len() {
            assert!(could_be_request_line(&full[..n]), "{:?}", &full[..n]);
        }
        for ok in [
            &b"\r\nPOST /v1/apps HTTP/1.0\r\n"[..],
            b"OPTIONS * HTTP/1.1\r\n",
            b"\r",
            b"M-SEARCH /x HTTP/1.",
        ] {
            assert!(could_be_request_line(ok), "{ok:?}");
        }
        for bad in [
            &b"\x16\x03\x01\x02\x00"[..], // a TLS ClientHello
            b"hello world\r\n",
            b"GET\t/ HTTP/1.1",
            b" GET / HTTP/1.1",
            b"GET  / HTTP/1.1",
            b"GET / HTTP/2.0\r\n",
            b"GET / HTTP/1.1x",
            b"GET / SIP/2.0",
            b"AVERYLONGMETHODNAMEX / HTTP/1.1",
            b"\x00\x00\x00",
        ] {
            assert!(!could_be_request_line(bad), "{bad:?}");
        }
    }

    #[test]
    fn recognizes_flv_plays() {
        let r =
            parse_flv_request(b"GET /live/cam.flv?mode=rtc HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            r,
            FlvRequest {
                app: "live".into(),
                stream: "cam".into(),
                query: Some("mode=rtc".into())
            }
        );
        assert!(parse_flv_request(b"GET /live/cam.flv HTTP/1.0\r\n\r\n").is_some());
    }

    #[test]
    fn leaves_everything_else_to_the_router() {
        for head in [
            &b"GET /v1/streams HTTP/1.1\r\n\r\n"[..],
            b"POST /live/cam.flv HTTP/1.1\r\n\r\n",
            b"GET /live/a/cam.flv HTTP/1.1\r\n\r\n",
            b"GET /live/.flv HTTP/1.1\r\n\r\n",
            b"GET /live/c%20m.flv HTTP/1.1\r\n\r\n",
            b"GET /live/cam.flv\r\n\r\n",
            b"GET /recordings/cam.flv?expires=1&sig=ab HTTP/1.1\r\n\r\n",
            b"\xff\xfe garbage\r\n\r\n",
            b"",
        ] {
            assert!(
                parse_flv_request(head).is_none(),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
