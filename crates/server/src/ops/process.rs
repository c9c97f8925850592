//! This process's CPU time, resident memory and open file descriptors, read from `/proc/self` (Linux) for
//! `/metrics` (the `process_*` names Prometheus client libraries use) and the cluster's node load. Elsewhere each
//! reads as `None` and is left out.

use std::fmt::Write as _;

/// User and system CPU time of this process in seconds, from `/proc/self/stat`.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the fields that follow start after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are the 14th and 15th fields of the line, the 12th and 13th after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux port that matters.
    Some(ticks / 100.0)
}

/// Resident memory in bytes (`VmRSS` of `/proc/self/status`).
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Open file descriptors (entries of `/proc/self/fd`; sockets included).
pub(crate) fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    // One of them is the directory being read.
    Some((entries.count() as u64).saturating_sub(1))
}

/// Tasks alive on the tokio runtime this is called from (spawned and not yet finished: connections, players,
/// segmenters, timers of the server's own); `None` outside a runtime. A count that only grows under churn is a
/// task leak, which RSS and open descriptors can hide for a long time.
pub(crate) fn tokio_tasks() -> Option<u64> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    Some(handle.metrics().num_alive_tasks() as u64)
}

/// The `process_*` families and `mplive_tokio_tasks` in the exposition format; the ones this system cannot read
/// are left out.
pub(crate) fn render(out: &mut String) {
    if let Some(cpu) = cpu_seconds() {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total User and system CPU time of the server process.\n\
             # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}"
        );
    }
    if let Some(rss) = resident_bytes() {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory of the server process.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}"
        );
    }
    if let Some(fds) = open_fds() {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Open file descriptors of the server process (sockets included).\n\
             # TYPE process_open_fds gauge\nprocess_open_fds {fds}"
        );
    }
    if let Some(tasks) = tokio_tasks() {
        let _ = writeln!(
            out,
            "# HELP mplive_tokio_tasks Tasks alive on the server's tokio runtime.\n\
             # TYPE mplive_tokio_tasks gauge\nmplive_tokio_tasks {tasks}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process_on_linux() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        assert!(super::cpu_seconds().is_some_and(|s| s >= 0.0));
        assert!(super::resident_bytes().is_some_and(|b| b > 1024 * 1024));
        assert!(super::open_fds().is_some_and(|n| n >= 3));
        let mut out = String::new();
        super::render(&mut out);
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            assert!(out.contains(&format!("# TYPE {family} ")), "{out}");
        }
        // Outside a runtime there is no task count to give.
        assert!(!out.contains("mplive_tokio_tasks"), "{out}");
    }

    #[tokio::test]
    async fn counts_the_runtime_tasks() {
        let before = super::tokio_tasks().expect("inside a runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(super::tokio_tasks(), Some(before + 1));
        let mut out = String::new();
        super::render(&mut out);
        assert!(
            out.contains(&format!("\nmplive_tokio_tasks {}\n", before + 1)),
            "{out}"
        );
        let _ = tx.send(());
        let _ = task.await;
        assert_eq!(super::tokio_tasks(), Some(before));
    }
}
