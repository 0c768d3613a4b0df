//! Reading one TOML table into typed values, key by key. Each read names a valid key; a value
//! of the wrong kind is recorded as an error (the read gives `None`) so that one pass finds
//! every mistake; when the reader is dropped, each key no read asked for is reported as
//! unknown, with the nearest valid key as a hint.

use std::ops::{Range, RangeInclusive};
use std::path::{Component, PathBuf};
use std::time::Duration;

use toml_edit::{Item, Key, Table, TableLike, Value};

use crate::source::Diagnostics;
use crate::suggest::{did_you_mean, nearest};
use crate::units::{Limit, UnitError, key_time_unit, parse_duration, parse_size};

const EXPECTED_DURATION: &str = "expected a duration such as \"7d\" or \"500ms\"";
const EXPECTED_SIZE: &str = "expected a size such as \"512KiB\" or \"1GiB\"";

/// Reads the keys of one table (the file's root, `[broker]`, `[topics.orders]`, one
/// `[[sources]]` entry) into typed values.
///
/// Every `string`/`u64`/`duration`/… call names a valid key of the table and returns `None`
/// when the key is absent or its value is wrong (the error is recorded, not returned). When the
/// reader is dropped, the keys of the table that no call named are reported as unknown.
pub struct TableReader<'r> {
    diagnostics: &'r Diagnostics<'r>,
    table: &'r dyn TableLike,
    /// The dotted key path of this table, empty for the root.
    path: String,
    /// Where this table is named in the file: its key, header or inline value.
    span: Option<Range<usize>>,
    /// The keys reads have asked for: the valid keys of this table.
    known: Vec<String>,
}

/// What is wrong with one value.
struct Mistake {
    message: String,
    hint: Option<String>,
}

impl From<String> for Mistake {
    fn from(message: String) -> Self {
        Self {
            message,
            hint: None,
        }
    }
}

impl<'r> TableReader<'r> {
    pub(crate) fn root(diagnostics: &'r Diagnostics<'r>, table: &'r Table) -> Self {
        Self::new(diagnostics, table, String::new(), None)
    }

    fn new(
        diagnostics: &'r Diagnostics<'r>,
        table: &'r dyn TableLike,
        path: String,
        span: Option<Range<usize>>,
    ) -> Self {
        Self {
            diagnostics,
            table,
            path,
            span,
            known: Vec::new(),
        }
    }

    /// The dotted key path of this table (`topics.orders`, `sources[0]`); empty for the root.
    pub fn key_path(&self) -> &str {
        &self.path
    }

    /// Whether the table sets `key` (to anything); does not mark the key as read. For
    /// required keys: a read that gave `None` for a key the file sets has already reported
    /// what is wrong with its value.
    pub fn has(&self, key: &str) -> bool {
        self.table
            .get_key_value(key)
            .is_some_and(|(_, item)| !item.is_none())
    }

    /// A string; in a source read [`crate::Source::with_env`], with its `${NAME}` and
    /// `${NAME:-default}` expanded.
    pub fn string(&mut self, key: &str) -> Option<String> {
        let expand_env = self.diagnostics.source().expand_env;
        self.take(key, |item, found| {
            let text = item
                .as_str()
                .ok_or_else(|| format!("expected a string, found {}", found(item)))?;
            if expand_env {
                Ok(crate::env::expand_from_process(text)?)
            } else {
                Ok(text.to_owned())
            }
        })
    }

    /// Whether `key` holds a table (`[x]` or an inline `{ … }`), for keys that take either a
    /// string or a table; does not mark the key as read.
    pub fn is_table(&self, key: &str) -> bool {
        self.table
            .get(key)
            .is_some_and(|item| item.as_table_like().is_some())
    }

