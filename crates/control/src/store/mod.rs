//! Durable state of the control plane: apps, channels, forbids, the webhook outbox (with the open sessions whose
//! end event is owed), the interruption records of ended pushes and the admin token hash, in SQLite (one file in the data directory) or PostgreSQL (several
//! servers sharing one database).
//!
//! One set of queries serves both through sqlx's `Any` driver: placeholders are `$1, $2, ...` (SQLite accepts
//! them), integers are `BIGINT`, booleans are stored as 0/1, times as Unix milliseconds, lists as JSON text.
//!
//! Several processes use one database at once (the server, the CLI, other servers). Every change to apps,
//! channels or forbids bumps [`Store::revision`] in the same transaction; [`Catalog`](crate::catalog::Catalog)
//! polls it to pick up changes. On SQLite, write transactions start with `BEGIN IMMEDIATE` so they wait for the
//! write lock (busy timeout) up front instead of failing when a read lock cannot be upgraded.

mod apps;
mod channels;
mod error;
mod interruptions;
mod model;
mod open_sessions;
mod outbox;
mod room_sessions;
mod rows;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Connection, Row, Transaction};

pub use error::StoreError;
pub use interruptions::{InterruptReason, Interruption, InterruptionFilter};
pub use open_sessions::{OpenSession, OutboxWrite, OutboxWritten};
pub use room_sessions::RoomSession;
pub use validate::redact_db_url;

/// Checks a channel or stream name as the store does: 1-128 characters of `[A-Za-z0-9_.-]`, not only dots.
pub fn validate_stream_name(name: &str) -> Result<(), StoreError> {
    validate::stream_name("stream", name)
}
/// Checks a channel (room) name as the SDK endpoints do: the stream name rule, named `channel name` in the error.
pub fn validate_channel_name(name: &str) -> Result<(), StoreError> {
    validate::stream_name("channel name", name)
}
/// Checks an account id as the SDK endpoints can match it: 1-256 characters, none of them control characters.
pub fn validate_account(account: &str) -> Result<(), StoreError> {
    if account.is_empty() {
        return Err(StoreError::InvalidName {
            what: "account",
            value: String::new(),
            why: "it is empty".into(),
        });
    }
    validate::text("account", account)
}
/// Checks an app name as it appears in URLs: 1-64 characters of `[A-Za-z0-9_-]`, or an app id.
pub fn validate_app_name(name: &str) -> Result<(), StoreError> {
    if validate::looks_like_app_id(name) {
        return Ok(());
    }
    validate::app_name(name)
}
pub use model::{
    App, AppPatch, AppPolicy, Channel, Forbid, KeyKind, NewApp, NewWebhook, RecordFormat,
    UnknownKeyKind, UnknownRecordFormat, Webhook, WebhookState,
};

pub(crate) use error::chain;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names, from its scheme.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A handle on the database. Cloning is cheap (a pool handle); all clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its options hold the URL, password included.
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The settings key of the admin token's SHA-256.
const ADMIN_TOKEN_KEY: &str = "admin_token_sha256";
/// How long connecting, or waiting for a free connection of the pool, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one query waits for a pooled connection: a database that is down answers an API write with a clear
/// error within this, not after the client gave up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Rows deleted per statement when pruning (the webhook outbox, the interruption records): short transactions, so
/// a large backlog does not hold the write lock (SQLite) or a long transaction (PostgreSQL) while events keep
/// arriving.
const PRUNE_BATCH: i64 = 1000;
/// How long a SQLite connection waits for another process's write lock before failing.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

impl Store {
    /// Connects to `url` (`sqlite://PATH?...` or `postgres://...`) and brings the schema up to date.
    ///
    /// For SQLite, the directory of the file is created when missing, and with `mode=rwc` the file too, readable
    /// by its owner only (it holds the keys). Errors never show the URL's password.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let url_redacted = validate::redact_db_url(url);
        let backend = Backend::from_url(url).ok_or_else(|| StoreError::UnsupportedUrl {
            url_redacted: url_redacted.clone(),
        })?;
        sqlx::any::install_default_drivers();

