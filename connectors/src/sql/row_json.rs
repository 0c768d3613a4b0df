//! Rows as JSON objects with typed values: integers and decimals stay numbers, booleans
//! booleans, timestamps RFC 3339 strings (a timestamp without a time zone is taken as UTC),
//! NULL null, bytes base64, JSON columns parsed. Columns named `__weir_*` are the source's
//! own (cursor text, the settled flag) and are left out.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column as _, Row, TypeInfo as _, ValueRef as _};

/// The prefix of columns the source adds to a query.
pub(crate) const OWN_PREFIX: &str = "__weir_";

/// A row as a JSON object, each column but the source's own turned into a value by
/// `value` (given the row, the column's index and the column); SQL NULL is null.
fn object<R: Row>(
    row: &R,
    value: impl Fn(&R, usize, &<R::Database as sqlx::Database>::Column) -> Value,
) -> Map<String, Value>
where
    usize: sqlx::ColumnIndex<R>,
{
    let mut object = Map::new();
    for (index, column) in row.columns().iter().enumerate() {
        let name = column.name();
        if name.starts_with(OWN_PREFIX) {
            continue;
        }
        let is_null = row.try_get_raw(index).is_ok_and(|raw| raw.is_null());
        let json = if is_null {
            Value::Null
        } else {
            value(row, index, column)
        };
        object.insert(name.to_owned(), json);
    }
    object
}

/// A Postgres row as JSON.
pub(crate) fn postgres(row: &PgRow) -> Map<String, Value> {
    object(row, |row, index, _| postgres_value(row, index))
}

fn postgres_value(row: &PgRow, index: usize) -> Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return Value::Null;
    };
    let type_name = raw.type_info().name().to_owned();
    let decoded = match type_name.as_str() {
        "BOOL" => row.try_get::<bool, _>(index).ok().map(Value::Bool),
        "INT2" => row.try_get::<i16, _>(index).ok().map(Value::from),
        "INT4" => row.try_get::<i32, _>(index).ok().map(Value::from),
        "INT8" => row.try_get::<i64, _>(index).ok().map(Value::from),
        "FLOAT4" => row
            .try_get::<f32, _>(index)
            .ok()
            .map(|f| float(f64::from(f))),
        "FLOAT8" => row.try_get::<f64, _>(index).ok().map(float),
        "NUMERIC" => raw
            .as_bytes()
            .ok()
            .and_then(pg_numeric)
            .map(|text| decimal(&text)),
        "TIMESTAMPTZ" => row
            .try_get::<DateTime<Utc>, _>(index)
            .ok()
            .map(|t| rfc3339(&t)),
        "TIMESTAMP" => row
            .try_get::<NaiveDateTime, _>(index)
            .ok()
            .map(|t| rfc3339(&t.and_utc())),
        "DATE" => row
            .try_get::<NaiveDate, _>(index)
            .ok()
            .map(|d| Value::String(d.to_string())),
        "BYTEA" => row.try_get::<Vec<u8>, _>(index).ok().map(|b| base64(&b)),
        // jsonb's binary form is a version byte, then the text.
        "JSONB" => raw
            .as_bytes()
            .ok()
            .and_then(|b| serde_json::from_slice(b.get(1..)?).ok()),
        "JSON" => raw
            .as_bytes()
            .ok()
            .and_then(|b| serde_json::from_slice(b).ok()),
        _ => None,
    };
    decoded.unwrap_or_else(|| {
        // Text-like types and anything selected as text.
        match row.try_get_unchecked::<String, _>(index) {
            Ok(text) => Value::String(text),
            Err(_) => raw.as_bytes().map_or(Value::Null, base64),
        }
    })
}

/// A MySQL or MariaDB row as JSON.
pub(crate) fn mysql(row: &MySqlRow) -> Map<String, Value> {
    object(row, |row, index, _| mysql_value(row, index))
}

fn mysql_value(row: &MySqlRow, index: usize) -> Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return Value::Null;
    };
    let type_name = raw.type_info().name().to_owned();
    let decoded = match type_name.as_str() {
        "BOOLEAN" => row
            .try_get_unchecked::<bool, _>(index)
            .ok()
            .map(Value::Bool),
        "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => {
            row.try_get_unchecked::<i64, _>(index).ok().map(Value::from)
        }
        name if name.ends_with("UNSIGNED") => {
            row.try_get_unchecked::<u64, _>(index).ok().map(Value::from)
        }
        "FLOAT" => row
            .try_get_unchecked::<f32, _>(index)
            .ok()
            .map(|f| float(f64::from(f))),
        "DOUBLE" => row.try_get_unchecked::<f64, _>(index).ok().map(float),
        "DECIMAL" => row
            .try_get_unchecked::<String, _>(index)
            .ok()
            .map(|text| decimal(&text)),
        "DATETIME" => row
            .try_get_unchecked::<NaiveDateTime, _>(index)
            .ok()
            .map(|t| rfc3339(&t.and_utc())),
        "TIMESTAMP" => row
            .try_get_unchecked::<DateTime<Utc>, _>(index)
            .ok()
            .map(|t| rfc3339(&t)),
        "DATE" => row
            .try_get_unchecked::<NaiveDate, _>(index)
            .ok()
            .map(|d| Value::String(d.to_string())),
        "TIME" => row
            .try_get_unchecked::<NaiveTime, _>(index)
            .ok()
            .map(|t| Value::String(t.to_string())),
        "JSON" => row
            .try_get_unchecked::<String, _>(index)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok()),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT"
        | "GEOMETRY" => row
            .try_get_unchecked::<Vec<u8>, _>(index)
            .ok()
            .map(|b| base64(&b)),
        _ => None,
    };
    decoded.unwrap_or_else(|| match row.try_get_unchecked::<String, _>(index) {
        Ok(text) => Value::String(text),
        Err(_) => row
            .try_get_unchecked::<Vec<u8>, _>(index)
            .map_or(Value::Null, |b| base64(&b)),
    })
}

