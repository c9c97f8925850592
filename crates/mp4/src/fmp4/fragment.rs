//! The [`Fragmenter`]: samples in, `moof` + `mdat` movie fragments out (ISO/IEC 14496-12 8.8).

use bytes::{BufMut, Bytes, BytesMut};

use super::bx::{begin, begin_full, end, write_full_box};
use super::init::{Tracks, AAC_FRAME_SAMPLES, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use crate::error::Mp4Error;

/// Largest fragment the fragmenter builds: box sizes are 32-bit, and the `moof` needs room too.
pub const MAX_FRAGMENT_BYTES: u64 = u32::MAX as u64 - (16 << 20);

/// `trun` sample flags of a sync sample: depends on no other sample.
const FLAGS_SYNC: u32 = 0x0200_0000;
/// `trun` sample flags of a non-sync sample: depends on others, sample_is_non_sync_sample.
const FLAGS_NON_SYNC: u32 = 0x0101_0000;
/// `trun` flags: data-offset, then per sample duration, size, flags and composition time offset.
const TRUN_FLAGS: u32 = 0x0000_0001 | 0x0000_0100 | 0x0000_0200 | 0x0000_0400 | 0x0000_0800;
/// `tfhd` flag default-base-is-moof: data offsets count from the start of the `moof` (required by CMAF).
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x0002_0000;

/// One access unit for the fragmenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The track it belongs to ([`VIDEO_TRACK_ID`] or [`AUDIO_TRACK_ID`]).
    pub track_id: u32,
    /// Decode timestamp in milliseconds, on the presentation's timeline.
    pub dts_ms: u64,
    /// Composition time offset (pts - dts) in milliseconds.
    pub cts_offset_ms: i32,
    /// A sync sample (an IDR picture; every audio sample is one).
    pub keyframe: bool,
    /// The sample: length-prefixed NAL units for video, one raw AAC frame for audio.
    pub data: Bytes,
}

/// One movie fragment: `moof` + `mdat`, and what an LL-HLS playlist needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The `moof` and `mdat` boxes.
    pub data: Bytes,
    /// The `mfhd` sequence number (1 for the first fragment).
    pub sequence: u32,
    /// Decode time of the fragment's first video sample (first audio sample without video), in milliseconds.
    pub start_ms: u64,
    /// Duration in milliseconds, of the video samples if there are any, else of the audio.
    pub duration_ms: u64,
    /// The fragment starts with a video sync sample, or has no video: a player can start decoding here.
    pub independent: bool,
}

#[derive(Debug)]
struct PendingSample {
    dts: u64,
    cts_offset: i32,
    sync: bool,
    data: Bytes,
}

#[derive(Debug)]
struct TrackState {
    id: u32,
    timescale: u32,
    /// Every sample lasts exactly this long (AAC frames); dts drift within half a frame is ironed out.
    fixed_duration: Option<u32>,
    /// Duration of a lone sample before any has been measured.
    nominal_duration: u32,
    last_duration: Option<u32>,
    /// Decode time of the last sample pushed, in the track's timescale.
    last_dts: Option<u64>,
    pending: Vec<PendingSample>,
}

/// Builds movie fragments from samples of the tracks of one init segment.
///
/// Push samples in decode order per track ([`push`](Self::push)); [`flush`](Self::flush) turns everything
/// pending into one fragment with a `traf` per track. A sample's duration is the distance to the next sample of
/// its track; the last sample of a fragment has none yet and gets the previous duration (AAC samples always
/// last 1024 ticks). The next fragment's `tfdt` states its real start, so a guess never accumulates.
#[derive(Debug)]
pub struct Fragmenter {
    tracks: Vec<TrackState>,
    next_sequence: u32,
    pending_bytes: u64,
}

impl Fragmenter {
    /// A fragmenter for the tracks of `tracks`, numbering fragments from 1.
    pub fn new(tracks: &Tracks) -> Self {
        Self::with_sequence(tracks, 1)
    }

