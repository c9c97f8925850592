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
//! error) is reported with a `record_done` webhook; a file cut by a `kill -9` is cut to its last complete unit and
//! reported by the next start ([`Recordings::finish_cut`], errcode 1019).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use control::RecordFormat;
use media::{Registry, StreamKey, SubscribeError, SubscribeOptions, Subscriber};
use mp4::record::{format_path, NameVars};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

mod job;

use job::Job;

use crate::stream::entry::{self, StreamEntry};
use crate::stream::followers::{Follower, Published};
use crate::stream::Streams;

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

/// One running recording, kept in its stream's entry ([`crate::stream::entry::StreamEntry`]).
#[derive(Debug, Clone)]
pub(crate) struct Recording {
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
    streams: Arc<Streams>,
    shutdown: CancellationToken,
    dir: PathBuf,
    template: String,
    segment: Duration,
    tracker: TaskTracker,
    /// Durations of closed files, by path relative to `dir`, for the listing: read once from the index file
    /// ([`DURATIONS_FILE`]) that every close appends to, so they outlive a restart.
    durations: Mutex<Option<HashMap<String, f64>>>,
    next_id: Mutex<u64>,
}

impl Recordings {
    /// Recordings into `settings.dir` (or `{data_dir}/recordings`); threads are tracked by `tracker` so shutdown
    /// waits for the files to be closed.
    pub(crate) fn new(
        settings: &RecordSettings,
        data_dir: &Path,
        streams: Arc<Streams>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<Recordings> {
        Arc::new(Recordings {
            streams,
            shutdown,
            dir: settings
                .dir
                .clone()
                .unwrap_or_else(|| data_dir.join("recordings")),
            template: settings.template.clone(),
            segment: Duration::from_secs(settings.segment_secs.max(1)),
            tracker,
            durations: Mutex::new(None),
            next_id: Mutex::new(0),
        })
    }

    /// The recordings directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name template.
    pub(crate) fn template(&self) -> &str {
        &self.template
    }

    /// The duration of a closed file, in seconds (none for a file still being written, or cut by a crash).
    pub(crate) fn known_duration(&self, relative: &str) -> Option<f64> {
        let mut durations = self.durations.lock();
        durations
            .get_or_insert_with(|| read_durations(&self.dir.join(DURATIONS_FILE)))
            .get(relative)
            .copied()
    }

    /// Finishes a file that a crash left open, for the `record_done` the next start sends (`body`, as stored when
    /// the file was opened): cuts it after its last complete tag or fragment, so it ends as a closed file does,
    /// and fills in its size, duration (FLV; 0, unknown, for MP4) and end time (its last write). A file that is
    /// gone is reported with size 0.
    pub(crate) fn finish_cut(&self, body: &mut serde_json::Map<String, serde_json::Value>) {
        let relative = body
            .get("file_path")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let format = body
            .get("file_format")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !is_relative_inside(&relative) {
            return;
        }
        let path = self.dir.join(&relative);
        let finished = (|| -> std::io::Result<(u64, Option<u64>, u64)> {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let len = file.metadata()?.len();
            let modified = file
                .metadata()?
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let reader = std::io::BufReader::new(&file);
            let whole = match format.as_str() {
                "flv" => mp4::record::repair::flv_whole(reader)?,
                _ => mp4::record::repair::fmp4_whole(reader)?,
            };
            if whole.len < len {
                file.set_len(whole.len)?;
                file.sync_all()?;
                info!(file = %relative, from = len, to = whole.len, "recording cut by a crash: partial unit removed");
            }
            Ok((whole.len, whole.duration_ms, modified))
        })();
        let (size, duration_ms, end) = match finished {
            Ok(done) => done,
            Err(e) => {
                warn!(file = %path.display(), "cannot finish a recording cut by a crash: {e}");
                (0, None, control::now_unix())
            }
        };
        if let Some(ms) = duration_ms {
            self.remember_duration(&relative, ms as f64 / 1000.0);
        }
        body.insert("file_size".into(), size.into());
        body.insert(
            "duration".into(),
            duration_ms.unwrap_or(0).div_ceil(1000).into(),
        );
        body.insert("end_time".into(), end.into());
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
}

/// The formats a stream's recording writes now (`flv`, `mp4`); empty when it is not recorded.
pub(crate) fn formats_of(entry: &crate::stream::entry::StreamEntry) -> Vec<String> {
    entry.recording.lock().as_ref().map_or_else(Vec::new, |r| {
        r.formats.iter().map(|f| f.as_str().to_owned()).collect()
    })
}

/// The formats `key` is being recorded in, if it is.
pub(crate) fn formats(recordings: &Recordings, key: &StreamKey) -> Option<Vec<RecordFormat>> {
    let entry = entry::of_key(&recordings.streams, key)?;
    let recording = entry.recording.lock();
    recording.as_ref().map(|r| r.formats.clone())
}

/// Stops the recording of `key`; `false` if there was none. The files are closed by the recorder thread shortly
/// after.
pub(crate) fn stop(recordings: &Recordings, key: &StreamKey) -> bool {
    let Some(entry) = entry::of_key(&recordings.streams, key) else {
        return false;
    };
    let stopped = entry.recording.lock().take();
    match stopped {
        Some(recording) => {
            info!(stream = %key, "recording stopped");
            recording.stop.cancel();
            true
        }
        None => false,
    }
}

/// Starts recording `key` in `formats` unless it is already recorded.
pub(crate) fn start(
    recordings: &Arc<Recordings>,
    key: &StreamKey,
    formats: &[RecordFormat],
) -> Result<(), StartError> {
    let entry = entry::of_key(&recordings.streams, key)
        .ok_or_else(|| StartError::NotLive(key.to_string()))?;
    start_in(recordings, key, entry, formats)
}

/// [`start`] for a stream whose entry is at hand.
fn start_in(
    recordings: &Arc<Recordings>,
    key: &StreamKey,
    entry: Arc<StreamEntry>,
    formats: &[RecordFormat],
) -> Result<(), StartError> {
    let mut formats = formats.to_vec();
    RecordFormat::normalize(&mut formats);
    if formats.is_empty() {
        return Err(StartError::NoFormat);
    }
    let mut active = entry.recording.lock();
    if let Some(a) = active.as_ref() {
        return Err(StartError::AlreadyRecording {
            stream: key.to_string(),
            formats: RecordFormat::join(&a.formats),
        });
    }
    // Subscribed under the lock, so two publishes racing cannot both start a recorder.
    let subscriber = subscribe(&recordings.streams.registry, key)?;
    let id = {
        let mut next = recordings.next_id.lock();
        *next += 1;
        *next
    };
    let stop = CancellationToken::new();
    *active = Some(Recording {
        stop: stop.clone(),
        formats: formats.clone(),
        id,
    });
    drop(active);
    info!(stream = %key, formats = %RecordFormat::join(&formats), dir = %recordings.dir.display(), "recording started");
    let job = Job {
        recordings: recordings.clone(),
        entry,
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
impl Follower for Arc<Recordings> {
    fn published(&self, publish: &Published<'_>) {
        let (key, app) = (publish.key, publish.app);
        if app.policy.record.is_empty() {
            return;
        }
        match start_in(self, key, publish.entry.clone(), &app.policy.record) {
            Ok(()) | Err(StartError::AlreadyRecording { .. }) => {}
            Err(e) => warn!(stream = %key, "recording not started: {e}"),
        }
    }
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
}
