//! One line for an error and its causes, each said once: `error sending request for url (...): client error
//! (Connect): tcp connect error: Connection refused (os error 111)`. Libraries often print their source in their
//! own message too; a cause already in the text so far is left out.

use std::error::Error;

/// `e` and every `source()` below it, joined with `: `, skipping a cause whose text is already there.
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut messages = Vec::new();
    let mut next: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(e) = next {
        messages.push(e.to_string());
        next = e.source();
    }
    join_causes(messages)
}

/// Joins messages outermost first with `: `, leaving out empty ones and ones already said.
pub fn join_causes(messages: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for m in messages {
        let m = m.trim();
        if m.is_empty() || out.contains(m) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error, bool);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.1 {
                write!(f, "cannot connect: {}", self.0)
            } else {
                write!(f, "cannot connect")
            }
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let plain = error_chain(&Outer(refused(), false));
        assert_eq!(plain, format!("cannot connect: {}", refused()));
        // A message that already holds its source is not followed by it again.
        assert_eq!(error_chain(&Outer(refused(), true)), plain);
    }
}