    /// A fragmenter whose first fragment gets `mfhd` sequence number `first_sequence` (to continue a numbering
    /// across a new init segment).
    pub fn with_sequence(tracks: &Tracks, first_sequence: u32) -> Self {
        let mut states = Vec::with_capacity(2);
        if let Some(v) = &tracks.video {
            states.push(TrackState::new(
                VIDEO_TRACK_ID,
                super::init::VIDEO_TIMESCALE,
                None,
                v.frame_duration,
            ));
        }
        if let Some(a) = &tracks.audio {
            states.push(TrackState::new(
                AUDIO_TRACK_ID,
                a.sample_rate,
                Some(AAC_FRAME_SAMPLES),
                AAC_FRAME_SAMPLES,
            ));
        }
        Self {
            tracks: states,
            next_sequence: first_sequence,
            pending_bytes: 0,
        }
    }

    /// Queues a sample for the next fragment.
    ///
    /// A decode time earlier than the track's previous one is clamped to it (duration 0) rather than refused:
    /// live sources do jump back, and a fragment must never claim a negative duration.
    pub fn push(&mut self, sample: Sample) -> Result<(), Mp4Error> {
        let size = self.pending_bytes + sample.data.len() as u64;
        if size > MAX_FRAGMENT_BYTES {
            return Err(Mp4Error::FragmentTooLarge {
                size,
                max: MAX_FRAGMENT_BYTES,
            });
        }
        let track = self
            .tracks
            .iter_mut()
            .find(|t| t.id == sample.track_id)
            .ok_or(Mp4Error::UnknownTrack {
                track_id: sample.track_id,
            })?;
        track.push(sample);
        self.pending_bytes = size;
        Ok(())
    }

    /// No sample is pending.
    pub fn is_empty(&self) -> bool {
        self.tracks.iter().all(|t| t.pending.is_empty())
    }

    /// Duration of what is pending, in milliseconds, on the main track (video if there is one): first to last
    /// decode time plus the duration the last sample would get if the fragment were cut now.
    pub fn pending_duration_ms(&self) -> u64 {
        let Some(t) = self.tracks.iter().find(|t| !t.pending.is_empty()) else {
            return 0;
        };
        let (Some(first), Some(last)) = (t.pending.first(), t.pending.last()) else {
            return 0;
        };
        let previous = match t.pending.len() {
            n if n >= 2 => u32::try_from(last.dts - t.pending[n - 2].dts).ok(),
            _ => None,
        };
        ticks_to_ms(
            last.dts - first.dts + u64::from(t.tail_duration(previous)),
            t.timescale,
        )
    }

    /// The sequence number the next fragment will carry.
    pub fn next_sequence(&self) -> u32 {
        self.next_sequence
    }

    /// Builds a fragment from everything pending, or `None` when nothing is.
    pub fn flush(&mut self) -> Option<Fragment> {
        if self.is_empty() {
            return None;
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1).max(1);
        let mut runs = Vec::with_capacity(self.tracks.len());
        for t in &mut self.tracks {
            if !t.pending.is_empty() {
                let durations = t.take_durations();
                runs.push((t.id, t.timescale, std::mem::take(&mut t.pending), durations));
            }
        }
        self.pending_bytes = 0;

        let mut out = BytesMut::new();
        let moof_at = begin(&mut out, b"moof");
        write_full_box(&mut out, b"mfhd", 0, 0, |out| out.put_u32(sequence));
        let mut offset_fields = Vec::with_capacity(runs.len());
        for (id, _, samples, durations) in &runs {
            let traf_at = begin(&mut out, b"traf");
            write_full_box(&mut out, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |out| {
                out.put_u32(*id);
            });
            write_full_box(&mut out, b"tfdt", 1, 0, |out| out.put_u64(samples[0].dts));
            // Version 1: signed composition offsets, so B-frames need no edit list.
            let trun_at = begin_full(&mut out, b"trun", 1, TRUN_FLAGS);
            out.put_u32(u32::try_from(samples.len()).unwrap_or(u32::MAX));
            offset_fields.push(out.len());
            out.put_i32(0); // data_offset, patched below
            for (s, d) in samples.iter().zip(durations) {
                out.put_u32(*d);
                // Fits: the fragment is below MAX_FRAGMENT_BYTES.
                out.put_u32(u32::try_from(s.data.len()).unwrap_or(u32::MAX));
                out.put_u32(if s.sync { FLAGS_SYNC } else { FLAGS_NON_SYNC });
                out.put_i32(s.cts_offset);
            }
            end(&mut out, trun_at);
            end(&mut out, traf_at);
        }
        end(&mut out, moof_at);

        // Each run's data starts after the moof, the 8-byte mdat header and the runs before it.
        let mdat_len: u64 = runs
            .iter()
            .flat_map(|r| r.2.iter())
            .map(|s| s.data.len() as u64)
            .sum();
        let mut data_offset = out.len() as u64 + 8;
        for ((_, _, samples, _), at) in runs.iter().zip(&offset_fields) {
            let v = i32::try_from(data_offset).unwrap_or(i32::MAX);
            out[*at..*at + 4].copy_from_slice(&v.to_be_bytes());
            data_offset += samples.iter().map(|s| s.data.len() as u64).sum::<u64>();
        }
        // mdat_len + 8 < 4 GiB: pushes beyond MAX_FRAGMENT_BYTES are refused.
        out.reserve(mdat_len as usize + 8);
        out.put_u32(u32::try_from(mdat_len + 8).unwrap_or(u32::MAX));
        out.put_slice(b"mdat");
        for (_, _, samples, _) in &runs {
            for s in samples {
                out.put_slice(&s.data);
            }
        }

        // Timing is the main track's (video if the fragment has any): audio interleaved ahead of the video
        // would otherwise make fragments look longer than the pictures they carry.
        let (id, timescale, samples, durations) = &runs[0];
        let total: u64 = durations.iter().map(|&d| u64::from(d)).sum();
        let start_ms = ticks_to_ms(samples[0].dts, *timescale);
        let duration_ms = ticks_to_ms(total, *timescale);
        let independent = *id != VIDEO_TRACK_ID || samples[0].sync;
        Some(Fragment {
            data: out.freeze(),
            sequence,
            start_ms,
            duration_ms,
            independent,
        })
    }
}

