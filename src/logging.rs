//! Structured logs (docs/serving.md, "Logs"): text or JSON lines on stderr, written by a
//! thread of their own so that a request never waits on the log's pipe.
//!
//! A line is formatted on the request's thread and appended whole to a shared buffer; a
//! writer thread takes the buffer every few milliseconds and writes it out in one go. A
//! request never makes a system call to log and never wakes the writer (a queue that woke
//! its reader per line cost more than formatting the line). If the reader of stderr falls so
//! far behind that the buffer is full, new lines are dropped — whole lines, never part of
//! one — and counted in `hookgate_log_lines_dropped_total`, so an operator sees that the
//! audit trail has a gap instead of the service slowing to the speed of its log.

use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

mod text;

/// How log lines are written (`--log-format`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Bytes of lines that may wait for the writer before new ones are dropped.
const BUFFER_BYTES: usize = 8 << 20;
/// How often the writer takes what has been logged.
const WRITE_EVERY: Duration = Duration::from_millis(10);

/// Lines waiting for the writer thread, and whether it should stop.
struct Pending {
    lines: Vec<u8>,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer early, only to stop.
    stopping: Condvar,
    dropped: AtomicU64,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Appending bytes cannot leave the buffer half-changed: a poisoned lock is usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer handed to the log formatter: appends each formatted line whole, or drops it.
#[derive(Clone)]
struct LineSink(Arc<Shared>);

impl Write for LineSink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut p = self.0.lock();
        if p.lines.len() + line.len() <= self.0.capacity {
            p.lines.extend_from_slice(line);
        } else {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineSink {
    type Writer = LineSink;

    fn make_writer(&'a self) -> LineSink {
        self.clone()
    }
}

/// Keeps the writer thread running; dropping it writes out what is buffered.
#[must_use = "logs are written only while the guard lives"]
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.stopping.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the writer thread over `out`.
fn start(out: impl Write + Send + 'static, capacity: usize) -> (LineSink, Guard) {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending {
            lines: Vec::new(),
            stop: false,
        }),
        stopping: Condvar::new(),
        dropped: AtomicU64::new(0),
        capacity,
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("hookgate-log".into())
        .spawn(move || write_out(&worker, out))
        .ok();
    if thread.is_none() {
        // No thread, no writer: every line will be counted as dropped.
        shared.lock().stop = true;
    }
    (LineSink(shared.clone()), Guard { shared, thread })
}

/// The writer thread: every `WRITE_EVERY`, swaps the buffer for an empty one and writes
/// what it held; at the end, writes what is left.
fn write_out(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let stop = {
            let p = shared.lock();
            let (mut p, _) = shared
                .stopping
                .wait_timeout_while(p, WRITE_EVERY, |p| !p.stop)
                .unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut p.lines, &mut batch);
            p.stop
        };
        if !batch.is_empty() {
            // A failed write (stderr closed) loses these lines; nothing better can be done
            // with a log that cannot be written.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            // Keep a burst's allocation from living on forever.
            batch.shrink_to(64 * 1024);
        }
        if stop {
            return;
        }
    }
}

/// Installs the process's log subscriber writing to stderr, filtered by `HOOKGATE_LOG`
/// (default `info`). Colour only for a person at a terminal.
pub fn init(format: LogFormat) -> Guard {
    let ansi = std::io::stderr().is_terminal();
    init_with(format, ansi, std::io::stderr())
}

/// As [`init`], writing to `out` (the load harness logs to a file the same way).
pub fn init_with(format: LogFormat, ansi: bool, out: impl Write + Send + 'static) -> Guard {
    let (sink, guard) = start(out, BUFFER_BYTES);
    let dispatch = subscriber(format, ansi, sink.clone());
    // Only the first subscriber of a process is installed; a later one's lines go nowhere.
    if tracing::dispatcher::set_global_default(dispatch).is_ok() {
        crate::metrics::log_drops_from(move || sink.0.dropped.load(Ordering::Relaxed));
    }
    guard
}

