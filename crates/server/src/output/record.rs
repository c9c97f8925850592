//! Recording live streams to files: one recorder per stream, started when a stream of an app with a `record`
//! policy is published (or through the API), writing FLV and/or fragmented MP4 under the recordings directory.
//!
//! A recorder is a hub subscriber like a player, so it sees the one timeline of the stream: a publisher that comes
//! back within the republish grace continues the same files. It ends when the stream ends (after the grace), when
//! it is stopped through the API, or at shutdown. File writes block, so each recorder runs on the blocking pool and
//! waits for frames with `Handle::block_on`; the async workers never touch the disk.
//!
//! Each format is written through `mp4::record`'s recorders straight to the `File`: they write every unit (an FLV
//! tag, an MP4 fragment) with one `write_all` and never rewrite anything, so a `kill -9` leaves a playable file.
//! Files rotate at the first video keyframe after `segment_secs`. Every closed file (rotation, end, or a write
//! error) is reported with a `record_done` webhook.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use control::webhook_event::{errcode, EventKind, RecordFile, StreamEvent};
use control::RecordFormat;
use flv::TagType;
use media::{FrameKind, Registry, StreamKey, SubscribeError, SubscribeOptions, Subscriber};
use mp4::record::{format_path, FlvRecorder, Fmp4Recorder, NameVars};
use mp4::RecordError;
use parking_lot::Mutex;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::stream::access::now_unix;
use crate::Shared;

/// Recording settings (`[record]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordSettings {
    /// Where recordings go (default `{data_dir}/recordings`).
    pub dir: Option<PathBuf>,
    /// File name template relative to `dir`, without the extension (default
    /// `{app}/{stream}/{start:%Y%m%d-%H%M%S}`); see `docs/recording.md`.
    pub template: String,
    /// A file is closed at the first video keyframe after this many seconds (default 3600).
    pub segment_secs: u64,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings {
            dir: None,
            template: "{app}/{stream}/{start:%Y%m%d-%H%M%S}".to_owned(),
            segment_secs: 3600,
        }
    }
}

impl RecordSettings {
    /// Why these settings cannot be used, if they cannot: `(field, value, expected)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        if self.segment_secs == 0 {
            return Some(("record.segment_secs", "0".into(), "at least 1"));
        }
        let vars = NameVars {
            app: "app",
            stream: "stream",
            start_unix: 0,
        };
        match format_path(&self.template, &vars) {
            Ok(path) if is_relative_inside(&path) => None,
            Ok(_) => Some((
                "record.template",
                self.template.clone(),
                "a relative path that stays inside the recordings directory (no leading `/`, no `..`)",
            )),
            Err(_) => Some((
                "record.template",
                self.template.clone(),
                "a template with matched braces and known fields ({app}, {stream}, {start}, {start:FORMAT})",
            )),
        }
    }
}

/// `true` for a non-empty relative path without `..`, so a template cannot write outside the directory.
fn is_relative_inside(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Why a recording did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The stream is not in the hub.
    #[error("stream {0} is not live")]
    NotLive(String),
    /// A recording of the stream is already running.
    #[error("stream {stream} is already being recorded as {formats}")]
    AlreadyRecording {
        /// The stream.
        stream: String,
        /// Its formats, comma-separated.
        formats: String,
    },
    /// No format asked for.
    #[error("no format to record: give mp4, flv or both")]
    NoFormat,
}

/// One running recording, as the API shows it.
#[derive(Debug, Clone)]
struct Active {
    /// Tells the recorder thread to finish its files and stop.
    stop: CancellationToken,
    formats: Vec<RecordFormat>,
    /// Distinguishes this recording from a later one of the same stream, so the ending thread only removes itself.
    id: u64,
}

/// The index of closed files' durations under the recordings directory: one JSON object per line,
/// `{"path": "live/cam/....mp4", "duration": 12.5}`; a later line for the same path wins.
const DURATIONS_FILE: &str = ".durations.jsonl";