    /// Where the value of `key` is in the file (or this table, if the key is absent): for
    /// errors found after the file was read, such as a database that cannot be reached.
    pub fn position(&self, key: &str) -> Option<crate::Position> {
        let span = match self.table.get_key_value(key) {
            Some((name, item)) => item_span(item).or_else(|| name.span()),
            None => self.span.clone(),
        };
        span.map(|span| self.diagnostics.source().position(span.start))
    }

    /// `true` or `false`.
    pub fn bool(&mut self, key: &str) -> Option<bool> {
        self.take(key, |item, found| {
            item.as_bool()
                .ok_or_else(|| format!("expected true or false, found {}", found(item)).into())
        })
    }

    /// An integer within `range`, as the type of the range (`u32`, `i16`, …).
    pub fn integer<T>(&mut self, key: &str, range: RangeInclusive<T>) -> Option<T>
    where
        T: Copy + Into<i128> + TryFrom<i64> + std::fmt::Display,
    {
        self.take(key, |item, found| {
            let Some(number) = item.as_integer() else {
                return Err(format!("expected an integer, found {}", found(item)).into());
            };
            let (low, high): (i128, i128) = ((*range.start()).into(), (*range.end()).into());
            let message = if i128::from(number) < low {
                if low == 0 {
                    format!("must not be negative, found {number}")
                } else {
                    format!("must be at least {low}, found {number}")
                }
            } else if i128::from(number) > high {
                format!("must be at most {high}, found {number}")
            } else {
                return T::try_from(number)
                    .map_err(|_| format!("must be at most {high}, found {number}").into());
            };
            Err(message.into())
        })
    }

    /// A non-negative integer.
    pub fn u64(&mut self, key: &str) -> Option<u64> {
        self.integer(key, 0..=u64::MAX)
    }

    /// Any integer.
    pub fn i64(&mut self, key: &str) -> Option<i64> {
        self.integer(key, i64::MIN..=i64::MAX)
    }

