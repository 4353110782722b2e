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
//! Bars in the same column ran at the same time.
//!
//! Lessons never see this module: they create ordinary `tracing` spans
//! (`info_span!("fetch", id)`, `.instrument(span)`, `.entered()`), which cost nothing in a
//! project without a subscriber. [`TimelineLayer`] is a `tracing_subscriber` layer the runner
//! installs; a [`Recording`] started in a section's `run()` collects the spans that close
//! while it runs, and its [`Recorded`] spans are drawn ([`Recorded::print`]) and counted
//! ([`Recorded::most_at_once`], [`Recorded::busy`]).
//!
//! Timestamps are microseconds since the
//! Unix epoch, so spans recorded in another process can be sent back as data (a [`Span`]
//! is `Serialize`) and drawn beside the local ones with [`Timeline::extend`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
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

/// A chart of bars (spans) to draw: made from a [`Recorded`] ([`Recorded::timeline`]), or
/// from spans another process sent back ([`Timeline::extend`]). Cheap to clone: clones add
/// to the same chart. Recording itself is [`Recording`]'s job.
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
        max_overlap(self.spans().iter().map(|s| (s.start_us, s.end_us)))
    }

    /// Draw the chart, `width` columns wide (not counting the lane names).
    pub fn render(&self, width: usize) -> String {
        render(&self.spans(), self.origin_us, width)
    }

    /// Print the chart 60 columns wide; under the first chart of the run, the legend.
    pub fn print(&self) {
        print!("{}", self.render(60));
        static LEGEND_SHOWN: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        if !LEGEND_SHOWN.swap(true, Ordering::Relaxed) {
            println!("{LEGEND}");
        }
    }
}

/// Printed under the first chart of a run: what the two shades mean.
pub const LEGEND: &str =
    "  █ ▓ a span (a lane's spans alternate shades to stay apart); blank: nothing open";

// ---------------------------------------------------------------------------------------
// The timeline as a `tracing` layer. Lesson code only creates ordinary spans
// (`info_span!("fetch", id)`, `.instrument(span)`, `.entered()`); a [`Recording`] collects
// every span that closes while it runs, and draws or counts them afterwards.
// ---------------------------------------------------------------------------------------

/// How a recorded span picks its lane when drawn. A span with a `lane` field
/// (`info_span!("fetch", lane = "client")`) always draws in that lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// The name of the thread that created the span (`worker-1`; its id when unnamed).
    Thread,
    /// The thread's name and id (`tokio-runtime-worker#7`): for pools whose threads share a name.
    ThreadId,
    /// The span's name and field values: `info_span!("fetch", id = 3)` draws in lane `fetch 3`.
    Span,
    /// As few lanes as the overlaps allow (`slot 1`, `slot 2`, ...): each span takes the
    /// first lane free when it starts. Fifty calls under a semaphore of 10 draw 10 lanes.
    Packed,
}

/// One span, from its creation to its close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanRecord {
    /// The span's name: `info_span!("fetch", ..)` -> `fetch`.
    pub name: &'static str,
    /// Its fields in order, values as text (strings without quotes).
    pub fields: Vec<(&'static str, String)>,
    /// The thread that created it, as [`thread_lane`] and as [`thread_id_lane`] name it.
    pub thread: String,
    pub thread_id: String,
    pub start_us: u64,
    pub end_us: u64,
}

impl SpanRecord {
    /// The value of field `name`, as text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.end_us.saturating_sub(self.start_us))
    }

    /// The lane this span draws in.
    pub fn lane(&self, lanes: Lanes) -> String {
        if let Some(lane) = self.field("lane") {
            return lane.to_owned();
        }
        match lanes {
            Lanes::Thread | Lanes::Packed => self.thread.clone(),
            Lanes::ThreadId => self.thread_id.clone(),
            Lanes::Span => std::iter::once(self.name.to_owned())
                .chain(
                    self.fields
                        .iter()
                        .filter(|(k, _)| *k != "label")
                        .map(|(_, v)| v.clone()),
                )
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn label(&self) -> String {
        self.field("label").unwrap_or(self.name).to_owned()
    }
}

/// The spans a [`Recording`] collected, in start order: draw them, count them, time them.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    origin_us: u64,
    spans: Vec<SpanRecord>,
}

