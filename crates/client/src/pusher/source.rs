//! Where the pushed media comes from: an FLV file looped in real time, FLV on stdin, or ffmpeg's test pattern.
//!
//! A source runs as its own task from the start of the push to its end, connected or not, as a camera keeps
//! capturing while the network is down: the driver drops what it cannot send and keeps the sequence headers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use flv::{FlvDemuxer, MediaKind};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, warn};

use super::mode::{AudioQuality, Mode};

/// Largest FLV tag body accepted from a source.
const MAX_TAG: usize = 16 << 20;
/// Bytes read from a file or pipe at once.
const READ_CHUNK: usize = 64 * 1024;
/// Frame interval assumed when a file has fewer than two video (or audio) tags to measure one.
const DEFAULT_FRAME_MS: u32 = 40;

/// What to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An FLV file, paced in real time by its timestamps and looped; timestamps keep growing across loops.
    File(PathBuf),
    /// FLV on standard input (`ffmpeg ... -f flv - | ...`), sent as it arrives; its end ends the push.
    Stdin,
    /// ffmpeg's `testsrc2` picture and a sine tone, encoded live with the mode's preset (H.264 + AAC).
    TestPattern {
        /// Picture size, frame rate and bitrate.
        mode: Mode,
        /// Audio only, no picture (the Vhall SDK's `singleAudio`).
        audio_only: bool,
        /// 48 kHz or 16 kHz audio.
        audio_quality: AudioQuality,
    },
}

impl Source {
    /// The test pattern of `mode` with video and high-quality audio.
    pub fn test_pattern(mode: Mode) -> Self {
        Source::TestPattern {
            mode,
            audio_only: false,
            audio_quality: AudioQuality::High,
        }
    }
}

/// One FLV tag from a source, on the source's timeline (milliseconds, never going back for a file).
#[derive(Debug, Clone)]
pub(crate) struct SourceTag {
    pub(crate) kind: MediaKind,
    pub(crate) timestamp: u32,
    pub(crate) body: Bytes,
}

/// What a source task sends.
#[derive(Debug)]
pub(crate) enum SourceItem {
    Tag(SourceTag),
    /// The source ended: `Ok` at the end of stdin, `Err` with what failed.
    End(Result<(), String>),
}

/// Starts the source task; it sends tags until its end or until the receiver is dropped.
pub(crate) fn spawn(source: Source, tx: mpsc::Sender<SourceItem>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let result = match source {
            Source::File(path) => play_file(&path, &tx).await,
            Source::Stdin => forward(tokio::io::stdin(), &tx, "standard input").await,
            Source::TestPattern {
                mode,
                audio_only,
                audio_quality,
            } => test_pattern(mode, audio_only, audio_quality, &tx).await,
        };
        let _ = tx.send(SourceItem::End(result)).await;
    })
}

/// Sends the tags of an FLV byte stream as they arrive. `Ok` at its end or when the driver is gone.
async fn forward(
    mut reader: impl AsyncRead + Unpin,
    tx: &mpsc::Sender<SourceItem>,
    what: &str,
) -> Result<(), String> {
    let mut demuxer = FlvDemuxer::new(MAX_TAG).skip_unknown(true);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read {what}: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        demuxer
            .handle_input(&buf[..n])
            .map_err(|e| format!("{what} is not an FLV stream: {e}"))?;
        while let Some(tag) = demuxer.poll_tag() {
            let tag = SourceTag {
                kind: tag.tag_type,
                timestamp: tag.timestamp,
                body: tag.body,
            };
            if tx.send(SourceItem::Tag(tag)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Loops an FLV file in real time. Each loop starts one frame interval after the last tag of the previous one.
async fn play_file(path: &Path, tx: &mpsc::Sender<SourceItem>) -> Result<(), String> {
    let shown = path.display();
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    let start = Instant::now();
    let mut offset: u64 = 0;
    let mut last_out: u32 = 0;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let mut demuxer = FlvDemuxer::new(MAX_TAG).skip_unknown(true);
        let mut lap = Lap::default();
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            if n == 0 {
                break;
            }
            demuxer
                .handle_input(&buf[..n])
                .map_err(|e| format!("{shown} is not an FLV file: {e}"))?;
            while let Some(tag) = demuxer.poll_tag() {
                let rel = lap.place(tag.tag_type, tag.timestamp);
                // Timestamps on the output timeline never go back, even where the file's do.
                let ts = u32::try_from(offset + u64::from(rel))
                    .unwrap_or(u32::MAX)
                    .max(last_out);
                last_out = ts;
                sleep_until(start + Duration::from_millis(u64::from(ts))).await;
                let tag = SourceTag {
                    kind: tag.tag_type,
                    timestamp: ts,
                    body: tag.body,
                };
                if tx.send(SourceItem::Tag(tag)).await.is_err() {
                    return Ok(());
                }
            }
        }
        let Some(length) = lap.length() else {
            return Err(format!("{shown} holds no audio or video tags"));
        };
        offset += u64::from(length);
        debug!(file = %shown, length_ms = length, "looping the file");
        file.rewind()
            .await
            .map_err(|e| format!("cannot rewind {shown}: {e}"))?;
    }
}

/// Timing of one pass over a file: timestamps relative to its first tag, and the length of the pass.
#[derive(Debug, Default)]
struct Lap {
    first: Option<u32>,
    last: u32,
    /// First and last timestamp and count of video tags, then of audio tags.
    video: (u32, u32, u32),
    audio: (u32, u32, u32),
}

impl Lap {
    fn place(&mut self, t: MediaKind, ts: u32) -> u32 {
        let first = *self.first.get_or_insert(ts);
        let rel = ts.saturating_sub(first);
        self.last = self.last.max(rel);
        let track = match t {
            MediaKind::Video => &mut self.video,
            MediaKind::Audio => &mut self.audio,
            MediaKind::Script => return rel,
        };
        if track.2 == 0 {
            track.0 = rel;
        }
        track.1 = rel;
        track.2 += 1;
        rel
    }

    /// The last timestamp plus one frame interval; `None` when the pass had no audio or video.
    fn length(&self) -> Option<u32> {
        if self.video.2 + self.audio.2 == 0 {
            return None;
        }
        let interval = |(a, b, n): (u32, u32, u32)| (n > 1 && b > a).then(|| (b - a) / (n - 1));
        let step = interval(self.video)
            .or_else(|| interval(self.audio))
            .unwrap_or(DEFAULT_FRAME_MS)
            .max(1);
        Some(self.last + step)
    }
}

/// The ffmpeg arguments of the test pattern: a live encode at the mode's size, rate and top bitrate, FLV on stdout.
pub(crate) fn ffmpeg_args(mode: Mode, audio_only: bool, quality: AudioQuality) -> Vec<String> {
    let p = mode.preset();
    let rate = quality.sample_rate();
    let mut args: Vec<String> = ["-hide_banner", "-nostats", "-loglevel", "error"]
        .map(String::from)
        .to_vec();
    // `-re` reads each input at its native rate: the encoder then produces media in real time, like a camera.
    if !audio_only {
        args.extend([
            "-re".into(),
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("testsrc2=size={}x{}:rate={}", p.width, p.height, p.fps),
        ]);
    }
    args.extend([
        "-re".into(),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("sine=frequency=440:sample_rate={rate}"),
    ]);
    if !audio_only {
        let kbps = format!("{}k", p.max_kbps);
        let gop = p.fps.to_string();
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
                "-b:v",
                &kbps,
                "-maxrate",
                &kbps,
                "-bufsize",
                &kbps,
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
            ]
            .map(String::from),
        );
    }
    args.extend([
        "-c:a".into(),
        "aac".into(),
        "-ar".into(),
        rate.to_string(),
        "-ac".into(),
        "1".into(),
        "-b:a".into(),
        format!("{}k", quality.kbps()),
        "-f".into(),
        "flv".into(),
        // A pipe cannot be rewound to write the duration and size at the end.
        "-flvflags".into(),
        "no_duration_filesize".into(),
        "-".into(),
    ]);
    args
}

