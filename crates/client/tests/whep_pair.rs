//! The sans-IO WHEP session against an ICE-lite str0m answerer built the way mplive's server builds its sessions,
//! datagrams handed across in memory and the clock stepped by hand: the offer is answerable, ICE and DTLS come up,
//! and an access unit written on the answerer arrives as one `Video` event with the same slices.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client::whep::annexb::{is_keyframe, slices};
use client::whep::{Output, WhepEvent, WhepSession, WhepSetup};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Rtc};

/// SPS, PPS and an IDR slice big enough to be split over several packets (FU-A).
fn keyframe() -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40];
    au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
    au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
    // Never two zeros in a row: the bytes stay one NAL unit.
    au.extend((0..4000u32).map(|i| (i % 251) as u8 | 1));
    au
}

#[test]
fn connects_to_an_ice_lite_answerer_and_receives_an_access_unit() {
    let client_addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let server_addr: SocketAddr = "127.0.0.1:8189".parse().unwrap();
    let mut now = Instant::now();
    let setup = WhepSetup::new().unwrap();
    let (mut client, offer) = WhepSession::new(&setup, client_addr, now).unwrap();
    assert!(offer.contains("a=recvonly"), "{offer}");
    assert!(!offer.contains("a=ice-lite"), "{offer}");

    let mut server = Rtc::builder()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(now);
    server.add_local_candidate(Candidate::host(server_addr, "udp").unwrap());
    let offer = SdpOffer::from_sdp_string(&offer).unwrap();
    let answer = server.sdp_api().accept_offer(offer).unwrap();
    client.handle_answer(&answer.to_sdp_string()).unwrap();
    assert!(
        client.handle_answer(&answer.to_sdp_string()).is_err(),
        "a second answer"
    );

    let sent = keyframe();
    let (mut connected, mut written, mut video_mid) = (false, false, None);
    let mut events = Vec::new();
    for _ in 0..2000 {
        // The client's output to the server.
        loop {
            match client.poll_output().unwrap() {
                Output::Transmit(t) => {
                    assert_eq!(t.destination, server_addr);
                    let input = Input::Receive(
                        now,
                        Receive {
                            proto: Protocol::Udp,
                            source: client_addr,
                            destination: server_addr,
                            contents: t.contents.as_slice().try_into().unwrap(),
                        },
                    );
                    server.handle_input(input).unwrap();
                }
                Output::Event(e) => events.push(e),
                Output::Timeout(_) => break,
            }
        }
        // The server's output to the client.
        loop {
            match server.poll_output().unwrap() {
                str0m::Output::Transmit(t) => client
                    .handle_datagram(now, server_addr, &t.contents)
                    .unwrap(),
                str0m::Output::Event(Event::Connected) => connected = true,
                str0m::Output::Event(Event::MediaAdded(m)) if m.kind == MediaKind::Video => {
                    video_mid = Some(m.mid)
                }
                str0m::Output::Event(_) => {}
                str0m::Output::Timeout(_) => break,
            }
        }
        if let (true, false, Some(mid)) = (connected, written, video_mid) {
            let writer = server.writer(mid).unwrap();
            let pt = writer
                .payload_params()
                .find(|p| {
                    p.spec().codec == Codec::H264 && p.spec().format.packetization_mode == Some(1)
                })
                .map(|p| p.pt())
                .unwrap();
            writer
                .write(pt, now, MediaTime::from_90khz(90_000), sent.clone())
                .unwrap();
            written = true;
        }
        if events.iter().any(|e| matches!(e, WhepEvent::Video(_))) {
            break;
        }
        now += Duration::from_millis(5);
        client.handle_timeout(now).unwrap();
        server.handle_input(Input::Timeout(now)).unwrap();
    }
    assert!(client.is_connected());
    assert!(
        matches!(events.first(), Some(WhepEvent::Connected)),
        "{events:?}"
    );
    let frame = events
        .iter()
        .find_map(|e| match e {
            WhepEvent::Video(f) => Some(f),
            _ => None,
        })
        .expect("the access unit arrived");
    assert!(frame.keyframe && is_keyframe(&frame.data));
    assert_eq!(frame.rtp_90k % (1 << 32), 90_000);
    let got: Vec<&[u8]> = slices(&frame.data).collect();
    let want: Vec<&[u8]> = slices(&sent).collect();
    assert_eq!(got, want);

    // Closing queues the DTLS close_notify; the answerer sees the session end.
    client.close();
    assert!(client.is_ended());
    let mut closed = false;
    while let Output::Transmit(t) = client.poll_output().unwrap() {
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: client_addr,
                destination: server_addr,
                contents: t.contents.as_slice().try_into().unwrap(),
            },
        );
        server.handle_input(input).unwrap();
        while let Ok(out) = server.poll_output() {
            match out {
                str0m::Output::Event(Event::Closed) => closed = true,
                str0m::Output::Timeout(_) => break,
                _ => {}
            }
        }
    }
    assert!(closed || !server.is_alive(), "the answerer saw no close");
}
