//! What the audio and video payloads of one connection say: frames, keyframes, the picture size from the
//! sequence headers, and SEI messages.

use bytes::Bytes;
use flv::avc::AvcDecoderConfig;
use flv::hevc::HevcDecoderConfig;
use flv::sei::{extract_sei_for, SeiCodec, USER_DATA_UNREGISTERED};
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{FrameClass, MediaKind};

use crate::player::machine::Frame;

/// SEI payload type Tencent Cloud's SDKs use for custom messages besides user_data_unregistered.
const SEI_TENCENT_CUSTOM: u32 = 242;

/// One audio or video frame and what the driver's statistics need from it.
#[derive(Debug, Clone)]
pub(crate) struct MediaInfo {
    /// What the machine gets.
    pub(crate) frame: Frame,
    /// Payload bytes (the tag body).
    pub(crate) bytes: usize,
    /// SEI user data carried by a video frame.
    pub(crate) sei: Vec<Bytes>,
}

/// Per-connection codec state (a new connection starts from new sequence headers).
#[derive(Debug, Default)]
pub(crate) struct Tracks {
    /// Codec and NAL length size from the last H.264/H.265 sequence header.
    nal: Option<(SeiCodec, u8)>,
    size: Option<(u32, u32)>,
}

impl Tracks {
    /// A video payload: `None` for sequence headers and other non-pictures.
    pub(crate) fn video(&mut self, timestamp_ms: u32, body: &Bytes) -> Option<MediaInfo> {
        let Ok(info) = VideoTagInfo::parse(body) else {
            // An unknown codec is still a frame that arrived; it just cannot say more.
            return Some(media(MediaKind::Video, false, timestamp_ms, body.len()));
        };
        let payload = body.get(info.header_len..).unwrap_or_default();
        let keyframe = match FrameClass::of_video(&info) {
            FrameClass::SequenceHeader => {
                self.configure(info.codec, payload);
                return None;
            }
            FrameClass::NoPicture => return None,
            class => class.is_keyframe(),
        };
        let mut m = media(MediaKind::Video, keyframe, timestamp_ms, body.len());
        if keyframe {
            // Every keyframe carries the size, so the machine sees a change at the first picture that has it.
            m.frame.width = self.size.map(|s| s.0);
            m.frame.height = self.size.map(|s| s.1);
        }
        if let Some((codec, len)) = self.nal {
            // A malformed SEI costs the message, not the frame.
            if let Ok(messages) = extract_sei_for(codec, payload, len) {
                m.sei = messages
                    .into_iter()
                    .filter(|s| {
                        s.payload_type == USER_DATA_UNREGISTERED
                            || s.payload_type == SEI_TENCENT_CUSTOM
                    })
                    .map(|s| s.data)
                    .collect();
            }
        }
        Some(m)
    }

    /// An audio payload: `None` for sequence headers.
    pub(crate) fn audio(&mut self, timestamp_ms: u32, body: &Bytes) -> Option<MediaInfo> {
        if FrameClass::of(MediaKind::Audio, body).is_sequence_header() {
            return None;
        }
        Some(media(MediaKind::Audio, false, timestamp_ms, body.len()))
    }

    fn configure(&mut self, codec: VideoCodec, record: &[u8]) {
        let parsed = match codec {
            VideoCodec::Avc => AvcDecoderConfig::parse(record).ok().map(|c| {
                let size = c.sps_info().ok().map(|s| (s.width, s.height));
                (SeiCodec::Avc, c.nalu_length_size, size)
            }),
            VideoCodec::Hevc => HevcDecoderConfig::parse(record).ok().map(|c| {
                let size = c.sps_info().ok().map(|s| (s.width, s.height));
                (SeiCodec::Hevc, c.nalu_length_size, size)
            }),
            _ => None,
        };
        if let Some((codec, len, size)) = parsed {
            self.nal = Some((codec, len));
            if size.is_some() {
                self.size = size;
            }
        }
    }
}

fn media(kind: MediaKind, keyframe: bool, timestamp_ms: u32, bytes: usize) -> MediaInfo {
    MediaInfo {
        frame: Frame {
            kind,
            keyframe,
            timestamp_ms,
            width: None,
            height: None,
        },
        bytes,
        sei: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use flv::sei::build_sei_nalu;

    /// An avcC for a 320x240 baseline stream (SPS and PPS as x264 writes them), length size 4.
    fn avcc() -> Vec<u8> {
        let sps: &[u8] = &[
            0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
            0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80,
        ];
        let pps: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];
        let mut v = vec![1, 0x42, 0xc0, 0x0d, 0xff, 0xe1];
        v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        v.extend_from_slice(sps);
        v.push(1);
        v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        v.extend_from_slice(pps);
        v
    }

    #[test]
    fn sequence_header_gives_the_size_to_keyframes_and_sei_is_extracted() {
        let mut t = Tracks::default();
        let mut seq = vec![0x17, 0, 0, 0, 0];
        seq.extend_from_slice(&avcc());
        assert!(t.video(0, &Bytes::from(seq)).is_none());

        let sei = build_sei_nalu([7; 16], br#"{"sendTime":1}"#);
        let mut key = BytesMut::from(&[0x17, 1, 0, 0, 0][..]);
        key.put_slice(&sei); // length-prefixed already
        key.put_u32(2);
        key.put_slice(&[0x65, 0x88]);
        let m = t.video(40, &key.freeze()).unwrap();
        assert!(m.frame.keyframe);
        assert_eq!((m.frame.width, m.frame.height), (Some(320), Some(240)));
        assert_eq!(m.sei, [Bytes::from_static(br#"{"sendTime":1}"#)]);

        let inter = Bytes::from_static(&[0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a]);
        let m = t.video(80, &inter).unwrap();
        assert!(!m.frame.keyframe && m.frame.width.is_none() && m.sei.is_empty());
    }

    #[test]
    fn audio_sequence_headers_are_not_frames() {
        let mut t = Tracks::default();
        assert!(t
            .audio(0, &Bytes::from_static(&[0xaf, 0, 0x12, 0x10]))
            .is_none());
        let m = t.audio(23, &Bytes::from_static(&[0xaf, 1, 0x21])).unwrap();
        assert_eq!((m.frame.kind, m.bytes), (MediaKind::Audio, 3));
    }
}
