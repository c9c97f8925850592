//! HLS and LL-HLS viewers: HTTP pollers that read the playlist, fetch what is new and check that media
//! sequence numbers and media timestamps (the first video PTS of each MPEG-TS segment, the `tfdt` of each track
//! of each fMP4 part) never go backwards, except across an `EXT-X-DISCONTINUITY`, where a new timeline may
//! start (those steps are counted apart).
//!
//! A viewer is "dropped by the server" when its playlist fails [`PLAYLIST_FAILURES`] times in a row (a 404 once
//! the stream has ended, 5xx, a broken connection); a listed segment or part that cannot be fetched is counted
//! as a fetch error, not a drop.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::sleep;

use super::players::{stopped, Ctx, Kind, KindStats, Outcome, Slot};

/// Playlist failures in a row that end a viewer.
const PLAYLIST_FAILURES: u32 = 3;
/// Time one request may take: a blocking reload is held up to three target durations by the server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Video elementary stream of mplive's MPEG-TS segments (docs/hls.md).
const VIDEO_PID: u16 = 0x100;

/// One media segment or LL-HLS part a playlist lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub msn: u64,
    /// LL-HLS part index within segment `msn`; `None` for a whole segment.
    pub part: Option<u32>,
    /// Discontinuity sequence number of the entry's segment.
    pub disc: u64,
    pub uri: String,
    /// The `EXT-X-MAP` in force.
    pub map: Option<String>,
}

/// What the soak reads of a media playlist.
#[derive(Debug, Default)]
pub(super) struct Playlist {
    pub media_sequence: u64,
    pub target_ms: u64,
    pub entries: Vec<Entry>,
    /// `EXT-X-PRELOAD-HINT` of type PART: the next part, as (msn, part).
    pub hint: Option<(u64, u32)>,
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &line[at..];
    Some(&rest[..rest.find('"')?])
}

/// `{msn}.{part}.m4s` (query and directories ignored).
fn part_of(uri: &str) -> Option<(u64, u32)> {
    let path = uri.split('?').next()?;
    let name = path.rsplit('/').next()?.strip_suffix(".m4s")?;
    let (msn, part) = name.split_once('.')?;
    Some((msn.parse().ok()?, part.parse().ok()?))
}

/// Parses a media playlist (classic or LL-HLS). Unknown tags are skipped.
pub(super) fn parse(text: &str) -> Playlist {
    let mut p = Playlist::default();
    let (mut disc_seq, mut discs, mut segments) = (0u64, 0u64, 0u64);
    let mut map: Option<String> = None;
    let mut pending_segment = false;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            disc_seq = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_ms = v.parse::<u64>().unwrap_or(2).saturating_mul(1000);
        } else if line == "#EXT-X-DISCONTINUITY" {
            discs += 1;
        } else if line.starts_with("#EXT-X-MAP:") {
            map = attr(line, "URI").map(str::to_owned);
        } else if line.starts_with("#EXT-X-PART:") {
            if let Some(uri) = attr(line, "URI") {
                if let Some((msn, part)) = part_of(uri) {
                    p.entries.push(Entry {
                        msn,
                        part: Some(part),
                        disc: disc_seq + discs,
                        uri: uri.to_owned(),
                        map: map.clone(),
                    });
                }
            }
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") && line.contains("TYPE=PART") {
            p.hint = attr(line, "URI").and_then(part_of);
        } else if line.starts_with("#EXTINF:") {
            pending_segment = true;
        } else if !line.is_empty() && !line.starts_with('#') && pending_segment {
            pending_segment = false;
            p.entries.push(Entry {
                msn: p.media_sequence + segments,
                part: None,
                disc: disc_seq + discs,
                uri: line.to_owned(),
                map: map.clone(),
            });
            segments += 1;
        }
    }
    p
}

/// The first PTS (90 kHz) of the first PES of `pid` in an MPEG-TS buffer.
pub(super) fn first_pts(ts: &[u8], pid: u16) -> Option<u64> {
    for pkt in ts.chunks_exact(188) {
        if pkt[0] != 0x47 || pkt[1] & 0x40 == 0 {
            continue;
        }
        if ((u16::from(pkt[1]) & 0x1f) << 8 | u16::from(pkt[2])) != pid {
            continue;
        }
        let afc = (pkt[3] >> 4) & 3;
        let mut at = 4usize;
        if afc & 2 != 0 {
            at += 1 + usize::from(*pkt.get(4)?);
        }
        if afc & 1 == 0 {
            continue;
        }
        let pes = pkt.get(at..)?;
        if pes.len() < 14 || pes[..3] != [0, 0, 1] || pes[7] & 0x80 == 0 {
            return None;
        }
        let p = &pes[9..14];
        return Some(
            (u64::from(p[0] >> 1) & 7) << 30
                | u64::from(p[1]) << 22
                | u64::from(p[2] >> 1) << 15
                | u64::from(p[3]) << 7
                | u64::from(p[4] >> 1),
        );
    }
    None
}

