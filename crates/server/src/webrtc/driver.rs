//! The one task that owns the WebRTC UDP socket and every session's `str0m::Rtc`, as str0m's own chat example
//! does: datagrams are matched to a session by their source address (known once the browser's first check
//! arrived) or, for STUN, by the ICE username (`Rtc::accepts`); each session is polled until it returns a
//! timeout after every input; frames arrive from the sessions' feeders on one bounded queue. ICE-TCP packets
//! arrive from the connections' tasks ([`super::tcp`]) on another queue and are matched the same way; what a
//! session transmits over TCP goes back to its connection's writer queue. A WHIP session (a browser publishing) is
//! the same kind of session with an [`Ingest`](super::publish::Ingest): the frames str0m depacketizes go to its
//! publish task, and keyframe requests go back to the browser.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::feeder::Item;
use super::publish::Ingest;
use super::tcp::{TcpEvent, TcpPeers};
use super::Sessions;
use crate::stream::lifecycle::PlaySession;

/// Largest datagram read; WebRTC packets stay under the path MTU.
const MAX_DATAGRAM: usize = 2048;

/// A session handed to the UDP task.
pub(crate) struct Open {
    pub(crate) id: u64,
    pub(crate) rtc: Rtc,
    pub(crate) video: (Mid, Pt),
    pub(crate) audio: Option<(Mid, Pt)>,
    /// Told when the browser is connected: the feeder starts reading then.
    pub(crate) connected: Option<oneshot::Sender<()>>,
    /// Stops the feeder.
    pub(crate) stop: CancellationToken,
    /// Sends `play_stop` when dropped (WHEP).
    pub(crate) _play: Option<PlaySession>,
    /// Where a WHIP session's media goes (`None` for WHEP).
    pub(crate) ingest: Option<Ingest>,
    /// For the log.
    pub(crate) label: String,
}

impl Open {
    /// `WHEP` or `WHIP`, for the log.
    fn what(&self) -> &'static str {
        if self.ingest.is_some() {
            "WHIP"
        } else {
            "WHEP"
        }
    }
}

/// What the HTTP side asks of the UDP task.
pub(crate) enum Command {
    Open(Box<Open>),
    /// `DELETE` of the session's resource.
    Close(u64),
}

struct Session {
    open: Open,
    created: Instant,
    /// When ICE reported the browser gone; the session ends if it stays gone.
    lost_since: Option<Instant>,
    ever_connected: bool,
    next_timeout: Instant,
    /// Maps the session's media time (µs, from the hub's ms timeline) to the wallclock str0m takes with each
    /// write: see [`wallclock`].
    anchor: Option<(Instant, u64)>,
}

/// Timeouts of the UDP task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) disconnect: Duration,
}

/// The UDP task's network: the socket and the ICE-TCP connections' queue.
pub(crate) struct Net {
    pub(crate) socket: UdpSocket,
    /// The address datagrams are handed to str0m as received on: the UDP candidate's, which str0m's ICE agent
    /// matches STUN checks against (the bound address differs when bound to every interface or behind a NAT).
    pub(crate) udp_local: SocketAddr,
    /// Events of the ICE-TCP connections; `None` with `webrtc.tcp_enabled = false`.
    pub(crate) tcp: Option<mpsc::Receiver<TcpEvent>>,
}