/// Reads the durations index; a missing file is an empty index, a bad line is skipped.
fn read_durations(path: &Path) -> HashMap<String, f64> {
    #[derive(Deserialize)]
    struct Line {
        path: String,
        duration: f64,
    }
    let Ok(text) = fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .map(|l| (l.path, l.duration))
        .collect()
}

/// Every running recording, and what is needed to start more.
pub(crate) struct Recordings {
    dir: PathBuf,
    template: String,
    segment: Duration,
    tracker: TaskTracker,
    active: Mutex<HashMap<StreamKey, Active>>,
    /// Durations of closed files, by path relative to `dir`, for the listing: read once from the index file
    /// ([`DURATIONS_FILE`]) that every close appends to, so they outlive a restart.
    durations: Mutex<Option<HashMap<String, f64>>>,
    next_id: Mutex<u64>,
}

impl Recordings {
    /// Recordings into `settings.dir` (or `{data_dir}/recordings`); threads are tracked by `tracker` so shutdown
    /// waits for the files to be closed.
    pub(crate) fn new(settings: &RecordSettings, data_dir: &Path, tracker: TaskTracker) -> Self {
        Recordings {
            dir: settings
                .dir
                .clone()
                .unwrap_or_else(|| data_dir.join("recordings")),
            template: settings.template.clone(),
            segment: Duration::from_secs(settings.segment_secs.max(1)),
            tracker,
            active: Mutex::new(HashMap::new()),
            durations: Mutex::new(None),
            next_id: Mutex::new(0),
        }
    }

    /// The recordings directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name template.
    pub(crate) fn template(&self) -> &str {
        &self.template
    }

    /// The formats `key` is being recorded in, if it is.
    pub(crate) fn formats(&self, key: &StreamKey) -> Option<Vec<RecordFormat>> {
        self.active.lock().get(key).map(|a| a.formats.clone())
    }

    /// The duration of a closed file, in seconds (none for a file still being written, or cut by a crash).
    pub(crate) fn known_duration(&self, relative: &str) -> Option<f64> {
        let mut durations = self.durations.lock();
        durations
            .get_or_insert_with(|| read_durations(&self.dir.join(DURATIONS_FILE)))
            .get(relative)
            .copied()
    }

    /// Remembers a closed file's duration, in memory and in the index file (a failure to write the index only
    /// loses the figure after a restart, so it is logged and otherwise ignored).
    fn remember_duration(&self, relative: &str, secs: f64) {
        let mut durations = self.durations.lock();
        durations
            .get_or_insert_with(|| read_durations(&self.dir.join(DURATIONS_FILE)))
            .insert(relative.to_owned(), secs);
        let line = serde_json::json!({ "path": relative, "duration": secs }).to_string() + "\n";
        let path = self.dir.join(DURATIONS_FILE);
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        if let Err(e) = written {
            warn!(file = %path.display(), "recording durations index: {e}");
        }
    }

    /// Stops the recording of `key`; `false` if there was none. The files are closed by the recorder thread
    /// shortly after.
    pub(crate) fn stop(&self, key: &StreamKey) -> bool {
        match self.active.lock().remove(key) {
            Some(active) => {
                info!(stream = %key, "recording stopped");
                active.stop.cancel();
                true
            }
            None => false,
        }
    }
}