/// (track id, baseMediaDecodeTime) of every `traf` of the first `moof` in an fMP4 buffer.
pub(super) fn tfdts(data: &[u8]) -> Vec<(u32, u64)> {
    fn boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        while data.len() >= 8 {
            let size32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
            let kind = [data[4], data[5], data[6], data[7]];
            let (header, size) = match size32 {
                0 => (8, data.len()),
                1 if data.len() >= 16 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&data[8..16]);
                    (
                        16,
                        usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX),
                    )
                }
                n => (8, n),
            };
            if size < header || size > data.len() {
                break;
            }
            out.push((kind, &data[header..size]));
            data = &data[size..];
        }
        out
    }
    let mut out = Vec::new();
    let Some((_, moof)) = boxes(data).into_iter().find(|(k, _)| k == b"moof") else {
        return out;
    };
    for (_, traf) in boxes(moof).into_iter().filter(|(k, _)| k == b"traf") {
        let mut track = None;
        let mut time = None;
        for (kind, body) in boxes(traf) {
            match &kind {
                b"tfhd" if body.len() >= 8 => {
                    track = Some(u32::from_be_bytes([body[4], body[5], body[6], body[7]]))
                }
                b"tfdt" if body.len() >= 8 => {
                    time = if body[0] == 1 && body.len() >= 12 {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&body[4..12]);
                        Some(u64::from_be_bytes(b))
                    } else {
                        Some(u64::from(u32::from_be_bytes([
                            body[4], body[5], body[6], body[7],
                        ])))
                    };
                }
                _ => {}
            }
        }
        if let (Some(t), Some(d)) = (track, time) {
            out.push((t, d));
        }
    }
    out
}

/// The timeline of one viewer: per track, the last timestamp and its discontinuity sequence.
#[derive(Default)]
struct Timeline {
    last: HashMap<u32, (u64, u64)>,
    backwards: u64,
    at_disc: u64,
    discs: u64,
    max_back_ms: u64,
    last_disc: Option<u64>,
}

impl Timeline {
    /// `units_per_ms`: 90 for MPEG-TS PTS; 0 when the unit is not known (fMP4 timescales).
    fn check(&mut self, track: u32, disc: u64, t: u64, units_per_ms: u64) {
        if self.last_disc.is_some_and(|d| d != disc) {
            self.discs += 1;
        }
        self.last_disc = Some(disc);
        if let Some(&(last, last_disc)) = self.last.get(&track) {
            if t < last {
                if last_disc != disc {
                    self.at_disc += 1;
                } else {
                    self.backwards += 1;
                    if let Some(ms) = (last - t).checked_div(units_per_ms) {
                        self.max_back_ms = self.max_back_ms.max(ms);
                    }
                }
            }
        }
        self.last.insert(track, (t, disc));
    }

    fn finish(&self, stats: &KindStats) {
        stats.backwards(self.backwards, 0, self.max_back_ms);
        stats.add(&stats.backwards_at_discontinuity, self.at_disc);
        stats.add(&stats.discontinuities, self.discs);
    }
}

enum Race<T> {
    Done(T),
    Left,
    Stopped,
}

/// One viewer session: classic HLS or LL-HLS according to the slot.
pub(super) async fn session(ctx: &Ctx, slot: &Slot, ua: &str) -> Outcome {
    let stats = ctx.stats(slot.kind);
    let mut timeline = Timeline::default();
    let outcome = viewer(ctx, slot, ua, stats, &mut timeline).await;
    timeline.finish(stats);
    outcome
}