/// Runs ffmpeg's test pattern and forwards its FLV output. ffmpeg is killed when the task ends or is aborted.
async fn test_pattern(
    mode: Mode,
    audio_only: bool,
    quality: AudioQuality,
    tx: &mpsc::Sender<SourceItem>,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(ffmpeg_args(mode, audio_only, quality))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!("cannot run ffmpeg for the test pattern: {e} (is ffmpeg installed?)")
        })?;
    let stderr = child.stderr.take().map(|err| {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            let mut last = None;
            while let Ok(Some(line)) = lines.next_line().await {
                warn!("ffmpeg: {line}");
                last = Some(line);
            }
            last
        })
    });
    let Some(stdout) = child.stdout.take() else {
        return Err("ffmpeg started without its output pipe".into());
    };
    forward(stdout, tx, "ffmpeg's output").await?;
    if tx.is_closed() {
        return Ok(());
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("cannot wait for ffmpeg: {e}"))?;
    let last = match stderr {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    Err(format!(
        "the ffmpeg test pattern stopped ({status}){}",
        last.map(|l| format!(": {l}")).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lap_length_adds_one_frame_interval() {
        let mut lap = Lap::default();
        assert_eq!(lap.length(), None);
        assert_eq!(lap.place(MediaKind::Script, 1000), 0);
        assert_eq!(lap.length(), None, "metadata alone is nothing to loop");
        for i in 0..5 {
            lap.place(MediaKind::Video, 1000 + i * 40);
            lap.place(MediaKind::Audio, 1010 + i * 23);
        }
        assert_eq!(lap.length(), Some(160 + 40));
        let mut audio = Lap::default();
        audio.place(MediaKind::Audio, 0);
        audio.place(MediaKind::Audio, 21);
        assert_eq!(audio.length(), Some(42));
        let mut one = Lap::default();
        one.place(MediaKind::Video, 7);
        assert_eq!(one.length(), Some(DEFAULT_FRAME_MS));
    }

    #[test]
    fn ffmpeg_args_follow_the_preset() {
        let a = ffmpeg_args(Mode::Sd, false, AudioQuality::High).join(" ");
        assert!(a.contains("testsrc2=size=360x640:rate=15"), "{a}");
        assert!(a.contains("-b:v 800k") && a.contains("-g 15"), "{a}");
        assert!(
            a.contains("sample_rate=48000") && a.contains("-ar 48000"),
            "{a}"
        );
        assert!(
            a.ends_with("-f flv -flvflags no_duration_filesize -"),
            "{a}"
        );
        let audio = ffmpeg_args(Mode::Hd, true, AudioQuality::Low).join(" ");
        assert!(
            !audio.contains("testsrc2") && !audio.contains("libx264"),
            "{audio}"
        );
        assert!(audio.contains("-ar 16000"), "{audio}");
    }
}
