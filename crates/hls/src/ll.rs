//! Low-latency HLS: fragmented MP4 (CMAF) segments made of parts, and their playlist (RFC 8216bis, 4.4.4.9 and
//! 6.2.5).
//!
//! ```text
//! FLV tag bodies ─▶ mp4::fmp4::Mp4Writer (fragments ≤ part target, cut before keyframes) ─▶ parts
//!                                        └─▶ init segments (EXT-X-MAP)                     └─▶ segments at keyframes
//! ```
//!
//! Every movie fragment the writer cuts is one part (`EXT-X-PART`); a segment is the run of parts from one
//! independent part (a keyframe, or any audio-only part) until the next independent part once the segment has
//! reached the target duration. A segment's bytes are its parts' bytes in order, so nothing is muxed twice.

use std::collections::VecDeque;
use std::fmt::Write;

use bytes::Bytes;
use flv::MediaKind;
use mp4::fmp4::{Mp4Output, Mp4Writer, WriterConfig};

use crate::error::HlsError;
use crate::playlist::{iso8601_utc, target_duration_secs};

/// Bounds of the low-latency segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlConfig {
    /// A segment is cut at the first independent part once it is this long, in milliseconds.
    pub target_duration_ms: u64,
    /// No part is longer than this (`EXT-X-PART-INF:PART-TARGET`), in milliseconds.
    pub part_target_ms: u64,
    /// Complete segments kept; older ones leave the window.
    pub window: usize,
}

impl Default for LlConfig {
    fn default() -> Self {
        LlConfig {
            target_duration_ms: 2000,
            part_target_ms: 334,
            window: 6,
        }
    }
}

/// One part: one movie fragment (`moof` + `mdat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Starts with a keyframe (or carries audio only): a player can start here.
    pub independent: bool,
    /// The fragment.
    pub data: Bytes,
}

/// A segment, complete or still being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlSegment {
    /// Media sequence number, consecutive from 0.
    pub sequence: u64,
    /// Wall-clock time of the first frame, milliseconds since the Unix epoch.
    pub program_date_time_ms: u64,
    /// Follows a discontinuity (a new publisher).
    pub discontinuity: bool,
    /// The init segment (its number, [`LlSegmenter::init`]) the parts need.
    pub init: u32,
    /// The parts so far, in order.
    pub parts: Vec<Part>,
}

impl LlSegment {
    /// The sum of the parts' durations.
    pub fn duration_ms(&self) -> u64 {
        self.parts.iter().map(|p| p.duration_ms).sum()
    }

    /// The bytes of the whole segment: each part's, in order (shared, not copied).
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.parts.iter().map(|p| p.data.clone())
    }
}

/// Turns FLV payloads into LL-HLS parts and segments, keeping a sliding window.
///
/// Feed frames in order with [`handle_frame`](LlSegmenter::handle_frame); read [`segments`](LlSegmenter::segments),
/// [`open_segment`](LlSegmenter::open_segment) and [`init`](LlSegmenter::init). The wall clock is an argument,
/// never read here.
#[derive(Debug)]
pub struct LlSegmenter {
    config: LlConfig,
    writer: Mp4Writer,
    /// Init segments still referenced, with their numbers, oldest first.
    inits: VecDeque<(u32, Bytes)>,
    next_init: u32,
    segments: VecDeque<LlSegment>,
    open: Option<LlSegment>,
    next_sequence: u64,
    discontinuity_sequence: u64,
    pending_discontinuity: bool,
    /// Maps the frames' timestamps to wall time (`wall = ts + offset`): the smallest `now - ts` seen since the
    /// last discontinuity (frames replayed from the GOP cache arrive late; live ones give the true offset).
    offset: Option<i64>,
}

impl LlSegmenter {
    /// An empty segmenter. A window of 0 is taken as 1, targets of 0 ms as 1 ms.
    pub fn new(config: LlConfig) -> LlSegmenter {
        let config = LlConfig {
            target_duration_ms: config.target_duration_ms.max(1),
            part_target_ms: config.part_target_ms.max(1),
            window: config.window.max(1),
        };
        LlSegmenter {
            config,
            writer: Self::writer(&config),
            inits: VecDeque::new(),
            next_init: 0,
            segments: VecDeque::new(),
            open: None,
            next_sequence: 0,
            discontinuity_sequence: 0,
            pending_discontinuity: false,
            offset: None,
        }
    }

