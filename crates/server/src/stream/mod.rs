//! The stream lifecycle every protocol driver goes through (`lifecycle`), the access decisions it runs
//! (`access`), the one typed refusal it answers with (`refusal`), and what the server keeps per live stream
//! (`entry`).

pub(crate) mod access;
pub(crate) mod entry;
pub(crate) mod followers;
pub(crate) mod lifecycle;
pub(crate) mod refusal;