impl Recorded {
    /// Only the spans with one of these names.
    pub fn named(&self, names: &[&str]) -> Recorded {
        Recorded {
            origin_us: self.origin_us,
            spans: self
                .spans
                .iter()
                .filter(|s| names.contains(&s.name))
                .cloned()
                .collect(),
        }
    }

    /// Only the spans for which `keep` is true.
    pub fn filter(&self, keep: impl Fn(&SpanRecord) -> bool) -> Recorded {
        Recorded {
            origin_us: self.origin_us,
            spans: self.spans.iter().filter(|s| keep(s)).cloned().collect(),
        }
    }

    pub fn spans(&self) -> &[SpanRecord] {
        &self.spans
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The most spans open at the same time: "the largest number in flight".
    pub fn most_at_once(&self) -> usize {
        max_overlap(self.spans.iter().map(|s| (s.start_us, s.end_us)))
    }

    /// The spans' durations added up: the time they would take one after another.
    pub fn busy(&self) -> Duration {
        self.spans.iter().map(SpanRecord::duration).sum()
    }

    /// From the first start to the last end.
    pub fn extent(&self) -> Duration {
        let start = self.spans.iter().map(|s| s.start_us).min().unwrap_or(0);
        let end = self.spans.iter().map(|s| s.end_us).max().unwrap_or(start);
        Duration::from_micros(end.saturating_sub(start))
    }

    /// How many distinct lanes the spans use (threads, when `lanes` is [`Lanes::Thread`]).
    pub fn lane_count(&self, lanes: Lanes) -> usize {
        let mut seen: Vec<String> = self.spans.iter().map(|s| s.lane(lanes)).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    /// A chart of these spans, one lane per thread, task or span as `lanes` says.
    pub fn timeline(&self, lanes: Lanes) -> Timeline {
        let timeline = Timeline {
            origin_us: self.origin_us,
            spans: Arc::default(),
        };
        let mut free_at: Vec<u64> = Vec::new(); // Packed: when each slot is free again
        timeline.extend(self.spans.iter().map(|s| {
            let lane = if lanes == Lanes::Packed && s.field("lane").is_none() {
                let slot = match free_at.iter().position(|&t| t <= s.start_us) {
                    Some(k) => k,
                    None => {
                        free_at.push(0);
                        free_at.len() - 1
                    }
                };
                free_at[slot] = s.end_us.max(s.start_us + 1);
                format!("slot {}", slot + 1)
            } else {
                s.lane(lanes)
            };
            Span {
                lane,
                label: s.label(),
                start_us: s.start_us,
                end_us: s.end_us,
            }
        }));
        timeline
    }

    /// Print the chart 60 columns wide.
    pub fn print(&self, lanes: Lanes) {
        self.timeline(lanes).print();
    }
}

type Sink = Arc<Mutex<Vec<SpanRecord>>>;

/// Make sure a process-wide subscriber with the timeline layer is installed, for a
/// [`Recording`] started outside the runner (a test). The runner's
/// [`crate::trace::init`] installs one with logging and `--trace` too.
pub fn ensure_global() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::registry()
            .with(TimelineLayer::global())
            .try_init();
    });
}

