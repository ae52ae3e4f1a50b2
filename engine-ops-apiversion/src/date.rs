//! Lifecycle dates written as dates: `2027-01-01`, RFC 3339 timestamps and
//! HTTP-dates, read once when a policy is built. No calendar crate: the
//! conversions are the two civil-calendar formulas below (proleptic
//! Gregorian, UTC), tested against `httpdate` and by round trips.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days from 1970-01-01 to `year-month-day` (Gregorian, valid date assumed).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01.
#[cfg(any(test, feature = "transform"))]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Exactly `n` ASCII digits.
fn digits(text: &[u8], n: usize) -> Option<u32> {
    let field = text.get(..n)?;
    field.iter().try_fold(0u32, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
    })
}

/// `YYYY-MM-DD` at the start of `text`, validated: seconds since the epoch
/// of its midnight (UTC).
fn date_part(text: &[u8]) -> Option<i64> {
    if text.get(4) != Some(&b'-') || text.get(7) != Some(&b'-') {
        return None;
    }
    let year = i64::from(digits(text, 4)?);
    let month = digits(&text[5..], 2)?;
    let day = digits(&text[8..], 2)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400)
}

/// The `HH:MM:SS[.fraction]` and offset after the date of an RFC 3339
/// timestamp: seconds to add to the date's midnight (UTC), and the
/// fraction's nanoseconds.
fn time_part(text: &[u8]) -> Option<(i64, u32)> {
    if text.get(2) != Some(&b':') || text.get(5) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (
        digits(text, 2)?,
        digits(&text[3..], 2)?,
        digits(&text[6..], 2)?,
    );
    // 60 is a leap second; it counts as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[8..];
    let mut nanos = 0u32;
    if let [b'.', fraction @ ..] = rest {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, &b) in fraction[..len].iter().take(9).enumerate() {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), offset @ ..] if offset.len() == 5 && offset[2] == b':' => {
            let (hours, minutes) = (digits(offset, 2)?, digits(&offset[3..], 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    Some((
        i64::from(hour * 3600 + minute * 60 + second) - offset,
        nanos,
    ))
}

/// Reads a lifecycle date: `2027-01-01` (midnight UTC), an RFC 3339
/// timestamp (`2027-01-01T12:00:00Z`, `2027-01-01T14:00:00+02:00`, a
/// fraction allowed), or an HTTP-date (`Fri, 01 Jan 2027 00:00:00 GMT`).
/// `None` for anything else or an instant before 1970.
pub(crate) fn parse_instant(text: &str) -> Option<SystemTime> {
    let bytes = text.trim().as_bytes();
    let (seconds, nanos) = match bytes.len() {
        10 => (date_part(bytes)?, 0),
        // `YYYY-MM-DD` + `T` + at least `HH:MM:SSZ`.
        20.. if matches!(bytes[10], b'T' | b't' | b' ') && bytes[0].is_ascii_digit() => {
            let (time, nanos) = time_part(&bytes[11..])?;
            (date_part(bytes)? + time, nanos)
        }
        _ => return httpdate::parse_http_date(text.trim()).ok(),
    };
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(seconds, nanos))
}

/// `YYYY-MM-DD` (UTC) of an instant; instants before 1970 print as 1970-01-01.
#[cfg(any(test, feature = "transform"))]
pub(crate) fn format_date(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days(i64::try_from(seconds / 86_400).unwrap_or(0));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<u64> {
        parse_instant(text).map(|t| t.duration_since(UNIX_EPOCH).expect("after").as_secs())
    }

    #[test]
    fn dates_timestamps_and_http_dates_name_the_same_instant() {
        for text in [
            "2027-01-01",
            "2027-01-01T00:00:00Z",
            "2027-01-01t00:00:00z",
            "2027-01-01 00:00:00Z",
            "2027-01-01T02:00:00+02:00",
            "2026-12-31T19:00:00-05:00",
            "2027-01-01T00:00:00.000Z",
            "Fri, 01 Jan 2027 00:00:00 GMT",
            "  2027-01-01  ",
        ] {
            assert_eq!(secs(text), Some(1_798_761_600), "{text}");
        }
        assert_eq!(secs("1970-01-01"), Some(0));
        assert_eq!(secs("2024-02-29"), Some(1_709_164_800));
        assert_eq!(
            parse_instant("2027-01-01T00:00:00.25Z"),
            Some(UNIX_EPOCH + Duration::new(1_798_761_600, 250_000_000))
        );
        // A leap second is the first second of the next minute.
        assert_eq!(secs("2016-12-31T23:59:60Z"), Some(1_483_228_800));
    }

    #[test]
    fn malformed_or_impossible_dates_are_rejected() {
        for text in [
            "",
            "2027",
            "2027-1-01",
            "2027-01-32",
            "2023-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-01-01T00:00Z",
            "2027-01-01T24:00:00Z",
            "2027-01-01T00:60:00Z",
            "2027-01-01T00:00:00",
            "2027-01-01T00:00:00+2:00",
            "2027-01-01T00:00:00.Z",
            "2027-01-01T00:00:00+24:00",
            "1969-12-31",
            "1969-12-31T23:59:59Z",
            "tomorrow",
            "Fri, 32 Jan 2027 00:00:00 GMT",
        ] {
            assert_eq!(parse_instant(text), None, "{text:?}");
        }
    }

    #[test]
    fn every_day_agrees_with_httpdate_and_round_trips() {
        // Every day from 1970 to 2100, through both formulas and httpdate.
        for day in 0..47_482i64 {
            let at = UNIX_EPOCH + Duration::from_secs(day as u64 * 86_400);
            let text = format_date(at);
            assert_eq!(parse_instant(&text), Some(at), "{text}");
            let http = httpdate::fmt_http_date(at);
            assert_eq!(parse_instant(&http), Some(at), "{http}");
            let (year, month, day_of_month) = civil_from_days(day);
            assert_eq!(days_from_civil(year, month, day_of_month), day);
        }
    }
}