async fn viewer(
    ctx: &Ctx,
    slot: &Slot,
    ua: &str,
    stats: &KindStats,
    timeline: &mut Timeline,
) -> Outcome {
    let mut stop = ctx.stop.clone();
    let ll = slot.kind == Kind::LlHls;
    let base = if ll { &ctx.ll_url } else { &ctx.hls_url };
    let mut served = false;
    let mut failures = 0u32;
    let mut last_media_sequence = 0u64;
    let mut cursor: Option<(u64, u32)> = None;
    let mut directives: Option<(u64, u32)> = None;
    let mut map: Option<String> = None;
    // Races a request against the churn and the stop.
    macro_rules! race {
        ($fut:expr) => {
            match tokio::select! {
                r = $fut => Race::Done(r),
                _ = slot.leave.notified(), if served => Race::Left,
                _ = stopped(&mut stop) => Race::Stopped,
            } {
                Race::Done(r) => r,
                Race::Left => return Outcome::Left,
                Race::Stopped => return Outcome::Stopped,
            }
        };
    }
    loop {
        let url = match directives {
            Some((msn, part)) => format!("{base}?_HLS_msn={msn}&_HLS_part={part}"),
            None => base.clone(),
        };
        let answer = race!(get(ctx, &url, ua));
        let text = match answer {
            Ok((status, body)) if status.is_success() => {
                String::from_utf8_lossy(&body).into_owned()
            }
            Ok((status, _))
                if directives.is_some()
                    && (status == StatusCode::SERVICE_UNAVAILABLE
                        || status == StatusCode::BAD_REQUEST) =>
            {
                // A blocking reload that timed out (503) or asked too far ahead (400): ask for the playlist as is.
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    stats.add(&stats.blocking_timeouts, 1);
                }
                directives = None;
                continue;
            }
            other => {
                let e = match other {
                    Ok((status, _)) => format!("playlist: {status}"),
                    Err(e) => format!("playlist: {e}"),
                };
                failures += 1;
                if failures >= PLAYLIST_FAILURES {
                    return if served {
                        Outcome::Dropped(e)
                    } else {
                        Outcome::Failed(e)
                    };
                }
                directives = None;
                race!(sleep(Duration::from_secs(1)));
                continue;
            }
        };
        failures = 0;
        if !served {
            served = true;
            stats.add(&stats.played, 1);
            slot.playing.store(true, Ordering::Relaxed);
        }
        let playlist = parse(&text);
        if playlist.media_sequence < last_media_sequence {
            stats.add(&stats.msn_backwards, 1);
        }
        last_media_sequence = playlist.media_sequence;
        let wanted: Vec<&Entry> = playlist
            .entries
            .iter()
            .filter(|e| e.part.is_some() == ll)
            .collect();
        let key = |e: &Entry| (e.msn, e.part.unwrap_or(0));
        let new: Vec<&Entry> = match cursor {
            None => wanted.last().copied().into_iter().collect(),
            Some(c) => wanted.into_iter().filter(|e| key(e) > c).collect(),
        };
        for entry in new {
            if ll && entry.map != map {
                if let Some(m) = &entry.map {
                    let init_url = resolve(base, m);
                    match race!(get(ctx, &init_url, ua)) {
                        Ok((s, _)) if s.is_success() => {}
                        _ => stats.add(&stats.fetch_errors, 1),
                    }
                }
                map = entry.map.clone();
            }
            let media_url = resolve(base, &entry.uri);
            match race!(get(ctx, &media_url, ua)) {
                Ok((status, body)) if status.is_success() => {
                    stats.add(&stats.media, 1);
                    stats.add(&stats.bytes, body.len() as u64);
                    if ll {
                        for (track, t) in tfdts(&body) {
                            timeline.check(track, entry.disc, t, 0);
                        }
                    } else if let Some(pts) = first_pts(&body, VIDEO_PID) {
                        timeline.check(u32::from(VIDEO_PID), entry.disc, pts, 90);
                    }
                }
                _ => stats.add(&stats.fetch_errors, 1),
            }
            cursor = Some(key(entry));
        }
        if ll {
            directives = playlist.hint.or_else(|| cursor.map(|(m, p)| (m, p + 1)));
        } else {
            // Classic HLS: reload every half target duration, as players do.
            let wait = Duration::from_millis((playlist.target_ms / 2).clamp(500, 5000));
            race!(sleep(wait));
        }
    }
}

