//! What a stream's WebRTC viewers share, kept in the stream's entry: each video frame converted to Annex B once
//! for all of them, and one AAC -> Opus transcoder per stream whose packets every viewer's feeder
//! ([`super::feeder`]) writes to its audio m-line (negotiated as Opus: [`super::offer`]).
//!
//! The transcoder is stateful (its resampler and encoder carry samples from frame to frame), so it must see the
//! stream's AAC frames once each, in order: the first viewer to read a frame transcodes it and the Opus packets
//! are cached by the frame's hub sequence number for the others. A viewer behind the cache (a new viewer
//! replaying an old GOP while another is at the live edge) gets no audio for those frames rather than feeding
//! the transcoder frames it has already passed; the browser starts the audio track at the frames that follow.
//!
//! It also notices, once per stream, a stream that starts sending B-frames after its sessions began (a republish
//! with another encoder setting): browsers do not play them (docs/webrtc.md, "B-frames"), so the feeders end
//! their sessions when [`StreamSource::b_frames`] says so.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use audio::{AacToOpus, AacToOpusConfig};
use bytes::Bytes;
use media::{Frame, MediaFrame};
use parking_lot::Mutex;
use tracing::{debug, info};

use super::bframes::video_tag_reorders;
use super::h264::{AccessUnit, Annexb, Video, VideoError};

/// Converted frames remembered per stream: enough for viewers a few frames apart to share them.
const CACHED_FRAMES: usize = 64;

/// FLV `SoundFormat` of AAC (the high nibble of an audio tag's first byte).
const FLV_AAC: u8 = 10;

/// One Opus packet for the audio m-line.
#[derive(Debug, Clone)]
pub(crate) struct OpusOut {
    /// The packet.
    pub(crate) data: Arc<[u8]>,
    /// Its timestamp at 48 kHz.
    pub(crate) pts_48k: u64,
}

/// The WebRTC side of one live stream (a field of its `StreamEntry`).
#[derive(Default)]
pub(crate) struct StreamSource {
    /// Recently converted video frames by hub sequence number.
    video: Mutex<VecDeque<(u64, AccessUnit)>>,
    /// The stream's AAC -> Opus transcoder and its recent packets.
    audio: Mutex<AudioState>,
    /// Whether the stream reorders pictures since its last sequence header.
    reorder: Mutex<Reorder>,
    /// `reorder.why.is_some()`, read by every feeder after every picture without taking the lock.
    reordered: AtomicBool,
}

/// B-frames in the stream, as seen since its last AVC sequence header.
#[derive(Default)]
struct Reorder {
    /// Hub sequence number of that header: a newer one starts over, pictures older than it are not looked at.
    header_seq: Option<u64>,
    /// Why the stream is reordered, if it is.
    why: Option<Arc<str>>,
    /// The stream's log line about it was written.
    announced: bool,
}

/// The per-stream transcoder, following the stream's AAC sequence header.
#[derive(Default)]
struct AudioState {
    /// Hub sequence number of the sequence header the transcoder was made from.
    header_seq: Option<u64>,
    /// That header's AudioSpecificConfig: a re-published header with the same bytes keeps the transcoder.
    asc: Bytes,
    /// `None` before the first header, or when the header is not AAC or not supported (no audio then).
    transcoder: Option<AacToOpus>,
    /// The last frame pushed into the transcoder: older frames that miss the cache are not pushed.
    last_seq: Option<u64>,
    /// Opus packets by the hub sequence number of the AAC frame that completed them (often none).
    cache: VecDeque<(u64, Vec<OpusOut>)>,
}

impl StreamSource {
    /// `frame` (a video picture) in Annex B: converted by the first viewer that reads it, shared by the others.
    /// `annexb` is the viewer's own parameter-set state (a viewer that joined later has read the same sequence
    /// header first), so a cache miss gives the same bytes a hit would.
    pub(crate) fn video(
        &self,
        annexb: &mut Annexb,
        frame: &MediaFrame,
    ) -> Result<Video, VideoError> {
        self.video_of(annexb, frame.seq(), frame.frame())
    }