    /// An array of strings; a wrong element is reported at the element (`key[1]`).
    pub fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let (_, item) = self.lookup(key)?;
        let Some(array) = item.as_array() else {
            let message = format!("expected an array of strings, found {}", self.found(item));
            self.report_at(item_span(item), self.child_path(key), message, None);
            return None;
        };
        let mut strings = Vec::with_capacity(array.len());
        for (index, value) in array.iter().enumerate() {
            let expanded = value.as_str().map(|string| {
                if self.diagnostics.source().expand_env {
                    crate::env::expand_from_process(string)
                } else {
                    Ok(string.to_owned())
                }
            });
            match expanded {
                Some(Ok(string)) => strings.push(string),
                Some(Err(message)) => self.report_at(
                    value.span(),
                    format!("{}[{index}]", self.child_path(key)),
                    message,
                    None,
                ),
                None => self.report_at(
                    value.span(),
                    format!("{}[{index}]", self.child_path(key)),
                    format!("expected a string, found {}", self.found_value(value)),
                    None,
                ),
            }
        }
        (strings.len() == array.len()).then_some(strings)
    }

    /// A file path; a relative one is taken relative to the config file's directory.
    pub fn file_path(&mut self, key: &str) -> Option<PathBuf> {
        let path = self.string(key)?;
        if path.is_empty() {
            self.reject(key, "must not be empty");
            return None;
        }
        Some(self.resolve(&path))
    }

    /// An array of file paths, each resolved like [`TableReader::file_path`].
    pub fn file_paths(&mut self, key: &str) -> Option<Vec<PathBuf>> {
        let paths = self.strings(key)?;
        if paths.iter().any(String::is_empty) {
            self.reject(key, "paths must not be empty");
            return None;
        }
        Some(paths.iter().map(|path| self.resolve(path)).collect())
    }

    /// A duration: a string such as `"500ms"` or `"1h30m"`, or a bare integer in the unit the
    /// key's name ends with (`_ms`, `_secs`, `_seconds`, `_minutes`, `_hours`).
    pub fn duration(&mut self, key: &str) -> Option<Duration> {
        match self.duration_or_unlimited_if(key, false)? {
            Limit::Limited(duration) => Some(duration),
            Limit::Unlimited => None,
        }
    }

    /// A duration as [`TableReader::duration`] reads it, or `-1` for no limit.
    pub fn duration_or_unlimited(&mut self, key: &str) -> Option<Limit<Duration>> {
        self.duration_or_unlimited_if(key, true)
    }

    /// A size in bytes: an integer, or a string such as `"512KiB"`, `"1GiB"` or `"100MB"`.
    pub fn size(&mut self, key: &str) -> Option<u64> {
        match self.size_or_unlimited_if(key, false)? {
            Limit::Limited(bytes) => Some(bytes),
            Limit::Unlimited => None,
        }
    }

    /// A size as [`TableReader::size`] reads it, or `-1` for no limit.
    pub fn size_or_unlimited(&mut self, key: &str) -> Option<Limit<u64>> {
        self.size_or_unlimited_if(key, true)
    }

    /// One of a fixed set of spellings, each standing for a value: `[("fsync", Fsync), ("os",
    /// Os)]`. An integer in the file matches the choice spelled as that integer (`"1"`).
    pub fn one_of<T: Copy>(&mut self, key: &str, choices: &[(&str, T)]) -> Option<T> {
        self.take(key, |item, found| {
            let spelled = match item.as_value() {
                Some(Value::String(string)) => Some(string.value().clone()),
                Some(Value::Integer(number)) => Some(number.value().to_string()),
                _ => None,
            };
            let chosen = spelled.as_deref().and_then(|spelled| {
                choices
                    .iter()
                    .find(|(name, _)| *name == spelled)
                    .map(|(_, value)| *value)
            });
            chosen.ok_or_else(|| {
                let names = choices.iter().map(|(name, _)| *name);
                Mistake {
                    message: format!("expected {}, found {}", one_of(names.clone()), found(item)),
                    hint: spelled
                        .and_then(|spelled| nearest(&spelled, names))
                        .map(did_you_mean),
                }
            })
        })
    }

    /// A nested table (`[broker]`, or an inline `{ … }`).
    pub fn table(&mut self, key: &str) -> Option<TableReader<'r>> {
        let (name, item) = self.lookup(key)?;
        match item.as_table_like() {
            Some(table) => Some(TableReader::new(
                self.diagnostics,
                table,
                self.child_path(key),
                name.span().or_else(|| item_span(item)),
            )),
            None => {
                let message = format!("expected a table, found {}", self.found(item));
                self.report_at(item_span(item), self.child_path(key), message, None);
                None
            }
        }
    }

    /// The tables inside the table `key`, each with its name: `[topics.orders]` and
    /// `[topics.payments]` read as `("orders", …)` and `("payments", …)`, in file order.
    pub fn named_tables(&mut self, key: &str) -> Vec<(String, TableReader<'r>)> {
        let Some(mut parent) = self.table(key) else {
            return Vec::new();
        };
        let names: Vec<&'r str> = parent.table.iter().map(|(name, _)| name).collect();
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            if let Some(table) = parent.table(name) {
                tables.push((name.to_owned(), table));
            }
        }
        tables
    }

    /// The entries of an array of tables (`[[sources]]`, or `sources = [{ … }, { … }]`), in
    /// file order; the key path of each is `sources[0]`, `sources[1]`, ….
    pub fn array_of_tables(&mut self, key: &str) -> Vec<TableReader<'r>> {
        let Some((_, item)) = self.lookup(key) else {
            return Vec::new();
        };
        let path = self.child_path(key);
        let mut tables = Vec::new();
        match item {
            Item::ArrayOfTables(array) => {
                for (index, table) in array.iter().enumerate() {
                    let entry = format!("{path}[{index}]");
                    tables.push(TableReader::new(
                        self.diagnostics,
                        table,
                        entry,
                        table.span(),
                    ));
                }
            }
            Item::Value(Value::Array(array)) => {
                for (index, value) in array.iter().enumerate() {
                    let entry = format!("{path}[{index}]");
                    match value.as_inline_table() {
                        Some(table) => tables.push(TableReader::new(
                            self.diagnostics,
                            table,
                            entry,
                            value.span(),
                        )),
                        None => {
                            let found = self.found_value(value);
                            let message = format!("expected a table, found {found}");
                            self.report_at(value.span(), entry, message, None);
                        }
                    }
                }
            }
            _ => {
                let found = self.found(item);
                let message = format!("expected an array of tables ([[{key}]]), found {found}");
                self.report_at(item_span(item), path, message, None);
            }
        }
        tables
    }

    /// Whether the table has `key` (to report a required key as missing, which the typed
    /// reads cannot tell from a wrong value).
    pub fn contains(&self, key: &str) -> bool {
        self.table.get(key).is_some_and(|item| !item.is_none())
    }

    /// A free-form table whose keys the reader does not know (a plugin's `[config]`): every
    /// string, integer, float or boolean as a string, nested tables flattened into dotted
    /// keys (`[config.routes] eu = 0` reads as `("routes.eu", "0")`), in file order. Arrays
    /// are reported as errors and left out.
    pub fn string_map(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let (name, item) = self.lookup(key)?;
        let Some(table) = item.as_table_like() else {
            let message = format!("expected a table, found {}", self.found(item));
            self.report_at(
                item_span(item).or_else(|| name.span()),
                self.child_path(key),
                message,
                None,
            );
            return None;
        };
        let mut entries = Vec::new();
        self.flatten(table, "", &self.child_path(key), &mut entries);
        Some(entries)
    }

    fn flatten(
        &self,
        table: &dyn TableLike,
        prefix: &str,
        path: &str,
        entries: &mut Vec<(String, String)>,
    ) {
        for (key, item) in table.iter() {
            let flat = if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            };
            if let Some(nested) = item.as_table_like() {
                self.flatten(nested, &flat, &join_path(path, key), entries);
                continue;
            }
            let text = match item.as_value() {
                Some(Value::String(s)) if self.diagnostics.source().expand_env => {
                    match crate::env::expand_from_process(s.value()) {
                        Ok(text) => text,
                        Err(message) => {
                            self.report_at(item_span(item), join_path(path, key), message, None);
                            continue;
                        }
                    }
                }
                Some(Value::String(s)) => s.value().clone(),
                Some(Value::Integer(n)) => n.value().to_string(),
                Some(Value::Float(f)) => f.value().to_string(),
                Some(Value::Boolean(b)) => b.value().to_string(),
                _ => {
                    let message = format!(
                        "expected a string, number or boolean, found {}",
                        self.found(item)
                    );
                    self.report_at(item_span(item), join_path(path, key), message, None);
                    continue;
                }
            };
            entries.push((flat, text));
        }
    }

    /// Records an error about the value of `key` (for checks that span several keys, or
    /// that the reads cannot express); the key is taken as valid.
    pub fn reject(&mut self, key: &str, message: impl Into<String>) {
        let span = match self.lookup(key) {
            Some((name, item)) => item_span(item).or_else(|| name.span()),
            None => self.span.clone(),
        };
        self.report_at(span, self.child_path(key), message.into(), None);
    }

    /// Records an error about this table as a whole, at the place that names it (such as an
    /// invalid name in `[topics.NAME]`).
    pub fn reject_table(&self, message: impl Into<String>) {
        self.report_at(self.span.clone(), self.path.clone(), message.into(), None);
    }

    /// Passes `value` through if `is_valid` holds for it; otherwise records "`key`: must be
    /// `requirement`, found `<the value as written>`" and gives `None`.
    pub fn ensure<T>(
        &mut self,
        key: &str,
        value: Option<T>,
        requirement: &str,
        is_valid: impl FnOnce(&T) -> bool,
    ) -> Option<T> {
        let value = value?;
        if is_valid(&value) {
            return Some(value);
        }
        let found = self.lookup(key).map_or_else(String::new, |(_, item)| {
            format!(", found {}", self.found(item))
        });
        self.reject(key, format!("must be {requirement}{found}"));
        None
    }

    /// Marks `key` valid for this table and gives its key and value, if present.
    fn lookup(&mut self, key: &str) -> Option<(&'r Key, &'r Item)> {
        if !self.known.iter().any(|known| known == key) {
            self.known.push(key.to_owned());
        }
        self.table
            .get_key_value(key)
            .filter(|(_, item)| !item.is_none())
    }

    /// Reads `key` with `convert`, which is given the value and a way to show it as written,
    /// and says what is wrong with a value it cannot take.
    fn take<T>(
        &mut self,
        key: &str,
        convert: impl FnOnce(&'r Item, &dyn Fn(&Item) -> String) -> Result<T, Mistake>,
    ) -> Option<T> {
        let (_, item) = self.lookup(key)?;
        match convert(item, &|item| self.found(item)) {
            Ok(value) => Some(value),
            Err(Mistake { message, hint }) => {
                self.report_at(item_span(item), self.child_path(key), message, hint);
                None
            }
        }
    }

    fn duration_or_unlimited_if(
        &mut self,
        key: &str,
        unlimited_allowed: bool,
    ) -> Option<Limit<Duration>> {
        let ms_per_unit = key_time_unit(key);
        self.take(key, |item, found| {
            let found = found(item);
            match item.as_value() {
                Some(Value::Integer(number)) => {
                    let number = *number.value();
                    let ms = whole_number(number, unlimited_allowed)?;
                    let Some(ms) = ms else {
                        return Ok(Limit::Unlimited);
                    };
                    let Some(ms_per_unit) = ms_per_unit else {
                        return Err(format!(
                            "expected a duration with a unit, such as \"30s\" or \"500ms\", \
                             found {number}"
                        )
                        .into());
                    };
                    ms.checked_mul(ms_per_unit)
                        .map(|ms| Limit::Limited(Duration::from_millis(ms)))
                        .ok_or_else(|| format!("the duration is too large, found {found}").into())
                }
                Some(Value::String(text)) => parse_duration(text.value())
                    .map(Limit::Limited)
                    .map_err(|error| unit_mistake(error, EXPECTED_DURATION, &found)),
                _ => Err(format!("{EXPECTED_DURATION}, found {found}").into()),
            }
        })
    }

    fn size_or_unlimited_if(&mut self, key: &str, unlimited_allowed: bool) -> Option<Limit<u64>> {
        self.take(key, |item, found| {
            let found = found(item);
            match item.as_value() {
                Some(Value::Integer(number)) => {
                    Ok(whole_number(*number.value(), unlimited_allowed)?
                        .map_or(Limit::Unlimited, Limit::Limited))
                }
                Some(Value::String(text)) => parse_size(text.value())
                    .map(Limit::Limited)
                    .map_err(|error| unit_mistake(error, EXPECTED_SIZE, &found)),
                _ => Err(format!("{EXPECTED_SIZE}, found {found}").into()),
            }
        })
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let joined = self.diagnostics.source().directory().join(path);
        joined
            .components()
            .filter(|component| *component != Component::CurDir)
            .collect()
    }

    fn child_path(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    fn report_at(
        &self,
        span: Option<Range<usize>>,
        key: String,
        message: String,
        hint: Option<String>,
    ) {
        self.diagnostics.report(span, key, message, hint);
    }

    /// A value as the file writes it (shortened), or what kind of thing it is.
    fn found(&self, item: &Item) -> String {
        match item {
            Item::Value(value) => self.found_value(value),
            Item::Table(_) => "a table".to_owned(),
            Item::ArrayOfTables(_) => "an array of tables".to_owned(),
            Item::None => "nothing".to_owned(),
        }
    }

    fn found_value(&self, value: &Value) -> String {
        match value {
            Value::Array(_) => "an array".to_owned(),
            Value::InlineTable(_) => "a table".to_owned(),
            _ => {
                let text = &self.diagnostics.source().text;
                let written = value
                    .span()
                    .and_then(|span| text.get(span))
                    .map_or_else(|| value.to_string().trim().to_owned(), str::to_owned);
                shorten(written)
            }
        }
    }

    /// Reports the keys of this table that no read asked for.
    fn report_unknown_keys(&self) {
        for (name, item) in self.table.iter() {
            if self.known.iter().any(|known| known == name) {
                continue;
            }
            let span = self.table.key(name).and_then(Key::span);
            match item.as_table_like() {
                Some(dotted) if dotted.is_dotted() => {
                    self.report_unknown_dotted(span, &[name], dotted);
                }
                _ => self.report_unknown(span, self.child_path(name), name),
            }
        }
    }

    /// A dotted key such as `log.retention.ms = …`: each leaf is reported at the start of the
    /// dotted key (`start`) with its whole path, and matched against the valid keys with its
    /// dots read as underscores.
    fn report_unknown_dotted(
        &self,
        start: Option<Range<usize>>,
        prefix: &[&str],
        table: &dyn TableLike,
    ) {
        for (name, item) in table.iter() {
            let segments = [prefix, &[name]].concat();
            match item.as_table_like() {
                Some(dotted) if dotted.is_dotted() => {
                    self.report_unknown_dotted(start.clone(), &segments, dotted);
                }
                _ => {
                    let path = segments
                        .iter()
                        .fold(self.path.clone(), |path, segment| join_path(&path, segment));
                    self.report_unknown(start.clone(), path, &segments.join("_"));
                }
            }
        }
    }

    fn report_unknown(&self, span: Option<Range<usize>>, path: String, name: &str) {
        let hint = nearest(name, self.known.iter().map(String::as_str)).map(did_you_mean);
        self.report_at(span, path, "unknown key".to_owned(), hint);
    }
}

impl Drop for TableReader<'_> {
    fn drop(&mut self) {
        self.report_unknown_keys();
    }
}