/// Starts recording `key` in `formats` unless it is already recorded.
pub(crate) fn start(
    shared: &Arc<Shared>,
    key: &StreamKey,
    formats: &[RecordFormat],
) -> Result<(), StartError> {
    let mut formats = formats.to_vec();
    RecordFormat::normalize(&mut formats);
    if formats.is_empty() {
        return Err(StartError::NoFormat);
    }
    let recordings = &shared.recordings;
    let mut active = recordings.active.lock();
    if let Some(a) = active.get(key) {
        return Err(StartError::AlreadyRecording {
            stream: key.to_string(),
            formats: RecordFormat::join(&a.formats),
        });
    }
    // Subscribed under the lock, so two publishes racing cannot both start a recorder.
    let subscriber = subscribe(&shared.registry, key)?;
    let id = {
        let mut next = recordings.next_id.lock();
        *next += 1;
        *next
    };
    let stop = CancellationToken::new();
    active.insert(
        key.clone(),
        Active {
            stop: stop.clone(),
            formats: formats.clone(),
            id,
        },
    );
    drop(active);
    info!(stream = %key, formats = %RecordFormat::join(&formats), dir = %recordings.dir.display(), "recording started");
    let job = Job {
        shared: shared.clone(),
        key: key.clone(),
        formats,
        stop,
        id,
        handle: tokio::runtime::Handle::current(),
    };
    recordings
        .tracker
        .spawn_blocking(move || job.run(subscriber));
    Ok(())
}

fn subscribe(registry: &Registry, key: &StreamKey) -> Result<Subscriber, StartError> {
    registry
        .subscribe(
            key,
            SubscribeOptions {
                start: media::StartPolicy::Gop,
                protocol: "record",
            },
        )
        .map_err(|e| match e {
            SubscribeError::NotFound { .. } => StartError::NotLive(key.to_string()),
            other => {
                // Any other refusal means the stream cannot be read now; the operator sees why in the log.
                warn!(stream = %key, "recording cannot subscribe: {other}");
                StartError::NotLive(key.to_string())
            }
        })
}

/// Starts the app's policy recording for a stream that was just published, if the policy asks for one. A stream
/// already recorded (a republish within the grace) keeps its recorder.
pub(crate) fn on_publish(shared: &Arc<Shared>, key: &StreamKey, app: &control::App) {
    if app.policy.record.is_empty() {
        return;
    }
    match start(shared, key, &app.policy.record) {
        Ok(()) | Err(StartError::AlreadyRecording { .. }) => {}
        Err(e) => warn!(stream = %key, "recording not started: {e}"),
    }
}

/// The work of one recorder thread.
struct Job {
    shared: Arc<Shared>,
    key: StreamKey,
    formats: Vec<RecordFormat>,
    stop: CancellationToken,
    id: u64,
    handle: tokio::runtime::Handle,
}

impl Job {
    /// Reads the stream until it ends or the recording is stopped, writing every format; then closes the files.
    fn run(self, mut subscriber: Subscriber) {
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
        let shutdown = self.shared.shutdown.clone();
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
            let mut active = self.shared.recordings.active.lock();
            if active.get(&self.key).is_some_and(|a| a.id == self.id) {
                active.remove(&self.key);
            }
        }
        for file in files.iter_mut().filter(|f| !f.failed) {
            file.close(&self);
        }
        info!(stream = %self.key, "recording ended");
    }

    /// Sends `record_done` for a closed file.
    fn report(&self, file: RecordFile, error: Option<&str>) {
        let Some(app) = self.shared.catalog.app(&self.key.app) else {
            return;
        };
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
        self.shared.webhooks.emit(&app, event);
    }
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

    fn write_frame(&mut self, kind: TagType, ts: u32, payload: &Bytes) -> Result<(), RecordError> {
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
            Recorder::Flv(r) => r.rotate(next),
            Recorder::Mp4(r) => r.rotate(next),
        }
    }

    fn finish(self) -> Result<File, RecordError> {
        match self {
            Recorder::Flv(r) => r.finish(),
            Recorder::Mp4(r) => (*r).finish(),
        }
    }
}

fn tag_type(kind: FrameKind) -> TagType {
    match kind {
        FrameKind::Video => TagType::Video,
        FrameKind::Audio => TagType::Audio,
        FrameKind::Script => TagType::Script,
    }
}

