//! Shared test helpers: an independent ISO BMFF box reader, the ffmpeg fixture, and ffprobe/ffmpeg runners.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bytes::Bytes;

/// One parsed box: type, offset of its header in the file, total size, and children for container boxes.
#[derive(Debug, Clone)]
pub struct BoxNode {
    pub kind: [u8; 4],
    pub offset: usize,
    pub size: usize,
    pub header: usize,
    pub children: Vec<BoxNode>,
}

impl BoxNode {
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }

    pub fn body<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        &file[self.offset + self.header..self.offset + self.size]
    }

    pub fn child(&self, kind: &[u8; 4]) -> Option<&BoxNode> {
        self.children.iter().find(|c| &c.kind == kind)
    }

    pub fn path(&self, path: &[&[u8; 4]]) -> Option<&BoxNode> {
        let mut node = self;
        for kind in path {
            node = node.child(kind)?;
        }
        Some(node)
    }
}

/// Containers whose body is only boxes.
const CONTAINERS: [&[u8; 4]; 10] = [
    b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf", b"edts",
];

/// Walks `data[start..end]` as a sequence of boxes; every size must be >= 8 and the sizes must add up to
/// exactly the range. Returns an error string describing the first inconsistency.
pub fn walk(data: &[u8], start: usize, end: usize) -> Result<Vec<BoxNode>, String> {
    let mut boxes = Vec::new();
    let mut at = start;
    while at < end {
        if end - at < 8 {
            return Err(format!("{} stray bytes at {at}", end - at));
        }
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
        let (size, header) = match size32 {
            0 => (end - at, 8),
            1 => {
                let s = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize;
                (s, 16)
            }
            s => (s, 8),
        };
        if size < header || at + size > end {
            return Err(format!(
                "box {} at {at} has size {size}, outside its parent (ends at {end})",
                String::from_utf8_lossy(&kind)
            ));
        }
        let mut node = BoxNode {
            kind,
            offset: at,
            size,
            header,
            children: Vec::new(),
        };
        if CONTAINERS.contains(&&kind) {
            node.children = walk(data, at + header, at + size)?;
        } else if &kind == b"stsd" {
            // Full box header, entry count, then sample entries; visual entries have 78 bytes of fields and
            // audio entries 28 before their child boxes.
            let entries = walk(data, at + header + 8, at + size)?;
            for mut e in entries {
                let skip = match &e.kind {
                    b"avc1" | b"hvc1" => 78,
                    b"mp4a" => 28,
                    _ => continue,
                };
                e.children = walk(data, e.offset + 8 + skip, e.offset + e.size)?;
                node.children.push(e);
            }
        }
        boxes.push(node);
        at += size;
    }
    Ok(boxes)
}

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// A parsed `trun`: (data offset, per sample (duration, size, flags, cts)).
pub fn parse_trun(body: &[u8]) -> (i32, Vec<(u32, u32, u32, i32)>) {
    let flags = u32_at(body, 0) & 0xFF_FFFF;
    let count = u32_at(body, 4) as usize;
    let mut at = 8;
    let mut offset = 0;
    if flags & 1 != 0 {
        offset = u32_at(body, at) as i32;
        at += 4;
    }
    if flags & 4 != 0 {
        at += 4;
    }
    let mut samples = Vec::new();
    for _ in 0..count {
        let mut field = |bit: u32| {
            if flags & bit != 0 {
                let v = u32_at(body, at);
                at += 4;
                v
            } else {
                0
            }
        };
        let d = field(0x100);
        let s = field(0x200);
        let f = field(0x400);
        let c = field(0x800) as i32;
        samples.push((d, s, f, c));
    }
    assert_eq!(at, body.len(), "trun has trailing bytes");
    (offset, samples)
}

/// Checks every fragment of a file: the data offsets of each `trun` point inside the `mdat` that follows, the
/// sample sizes add up to that `mdat`, and the `mfhd` sequence numbers increase. Returns the number of
/// fragments.
pub fn check_fragments(file: &[u8], boxes: &[BoxNode]) -> usize {
    let mut count = 0;
    let mut last_seq = 0;
    for (i, b) in boxes.iter().enumerate() {
        if &b.kind != b"moof" {
            continue;
        }
        count += 1;
        let seq = u32_at(b.child(b"mfhd").unwrap().body(file), 4);
        assert!(seq > last_seq, "mfhd sequence {seq} after {last_seq}");
        last_seq = seq;
        let mdat = &boxes[i + 1];
        assert_eq!(&mdat.kind, b"mdat");
        let mut expected_offset = b.size + mdat.header;
        for traf in b.children.iter().filter(|c| &c.kind == b"traf") {
            let tfhd = traf.child(b"tfhd").unwrap().body(file);
            assert_eq!(
                u32_at(tfhd, 0) & 0x02_0000,
                0x02_0000,
                "default-base-is-moof"
            );
            let (offset, samples) = parse_trun(traf.child(b"trun").unwrap().body(file));
            assert_eq!(offset as usize, expected_offset);
            expected_offset += samples.iter().map(|s| s.1 as usize).sum::<usize>();
        }
        assert_eq!(expected_offset, b.size + mdat.size, "samples fill the mdat");
    }
    count
}

/// Reads an FLV file into (tag type, timestamp, body) triples with the flv crate's demuxer.
pub fn read_flv(path: &Path) -> Vec<(flv::MediaKind, u32, Bytes)> {
    let data = std::fs::read(path).unwrap();
    let mut demux = flv::FlvDemuxer::new(64 << 20);
    demux.handle_input(&data).unwrap();
    let mut tags = Vec::new();
    while let Some(tag) = demux.poll_tag() {
        tags.push((tag.tag_type, tag.timestamp, tag.body));
    }
    tags
}

/// The 6-second 540x960 25 fps H.264 + AAC FLV fixture, made once per test binary in a temp dir.
pub fn fixture() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let path = dir.path().join("fixture.flv");
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        let out = Command::new("ffmpeg")
            .args([
                "-y",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=540x960:rate=25",
            ])
            .args([
                "-f", "lavfi", "-i", "sine", "-t", "6", "-c:v", "libx264", "-g", "25",
            ])
            .args(["-c:a", "aac", "-f", "flv"])
            .arg(&path)
            .output()
            .expect("ffmpeg is installed");
        assert!(
            out.status.success(),
            "ffmpeg fixture: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    path
}

/// `ffprobe -show_streams -show_format` as `key=value` lines.
pub fn ffprobe(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_format"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The values of `key=` lines in ffprobe output.
pub fn values<'a>(probe: &'a str, key: &str) -> Vec<&'a str> {
    probe
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The container duration ffprobe reports.
pub fn duration(probe: &str) -> f64 {
    values(probe, "duration")
        .into_iter()
        .filter_map(|v| v.parse::<f64>().ok())
        .fold(0.0, f64::max)
}

/// ffmpeg decodes the whole file with `-xerror`; returns stderr. Panics on any error.
pub fn ffmpeg_decode(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg is installed");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg decode of {}: {stderr}",
        path.display()
    );
    stderr
}

/// Decoded frame counts per stream (video, audio) from `ffprobe -count_frames`.
pub fn frame_counts(path: &Path) -> Vec<u64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}