impl TrackState {
    fn new(id: u32, timescale: u32, fixed_duration: Option<u32>, nominal: u32) -> Self {
        Self {
            id,
            timescale,
            fixed_duration,
            nominal_duration: nominal.max(1),
            last_duration: None,
            last_dts: None,
            pending: Vec::new(),
        }
    }

    /// The duration of the last pending sample, given the one before it (`previous`): AAC's fixed frame
    /// length, else the previous duration, else the last one of the previous fragment, else the nominal one.
    fn tail_duration(&self, previous: Option<u32>) -> u32 {
        self.fixed_duration
            .or(previous)
            .or(self.last_duration)
            .unwrap_or(self.nominal_duration)
    }

    fn push(&mut self, sample: Sample) {
        let measured = ms_to_ticks(sample.dts_ms, self.timescale);
        let dts = match (self.last_dts, self.fixed_duration) {
            // Millisecond timestamps jitter around the exact frame grid; stay on the grid unless the source
            // really jumped (a gap or overlap of more than half a frame).
            (Some(last), Some(fixed)) => {
                let expected = last + u64::from(fixed);
                if measured.abs_diff(expected) <= u64::from(fixed / 2) {
                    expected
                } else {
                    measured.max(last)
                }
            }
            (Some(last), None) => measured.max(last),
            (None, _) => measured,
        };
        self.last_dts = Some(dts);
        self.pending.push(PendingSample {
            dts,
            cts_offset: ms_to_ticks_signed(sample.cts_offset_ms, self.timescale),
            sync: sample.keyframe,
            data: sample.data,
        });
    }

    /// Durations of the pending samples; remembers the last one for the next fragment.
    fn take_durations(&mut self) -> Vec<u32> {
        let mut durations = Vec::with_capacity(self.pending.len());
        for pair in self.pending.windows(2) {
            let d = u32::try_from(pair[1].dts - pair[0].dts).unwrap_or(u32::MAX);
            durations.push(d);
        }
        let last = self.tail_duration(durations.last().copied());
        durations.push(last);
        self.last_duration = Some(last);
        durations
    }
}

fn ms_to_ticks(ms: u64, timescale: u32) -> u64 {
    // u128: no overflow for any u64 millisecond value.
    (u128::from(ms) * u128::from(timescale) / 1000).min(u128::from(u64::MAX)) as u64
}

fn ms_to_ticks_signed(ms: i32, timescale: u32) -> i32 {
    let t = i64::from(ms) * i64::from(timescale) / 1000;
    t.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn ticks_to_ms(ticks: u64, timescale: u32) -> u64 {
    if timescale == 0 {
        return 0;
    }
    (u128::from(ticks) * 1000 / u128::from(timescale)) as u64
}
