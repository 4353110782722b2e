//! A takeaway is a claim: it is printed as fact only when this run's figures support it.
//!
//! A section states the figure that backs its takeaway as [`Evidence`] (`Evidence::scaling`
//! for "threads use every core", `Evidence::faster` for "X is faster than Y",
//! `Evidence::new` for anything else) and prints it with [`crate::print::takeaway_if`]. When
//! the evidence does not hold, the line reads
//!
//! ```text
//! not shown in this run: expected a speedup near 2x on 2 threads (efficiency 70-110%), measured 0.99x (efficiency 49%); likely cause: a busy machine: load average 3.41 on 2 cores, other processes using 1.9 cores just now
//! ```
//!
//! and the section still passes: the program worked, the machine did not cooperate.
//! The likely cause comes from a [`Machine`] reading taken right then: the load average, the
//! cores this process may use (an affinity mask, a CPU quota), and how busy other processes
//! kept the cores during a short sample.

use std::fmt::Display;
use std::time::Duration;

use serde::Serialize;

/// Parallel efficiency below this does not show "threads scale".
pub const MIN_EFFICIENCY: f64 = 0.70;
/// Efficiency above this means the one-worker baseline was slowed down (disturbed).
pub const MAX_EFFICIENCY: f64 = 1.10;
/// Other processes using at least this many cores' worth of CPU make a machine "busy".
pub const BUSY_CORES: f64 = 0.5;

/// What backs a claim: whether it held, what was expected, what was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    holds: bool,
    expected: String,
    measured: String,
    /// The baseline itself ran slow (an efficiency over 100 %).
    disturbed: bool,
    /// The claim needs this many cores free (0: it does not depend on the CPU).
    cores: usize,
    /// A cause the section knows (a refused spawn), said instead of the machine reading.
    known_cause: Option<String>,
}

impl Evidence {
    /// Any claim: `holds`, with what was expected and what was measured, in words.
    pub fn new(holds: bool, expected: impl Display, measured: impl Display) -> Self {
        Evidence {
            holds,
            expected: expected.to_string(),
            measured: measured.to_string(),
            disturbed: false,
            cores: 0,
            known_cause: None,
        }
    }

    /// "`workers` threads (or processes) use every core": the speedup over one worker is
    /// near `workers`, a parallel efficiency between 70 % and 110 %, on at least 2 workers.
    pub fn scaling(speedup: f64, workers: usize) -> Self {
        let efficiency = speedup / workers.max(1) as f64;
        let disturbed = efficiency > MAX_EFFICIENCY;
        let holds = workers >= 2 && (MIN_EFFICIENCY..=MAX_EFFICIENCY).contains(&efficiency);
        let expected = if workers >= 2 {
            format!(
                "a speedup near {workers}x on {workers} workers (efficiency {:.0}-{:.0}%)",
                MIN_EFFICIENCY * 100.0,
                MAX_EFFICIENCY * 100.0
            )
        } else {
            "at least 2 usable cores, to run 2 workers at once".to_owned()
        };
        Evidence {
            holds,
            expected,
            measured: format!(
                "{speedup:.2}x on {workers} worker{} (efficiency {:.0}%)",
                if workers == 1 { "" } else { "s" },
                efficiency * 100.0
            ),
            disturbed,
            cores: workers.max(2),
            known_cause: None,
        }
    }

    /// "`fast` is faster than `slow`": `slow` took at least `min_ratio` times as long.
    pub fn faster(
        fast_name: impl Display,
        fast: Duration,
        slow_name: impl Display,
        slow: Duration,
        min_ratio: f64,
    ) -> Self {
        let ratio = slow.as_secs_f64() / fast.as_secs_f64().max(f64::MIN_POSITIVE);
        Evidence::new(
            ratio >= min_ratio,
            format!("{fast_name} at least {min_ratio}x faster than {slow_name}"),
            format!(
                "{ratio:.2}x ({} against {})",
                crate::timing::Secs(fast),
                crate::timing::Secs(slow)
            ),
        )
    }

    /// The claim depends on having `cores` cores free: a busy machine is a likely cause.
    pub fn cpu(mut self, cores: usize) -> Self {
        self.cores = self.cores.max(cores);
        self
    }

    /// The section knows why the claim failed (the system refused a thread): say that
    /// instead of guessing from the machine's load.
    pub fn because(mut self, cause: impl Display) -> Self {
        self.known_cause = Some(cause.to_string());
        self
    }

