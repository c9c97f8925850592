//! AMF0 decoding with depth and count limits.

use super::{marker, Value, MAX_DEPTH, MAX_VALUES};
use crate::error::{Amf0ErrorKind, Error};

/// Decode every value in `buf` (a whole command or data message body).
pub fn decode_all(buf: &[u8]) -> Result<Vec<Value>, Error> {
    let mut d = Decoder {
        buf,
        pos: 0,
        count: 0,
    };
    let mut out = Vec::new();
    while d.pos < buf.len() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

/// Decode the first value in `buf`, returning it and the number of bytes it used.
pub fn decode_one(buf: &[u8]) -> Result<(Value, usize), Error> {
    let mut d = Decoder {
        buf,
        pos: 0,
        count: 0,
    };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    count: usize,
}

impl<'a> Decoder<'a> {
    fn err(&self, kind: Amf0ErrorKind) -> Error {
        Error::Amf0 {
            offset: self.pos,
            kind,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err(Amf0ErrorKind::Truncated)),
        }
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, len: usize) -> Result<String, Error> {
        let start = self.pos;
        let b = self.take(len)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(Error::Amf0 {
                offset: start,
                kind: Amf0ErrorKind::InvalidUtf8,
            }),
        }
    }

    fn short_string(&mut self) -> Result<String, Error> {
        let len = self.u16()? as usize;
        self.utf8(len)
    }

    fn long_string(&mut self) -> Result<String, Error> {
        let len = self.u32()? as usize;
        self.utf8(len)
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.count += 1;
        if self.count > MAX_VALUES {
            return Err(self.err(Amf0ErrorKind::TooManyValues));
        }
        let m = self.u8()?;
        Ok(match m {
            marker::NUMBER => Value::Number(self.f64()?),
            marker::BOOLEAN => Value::Boolean(self.u8()? != 0),
            marker::STRING => Value::String(self.short_string()?),
            marker::OBJECT => Value::Object(self.properties(depth, None)?),
            marker::TYPED_OBJECT => {
                let _class_name = self.short_string()?;
                Value::Object(self.properties(depth, None)?)
            }
            marker::NULL => Value::Null,
            marker::UNDEFINED | marker::UNSUPPORTED => Value::Undefined,
            marker::ECMA_ARRAY => {
                let n = self.u32()?;
                Value::EcmaArray(self.properties(depth, Some(n))?)
            }
            marker::STRICT_ARRAY => {
                let n = self.u32()? as usize;
                self.enter(depth)?;
                // Every element takes at least one byte: a count beyond the rest of the input is a lie.
                if n > self.buf.len() - self.pos {
                    return Err(self.err(Amf0ErrorKind::Truncated));
                }
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            marker::DATE => {
                let millis = self.f64()?;
                let timezone = self.u16()? as i16;
                Value::Date { millis, timezone }
            }
            marker::LONG_STRING | marker::XML_DOCUMENT => Value::LongString(self.long_string()?),
            marker::REFERENCE | marker::MOVIECLIP | marker::RECORDSET | marker::AVMPLUS => {
                self.pos -= 1;
                return Err(self.err(Amf0ErrorKind::Unsupported(m)));
            }
            other => {
                self.pos -= 1;
                return Err(self.err(Amf0ErrorKind::UnknownMarker(other)));
            }
        })
    }

    fn enter(&self, depth: usize) -> Result<(), Error> {
        if depth >= MAX_DEPTH {
            Err(self.err(Amf0ErrorKind::DepthLimit))
        } else {
            Ok(())
        }
    }

    /// Key/value pairs up to the empty key + object-end marker. An ECMA array whose body ends exactly after its
    /// announced count without the end marker is accepted (some encoders omit it).
    fn properties(
        &mut self,
        depth: usize,
        ecma_count: Option<u32>,
    ) -> Result<Vec<(String, Value)>, Error> {
        self.enter(depth)?;
        let mut props = Vec::new();
        loop {
            if let Some(n) = ecma_count {
                if self.pos == self.buf.len() && props.len() as u64 >= u64::from(n) {
                    return Ok(props);
                }
            }
            let key = self.short_string()?;
            if key.is_empty() {
                // The end marker; tolerate a missing one at the very end of the input.
                if self.pos == self.buf.len() {
                    return Ok(props);
                }
                if self.buf[self.pos] == marker::OBJECT_END {
                    self.pos += 1;
                    return Ok(props);
                }
            }
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }
}
