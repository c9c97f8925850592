//! What can go wrong in the store. One enum for the whole layer; every variant names the value at fault.

use std::path::PathBuf;

/// An error of the [`Store`](super::Store).
///
/// Causes are attached as [`source`](std::error::Error::source) rather than repeated in the message, so print
/// the chain (`{:#}` with anyhow) to see them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is neither `sqlite:` nor `postgres://`.
    #[error(
        "unsupported database URL `{url_redacted}`: use sqlite://PATH (e.g. sqlite:///var/lib/mplive/mplive.db) \
         or postgres://USER:PASSWORD@HOST:PORT/DB"
    )]
    UnsupportedUrl {
        /// The URL with any password replaced by `***`.
        url_redacted: String,
    },
    /// The directory that holds the SQLite file could not be created.
    #[error("cannot create the data directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The SQLite file could not be created.
    #[error("cannot create the database file {}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The SQLite file exists but cannot be opened for reading and writing (its owner or mode).
    #[error("cannot open the database file {} for reading and writing{}", path.display(), permission_hint(source))]
    OpenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No connection to the database.
    #[error("cannot connect to the database at {url_redacted}")]
    Connect {
        /// The URL with any password replaced by `***`.
        url_redacted: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error(
        "cannot bring the {backend} database schema up to date (a database written by a newer mplive is refused)"
    )]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// [`create_app`](super::Store::create_app) with a name that is taken.
    #[error("an app named `{name}` already exists; pick another name or change the existing one")]
    AppExists {
        /// The name.
        name: String,
    },
    /// No app has this name or id.
    #[error("no app is named `{name}` or has that id (list them with `mplive app list`)")]
    AppNotFound {
        /// The name or id asked for.
        name: String,
    },
    /// [`create_channel`](super::Store::create_channel) of a channel that exists.
    #[error("channel `{channel}` of app {app_id} already exists")]
    ChannelExists {
        /// The app's id.
        app_id: String,
        /// The channel name.
        channel: String,
    },
    /// The channel does not exist.
    #[error("app {app_id} has no channel `{channel}`")]
    ChannelNotFound {
        /// The app's id.
        app_id: String,
        /// The channel name.
        channel: String,
    },
    /// A name (app, channel, stream) or a text field breaks its rules.
    #[error("invalid {what} `{value}`: {why}")]
    InvalidName {
        /// What it names: `app name`, `channel name`, `stream name`, ...
        what: &'static str,
        /// The value given (shortened when long).
        value: String,
        /// Which rule it breaks.
        why: String,
    },
    /// A callback URL is not usable.
    #[error("invalid callback URL `{url}`: {why}")]
    InvalidUrl {
        /// The URL given, without any user:password part, shortened when long.
        url: String,
        /// Which rule it breaks.
        why: String,
    },
    /// A number of an app's policy is out of range.
    #[error("invalid {field} {value}: {why}")]
    InvalidPolicy {
        /// The policy field.
        field: &'static str,
        /// The value given.
        value: i64,
        /// The allowed range.
        why: &'static str,
    },
    /// The admin token hash to store is not a SHA-256 in lowercase hex (the value is not echoed).
    #[error("invalid admin token hash: {why}")]
    InvalidTokenHash {
        /// What is wrong with it.
        why: String,
    },
    /// A room session key breaks its rules (the key itself is never echoed).
    #[error("invalid sessionKey: {why}")]
    InvalidSessionKey {
        /// Which rule it breaks.
        why: String,
    },
    /// No webhook has this outbox id.
    #[error("no webhook with outbox id {id}")]
    WebhookNotFound {
        /// The id.
        id: i64,
    },
    /// A stored value does not parse: the database was edited by hand or by an incompatible program.
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt {
        /// Which value.
        what: String,
        /// What is wrong.
        detail: String,
    },
}

impl StoreError {
    /// `true` for the errors that say the caller asked for something wrong (as opposed to the database failing):
    /// an HTTP API maps these to 4xx.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::AppExists { .. }
                | StoreError::AppNotFound { .. }
                | StoreError::ChannelExists { .. }
                | StoreError::ChannelNotFound { .. }
                | StoreError::InvalidName { .. }
                | StoreError::InvalidUrl { .. }
                | StoreError::InvalidPolicy { .. }
                | StoreError::InvalidTokenHash { .. }
                | StoreError::InvalidSessionKey { .. }
                | StoreError::WebhookNotFound { .. }
        )
    }

    /// The database did not answer: a connection could not be made or was lost, or none was free within the
    /// pool's wait. The request itself may be fine; it can be retried once the database is back.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }
}

/// `err` and its causes joined by `: `, for one-line logs.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}

/// What to do when the database file belongs to someone else.
fn permission_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        " (run mplive as the user that owns it, e.g. the service's user, or fix its owner)"
    } else {
        ""
    }
}
