//! Small durable text files (recovery point, log start offset, leader epochs, clean-shutdown
//! marker), written to a temporary name, synced, then renamed over the old one, so a crash
//! leaves either the old file or the new one, never half of each.
//!
//! Format, like Kafka's checkpoints: a version line, a count line, then one line per entry of
//! space-separated integers.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{IoError, OpenError};

const VERSION: u32 = 0;

/// Writes `rows` to `path` atomically and durably.
pub(crate) fn write(path: &Path, rows: &[Vec<i64>]) -> Result<(), IoError> {
    let mut text = format!("{VERSION}\n{}\n", rows.len());
    for row in rows {
        let line: Vec<String> = row.iter().map(i64::to_string).collect();
        text.push_str(&line.join(" "));
        text.push('\n');
    }
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| IoError::new("creating", &tmp, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| IoError::new("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| IoError::new("renaming", &tmp, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Reads the rows of a checkpoint, each with exactly `columns` integers; `None` when the
/// file does not exist.
pub(crate) fn read(path: &Path, columns: usize) -> Result<Option<Vec<Vec<i64>>>, OpenError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::new("reading", path, e).into()),
    };
    let bad = |reason: String| OpenError::BadCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut lines = text.lines();
    let version = lines.next().ok_or_else(|| bad("empty file".into()))?;
    if version.trim() != VERSION.to_string() {
        return Err(bad(format!("unknown version {version:?}")));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("missing entry count".into()))?;
    let rows = lines
        .take(count)
        .map(|line| {
            let row: Result<Vec<i64>, _> = line.split_whitespace().map(str::parse).collect();
            match row {
                Ok(row) if row.len() == columns => Ok(row),
                _ => Err(bad(format!("bad entry {line:?}"))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rows.len() != count {
        return Err(bad(format!("{} entries, {count} expected", rows.len())));
    }
    Ok(Some(rows))
}

/// Reads a checkpoint holding one integer.
pub(crate) fn read_single(path: &Path) -> Result<Option<i64>, OpenError> {
    Ok(read(path, 1)?.and_then(|rows| rows.first().map(|r| r[0])))
}

/// Deletes a checkpoint (if present) and makes the deletion durable.
pub(crate) fn remove(path: &Path) -> Result<(), IoError> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::new("removing", path, e)),
    }
}

/// Syncs a directory so that creations, renames and deletions in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IoError::new("syncing directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rows_and_reports_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        assert_eq!(read(&path, 2).unwrap(), None);
        write(&path, &[vec![1, 2], vec![3, -4]]).unwrap();
        assert_eq!(read(&path, 2).unwrap(), Some(vec![vec![1, 2], vec![3, -4]]));
        fs::write(&path, "0\n2\n1 2\n").unwrap();
        assert!(matches!(
            read(&path, 2),
            Err(OpenError::BadCheckpoint { .. })
        ));
    }
}