/// Runs the UDP task until shutdown.
pub(crate) async fn run(
    net: Net,
    mut commands: mpsc::Receiver<Command>,
    mut media: mpsc::Receiver<(u64, Item)>,
    sessions_index: Arc<Sessions>,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let Net {
        socket,
        udp_local,
        tcp: mut tcp_events,
    } = net;
    let mut tcp = TcpPeers::default();
    let mut sessions: HashMap<u64, Session> = HashMap::new();
    let mut by_addr: HashMap<SocketAddr, u64> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let next = sessions
            .values()
            .map(|s| s.next_timeout)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let mut touched: Option<u64> = None;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            cmd = commands.recv() => match cmd {
                Some(Command::Open(open)) => {
                    let id = open.id;
                    info!(session = %open.label, "{} session opened", open.what());
                    sessions.insert(id, Session {
                        open: *open,
                        created: Instant::now(),
                        lost_since: None,
                        ever_connected: false,
                        next_timeout: Instant::now(),
                        anchor: None,
                    });
                    touched = Some(id);
                }
                Some(Command::Close(id)) => {
                    if let Some(mut s) = sessions.remove(&id) {
                        // A WHIP session is also closed from its publish task (a kick, publisher_timeout_secs).
                        let or = if s.open.ingest.is_some() { " or its publish's end" } else { "" };
                        info!(session = %s.open.label, "{} session ended by DELETE{or}", s.open.what());
                        s.open.rtc.disconnect();
                        end(s, &sessions_index);
                    }
                    by_addr.retain(|_, v| *v != id);
                }
                None => break,
            },
            item = media.recv() => {
                let Some((id, item)) = item else { break };
                if let Some(s) = sessions.get_mut(&id) {
                    match item {
                        Item::Video { data, rtp_90k } => {
                            let (mid, pt) = s.open.video;
                            let at = wallclock(&mut s.anchor, rtp_90k * 100 / 9, Instant::now());
                            write(&mut s.open.rtc, mid, pt, at, MediaTime::from_90khz(rtp_90k), data);
                        }
                        Item::Audio(packet) => {
                            if let Some((mid, pt)) = s.open.audio {
                                // The same ms timeline as the video's (the hub's timestamps x 48 against x 90).
                                let time = MediaTime::new(packet.pts_48k, str0m::media::Frequency::FORTY_EIGHT_KHZ);
                                let at = wallclock(&mut s.anchor, packet.pts_48k * 125 / 6, Instant::now());
                                write(&mut s.open.rtc, mid, pt, at, time, packet.data);
                            }
                        }
                        Item::End(end) => {
                            info!(session = %s.open.label, "WHEP session ends: {}", end.why);
                            if let (Some(reason), Some(play)) = (end.reason, s.open._play.as_mut()) {
                                play.set_error(reason, &end.why);
                            }
                            s.open.rtc.disconnect();
                        }
                    }
                    touched = Some(id);
                }
            }
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => {
                    let Ok(contents) = buf[..n].try_into() else {
                        continue; // not STUN, DTLS, RTP or RTCP: ignored
                    };
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: udp_local,
                        contents,
                    });
                    let Some(id) = receive(&mut sessions, by_addr.get(&source).copied(), input) else {
                        debug!(%source, "WebRTC datagram for no session");
                        continue;
                    };
                    by_addr.insert(source, id);
                    touched = Some(id);
                }
                Err(e) => {
                    // ICMP errors of earlier sends surface here on Linux; they concern one peer only.
                    debug!("WebRTC UDP receive: {e}");
                }
            },
            event = recv_tcp(&mut tcp_events) => match event {
                Some(TcpEvent::Packet { peer, local, data }) => {
                    let Ok(contents) = data.as_ref().try_into() else {
                        continue; // not STUN, DTLS, RTP or RTCP: ignored
                    };
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Tcp,
                        source: peer,
                        destination: local,
                        contents,
                    });
                    let Some(id) = receive(&mut sessions, tcp.session_of(&peer), input) else {
                        debug!(%peer, "ICE-TCP packet for no session");
                        continue;
                    };
                    tcp.bind(&peer, id);
                    touched = Some(id);
                }
                Some(event) => tcp.handle_open_close(event),
                None => tcp_events = None,
            },
            _ = tokio::time::sleep_until(next.into()) => {
                let now = Instant::now();
                // Connections of ended sessions close (the browser may keep a dead one open).
                tcp.sweep(|id| sessions.contains_key(&id));
                let due: Vec<u64> = sessions
                    .iter()
                    .filter(|(_, s)| s.next_timeout <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in due {
                    if let Some(s) = sessions.get_mut(&id) {
                        if let Err(e) = s.open.rtc.handle_input(Input::Timeout(now)) {
                            debug!(session = %s.open.label, "WebRTC timeout handling: {e}");
                            s.open.rtc.disconnect();
                        }
                    }
                    drive(id, &mut sessions, (&socket, &mut tcp), &sessions_index, timeouts, &mut by_addr);
                }
            }
        }
        if let Some(id) = touched {
            drive(
                id,
                &mut sessions,
                (&socket, &mut tcp),
                &sessions_index,
                timeouts,
                &mut by_addr,
            );
        }
    }
    for (_, mut s) in sessions.drain() {
        s.open.rtc.disconnect();
        end(s, &sessions_index);
    }
}