/// GETs `url` with the viewer's User-Agent: the status and the body.
async fn get(ctx: &Ctx, url: &str, ua: &str) -> Result<(StatusCode, bytes::Bytes), String> {
    let resp = ctx
        .http
        .get(url)
        .header("user-agent", ua)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// A playlist URI against the playlist's URL.
fn resolve(playlist: &str, uri: &str) -> String {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return uri.to_owned();
    }
    let origin_end = playlist.find("://").map_or(0, |i| i + 3);
    if uri.starts_with('/') {
        let host_end = playlist[origin_end..]
            .find('/')
            .map_or(playlist.len(), |i| origin_end + i);
        return format!("{}{uri}", &playlist[..host_end]);
    }
    let path = playlist.split('?').next().unwrap_or(playlist);
    let dir = path
        .rfind('/')
        .filter(|&i| i >= origin_end)
        .map_or(path, |i| &path[..=i]);
    format!("{dir}{uri}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_playlist() {
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
                    #EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n\
                    #EXTINF:2.000,\nsoak/7.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nsoak/8.ts\n";
        let p = parse(text);
        assert_eq!((p.media_sequence, p.target_ms, p.hint), (7, 2000, None));
        let got: Vec<_> = p
            .entries
            .iter()
            .map(|e| (e.msn, e.part, e.disc, e.uri.as_str()))
            .collect();
        assert_eq!(got, [(7, None, 1, "soak/7.ts"), (8, None, 2, "soak/8.ts")]);
    }

    #[test]
    fn ll_playlist() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-MAP:URI=\"ll/init-0.mp4\"\n\
                    #EXT-X-PART:DURATION=0.334,URI=\"ll/3.0.m4s\",INDEPENDENT=YES\n#EXTINF:2.000,\nll/3.m4s\n\
                    #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"ll/init-1.mp4\"\n\
                    #EXT-X-PART:DURATION=0.334,URI=\"ll/4.0.m4s?txTime=1\"\n\
                    #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"ll/4.1.m4s\"\n";
        let p = parse(text);
        assert_eq!(p.hint, Some((4, 1)));
        let parts: Vec<_> = p
            .entries
            .iter()
            .filter(|e| e.part.is_some())
            .map(|e| (e.msn, e.part, e.disc, e.map.as_deref()))
            .collect();
        assert_eq!(
            parts,
            [
                (3, Some(0), 0, Some("ll/init-0.mp4")),
                (4, Some(0), 1, Some("ll/init-1.mp4"))
            ]
        );
    }

    #[test]
    fn urls_resolve() {
        let pl = "http://127.0.0.1:8080/live/soak/ll.m3u8";
        assert_eq!(
            resolve(pl, "ll/4.1.m4s"),
            "http://127.0.0.1:8080/live/soak/ll/4.1.m4s"
        );
        assert_eq!(
            resolve("http://h:1/live/soak.m3u8?a=b", "soak/7.ts"),
            "http://h:1/live/soak/7.ts"
        );
        assert_eq!(resolve(pl, "/x/y.ts"), "http://127.0.0.1:8080/x/y.ts");
    }

    #[test]
    fn pts_of_a_ts_packet() {
        let mut pkt = vec![0x47, 0x41, 0x00, 0x10, 0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
        // PTS 90000 * 3 = 270000 = 0x41EB0
        let pts: u64 = 270_000;
        pkt.extend_from_slice(&[
            0x21 | (((pts >> 30) as u8 & 7) << 1),
            (pts >> 22) as u8,
            ((pts >> 14) as u8) | 1,
            (pts >> 7) as u8,
            ((pts << 1) as u8) | 1,
        ]);
        pkt.resize(188, 0xff);
        assert_eq!(first_pts(&pkt, 0x100), Some(pts));
        assert_eq!(first_pts(&pkt, 0x101), None);
    }

    #[test]
    fn tfdt_of_a_part() {
        let bx = |kind: &[u8; 4], body: &[u8]| {
            let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(body);
            v
        };
        let tfhd = bx(b"tfhd", &[0, 0, 0, 0, 0, 0, 0, 2]);
        let tfdt = bx(b"tfdt", &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x39]);
        let traf = bx(b"traf", &[tfhd, tfdt].concat());
        let moof = bx(b"moof", &[bx(b"mfhd", &[0; 8]), traf].concat());
        let data = [moof, bx(b"mdat", &[1, 2, 3])].concat();
        assert_eq!(tfdts(&data), [(2, 12345)]);
        assert!(tfdts(b"junk").is_empty());
    }

    #[test]
    fn timeline_allows_a_new_one_at_a_discontinuity() {
        let mut t = Timeline::default();
        t.check(1, 0, 1000, 90);
        t.check(1, 0, 2000, 90);
        t.check(1, 1, 10, 90);
        t.check(1, 1, 5, 90);
        assert_eq!(
            (t.backwards, t.at_disc, t.discs, t.max_back_ms),
            (1, 1, 1, 0)
        );
    }
}
