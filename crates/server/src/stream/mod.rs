//! The stream lifecycle every protocol driver goes through (`lifecycle`), the access decisions it runs
//! (`access`) and the one typed refusal it answers with (`refusal`).

pub(crate) mod access;
pub(crate) mod lifecycle;
pub(crate) mod refusal;
