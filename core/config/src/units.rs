//! Durations (`"500ms"`, `"1h30m"`, `"7d"`) and sizes (`"512KiB"`, `"100MB"`) as people write
//! them in config files, and the bare numbers whose unit the key's name gives (`_ms`, `_hours`).

use std::time::Duration;

/// Why a duration or size string was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a number followed by a known unit.
    #[error("not a number followed by a known unit")]
    Malformed,
    /// A minus sign: durations and sizes cannot be negative.
    #[error("must not be negative")]
    Negative,
    /// The value does not fit in 64 bits (of milliseconds or bytes).
    #[error("too large")]
    Overflow,
}

/// A setting that may be switched off: Kafka's `-1` for "keep forever" or "no size limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit<T> {
    /// No limit (`-1` in the file).
    Unlimited,
    /// Limited to this value.
    Limited(T),
}

impl<T> Limit<T> {
    /// `None` for [`Limit::Unlimited`], the value otherwise.
    pub fn into_option(self) -> Option<T> {
        match self {
            Self::Unlimited => None,
            Self::Limited(value) => Some(value),
        }
    }
}

const MS_PER_SECOND: u64 = 1_000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;

/// Duration units, largest first, as written after a number.
const DURATION_UNITS: [(&str, u64); 5] = [
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// Size units as written after a number (matched without regard to case), binary first.
const SIZE_UNITS: [(&str, u64); 9] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

/// Parses a duration such as `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"7d"` or `"1h30m"`: one or
/// more whole numbers, each followed by its unit, no spaces.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    if text.starts_with('-') {
        return Err(UnitError::Negative);
    }
    let mut rest = text;
    if rest.is_empty() {
        return Err(UnitError::Malformed);
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let (number, unit, after) = split_number_and_unit(rest)?;
        let (_, ms_per_unit) = DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or(UnitError::Malformed)?;
        total_ms = number
            .checked_mul(*ms_per_unit)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or(UnitError::Overflow)?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration in whole milliseconds (any finer part is dropped) the way
/// [`parse_duration`] reads it, largest units first: `"1h30m"`, `"7d"`, `"0ms"`.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0ms".to_owned();
    }
    let mut text = String::new();
    for (name, ms_per_unit) in DURATION_UNITS {
        let count = ms / ms_per_unit;
        if count > 0 {
            text.push_str(&format!("{count}{name}"));
            ms %= ms_per_unit;
        }
    }
    text
}

/// Parses a size such as `"512KiB"`, `"1GiB"`, `"100MB"` or `"4096B"`: a whole number and a
/// unit, no spaces. `KB`/`MB`/`GB`/`TB` are powers of 1000, `KiB`/`MiB`/`GiB`/`TiB` powers of
/// 1024, `B` is bytes; case does not matter.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    if text.starts_with('-') {
        return Err(UnitError::Negative);
    }
    let (number, unit, rest) = split_number_and_unit(text)?;
    if !rest.is_empty() {
        return Err(UnitError::Malformed);
    }
    let (_, bytes_per_unit) = SIZE_UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .ok_or(UnitError::Malformed)?;
    number
        .checked_mul(*bytes_per_unit)
        .ok_or(UnitError::Overflow)
}

/// Formats a size the way [`parse_size`] reads it, in the largest unit that divides it
/// exactly: `"512KiB"`, `"100MB"`, `"1000001B"`.
pub fn format_size(bytes: u64) -> String {
    let (name, bytes_per_unit) = SIZE_UNITS
        .iter()
        .find(|(_, per_unit)| bytes != 0 && bytes.is_multiple_of(*per_unit))
        .unwrap_or(&("B", 1));
    format!("{}{name}", bytes / bytes_per_unit)
}

/// Milliseconds per unit of a bare number, from the key's name: `retention_ms` counts
/// milliseconds, `log_retention_hours` hours. `None` when the name gives no unit.
pub(crate) fn key_time_unit(key: &str) -> Option<u64> {
    [
        ("_ms", 1),
        ("_secs", MS_PER_SECOND),
        ("_seconds", MS_PER_SECOND),
        ("_minutes", MS_PER_MINUTE),
        ("_hours", MS_PER_HOUR),
    ]
    .into_iter()
    .find(|(suffix, _)| key.ends_with(suffix))
    .map(|(_, ms)| ms)
}

