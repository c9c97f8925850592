//! CPU time and resident memory of a process, from `/proc/PID/stat` and `/proc/PID/status`.

use anyhow::{Context, Result};
use serde::Serialize;

/// CPU time of a process in clock ticks (see `ticks_per_second`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(super) struct CpuTicks {
    /// utime + stime of the process itself.
    pub own: u64,
    /// cutime + cstime: children that have been waited for.
    pub children: u64,
}

/// Parses the CPU fields of `/proc/PID/stat`. The command name (field 2) may contain spaces and parentheses,
/// so fields are counted after its last `)`.
pub(super) fn parse_stat(text: &str) -> Result<CpuTicks> {
    let after = text
        .rsplit_once(')')
        .map(|(_, a)| a)
        .context("no ')' in /proc stat")?;
    // After the name come field 3 (state) onwards: utime is field 14, stime 15, cutime 16, cstime 17.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        let s = fields
            .get(n - 3)
            .with_context(|| format!("/proc stat has no field {n}"))?;
        s.parse::<i64>()
            .map(|v| v.max(0).unsigned_abs())
            .with_context(|| format!("/proc stat field {n} is {s:?}"))
    };
    Ok(CpuTicks {
        own: field(14)? + field(15)?,
        children: field(16)? + field(17)?,
    })
}

/// The `VmRSS` line of `/proc/PID/status`, in KiB.
pub(super) fn parse_status_rss_kib(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` is `None` for this process.
pub(super) fn read_cpu(pid: Option<u32>) -> Result<CpuTicks> {
    let path = proc_path(pid, "stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_stat(&text).with_context(|| format!("in {path}"))
}

/// Resident set size in KiB, `None` when the process is gone.
pub(super) fn read_rss_kib(pid: Option<u32>) -> Option<u64> {
    std::fs::read_to_string(proc_path(pid, "status"))
        .ok()
        .and_then(|t| parse_status_rss_kib(&t))
}

/// Open file descriptors of a process (entries of `/proc/PID/fd`), `None` when it is gone or not ours to read.
pub(super) fn read_open_fds(pid: Option<u32>) -> Option<u64> {
    let entries = std::fs::read_dir(proc_path(pid, "fd")).ok()?;
    let n = entries.count() as u64;
    // Reading our own table opens one descriptor for the directory itself.
    Some(if pid.is_none() {
        n.saturating_sub(1)
    } else {
        n
    })
}

/// Open sockets of a process (`/proc/PID/fd` entries that link to `socket:[...]`): what a connection that
/// was not cleaned up leaves, unlike database files a connection pool may open as load grows.
pub(super) fn read_open_sockets(pid: Option<u32>) -> Option<u64> {
    let entries = std::fs::read_dir(proc_path(pid, "fd")).ok()?;
    Some(
        entries
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count() as u64,
    )
}

pub(super) fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

pub(super) fn ticks_to_secs(ticks: u64) -> f64 {
    ticks as f64 / ticks_per_second() as f64
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let line = "4242 (my (weird) srv) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 3 4 20 0 9 0 12345 \
                    1000000 2000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line).unwrap(),
            CpuTicks {
                own: 325,
                children: 7
            }
        );
        assert!(parse_stat("12 (x) S 1 2").is_err());
        assert!(parse_stat("no parenthesis").is_err());
    }

    #[test]
    fn status_rss() {
        let text = "Name:\tnginx\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 100 kB\n";
        assert_eq!(parse_status_rss_kib(text), Some(12345));
        assert_eq!(parse_status_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(read_cpu(None).is_ok());
        assert!(read_rss_kib(None).unwrap_or(0) > 0);
        assert!(read_open_fds(None).is_some_and(|n| n >= 3));
        assert_eq!(read_open_fds(Some(u32::MAX)), None);
        assert!(ticks_per_second() >= 1);
    }
}
