//! Peak resident memory (the most RAM the process ever had mapped in), of this process and
//! of a finished child.
//!
//! Linux keeps the high-water mark for us: `VmHWM` in `/proc/self/status` for a running
//! process, `ru_maxrss` from `wait4` for a child that has exited. On other systems the
//! functions return `None` and the demos print "n/a".

use std::io;
use std::process::{Child, ExitStatus};

use wait4::Wait4;

/// Peak resident set size of this process, in bytes.
pub fn peak_rss() -> Option<u64> {
    status_field("VmHWM:")
}

/// Current resident set size of this process, in bytes.
pub fn current_rss() -> Option<u64> {
    status_field("VmRSS:")
}

/// Reset this process's peak to its current size, so the next [`peak_rss`] measures only
/// what follows (Linux 4.0+, writes `5` to `/proc/self/clear_refs`). Returns whether it worked.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Wait for `child` to exit and return its exit status with its peak resident memory in
/// bytes (`None` where the system does not report it).
///
/// Caveat, measured here: Linux keeps the high-water mark across `exec`, and the spawned
/// child starts life sharing the parent's memory (vfork), so a child of a big parent reports
/// at least the parent's size. For an exact figure, have the child send its own
/// [`peak_rss`] before it exits.
pub fn wait_with_peak_rss(child: Child) -> io::Result<(ExitStatus, Option<u64>)> {
    let usage = child.wait4()?;
    let peak = Some(usage.rusage.maxrss).filter(|&b| b > 0);
    Ok((usage.status, peak))
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kib_field(&status, name)
}

/// `"VmHWM:\t  12345 kB"` -> 12345 * 1024.
fn parse_kib_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_fields() {
        let status = "Name:\tdemo\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n";
        assert_eq!(parse_kib_field(status, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(parse_kib_field(status, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(parse_kib_field(status, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_grows_when_memory_is_touched() {
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let peak = peak_rss().unwrap();
        assert!(
            peak >= 64 << 20,
            "peak {peak} is below the 64 MiB just touched"
        );
        assert!(current_rss().unwrap() > 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_finished_child_reports_its_peak() {
        // The child holds a 48 MB string: its peak is at least that. Only a lower bound can be
        // asserted: Linux carries the parent's high-water mark into a child's `ru_maxrss`
        // across `exec` (the README's caveat), so a small child of a big test harness may
        // report the harness's size.
        let big = std::process::Command::new("sh")
            .args([
                "-c",
                "x=$(head -c 48000000 /dev/zero | tr '\\0' a); echo ${#x}",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (status, peak) = wait_with_peak_rss(big).unwrap();
        assert!(status.success());
        let peak = peak.unwrap();
        assert!(
            peak >= 48_000_000,
            "the child held 48 MB, reported {peak} bytes"
        );
    }
}
