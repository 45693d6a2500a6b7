//! The `date` field an origin server sends (RFC 9110 §6.6.1): the text of a
//! time, without reading any clock (the adapters hand in the time).

use bytes::Bytes;

use crate::hpack::HeaderField;

/// `secs` seconds after the Unix epoch (UTC) as an IMF-fixdate, the
/// HTTP-date form senders must use (RFC 9110 §5.6.7).
///
/// ```
/// assert_eq!(h2proto::message::http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn http_date(secs: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days % 7) as usize];
    let (year, month, day) = civil_from_days(days);
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        MONTHS[month as usize - 1],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian (year, month 1–12, day 1–31) of a day count
/// since 1970-01-01: eras of 400 years (146,097 days) counted from March,
/// so that the leap day ends each year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Adds `date` to a response's fields (as [`response_fields`] made them)
/// unless they have one already: what the servers do with every response
/// (`date` is the adapters' per-second text of their clock).
///
/// [`response_fields`]: super::response_fields
pub fn push_date(fields: &mut Vec<HeaderField>, date: Bytes) {
    // The fields' names are lowercase: a scan of the few there are costs
    // less than a `HeaderMap` lookup.
    if !fields.iter().any(|f| f.name[..] == *b"date") {
        fields.push(HeaderField::new(Bytes::from_static(b"date"), date));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against Python's `email.utils.formatdate(t, usegmt=True)`: leap
    /// days, year ends, a century that is not a leap year, the last second
    /// of year 9999.
    #[test]
    fn http_dates_match_an_independent_formatter() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (951_868_799, "Tue, 29 Feb 2000 23:59:59 GMT"),
            (978_307_199, "Sun, 31 Dec 2000 23:59:59 GMT"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
            (1_735_689_599, "Tue, 31 Dec 2024 23:59:59 GMT"),
            (1_798_761_600, "Fri, 01 Jan 2027 00:00:00 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for (secs, text) in cases {
            assert_eq!(http_date(secs), text, "{secs}");
        }
    }

    /// Every day of 1970–2400 follows the day before it.
    #[test]
    fn consecutive_days_are_consecutive_dates() {
        let mut prev = civil_from_days(0);
        assert_eq!(prev, (1970, 1, 1));
        for days in 1..(431 * 366) {
            let (y, m, d) = civil_from_days(days);
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month = (y, m, d) == (prev.0, prev.1 + 1, 1);
            let next_year = (y, m, d) == (prev.0 + 1, 1, 1) && prev.1 == 12 && prev.2 == 31;
            assert!(
                next_day || next_month || next_year,
                "{prev:?} then {:?}",
                (y, m, d)
            );
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            assert!(d >= 1 && d <= len[m as usize - 1], "{:?}", (y, m, d));
            prev = (y, m, d);
        }
    }
}