    /// Both claims together.
    pub fn and(self, other: Evidence) -> Self {
        let join = |a: String, b: String| match (a.is_empty(), b.is_empty()) {
            (true, _) => b,
            (_, true) => a,
            _ if a == b => a,
            _ => format!("{a}, and {b}"),
        };
        let (mut expected, mut measured) = (String::new(), String::new());
        for e in [&self, &other] {
            if !e.holds {
                expected = join(expected, e.expected.clone());
                measured = join(measured, e.measured.clone());
            }
        }
        Evidence {
            holds: self.holds && other.holds,
            expected,
            measured,
            disturbed: self.disturbed || other.disturbed,
            cores: self.cores.max(other.cores),
            known_cause: self.known_cause.or(other.known_cause),
        }
    }

    pub fn holds(&self) -> bool {
        self.holds
    }

    /// The line to print: `→ text` when the claim holds, otherwise `not shown in this run:`
    /// with what was expected, what was measured and the likely cause read from `machine`.
    pub fn verdict(&self, text: &str, machine: Option<&Machine>) -> String {
        if self.holds {
            return format!("→ {text}");
        }
        let cause = match (&self.known_cause, machine) {
            (Some(known), _) => known.clone(),
            (None, Some(m)) => self.cause(m),
            (None, None) => "unknown (no reading of the machine)".to_owned(),
        };
        format!(
            "not shown in this run: expected {}, measured {}; likely cause: {cause}",
            self.expected, self.measured
        )
    }

    fn cause(&self, m: &Machine) -> String {
        let mut causes = Vec::new();
        if self.disturbed {
            causes.push(
                "a disturbed baseline: an efficiency over 100% means the one-worker run itself was slowed down"
                    .to_owned(),
            );
        }
        let online = m.online_cores.unwrap_or(m.usable_cores);
        if self.cores > 0 && m.usable_cores < self.cores.max(2).min(online.max(2)) {
            causes.push(format!(
                "this process may use {} of the machine's {online} cores (an affinity mask or a CPU quota)",
                m.usable_cores
            ));
        }
        if m.is_busy() {
            causes.push(format!("a busy machine: {}", m.describe()));
        }
        if causes.is_empty() {
            causes.push(format!(
                "no sign of a busy machine just now ({}); figures vary from run to run, re-run it",
                m.describe()
            ));
        }
        causes.join("; ")
    }
}

/// How much of the machine this process can have: read from `/proc` and std.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Machine {
    /// The 1-minute load average (`/proc/loadavg`); it includes this program's own recent work.
    pub load_1m: Option<f64>,
    /// Cores this process may use: `std::thread::available_parallelism` (which respects an
    /// affinity mask and a cgroup CPU quota).
    pub usable_cores: usize,
    /// Cores the machine has online (`/sys/devices/system/cpu/online`).
    pub online_cores: Option<usize>,
    /// Cores' worth of CPU other processes used during a short sample (`/proc/stat` less
    /// this process's own time); `None` when not sampled.
    pub others_busy: Option<f64>,
}

