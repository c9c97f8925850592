//! The name of a stream.

use std::fmt;

/// Identifies a stream: the RTMP application and stream name (`rtmp://host/app/name`, `http://host/app/name.flv`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The application (first path segment).
    pub app: String,
    /// The stream name within the application.
    pub name: String,
}

impl StreamKey {
    /// A key from its two parts.
    pub fn new(app: impl Into<String>, name: impl Into<String>) -> StreamKey {
        StreamKey {
            app: app.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.name)
    }
}