impl FormatFile {
    /// Writes one frame, opening the first file or rotating first when it is time.
    fn write(
        &mut self,
        job: &Job,
        kind: FrameKind,
        frame: &media::Frame,
    ) -> Result<(), RecordError> {
        if kind == FrameKind::Video {
            self.seen_video = true;
        }
        let media = kind != FrameKind::Script && !frame.sequence_header;
        let cut_point = match kind {
            FrameKind::Video => frame.keyframe && !frame.sequence_header,
            FrameKind::Audio => !self.seen_video,
            FrameKind::Script => false,
        };
        let recordings = &job.shared.recordings;
        match &mut self.open {
            None => {
                let (file, relative, start_unix) = create_file(recordings, &job.key, self.format)?;
                info!(stream = %job.key, format = %self.format, file = %relative, "recording file opened");
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
                let old = open.recorder.rotate(file)?;
                let relative = std::mem::replace(&mut open.relative, relative);
                let started = std::mem::replace(&mut open.start_unix, start_unix);
                let first_ms = open.first_ms.take();
                let last_ms = open.last_ms;
                let size = sync_and_size(&old);
                info!(stream = %job.key, format = %self.format, file = %relative, bytes = size, "recording file rotated");
                let closed = Self::record_file(
                    self.format,
                    job,
                    &relative,
                    started,
                    first_ms,
                    last_ms,
                    size,
                );
                job.report(closed, None);
            }
            Some(_) => {}
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        match open
            .recorder
            .write_frame(tag_type(kind), frame.timestamp, &frame.payload)
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

    /// Builds the webhook's description of a closed file.
    fn record_file(
        format: RecordFormat,
        job: &Job,
        relative: &str,
        start_unix: u64,
        first_ms: Option<u32>,
        last_ms: u32,
        file_size: u64,
    ) -> RecordFile {
        let duration_ms = first_ms.map_or(0, |first| last_ms.wrapping_sub(first));
        let secs = f64::from(duration_ms) / 1000.0;
        job.shared.recordings.remember_duration(relative, secs);
        RecordFile {
            file_path: relative.to_owned(),
            file_format: format.as_str().to_owned(),
            duration: u64::from(duration_ms).div_ceil(1000),
            file_size,
            start_time: start_unix,
            end_time: now_unix(),
        }
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
                    file_size(&job.shared.recordings.dir.join(&open.relative)),
                    Some(e.to_string()),
                )
            }
        };
        info!(stream = %job.key, format = %self.format, file = %open.relative, bytes = size, "recording file closed");
        let file = Self::record_file(
            self.format,
            job,
            &open.relative,
            open.start_unix,
            open.first_ms,
            open.last_ms,
            size,
        );
        job.report(file, error.as_deref());
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
                Some(&e.to_string()),
            );
            return;
        };
        let size = file_size(&job.shared.recordings.dir.join(&open.relative));
        let file = Self::record_file(
            self.format,
            job,
            &open.relative,
            open.start_unix,
            open.first_ms,
            open.last_ms,
            size,
        );
        job.report(file, Some(&e.to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_checks() {
        assert_eq!(RecordSettings::default().problem(), None);
        let zero = RecordSettings {
            segment_secs: 0,
            ..RecordSettings::default()
        };
        assert_eq!(zero.problem().map(|p| p.0), Some("record.segment_secs"));
        for template in ["../{app}", "/abs/{stream}", "{app}/{", ""] {
            let s = RecordSettings {
                template: template.into(),
                ..RecordSettings::default()
            };
            assert_eq!(
                s.problem().map(|p| p.0),
                Some("record.template"),
                "{template}"
            );
        }
        let flat = RecordSettings {
            template: "{app}-{stream}-{start}".into(),
            ..RecordSettings::default()
        };
        assert_eq!(flat.problem(), None);
    }

    #[test]
    fn tag_types_follow_frame_kinds() {
        assert_eq!(tag_type(FrameKind::Video), TagType::Video);
        assert_eq!(tag_type(FrameKind::Audio), TagType::Audio);
        assert_eq!(tag_type(FrameKind::Script), TagType::Script);
    }
}