/// An SQLite row as JSON: by each value's storage class, with TEXT in a column declared as
/// a date or time turned into RFC 3339 when it parses as one, and INTEGER in a BOOLEAN
/// column as a boolean.
pub(crate) fn sqlite(row: &SqliteRow) -> Map<String, Value> {
    object(row, |row, index, column| {
        let declared = column.type_info().name().to_ascii_uppercase();
        sqlite_value(row, index, &declared)
    })
}

fn sqlite_value(row: &SqliteRow, index: usize, declared: &str) -> Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return Value::Null;
    };
    let storage = raw.type_info().name().to_owned();
    match storage.as_str() {
        "INTEGER" => match row.try_get_unchecked::<i64, _>(index) {
            Ok(n) if declared == "BOOLEAN" => Value::Bool(n != 0),
            Ok(n) => Value::from(n),
            Err(_) => Value::Null,
        },
        "REAL" => row
            .try_get_unchecked::<f64, _>(index)
            .map_or(Value::Null, float),
        "BLOB" => row
            .try_get_unchecked::<Vec<u8>, _>(index)
            .map_or(Value::Null, |b| base64(&b)),
        _ => match row.try_get_unchecked::<String, _>(index) {
            Ok(text) if declared.contains("DATE") || declared.contains("TIME") => {
                sqlite_timestamp(&text).unwrap_or(Value::String(text))
            }
            Ok(text) => Value::String(text),
            Err(_) => Value::Null,
        },
    }
}

fn sqlite_timestamp(text: &str) -> Option<Value> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(rfc3339(&t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(rfc3339(&t.and_utc()));
        }
    }
    None
}

pub(crate) fn rfc3339(time: &DateTime<Utc>) -> Value {
    Value::String(time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

pub(crate) fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A float as a JSON number; NaN and infinities (which JSON lacks) as strings.
pub(crate) fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// A decimal's text as a JSON number: an integer when it has no fraction, else the nearest
/// double; text that is not a finite number (`NaN`) as a string.
pub(crate) fn decimal(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => float(f),
        _ => Value::String(text.to_owned()),
    }
}

/// Postgres's binary `numeric` as decimal text: digit count, weight (of the first base-10000
/// digit), sign, display scale, then the base-10000 digits.
fn pg_numeric(bytes: &[u8]) -> Option<String> {
    let word = |at: usize| -> Option<i16> {
        Some(i16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
    };
    let count = usize::try_from(word(0)?).ok()?;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    let scale = usize::try_from(word(6)?).ok()?;
    if sign == 0xC000 {
        return Some("NaN".to_owned());
    }
    let digits: Vec<i16> = (0..count).map(|i| word(8 + 2 * i)).collect::<Option<_>>()?;
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                text.push_str(&digit(i).to_string());
            } else {
                text.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut k = 1;
        while fraction.len() < scale {
            fraction.push_str(&format!("{:04}", digit(weight + k)));
            k += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn numeric(count: i16, weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [count, weight, sign as i16, scale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn decodes_postgres_numerics() {
        // 12345.67 = 1|2345|6700, weight 1, scale 2
        let text = pg_numeric(&numeric(3, 1, 0, 2, &[1, 2345, 6700])).unwrap();
        assert_eq!(text, "12345.67");
        assert_eq!(
            pg_numeric(&numeric(1, -1, 0x4000, 3, &[5])).unwrap(),
            "-0.000"
        );
        assert_eq!(
            pg_numeric(&numeric(1, -1, 0, 4, &[5000])).unwrap(),
            "0.5000"
        );
        assert_eq!(pg_numeric(&numeric(1, 2, 0, 0, &[7])).unwrap(), "700000000");
        assert_eq!(pg_numeric(&numeric(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert_eq!(decimal("19.99"), serde_json::json!(19.99));
        assert_eq!(decimal("42"), serde_json::json!(42));
    }

    #[test]
    fn reads_sqlite_timestamps() {
        assert_eq!(
            sqlite_timestamp("2024-05-01 10:00:00.5").unwrap(),
            serde_json::json!("2024-05-01T10:00:00.500Z")
        );
        assert!(sqlite_timestamp("yesterday").is_none());
    }
}
