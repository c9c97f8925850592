//! One recorder's work on the blocking pool: read the stream, write each format through `mp4::record`, rotate at
//! the first keyframe after `segment_secs`, and report every closed file with `record_done`.
//!
//! No `record_done` is lost to a `kill -9`: a file's `open_sessions` row (`record:{file}`, with the `record_done`
//! it owes) is stored before its first frame is written, and its `record_done` is stored, deleting the row,
//! before the file is listed as finished (its duration remembered). A file cut by a crash is finished and
//! reported by the next start (`Recordings::finish_cut`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use control::webhook_event::{errcode, EventKind, RecordFile, StreamEvent};
use control::{now_unix, App, RecordFormat};
use media::{MediaKind, StreamKey, Subscriber};
use mp4::record::{format_path, FlvRecorder, Fmp4Recorder, NameVars};
use mp4::RecordError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::Recordings;
use crate::ops::webhooks::{Change, Owed};
use crate::stream::entry::StreamEntry;

/// The work of one recorder thread.
pub(super) struct Job {
    pub(super) recordings: Arc<Recordings>,
    /// The stream's entry, where this recording is registered while it runs.
    pub(super) entry: Arc<StreamEntry>,
    pub(super) key: StreamKey,
    pub(super) formats: Vec<RecordFormat>,
    pub(super) stop: CancellationToken,
    pub(super) id: u64,
    pub(super) handle: tokio::runtime::Handle,
}

impl Job {
    /// Reads the stream until it ends or the recording is stopped, writing every format; then closes the files.
    pub(super) fn run(self, mut subscriber: Subscriber) {
        let mut files: Vec<FormatFile> = self
            .formats
            .iter()
            .map(|&format| FormatFile {
                format,
                open: None,
                failed: false,
                seen_video: false,
                refused: 0,
            })
            .collect();
        let shutdown = self.recordings.shutdown.clone();
        loop {
            if self.stop.is_cancelled() || shutdown.is_cancelled() {
                break;
            }
            // Frames already waiting are taken without entering the runtime; only an empty queue blocks.
            let next = match subscriber.try_recv() {
                Ok(Some(frame)) => Some(Ok(frame)),
                Err(end) => Some(Err(end)),
                Ok(None) => self.handle.block_on(async {
                    tokio::select! {
                        frame = subscriber.recv() => Some(frame),
                        _ = self.stop.cancelled() => None,
                        _ = shutdown.cancelled() => None,
                    }
                }),
            };
            let frame = match next {
                Some(Ok(frame)) => frame,
                Some(Err(end)) => {
                    debug!(stream = %self.key, "recording: stream ended ({end})");
                    break;
                }
                None => break,
            };
            let frame = frame.frame();
            for file in files.iter_mut().filter(|f| !f.failed) {
                if let Err(e) = file.write(&self, frame.kind, frame) {
                    error!(stream = %self.key, format = %file.format, "recording stopped: {e}");
                    file.fail(&self, &e);
                }
            }
            if files.iter().all(|f| f.failed) {
                break;
            }
        }
        drop(subscriber);
        // Unregistered before the files are closed: a publish of the same stream arriving meanwhile starts its own
        // recorder instead of finding this ending one and recording nothing.
        {
            let mut active = self.entry.recording.lock();
            if active.as_ref().is_some_and(|a| a.id == self.id) {
                *active = None;
            }
        }
        for file in files.iter_mut().filter(|f| !f.failed) {
            file.close(&self);
        }
        info!(stream = %self.key, "recording ended");
    }

    fn app(&self) -> Option<Arc<App>> {
        self.recordings.streams.catalog.app(&self.key.app)
    }

    /// Stores `change` and waits until it is stored (at most `webhooks.durable_wait_ms`): this thread may block.
    fn store(&self, change: Change) {
        let Some(app) = self.app() else {
            return;
        };
        let webhooks = &self.recordings.streams.webhooks;
        self.handle.block_on(webhooks.emit_durable(&app, change));
    }

    /// The `record_done` a new file owes if the server dies before closing it (errcode 1019; the next start fills
    /// in its size, duration and end).
    fn owed(&self, format: RecordFormat, relative: &str, start_unix: u64) -> Owed {
        let mut end = StreamEvent::new(
            EventKind::RecordDone,
            &self.key.app,
            &self.key.name,
            now_unix(),
        )
        .with_error(
            errcode::RESTARTED,
            "the server was killed or crashed during the recording; the file was cut there and reported when \
             it started again",
        );
        end.record = Some(RecordFile {
            file_path: relative.to_owned(),
            file_format: format.as_str().to_owned(),
            duration: 0,
            file_size: 0,
            start_time: start_unix,
            end_time: 0,
        });
        Owed {
            id: owed_id(relative),
            end,
        }
    }

    /// Registers a file just created, before anything is written to it.
    fn opened(&self, format: RecordFormat, relative: &str, start_unix: u64) {
        self.store(Change {
            open: Some(self.owed(format, relative, start_unix)),
            ..Change::default()
        });
    }

