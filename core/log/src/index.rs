//! Sparse indexes of one segment: the offset index (relative offset → file position) and the
//! time index (max timestamp so far → relative offset), both fixed-size entries in a file.
//!
//! The active segment's index lives in a `Vec` mirrored to its file as entries are added; a
//! sealed segment's index is memory-mapped read-only, so resident memory does not grow with
//! the amount of data on disk, only with the pages that lookups touch.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::IoError;

/// One fixed-size index entry.
pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    /// Bytes per entry on disk.
    const SIZE: usize;
    /// Writes the entry into `out`, which is exactly `SIZE` bytes.
    fn encode(&self, out: &mut [u8]);
    /// Reads an entry from `bytes`, which is exactly `SIZE` bytes.
    fn decode(bytes: &[u8]) -> Self;
}

/// Offset index entry: a batch starting `relative_offset` after the segment's base offset
/// begins at byte `position` of the segment's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub(crate) relative_offset: u32,
    pub(crate) position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Self {
            relative_offset: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            position: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }
}

/// Time index entry: every batch up to the one at `relative_offset` has timestamps no
/// larger than `timestamp`, and that batch reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub(crate) timestamp: i64,
    pub(crate) relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[..8]);
        Self {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        }
    }
}

enum Entries<E> {
    /// Writable: the active segment.
    Active(Vec<E>),
    /// Read-only: a sealed segment (`None` for an empty file, which cannot be mapped).
    Sealed(Option<Mmap>),
}

/// An index file and its entries.
pub(crate) struct IndexFile<E: IndexEntry> {
    path: PathBuf,
    file: File,
    entries: Entries<E>,
}

impl<E: IndexEntry> std::fmt::Debug for IndexFile<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("len", &self.len())
            .finish()
    }
}

impl<E: IndexEntry> IndexFile<E> {
    /// Creates an empty, writable index (truncating any file at `path`).
    pub(crate) fn create(path: &Path) -> Result<Self, IoError> {
        let file = open(path, true)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entries: Entries::Active(Vec::new()),
        })
    }

    /// Opens an existing index as writable, reading its entries into memory. Returns `None`
    /// when the file is missing or its size is not a whole number of entries.
    pub(crate) fn open_active(path: &Path) -> Result<Option<Self>, IoError> {
        let Some(file) = open_existing(path)? else {
            return Ok(None);
        };
        let entries = read_entries(&file, path)?;
        Ok(entries.map(|entries| Self {
            path: path.to_path_buf(),
            file,
            entries: Entries::Active(entries),
        }))
    }

    /// Opens an existing index read-only by mapping it. Returns `None` when the file is
    /// missing or its size is not a whole number of entries.
    pub(crate) fn open_sealed(path: &Path) -> Result<Option<Self>, IoError> {
        let Some(file) = open_existing(path)? else {
            return Ok(None);
        };
        let len = file
            .metadata()
            .map_err(|e| IoError::new("reading metadata of", path, e))?
            .len();
        if len % E::SIZE as u64 != 0 {
            return Ok(None);
        }
        let map = map_read_only(&file, len, path)?;
        Ok(Some(Self {
            path: path.to_path_buf(),
            file,
            entries: Entries::Sealed(map),
        }))
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        match &self.entries {
            Entries::Active(v) => v.len(),
            Entries::Sealed(map) => map.as_ref().map_or(0, |m| m.len() / E::SIZE),
        }
    }

    /// The entry at `i`; `i` must be below `len()`.
    pub(crate) fn entry(&self, i: usize) -> E {
        match &self.entries {
            Entries::Active(v) => v[i],
            Entries::Sealed(map) => {
                let bytes = map.as_deref().unwrap_or(&[]);
                E::decode(&bytes[i * E::SIZE..(i + 1) * E::SIZE])
            }
        }
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Option<E> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// The last entry whose key is at most `target`, given that keys never decrease.
    pub(crate) fn floor<K: Ord>(&self, target: K, key: impl Fn(&E) -> K) -> Option<E> {
        // partition_point over indices: entries with key <= target come first.
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(&self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1).map(|i| self.entry(i))
    }

    /// Appends an entry to a writable index.
    pub(crate) fn push(&mut self, entry: E) -> Result<(), IoError> {
        self.make_writable()?;
        let Entries::Active(entries) = &mut self.entries else {
            unreachable!("make_writable leaves the index active");
        };
        let mut buf = [0u8; 16];
        entry.encode(&mut buf[..E::SIZE]);
        let at = (entries.len() * E::SIZE) as u64;
        self.file
            .write_all_at(&buf[..E::SIZE], at)
            .map_err(|e| IoError::new("writing", &self.path, e))?;
        entries.push(entry);
        Ok(())
    }

    /// Keeps only the first `len` entries.
    pub(crate) fn truncate(&mut self, len: usize) -> Result<(), IoError> {
        if len >= self.len() {
            return Ok(());
        }
        self.make_writable()?;
        if let Entries::Active(entries) = &mut self.entries {
            entries.truncate(len);
        }
        self.file
            .set_len((len * E::SIZE) as u64)
            .map_err(|e| IoError::new("truncating", &self.path, e))
    }

    /// Syncs the file and switches to the read-only mapped form.
    pub(crate) fn seal(&mut self) -> Result<(), IoError> {
        self.sync()?;
        if matches!(self.entries, Entries::Active(_)) {
            let len = (self.len() * E::SIZE) as u64;
            self.entries = Entries::Sealed(map_read_only(&self.file, len, &self.path)?);
        }
        Ok(())
    }

    /// Syncs the file to disk.
    pub(crate) fn sync(&self) -> Result<(), IoError> {
        self.file
            .sync_data()
            .map_err(|e| IoError::new("syncing", &self.path, e))
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn make_writable(&mut self) -> Result<(), IoError> {
        if let Entries::Sealed(map) = &self.entries {
            let bytes = map.as_deref().unwrap_or(&[]);
            let entries = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
            self.entries = Entries::Active(entries);
        }
        Ok(())
    }
}

fn open(path: &Path, truncate: bool) -> Result<File, IoError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .map_err(|e| IoError::new("opening", path, e))
}