/// The next ICE-TCP event; never ready when TCP is off.
async fn recv_tcp(events: &mut Option<mpsc::Receiver<TcpEvent>>) -> Option<TcpEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands a received packet to its session: the one its source is known to belong to (`known`) if that one still
/// accepts it, else the one that accepts it (a STUN check naming it). Returns the session's id.
fn receive(sessions: &mut HashMap<u64, Session>, known: Option<u64>, input: Input) -> Option<u64> {
    let id = known
        .filter(|id| sessions.get(id).is_some_and(|s| s.open.rtc.accepts(&input)))
        .or_else(|| {
            sessions
                .iter()
                .find(|(_, s)| s.open.rtc.accepts(&input))
                .map(|(id, _)| *id)
        })?;
    if let Some(s) = sessions.get_mut(&id) {
        if let Err(e) = s.open.rtc.handle_input(input) {
            debug!(session = %s.open.label, "WebRTC input refused: {e}");
            s.open.rtc.disconnect();
        }
    }
    Some(id)
}

/// Writes one frame to an m-line; a refused write is logged and the frame lost (never the session).
fn write(rtc: &mut Rtc, mid: Mid, pt: Pt, wallclock: Instant, time: MediaTime, data: Arc<[u8]>) {
    let Some(writer) = rtc.writer(mid) else {
        return;
    };
    if let Err(e) = writer.write(pt, wallclock, time, data) {
        debug!("WebRTC write refused: {e}");
    }
}

/// How far the media timeline may fall behind the wall clock before the anchor is moved (a publisher whose
/// clock runs slow, a pause): beyond it the sender reports would extrapolate the RTP time over a long span.
const MAX_WALLCLOCK_LAG: Duration = Duration::from_secs(1);

/// The wallclock of media time `media_us` for str0m's sender reports, which tell the browser which audio
/// sample plays with which picture: both tracks are mapped through one anchor, so packets written at different
/// moments (an Opus packet leaves the transcoder up to 20 ms after its first sample arrived) still line up.
/// str0m wants it in the past: media ahead of the clock (the cached GOP sent at once) moves the anchor.
fn wallclock(anchor: &mut Option<(Instant, u64)>, media_us: u64, now: Instant) -> Instant {
    let (at, us) = *anchor.get_or_insert((now, media_us));
    let mapped = if media_us >= us {
        at.checked_add(Duration::from_micros(media_us - us))
    } else {
        at.checked_sub(Duration::from_micros(us - media_us))
    };
    match mapped {
        Some(w) if w <= now && now.duration_since(w) <= MAX_WALLCLOCK_LAG => w,
        _ => {
            *anchor = Some((now, media_us));
            now
        }
    }
}