    /// Sends `record_done` for a closed file (`secs` of media) and waits until it is stored, with the next file's
    /// registration on a rotation; then lists the file as finished.
    fn report(&self, file: RecordFile, secs: f64, error: Option<&str>, next: Option<Owed>) {
        let relative = file.file_path.clone();
        let mut event = StreamEvent::new(
            EventKind::RecordDone,
            &self.key.app,
            &self.key.name,
            now_unix(),
        );
        event.record = Some(file);
        if let Some(why) = error {
            event = event.with_error(errcode::RECORD_ERROR, why);
        }
        let close = (!relative.is_empty()).then(|| owed_id(&relative));
        self.store(Change {
            event: Some(event),
            open: next,
            close,
            interruption: None,
        });
        if !relative.is_empty() {
            self.recordings.remember_duration(&relative, secs);
        }
    }
}

/// The `open_sessions` id of a recording file.
pub(super) fn owed_id(relative: &str) -> String {
    format!("record:{relative}")
}

/// One format of a recording: its recorder and current file.
struct FormatFile {
    format: RecordFormat,
    open: Option<OpenFile>,
    /// A write failed: this format is stopped for the rest of the recording.
    failed: bool,
    /// Video was seen: rotate at video keyframes only (audio-only streams rotate at any frame).
    seen_video: bool,
    /// Frames the muxer refused (codec it cannot put in MP4), logged once.
    refused: u64,
}

/// The current file of one format.
struct OpenFile {
    recorder: Recorder,
    relative: String,
    start_unix: u64,
    /// First and last media timestamps written to this file (ms), for the reported duration.
    first_ms: Option<u32>,
    last_ms: u32,
}

/// Either recorder, writing straight to the file. The MP4 one is boxed: it is much larger (the muxer state).
enum Recorder {
    Flv(FlvRecorder<File>),
    Mp4(Box<Fmp4Recorder<File>>),
}

impl Recorder {
    fn new(format: RecordFormat, file: File) -> Result<Recorder, RecordError> {
        Ok(match format {
            RecordFormat::Flv => Recorder::Flv(FlvRecorder::new(file)?),
            RecordFormat::Mp4 => {
                Recorder::Mp4(Box::new(Fmp4Recorder::new(file, Default::default())))
            }
        })
    }

    fn write_frame(
        &mut self,
        kind: MediaKind,
        ts: u32,
        payload: &Bytes,
    ) -> Result<(), RecordError> {
        match self {
            Recorder::Flv(r) => r.write_frame(kind, ts, payload),
            Recorder::Mp4(r) => r.write_frame(kind, ts, payload),
        }
    }

    fn should_rotate(&self, max: Duration) -> bool {
        match self {
            Recorder::Flv(r) => r.should_rotate(max),
            Recorder::Mp4(r) => r.should_rotate(max),
        }
    }

    fn rotate(&mut self, next: File) -> Result<File, RecordError> {
        match self {
            Recorder::Flv(r) => {
                r.write_final_metadata()?;
                r.rotate(next)
            }
            Recorder::Mp4(r) => r.rotate(next),
        }
    }

    fn finish(self) -> Result<File, RecordError> {
        match self {
            Recorder::Flv(mut r) => {
                r.write_final_metadata()?;
                r.finish()
            }
            Recorder::Mp4(r) => (*r).finish(),
        }
    }
}

