//! CEL expressions over events (`when`, `flush_when`, `key`): compiled once when the config
//! is read, evaluated per event against a variable `event` with `line` (the text),
//! `value` (parsed JSON, or the text), `fields` (the JSON object's fields, or an empty map)
//! and `headers` (the event's headers as strings).

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program, Value};

use crate::source::{Payload, SourceEvent};

/// A compiled CEL expression and its text.
#[derive(Clone)]
pub struct Expression {
    text: Arc<str>,
    program: Arc<Program>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.text).finish()
    }
}

thread_local! {
    /// The standard functions, built once per thread; each evaluation adds `event` in a
    /// child scope of it.
    static FUNCTIONS: Context<'static, 'static> = Context::default();
}

impl Expression {
    /// Compiles `text`; the error names the column within the expression.
    pub fn compile(text: &str) -> Result<Self, String> {
        match Program::compile(text) {
            Ok(program) => Ok(Self {
                text: Arc::from(text),
                program: Arc::new(program),
            }),
            Err(errors) => Err(errors
                .errors
                .iter()
                .map(|error| format!("at column {}: {}", error.pos.1 + 1, error.msg))
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates against `event` (built by [`event_value`]).
    pub fn evaluate(&self, event: &Value) -> Result<Value, String> {
        FUNCTIONS.with(|functions| {
            let mut scope = functions.new_inner_scope();
            scope.add_variable_from_value("event", event.clone());
            self.program
                .execute(&scope)
                .map_err(|error| format!("{} failed: {error}", self.text))
        })
    }

    /// Evaluates to a boolean; anything else is an error.
    pub fn test(&self, event: &Value) -> Result<bool, String> {
        match self.evaluate(event)? {
            Value::Bool(matched) => Ok(matched),
            other => Err(format!("{} gave {other:?}, not true or false", self.text)),
        }
    }

    /// Evaluates to bytes for a record key: a string or bytes as they are, a number in
    /// decimal; null gives no key.
    pub fn key(&self, event: &Value) -> Result<Option<bytes::Bytes>, String> {
        Ok(match self.evaluate(event)? {
            Value::String(text) => Some(bytes::Bytes::from(text.as_bytes().to_vec())),
            Value::Bytes(raw) => Some(bytes::Bytes::from(raw.as_ref().clone())),
            Value::Int(n) => Some(bytes::Bytes::from(n.to_string())),
            Value::UInt(n) => Some(bytes::Bytes::from(n.to_string())),
            Value::Float(n) => Some(bytes::Bytes::from(n.to_string())),
            Value::Bool(b) => Some(bytes::Bytes::from(b.to_string())),
            Value::Null => None,
            other => return Err(format!("{} gave {other:?}, not a key", self.text)),
        })
    }
}

/// The `event` variable for one event.
pub fn event_value(event: &SourceEvent) -> Value {
    let text = || String::from_utf8_lossy(event.payload.bytes()).into_owned();
    let (line, value, fields) = match &event.payload {
        Payload::Json { value, .. } => {
            let fields = match value {
                serde_json::Value::Object(_) => json_to_cel(value),
                _ => empty_map(),
            };
            (text(), json_to_cel(value), fields)
        }
        Payload::Text(_) | Payload::Invalid { .. } => {
            let line = text();
            let value = Value::String(Arc::new(line.clone()));
            (line, value, empty_map())
        }
    };
    let headers: HashMap<Key, Value> = event
        .headers
        .iter()
        .map(|(name, value)| {
            (
                Key::String(Arc::new((*name).to_owned())),
                Value::String(Arc::new(String::from_utf8_lossy(value).into_owned())),
            )
        })
        .collect();
    let mut map = HashMap::new();
    map.insert(key("line"), Value::String(Arc::new(line)));
    map.insert(key("value"), value);
    map.insert(key("fields"), fields);
    map.insert(
        key("headers"),
        Value::Map(Map {
            map: Arc::new(headers),
        }),
    );
    Value::Map(Map { map: Arc::new(map) })
}

fn key(name: &str) -> Key {
    Key::String(Arc::new(name.to_owned()))
}

fn empty_map() -> Value {
    Value::Map(Map {
        map: Arc::new(HashMap::new()),
    })
}

fn json_to_cel(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel).collect()))
        }
        serde_json::Value::Object(fields) => Value::Map(Map {
            map: Arc::new(
                fields
                    .iter()
                    .map(|(name, value)| (key(name), json_to_cel(value)))
                    .collect(),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;

    fn event(payload: Payload) -> SourceEvent {
        SourceEvent {
            partition: Arc::from("p"),
            position: serde_json::Value::Null,
            payload,
            key: None,
            headers: vec![("weir.line", Bytes::from("7"))],
        }
    }

    #[test]
    fn lines_json_fields_and_headers() {
        let line = event_value(&event(Payload::Text(Bytes::from("an ERROR here"))));
        let contains = Expression::compile("event.line.contains('ERROR')").unwrap();
        assert!(contains.test(&line).unwrap());
        let header = Expression::compile("event.headers['weir.line'] == '7'").unwrap();
        assert!(header.test(&line).unwrap());

        let raw = Bytes::from(r#"{"status":"shipped","user_id":42}"#);
        let value = serde_json::from_slice(&raw).unwrap();
        let json = event_value(&event(Payload::Json { raw, value }));
        let shipped = Expression::compile("event.value.status == 'shipped'").unwrap();
        assert!(shipped.test(&json).unwrap());
        let key = Expression::compile("event.fields.user_id").unwrap();
        assert_eq!(key.key(&json).unwrap(), Some(Bytes::from("42")));
    }

    #[test]
    fn compile_errors_name_a_column_and_runtime_errors_are_errors() {
        let error = Expression::compile("event.line.contains(").unwrap_err();
        assert!(error.contains("column"), "{error}");
        let missing = Expression::compile("event.fields.user_id == 1").unwrap();
        let line = event_value(&event(Payload::Text(Bytes::from("x"))));
        assert!(missing.test(&line).is_err());
        let not_bool = Expression::compile("event.line").unwrap();
        assert!(not_bool.test(&line).is_err());
    }
}