/// Polls session `id` until it returns a timeout: sends what it transmits, acts on its events, and ends it when
/// it is dead or timed out.
fn drive(
    id: u64,
    sessions: &mut HashMap<u64, Session>,
    (socket, tcp): (&UdpSocket, &mut TcpPeers),
    index: &Sessions,
    timeouts: Timeouts,
    by_addr: &mut HashMap<SocketAddr, u64>,
) {
    let Some(s) = sessions.get_mut(&id) else {
        return;
    };
    let now = Instant::now();
    loop {
        if !s.open.rtc.is_alive() {
            break;
        }
        match s.open.rtc.poll_output() {
            Ok(Output::Transmit(t)) => {
                // A full socket buffer (or TCP queue) loses this packet only; NACK and the next keyframe repair it.
                if t.proto == Protocol::Tcp {
                    tcp.send(&t.destination, t.contents.into());
                } else {
                    let _ = socket.try_send_to(&t.contents, t.destination);
                }
            }
            Ok(Output::Event(event)) => match event {
                Event::Connected => {
                    s.ever_connected = true;
                    info!(session = %s.open.label, elapsed_ms = s.created.elapsed().as_millis() as u64,
                        "{} session connected", s.open.what());
                    if let Some(signal) = s.open.connected.take() {
                        let _ = signal.send(());
                    }
                }
                Event::IceConnectionStateChange(state) => match state {
                    IceConnectionState::Disconnected => {
                        s.lost_since.get_or_insert(now);
                    }
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        s.lost_since = None;
                    }
                    _ => {}
                },
                Event::Closed => {
                    info!(session = %s.open.label, "{} session closed by the browser", s.open.what());
                    s.open.rtc.disconnect();
                }
                Event::MediaData(data) => {
                    if let Some(ingest) = &mut s.open.ingest {
                        if ingest.media(data, now) {
                            ingest.request_keyframe(&mut s.open.rtc);
                        }
                    }
                }
                _ => {}
            },
            Ok(Output::Timeout(t)) => {
                s.next_timeout = t;
                break;
            }
            Err(e) => {
                debug!(session = %s.open.label, "WebRTC session error: {e}");
                s.open.rtc.disconnect();
            }
        }
    }
    // A publisher still waiting for its first keyframe (or one after a loss), or whose last one is old, is asked.
    if let Some(ingest) = &mut s.open.ingest {
        if s.ever_connected && ingest.keyframe_due(now) {
            ingest.request_keyframe(&mut s.open.rtc);
        }
    }
    let connect_expired = !s.ever_connected && s.created.elapsed() > timeouts.connect;
    let lost = s
        .lost_since
        .is_some_and(|since| now.duration_since(since) > timeouts.disconnect);
    if connect_expired {
        info!(session = %s.open.label, "{} session dropped: the browser did not connect within webrtc.connect_timeout_secs", s.open.what());
        s.open.rtc.disconnect();
    } else if lost {
        info!(session = %s.open.label, "{} session dropped: the browser is gone (webrtc.disconnect_timeout_secs)", s.open.what());
        s.open.rtc.disconnect();
    }
    if !s.open.rtc.is_alive() {
        if let Some(s) = sessions.remove(&id) {
            by_addr.retain(|_, v| *v != id);
            end(s, index);
        }
    } else {
        // Wake up again for the timeouts above even when str0m has nothing to do sooner.
        let check = now + Duration::from_secs(1);
        if s.next_timeout > check {
            s.next_timeout = check;
        }
    }
}

/// Ends a session: its feeder stops, its resource goes away, and dropping it sends `play_stop` (WHEP) or ends
/// its publish task's input, which ends the publish (WHIP).
fn end(s: Session, index: &Sessions) {
    s.open.stop.cancel();
    index.remove(s.open.id);
    info!(session = %s.open.label, "{} session ended", s.open.what());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Audio and video written at different moments map through one anchor; media ahead of the clock, or far
    /// behind it, moves the anchor instead of giving str0m a wallclock in the future or a stale one.
    #[test]
    fn both_tracks_share_one_wallclock_anchor() {
        let t0 = Instant::now();
        let mut anchor = None;
        // A picture at 1000 ms, then the Opus packet starting at 990 ms, written 20 ms later.
        assert_eq!(wallclock(&mut anchor, 1_000_000, t0), t0);
        let later = t0 + Duration::from_millis(20);
        assert_eq!(
            wallclock(&mut anchor, 990_000, later),
            t0 - Duration::from_millis(10)
        );
        // The cached GOP sent at once: 2 s of media in no time, never in the future.
        assert_eq!(wallclock(&mut anchor, 3_000_000, later), later);
        assert_eq!(anchor, Some((later, 3_000_000)));
        // The media 2 s behind the clock (a pause): re-anchored at now.
        let paused = later + Duration::from_secs(3);
        assert_eq!(wallclock(&mut anchor, 4_000_000, paused), paused);
    }
}
