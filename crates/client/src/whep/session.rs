//! The sans-IO WHEP session: one `str0m::Rtc` as the offering side of a recvonly H.264 + Opus session.
//!
//! Contract (str0m's own): after every `handle_*` call, call [`WhepSession::poll_output`] until it returns
//! [`Output::Timeout`]; send every [`Output::Transmit`] from the socket whose address the session was made with;
//! call [`WhepSession::handle_timeout`] at that instant (an early call is harmless). Time is always an argument.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Rtc};

use super::annexb;
use super::WhepError;

/// What every session of a process is built with: the crypto backend and one DTLS certificate, made once
/// (generating a key pair per session would cost each bench player a few milliseconds of CPU for nothing).
#[derive(Clone)]
pub struct WhepSetup {
    crypto: Arc<CryptoProvider>,
    cert: DtlsCert,
}

impl std::fmt::Debug for WhepSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepSetup").finish_non_exhaustive()
    }
}

impl WhepSetup {
    /// The aws-lc-rs backend (as the server's) and a fresh certificate.
    pub fn new() -> Result<WhepSetup, WhepError> {
        let crypto = str0m::crypto::from_feature_flags();
        let cert = crypto
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| WhepError::Rtc("the crypto backend made no DTLS certificate".into()))?;
        Ok(WhepSetup {
            crypto: Arc::new(crypto),
            cert,
        })
    }
}

/// A datagram to send.
#[derive(Debug)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The datagram.
    pub contents: Vec<u8>,
}

/// One video access unit as the depacketizer assembled it.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// Annex B NAL units (4-byte start codes).
    pub data: Arc<[u8]>,
    /// RTP time at 90 kHz (extended over wraps by str0m).
    pub rtp_90k: u64,
    /// An IDR picture is among the NAL units.
    pub keyframe: bool,
    /// The frame follows the previous one without lost packets in between.
    pub contiguous: bool,
    /// The input that completed the frame.
    pub arrival: Instant,
}

/// One Opus packet.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    /// The Opus packet.
    pub data: Arc<[u8]>,
    /// RTP time at 48 kHz.
    pub rtp_48k: u64,
    /// The input that carried it.
    pub arrival: Instant,
}

/// What happened in the session.
#[derive(Debug, Clone)]
pub enum WhepEvent {
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// A video access unit.
    Video(VideoFrame),
    /// An audio packet.
    Audio(AudioPacket),
    /// The server went away (ICE lost it, or it closed DTLS): the session is over.
    Disconnected,
}

/// What [`WhepSession::poll_output`] returns.
#[derive(Debug)]
pub enum Output {
    /// Send this datagram.
    Transmit(Transmit),
    /// Something happened.
    Event(WhepEvent),
    /// Nothing more until this instant (or the next datagram).
    Timeout(Instant),
}

/// One WHEP session, from its offer to its end.
pub struct WhepSession {
    rtc: Rtc,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    video: Mid,
    audio: Mid,
    /// The `now` of the last input, stamped on the media it completed.
    last_input: Instant,
    ended: bool,
}

impl std::fmt::Debug for WhepSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepSession")
            .field("local", &self.local)
            .field("answered", &self.pending.is_none())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl WhepSession {
    /// A session whose datagrams go from and to `local` (a socket's bound address, not unspecified: it is the
    /// host candidate the server checks against), and its SDP offer to `POST`.
    pub fn new(
        setup: &WhepSetup,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(WhepSession, String), WhepError> {
        // Not ICE-lite: as the offerer str0m takes the controlling role and nominates the pair, which the
        // ICE-lite server needs.
        let mut rtc = Rtc::builder()
            .set_crypto_provider(setup.crypto.clone())
            .set_dtls_cert(setup.cert.clone())
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(now);
        let candidate = Candidate::host(local, "udp")
            .map_err(|e| WhepError::Sdp(format!("local candidate {local}: {e}")))?;
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let audio = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| WhepError::Sdp("str0m made no offer for two new m-lines".into()))?;
        let session = WhepSession {
            rtc,
            local,
            pending: Some(pending),
            video,
            audio,
            last_input: now,
            ended: false,
        };
        Ok((session, offer.to_sdp_string()))
    }

    /// Applies the server's answer (the body of its `201 Created`).
    pub fn handle_answer(&mut self, sdp: &str) -> Result<(), WhepError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| WhepError::Sdp("a second answer to one offer".into()))?;
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| WhepError::Sdp(format!("the answer does not parse: {e}")))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| WhepError::Sdp(format!("the answer cannot be applied: {e}")))
    }

    /// A datagram from `source` arrived at `now`. Datagrams that are not STUN, DTLS, RTP or RTCP are ignored.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        data: &[u8],
    ) -> Result<(), WhepError> {
        let Ok(contents) = data.try_into() else {
            return Ok(());
        };
        self.last_input = now;
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        self.rtc
            .handle_input(input)
            .map_err(|e| WhepError::Rtc(e.to_string()))
    }

    /// The clock reached the instant the last [`Output::Timeout`] named (or any later one).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WhepError> {
        self.rtc
            .handle_input(Input::Timeout(now))
            .map_err(|e| WhepError::Rtc(e.to_string()))
    }

    /// The next datagram to send, event, or the instant to call [`handle_timeout`](Self::handle_timeout).
    pub fn poll_output(&mut self) -> Result<Output, WhepError> {
        loop {
            let out = self
                .rtc
                .poll_output()
                .map_err(|e| WhepError::Rtc(e.to_string()))?;
            let event = match out {
                str0m::Output::Timeout(at) => return Ok(Output::Timeout(at)),
                str0m::Output::Transmit(t) => {
                    return Ok(Output::Transmit(Transmit {
                        destination: t.destination,
                        contents: t.contents.into(),
                    }))
                }
                str0m::Output::Event(e) => e,
            };
            if let Some(event) = self.translate(event) {
                return Ok(Output::Event(event));
            }
        }
    }

    fn translate(&mut self, event: Event) -> Option<WhepEvent> {
        match event {
            Event::Connected => Some(WhepEvent::Connected),
            // ICE lost the server (it stopped answering checks), or it closed DTLS.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed
                if !self.ended =>
            {
                self.ended = true;
                Some(WhepEvent::Disconnected)
            }
            Event::MediaData(d) if d.mid == self.video => Some(WhepEvent::Video(VideoFrame {
                keyframe: annexb::is_keyframe(&d.data),
                data: d.data,
                rtp_90k: d.time.numer(),
                contiguous: d.contiguous,
                arrival: self.last_input,
            })),
            Event::MediaData(d) if d.mid == self.audio => Some(WhepEvent::Audio(AudioPacket {
                data: d.data,
                rtp_48k: d.time.numer(),
                arrival: self.last_input,
            })),
            _ => None,
        }
    }

    /// ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.rtc.is_connected()
    }

    /// The server went away or [`close`](Self::close) was called.
    pub fn is_ended(&self) -> bool {
        self.ended || !self.rtc.is_alive()
    }

    /// Ends the session: an RTCP BYE and a DTLS close_notify go out with the next transmits (drain them with
    /// [`poll_output`](Self::poll_output)). A session that cannot close cleanly is cut off.
    pub fn close(&mut self) {
        self.ended = true;
        if self.rtc.close().is_err() {
            self.rtc.disconnect();
        }
    }

    /// The socket address the session sends from.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}
