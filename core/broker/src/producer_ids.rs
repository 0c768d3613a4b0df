//! Producer id allocation for InitProducerId: ids are handed out from blocks whose end is
//! persisted before any id in them is used, so a restarted broker never reissues an id.

use std::path::PathBuf;

use parking_lot::Mutex;
use weir_log::IoError;

const BLOCK: i64 = 1000;

/// Allocates unique producer ids across restarts.
#[derive(Debug)]
pub(crate) struct ProducerIdAllocator {
    path: PathBuf,
    /// (next id to hand out, end of the persisted block).
    range: Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    pub(crate) fn open(path: PathBuf) -> Result<Self, IoError> {
        let reserved = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(IoError::new("reading", &path, e)),
        };
        // Everything below the persisted end may have been issued: start past it.
        Ok(Self {
            path,
            range: Mutex::new((reserved, reserved)),
        })
    }

    /// A fresh producer id.
    pub(crate) fn next(&self) -> Result<i64, IoError> {
        let mut range = self.range.lock();
        if range.0 >= range.1 {
            let end = range.0 + BLOCK;
            write_durably(&self.path, end)?;
            range.1 = end;
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

fn write_durably(path: &std::path::Path, value: i64) -> Result<(), IoError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| IoError::new("creating", &tmp, e))?;
    file.write_all(format!("{value}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| IoError::new("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| IoError::new("renaming", &tmp, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reissued_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("producer-ids");
        let first = ProducerIdAllocator::open(path.clone()).unwrap();
        let a: Vec<i64> = (0..3).map(|_| first.next().unwrap()).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(first);
        let second = ProducerIdAllocator::open(path).unwrap();
        assert!(second.next().unwrap() >= 3);
    }
}