    fn writer(config: &LlConfig) -> Mp4Writer {
        Mp4Writer::new(WriterConfig {
            fragment_duration_ms: config.part_target_ms,
            fragment_duration_is_max: true,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &LlConfig {
        &self.config
    }

    /// Complete segments in the window, oldest first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &LlSegment> {
        self.segments.iter()
    }

    /// The segment being written, with the parts it has so far.
    pub fn open_segment(&self) -> Option<&LlSegment> {
        self.open.as_ref()
    }

    /// The init segment with this number, while a segment in the window needs it.
    pub fn init(&self, number: u32) -> Option<&Bytes> {
        self.inits
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, data)| data)
    }

    /// The init segments still referenced, oldest first.
    pub fn inits(&self) -> impl Iterator<Item = (u32, &Bytes)> {
        self.inits.iter().map(|(n, d)| (*n, d))
    }

    /// EXT-X-DISCONTINUITY-SEQUENCE: discontinuities that have left the window.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// A new publisher: closes the open segment, and starts over with a fresh timeline and fresh tracks (from
    /// the sequence headers that follow); the next segment carries `EXT-X-DISCONTINUITY`.
    pub fn discontinuity(&mut self, now_ms: u64) {
        self.writer.finish();
        self.drain(now_ms);
        self.close_open();
        self.writer = Self::writer(&self.config);
        self.pending_discontinuity = true;
        self.offset = None;
    }

    /// The end of the stream: the last fragment becomes a part and the open segment is closed.
    pub fn finish(&mut self, now_ms: u64) {
        self.writer.finish();
        self.drain(now_ms);
        self.close_open();
    }

    /// Handles one FLV tag body at wall-clock time `now_ms`. Returns whether a part (and perhaps a segment) was
    /// completed by this frame. Script data is ignored (`Ok(false)`).
    pub fn handle_frame(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
        now_ms: u64,
    ) -> Result<bool, HlsError> {
        if kind == MediaKind::Script {
            return Ok(false);
        }
        let seen = i64::try_from(now_ms)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::from(timestamp));
        self.offset = Some(self.offset.map_or(seen, |o| o.min(seen)));
        let result = self.writer.handle_frame(kind, timestamp, payload);
        // Output the writer produced before refusing this frame still counts.
        let changed = self.drain(now_ms);
        result.map_err(HlsError::Mp4)?;
        Ok(changed)
    }

    fn drain(&mut self, now_ms: u64) -> bool {
        let mut changed = false;
        while let Some(output) = self.writer.poll_output() {
            match output {
                Mp4Output::Init { data, .. } => {
                    // The fragments that follow need the new tracks: they start a segment of their own.
                    self.close_open();
                    self.inits.push_back((self.next_init, data));
                    self.next_init = self.next_init.wrapping_add(1);
                }
                Mp4Output::Fragment(f) => {
                    self.add_part(f, now_ms);
                    changed = true;
                }
            }
        }
        changed
    }

    fn add_part(&mut self, f: mp4::fmp4::Fragment, now_ms: u64) {
        let part = Part {
            duration_ms: f.duration_ms,
            independent: f.independent,
            data: f.data,
        };
        if let Some(open) = &self.open {
            if part.independent && open.duration_ms() >= self.config.target_duration_ms {
                self.close_open();
            }
        }
        if self.open.is_none() {
            if !part.independent {
                // Nothing decodes before the first independent part.
                return;
            }
            // Fragment times start at the writer's origin (its first frame's timestamp).
            let ts = self
                .writer
                .origin_ms()
                .unwrap_or(0)
                .saturating_add(f.start_ms);
            let wall = self
                .offset
                .and_then(|o| u64::try_from(i64::try_from(ts).ok()?.saturating_add(o)).ok())
                .unwrap_or(now_ms);
            let init = self.next_init.wrapping_sub(1);
            self.open = Some(LlSegment {
                sequence: self.next_sequence,
                program_date_time_ms: wall,
                discontinuity: std::mem::take(&mut self.pending_discontinuity),
                init,
                parts: Vec::with_capacity(8),
            });
            self.next_sequence += 1;
        }
        if let Some(open) = self.open.as_mut() {
            open.parts.push(part);
        }
    }

    fn close_open(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if open.parts.is_empty() {
            self.pending_discontinuity |= open.discontinuity;
            return;
        }
        self.segments.push_back(open);
        while self.segments.len() > self.config.window {
            if let Some(gone) = self.segments.pop_front() {
                if gone.discontinuity {
                    self.discontinuity_sequence += 1;
                }
            }
        }
        // Init segments no segment refers to any more go too; the newest stays for the segments to come.
        let oldest = self.segments.front().map(|s| s.init);
        while self.inits.len() > 1 && self.inits.front().map(|(n, _)| Some(*n)) != Some(oldest) {
            self.inits.pop_front();
        }
    }
}

