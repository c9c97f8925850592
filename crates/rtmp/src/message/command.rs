//! Command messages: `name, transaction id, command object, arguments...` in AMF0.

use bytes::BytesMut;

use crate::amf0::{self, Value};
use crate::error::Error;

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub(crate) name: String,
    pub(crate) transaction_id: f64,
    /// The command object (often `Null`); `Null` when absent.
    pub(crate) object: Value,
    /// Arguments after the command object.
    pub(crate) args: Vec<Value>,
}

/// Decode a command body (AMF0). A missing transaction id is read as 0.
pub(crate) fn parse_command(body: &[u8], stream_id: u32) -> Result<Command, Error> {
    let mut values = amf0::decode_all(body)?.into_iter();
    let name = match values.next() {
        Some(Value::String(s)) | Some(Value::LongString(s)) => s,
        _ => {
            return Err(Error::MalformedCommand {
                stream_id,
                reason: "command name is not a string",
            })
        }
    };
    let transaction_id = match values.next() {
        Some(Value::Number(n)) => n,
        None => 0.0,
        Some(_) => {
            return Err(Error::MalformedCommand {
                stream_id,
                reason: "transaction id is not a number",
            })
        }
    };
    let object = values.next().unwrap_or(Value::Null);
    Ok(Command {
        name,
        transaction_id,
        object,
        args: values.collect(),
    })
}

/// Encode a command body.
pub(crate) fn encode_command(
    name: &str,
    transaction_id: f64,
    object: &Value,
    args: &[Value],
) -> BytesMut {
    let mut b = BytesMut::with_capacity(128);
    amf0::encode_str(name, &mut b);
    amf0::encode(&Value::Number(transaction_id), &mut b);
    amf0::encode(object, &mut b);
    for a in args {
        amf0::encode(a, &mut b);
    }
    b
}

/// A NetStatus info object.
pub(crate) fn status_info(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::string(level)),
        ("code", Value::string(code)),
        ("description", Value::string(description)),
    ])
}