impl std::fmt::Debug for TableReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("path", &self.path)
            .field("known", &self.known)
            .finish_non_exhaustive()
    }
}

/// A non-negative integer as `Some`, `-1` as `None` (no limit) where allowed.
fn whole_number(number: i64, unlimited_allowed: bool) -> Result<Option<u64>, Mistake> {
    match u64::try_from(number) {
        Ok(number) => Ok(Some(number)),
        Err(_) if number == -1 && unlimited_allowed => Ok(None),
        Err(_) if unlimited_allowed => {
            Err(format!("must not be negative (-1 means unlimited), found {number}").into())
        }
        Err(_) => Err(format!("must not be negative, found {number}").into()),
    }
}

fn unit_mistake(error: UnitError, expected: &str, found: &str) -> Mistake {
    match error {
        UnitError::Malformed => format!("{expected}, found {found}"),
        UnitError::Negative => format!("must not be negative, found {found}"),
        UnitError::Overflow => format!("too large to count, found {found}"),
    }
    .into()
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    item.span()
}

/// `topics` + `orders` → `topics.orders`; keys that TOML would need to quote are quoted.
fn join_path(path: &str, key: &str) -> String {
    let key = if is_bare_key(key) {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.map(|name| format!("\"{name}\"")).collect();
    match quoted.split_last() {
        None => "nothing".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn shorten(written: String) -> String {
    const LIMIT: usize = 40;
    if written.chars().count() <= LIMIT {
        return written;
    }
    let mut short: String = written.chars().take(LIMIT).collect();
    short.push('…');
    short
}
