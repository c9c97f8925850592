//! Client-supplied text in log lines: cut to a bound and escaped, so a peer can neither grow the log by megabytes
//! nor forge lines with control characters.

use std::fmt;

/// The most characters of one client-supplied value that a log line carries.
pub(crate) const MAX_LOGGED_CHARS: usize = 96;

/// Shows at most [`MAX_LOGGED_CHARS`] characters of `value`, control characters escaped, and says how much was
/// left out.
pub(crate) fn clip(value: &str) -> Clipped<'_> {
    Clipped(value)
}

/// See [`clip`].
pub(crate) struct Clipped<'a>(&'a str);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0;
        for c in self.0.chars().take(MAX_LOGGED_CHARS) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
            shown += c.len_utf8();
        }
        if shown < self.0.len() {
            write!(f, "…({} more bytes)", self.0.len() - shown)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_control_characters_escaped() {
        assert_eq!(clip("live").to_string(), "live");
        let long = "x".repeat(5 << 20);
        let shown = clip(&long).to_string();
        assert!(shown.len() < 200, "{}", shown.len());
        assert!(shown.ends_with(&format!("…({} more bytes)", (5 << 20) - MAX_LOGGED_CHARS)));
        assert_eq!(clip("a\nb\u{1b}[31m").to_string(), "a\\nb\\u{1b}[31m");
        assert_eq!(clip("é").to_string(), "é");
    }
}
