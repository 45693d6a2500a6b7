//! `grpc-timeout`: `TimeoutValue TimeoutUnit`, at most 8 ASCII digits and one
//! of `H` (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u`
//! (microseconds), `n` (nanoseconds).
//!
//! ```
//! use std::time::Duration;
//! use h2proto::grpc::timeout::{format_timeout, parse_timeout};
//! assert_eq!(parse_timeout(b"100m"), Some(Duration::from_millis(100)));
//! assert_eq!(format_timeout(Duration::from_millis(100)), "100000u");
//! assert_eq!(format_timeout(Duration::from_secs(1000)), "1000000m");
//! assert_eq!(parse_timeout(b"123456789S"), None); // 9 digits
//! ```

use std::time::Duration;

/// Largest `TimeoutValue`: 8 digits.
const MAX_VALUE: u64 = 99_999_999;

/// Parses a `grpc-timeout` value. `None` when it is malformed: empty, more
/// than 8 digits, a non-digit, or an unknown unit.
pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a timeout in the finest unit whose value fits in 8 digits,
/// rounding up (a deadline is never shortened). Zero is `0n`; anything past
/// 99,999,999 hours is capped there.
pub fn format_timeout(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    if nanos == 0 {
        return "0n".to_owned();
    }
    const UNITS: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per, unit) in UNITS {
        let v = nanos.div_ceil(per);
        if v <= u128::from(MAX_VALUE) {
            return format!("{v}{unit}");
        }
    }
    format!("{MAX_VALUE}H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_units() {
        assert_eq!(parse_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout(b"3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout(b"4u"), Some(Duration::from_micros(4)));
        assert_eq!(parse_timeout(b"5n"), Some(Duration::from_nanos(5)));
        assert_eq!(
            parse_timeout(b"99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
    }

    #[test]
    fn parse_rejects() {
        for bad in [
            &b""[..],
            b"S",
            b"1",
            b"1s",
            b"1h",
            b"-1S",
            b" 1S",
            b"1 S",
            b"123456789n",
            b"1.5S",
        ] {
            assert_eq!(
                parse_timeout(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn format_rounds_up() {
        assert_eq!(format_timeout(Duration::ZERO), "0n");
        assert_eq!(
            format_timeout(Duration::from_nanos(99_999_999)),
            "99999999n"
        );
        assert_eq!(format_timeout(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(format_timeout(Duration::from_secs(u64::MAX)), "99999999H");
    }
}
