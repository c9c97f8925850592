//! [`Fmp4Recorder`]: a fragmented MP4 file written fragment by fragment.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use flv::MediaKind;

use crate::error::RecordError;
use crate::fmp4::{Mp4Output, Mp4Writer, WriterConfig};

/// Writes frames as a fragmented MP4 file: the init segment once the tracks are known, then one `moof` +
/// `mdat` per fragment, each in a single `write_all`.
///
/// A fragment is cut before every video keyframe and every [`WriterConfig::fragment_duration_ms`]. A file cut
/// anywhere (a crash, `kill -9`, a full disk) plays up to its last complete fragment: nothing written earlier
/// is ever rewritten, and there is no index at the end to lose. Media pending in the muxer (at most one
/// fragment) is lost on a crash; [`finish`](Self::finish) writes it.
///
/// When a codec configuration changes mid-stream the new init segment cannot go into the same file:
/// [`should_rotate`](Self::should_rotate) then returns true and the fragments are held until
/// [`rotate`](Self::rotate).
#[derive(Debug)]
pub struct Fmp4Recorder<W: Write> {
    out: W,
    writer: Mp4Writer,
    /// The latest init segment, written at the start of every file.
    init: Option<Bytes>,
    /// An init segment for different tracks arrived: outputs wait here for the next file.
    held: VecDeque<Mp4Output>,
    file_has_init: bool,
    duration_ms: u64,
    bytes: u64,
}

impl<W: Write> Fmp4Recorder<W> {
    /// A recorder writing to `out`. Nothing is written until the tracks are known.
    pub fn new(out: W, config: WriterConfig) -> Self {
        Self {
            out,
            writer: Mp4Writer::new(config),
            init: None,
            held: VecDeque::new(),
            file_has_init: false,
            duration_ms: 0,
            bytes: 0,
        }
    }

    /// Feeds one hub frame (`payload` is the FLV tag body) and writes whatever fragment it completes.
    ///
    /// Muxer errors ([`RecordError::Mp4`]) concern this frame only and the recording can go on; an I/O error
    /// means the sink is broken.
    pub fn write_frame(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), RecordError> {
        let result = self.writer.handle_frame(kind, timestamp, payload);
        // Outputs produced before a refusal are still written.
        self.drain()?;
        result.map_err(RecordError::from)
    }

    /// Milliseconds of media written to the current file (complete fragments only).
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }

    /// Bytes written to the current file.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// The current file holds at least `max` of media (counting what is pending), or the codecs changed: call
    /// [`rotate`](Self::rotate) before the next keyframe (for audio-only streams, before the next frame).
    pub fn should_rotate(&self, max: Duration) -> bool {
        !self.held.is_empty()
            || (self.file_has_init
                && Duration::from_millis(self.duration_ms + self.writer.pending_duration_ms())
                    >= max)
    }

    /// Writes the pending fragment, closes the current file and continues on `next` with the init segment.
    /// Returns the old sink.
    pub fn rotate(&mut self, next: W) -> Result<W, RecordError> {
        if self.held.is_empty() {
            self.writer.finish();
            self.drain()?;
            // Each file starts at 0; with held outputs the new tracks' timeline is already running.
            self.writer.rebase();
        }
        self.out.flush()?;
        let old = std::mem::replace(&mut self.out, next);
        self.file_has_init = false;
        self.duration_ms = 0;
        self.bytes = 0;
        if self.held.is_empty() {
            if let Some(init) = self.init.clone() {
                self.write(&init)?;
                self.file_has_init = true;
            }
        }
        let held = std::mem::take(&mut self.held);
        for output in held {
            self.write_output(output)?;
        }
        self.out.flush()?;
        Ok(old)
    }

    /// Writes the pending fragment, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W, RecordError> {
        self.writer.finish();
        self.drain()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn drain(&mut self) -> Result<(), RecordError> {
        while let Some(output) = self.writer.poll_output() {
            let new_tracks = matches!(output, Mp4Output::Init { .. }) && self.file_has_init;
            if new_tracks || !self.held.is_empty() {
                self.held.push_back(output);
            } else {
                self.write_output(output)?;
            }
        }
        self.out.flush()?;
        Ok(())
    }

    fn write_output(&mut self, output: Mp4Output) -> Result<(), RecordError> {
        match output {
            Mp4Output::Init { data, .. } => {
                self.write(&data)?;
                self.init = Some(data);
                self.file_has_init = true;
            }
            Mp4Output::Fragment(f) => {
                self.write(&f.data)?;
                self.duration_ms += f.duration_ms;
            }
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), RecordError> {
        self.out.write_all(data)?;
        self.bytes += data.len() as u64;
        Ok(())
    }
}