/// What a playlist request asked to wait for (`_HLS_msn`, `_HLS_part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingRequest {
    /// The media sequence number the playlist must reach.
    pub msn: u64,
    /// The part of that segment it must contain, if given.
    pub part: Option<u64>,
}

/// A snapshot of the live edge, as requests see it.
#[derive(Debug, Clone, Default)]
pub struct LlWindow {
    /// Complete segments, oldest first.
    pub segments: Vec<LlSegment>,
    /// The segment being written.
    pub open: Option<LlSegment>,
    /// Init segments referenced by the window, by number.
    pub inits: Vec<(u32, Bytes)>,
    /// EXT-X-DISCONTINUITY-SEQUENCE.
    pub discontinuity_sequence: u64,
    /// The segmenter's configuration.
    pub config: Option<LlConfig>,
    /// No more media will come.
    pub ended: bool,
}

impl LlWindow {
    /// Takes a snapshot of `segmenter` (parts are reference-counted, not copied).
    pub fn of(segmenter: &LlSegmenter, ended: bool) -> LlWindow {
        LlWindow {
            segments: segmenter.segments().cloned().collect(),
            open: segmenter.open_segment().cloned(),
            inits: segmenter.inits().map(|(n, d)| (n, d.clone())).collect(),
            discontinuity_sequence: segmenter.discontinuity_sequence(),
            config: Some(*segmenter.config()),
            ended,
        }
    }

    /// The segment with this media sequence number, complete or open.
    pub fn segment(&self, sequence: u64) -> Option<&LlSegment> {
        self.segments
            .iter()
            .chain(self.open.as_ref())
            .find(|s| s.sequence == sequence)
    }

    /// Whether `sequence` is a complete segment of the window.
    pub fn is_complete(&self, sequence: u64) -> bool {
        self.segments.iter().any(|s| s.sequence == sequence)
    }

    /// The media sequence number and part count of the live edge: the open segment, or the segment after the
    /// last complete one.
    pub fn edge(&self) -> (u64, usize) {
        match (&self.open, self.segments.last()) {
            (Some(open), _) => (open.sequence, open.parts.len()),
            (None, Some(last)) => (last.sequence + 1, 0),
            (None, None) => (0, 0),
        }
    }

    /// The playlist would satisfy a blocking request: it holds segment `msn` complete, or (with a part) that
    /// part of it, or anything later.
    pub fn satisfies(&self, request: BlockingRequest) -> bool {
        let (edge_msn, edge_parts) = self.edge();
        if self.segments.is_empty() && self.open.is_none() {
            return false;
        }
        match request.part {
            None => request.msn < edge_msn,
            Some(part) => {
                request.msn < edge_msn
                    || (request.msn == edge_msn
                        && usize::try_from(part).is_ok_and(|p| p < edge_parts))
            }
        }
    }

    /// A request too far ahead of the live edge to wait for (RFC 8216bis 6.2.5.2: more than two segments, or
    /// more than three parts past the last).
    pub fn too_far_ahead(&self, request: BlockingRequest) -> bool {
        let (edge_msn, edge_parts) = self.edge();
        if request.msn > edge_msn + 1 {
            return true;
        }
        match request.part {
            Some(part) if request.msn == edge_msn => part > edge_parts as u64 + 3,
            _ => false,
        }
    }
}

