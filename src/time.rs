//! Dates: Cattle's format (`yyyy-MM-ddTHH:mm:ssZ`, UTC, whole seconds) for what hookgate and
//! the simulator write, and RFC 3339 as senders write it (Alertmanager's `startsAt` carries
//! Go's nanosecond fractions and `Z` or a numeric offset). The calendar is the `time` crate's.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Cattle's date format, always UTC.
const CATTLE: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

pub fn now_iso() -> String {
    format_odt(OffsetDateTime::now_utc())
}

/// Epoch milliseconds in Cattle's format (out-of-range instants clamp to the epoch).
pub fn format_iso(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_odt(t)
}

fn format_odt(t: OffsetDateTime) -> String {
    // Formatting a valid date with a fixed description cannot fail.
    t.to_offset(UtcOffset::UTC)
        .format(CATTLE)
        .unwrap_or_default()
}

/// Epoch milliseconds of a date in Cattle's format (or any RFC 3339 date).
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    parse_rfc3339(s).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A full RFC 3339 date-time (`2026-11-29T10:00:00.123456789+01:00`); `None` otherwise.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(format_iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_iso_ms("2017-06-01T10:00:00Z"),
            Some(1_496_311_200_000)
        );
        for ms in [0, 951_782_400_000, 1_764_324_000_000, 4_102_444_800_000] {
            assert_eq!(parse_iso_ms(&format_iso(ms)), Some(ms));
        }
    }

    #[test]
    fn rfc3339_as_senders_write_it() {
        for ok in [
            "2026-11-29T10:00:00Z",
            "2026-11-29T10:00:00.123456789Z",
            "2026-11-29T10:00:00.5+01:00",
            "2026-11-29T10:00:00-07:30",
            "0001-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(ok).is_some(), "{ok}");
        }
        for bad in [
            "yesterday",
            "",
            "2026-11-29",
            "2026-11-29T10:00:00",
            "2026-13-01T10:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-11-29T25:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse_iso_ms("2026-11-29T11:00:00+01:00"),
            parse_iso_ms("2026-11-29T10:00:00Z")
        );
    }
}
