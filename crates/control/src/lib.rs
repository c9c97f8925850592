//! The control plane of mplive: apps and their keys, signed URLs, access tokens, storage, webhooks.
//!
//! Everything here is independent of the media path: the server asks it questions ("may this URL publish?") and
//! tells it events ("a push started"); the CLI uses the same storage to manage apps without a running server.
//!
//! - [`store`]: the database (SQLite or PostgreSQL) with apps, channels, forbids, the webhook outbox.
//! - [`catalog`]: the in-memory snapshot of apps and forbids the server reads on every connect.
//! - [`bootstrap`]: the default app and the admin token on first start.
//! - [`now_unix`] and [`now_ms`]: the wall clock as Unix seconds and milliseconds, for the whole server side.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use control::{bootstrap, Catalog, Store};
//! let dir = std::path::Path::new("mplive-data");
//! let store = Store::open(&Store::sqlite_url(dir)).await?;
//! let boot = bootstrap::bootstrap(&store, dir, None).await?;
//! if let Some(token) = &boot.new_admin_token {
//!     println!("admin token (shown once): {token}");
//! }
//! let catalog = Catalog::load(store).await?;
//! let live = catalog.app("live");
//! # Ok(()) }
//! ```
//!
//! Errors: every fallible call returns a typed error ([`StoreError`], [`bootstrap::BootstrapError`]) that names
//! the value at fault; nothing here panics on input. Keys, tokens and database passwords never appear in
//! `Debug` output or error messages.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod bootstrap;
pub mod catalog;
mod clock;
pub mod fuzzing;
pub mod jwt;
mod random;
pub mod store;
pub mod txsecret;
pub mod urls;
pub mod webhook_event;

pub use bootstrap::{bootstrap, AdminAuth, Bootstrap, BootstrapError};
pub use catalog::Catalog;
pub use clock::{now_ms, now_unix};
pub use store::{
    App, AppPatch, AppPolicy, Backend, Channel, Forbid, KeyKind, NewApp, NewWebhook, OpenSession,
    OutboxWrite, OutboxWritten, RecordFormat, RoomSession, Store, StoreError, Webhook,
    WebhookState,
};
