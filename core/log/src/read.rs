//! What a read returns: a range of a segment file holding whole batches, which the broker
//! can copy into a response (or send straight from the file) without decoding anything.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::ReadError;

/// A byte range of one segment file. It keeps the file open, so a segment deleted by
/// retention after the read still serves these bytes.
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    len: u64,
}

impl FileSlice {
    pub(crate) fn new(file: Arc<File>, path: PathBuf, position: u64, len: u64) -> Self {
        Self {
            file,
            path,
            position,
            len,
        }
    }

    /// An empty slice (nothing to read at the requested offset yet).
    pub(crate) fn empty(file: Arc<File>, path: PathBuf) -> Self {
        Self::new(file, path, 0, 0)
    }

    /// Number of bytes in the slice.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the slice holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Position of the first byte in the segment file.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The segment file, for zero-copy senders.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Copies the slice into `buf`, which must be exactly `len()` bytes.
    pub fn read_into(&self, buf: &mut [u8]) -> Result<(), ReadError> {
        self.file
            .read_exact_at(buf, self.position)
            .map_err(|source| ReadError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Copies the slice into a new buffer.
    pub fn to_vec(&self) -> Result<Vec<u8>, ReadError> {
        let mut buf = vec![0u8; self.len as usize];
        self.read_into(&mut buf)?;
        Ok(buf)
    }
}
