//! A config file's name and text, and one read of it: parse the TOML, hand its root table to
//! the caller's reader, and gather every mistake found on the way.

use std::cell::RefCell;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::ImDocument;

use crate::error::{ConfigError, ConfigErrors, Position};
use crate::reader::TableReader;

/// A config file: where it came from and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's path, as errors will name it.
    pub file: PathBuf,
    /// The file's text.
    pub text: String,
    /// Whether string values expand `${NAME}` and `${NAME:-default}` from the environment.
    pub expand_env: bool,
}

impl Source {
    /// A source from text already in memory; `file` is the name errors will show.
    pub fn new(file: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            text: text.into(),
            expand_env: false,
        }
    }

    /// The same source, with `${NAME}` and `${NAME:-default}` in string values expanded from
    /// the environment when read.
    pub fn with_env(mut self) -> Self {
        self.expand_env = true;
        self
    }

    /// Reads the file at `file`.
    pub fn load(file: impl Into<PathBuf>) -> Result<Self, ConfigErrors> {
        let file = file.into();
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(Self::new(file, text)),
            Err(error) => Err(ConfigError {
                file,
                position: None,
                key: None,
                message: format!("cannot read the file: {error}"),
                hint: None,
            }
            .into()),
        }
    }

    /// Whether the root table has `key`, without checking anything else (to tell which
    /// kind of file this is before reading it as one); `false` if the text is not TOML.
    pub fn has_top_level_key(&self, key: &str) -> bool {
        ImDocument::parse(self.text.as_str()).is_ok_and(|document| document.contains_key(key))
    }

    /// The directory relative paths in the file are resolved against: the file's own.
    pub fn directory(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new(""))
    }

    /// The line and column of a byte offset into [`Source::text`] (clamped to its end).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// Parses the text as TOML and calls `read` with a reader of the root table; returns what
    /// `read` built if nothing was wrong, or every error found: the TOML syntax error, or all
    /// that `read` met, including the keys no one asked for (reported when each table's reader
    /// is dropped).
    pub fn read<T>(&self, read: impl FnOnce(&mut TableReader<'_>) -> T) -> Result<T, ConfigErrors> {
        let document = ImDocument::parse(self.text.as_str()).map_err(|error| {
            ConfigErrors::from(ConfigError {
                file: self.file.clone(),
                position: Some(self.position(error.span().map_or(0, |span| span.start))),
                key: None,
                message: format!("invalid TOML: {}", one_line(error.message())),
                hint: None,
            })
        })?;
        let diagnostics = Diagnostics::new(self);
        let value = {
            let mut root = TableReader::root(&diagnostics, document.as_table());
            read(&mut root)
        };
        match ConfigErrors::new(diagnostics.errors.into_inner()) {
            None => Ok(value),
            Some(errors) => Err(errors),
        }
    }
}

/// The errors of one read, gathered from every table reader.
#[derive(Debug)]
pub(crate) struct Diagnostics<'s> {
    source: &'s Source,
    errors: RefCell<Vec<ConfigError>>,
}

impl<'s> Diagnostics<'s> {
    fn new(source: &'s Source) -> Self {
        Self {
            source,
            errors: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn source(&self) -> &'s Source {
        self.source
    }

    /// Records an error about `key` at the start of `span`.
    pub(crate) fn report(
        &self,
        span: Option<Range<usize>>,
        key: String,
        message: String,
        hint: Option<String>,
    ) {
        self.errors.borrow_mut().push(ConfigError {
            file: self.source.file.clone(),
            position: Some(self.source.position(span.map_or(0, |span| span.start))),
            key: Some(key),
            message,
            hint,
        });
    }
}

/// The parser's message, which may span lines, on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
