//! The process table, read from `/proc`: which processes are below this one, and how much
//! CPU they used. Plumbing for the claim checker (this run's own work is not a busy
//! machine) and the supervisor (no child outlives a run), not a lesson.

/// One process: its pid, its parent's, when it started (clock ticks since boot: with the
/// pid, an identity that survives pid reuse), and the CPU it and its waited-for children
/// used (user + system clock ticks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub start: u64,
    pub cpu: u64,
    pub zombie: bool,
}

/// A `/proc/PID/stat` line.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    // The command name (field 2) may hold spaces and ')': count fields after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let mut cpu = 0;
    for i in 11..=14 {
        cpu += fields.get(i)?.parse::<u64>().ok()?;
    }
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        cpu,
        zombie: fields.first() == Some(&"Z"),
    })
}

/// Every process now (empty where there is no `/proc`).
pub fn all() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter_map(|text| parse_stat(&text))
                .collect()
        })
        .unwrap_or_default()
}

/// `root` and every process below it (children, theirs...), out of `all`.
pub fn tree_of(root: u32, all: &[Proc]) -> Vec<Proc> {
    let mut tree: Vec<Proc> = all.iter().filter(|p| p.pid == root).copied().collect();
    let mut k = 0;
    while k < tree.len() {
        let parent = tree[k].pid;
        tree.extend(all.iter().filter(|p| p.ppid == parent && p.pid != parent));
        k += 1;
    }
    tree
}

/// The process `pid` as it is now, if it runs (a zombie does not).
pub fn running(pid: u32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).filter(|p| !p.zombie)
}

/// Send `signal` (`TERM`, `KILL`...) to `pid` with the system's `kill` command (std has
/// no way to signal a process that is not our own `Child`). Whether it was sent.
pub fn signal(pid: u32, signal: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_parses_even_with_a_strange_name() {
        let line = "42 (a (weird) name) S 7 2 3 4 5 6 7 8 9 10 70 30 5 1 0 0 1 0 12345 0 0";
        let p = parse_stat(line).unwrap();
        assert_eq!(
            (p.pid, p.ppid, p.cpu, p.start, p.zombie),
            (42, 7, 106, 12345, false)
        );
        let z = "43 (x) Z 7 2 3 4 5 6 7 8 9 10 0 0 0 0 0 0 1 0 99 0 0";
        assert!(parse_stat(z).unwrap().zombie);
    }

    #[test]
    fn the_tree_holds_the_root_and_everything_below_it() {
        let p = |pid, ppid| Proc {
            pid,
            ppid,
            start: 0,
            cpu: pid as u64,
            zombie: false,
        };
        let all = [p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(20, 1), p(13, 10)];
        let mut pids: Vec<u32> = tree_of(10, &all).iter().map(|p| p.pid).collect();
        pids.sort();
        assert_eq!(pids, [10, 11, 12, 13]);
    }

    #[test]
    fn this_process_is_in_its_own_tree() {
        let me = std::process::id();
        let all = all();
        if all.is_empty() {
            return; // no /proc here
        }
        assert!(tree_of(me, &all).iter().any(|p| p.pid == me));
        assert!(running(me).is_some());
    }
}
