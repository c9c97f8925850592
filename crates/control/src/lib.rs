//! The control plane of mplive: apps and their keys, signed URLs, access tokens, storage, webhooks.
//!
//! Everything here is independent of the media path: the server asks it questions ("may this URL publish?") and
//! tells it events ("a push started"); the CLI uses the same storage to manage apps without a running server.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod jwt;
pub mod txsecret;
pub mod urls;
pub mod webhook_event;
