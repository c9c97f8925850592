//! The FLV file the publisher loops: metadata and sequence headers once, then the frames with their timing.

use std::path::Path;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use client::whep::annexb::avcc_slices;
use flv::avc::AvcDecoderConfig;
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{FlvDemuxer, FrameClass, MediaKind};

use super::sendtable::slices_key;

/// Largest fixture read into memory.
const MAX_FIXTURE_BYTES: u64 = 1 << 30;

pub(super) struct Frame {
    pub kind: MediaKind,
    /// Milliseconds from the first frame of the file.
    pub ts: u32,
    pub payload: Bytes,
}

pub(super) struct Fixture {
    /// The first script tag (onMetaData), sent once after publish.
    pub metadata: Option<Bytes>,
    /// The first video and audio sequence headers, sent once after the metadata.
    pub headers: Vec<(MediaKind, Bytes)>,
    /// Every other audio and video tag in file order.
    pub frames: Vec<Frame>,
    /// Length of one loop: the last timestamp plus one video frame interval.
    pub loop_ms: u32,
    /// NAL unit length prefix size of the H.264 frames (from the AVC sequence header), to find their slices;
    /// `None` when the video is not H.264 with a readable header.
    pub nalu_length_size: Option<usize>,
}

impl Fixture {
    pub(super) fn load(path: &Path) -> Result<Self> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("cannot read fixture {}", path.display()))?
            .len();
        if len > MAX_FIXTURE_BYTES {
            bail!(
                "fixture {} is {len} bytes, more than the {MAX_FIXTURE_BYTES} the bench loads",
                path.display()
            );
        }
        let data = std::fs::read(path)
            .with_context(|| format!("cannot read fixture {}", path.display()))?;
        Self::parse(&data).with_context(|| format!("in fixture {}", path.display()))
    }

    pub(super) fn parse(data: &[u8]) -> Result<Self> {
        let mut demuxer = FlvDemuxer::new(16 << 20).skip_unknown(true);
        demuxer.handle_input(data).context("not a valid FLV file")?;
        let mut fixture = Fixture {
            metadata: None,
            headers: Vec::new(),
            frames: Vec::new(),
            loop_ms: 0,
            nalu_length_size: None,
        };
        let (mut have_video_header, mut have_audio_header) = (false, false);
        let mut first_ts = None;
        while let Some(tag) = demuxer.poll_tag() {
            let kind = tag.tag_type;
            match FrameClass::of(kind, &tag.body) {
                FrameClass::Script => {
                    if fixture.metadata.is_none() {
                        fixture.metadata = Some(tag.body);
                    }
                    continue;
                }
                // Headers the parsers refuse are no use to a player.
                FrameClass::Unknown => continue,
                FrameClass::SequenceHeader => {
                    let have = match kind {
                        MediaKind::Video => &mut have_video_header,
                        _ => &mut have_audio_header,
                    };
                    if !*have {
                        *have = true;
                        if kind == MediaKind::Video {
                            fixture.nalu_length_size = avc_length_size(&tag.body);
                        }
                        fixture.headers.push((kind, tag.body));
                    }
                    continue;
                }
                FrameClass::Keyframe | FrameClass::Frame | FrameClass::NoPicture => {}
            }
            let first = *first_ts.get_or_insert(tag.timestamp);
            fixture.frames.push(Frame {
                kind,
                ts: tag.timestamp.saturating_sub(first),
                payload: tag.body,
            });
        }
        if fixture.frames.is_empty() {
            bail!("no audio or video frames");
        }
        if !fixture
            .frames
            .iter()
            .any(|f| matches!(f.kind, MediaKind::Video))
        {
            bail!("no video frames (the bench measures first-keyframe time)");
        }
        let last = fixture.frames.iter().map(|f| f.ts).max().unwrap_or(0);
        let video: Vec<u32> = fixture
            .frames
            .iter()
            .filter(|f| matches!(f.kind, MediaKind::Video))
            .map(|f| f.ts)
            .collect();
        let interval = match (video.first(), video.last()) {
            (Some(a), Some(b)) if video.len() > 1 && b > a => (b - a) / (video.len() as u32 - 1),
            _ => 40,
        };
        fixture.loop_ms = last + interval.max(1);
        Ok(fixture)
    }

    /// The content key a WHEP player can match for `frame`: its slices' key for H.264 video, `None` for audio
    /// (which reaches WHEP players as Opus) and for video without slices.
    pub(super) fn slices_key(&self, frame: &Frame) -> Option<u64> {
        let length_size = self.nalu_length_size?;
        if frame.kind != MediaKind::Video {
            return None;
        }
        let info = VideoTagInfo::parse(&frame.payload).ok()?;
        let nals = frame.payload.get(info.header_len..)?;
        slices_key(avcc_slices(nals, length_size))
    }

    /// Average bitrate of one loop in bits per second.
    pub(super) fn bitrate(&self) -> f64 {
        let bytes: usize = self.frames.iter().map(|f| f.payload.len()).sum();
        bytes as f64 * 8.0 / (f64::from(self.loop_ms) / 1000.0)
    }
}

/// The NAL unit length size of an AVC sequence header tag, `None` for another codec or a bad header.
fn avc_length_size(body: &[u8]) -> Option<usize> {
    let info = VideoTagInfo::parse(body).ok()?;
    if info.codec != VideoCodec::Avc {
        return None;
    }
    let config = AvcDecoderConfig::parse(body.get(info.header_len..)?).ok()?;
    Some(usize::from(config.nalu_length_size))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use flv::{encode_header, encode_tag};

    use super::*;

    #[test]
    fn headers_apart_and_loop_length() {
        let mut file = BytesMut::from(&encode_header(true, true)[..]);
        encode_tag(
            &mut file,
            MediaKind::Script,
            0,
            b"\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09",
        );
        encode_tag(
            &mut file,
            MediaKind::Video,
            0,
            &[0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f],
        );
        encode_tag(&mut file, MediaKind::Audio, 0, &[0xaf, 0x00, 0x12, 0x10]);
        for i in 0..5u32 {
            let key = if i == 0 { 0x17 } else { 0x27 };
            encode_tag(
                &mut file,
                MediaKind::Video,
                100 + i * 40,
                &[key, 0x01, 0, 0, 0, 0, 0, 0, 1, i as u8],
            );
            encode_tag(
                &mut file,
                MediaKind::Audio,
                100 + i * 40,
                &[0xaf, 0x01, 0x21, i as u8],
            );
        }
        let f = Fixture::parse(&file).unwrap();
        assert!(f.metadata.is_some());
        assert_eq!(f.headers.len(), 2);
        assert_eq!(f.frames.len(), 10);
        assert_eq!((f.frames[0].ts, f.frames[9].ts), (0, 160));
        assert_eq!(f.loop_ms, 200);
        assert!(Fixture::parse(b"FLV\x01\x05\0\0\0\x09\0\0\0\0").is_err());
        assert!(Fixture::parse(b"not flv").is_err());
    }
}
