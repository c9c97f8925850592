//! SEI extraction and building: real x264/x265 messages, hand-written emulation-prevention vectors, round trips.

mod common;

use bytes::BytesMut;
use common::hex;
use flv::sei::{
    build_sei_nalu, extract_sei, extract_sei_for, SeiCodec, SeiMessage, USER_DATA_UNREGISTERED,
};
use flv::FlvError;
use proptest::prelude::*;

const UUID: [u8; 16] = *b"mplive-sei-uuid!";

#[test]
fn hand_written_vector_with_emulation_prevention() {
    // One SEI NAL: user_data_unregistered, size 20 (16-byte UUID + 4 bytes). The UUID starts 00 00 01 and the
    // data is 00 00 00 02: both escaped with 03 on the wire. Then a Tencent-style type 242 message of 3 bytes,
    // then rbsp trailing bits. An IDR slice NAL follows and is skipped.
    let nal = hex("06
         05 14
         000003 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e
         000003 00 02
         f2 03 000003 01
         80");
    let mut data = (nal.len() as u32).to_be_bytes().to_vec();
    data.extend_from_slice(&nal);
    data.extend_from_slice(&hex("00000002 6588"));

    let msgs = extract_sei(&data, 4).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].payload_type, USER_DATA_UNREGISTERED);
    assert_eq!(
        msgs[0].uuid,
        Some(hex("000001 02030405060708090a0b0c0d0e").try_into().unwrap())
    );
    assert_eq!(&msgs[0].data[..], &[0, 0, 0, 2]);
    assert_eq!(msgs[1].payload_type, 242);
    assert_eq!(msgs[1].uuid, None);
    assert_eq!(&msgs[1].data[..], &[0, 0, 1]);
}

#[test]
fn payload_type_and_size_with_ff_continuation() {
    // payloadType 255 + 5 = 260, payloadSize 255 + 1 = 256.
    let mut nal = hex("06 ff05 ff01");
    nal.extend(std::iter::repeat_n(0x11, 256));
    nal.push(0x80);
    let mut data = (nal.len() as u32).to_be_bytes().to_vec();
    data.extend_from_slice(&nal);
    let msgs = extract_sei(&data, 4).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].payload_type, msgs[0].data.len()), (260, 256));
}

#[test]
fn real_x264_sei() {
    // The first NAL of x264's first frame: its version string as user_data_unregistered (payloadSize 255 + 255 +
    // 0xaa = 680), UUID dc45e9bd-e6d9-48b7-962c-d820d923eeef.
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/flv_avc/sei_x264_nalu"
    ))
    .unwrap();
    let msgs = extract_sei(&data, 4).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0].uuid,
        Some(hex("dc45e9bde6d948b7962cd820d923eeef").try_into().unwrap())
    );
    assert_eq!(msgs[0].data.len(), 680 - 16);
    assert!(msgs[0].data.starts_with(b"x264 - core"));
}

#[test]
fn hevc_prefix_sei() {
    // A prefix SEI NAL (type 39: header 4e 01) with user_data_unregistered, as x265 writes into hvcC.
    let mut nal = hex("4e01 05 14");
    nal.extend_from_slice(&UUID);
    nal.extend_from_slice(b"x265");
    nal.push(0x80);
    let mut data = (nal.len() as u32).to_be_bytes().to_vec();
    data.extend_from_slice(&nal);
    let msgs = extract_sei_for(SeiCodec::Hevc, &data, 4).unwrap();
    assert_eq!(
        msgs,
        [SeiMessage {
            payload_type: 5,
            uuid: Some(UUID),
            data: b"x265"[..].into()
        }]
    );
    // Read as H.264, 0x4e is NAL type 14 (prefix NAL): no SEI.
    assert!(extract_sei(&data, 4).unwrap().is_empty());
}

#[test]
fn build_sei_exact_bytes() {
    let nal = build_sei_nalu(UUID, b"hi");
    let mut expected = hex("00000016 06 05 12");
    expected.extend_from_slice(&UUID);
    expected.extend_from_slice(b"hi");
    expected.push(0x80);
    assert_eq!(&nal[..], &expected[..]);

    // 19 zeros (UUID + message): an 03 goes before every third zero on the wire.
    let nal = build_sei_nalu([0; 16], &[0, 0, 0]);
    assert_eq!(
        &nal[..],
        &hex("00000020 06 05 13 000003 000003 000003 000003 000003 000003 000003 000003 000003 00 80")[..]
    );
}

#[test]
fn truncated_sei_is_an_error() {
    assert!(matches!(
        extract_sei(&hex("00000003 06 05 14"), 4),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        extract_sei(&hex("00000002 06 05"), 4),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        extract_sei(&hex("00000004 06 05 02 aaaa"), 4),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        extract_sei(&hex("00000009 06"), 4),
        Err(FlvError::Truncated { .. })
    ));
    // An empty SEI NAL or one with only trailing bits has no messages.
    assert!(extract_sei(&hex("00000001 06 00000002 0680"), 4)
        .unwrap()
        .is_empty());
}

proptest! {
    #[test]
    fn build_then_extract(uuid: [u8; 16], message in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let nal = build_sei_nalu(uuid, &message);
        // No start code or forbidden sequence survives escaping.
        for w in nal[5..].windows(3) {
            prop_assert!(!(w[0] == 0 && w[1] == 0 && w[2] <= 2));
        }
        let mut au = BytesMut::from(&nal[..]);
        au.extend_from_slice(&hex("00000002 6588"));
        let msgs = extract_sei(&au, 4).unwrap();
        prop_assert_eq!(msgs.len(), 1);
        prop_assert_eq!(msgs[0].uuid, Some(uuid));
        prop_assert_eq!(&msgs[0].data[..], &message[..]);
    }

    #[test]
    fn random_nalus_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), len_size in 0u8..6) {
        let _ = extract_sei(&data, len_size);
        let _ = extract_sei_for(SeiCodec::Hevc, &data, len_size);
        // Force SEI NAL types so the message parser runs on random bytes.
        let mut sei = (data.len() as u32 + 1).to_be_bytes().to_vec();
        sei.push(6);
        sei.extend_from_slice(&data);
        let _ = extract_sei(&sei, 4);
    }
}
