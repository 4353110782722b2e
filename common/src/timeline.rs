//! Who ran when: record spans per lane (a thread, a task, a process) and draw them as a
//! chart in the terminal, the way the guides draw the GIL:
//!
//! ```text
//! worker-0 │██████████████████████████████                              │
//! worker-1 │██████████████████████████████                              │
//! worker-2 │                              ██████████████████████████████│
//!          └────────────────────────────────────────────────────────────┘
//!           0                                                    1.003 s
//! ```
//!
//! Bars in the same column ran at the same time. Timestamps are microseconds since the
//! Unix epoch, so spans recorded in another process can be sent back as data (a [`Span`]
//! is `Serialize`) and drawn beside the local ones with [`Timeline::extend`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::timing::Secs;

/// One bar: `lane` was busy with `label` from `start_us` to `end_us` (µs since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub lane: String,
    pub label: String,
    pub start_us: u64,
    pub end_us: u64,
}

impl Span {
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.end_us.saturating_sub(self.start_us))
    }
}

/// Microseconds since the Unix epoch, read from a monotonic clock anchored once per process:
/// it never goes backwards within a process and is comparable between processes.
pub fn now_us() -> u64 {
    static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
    let (instant, epoch_us) = ANCHOR.get_or_init(|| {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), since_epoch.as_micros() as u64)
    });
    epoch_us + instant.elapsed().as_micros() as u64
}

/// The current thread's name, or its id when it has none: a ready-made lane name.
pub fn thread_lane() -> String {
    let t = std::thread::current();
    t.name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:?}", t.id()))
}

/// The current thread's name and id (`tokio-rt-worker#7`): a lane name for pools whose
/// threads all share one name.
pub fn thread_id_lane() -> String {
    let t = std::thread::current();
    let id = format!("{:?}", t.id());
    let id = id.trim_start_matches("ThreadId(").trim_end_matches(')');
    format!("{}#{id}", t.name().unwrap_or("thread"))
}

/// A shared recorder of spans. Cheap to clone: clones record into the same chart, so hand
/// one to every thread or task.
#[derive(Clone, Debug)]
pub struct Timeline {
    origin_us: u64,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    /// A timeline whose chart starts now.
    pub fn new() -> Self {
        Timeline {
            origin_us: now_us(),
            spans: Arc::default(),
        }
    }

    /// Start a span that ends when the returned guard is dropped (also across `.await`).
    /// It is also a `tracing` span, so a trace file (`--trace`) shows it too.
    pub fn span(&self, lane: impl Into<String>, label: impl Into<String>) -> SpanGuard {
        let (lane, label) = (lane.into(), label.into());
        SpanGuard {
            traced: tracing::info_span!("timeline", lane = lane.as_str(), label = label.as_str()),
            timeline: self.clone(),
            lane,
            label,
            start_us: now_us(),
        }
    }

    /// Run `f` inside a span.
    pub fn record<T>(
        &self,
        lane: impl Into<String>,
        label: impl Into<String>,
        f: impl FnOnce() -> T,
    ) -> T {
        let _span = self.span(lane, label);
        f()
    }

    /// Add a finished span, e.g. one measured in another process.
    pub fn push(&self, span: Span) {
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(span);
    }

    /// Add finished spans, e.g. those a child process sent back.
    pub fn extend(&self, spans: impl IntoIterator<Item = Span>) {
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(spans);
    }

    /// All spans recorded so far, by start time.
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone();
        spans.sort_by_key(|s| (s.start_us, s.end_us));
        spans
    }

    /// How many lanes were busy at the same time, at most (a bar chart's tallest column).
    pub fn max_overlap(&self) -> usize {
        let mut edges: Vec<(u64, i64)> = Vec::new();
        for s in self.spans() {
            edges.push((s.start_us, 1));
            edges.push((s.end_us.max(s.start_us + 1), -1));
        }
        edges.sort();
        let (mut now, mut max) = (0i64, 0i64);
        for (_, delta) in edges {
            now += delta;
            max = max.max(now);
        }
        max as usize
    }

    /// Draw the chart, `width` columns wide (not counting the lane names).
    pub fn render(&self, width: usize) -> String {
        render(&self.spans(), self.origin_us, width)
    }

    /// Print the chart 60 columns wide.
    pub fn print(&self) {
        print!("{}", self.render(60));
    }
}

/// Records its span into the timeline when dropped.
#[must_use = "the span ends when this guard is dropped"]
#[derive(Debug)]
pub struct SpanGuard {
    /// Never entered, only created and dropped: valid across threads and `.await`.
    #[allow(dead_code)]
    traced: tracing::Span,
    timeline: Timeline,
    lane: String,
    label: String,
    start_us: u64,
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        self.timeline.push(Span {
            lane: std::mem::take(&mut self.lane),
            label: std::mem::take(&mut self.label),
            start_us: self.start_us,
            end_us: now_us(),
        });
    }
}

