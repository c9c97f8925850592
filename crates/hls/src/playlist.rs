//! The RFC 8216 media playlist of a live window of segments.

use std::fmt::Write;

use crate::segmenter::Segment;

/// Renders a live media playlist (no `EXT-X-ENDLIST`) for `segments` (oldest first, consecutive sequence
/// numbers).
///
/// Segment URIs are `{uri_prefix}{sequence}.ts`, followed by `?{query}` when a query is given, so that a signed
/// playlist URL's signature carries over to its segments. `EXT-X-TARGETDURATION` is the largest segment duration
/// rounded to the nearest second (at least `min_target_ms`), as RFC 8216 4.3.3.1 requires of every `EXTINF`; see
/// [`target_duration_secs`].
pub fn render(
    segments: &[Segment],
    discontinuity_sequence: u64,
    min_target_ms: u64,
    uri_prefix: &str,
    query: Option<&str>,
) -> String {
    let max_ms = segments
        .iter()
        .map(|s| s.duration_ms)
        .max()
        .unwrap_or(0)
        .max(min_target_ms);
    let target_secs = target_duration_secs(max_ms);
    let media_sequence = segments.first().map_or(0, |s| s.sequence);
    let mut out = String::with_capacity(256 + segments.len() * 128);
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target_secs}\n#EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
    );
    if discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
        );
    }
    let query = query.filter(|q| !q.is_empty());
    for s in segments {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            iso8601_utc(s.program_date_time_ms)
        );
        let _ = write!(
            out,
            "#EXTINF:{}.{:03},\n{uri_prefix}{}.ts",
            s.duration_ms / 1000,
            s.duration_ms % 1000,
            s.sequence
        );
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out.push('\n');
    }
    out
}

/// `EXT-X-TARGETDURATION` for a longest segment of `max_ms`: RFC 8216 4.3.3.1 asks that every `EXTINF`, rounded
/// to the nearest integer, be at most the target, so 2.009 s gives 2, not 3. Rounding up instead would make
/// players hold back a whole second more per target duration (hls.js stays three target durations behind).
pub fn target_duration_secs(max_ms: u64) -> u64 {
    max_ms.saturating_add(500).div_euclid(1000).max(1)
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` for milliseconds since the Unix epoch.
pub fn iso8601_utc(ms: u64) -> String {
    // The same calendar as recording file names (mp4's), so both agree on every date.
    let t = mp4::record::utc_from_unix(ms / 1000);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn seg(sequence: u64, duration_ms: u64, discontinuity: bool) -> Segment {
        Segment {
            sequence,
            duration_ms,
            program_date_time_ms: 1_700_000_000_123 + sequence * 2000,
            discontinuity,
            data: Bytes::new(),
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn renders_the_window() {
        let text = render(
            &[seg(7, 2040, false), seg(8, 2500, true)],
            2,
            2000,
            "s/",
            Some("txSecret=a&txTime=b"),
        );
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:2\n\
             #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:34.123Z\n#EXTINF:2.040,\ns/7.ts?txSecret=a&txTime=b\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:36.123Z\n#EXTINF:2.500,\ns/8.ts?txSecret=a&txTime=b\n"
        );
    }
}