fn subscriber(format: LogFormat, ansi: bool, sink: LineSink) -> tracing::Dispatch {
    let filter = EnvFilter::try_from_env("HOOKGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(sink);
    match format {
        // Colour is for a person at a terminal; the colourless line (a pipe, a file, a log
        // collector) is written by the fast formatter, byte for byte the same.
        LogFormat::Text if ansi => tracing::Dispatch::new(builder.finish()),
        LogFormat::Text => {
            tracing::Dispatch::new(builder.event_format(text::TextLine::new()).finish())
        }
        LogFormat::Json => tracing::Dispatch::new(builder.json().flatten_event(true).finish()),
    }
}

/// A per-second budget of log lines for one kind of event, shared by every thread: for
/// events a flood can repeat (refused senders, triggers that change nothing), so that the
/// flood is counted in metrics instead of filling the log. The line that follows a gap says
/// how many lines were left out.
pub struct LineBudget {
    per_second: u64,
    second: AtomicU64,
    lines: AtomicU64,
    suppressed: AtomicU64,
}

impl LineBudget {
    pub const fn new(per_second: u64) -> Self {
        Self {
            per_second,
            second: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one written)` when a line may be written in the
    /// second `now`; `None` (and one more left out) when this second's budget is spent.
    pub fn take(&self, now: u64) -> Option<u64> {
        let seen = self.second.load(Ordering::Relaxed);
        if seen != now
            && self
                .second
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.lines.store(0, Ordering::Relaxed);
        }
        if self.lines.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Shows a value with its control characters escaped (a newline as `\n`, an escape as
/// `\u{1b}`): for text from outside — a stored config, a claim, Cattle's messages — in a log
/// field, so it can neither forge a log line nor drive a terminal.
pub struct Escaped<T>(pub T);

impl<T: std::fmt::Display> std::fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Out<'a, 'b>(&'a mut std::fmt::Formatter<'b>);
        impl std::fmt::Write for Out<'_, '_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                for part in s.split_inclusive(char::is_control) {
                    match part.chars().last() {
                        Some(c) if c.is_control() => {
                            self.0.write_str(&part[..part.len() - c.len_utf8()])?;
                            write!(self.0, "{}", c.escape_default())?;
                        }
                        _ => self.0.write_str(part)?,
                    }
                }
                Ok(())
            }
        }
        use std::fmt::Write as _;
        write!(Out(f), "{}", self.0)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_line_budget_spends_per_second_and_reports_the_gap() {
        let budget = LineBudget::new(2);
        assert_eq!(budget.take(10), Some(0));
        assert_eq!(budget.take(10), Some(0));
        assert_eq!(budget.take(10), None);
        assert_eq!(budget.take(10), None);
        // A new second: the first line says two were left out, then the count restarts.
        assert_eq!(budget.take(11), Some(2));
        assert_eq!(budget.take(11), Some(0));
        assert_eq!(budget.take(11), None);
        assert_eq!(budget.take(12), Some(1));
    }

    #[test]
    fn outside_text_cannot_forge_a_line() {
        let shown = Escaped("1s9\n2026-01-01 INFO forged\u{1b}[31m\u{0}é").to_string();
        assert_eq!(shown, "1s9\\n2026-01-01 INFO forged\\u{1b}[31m\\u{0}é");
        assert!(!shown.chars().any(char::is_control));
    }

    use super::*;
    use std::sync::mpsc;

    /// What a log reader received, shared with the test (and the formatter's tests).
    #[derive(Clone, Default)]
    pub(super) struct Received(pub(super) Arc<Mutex<Vec<u8>>>);

    impl<'a> MakeWriter<'a> for Received {
        type Writer = Received;
        fn make_writer(&'a self) -> Received {
            self.clone()
        }
    }

    impl Write for Received {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("received").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A log reader that has stopped reading: every write blocks until released.
    struct Stalled(mpsc::Receiver<()>, Received);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            self.1.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(r: &Received) -> Vec<String> {
        String::from_utf8(r.0.lock().expect("received").clone())
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_by_the_time_the_guard_drops() {
        let received = Received::default();
        let (sink, guard) = start(received.clone(), BUFFER_BYTES);
        let dispatch = subscriber(LogFormat::Json, false, sink.clone());
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..10_000 {
                tracing::info!(i, "trigger");
            }
        });
        drop(guard);
        let lines = lines(&received);
        assert_eq!(lines.len(), 10_000);
        for (i, line) in lines.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
            assert_eq!(v["i"], i);
        }
        assert_eq!(sink.0.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_stalled_reader_costs_lines_not_time_and_the_lines_are_counted() {
        let (release, stalled) = mpsc::channel();
        let received = Received::default();
        // Room for about 100 lines while the reader is stalled.
        let (sink, guard) = start(Stalled(stalled, received.clone()), 10_000);
        let dispatch = subscriber(LogFormat::Json, false, sink.clone());
        let logged = 5_000;
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..logged {
                tracing::info!(i, "trigger");
            }
        });
        let dropped = sink.0.dropped.load(Ordering::Relaxed) as usize;
        // The buffer holds about 100 lines; the writer may have taken one buffer-full
        // before the reader stalled it.
        assert!(
            (logged - 250..logged - 50).contains(&dropped),
            "{dropped} of {logged} lines dropped"
        );
        drop(release);
        drop(guard);
        let lines = lines(&received);
        assert_eq!(lines.len() + dropped, logged, "every line kept or counted");
        for line in &lines {
            serde_json::from_str::<serde_json::Value>(line).expect("whole lines only");
        }
    }
}