impl Machine {
    /// A reading without the sample: instant.
    pub fn read() -> Machine {
        Machine {
            load_1m: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|s| parse_loadavg(&s)),
            usable_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            online_cores: std::fs::read_to_string("/sys/devices/system/cpu/online")
                .ok()
                .and_then(|s| parse_cpu_list(&s)),
            others_busy: None,
        }
    }

    /// A reading with a 150 ms sample of how busy other processes keep the cores.
    pub fn sample() -> Machine {
        let mut m = Machine::read();
        m.others_busy = others_busy(Duration::from_millis(150));
        m
    }

    /// Other processes keep at least [`BUSY_CORES`] busy, or the load average exceeds the cores.
    pub fn is_busy(&self) -> bool {
        let online = self.online_cores.unwrap_or(self.usable_cores) as f64;
        match self.others_busy {
            Some(busy) => busy >= BUSY_CORES,
            None => self.load_1m.is_some_and(|l| l > online),
        }
    }

    /// `other processes using 1.9 of 2 cores just now (load average 3.41)`. The load
    /// average includes this run's own recent work, so with a sample it is only an aside.
    pub fn describe(&self) -> String {
        let online = self.online_cores.unwrap_or(self.usable_cores);
        match (self.others_busy, self.load_1m) {
            (Some(busy), Some(l)) => format!(
                "other processes using {busy:.1} of {online} cores just now, load average {l:.2} (this run's own work included)"
            ),
            (Some(busy), None) => {
                format!("other processes using {busy:.1} of {online} cores just now")
            }
            (None, Some(l)) => format!("load average {l:.2} on {online} cores"),
            (None, None) => format!("{online} cores"),
        }
    }

    /// Why CPU figures cannot be compared in this run, or `None` when the machine is free:
    /// fewer usable cores than the machine has (or one), or other processes busy.
    pub fn cpu_trouble(&self) -> Option<String> {
        let online = self.online_cores.unwrap_or(self.usable_cores);
        if self.usable_cores < 2 || self.usable_cores < online {
            return Some(format!(
                "this process may use {} of the machine's {online} cores (an affinity mask or a CPU quota)",
                self.usable_cores
            ));
        }
        self.is_busy()
            .then(|| format!("a busy machine: {}", self.describe()))
    }

    /// One line for the runner to print before a CPU-sensitive section that wants `cores`
    /// cores, when this machine cannot give them; `None` when it can.
    pub fn noisy_note(&self, cores: usize) -> Option<String> {
        let online = self.online_cores.unwrap_or(self.usable_cores);
        if self.usable_cores < cores.min(online) || self.usable_cores < 2 {
            return Some(format!(
                "note: this process may use {} of {online} cores (an affinity mask or a CPU quota): parallel figures cannot show a speedup",
                self.usable_cores
            ));
        }
        let free = self.usable_cores as f64 - self.others_busy.unwrap_or(0.0);
        if self.is_busy() && free < cores as f64 - BUSY_CORES + 1e-9 {
            return Some(format!(
                "note: the machine is busy ({}): this section's figures will be noisy",
                self.describe()
            ));
        }
        None
    }
}

fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `0-3,6,8-9` -> 7.
fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut count = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()? - a.trim().parse::<usize>().ok()? + 1,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (count > 0).then_some(count)
}

/// The `cpu` line of `/proc/stat`: (all jiffies, idle + iowait jiffies).
fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    let total = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total, idle))
}

/// CPU clock ticks by pid.
type Jiffies = Vec<(u32, u64)>;

/// The CPU of this process and of every process below it, by pid: this run's own work,
/// which must not count as a busy machine.
fn own_tree() -> Jiffies {
    let all = crate::procs::all();
    crate::procs::tree_of(std::process::id(), &all)
        .iter()
        .map(|p| (p.pid, p.cpu))
        .collect()
}

/// Ticks the tree spent between two readings: each process's growth, a new one's all.
fn tree_growth(before: &[(u32, u64)], after: &[(u32, u64)]) -> u64 {
    after
        .iter()
        .map(|&(pid, now)| {
            let then = before.iter().find(|p| p.0 == pid).map_or(0, |p| p.1);
            now.saturating_sub(then)
        })
        .sum()
}

