//! FlvDemuxer: hex vectors, error cases, and encode_tag -> FlvDemuxer round trips in random splits.

mod common;

use bytes::BytesMut;
use common::hex;
use flv::{encode_header, encode_tag, FlvDemuxer, FlvError, FlvHeader, MediaKind, Tag};
use proptest::prelude::*;

fn demux_all(d: &mut FlvDemuxer, data: &[u8]) -> Result<Vec<Tag>, FlvError> {
    d.handle_input(data)?;
    Ok(std::iter::from_fn(|| d.poll_tag()).collect())
}

#[test]
fn hex_stream() {
    // Header (audio+video), one script tag with extended timestamp 0x01000005, PreviousTagSize 11 + 3.
    let data = hex("464c5601 05 00000009 00000000
         12 000003 000005 01 000000 020000 0000000e");
    let mut d = FlvDemuxer::new(1024);
    let tags = demux_all(&mut d, &data).unwrap();
    assert_eq!(
        d.header(),
        Some(FlvHeader {
            has_audio: true,
            has_video: true
        })
    );
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].tag_type, MediaKind::Script);
    assert_eq!(tags[0].timestamp, 0x0100_0005);
    assert_eq!(&tags[0].body[..], &[2, 0, 0]);
    assert_eq!(d.buffered_len(), 0);
}

/// `buffered_len` counts the bytes of a tag still incomplete, and drops to 0 once it is polled out.
#[test]
fn buffered_len_counts_an_incomplete_tag() {
    let mut tag = BytesMut::new();
    encode_tag(&mut tag, MediaKind::Video, 40, &[0x17, 1, 0, 0, 0, 9, 9]);
    let mut d = FlvDemuxer::new(1024);
    d.handle_input(&encode_header(false, true)).unwrap();
    assert_eq!(d.buffered_len(), 0);
    d.handle_input(&tag[..5]).unwrap();
    assert_eq!((d.buffered_len(), d.poll_tag()), (5, None));
    d.handle_input(&tag[5..tag.len() - 1]).unwrap();
    assert_eq!((d.buffered_len(), d.poll_tag()), (tag.len() - 1, None));
    d.handle_input(&tag[tag.len() - 1..]).unwrap();
    assert_eq!(d.poll_tag().map(|t| t.timestamp), Some(40));
    assert_eq!(d.buffered_len(), 0);
    // `max_tag_size` is the largest body accepted: exactly that size demuxes.
    let mut d = FlvDemuxer::new(7);
    d.handle_input(&encode_header(false, true)).unwrap();
    d.handle_input(&tag).unwrap();
    assert_eq!(d.poll_tag().map(|t| t.body.len()), Some(7));
}

#[test]
fn byte_by_byte() {
    let mut file = BytesMut::from(&encode_header(true, false)[..]);
    encode_tag(&mut file, MediaKind::Audio, 7, &[0xaf, 0x00, 0x12, 0x10]);
    encode_tag(&mut file, MediaKind::Audio, 30, &[]);
    let mut d = FlvDemuxer::new(16);
    let mut tags = Vec::new();
    for b in file.iter() {
        d.handle_input(&[*b]).unwrap();
        tags.extend(std::iter::from_fn(|| d.poll_tag()));
    }
    assert_eq!(tags.len(), 2);
    assert_eq!(
        (tags[0].timestamp, &tags[0].body[..]),
        (7, &[0xaf, 0x00, 0x12, 0x10][..])
    );
    assert_eq!((tags[1].timestamp, tags[1].body.len()), (30, 0));
    assert_eq!(
        d.header(),
        Some(FlvHeader {
            has_audio: true,
            has_video: false
        })
    );
}

#[test]
fn bad_signature_fails_early() {
    let mut d = FlvDemuxer::new(1024);
    let e = d.handle_input(b"GET").unwrap_err();
    assert_eq!(e, FlvError::BadSignature { got: *b"GET\0" });
    // Dead afterwards.
    assert!(matches!(d.handle_input(b"FLV"), Err(FlvError::Failed(_))));
    // Version 2.
    let mut d = FlvDemuxer::new(1024);
    assert!(matches!(
        d.handle_input(&hex("464c5602")),
        Err(FlvError::BadSignature { .. })
    ));
}

#[test]
fn data_offset_padding_and_bounds() {
    // DataOffset 12: three padding bytes before PreviousTagSize0.
    let mut data = hex("464c5601 01 0000000c aabbcc 00000000");
    let mut body = BytesMut::new();
    encode_tag(&mut body, MediaKind::Video, 1, &[0x17, 0x02, 0, 0, 0]);
    data.extend_from_slice(&body);
    let mut d = FlvDemuxer::new(1024);
    assert_eq!(demux_all(&mut d, &data).unwrap().len(), 1);

    let mut d = FlvDemuxer::new(1024);
    let e = d.handle_input(&hex("464c5601 01 00000008")).unwrap_err();
    assert!(matches!(e, FlvError::BadConfig { .. }), "{e}");
    let mut d = FlvDemuxer::new(1024);
    let e = d.handle_input(&hex("464c5601 01 ffffffff")).unwrap_err();
    assert!(matches!(e, FlvError::BadConfig { .. }), "{e}");
    // PreviousTagSize0 must be 0.
    let mut d = FlvDemuxer::new(1024);
    let e = d
        .handle_input(&hex("464c5601 01 00000009 00000001"))
        .unwrap_err();
    assert_eq!(
        e,
        FlvError::PreviousTagSizeMismatch {
            expected: 0,
            got: 1
        }
    );
}