/// How many global recordings are running: the layer does nothing while this is 0.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static SINKS: Mutex<Vec<(u64, Sink)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding this lock leaves a list of spans, still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Collects the spans that close while it runs, from every thread and task of this process.
///
/// ```
/// use common::timeline::{Lanes, Recording};
/// let recording = Recording::start();
/// std::thread::scope(|s| {
///     for i in 0..2 {
///         s.spawn(move || {
///             let _span = tracing::info_span!("worker", i).entered();
///         });
///     }
/// });
/// let recorded = recording.finish().named(&["worker"]);
/// assert_eq!(recorded.len(), 2);
/// recorded.print(Lanes::Span);
/// ```
///
/// Two recordings at once (tests running in parallel) both see every span: pick spans by
/// name, or use [`Recording::local`] for work that stays on the current thread.
pub struct Recording {
    id: u64,
    origin_us: u64,
    sink: Sink,
    local: Option<tracing::subscriber::DefaultGuard>,
}

impl Recording {
    /// Start collecting spans from the whole process. Installs the process-wide subscriber
    /// with the timeline layer if nothing did yet ([`ensure_global`]).
    pub fn start() -> Recording {
        ensure_global();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let sink = Sink::default();
        lock(&SINKS).push((id, sink.clone()));
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Recording {
            id,
            origin_us: now_us(),
            sink,
            local: None,
        }
    }

    /// Collect only the spans made on this thread (a current-thread runtime, a test): a
    /// subscriber of its own, so recordings in other tests do not mix in.
    pub fn local() -> Recording {
        use tracing_subscriber::layer::SubscriberExt;
        let sink = Sink::default();
        let subscriber = tracing_subscriber::registry().with(TimelineLayer {
            sink: Some(sink.clone()),
        });
        Recording {
            id: 0,
            origin_us: now_us(),
            sink,
            local: Some(tracing::subscriber::set_default(subscriber)),
        }
    }

    /// Stop collecting; the spans, in start order.
    pub fn finish(mut self) -> Recorded {
        self.stop();
        let mut spans = std::mem::take(&mut *lock(&self.sink));
        spans.retain(|s| s.start_us >= self.origin_us);
        spans.sort_by_key(|s| (s.start_us, s.end_us));
        Recorded {
            origin_us: self.origin_us,
            spans,
        }
    }

