//! The length bound on the strings of `connect`, `publish` and `play` ([`crate::SessionConfig::max_field_bytes`]).
//!
//! The command size bound (`[rtmp] max_command_size`, 64 KiB) lets one string take a whole command; app names,
//! URLs and stream names with their signed query strings fit in a few KiB, and everything downstream (logs,
//! webhooks, the API) carries them, so each string gets its own, smaller bound.

use crate::amf0::Value;
use crate::error::Error;
use crate::message::Command;

/// Longest field label an error carries: a hostile property name is itself a long string.
const MAX_LABEL: usize = 64;

/// The first string of `cmd` longer than `max` bytes, as the session's error, when `cmd` is `connect`, `publish`
/// or `play`: every string of the command object (property names and nested values too) and of the arguments.
pub(super) fn too_long(cmd: &Command, max: u32) -> Option<Error> {
    let command = match cmd.name.as_str() {
        "connect" => "connect",
        "publish" => "publish",
        "play" => "play",
        _ => return None,
    };
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    // connect's properties are named as they are (`tcUrl`); publish and play carry a null object.
    let object_label = if command == "connect" { "" } else { "object" };
    let found = first_over(&cmd.object, object_label, limit).or_else(|| {
        cmd.args.iter().enumerate().find_map(|(i, arg)| {
            let label = match (command, i) {
                ("publish" | "play", 0) => "name".to_owned(),
                ("publish", 1) => "type".to_owned(),
                _ => format!("arguments[{i}]"),
            };
            first_over(arg, &label, limit)
        })
    });
    found.map(|(field, len)| Error::FieldTooLong {
        command,
        field: cut(&field),
        len,
        max,
    })
}

/// The first string in `value` (a property name counts) longer than `max` bytes: its label and length.
fn first_over(value: &Value, label: &str, max: usize) -> Option<(String, usize)> {
    match value {
        Value::String(s) | Value::LongString(s) => {
            (s.len() > max).then(|| (label.to_owned(), s.len()))
        }
        Value::Object(props) | Value::EcmaArray(props) => props.iter().find_map(|(key, v)| {
            // Each part is cut as the path is built, so a deep path of long names stays small.
            let path = if label.is_empty() {
                cut(key)
            } else {
                format!("{label}.{}", cut(key))
            };
            if key.len() > max {
                return Some((format!("{path} (a property name)"), key.len()));
            }
            first_over(v, &path, max)
        }),
        Value::StrictArray(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_over(v, &format!("{label}[{i}]"), max)),
        _ => None,
    }
}

/// `s` cut to [`MAX_LABEL`] bytes (on a character boundary, `...` marking the cut), control characters as `?`:
/// labels come from the peer and end up in log lines.
fn cut(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() + c.len_utf8() > MAX_LABEL {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(name: &str, object: Value, args: Vec<Value>) -> Command {
        Command {
            name: name.to_owned(),
            transaction_id: 1.0,
            object,
            args,
        }
    }

    #[test]
    fn names_the_first_long_string_of_connect_nested_ones_too() {
        let long = "x".repeat(11);
        let ok = command(
            "connect",
            Value::object([
                ("app", Value::string("live")),
                ("tcUrl", Value::string("rtmp://h/live")),
            ]),
            vec![],
        );
        assert_eq!(too_long(&ok, 13), None, "exactly the limit is fine");
        let top = command(
            "connect",
            Value::object([("tcUrl", Value::string(&long))]),
            vec![],
        );
        assert_eq!(
            too_long(&top, 10)
                .map(|e| e.to_string())
                .unwrap_or_default(),
            "connect field tcUrl is 11 bytes; the limit is 10 ([rtmp] max_field_bytes)"
        );
        let nested = command(
            "connect",
            Value::object([(
                "auth",
                Value::EcmaArray(vec![(
                    "list".into(),
                    Value::StrictArray(vec![Value::Null, Value::string(&long)]),
                )]),
            )]),
            vec![],
        );
        assert!(
            matches!(too_long(&nested, 10), Some(Error::FieldTooLong { field, len: 11, .. }) if field == "auth.list[1]")
        );
        let key = command(
            "connect",
            Value::object([(long.as_str(), Value::Null)]),
            vec![],
        );
        assert!(
            matches!(too_long(&key, 10), Some(Error::FieldTooLong { field, .. }) if field.ends_with("(a property name)"))
        );
        let arg = command(
            "connect",
            Value::Null,
            vec![Value::string("a"), Value::string(&long)],
        );
        assert!(
            matches!(too_long(&arg, 10), Some(Error::FieldTooLong { field, .. }) if field == "arguments[1]")
        );
    }

    #[test]
    fn names_publish_and_play_arguments_and_ignores_other_commands() {
        let long = Value::LongString("n".repeat(70_000));
        let publish = command("publish", Value::Null, vec![long.clone()]);
        assert!(
            matches!(too_long(&publish, 4096), Some(Error::FieldTooLong { command: "publish", field, len: 70_000, max: 4096 }) if field == "name")
        );
        let kind = command(
            "publish",
            Value::Null,
            vec![Value::string("s"), long.clone()],
        );
        assert!(
            matches!(too_long(&kind, 4096), Some(Error::FieldTooLong { field, .. }) if field == "type")
        );
        let play = command("play", Value::Null, vec![long.clone()]);
        assert!(matches!(
            too_long(&play, 4096),
            Some(Error::FieldTooLong {
                command: "play",
                ..
            })
        ));
        assert_eq!(
            too_long(&command("FCPublish", Value::Null, vec![long]), 4096),
            None
        );
    }

    #[test]
    fn labels_are_cut_and_cleaned() {
        let label = cut(&format!("a\u{7}{}", "é".repeat(100)));
        assert!(label.len() <= MAX_LABEL + 3, "{label}");
        assert!(
            label.starts_with("a?é") && label.ends_with("..."),
            "{label}"
        );
    }
}
