//! File names for recordings: a template such as `{app}/{stream}/{start:%Y%m%d-%H%M%S}.mp4` and a UTC calendar
//! computed from Unix seconds (no time-zone database involved: recordings are named in UTC).

use std::fmt::Write as _;

use crate::error::TemplateError;

/// Default format of `{start}`.
const DEFAULT_START_FORMAT: &str = "%Y%m%d-%H%M%S";

/// The values a template can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameVars<'a> {
    /// The application (first path component of the stream key).
    pub app: &'a str,
    /// The stream name.
    pub stream: &'a str,
    /// Start of the recording, in seconds since the Unix epoch.
    pub start_unix: u64,
}

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year (1970 or later).
    pub year: u64,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day: u8,
    /// Hour, 0 to 23.
    pub hour: u8,
    /// Minute, 0 to 59.
    pub minute: u8,
    /// Second, 0 to 59.
    pub second: u8,
}

/// The UTC calendar time of `secs` seconds after the Unix epoch (proleptic Gregorian calendar).
pub fn utc_from_unix(secs: u64) -> UtcTime {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from a day count, counting in 400-year eras that start on 1 March so that the leap day ends
    // the year (the well-known days-to-civil algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // All narrowing casts below are of values bounded by the arithmetic (day <= 31, month <= 12, ...).
    UtcTime {
        year,
        month: month as u8,
        day: day as u8,
        hour: (rem / 3600) as u8,
        minute: (rem / 60 % 60) as u8,
        second: (rem % 60) as u8,
    }
}

/// Expands a file-name template.
///
/// Fields: `{app}`, `{stream}`, `{start}` (same as `{start:%Y%m%d-%H%M%S}`) and `{start:FORMAT}` where FORMAT
/// may use `%Y %m %d %H %M %S %s` (Unix seconds) and `%%`. `{{` and `}}` are literal braces. `app` and
/// `stream` come from clients, so every character outside `[A-Za-z0-9._-]` becomes `_` and a leading `.`
/// gets a `_` in front: a stream name can neither climb directories (`..`) nor add any.
pub fn format_path(template: &str, vars: &NameVars<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(TemplateError::UnmatchedBrace {
                at: template.len() - tail.len(),
            });
        }
        let Some(close) = tail.find('}') else {
            return Err(TemplateError::UnmatchedBrace {
                at: template.len() - tail.len(),
            });
        };
        let field = &tail[1..close];
        match field.split_once(':') {
            None if field == "app" => push_safe(&mut out, vars.app),
            None if field == "stream" => push_safe(&mut out, vars.stream),
            None if field == "start" => push_time(&mut out, DEFAULT_START_FORMAT, vars.start_unix)?,
            Some(("start", format)) => push_time(&mut out, format, vars.start_unix)?,
            _ => {
                return Err(TemplateError::UnknownField {
                    field: field.to_owned(),
                })
            }
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn push_safe(out: &mut String, value: &str) {
    if value.is_empty() || value.starts_with('.') {
        out.push('_');
    }
    out.extend(value.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '_'
        }
    }));
}

fn push_time(out: &mut String, format: &str, secs: u64) -> Result<(), TemplateError> {
    let t = utc_from_unix(secs);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(if c == '/' || c == '\\' { '_' } else { c });
            continue;
        }
        // Writing to a String cannot fail.
        let _ = match chars.next() {
            Some('Y') => write!(out, "{:04}", t.year),
            Some('m') => write!(out, "{:02}", t.month),
            Some('d') => write!(out, "{:02}", t.day),
            Some('H') => write!(out, "{:02}", t.hour),
            Some('M') => write!(out, "{:02}", t.minute),
            Some('S') => write!(out, "{:02}", t.second),
            Some('s') => write!(out, "{secs}"),
            Some('%') => write!(out, "%"),
            other => {
                return Err(TemplateError::UnknownConversion {
                    conversion: other.map_or_else(String::new, String::from),
                })
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(app: &'static str, stream: &'static str, start_unix: u64) -> NameVars<'static> {
        NameVars {
            app,
            stream,
            start_unix,
        }
    }

    #[test]
    fn calendar() {
        let t = utc_from_unix(0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        // 2000-02-29 12:34:56 UTC, a leap day in a century leap year.
        let t = utc_from_unix(951_827_696);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2000, 2, 29, 12, 34, 56)
        );
        // 2026-11-21 03:16:52 UTC.
        let t = utc_from_unix(1_795_231_012);
        assert_eq!((t.year, t.month, t.day), (2026, 11, 21));
        assert_eq!(utc_from_unix(u64::MAX).month, utc_from_unix(u64::MAX).month);
    }

    #[test]
    fn template() {
        let v = vars("live", "cam1", 951_827_696);
        assert_eq!(
            format_path("{app}/{stream}/{start:%Y%m%d-%H%M%S}.mp4", &v).unwrap(),
            "live/cam1/20000229-123456.mp4"
        );
        assert_eq!(format_path("{start}", &v).unwrap(), "20000229-123456");
        assert_eq!(
            format_path("{{x}} {start:%s%%}", &v).unwrap(),
            "{x} 951827696%"
        );
    }

    #[test]
    fn hostile_names_stay_in_their_directory() {
        let v = vars("..", "a/../../etc", 0);
        assert_eq!(
            format_path("{app}/{stream}.flv", &v).unwrap(),
            "_../a_.._.._etc.flv"
        );
        assert_eq!(format_path("{stream}", &vars("a", "", 0)).unwrap(), "_");
    }

    #[test]
    fn template_errors() {
        let v = vars("a", "b", 0);
        assert!(matches!(
            format_path("{nope}", &v),
            Err(TemplateError::UnknownField { .. })
        ));
        assert!(matches!(
            format_path("{app", &v),
            Err(TemplateError::UnmatchedBrace { at: 0 })
        ));
        assert!(matches!(
            format_path("{start:%q}", &v),
            Err(TemplateError::UnknownConversion { .. })
        ));
        assert!(matches!(
            format_path("x}", &v),
            Err(TemplateError::UnmatchedBrace { at: 1 })
        ));
    }
}