    /// [`video`](Self::video) of the frame with hub sequence number `seq`.
    fn video_of(&self, annexb: &mut Annexb, seq: u64, f: &Frame) -> Result<Video, VideoError> {
        if f.sequence_header {
            self.header_seen(seq, &f.payload);
            return annexb.push(&f.payload);
        }
        if let Some(au) = self
            .video
            .lock()
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, au)| au.clone())
        {
            return Ok(Video::Picture(au));
        }
        let converted = annexb.push(&f.payload)?;
        if let Video::Picture(au) = &converted {
            // Once per frame for the stream (here, where the first viewer converts it): a composition offset is
            // the cheap sign of B-frames that the offer-time check uses too.
            if au.composition_ms != 0 {
                self.reordering_seen(seq, au.composition_ms);
            }
            let mut cache = self.video.lock();
            if cache.len() == CACHED_FRAMES {
                cache.pop_front();
            }
            cache.push_back((seq, au.clone()));
        }
        Ok(converted)
    }

    /// Why the stream now has B-frames, if it has since its last sequence header: its sessions end then.
    pub(crate) fn b_frames(&self) -> Option<Arc<str>> {
        if !self.reordered.load(Ordering::Relaxed) {
            return None;
        }
        self.reorder.lock().why.clone()
    }

    /// `true` for the first caller after B-frames were seen: that one writes the stream's log line.
    pub(crate) fn announce_b_frames(&self) -> bool {
        let mut r = self.reorder.lock();
        r.why.is_some() && !std::mem::replace(&mut r.announced, true)
    }

    /// A sequence header read by a viewer: a newer one than the last starts over, reordered if its SPS says so.
    fn header_seen(&self, seq: u64, payload: &[u8]) {
        let mut r = self.reorder.lock();
        if r.header_seq.is_some_and(|h| seq <= h) {
            return; // replayed to a new viewer, or read by the others after the first
        }
        r.header_seq = Some(seq);
        r.why = video_tag_reorders(payload).map(Arc::from);
        r.announced = false;
        self.reordered.store(r.why.is_some(), Ordering::Relaxed);
    }

    /// A picture with a composition time offset, hub sequence number `seq`.
    fn reordering_seen(&self, seq: u64, composition_ms: i32) {
        let mut r = self.reorder.lock();
        if r.why.is_some() || r.header_seq.is_some_and(|h| seq < h) {
            return;
        }
        r.why = Some(Arc::from(format!(
            "its pictures carry composition time offsets ({composition_ms} ms)"
        )));
        self.reordered.store(true, Ordering::Relaxed);
    }

    /// The Opus packets completed by `frame` (an audio frame of the stream, sequence header or not): transcoded
    /// by the first viewer that reads it, shared by the others. A sequence header (re)creates the transcoder
    /// when it differs from the one in use; what cannot be transcoded (not AAC, a refused configuration, a
    /// frame that does not decode) gives no packets, and the video plays on alone.
    pub(crate) fn opus(
        &self,
        frame: &MediaFrame,
        config: &AacToOpusConfig,
        cache_frames: usize,
    ) -> Vec<OpusOut> {
        self.opus_of(frame.seq(), frame.frame(), config, cache_frames)
    }

    /// [`opus`](Self::opus) of the frame with hub sequence number `seq`.
    fn opus_of(
        &self,
        seq: u64,
        f: &Frame,
        config: &AacToOpusConfig,
        cache_frames: usize,
    ) -> Vec<OpusOut> {
        let mut state = self.audio.lock();
        let Some((&flags, rest)) = f.payload.split_first() else {
            return Vec::new();
        };
        // `[AACPacketType, data...]`; other formats (MP3, ...) are not transcoded.
        let Some((_packet_type, data)) = rest.split_first().filter(|_| flags >> 4 == FLV_AAC)
        else {
            if f.sequence_header && state.header_seq.is_none_or(|h| seq > h) {
                debug!(
                    format = flags >> 4,
                    "WHEP: the stream's audio is not AAC: no audio"
                );
                state.header_seq = Some(seq);
                state.transcoder = None;
            }
            return Vec::new();
        };
        if f.sequence_header {
            // Every viewer reads the header (replayed to new subscribers with its first sequence number): only a
            // newer one with other bytes replaces the transcoder.
            if state.header_seq.is_some_and(|h| seq <= h) {
                return Vec::new();
            }
            state.header_seq = Some(seq);
            if state.transcoder.is_some() && state.asc == data {
                return Vec::new();
            }
            state.asc = f.payload.slice(2..);
            state.transcoder = match AacToOpus::with_config(data, config.clone()) {
                Ok(t) => Some(t),
                Err(e) => {
                    info!("WHEP: the stream's AAC is not transcoded to Opus ({e}): no audio");
                    None
                }
            };
            state.last_seq = None;
            state.cache.clear();
            return Vec::new();
        }
        if let Some((_, packets)) = state.cache.iter().rev().find(|(s, _)| *s == seq) {
            return packets.clone();
        }
        if state.last_seq.is_some_and(|last| seq <= last) {
            return Vec::new(); // already passed by the transcoder and no longer cached
        }
        let Some(transcoder) = state.transcoder.as_mut() else {
            return Vec::new();
        };
        let packets: Vec<OpusOut> = match transcoder.push(data, f.timestamp) {
            Ok(packets) => packets
                .into_iter()
                .map(|p| OpusOut {
                    data: Arc::from(p.data.as_ref()),
                    pts_48k: p.pts_48k,
                })
                .collect(),
            Err(e) => {
                debug!("WHEP: AAC frame not transcoded: {e}");
                Vec::new()
            }
        };
        state.last_seq = Some(seq);
        while state.cache.len() >= cache_frames.max(1) {
            state.cache.pop_front();
        }
        state.cache.push_back((seq, packets.clone()));
        packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::MediaKind;

    /// FLV audio tag bodies: AAC (0xAF: AAC, 44.1 kHz, 16-bit, stereo) sequence header or raw frame.
    fn aac(header: bool, timestamp: u32, data: &[u8]) -> Frame {
        let mut payload = vec![0xAF, u8::from(!header)];
        payload.extend_from_slice(data);
        Frame::new(MediaKind::Audio, timestamp, Bytes::from(payload))
    }

    /// AudioSpecificConfig of AAC-LC 44.1 kHz stereo, and a silent raw frame of it (a CPE with zero spectra).
    const ASC: [u8; 2] = [0x12, 0x10];
    const SILENT: [u8; 9] = [0x21, 0x00, 0x49, 0x90, 0x02, 0x19, 0x00, 0x23, 0x80];

    /// One viewer transcodes, the next reads the same packets from the cache, a frame the transcoder has passed
    /// and the cache has forgotten gives nothing, and a changed sequence header makes a new transcoder.
    #[test]
    fn each_aac_frame_is_transcoded_once_for_every_viewer() {
        let source = StreamSource::default();
        let config = AacToOpusConfig::default();
        let cache = 8;
        let viewer = |frames: &[(u64, Frame)]| -> Vec<Vec<OpusOut>> {
            frames
                .iter()
                .map(|(seq, f)| source.opus_of(*seq, f, &config, cache))
                .collect()
        };
        let mut frames = vec![(1, aac(true, 0, &ASC))];
        frames.extend((2..12u64).map(|i| (i, aac(false, (i as u32 - 2) * 23, &SILENT))));
        let first = viewer(&frames);
        let packets: Vec<&OpusOut> = first.iter().flatten().collect();
        // 10 frames of 1024 samples at 44.1 kHz are 232 ms: 11 packets of 20 ms, less the resampler's delay.
        assert!((9..=11).contains(&packets.len()), "{}", packets.len());
        assert_eq!(packets[0].pts_48k, 0);
        for pair in packets.windows(2) {
            assert_eq!(pair[1].pts_48k, pair[0].pts_48k + 960);
        }
        // A second viewer at the cached frames: the very same packets, nothing transcoded again.
        let second = viewer(&frames[3..]);
        for (a, b) in first[3..].iter().zip(&second) {
            assert_eq!(a.len(), b.len());
            assert!(a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(&a.data, &b.data)));
        }
        // Frames 2 and 3 left the cache of 8: a viewer that far behind gets no audio for them.
        assert!(viewer(&frames[1..3]).iter().all(Vec::is_empty));
        // The header replayed to a viewer keeps the transcoder; a newer one with other bytes replaces it.
        viewer(&frames[..1]);
        assert_eq!(source.audio.lock().header_seq, Some(1));
        source.opus_of(20, &aac(true, 300, &[0x12, 0x08]), &config, cache);
        let state = source.audio.lock();
        assert_eq!(state.header_seq, Some(20));
        assert!(state.transcoder.is_some() && state.cache.is_empty());
        assert_eq!(state.asc.as_ref(), [0x12, 0x08]);
    }

    /// FLV video tags: an AVC sequence header around `sps`, and a one-slice picture with composition offset `cts`.
    fn avc_header(sps: &[u8]) -> Frame {
        let mut tag = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1, 0];
        tag.push(sps.len() as u8);
        tag.extend_from_slice(sps);
        tag.extend_from_slice(&[1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);
        Frame::new(MediaKind::Video, 0, Bytes::from(tag))
    }

    fn picture(keyframe: bool, timestamp: u32, cts: u8) -> Frame {
        let (flags, nal) = if keyframe { (0x17, 0x65) } else { (0x27, 0x41) };
        let tag = vec![flags, 1, 0, 0, cts, 0, 0, 0, 2, nal, 0x80];
        Frame::new(MediaKind::Video, timestamp, Bytes::from(tag))
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// B-frames are noticed once per stream whichever viewer converts the frame: from a picture's composition
    /// offset, or from a newer sequence header whose SPS declares reordering; a newer header without starts over,
    /// and a header replayed to a new viewer changes nothing.
    #[test]
    fn b_frames_mid_stream_are_noticed_once_for_the_stream() {
        // x264 `-bf 0` and `-bf 2` SPSs (flv::sps_vui's tests).
        let bf0 = hex("6764001facb40440f3df80880000030008000003019078c195");
        let bf2 = hex("6764001facd940881e7bf011000003000100000300320f183196");
        let source = StreamSource::default();
        let (mut a, mut b) = (Annexb::default(), Annexb::default());
        source.video_of(&mut a, 1, &avc_header(&bf0)).unwrap();
        source.video_of(&mut a, 2, &picture(true, 0, 0)).unwrap();
        source.video_of(&mut a, 3, &picture(false, 40, 0)).unwrap();
        assert!(source.b_frames().is_none());
        // Viewer b joins: the replayed header and the cached pictures change nothing.
        source.video_of(&mut b, 1, &avc_header(&bf0)).unwrap();
        source.video_of(&mut b, 2, &picture(true, 0, 0)).unwrap();
        assert!(source.b_frames().is_none());
        // The publisher now sends B-frames: the first viewer to convert such a picture notices for all.
        source.video_of(&mut b, 4, &picture(false, 80, 80)).unwrap();
        let why = source.b_frames().expect("noticed");
        assert!(why.contains("composition time offsets (80 ms)"), "{why}");
        assert!(source.announce_b_frames());
        assert!(!source.announce_b_frames(), "one log line per stream");
        source.video_of(&mut a, 4, &picture(false, 80, 80)).unwrap();
        assert_eq!(source.b_frames(), Some(why));
        // A republish without B-frames (a newer header) starts over; a picture from before it is not looked at.
        source.video_of(&mut a, 10, &avc_header(&bf0)).unwrap();
        assert!(source.b_frames().is_none());
        source
            .video_of(&mut b, 5, &picture(false, 120, 40))
            .unwrap();
        assert!(source.b_frames().is_none());
        // A republish whose SPS declares reordering is noticed at its header.
        source.video_of(&mut a, 20, &avc_header(&bf2)).unwrap();
        let why = source.b_frames().expect("noticed at the header");
        assert!(why.contains("max_num_reorder_frames = 2"), "{why}");
    }

    /// Audio that is not AAC gives no packets and no transcoder.
    #[test]
    fn other_audio_codecs_give_no_audio() {
        let source = StreamSource::default();
        let config = AacToOpusConfig::default();
        // MP3 (format 2).
        let mp3 = Frame::new(
            MediaKind::Audio,
            0,
            Bytes::from_static(&[0x2F, 0xFF, 0xFB, 0x90]),
        );
        assert!(source.opus_of(1, &mp3, &config, 8).is_empty());
        assert!(source.audio.lock().transcoder.is_none());
    }
}
