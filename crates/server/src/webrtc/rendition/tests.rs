//! The conversion against real peers (x264 through ffmpeg writes the B-frame stream, ffprobe judges the
//! rendition), and the renditions' lifecycle on real hubs.

use super::*;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use media::{HubConfig, Publisher};

/// A 3 s FLV from ffmpeg: x264 with two B-frames (ffmpeg's default B-pyramid), 1 s GOPs, AAC audio.
fn b_frame_flv(dir: &std::path::Path) -> Vec<Frame> {
    let flv = dir.join("bf.flv");
    let out = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "3",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .arg(&flv)
        .output()
        .expect("ffmpeg is installed (./scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut demux = flv::FlvDemuxer::new(1 << 24);
    demux.handle_input(&std::fs::read(&flv).unwrap()).unwrap();
    std::iter::from_fn(|| demux.poll_tag())
        .filter(|t| t.tag_type != MediaKind::Script)
        .map(|t| Frame::new(t.tag_type, t.timestamp, t.body))
        .collect()
}

fn pictures(frames: &[Frame]) -> impl Iterator<Item = &Frame> {
    frames.iter().filter(|f| {
        f.kind == MediaKind::Video && !f.sequence_header && f.payload.get(1) == Some(&1)
    })
}

fn composition_ms(f: &Frame) -> i64 {
    let b = &f.payload;
    i64::from(i32::from_be_bytes([0, b[2], b[3], b[4]]) << 8 >> 8)
}

/// Every picture of the B-frame stream comes out once, in display order with its presentation time and no
/// composition offset, keyframes where the source has them, a sequence header first; audio passes untouched;
/// and ffprobe reads the rendition (as FLV) as H.264 without reordering, with its AAC.
#[test]
fn a_b_frame_stream_becomes_one_without_reordering() {
    let dir = std::env::temp_dir().join(format!("mplive-rendition-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = b_frame_flv(&dir);
    assert!(
        pictures(&source).any(|f| composition_ms(f) != 0),
        "the source has B-frames"
    );
    let mut convert = Convert::new(ReencoderConfig::default(), true);
    let mut out = Vec::new();
    for f in &source {
        out.extend(convert.push(f).unwrap());
    }
    // The pictures the decoder still held at the end are not flushed (a live stream has no end): at most the
    // reordering depth is missing.
    let mut source_pts: Vec<i64> = pictures(&source)
        .map(|f| i64::from(f.timestamp) + composition_ms(f))
        .collect();
    source_pts.sort_unstable();
    let out_pts: Vec<i64> = pictures(&out).map(|f| i64::from(f.timestamp)).collect();
    assert!(
        out_pts.len() + 3 >= source_pts.len(),
        "{} of {}",
        out_pts.len(),
        source_pts.len()
    );
    assert_eq!(
        out_pts,
        source_pts[..out_pts.len()],
        "each picture once, in display order"
    );
    assert!(pictures(&out).all(|f| composition_ms(f) == 0));
    let first_video = out.iter().find(|f| f.kind == MediaKind::Video).unwrap();
    assert!(
        first_video.sequence_header,
        "the AVC sequence header comes first"
    );
    let source_keys: Vec<u32> = pictures(&source)
        .filter(|f| f.keyframe)
        .map(|f| f.timestamp + composition_ms(f) as u32)
        .collect();
    let out_keys: Vec<u32> = pictures(&out)
        .filter(|f| f.keyframe)
        .map(|f| f.timestamp)
        .collect();
    assert_eq!(out_keys, source_keys, "the source's GOPs");
    let audio = |frames: &[Frame]| -> Vec<Bytes> {
        frames
            .iter()
            .filter(|f| f.kind == MediaKind::Audio)
            .map(|f| f.payload.clone())
            .collect()
    };
    assert_eq!(audio(&out), audio(&source), "audio passes as it is");

    // The rendition as an FLV file, in the hub's order: ffprobe finds H.264 without reordering, and AAC.
    let mut file = BytesMut::new();
    file.extend_from_slice(&flv::tag::encode_header(true, true));
    for f in &out {
        flv::tag::encode_tag(&mut file, f.kind, f.timestamp, &f.payload);
    }
    let path = dir.join("rendition.flv");
    std::fs::write(&path, &file).unwrap();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args([
            "stream=codec_name,profile,has_b_frames,nb_read_frames",
            "-of",
            "default=nw=1",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let probe = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.contains("codec_name=h264") && probe.contains("profile=Constrained Baseline"),
        "{probe}"
    );
    assert!(
        probe.contains("has_b_frames=0") && probe.contains("codec_name=aac"),
        "{probe}"
    );
    assert!(
        probe.contains(&format!("nb_read_frames={}", out_pts.len())),
        "{probe}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Malformed video never panics and never stops audio.
#[test]
fn malformed_video_is_an_error_and_audio_passes() {
    let mut convert = Convert::new(ReencoderConfig::default(), true);
    let junk = [
        &[][..],
        &[0x17, 0][..],
        &[0x17, 0, 0, 0, 0, 1, 0x64][..],
        &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65][..],
        &[0x27, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..],
    ];
    for j in junk {
        let _ = convert.push(&Frame::new(MediaKind::Video, 0, Bytes::copy_from_slice(j)));
    }
    let audio = Frame::new(MediaKind::Audio, 5, Bytes::from_static(&[0xAF, 1, 0x21]));
    assert_eq!(convert.push(&audio).unwrap(), vec![audio]);
}

fn publish(hub: &Registry, key: &StreamKey) -> Publisher {
    hub.publish(
        key.clone(),
        PublisherInfo {
            remote_addr: "test".into(),
            protocol: "rtmp",
            republish_grace: None,
            started_at_ms: 0,
            relay: false,
        },
    )
    .unwrap()
}

/// One rendition per stream whatever its viewers, `max_streams` of them, stopped when unwatched for
/// `idle_secs` and when the original ends (its viewers then end too); the re-encoder reads the original
/// without being counted among its players.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rendition_per_stream_within_the_limit_and_gone_when_unwatched_or_ended() {
    let original = Registry::new(HubConfig::default());
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let settings = TranscodeSettings {
        max_streams: 1,
        idle_secs: 1,
        ..TranscodeSettings::default()
    };
    let renditions = Arc::new(Renditions::new(settings, shutdown.clone(), tracker.clone()));
    let (a, b) = (StreamKey::new("live", "a"), StreamKey::new("live", "b"));
    let publisher_a = publish(&original, &a);
    let _publisher_b = publish(&original, &b);

    let first = renditions.view(&original, &a).unwrap();
    let second = renditions.view(&original, &a).unwrap();
    assert!(
        Arc::ptr_eq(&first.source, &second.source),
        "one rendition for both"
    );
    assert_eq!(renditions.running(), 1);
    assert_eq!(
        original.get(&a).unwrap().players.total,
        0,
        "the re-encoder is not a player"
    );
    let refused = renditions.view(&original, &b).err().unwrap();
    assert!(
        refused
            .to_string()
            .starts_with("too_many_transcodes: 1 streams"),
        "{refused}"
    );
    assert!(matches!(
        renditions.view(&original, &StreamKey::new("live", "none")),
        Err(RenditionError::TooMany { .. })
    ));

    // Unwatched for idle_secs: it stops, and the place is free for another stream.
    drop((first, second));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while renditions.running() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unwatched rendition did not stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let viewer_b = renditions.view(&original, &b).unwrap();
    assert!(renditions
        .view(&original, &StreamKey::new("live", "none"))
        .is_err());
    drop(viewer_b);

    // The original ends (no player is left, so at once): the rendition stops and its viewers end.
    let mut viewer_a = loop {
        match renditions.view(&original, &a) {
            Ok(v) => break v,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    drop(publisher_a);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while viewer_a.subscriber.recv().await.is_ok() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the rendition's viewer did not end with the original"
    );
    shutdown.cancel();
}

/// A viewer that arrives while a stopped rendition's thread still holds the stream in the private hub gets a
/// new rendition instead of a 404, and the old one's reader then stops without taking the new one with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_arriving_as_a_rendition_stops_gets_a_new_one() {
    let original = Registry::new(HubConfig::default());
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let renditions = Arc::new(Renditions::new(
        TranscodeSettings::default(),
        shutdown.clone(),
        tracker.clone(),
    ));
    let key = StreamKey::new("live", "a");
    let _publisher = publish(&original, &key);
    let old = renditions.view(&original, &key).unwrap();
    // What a stop does under the lock, before its thread has let go of the private hub's stream.
    renditions.running.lock().remove(&key);

    let new = renditions
        .view(&original, &key)
        .expect("a viewer arriving while the old rendition winds down");
    assert!(!Arc::ptr_eq(&old.source, &new.source), "a new rendition");
    assert_eq!(renditions.running(), 1);
    // The old rendition's reader sees it was replaced (its once-a-second check) and stops; the new one stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = renditions.view(&original, &key).unwrap();
    assert!(
        Arc::ptr_eq(&again.source, &new.source),
        "the new rendition is still the stream's"
    );
    assert_eq!(renditions.running(), 1);
    assert_eq!(
        tracker.len(),
        1,
        "only the new rendition's reader runs (the old one would feed a kicked re-encoder for good)"
    );
    shutdown.cancel();
}