fn open_existing(path: &Path) -> Result<Option<File>, IoError> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::new("opening", path, e)),
    }
}

fn read_entries<E: IndexEntry>(file: &File, path: &Path) -> Result<Option<Vec<E>>, IoError> {
    let len = file
        .metadata()
        .map_err(|e| IoError::new("reading metadata of", path, e))?
        .len();
    if len % E::SIZE as u64 != 0 {
        return Ok(None);
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| IoError::new("reading", path, e))?;
    Ok(Some(bytes.chunks_exact(E::SIZE).map(E::decode).collect()))
}

/// Maps the first `len` bytes of an index file read-only.
#[allow(unsafe_code)]
fn map_read_only(file: &File, len: u64, path: &Path) -> Result<Option<Mmap>, IoError> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .map_err(|_| IoError::new("mapping", path, std::io::Error::other("index too large")))?;
    // SAFETY: a mapped index belongs to a sealed segment, which this process never writes;
    // `make_writable` copies the entries out and drops the map before any write or truncate.
    // Another process modifying weir's data directory underneath it is outside the contract
    // (as it is for Kafka, which maps its indexes the same way).
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) };
    map.map(Some).map_err(|e| IoError::new("mapping", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: u32, pos: u32) -> OffsetEntry {
        OffsetEntry {
            relative_offset: rel,
            position: pos,
        }
    }

    #[test]
    fn floor_finds_the_last_entry_not_above_the_target_active_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut index = IndexFile::<OffsetEntry>::create(&path).unwrap();
        for i in 0..100u32 {
            index.push(entry(i * 10, i * 1000)).unwrap();
        }
        let check = |index: &IndexFile<OffsetEntry>| {
            assert_eq!(index.floor(0, |e| e.relative_offset), Some(entry(0, 0)));
            assert_eq!(index.floor(9, |e| e.relative_offset), Some(entry(0, 0)));
            assert_eq!(
                index.floor(10, |e| e.relative_offset),
                Some(entry(10, 1000))
            );
            assert_eq!(
                index.floor(5000, |e| e.relative_offset),
                Some(entry(990, 99000))
            );
            assert_eq!(index.floor(1500, |e| e.position), Some(entry(10, 1000)));
        };
        check(&index);
        index.seal().unwrap();
        check(&index);
        let reopened = IndexFile::<OffsetEntry>::open_sealed(&path)
            .unwrap()
            .unwrap();
        check(&reopened);
        let mut reopened = IndexFile::<OffsetEntry>::open_active(&path)
            .unwrap()
            .unwrap();
        check(&reopened);
        reopened.truncate(1).unwrap();
        assert_eq!(
            reopened.floor(5000, |e| e.relative_offset),
            Some(entry(0, 0))
        );
    }

    #[test]
    fn a_torn_index_file_is_reported_as_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.timeindex");
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(
            IndexFile::<TimeEntry>::open_sealed(&path)
                .unwrap()
                .is_none()
        );
        assert!(
            IndexFile::<TimeEntry>::open_active(&path)
                .unwrap()
                .is_none()
        );
        assert!(
            IndexFile::<TimeEntry>::open_active(&dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
    }
}
