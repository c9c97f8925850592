//! Interop with real ffmpeg/ffprobe: an FLV fixture made by ffmpeg is demuxed with `flv::FlvDemuxer`, recorded
//! as fMP4 and as FLV, and the results (whole and cut mid-unit, as a kill -9 would leave them) are read back.

mod common;

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use common::*;
use mp4::fmp4::WriterConfig;
use mp4::record::{FlvRecorder, Fmp4Recorder};

fn record_fmp4(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("out.mp4");
    let mut rec = Fmp4Recorder::new(File::create(&path).unwrap(), WriterConfig::default());
    for (kind, ts, body) in read_flv(&fixture()) {
        rec.write_frame(kind, ts, &body).unwrap();
    }
    rec.finish().unwrap();
    path
}

#[test]
fn fmp4_recording_probes_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = record_fmp4(dir.path());
    let probe = ffprobe(&path);
    assert_eq!(values(&probe, "codec_name"), ["h264", "aac"], "{probe}");
    assert_eq!(values(&probe, "width"), ["540"]);
    assert_eq!(values(&probe, "height"), ["960"]);
    let d = duration(&probe);
    assert!((d - 6.0).abs() <= 0.5, "duration {d}: {probe}");
    ffmpeg_decode(&path);
    assert_eq!(frame_counts(&path)[0], 150, "every picture is there");

    let file = std::fs::read(&path).unwrap();
    let boxes = walk(&file, 0, file.len()).unwrap();
    assert!(check_fragments(&file, &boxes) >= 6, "one fragment per GOP");
}

#[test]
fn fmp4_cut_mid_fragment_reads_up_to_the_last_complete_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = record_fmp4(dir.path());
    std::fs::create_dir_all("/tmp/mp4exp").unwrap();
    std::fs::copy(&path, "/tmp/mp4exp/out.mp4").unwrap();
    let file = std::fs::read(&path).unwrap();
    let boxes = walk(&file, 0, file.len()).unwrap();
    // Cut inside the mdat of the 4th fragment: 3 complete fragments of 1 s remain.
    let mdats: Vec<_> = boxes.iter().filter(|b| &b.kind == b"mdat").collect();
    let cut_at = mdats[3].offset + mdats[3].size / 2;
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &file[..cut_at]).unwrap();

    let probe = ffprobe(&cut);
    assert_eq!(values(&probe, "codec_name"), ["h264", "aac"], "{probe}");
    let frames = frame_counts(&cut);
    assert!(frames[0] >= 75, "complete fragments decode: {frames:?}");
}

#[test]
fn flv_recording_probes_decodes_and_survives_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.flv");
    let mut rec = FlvRecorder::new(BufWriter::new(File::create(&path).unwrap())).unwrap();
    for (kind, ts, body) in read_flv(&fixture()) {
        rec.write_frame(kind, ts, &body).unwrap();
    }
    rec.finish().unwrap();
    let probe = ffprobe(&path);
    assert_eq!(values(&probe, "codec_name"), ["h264", "aac"], "{probe}");
    let d = duration(&probe);
    assert!((d - 6.0).abs() <= 0.5, "duration {d}: {probe}");
    ffmpeg_decode(&path);

    let file = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.flv");
    std::fs::write(&cut, &file[..file.len() / 2 + 7]).unwrap();
    let probe = ffprobe(&cut);
    assert_eq!(values(&probe, "codec_name"), ["h264", "aac"], "{probe}");
    let frames = frame_counts(&cut);
    assert!(frames[0] >= 50, "half the file decodes: {frames:?}");
}

#[test]
fn fmp4_rotation_gives_files_that_each_play() {
    let dir = tempfile::tempdir().unwrap();
    let name = |i: usize| dir.path().join(format!("part{i}.mp4"));
    let mut rec = Fmp4Recorder::new(File::create(name(0)).unwrap(), WriterConfig::default());
    let mut files = 1;
    for (kind, ts, body) in read_flv(&fixture()) {
        let keyframe = flv::FrameClass::of(kind, &body).is_keyframe();
        if keyframe && rec.should_rotate(Duration::from_secs(2)) {
            rec.rotate(File::create(name(files)).unwrap()).unwrap();
            files += 1;
        }
        rec.write_frame(kind, ts, &body).unwrap();
    }
    rec.finish().unwrap();
    assert_eq!(files, 3, "6 s in 2 s files");
    let mut total = 0.0;
    for i in 0..files {
        let probe = ffprobe(&name(i));
        assert_eq!(values(&probe, "codec_name"), ["h264", "aac"], "{probe}");
        let d = duration(&probe);
        assert!(d <= 2.5, "file {i}: duration {d}");
        total += d;
        ffmpeg_decode(&name(i));
        let file = std::fs::read(name(i)).unwrap();
        let boxes = walk(&file, 0, file.len()).unwrap();
        assert_eq!(&boxes[0].kind, b"ftyp");
        let tfdt = boxes[2].path(&[b"traf", b"tfdt"]).unwrap().body(&file);
        assert_eq!(u64_at(tfdt, 4), 0, "file {i} starts at 0");
    }
    assert!((total - 6.0).abs() <= 0.5, "total {total}");
}