        let options = match backend {
            Backend::Sqlite => {
                prepare_sqlite_file(url)?;
                // A handful of connections is plenty: SQLite serializes writers anyway, and readers in WAL mode
                // do not block them.
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // busy_timeout first, so that the journal_mode change below already waits for locks.
                            sqlx::query(&format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
                                .execute(&mut *conn)
                                .await?;
                            set_wal(conn).await?;
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(8),
        };
        // One plain connection first: when the server is unreachable, the pool would retry until its timeout and
        // then report only "pool timed out", hiding the reason (refused, unknown host, bad password).
        let connect_err = |source| StoreError::Connect {
            url_redacted: url_redacted.clone(),
            source,
        };
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(url))
            .await
            .unwrap_or_else(|_elapsed| {
                let why = format!("no answer within {} s", CONNECT_TIMEOUT.as_secs());
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    why,
                )))
            })
            .map_err(connect_err)?;
        // Closing the probe is courtesy; a failure to say goodbye changes nothing.
        let _ = probe.close().await;
        let pool = options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(connect_err)?;
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// The SQLite URL of the database in `data_dir`: `sqlite://{data_dir}/mplive.db?mode=rwc`.
    ///
    /// Characters that the URL parser would take specially (`?`, `#`, `%`) are percent-encoded.
    pub fn sqlite_url(data_dir: &Path) -> String {
        let path = data_dir.join("mplive.db");
        let mut encoded = String::new();
        for c in path.to_string_lossy().chars() {
            match c {
                '%' => encoded.push_str("%25"),
                '?' => encoded.push_str("%3F"),
                '#' => encoded.push_str("%23"),
                c => encoded.push(c),
            }
        }
        format!("sqlite://{encoded}?mode=rwc")
    }

    /// The database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for those in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The change counter: different values mean apps, channels or forbids changed in between.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    /// The stored SHA-256 (lowercase hex) of the admin token, if one was set.
    pub async fn admin_token_hash(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(ADMIN_TOKEN_KEY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Stores `hash` (the SHA-256 of the admin token, 64 lowercase hex digits), replacing any previous one.
    pub async fn set_admin_token_hash(&self, hash: &str) -> Result<(), StoreError> {
        check_token_hash(hash)?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(ADMIN_TOKEN_KEY)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores `hash` only if no admin token hash is stored yet; `true` if this call stored it. Two processes
    /// generating a token at once thus agree on one of them.
    pub async fn init_admin_token_hash(&self, hash: &str) -> Result<bool, StoreError> {
        check_token_hash(hash)?;
        let done = sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(ADMIN_TOKEN_KEY)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Applies the migrations of this backend.
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        // PostgreSQL migrations take an advisory lock. SQLite's do not: two processes opening a fresh file at once
        // can both decide to apply a migration, and the loser fails ("table already exists") once the winner
        // commits. Running again then finds it applied, so retry a few times.
        let mut attempt = 1;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if self.backend == Backend::Sqlite && attempt < 5 => {
                    tracing::debug!(attempt, error = %chain(&e), "SQLite migration failed, retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                    attempt += 1;
                }
                Err(source) => {
                    return Err(StoreError::Migrate {
                        backend: self.backend.as_str(),
                        source,
                    })
                }
            }
        }
    }

    /// Starts a transaction that changes apps, channels or forbids, and bumps the revision in it.
    ///
    /// The bump comes first on purpose: on PostgreSQL its row lock serializes such transactions (so checks made
    /// inside see every earlier change), on SQLite `BEGIN IMMEDIATE` already holds the write lock.
    async fn begin_change(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Prunes in batches: runs `delete`, a statement whose last placeholder is the `LIMIT` of an
    /// `id IN (SELECT ... LIMIT)` (both SQLite and PostgreSQL accept it, unlike `DELETE ... LIMIT`), with
    /// [`PRUNE_BATCH`] bound to it, until it deletes fewer rows; returns how many in all.
    async fn delete_in_batches<'q>(
        &self,
        delete: impl Fn() -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let done = delete().bind(PRUNE_BATCH).execute(&self.pool).await?;
            deleted += done.rows_affected();
            if done.rows_affected() < u64::try_from(PRUNE_BATCH).unwrap_or(0) {
                return Ok(deleted);
            }
        }
    }

    /// Starts a transaction that will write.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            // A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
            // connection wrote in between (the busy timeout does not apply to lock upgrades); IMMEDIATE takes
            // the write lock at BEGIN, waiting for it.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// Switches a SQLite connection to WAL, so that readers (the server) and a writer (the CLI) do not block each
/// other. WAL is a property of the file, so this is a no-op after the first connection; checking first avoids
/// asking for the exclusive lock the switch needs, which the busy timeout does not cover.
async fn set_wal(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if mode.eq_ignore_ascii_case("wal") {
        return Ok(());
    }
    let mut attempt = 0u64;
    loop {
        match sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(_) => return Ok(()),
            // Another process holds the file (it is probably switching it to WAL itself): wait and retry.
            Err(e) if attempt < 50 && is_busy(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `true` for SQLite's "database is locked" / "database table is locked".
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("5" | "6")) || db.message().contains("locked")
        }
        _ => false,
    }
}

