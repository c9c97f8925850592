//! The Vhall mini-program publisher SDK's semantics (seed 000) over the headless pusher.
//!
//! - [`machine`]: the reconnect policy as a sans-IO machine (vectors under `sdk/vectors/managed/`).
//! - [`ManagedPublisher`]: `createInstance` against mplive's `/sdk/v1/publisher/instance`, a push with the URL it
//!   returns, and on -1307 or 3001-3005 the SDK's reconnect: every 5 s a fresh URL from
//!   `/sdk/v1/publisher/refresh`, then a restart with it.

pub mod machine;
mod publisher;

pub use machine::{
    ManagedAction, ManagedConfig, ManagedEvent, ManagedInput, ManagedMachine, ManagedOutput,
    RECONNECT_CODES,
};
pub use publisher::{InstanceParams, ManagedError, ManagedHandle, ManagedPublisher, ManagedUpdate};
