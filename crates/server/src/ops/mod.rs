//! What an operator sees of the server: metrics (`metrics`, and the process's own figures in `process` and its
//! allocator's in `allocator`, which also hands free memory back), webhooks (`webhooks`), the interruption records of
//! ended pushes (`interruptions`), log lines with client values cut and escaped (`log_value`), and the client
//! address key of per-address limits (`address`).

pub(crate) mod address;
pub(crate) mod allocator;
pub(crate) mod interruptions;
pub(crate) mod log_value;
pub(crate) mod metrics;
pub(crate) mod process;
pub(crate) mod webhooks;
