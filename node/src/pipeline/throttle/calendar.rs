//! UTC calendar periods for quotas (DAY, WEEK from Monday, MONTH from the 1st, each moved by
//! its offset) and the wall clock they are read from. The clock is a trait so tests can put
//! "now" exactly on a boundary.

use edgeway_shared::{QuotaPeriod, QuotaSettings};
use std::time::{SystemTime, UNIX_EPOCH};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Milliseconds since the Unix epoch, UTC.
pub trait WallClock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock: what production uses.
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// One quota period: `[start_ms, end_ms)`, and a tag that differs between any two periods of
/// any settings (period kind and offset are part of it, so changing them starts afresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub tag: u32,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Bits of a period tag that count periods; 2^17 days reaches the year 2328.
const INDEX_BITS: u32 = 17;

fn tag(kind: u32, offset: u32, index: i64) -> u32 {
    let index = (index.max(0) as u32) & ((1 << INDEX_BITS) - 1);
    (kind << (INDEX_BITS + 5)) | ((offset & 31) << INDEX_BITS) | index
}

/// The period of `quota` that contains `now_ms`.
pub fn period_at(quota: &QuotaSettings, now_ms: i64) -> Period {
    let offset = quota.offset as i64;
    match quota.period {
        QuotaPeriod::Day => {
            let index = (now_ms - offset * HOUR_MS).div_euclid(DAY_MS);
            let start_ms = index * DAY_MS + offset * HOUR_MS;
            Period {
                tag: tag(0, quota.offset, index),
                start_ms,
                end_ms: start_ms + DAY_MS,
            }
        }
        QuotaPeriod::Week => {
            // Day 0 (1970-01-01) was a Thursday, so day -3 was a Monday.
            let day = now_ms.div_euclid(DAY_MS);
            let index = (day + 3 - offset).div_euclid(7);
            let start_day = index * 7 - 3 + offset;
            Period {
                tag: tag(1, quota.offset, index),
                start_ms: start_day * DAY_MS,
                end_ms: (start_day + 7) * DAY_MS,
            }
        }
        QuotaPeriod::Month => {
            let (year, month, day) = civil_from_days(now_ms.div_euclid(DAY_MS));
            let mut months = year * 12 + i64::from(month - 1);
            if i64::from(day - 1) < offset {
                months -= 1;
            }
            let start = |months: i64| {
                let (y, m) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
                days_from_civil(y, m, 1 + quota.offset) * DAY_MS
            };
            Period {
                tag: tag(2, quota.offset, months - 1970 * 12),
                start_ms: start(months),
                end_ms: start(months + 1),
            }
        }
    }
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month 1–12, day 1–31) → days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A `YYYY-MM-DD` date → its day number; `None` unless it is a real date.
pub fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, hour: i64) -> i64 {
        parse_day(date).unwrap() * DAY_MS + hour * HOUR_MS
    }

    fn quota(period: QuotaPeriod, offset: u32) -> QuotaSettings {
        QuotaSettings {
            limit: 10,
            period,
            offset,
        }
    }

    /// The period changes exactly at `boundary`: one millisecond before is the previous one.
    fn rolls_over_at(q: QuotaSettings, boundary: i64) {
        let before = period_at(&q, boundary - 1);
        let after = period_at(&q, boundary);
        assert_ne!(before.tag, after.tag, "{q:?} at {}", boundary);
        assert_eq!(before.end_ms, boundary);
        assert_eq!(after.start_ms, boundary);
        assert_eq!(period_at(&q, after.end_ms - 1).tag, after.tag);
    }

    #[test]
    fn days_roll_over_at_utc_midnight_plus_the_offset_in_hours() {
        rolls_over_at(quota(QuotaPeriod::Day, 0), at("2024-03-10", 0));
        rolls_over_at(quota(QuotaPeriod::Day, 5), at("2024-03-10", 5));
        let q = quota(QuotaPeriod::Day, 5);
        let p = period_at(&q, at("2024-03-10", 4));
        assert_eq!(
            (p.start_ms, p.end_ms),
            (at("2024-03-09", 5), at("2024-03-10", 5))
        );
    }

    #[test]
    fn weeks_start_on_monday_plus_the_offset_in_days() {
        // 2024-03-11 was a Monday.
        rolls_over_at(quota(QuotaPeriod::Week, 0), at("2024-03-11", 0));
        rolls_over_at(quota(QuotaPeriod::Week, 2), at("2024-03-13", 0));
        rolls_over_at(quota(QuotaPeriod::Week, 6), at("2024-03-17", 0));
        let p = period_at(&quota(QuotaPeriod::Week, 0), at("2024-03-17", 23));
        assert_eq!(
            (p.start_ms, p.end_ms),
            (at("2024-03-11", 0), at("2024-03-18", 0))
        );
        // Across the epoch's Thursday and a year end.
        rolls_over_at(quota(QuotaPeriod::Week, 0), at("1970-01-05", 0));
        rolls_over_at(quota(QuotaPeriod::Week, 0), at("2024-12-30", 0));
    }

    #[test]
    fn months_start_on_the_first_plus_the_offset_in_days() {
        rolls_over_at(quota(QuotaPeriod::Month, 0), at("2024-03-01", 0));
        rolls_over_at(quota(QuotaPeriod::Month, 0), at("2025-01-01", 0));
        rolls_over_at(quota(QuotaPeriod::Month, 14), at("2024-03-15", 0));
        // Offset 27 (the 28th) exists in February, leap year or not.
        rolls_over_at(quota(QuotaPeriod::Month, 27), at("2023-02-28", 0));
        rolls_over_at(quota(QuotaPeriod::Month, 27), at("2024-02-28", 0));
        let p = period_at(&quota(QuotaPeriod::Month, 14), at("2024-01-03", 12));
        assert_eq!(
            (p.start_ms, p.end_ms),
            (at("2023-12-15", 0), at("2024-01-15", 0))
        );
    }

    #[test]
    fn changing_the_period_kind_or_offset_gives_another_tag() {
        let now = at("2024-03-10", 12);
        let tags: Vec<u32> = [
            quota(QuotaPeriod::Day, 0),
            quota(QuotaPeriod::Day, 1),
            quota(QuotaPeriod::Week, 0),
            quota(QuotaPeriod::Month, 0),
        ]
        .iter()
        .map(|q| period_at(q, now).tag)
        .collect();
        for (i, a) in tags.iter().enumerate() {
            assert!(!tags[i + 1..].contains(a), "{tags:?}");
        }
    }

    #[test]
    fn dates_round_trip_and_bad_dates_are_refused() {
        for days in [-1, 0, 59, 19_782, 20_000, 100_000] {
            assert_eq!(parse_day(&format_day(days)), Some(days));
        }
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(parse_day("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "yesterday",
            "2024-01-01-1",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