fn others_busy(window: Duration) -> Option<f64> {
    let read = || -> Option<(u64, u64, Jiffies)> {
        let (total, idle) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
        Some((total, idle, own_tree()))
    };
    let (t0, i0, o0) = read()?;
    std::thread::sleep(window);
    let (t1, i1, o1) = read()?;
    let total = t1.checked_sub(t0)?;
    if total == 0 {
        return None;
    }
    let busy = (total - (i1 - i0)).saturating_sub(tree_growth(&o0, &o1));
    // `total` counts every core's jiffies: scale the fraction back to cores.
    let cores_in_window = window.as_secs_f64() * 100.0; // USER_HZ is 100 on Linux
    Some((busy as f64 / cores_in_window).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(load: f64, usable: usize, online: usize, others: f64) -> Machine {
        Machine {
            load_1m: Some(load),
            usable_cores: usable,
            online_cores: Some(online),
            others_busy: Some(others),
        }
    }

    const TEXT: &str = "no GIL: CPU-bound Rust threads use every core";

    #[test]
    fn a_claim_that_holds_is_printed_as_fact() {
        let e = Evidence::scaling(1.9, 2);
        assert!(e.holds());
        assert_eq!(e.verdict(TEXT, None), format!("→ {TEXT}"));
    }

    #[test]
    fn a_cause_the_section_knows_beats_the_machine_reading() {
        let e = Evidence::new(false, "10,000 threads started", "6,106 started")
            .because("the system refused thread 6,107 (a thread or memory limit)");
        let line = e.verdict(TEXT, Some(&machine(9.0, 2, 2, 1.9)));
        assert!(
            line.ends_with(
                "likely cause: the system refused thread 6,107 (a thread or memory limit)"
            ),
            "{line}"
        );
        let joined = Evidence::scaling(1.9, 2).and(e);
        assert!(joined.verdict(TEXT, None).contains("refused thread 6,107"));
    }

    #[test]
    fn a_busy_machine_is_named_with_its_load() {
        let e = Evidence::scaling(0.99, 2);
        assert!(!e.holds());
        let line = e.verdict(TEXT, Some(&machine(3.4, 2, 2, 1.9)));
        assert!(line.starts_with("not shown in this run: "), "{line}");
        assert!(
            !line.contains(TEXT),
            "the claim is not printed as fact: {line}"
        );
        assert!(line.contains("expected a speedup near 2x"), "{line}");
        assert!(line.contains("measured 0.99x"), "{line}");
        assert!(
            line.contains("efficiency 49%") || line.contains("efficiency 50%"),
            "{line}"
        );
        assert!(
            line.contains(
                "a busy machine: other processes using 1.9 of 2 cores just now, load average 3.40"
            ),
            "{line}"
        );
    }

    #[test]
    fn one_usable_core_is_named_as_the_cause() {
        let e = Evidence::scaling(1.0, 1);
        assert!(!e.holds(), "one worker shows no scaling");
        let line = e.verdict(TEXT, Some(&machine(0.1, 1, 2, 0.0)));
        assert!(line.starts_with("not shown in this run: "), "{line}");
        assert!(
            line.contains("may use 1 of the machine's 2 cores"),
            "{line}"
        );
        assert!(!line.contains("busy machine"), "{line}");
    }

    #[test]
    fn efficiency_over_100_percent_is_a_disturbed_baseline() {
        let e = Evidence::scaling(2.44, 2);
        assert!(!e.holds());
        let line = e.verdict(TEXT, Some(&machine(0.2, 2, 2, 0.0)));
        assert!(line.contains("efficiency 122%"), "{line}");
        assert!(line.contains("disturbed baseline"), "{line}");
    }

    #[test]
    fn a_quiet_machine_says_so_and_asks_for_a_re_run() {
        let e = Evidence::new(false, "a heartbeat on time", "12 ms late");
        let line = e.verdict("x", Some(&machine(0.1, 2, 2, 0.0)));
        assert_eq!(
            line,
            "not shown in this run: expected a heartbeat on time, measured 12 ms late; likely cause: no sign of a busy machine just now (other processes using 0.0 of 2 cores just now, load average 0.10 (this run's own work included)); figures vary from run to run, re-run it"
        );
    }

    #[test]
    fn faster_compares_the_ratio() {
        let ms = Duration::from_millis;
        assert!(Evidence::faster("a", ms(10), "b", ms(30), 2.0).holds());
        let e = Evidence::faster("a", ms(20), "b", ms(30), 2.0);
        assert!(!e.holds());
        assert!(e.verdict("a wins", None).contains("measured 1.50x"));
    }

    #[test]
    fn and_needs_both_and_reports_only_what_failed() {
        let both = Evidence::new(true, "x", "x").and(Evidence::new(false, "y", "z"));
        assert!(!both.holds());
        let line = both.verdict("t", None);
        assert!(line.contains("expected y, measured z"), "{line}");
        assert!(
            Evidence::new(true, "", "")
                .and(Evidence::new(true, "", ""))
                .holds()
        );
    }

    #[test]
    fn the_runner_note_appears_only_when_cores_are_short() {
        assert_eq!(machine(0.3, 2, 2, 0.1).noisy_note(2), None);
        let busy = machine(3.1, 2, 2, 1.8).noisy_note(2).unwrap();
        assert!(busy.contains("busy") && busy.contains("noisy"), "{busy}");
        let pinned = machine(0.1, 1, 2, 0.0).noisy_note(2).unwrap();
        assert!(pinned.contains("may use 1 of 2 cores"), "{pinned}");
    }

    #[test]
    fn proc_files_parse() {
        assert_eq!(parse_loadavg("3.41 2.00 1.50 2/345 999\n"), Some(3.41));
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(parse_cpu_list(""), None);
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(stat), Some((1000, 850)));
        assert_eq!(tree_growth(&[(1, 10), (2, 5)], &[(1, 15), (3, 4)]), 9);
    }
}
