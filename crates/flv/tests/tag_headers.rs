//! Hex vectors for the audio and video tag headers: legacy FLV, the HEVC codec id 12 extension and Enhanced RTMP.

mod common;

use bytes::BytesMut;
use common::hex;
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::video::{encode_avc_header, VideoCodec, VideoFrameType, VideoTagInfo};
use flv::FlvError;

#[test]
fn video_tag_headers() {
    let v = VideoTagInfo::parse(&hex("1700000000 0164")).unwrap();
    assert_eq!(
        (v.codec, v.frame_type),
        (VideoCodec::Avc, VideoFrameType::Key)
    );
    assert!(v.is_sequence_header && v.is_keyframe() && !v.is_end_of_sequence);
    assert_eq!(v.header_len, 5);

    let v = VideoTagInfo::parse(&hex("2701000050 00000001 41")).unwrap();
    assert_eq!(
        (v.frame_type, v.composition_time, v.header_len),
        (VideoFrameType::Inter, 80, 5)
    );
    assert!(!v.is_keyframe() && !v.is_sequence_header);

    assert_eq!(
        VideoTagInfo::parse(&hex("2701fffff6"))
            .unwrap()
            .composition_time,
        -10
    );
    assert!(
        VideoTagInfo::parse(&hex("1702000000"))
            .unwrap()
            .is_end_of_sequence
    );

    // Legacy HEVC (codec id 12).
    let v = VideoTagInfo::parse(&hex("1c00000000")).unwrap();
    assert_eq!(v.codec, VideoCodec::Hevc);
    assert!(v.is_sequence_header);

    // Sorenson H.263, VP6, command frame.
    let v = VideoTagInfo::parse(&hex("22")).unwrap();
    assert_eq!((v.codec, v.header_len), (VideoCodec::Other(2), 1));
    assert_eq!(VideoTagInfo::parse(&hex("1400")).unwrap().header_len, 2);
    let v = VideoTagInfo::parse(&hex("5700")).unwrap();
    assert_eq!(
        (v.frame_type, v.header_len, v.is_keyframe()),
        (VideoFrameType::Command, 1, false)
    );

    // Generated keyframes count as keyframes.
    assert!(VideoTagInfo::parse(&hex("4701000000"))
        .unwrap()
        .is_keyframe());

    assert!(matches!(
        VideoTagInfo::parse(&[]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        VideoTagInfo::parse(&hex("1701")),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        VideoTagInfo::parse(&hex("1703000000")),
        Err(FlvError::Unsupported { .. })
    ));
}

#[test]
fn enhanced_rtmp_video_headers() {
    // SequenceStart, hvc1, key
    let v = VideoTagInfo::parse(b"\x90hvc1\x01").unwrap();
    assert_eq!(
        (v.codec, v.frame_type, v.header_len),
        (VideoCodec::Hevc, VideoFrameType::Key, 5)
    );
    assert!(v.is_sequence_header);
    // CodedFrames, hvc1: 24-bit composition time follows.
    let v = VideoTagInfo::parse(b"\x91hvc1\x00\x00\x28\x00\x00\x00\x01\x26").unwrap();
    assert_eq!((v.composition_time, v.header_len), (40, 8));
    assert!(v.is_keyframe() && !v.is_sequence_header);
    // CodedFramesX, avc1, inter: composition time 0, no field.
    let v = VideoTagInfo::parse(b"\xa3avc1").unwrap();
    assert_eq!(
        (v.codec, v.frame_type, v.composition_time, v.header_len),
        (VideoCodec::Avc, VideoFrameType::Inter, 0, 5)
    );
    // CodedFrames for AV1 and VP9 carry no composition time.
    let v = VideoTagInfo::parse(b"\x91av01\x12\x00").unwrap();
    assert_eq!((v.codec, v.header_len), (VideoCodec::Av1, 5));
    let v = VideoTagInfo::parse(b"\x92vp09").unwrap();
    assert_eq!(v.codec, VideoCodec::Vp9);
    assert!(v.is_end_of_sequence);

    assert!(matches!(
        VideoTagInfo::parse(b"\x91hvc1\x00"),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        VideoTagInfo::parse(b"\x90hvc"),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        VideoTagInfo::parse(b"\x90vvc1"),
        Err(FlvError::UnsupportedFourCc { .. })
    ));
    // Multitrack.
    assert!(matches!(
        VideoTagInfo::parse(b"\x96\x00hvc1"),
        Err(FlvError::Unsupported { .. })
    ));
    // ModEx (TimestampOffsetNano, 3 bytes of data) before CodedFrames hvc1: skipped.
    let v = VideoTagInfo::parse(b"\x97\x02\x00\x01\x02\x01hvc1\x00\x00\x28").unwrap();
    assert_eq!(
        (v.codec, v.composition_time, v.header_len),
        (VideoCodec::Hevc, 40, 13)
    );
    // Two ModEx entries, the second with a 16-bit size (0x0100 + 1 = 257 bytes), then SequenceStart av01.
    let mut b = b"\xa7\x00\x00\x07\xff\x01\x00".to_vec();
    b.extend_from_slice(&[0; 257]);
    b.extend_from_slice(b"\x00av01");
    let v = VideoTagInfo::parse(&b).unwrap();
    assert_eq!(
        (v.codec, v.is_sequence_header, v.header_len),
        (VideoCodec::Av1, true, b.len())
    );
    assert!(matches!(
        VideoTagInfo::parse(&b[..b.len() - 5]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        VideoTagInfo::parse(b"\x97\x00"),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        VideoTagInfo::parse(b"\x97\xff\x00"),
        Err(FlvError::Truncated { .. })
    ));
    // Command frame: a UI8 command instead of the FourCC.
    let v = VideoTagInfo::parse(b"\xd0\x01").unwrap();
    assert_eq!(
        (v.frame_type, v.codec, v.header_len),
        (VideoFrameType::Command, VideoCodec::Other(0), 2)
    );
    assert!(!v.is_keyframe());
    // ... except with Metadata, which keeps its FourCC.
    let v = VideoTagInfo::parse(b"\xd4hvc1\x02").unwrap();
    assert_eq!((v.codec, v.header_len), (VideoCodec::Hevc, 5));
}

#[test]
fn encode_avc_header_bytes() {
    let mut out = BytesMut::new();
    encode_avc_header(&mut out, true, 0, 0);
    encode_avc_header(&mut out, false, 1, -10);
    encode_avc_header(&mut out, true, 1, 0x123456);
    assert_eq!(&out[..], &hex("1700000000 2701fffff6 1701123456")[..]);
    let v = VideoTagInfo::parse(&out[5..]).unwrap();
    assert_eq!(v.composition_time, -10);
}

#[test]
fn audio_tag_headers() {
    let a = AudioTagInfo::parse(&hex("af00 1210")).unwrap();
    assert_eq!(a.format, SoundFormat::Aac);
    assert_eq!(
        (a.rate_index, a.sample_size_16bit, a.stereo),
        (3, true, true)
    );
    assert!(a.is_sequence_header);
    assert_eq!(a.header_len, 2);
    let a = AudioTagInfo::parse(&hex("ae01 21")).unwrap();
    assert!(!a.is_sequence_header && !a.stereo);

    let a = AudioTagInfo::parse(&hex("2f ff")).unwrap();
    assert_eq!((a.format, a.header_len), (SoundFormat::Mp3, 1));
    assert_eq!(
        AudioTagInfo::parse(&hex("e2")).unwrap().format,
        SoundFormat::Mp3
    );
    assert_eq!(
        AudioTagInfo::parse(&hex("72")).unwrap().format,
        SoundFormat::G711A
    );
    assert_eq!(
        AudioTagInfo::parse(&hex("82")).unwrap().format,
        SoundFormat::G711U
    );
    assert_eq!(
        AudioTagInfo::parse(&hex("b6")).unwrap().format,
        SoundFormat::Speex
    );
    assert_eq!(
        AudioTagInfo::parse(&hex("d6")).unwrap().format,
        SoundFormat::Opus
    );
    assert_eq!(
        AudioTagInfo::parse(&hex("3e")).unwrap().format,
        SoundFormat::Other(3)
    );

    // Enhanced RTMP audio: SequenceStart mp4a, CodedFrames Opus.
    let a = AudioTagInfo::parse(b"\x90mp4a\x12\x10").unwrap();
    assert_eq!(
        (a.format, a.is_sequence_header, a.header_len),
        (SoundFormat::Aac, true, 5)
    );
    let a = AudioTagInfo::parse(b"\x91Opus\xfc").unwrap();
    assert_eq!((a.format, a.is_sequence_header), (SoundFormat::Opus, false));

    assert!(matches!(
        AudioTagInfo::parse(&[]),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        AudioTagInfo::parse(&hex("af")),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        AudioTagInfo::parse(&hex("af02")),
        Err(FlvError::Unsupported { .. })
    ));
    assert!(matches!(
        AudioTagInfo::parse(b"\x90fLa"),
        Err(FlvError::Truncated { .. })
    ));
    assert!(matches!(
        AudioTagInfo::parse(b"\x90fLaC"),
        Err(FlvError::UnsupportedFourCc { .. })
    ));
    assert!(matches!(
        AudioTagInfo::parse(b"\x95mp4a"),
        Err(FlvError::Unsupported { .. })
    ));
    assert!(matches!(
        AudioTagInfo::parse(b"\x94mp4a"),
        Err(FlvError::Unsupported { .. })
    ));
    // ModEx skipped before CodedFrames Opus.
    let a = AudioTagInfo::parse(b"\x97\x02\x00\x01\x02\x01Opus\xfc").unwrap();
    assert_eq!(
        (a.format, a.is_sequence_header, a.header_len),
        (SoundFormat::Opus, false, 10)
    );
}