/// Where the playlist's URIs point: `{prefix}{msn}.{part}.m4s`, `{prefix}{msn}.m4s`, `{prefix}init-{n}.mp4`, each
/// followed by `?{query}` when given.
#[derive(Debug, Clone, Copy)]
pub struct LlUris<'a> {
    /// Prepended to every file name (e.g. `cam/ll/`, relative to the playlist).
    pub prefix: &'a str,
    /// Query to repeat on every URI (a signed URL's signature), without `?`.
    pub query: Option<&'a str>,
}

impl LlUris<'_> {
    fn write(&self, out: &mut String, file: std::fmt::Arguments<'_>) {
        out.push_str(self.prefix);
        let _ = out.write_fmt(file);
        if let Some(q) = self.query.filter(|q| !q.is_empty()) {
            out.push('?');
            out.push_str(q);
        }
    }
}

/// Renders the LL-HLS media playlist of a window. Parts are listed for the segments within three target
/// durations of the live edge (older ones only as whole segments), then the open segment's parts, then a
/// preload hint for the next part.
pub fn render(window: &LlWindow, uris: LlUris<'_>) -> String {
    let config = window.config.unwrap_or_default();
    let all: Vec<&LlSegment> = window.segments.iter().chain(window.open.as_ref()).collect();
    let max_ms = window
        .segments
        .iter()
        .map(LlSegment::duration_ms)
        .max()
        .unwrap_or(0)
        .max(config.target_duration_ms);
    let target_secs = target_duration_secs(max_ms);
    let part_target = config.part_target_ms;
    let media_sequence = all.first().map_or(0, |s| s.sequence);
    let mut out = String::with_capacity(512 + all.len() * 512);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{target_secs}\n\
         #EXT-X-PART-INF:PART-TARGET={}\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}\n\
         #EXT-X-MEDIA-SEQUENCE:{media_sequence}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        secs(part_target),
        secs(part_target * 3),
    );
    if window.discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            window.discontinuity_sequence
        );
    }
    // Parts are listed for the segments that end within three target durations of the live edge.
    let horizon = target_secs * 1000 * 3;
    let mut from_end = 0u64;
    let mut with_parts = vec![false; all.len()];
    for (i, s) in all.iter().enumerate().rev() {
        with_parts[i] = from_end <= horizon;
        from_end += s.duration_ms();
    }
    let mut map: Option<u32> = None;
    for (s, parts) in all.iter().zip(with_parts) {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(s.init) {
            out.push_str("#EXT-X-MAP:URI=\"");
            uris.write(&mut out, format_args!("init-{}.mp4", s.init));
            out.push_str("\"\n");
            map = Some(s.init);
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            iso8601_utc(s.program_date_time_ms)
        );
        if parts {
            for (i, p) in s.parts.iter().enumerate() {
                let _ = write!(out, "#EXT-X-PART:DURATION={},URI=\"", secs(p.duration_ms));
                uris.write(&mut out, format_args!("{}.{i}.m4s", s.sequence));
                out.push('"');
                if p.independent {
                    out.push_str(",INDEPENDENT=YES");
                }
                out.push('\n');
            }
        }
        if window.is_complete(s.sequence) {
            let ms = s.duration_ms();
            let _ = writeln!(out, "#EXTINF:{}.{:03},", ms / 1000, ms % 1000);
            uris.write(&mut out, format_args!("{}.m4s", s.sequence));
            out.push('\n');
        }
    }
    // No hint once the segmenter has stopped: nothing more will come (no ENDLIST either, as in the classic
    // playlist: the publisher may come back and a new segmenter start).
    if !window.ended {
        let (msn, part) = window.edge();
        out.push_str("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"");
        uris.write(&mut out, format_args!("{msn}.{part}.m4s"));
        out.push_str("\"\n");
    }
    out
}

/// Milliseconds as decimal seconds (`0.334`).
fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}