    fn stop(&mut self) {
        if self.local.take().is_none() && self.id != 0 {
            lock(&SINKS).retain(|(id, _)| *id != self.id);
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
            self.id = 0;
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `tracing` layer behind [`Recording`]: notes when each span is created and closed.
/// [`crate::trace::init`] installs it for the whole process.
pub struct TimelineLayer {
    /// `None`: every running global [`Recording`]; `Some`: one local recording.
    sink: Option<Sink>,
}

impl TimelineLayer {
    /// The layer that feeds the global recordings.
    pub fn global() -> Self {
        TimelineLayer { sink: None }
    }
}

/// A span's record while it is open, kept in the span's extensions.
struct Open(SpanRecord);

#[derive(Default)]
struct FieldText(Vec<(&'static str, String)>);

impl FieldText {
    fn set(&mut self, name: &'static str, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl tracing::field::Visit for FieldText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for TimelineLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if self.sink.is_none() && ACTIVE.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = FieldText::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(Open(SpanRecord {
            name: attrs.metadata().name(),
            fields: fields.0,
            thread: thread_lane(),
            thread_id: thread_id_lane(),
            start_us: now_us(),
            end_us: 0,
        }));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(Open(record)) = span.extensions_mut().get_mut::<Open>() {
            let mut fields = FieldText(std::mem::take(&mut record.fields));
            values.record(&mut fields);
            record.fields = fields.0;
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(Open(mut record)) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        record.end_us = now_us();
        match &self.sink {
            Some(sink) => lock(sink).push(record),
            None => {
                for (_, sink) in lock(&SINKS).iter() {
                    lock(sink).push(record.clone());
                }
            }
        }
    }
}

/// The most intervals open at the same instant.
fn max_overlap(intervals: impl Iterator<Item = (u64, u64)>) -> usize {
    let mut edges: Vec<(u64, i64)> = Vec::new();
    for (start, end) in intervals {
        edges.push((start, 1));
        edges.push((end.max(start + 1), -1));
    }
    // At equal times, ends (-1) sort before starts (+1): back-to-back is not overlap.
    edges.sort();
    let (mut now, mut max) = (0i64, 0i64);
    for (_, delta) in edges {
        now += delta;
        max = max.max(now);
    }
    max as usize
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
    fn a_local_recording_sees_ordinary_spans_with_their_fields() {
        let recording = Recording::local();
        {
            let _outer = tracing::info_span!("fetch", id = 1).entered();
            let _inner = tracing::info_span!("parse", id = 1, kind = "json").entered();
        }
        let _ = tracing::info_span!("fetch", id = 2); // created and dropped: a span too
        let recorded = recording.finish();
        let names: Vec<&str> = recorded.spans().iter().map(|s| s.name).collect();
        assert_eq!(names, ["fetch", "parse", "fetch"]);
        assert_eq!(recorded.spans()[1].field("kind"), Some("json"));
        assert_eq!(recorded.spans()[1].lane(Lanes::Span), "parse 1 json");
        let fetches = recorded.named(&["fetch"]);
        assert_eq!(fetches.len(), 2);
        assert_eq!(fetches.most_at_once(), 1, "one after the other");
        let chart = recorded.timeline(Lanes::Span).render(20);
        assert!(
            chart.contains("fetch 1 │") && chart.contains("fetch 2 │"),
            "{chart}"
        );
    }

    #[test]
    fn a_lane_field_picks_the_lane_and_thread_lanes_name_the_thread() {
        let recording = Recording::local();
        std::thread::Builder::new()
            .name("not-recorded".into())
            .spawn(|| drop(tracing::info_span!("elsewhere")))
            .unwrap()
            .join()
            .unwrap();
        drop(tracing::info_span!("call", lane = "slot 3", id = 7));
        let recorded = recording.finish();
        assert_eq!(
            recorded.len(),
            1,
            "a local recording sees only its own thread"
        );
        let only = &recorded.spans()[0];
        assert_eq!(only.lane(Lanes::Span), "slot 3");
        assert_eq!(only.lane(Lanes::Thread), "slot 3");
        let me = thread_lane();
        let plain = SpanRecord {
            fields: vec![],
            ..only.clone()
        };
        assert_eq!(plain.lane(Lanes::Thread), me);
    }

    #[tokio::test(start_paused = true)]
    async fn instrumented_futures_are_recorded_and_overlaps_counted() {
        use tracing::Instrument;
        let recording = Recording::local();
        let wait = |i: u64| {
            tokio::time::sleep(Duration::from_millis(10)).instrument(tracing::info_span!("wait", i))
        };
        futures_join3(wait(0), wait(1), wait(2)).await;
        wait(3).await;
        let recorded = recording.finish().named(&["wait"]);
        assert_eq!(recorded.len(), 4);
        assert_eq!(recorded.most_at_once(), 3);
        assert_eq!(recorded.lane_count(Lanes::Span), 4);
        let chart = recorded.timeline(Lanes::Packed).render(20);
        assert_eq!(chart.matches("slot ").count(), 3, "{chart}");
    }

    async fn futures_join3(
        a: impl Future<Output = ()>,
        b: impl Future<Output = ()>,
        c: impl Future<Output = ()>,
    ) {
        tokio::join!(a, b, c);
    }

    #[test]
    fn a_global_recording_sees_spans_from_other_threads() {
        let recording = Recording::start();
        std::thread::scope(|s| {
            for i in 0..3 {
                std::thread::Builder::new()
                    .name(format!("global-test-{i}"))
                    .spawn_scoped(s, move || {
                        let _span = tracing::info_span!("global_test_work", i).entered();
                    })
                    .unwrap();
            }
        });
        let recorded = recording.finish().named(&["global_test_work"]);
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded.lane_count(Lanes::Thread), 3);
        let late = Recording::start();
        assert!(late.finish().named(&["global_test_work"]).is_empty());
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