/// Two shades alternate so that back-to-back spans in one lane stay distinguishable.
const SHADES: [char; 2] = ['█', '▓'];
const MAX_LANE_NAME: usize = 18;

fn render(spans: &[Span], origin_us: u64, width: usize) -> String {
    let width = width.max(10);
    if spans.is_empty() {
        return "(timeline: nothing recorded)\n".to_owned();
    }
    let start = spans
        .iter()
        .map(|s| s.start_us)
        .min()
        .unwrap_or(origin_us)
        .min(origin_us);
    let end = spans
        .iter()
        .map(|s| s.end_us)
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let total = (end - start) as f64;
    let column = |t: u64| ((t.saturating_sub(start)) as f64 / total * width as f64) as usize;

    // Lanes in the order they first started work.
    let mut lanes: Vec<&str> = Vec::new();
    for s in spans {
        if !lanes.contains(&s.lane.as_str()) {
            lanes.push(&s.lane);
        }
    }
    let name_width = lanes
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_LANE_NAME);

    let mut out = String::new();
    for lane in &lanes {
        let mut row = vec![' '; width];
        for (k, s) in spans.iter().filter(|s| s.lane == *lane).enumerate() {
            let from = column(s.start_us).min(width - 1);
            let to = column(s.end_us).clamp(from + 1, width);
            row[from..to].fill(SHADES[k % SHADES.len()]);
        }
        let name: String = lane.chars().take(MAX_LANE_NAME).collect();
        let bar: String = row.into_iter().collect();
        out.push_str(&format!("{name:>name_width$} │{bar}│\n"));
    }
    let pad = " ".repeat(name_width);
    out.push_str(&format!("{pad} └{}┘\n", "─".repeat(width)));
    let total_label = Secs(Duration::from_micros(end - start)).to_string();
    out.push_str(&format!("{pad}  0{total_label:>w$}\n", w = width - 1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(lane: &str, start_us: u64, end_us: u64) -> Span {
        Span {
            lane: lane.into(),
            label: String::new(),
            start_us,
            end_us,
        }
    }

    #[test]
    fn draws_overlap_and_sequence() {
        // a and b run together for the first half, c runs alone in the second half.
        let spans = [
            span("a", 1_000, 1_500),
            span("b", 1_000, 1_500),
            span("c", 1_500, 2_000),
        ];
        let chart = render(&spans, 1_000, 10);
        let expected = "\
a │█████     │
b │█████     │
c │     █████│
  └──────────┘
   0   1.0 ms
";
        assert_eq!(chart, expected);
    }

    #[test]
    fn back_to_back_spans_alternate_shades_and_gaps_stay_blank() {
        let spans = [
            span("worker", 0, 250),
            span("worker", 250, 500),
            span("worker", 750, 1_000),
        ];
        let chart = render(&spans, 0, 12);
        assert!(chart.starts_with("worker │███▓▓▓   ███│\n"), "{chart}");
    }

    #[test]
    fn a_tiny_span_still_gets_one_column() {
        let spans = [span("long", 0, 1_000_000), span("blip", 500_000, 500_001)];
        let chart = render(&spans, 0, 10);
        assert!(chart.contains("blip │     █    │"), "{chart}");
        assert!(chart.contains("1.000 s"), "{chart}");
    }

    #[test]
    fn guards_record_and_clones_share_one_chart() {
        let timeline = Timeline::new();
        let clone = timeline.clone();
        std::thread::scope(|s| {
            for i in 0..3 {
                let t = clone.clone();
                s.spawn(move || t.record(format!("thread-{i}"), "work", || i * 2));
            }
        });
        {
            let _g = timeline.span("main", "wait");
        }
        let spans = timeline.spans();
        assert_eq!(spans.len(), 4);
        assert!(spans.iter().all(|s| s.end_us >= s.start_us));
        assert!(spans.windows(2).all(|w| w[0].start_us <= w[1].start_us));
        let chart = timeline.render(20);
        for lane in ["thread-0", "thread-1", "thread-2", "main"] {
            assert!(chart.contains(lane), "{chart}");
        }
    }

    #[test]
    fn spans_from_another_process_round_trip_as_data() {
        let remote = vec![span("pid 42", 10, 20), span("pid 43", 15, 30)];
        let wire = serde_json::to_string(&remote).unwrap();
        let timeline = Timeline::new();
        timeline.extend(serde_json::from_str::<Vec<Span>>(&wire).unwrap());
        assert_eq!(timeline.spans(), remote);
        assert_eq!(timeline.max_overlap(), 2);
    }

    #[test]
    fn max_overlap_counts_concurrent_spans_only() {
        let timeline = Timeline::new();
        timeline.extend([span("a", 0, 10), span("b", 10, 20), span("c", 5, 15)]);
        assert_eq!(timeline.max_overlap(), 2);
    }

    #[test]
    fn clock_is_monotonic_and_near_system_time() {
        let a = now_us();
        let b = now_us();
        assert!(b >= a);
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        assert!(system.abs_diff(b) < 60_000_000, "anchored to the epoch");
    }
}
