//! What leaves the hub: publisher-driven delivery to players (`fanout`), output batching (`batch`), encodings
//! shared by every player (`encode`), frames read once per round for every caught-up player (`window`), and
//! recording to files (`record`).

pub(crate) mod batch;
pub(crate) mod encode;
pub(crate) mod fanout;
pub(crate) mod record;
pub(crate) mod window;
