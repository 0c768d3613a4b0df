//! Column values from pgoutput's text format as typed JSON, the way `row_json` types rows
//! read by query: the relation's type OIDs say which values are numbers, booleans,
//! timestamps (RFC 3339, UTC), bytes (base64) or JSON; everything else stays text. An
//! unchanged TOAST value, which Postgres does not send, becomes [`UNCHANGED_TOAST`] rather
//! than a value it never had.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::pgoutput::{ColumnValue, Relation};
use crate::sql::row_json;

/// The key of the marker object that stands for an unchanged TOAST column.
pub const UNCHANGED_TOAST: &str = "$unchanged_toast";

// Type OIDs from pg_type.dat; they are fixed across Postgres versions.
const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const OID: u32 = 26;
const JSON: u32 = 114;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;
const JSONB: u32 = 3802;

/// `values` of `relation` as a JSON object; with `only_key`, just the replica identity key
/// columns (an old key tuple's other columns are nulls Postgres put there, not values).
pub(crate) fn row(
    relation: &Relation,
    values: &[ColumnValue],
    only_key: bool,
) -> Map<String, Value> {
    let mut object = Map::new();
    for (column, value) in relation.columns.iter().zip(values) {
        if only_key && !column.key {
            continue;
        }
        let json = match value {
            ColumnValue::Null => Value::Null,
            ColumnValue::UnchangedToast => json!({ UNCHANGED_TOAST: true }),
            ColumnValue::Text(text) => typed(column.type_oid, text),
        };
        object.insert(column.name.clone(), json);
    }
    object
}

/// One text value of the type `oid` as JSON.
pub(crate) fn typed(oid: u32, text: &str) -> Value {
    let parsed = match oid {
        BOOL => Some(Value::Bool(text == "t")),
        INT2 | INT4 | INT8 | OID => text.parse::<i64>().ok().map(Value::from),
        FLOAT4 | FLOAT8 => text.parse::<f64>().ok().map(row_json::float),
        NUMERIC => Some(row_json::decimal(text)),
        JSON | JSONB => serde_json::from_str(text).ok(),
        // `\x` then hex digits (bytea_output = hex, the default).
        BYTEA => text
            .strip_prefix("\\x")
            .and_then(hex)
            .map(|b| row_json::base64(&b)),
        TIMESTAMPTZ => DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
            .ok()
            .map(|t| row_json::rfc3339(&t.with_timezone(&Utc))),
        TIMESTAMP => NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|t| row_json::rfc3339(&t.and_utc())),
        DATE => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|d| Value::String(d.to_string())),
        _ => None,
    };
    // `infinity`, `NaN` and types without a JSON form stay as Postgres wrote them.
    parsed.unwrap_or_else(|| Value::String(text.to_owned()))
}

fn hex(digits: &str) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::cdc::pgoutput::RelationColumn;

    #[test]
    fn types_values_by_oid() {
        assert_eq!(typed(INT8, "42"), json!(42));
        assert_eq!(typed(BOOL, "f"), json!(false));
        assert_eq!(typed(NUMERIC, "19.99"), json!(19.99));
        assert_eq!(typed(BYTEA, "\\x6869"), json!("aGk="));
        assert_eq!(typed(JSONB, "{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(
            typed(TIMESTAMPTZ, "2024-05-01 10:00:00.5+02"),
            json!("2024-05-01T08:00:00.500Z")
        );
        assert_eq!(
            typed(TIMESTAMP, "2024-05-01 10:00:00"),
            json!("2024-05-01T10:00:00Z")
        );
        assert_eq!(typed(TIMESTAMPTZ, "infinity"), json!("infinity"));
        assert_eq!(
            typed(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        );
    }

    #[test]
    fn marks_unchanged_toast_and_keeps_only_key_columns_of_a_key_tuple() {
        let relation = Relation {
            id: 1,
            schema: "s".into(),
            name: "t".into(),
            replica_identity: b'd',
            columns: vec![
                RelationColumn {
                    key: true,
                    name: "id".into(),
                    type_oid: INT4,
                },
                RelationColumn {
                    key: false,
                    name: "doc".into(),
                    type_oid: 25,
                },
            ],
        };
        let values = [ColumnValue::Text("7".into()), ColumnValue::UnchangedToast];
        assert_eq!(
            Value::Object(row(&relation, &values, false)),
            json!({"id": 7, "doc": {"$unchanged_toast": true}})
        );
        let key = [ColumnValue::Text("7".into()), ColumnValue::Null];
        assert_eq!(Value::Object(row(&relation, &key, true)), json!({"id": 7}));
    }
}
