//! One WHEP session on a tokio UDP socket of its own. As with `connection::RtmpConnection`, the caller owns the
//! loop: it waits with [`readable`](WhepConnection::readable), reads with
//! [`try_receive`](WhepConnection::try_receive) into a buffer it owns (one per thread is enough: nothing is
//! held across an await), drains [`poll_event`](WhepConnection::poll_event) (which sends the session's datagrams
//! as it goes) and calls [`handle_timeout`](WhepConnection::handle_timeout) at [`timeout`](WhepConnection::timeout).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use reqwest::Url;
use tokio::net::UdpSocket;

use super::session::{Output, WhepEvent, WhepSession, WhepSetup};
use super::signal;
use super::WhepError;

/// A WHEP session and its socket.
#[derive(Debug)]
pub struct WhepConnection {
    socket: UdpSocket,
    session: WhepSession,
    resource: Option<Url>,
    next_timeout: Instant,
}

impl WhepConnection {
    /// Binds a UDP socket on the local address that routes to the server of `url`, `POST`s the offer there and
    /// applies the answer. ICE and DTLS then run as the caller drives the connection ([`WhepEvent::Connected`]).
    pub async fn connect(
        http: &reqwest::Client,
        url: &str,
        setup: &WhepSetup,
    ) -> Result<WhepConnection, WhepError> {
        let server = resolve(url).await?;
        let socket = bind_towards(server).await?;
        let local = socket.local_addr().map_err(|source| WhepError::Io {
            what: "bind",
            source,
        })?;
        let now = Instant::now();
        let (mut session, offer) = WhepSession::new(setup, local, now)?;
        let answer = signal::post_offer(http, url, offer).await?;
        session.handle_answer(&answer.sdp)?;
        Ok(WhepConnection {
            socket,
            session,
            resource: answer.resource,
            next_timeout: now,
        })
    }

    /// The session, to ask it things.
    pub fn session(&mut self) -> &mut WhepSession {
        &mut self.session
    }

    /// The session's URL on the server, from its `Location`.
    pub fn resource(&self) -> Option<&Url> {
        self.resource.as_ref()
    }

    /// Waits until a datagram may be read.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads one datagram into `buf` without waiting and hands it to the session. `Ok(None)`: nothing to read.
    pub fn try_receive(
        &mut self,
        buf: &mut [u8],
        now: Instant,
    ) -> Result<Option<usize>, WhepError> {
        match self.socket.try_recv_from(buf) {
            Ok((n, source)) => {
                self.session.handle_datagram(now, source, &buf[..n])?;
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(source) => Err(WhepError::Io {
                what: "receive",
                source,
            }),
        }
    }

    /// The next event, sending the session's datagrams on the way; `None` once the session waits for input or
    /// [`timeout`](Self::timeout).
    pub fn poll_event(&mut self) -> Result<Option<WhepEvent>, WhepError> {
        loop {
            match self.session.poll_output()? {
                Output::Transmit(t) => match self.socket.try_send_to(&t.contents, t.destination) {
                    Ok(_) => {}
                    // A full socket buffer drops the datagram, as the network may: RTCP and STUN repeat, and
                    // media is sent by the server, not here.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(source) => {
                        return Err(WhepError::Io {
                            what: "send",
                            source,
                        })
                    }
                },
                Output::Event(event) => return Ok(Some(event)),
                Output::Timeout(at) => {
                    self.next_timeout = at;
                    return Ok(None);
                }
            }
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout), as of the last [`poll_event`](Self::poll_event).
    pub fn timeout(&self) -> Instant {
        self.next_timeout
    }

    /// The clock reached [`timeout`](Self::timeout).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WhepError> {
        self.session.handle_timeout(now)
    }

    /// Ends the session: a DTLS close alert to the server, then `DELETE` of its resource. The `DELETE`'s status
    /// (200; 404 when the server had already ended it), or `None` without a resource.
    pub async fn close(mut self, http: &reqwest::Client) -> Result<Option<u16>, WhepError> {
        self.session.close();
        // What the close queued goes out; events after it, or a failure to send it, do not matter: the DELETE
        // ends the session on the server either way.
        while let Ok(Some(_)) = self.poll_event() {}
        match &self.resource {
            Some(resource) => signal::delete(http, resource).await.map(Some),
            None => Ok(None),
        }
    }
}

/// The server's address from the URL's host.
async fn resolve(url: &str) -> Result<SocketAddr, WhepError> {
    let bad = |reason: String| WhepError::Http {
        what: "POST",
        url: url.to_string(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| bad("the URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| bad(format!("cannot resolve {host}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| bad(format!("{host} has no address")))
}

/// A UDP socket on the local address the system routes `server` from (the host candidate must be an address
/// the server can answer, not `0.0.0.0`): found by connecting a probe socket, which sends nothing.
async fn bind_towards(server: SocketAddr) -> Result<UdpSocket, WhepError> {
    let io = |what| move |source| WhepError::Io { what, source };
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = UdpSocket::bind(any).await.map_err(io("bind"))?;
    probe.connect(server).await.map_err(io("bind"))?;
    let ip = probe.local_addr().map_err(io("bind"))?.ip();
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(io("bind"))
}