/// Splits `"30s…"` into `(30, "s", "…")`: leading digits, then the letters after them.
fn split_number_and_unit(text: &str) -> Result<(u64, &str, &str), UnitError> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err(UnitError::Malformed);
    }
    let unit_end = text[digits_end..]
        .find(|c: char| !c.is_ascii_alphabetic())
        .map_or(text.len(), |len| digits_end + len);
    if unit_end == digits_end {
        return Err(UnitError::Malformed);
    }
    // Only ASCII digits, so the one way this parse fails is a number beyond u64.
    let number = text[..digits_end]
        .parse()
        .map_err(|_| UnitError::Overflow)?;
    Ok((number, &text[digits_end..unit_end], &text[unit_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_in_every_unit() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
            ("1h30m", 5_400_000),
            ("1d12h30m15s250ms", 131_415_250),
            ("0ms", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_durations() {
        for text in [
            "", "7", "7 days", "7days", "d", "1.5h", "1h 30m", "7D", "h1",
        ] {
            assert_eq!(parse_duration(text), Err(UnitError::Malformed), "{text:?}");
        }
        assert_eq!(parse_duration("-5s"), Err(UnitError::Negative));
        assert_eq!(
            parse_duration("99999999999999999999ms"),
            Err(UnitError::Overflow)
        );
        assert_eq!(parse_duration("999999999999999d"), Err(UnitError::Overflow));
        assert_eq!(
            parse_duration(&format!("{}ms1ms", u64::MAX)),
            Err(UnitError::Overflow)
        );
    }

    #[test]
    fn sizes_in_every_unit() {
        let cases = [
            ("4096B", 4096),
            ("512KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("3MiB", 3 << 20),
            ("2TiB", 2 << 40),
            ("100MB", 100_000_000),
            ("2kb", 2_000),
            ("1gb", 1_000_000_000),
            ("1tb", 1_000_000_000_000),
            ("1gib", 1 << 30),
            ("7b", 7),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn malformed_sizes() {
        for text in [
            "", "100", "1 GiB", "GiB", "1.5GiB", "1GiBs", "1Gi", "1PB", "1GiB2MiB",
        ] {
            assert_eq!(parse_size(text), Err(UnitError::Malformed), "{text:?}");
        }
        assert_eq!(parse_size("-1GiB"), Err(UnitError::Negative));
        assert_eq!(parse_size("16777216TiB"), Err(UnitError::Overflow));
        assert_eq!(
            parse_size("99999999999999999999B"),
            Err(UnitError::Overflow)
        );
    }

    #[test]
    fn key_names_give_the_unit_of_bare_numbers() {
        assert_eq!(key_time_unit("log_retention_ms"), Some(1));
        assert_eq!(key_time_unit("poll_secs"), Some(1_000));
        assert_eq!(key_time_unit("log_retention_minutes"), Some(60_000));
        assert_eq!(key_time_unit("log_retention_hours"), Some(3_600_000));
        assert_eq!(key_time_unit("timeout"), None);
        assert_eq!(key_time_unit("items"), None);
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_millis(5_400_000)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        assert_eq!(format_size(512 << 10), "512KiB");
        assert_eq!(format_size(100_000_000), "100MB");
        assert_eq!(format_size(1_000_001), "1000001B");
        assert_eq!(format_size(0), "0B");
    }

    proptest! {
        #[test]
        fn durations_round_trip(ms in any::<u64>()) {
            let duration = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn sizes_round_trip(bytes in any::<u64>()) {
            prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }

        #[test]
        fn sizes_round_trip_in_their_unit(count in 0u64..1 << 20, unit in 0usize..SIZE_UNITS.len()) {
            let (name, per_unit) = SIZE_UNITS[unit];
            prop_assert_eq!(parse_size(&format!("{count}{name}")), Ok(count * per_unit));
            prop_assert_eq!(parse_size(&format_size(count * per_unit)), Ok(count * per_unit));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,24}") {
            let _ = parse_duration(&text);
            let _ = parse_size(&text);
        }
    }
}