impl FormatFile {
    /// Writes one frame, opening the first file or rotating first when it is time.
    fn write(
        &mut self,
        job: &Job,
        kind: MediaKind,
        frame: &media::Frame,
    ) -> Result<(), RecordError> {
        if kind == MediaKind::Video {
            self.seen_video = true;
        }
        let media = kind != MediaKind::Script && !frame.sequence_header;
        let cut_point = match kind {
            MediaKind::Video => frame.keyframe && !frame.sequence_header,
            MediaKind::Audio => !self.seen_video,
            MediaKind::Script => false,
        };
        let recordings = &job.recordings;
        match &mut self.open {
            None => {
                let (file, relative, start_unix) = create_file(recordings, &job.key, self.format)?;
                info!(stream = %job.key, format = %self.format, file = %relative, "recording file opened");
                job.opened(self.format, &relative, start_unix);
                self.open = Some(OpenFile {
                    recorder: Recorder::new(self.format, file)?,
                    relative,
                    start_unix,
                    first_ms: None,
                    last_ms: 0,
                });
            }
            Some(open) if cut_point && open.recorder.should_rotate(recordings.segment) => {
                let (file, relative, start_unix) = create_file(recordings, &job.key, self.format)?;
                let next = job.owed(self.format, &relative, start_unix);
                let old = open.recorder.rotate(file)?;
                let relative = std::mem::replace(&mut open.relative, relative);
                let started = std::mem::replace(&mut open.start_unix, start_unix);
                let first_ms = open.first_ms.take();
                let last_ms = open.last_ms;
                let size = sync_and_size(&old);
                info!(stream = %job.key, format = %self.format, file = %relative, bytes = size, "recording file rotated");
                let (closed, secs) =
                    Self::record_file(self.format, &relative, started, first_ms, last_ms, size);
                job.report(closed, secs, None, Some(next));
            }
            Some(_) => {}
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        match open
            .recorder
            .write_frame(kind, frame.timestamp, &frame.payload)
        {
            Ok(()) => {}
            Err(RecordError::Io(e)) => return Err(RecordError::Io(e)),
            Err(e) => {
                // The muxer refused this frame only (an unsupported codec, a malformed header): go on.
                self.refused += 1;
                if self.refused == 1 {
                    warn!(stream = %job.key, format = %self.format, "recording skips frames: {e}");
                }
                return Ok(());
            }
        }
        if media {
            open.first_ms.get_or_insert(frame.timestamp);
            open.last_ms = frame.timestamp;
        }
        Ok(())
    }

    /// Builds the webhook's description of a closed file, and its duration in seconds.
    fn record_file(
        format: RecordFormat,
        relative: &str,
        start_unix: u64,
        first_ms: Option<u32>,
        last_ms: u32,
        file_size: u64,
    ) -> (RecordFile, f64) {
        let duration_ms = first_ms.map_or(0, |first| last_ms.wrapping_sub(first));
        let secs = f64::from(duration_ms) / 1000.0;
        let file = RecordFile {
            file_path: relative.to_owned(),
            file_format: format.as_str().to_owned(),
            duration: u64::from(duration_ms).div_ceil(1000),
            file_size,
            start_time: start_unix,
            end_time: now_unix(),
        };
        (file, secs)
    }

    /// Finishes the current file and reports it.
    fn close(&mut self, job: &Job) {
        let Some(open) = self.open.take() else {
            return;
        };
        let (size, error) = match open.recorder.finish() {
            Ok(file) => (sync_and_size(&file), None),
            Err(e) => {
                error!(stream = %job.key, format = %self.format, file = %open.relative, "closing the recording failed: {e}");
                (
                    file_size(&job.recordings.dir.join(&open.relative)),
                    Some(e.to_string()),
                )
            }
        };
        info!(stream = %job.key, format = %self.format, file = %open.relative, bytes = size, "recording file closed");
        let (file, secs) = Self::record_file(
            self.format,
            &open.relative,
            open.start_unix,
            open.first_ms,
            open.last_ms,
            size,
        );
        job.report(file, secs, error.as_deref(), None);
    }

    /// Stops this format after a write error and reports the file as it is, with a non-zero errcode.
    fn fail(&mut self, job: &Job, e: &RecordError) {
        self.failed = true;
        let Some(open) = self.open.take() else {
            // The file could not even be created: report the failure without a file.
            job.report(
                RecordFile {
                    file_path: String::new(),
                    file_format: self.format.as_str().to_owned(),
                    duration: 0,
                    file_size: 0,
                    start_time: now_unix(),
                    end_time: now_unix(),
                },
                0.0,
                Some(&e.to_string()),
                None,
            );
            return;
        };
        let size = file_size(&job.recordings.dir.join(&open.relative));
        let (file, secs) = Self::record_file(
            self.format,
            &open.relative,
            open.start_unix,
            open.first_ms,
            open.last_ms,
            size,
        );
        job.report(file, secs, Some(&e.to_string()), None);
    }
}

/// Flushes the closed file to disk (a rotation is a good moment to survive a power loss) and returns its size.
fn sync_and_size(file: &File) -> u64 {
    if let Err(e) = file.sync_data() {
        warn!("syncing a recording failed: {e}");
    }
    file.metadata().map(|m| m.len()).unwrap_or(0)
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Creates the next file of `key` in `format`: the template expanded now, with `-1`, `-2`... added when the name
/// is taken (a restart or a rotation within the same second). Returns the file, its relative path and start time.
fn create_file(
    recordings: &Recordings,
    key: &StreamKey,
    format: RecordFormat,
) -> Result<(File, String, u64), RecordError> {
    let start_unix = now_unix();
    let vars = NameVars {
        app: &key.app,
        stream: &key.name,
        start_unix,
    };
    let base = format_path(&recordings.template, &vars)
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("record.template: {e}")))?;
    for n in 0..1000u32 {
        let relative = match n {
            0 => format!("{base}.{}", format.as_str()),
            n => format!("{base}-{n}.{}", format.as_str()),
        };
        let path = recordings.dir.join(&relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", parent.display()))
            })?;
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, relative, start_unix)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(RecordError::Io(io::Error::new(
                    e.kind(),
                    format!("creating {}: {e}", path.display()),
                )))
            }
        }
    }
    Err(RecordError::Io(io::Error::new(
        ErrorKind::AlreadyExists,
        format!("every name {base}[-N].{} is taken", format.as_str()),
    )))
}
