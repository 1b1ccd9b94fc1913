//! The text log line without colour, written straight into the line buffer: the same bytes
//! as tracing-subscriber's default (`Full`) format, at a fraction of its cost. Every trigger
//! that acts logs one line, so the line's cost is on the hot path; the default formatter
//! spends most of it in `fmt` machinery (a date formatted from scratch per line, every
//! field through `{:?}`, no-op colour wrappers). Here the date is formatted once a second
//! per thread, and strings, integers and booleans are copied without `fmt`.
//!
//! Only the common case is handled here; an event inside a span, or a writer with colour,
//! goes to the default formatter, so nothing is ever written differently. A unit test
//! compares the two formatters byte for byte over every kind of field.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The colourless text format of `--log-format text`.
pub(super) struct TextLine {
    fallback: Format<Full, SystemTime>,
}

impl TextLine {
    pub(super) fn new() -> Self {
        Self {
            fallback: Format::default().with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if w.has_ansi_escapes() || ctx.event_scope().is_some() {
            return self.fallback.format_event(ctx, w, event);
        }
        timestamp(&mut w)?;
        w.write_str(match *event.metadata().level() {
            Level::TRACE => "TRACE ",
            Level::DEBUG => "DEBUG ",
            Level::INFO => " INFO ",
            Level::WARN => " WARN ",
            Level::ERROR => "ERROR ",
        })?;
        w.write_str(event.metadata().target())?;
        w.write_str(": ")?;
        let sanitize = w.sanitizes_ansi_escapes();
        let mut fields = Fields {
            w: &mut w,
            sanitize,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

/// `2026-11-30T02:30:40.316051Z` (UTC, microseconds), as tracing-subscriber's `SystemTime`.
fn timestamp(w: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS.`.
        static SECOND: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0; 20])) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (cached, mut prefix) = SECOND.get();
    if cached != secs {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs as i64) else {
            return w.write_str("<unknown time> ");
        };
        let mut s = String::with_capacity(20);
        write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        // A year past 9999 does not fit: format it the slow way (never, in practice).
        let Ok(p) = <[u8; 20]>::try_from(s.as_bytes()) else {
            w.write_str(&s)?;
            return write!(w, "{:06}Z ", now.subsec_micros());
        };
        prefix = p;
        SECOND.set((secs, prefix));
    }
    let mut line = [0u8; 28];
    line[..20].copy_from_slice(&prefix);
    let mut micros = now.subsec_micros();
    for i in (20..26).rev() {
        line[i] = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    line[26] = b'Z';
    line[27] = b' ';
    // Only ASCII digits and separators were written.
    w.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
}

/// Writes an event's fields as tracing-subscriber's `DefaultVisitor` does.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    sanitize: bool,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    /// The space before every field but the first.
    fn pad(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.result = self.w.write_char(' ');
        }
    }

    /// The separator and `name=`; `false` for a field that is not written.
    fn name(&mut self, field: &Field) -> bool {
        if self.result.is_err() || field.name().starts_with("log.") {
            return false;
        }
        self.pad();
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self
            .result
            .and_then(|()| self.w.write_str(name))
            .and_then(|()| self.w.write_char('='));
        self.result.is_ok()
    }

    /// The message, unquoted, with terminal escapes shown escaped (as the default does).
    fn message(&mut self, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.pad();
        self.result = self.result.and_then(|()| {
            if self.sanitize {
                write!(Sanitized(&mut *self.w), "{value:?}")
            } else {
                write!(self.w, "{value:?}")
            }
        });
    }

    fn plain(&mut self, field: &Field, text: &str) {
        if self.name(field) {
            self.result = self.w.write_str(text);
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            return self.message(&format_args!("{value}"));
        }
        if !self.name(field) {
            return;
        }
        // `{:?}` of a string: quoted, with `"`, `\` and anything outside printable ASCII
        // escaped. Printable ASCII is copied as it is.
        self.result = if value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            self.w
                .write_char('"')
                .and_then(|()| self.w.write_str(value))
                .and_then(|()| self.w.write_char('"'))
        } else {
            write!(self.w, "{value:?}")
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.plain(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.plain(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.plain(field, if value { "true" } else { "false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let sanitize = self.sanitize;
        let shown = Shown(value, sanitize);
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!(
                    "{shown} {}.sources={}",
                    field.name(),
                    Sources(source, sanitize)
                ),
            ),
            None => self.record_debug(field, &format_args!("{shown}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            return self.message(value);
        }
        if self.name(field) {
            self.result = write!(self.w, "{value:?}");
        }
    }
}

/// Writes through, showing terminal control characters escaped (ESC, BEL, BS, FF, DEL and
/// the C1 range) — tracing-subscriber's sanitizing of messages and errors.
struct Sanitized<W>(W);

impl<W: fmt::Write> fmt::Write for Sanitized<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let needs = |c: char| {
            matches!(
                c,
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        };
        if !s.contains(needs) {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// An error's own message, sanitized when asked.
struct Shown<'a>(&'a (dyn std::error::Error + 'static), bool);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(Sanitized(f), "{}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `[source, its source, ...]`.
struct Sources<'a>(&'a (dyn std::error::Error + 'static), bool);

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(e) = next {
            list.entry(&Shown(e, self.1));
            next = e.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log reader of the writer's tests.
    type Buf = crate::logging::tests::Received;

    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    /// Every kind of field and awkward text, logged through both formatters.
    fn events() {
        // Shown with `%` too, so no line break in it (a `Display` field writes it as is).
        let text = "quote \" backslash \\ tab \t esc \u{1b}[31m c1 \u{85} é \u{7f}";
        let outer = Failure(
            "outer \u{1b}",
            Some(Box::new(Failure("inner \u{9b}", None))),
        );
        let alone = Failure("alone", None);
        tracing::info!(
            receiver_id = %"24210783b3f3a1a8acfa2b2acefe34ae",
            project_id = %"1a5",
            driver = "scaleService",
            outcome = "unchanged",
            dry_run = false,
            from = 1i64,
            to = -3i64,
            status = 200u16,
            big = u64::MAX,
            duration_ms = 0.003203,
            whole_ms = 2.0,
            "trigger"
        );
        tracing::warn!(text, debug = ?text, shown = %text, newline = "a\nb", "message with {} \u{1b}[1m", "args");
        tracing::error!(
            error = &outer as &(dyn std::error::Error + 'static),
            "failed"
        );
        tracing::debug!(
            error = &alone as &(dyn std::error::Error + 'static),
            r#type = "r#"
        );
        tracing::info!(empty = "", "");
        tracing::info!(only = 1u8);
        tracing::info!(target: "elsewhere", ok = true, "x");
    }

    fn lines_of(make: impl Fn(Buf) -> tracing::Dispatch) -> Vec<String> {
        let buf = Buf::default();
        tracing::dispatcher::with_default(&make(buf.clone()), events);
        let all = String::from_utf8(buf.0.lock().expect("buf").clone()).expect("utf-8");
        all.lines().map(str::to_owned).collect()
    }

    #[test]
    fn writes_what_the_default_formatter_writes() {
        let builder = |b: Buf| {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(b)
        };
        let ours =
            lines_of(|b| tracing::Dispatch::new(builder(b).event_format(TextLine::new()).finish()));
        let theirs = lines_of(|b| tracing::Dispatch::new(builder(b).finish()));
        assert_eq!(ours.len(), 7, "{ours:#?}");
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            // The timestamps differ by the time between the two runs; the rest may not.
            assert_eq!(a[27..], b[27..]);
            let (stamp, _) = a.split_at(27);
            let parsed =
                time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                    .expect("RFC 3339");
            let age = time::OffsetDateTime::now_utc() - parsed;
            assert!(age.whole_seconds().abs() < 60, "{stamp}");
            assert!(stamp.ends_with('Z') && b.as_bytes()[26] == b'Z', "{stamp}");
        }
    }

    #[test]
    fn an_event_in_a_span_is_written_by_the_default_formatter() {
        let make = |b: Buf| {
            tracing::Dispatch::new(
                tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_writer(b)
                    .event_format(TextLine::new())
                    .finish(),
            )
        };
        let buf = Buf::default();
        tracing::dispatcher::with_default(&make(buf.clone()), || {
            let span = tracing::info_span!("request", id = 7);
            let _in = span.enter();
            tracing::info!(a = 1, "inside");
        });
        let line = String::from_utf8(buf.0.lock().expect("buf").clone()).expect("utf-8");
        assert!(line[27..].starts_with("  INFO request{id=7}: "), "{line}");
        assert!(line.ends_with("inside a=1\n"), "{line}");
    }
}