/// `true` when `e` is a violated unique or primary key constraint.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// The file a SQLite URL names, `None` for in-memory databases and other backends.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(percent_decode(path)))
}

/// Creates the directory of a SQLite file, and with `mode=rwc` the file itself, readable by its owner only: it
/// holds the apps' keys. SQLite gives the `-wal` and `-shm` files the mode of the database file.
fn prepare_sqlite_file(url: &str) -> Result<(), StoreError> {
    let Some(file) = sqlite_file(url) else {
        return Ok(());
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    if !url.contains("mode=rwc") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    // create_new: an existing file (another process may have made it a moment ago) is left as it is.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&file) {
        // An empty file is a valid empty database.
        Ok(_) => Ok(()),
        // SQLite would only say "unable to open database file": say why, with the path.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&file)
            {
                Ok(_) => Ok(()),
                Err(source) => Err(StoreError::OpenFile { path: file, source }),
            }
        }
        Err(source) => Err(StoreError::CreateFile { path: file, source }),
    }
}

/// Undoes the `%XX` escapes of [`Store::sqlite_url`] (and any other), as sqlx does when it opens the file.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits make a value below 256.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check_token_hash(hash: &str) -> Result<(), StoreError> {
    if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(StoreError::InvalidTokenHash {
            why: format!(
                "expected 64 lowercase hex digits (a SHA-256), got {} characters; store the hash, not the token",
                hash.len()
            ),
        });
    }
    Ok(())
}

/// `b` as stored: 0 or 1.
fn bool_col(b: bool) -> i64 {
    i64::from(b)
}

/// Reads a 0/1 column back.
fn col_bool(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_database_file_is_named_with_the_reason() {
        let e = StoreError::OpenFile {
            path: PathBuf::from("/var/lib/mplive/mplive.db"),
            source: std::io::ErrorKind::PermissionDenied.into(),
        };
        let text = e.to_string();
        assert!(text.contains("/var/lib/mplive/mplive.db"), "{text}");
        assert!(text.contains("the user that owns it"), "{text}");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            cause.to_lowercase().contains("permission denied"),
            "{cause}"
        );
    }

    #[test]
    fn sqlite_urls_round_trip_odd_directories() {
        let url = Store::sqlite_url(Path::new("/tmp/a?b#c%d/data"));
        assert_eq!(url, "sqlite:///tmp/a%3Fb%23c%25d/data/mplive.db?mode=rwc");
        assert_eq!(
            sqlite_file(&url),
            Some(PathBuf::from("/tmp/a?b#c%d/data/mplive.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(
            sqlite_file("sqlite://mplive.db"),
            Some(PathBuf::from("mplive.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:data/mplive.db?mode=rwc"),
            Some(PathBuf::from("data/mplive.db"))
        );
    }

    #[test]
    fn backends_from_urls() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://h/db"), None);
    }

    #[test]
    fn token_hashes_are_checked() {
        assert!(check_token_hash(&"a".repeat(64)).is_ok());
        assert!(check_token_hash(&"A".repeat(64)).is_err());
        assert!(check_token_hash("mpl_secret").is_err());
    }
}