#[test]
fn oversized_tag_refused_from_its_header() {
    let mut d = FlvDemuxer::new(100);
    d.handle_input(&encode_header(true, true)).unwrap();
    // Only the 11-byte header of a 16 MiB tag: refused before any body arrives.
    let e = d
        .handle_input(&hex("09 ffffff 000000 00 000000"))
        .unwrap_err();
    assert_eq!(
        e,
        FlvError::TagTooLarge {
            size: 0xFF_FFFF,
            max: 100
        }
    );
    assert_eq!(d.buffered_len(), 0);
}

#[test]
fn previous_tag_size_mismatch() {
    let mut data = encode_header(true, true).to_vec();
    data.extend_from_slice(&hex("08 000001 000000 00 000000 af 0000000b"));
    let mut d = FlvDemuxer::new(100);
    let e = d.handle_input(&data).unwrap_err();
    assert_eq!(
        e,
        FlvError::PreviousTagSizeMismatch {
            expected: 12,
            got: 11
        }
    );
}

#[test]
fn tags_before_an_error_are_kept() {
    let mut data = BytesMut::from(&encode_header(true, true)[..]);
    encode_tag(&mut data, MediaKind::Audio, 1, &[0xaf, 0x01]);
    data.extend_from_slice(&hex("07 000000 000000 00 000000 0000000b"));
    let mut d = FlvDemuxer::new(100);
    assert_eq!(
        d.handle_input(&data).unwrap_err(),
        FlvError::UnknownTagType { value: 7 }
    );
    assert_eq!(d.poll_tag().unwrap().timestamp, 1);
    assert!(d.poll_tag().is_none());
}

#[test]
fn unknown_and_filtered_tags() {
    let unknown = hex("07 000001 000000 00 000000 ff 0000000c");
    let filtered = hex("28 000001 000000 00 000000 ff 0000000c");
    let mut tail = BytesMut::new();
    encode_tag(&mut tail, MediaKind::Video, 3, &[0x27]);

    let mut d = FlvDemuxer::without_file_header(100);
    assert_eq!(
        d.handle_input(&filtered).unwrap_err(),
        FlvError::FilteredTag { value: 0x28 }
    );

    let mut d = FlvDemuxer::without_file_header(100).skip_unknown(true);
    let mut all = unknown.clone();
    all.extend_from_slice(&filtered);
    all.extend_from_slice(&tail);
    let tags = demux_all(&mut d, &all).unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!((tags[0].tag_type, tags[0].timestamp), (MediaKind::Video, 3));
    assert_eq!(d.header(), None);
}

fn arb_tag() -> impl Strategy<Value = (MediaKind, u32, Vec<u8>)> {
    (
        prop_oneof![
            Just(MediaKind::Audio),
            Just(MediaKind::Video),
            Just(MediaKind::Script)
        ],
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
}

proptest! {
    #[test]
    fn round_trip_in_random_splits(
        tags in proptest::collection::vec(arb_tag(), 0..20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
        has_audio: bool,
        has_video: bool,
    ) {
        let mut file = BytesMut::from(&encode_header(has_audio, has_video)[..]);
        for (t, ts, body) in &tags {
            encode_tag(&mut file, *t, *ts, body);
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(file.len() + 1)).collect();
        points.push(0);
        points.push(file.len());
        points.sort_unstable();

        let mut d = FlvDemuxer::new(300);
        let mut got = Vec::new();
        for w in points.windows(2) {
            d.handle_input(&file[w[0]..w[1]]).unwrap();
            got.extend(std::iter::from_fn(|| d.poll_tag()));
        }
        prop_assert_eq!(d.header(), Some(FlvHeader { has_audio, has_video }));
        prop_assert_eq!(got.len(), tags.len());
        for (g, (t, ts, body)) in got.iter().zip(&tags) {
            prop_assert_eq!(g.tag_type, *t);
            prop_assert_eq!(g.timestamp, *ts);
            prop_assert_eq!(&g.body[..], &body[..]);
        }
        prop_assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn random_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000), skip: bool) {
        let mut d = FlvDemuxer::new(512).skip_unknown(skip);
        let _ = d.handle_input(&data);
        while d.poll_tag().is_some() {}
        let mut d = FlvDemuxer::without_file_header(512).skip_unknown(skip);
        let _ = d.handle_input(&data);
        while let Some(tag) = d.poll_tag() {
            prop_assert!(tag.body.len() <= 512);
        }
    }

    #[test]
    fn corrupted_stream_never_panics(
        tags in proptest::collection::vec(arb_tag(), 1..5),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut file = BytesMut::from(&encode_header(true, true)[..]);
        for (t, ts, body) in &tags {
            encode_tag(&mut file, *t, *ts, body);
        }
        for (i, v) in flips {
            let i = i.index(file.len());
            file[i] ^= v;
        }
        let mut d = FlvDemuxer::new(300);
        let _ = d.handle_input(&file);
        while d.poll_tag().is_some() {}
    }
}
