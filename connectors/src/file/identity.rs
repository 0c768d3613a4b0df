//! A file's identity: its device and inode **and** a checksum of its first bytes. The inode
//! alone is reused after a delete, and the path alone changes on rotation; together with
//! the fingerprint, a checkpoint is matched to the file it was taken from, and to no other.

use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};

/// How many leading bytes the fingerprint covers (fewer if the file was shorter when first
/// seen with data).
pub(crate) const FINGERPRINT_BYTES: usize = 256;

/// Device, inode and fingerprint of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileIdentity {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// How many leading bytes `checksum` covers.
    pub(crate) len: u32,
    /// CRC32C of those bytes.
    pub(crate) checksum: u32,
}

impl FileIdentity {
    /// The identity of an open file with at least one byte; `None` while it is empty (an
    /// empty file has nothing to fingerprint yet).
    pub(crate) fn of(file: &File, metadata: &Metadata) -> io::Result<Option<Self>> {
        let len = (metadata.len() as usize).min(FINGERPRINT_BYTES);
        if len == 0 {
            return Ok(None);
        }
        let checksum = checksum(file, len)?;
        Ok(checksum.map(|checksum| Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: len as u32,
            checksum,
        }))
    }

    /// Whether `file` (with `metadata`) is this file: same device and inode, and its first
    /// bytes still sum to the fingerprint. A file cut shorter than the fingerprint, or
    /// rewritten, is not.
    pub(crate) fn matches(&self, file: &File, metadata: &Metadata) -> io::Result<bool> {
        if metadata.dev() != self.dev || metadata.ino() != self.ino {
            return Ok(false);
        }
        Ok(checksum(file, self.len as usize)? == Some(self.checksum))
    }

    /// Whether `metadata` names the same device and inode (not looking at content).
    pub(crate) fn same_inode(&self, metadata: &Metadata) -> bool {
        metadata.dev() == self.dev && metadata.ino() == self.ino
    }

    /// Parses what [`fmt::Display`] wrote: `dev:ino:len:checksum`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let dev = parts.next()?.parse().ok()?;
        let ino = parts.next()?.parse().ok()?;
        let len = parts.next()?.parse().ok()?;
        let checksum = u32::from_str_radix(parts.next()?, 16).ok()?;
        parts.next().is_none().then_some(Self {
            dev,
            ino,
            len,
            checksum,
        })
    }
}

impl fmt::Display for FileIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{:08x}",
            self.dev, self.ino, self.len, self.checksum
        )
    }
}

/// CRC32C of the first `len` bytes, or `None` if the file has fewer.
fn checksum(file: &File, len: usize) -> io::Result<Option<u32>> {
    let mut head = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut head[filled..], filled as u64)? {
            0 => return Ok(None),
            n => filled += n,
        }
    }
    Ok(Some(crc32c::crc32c(&head)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write as _;

    use super::*;

    #[test]
    fn same_inode_other_content_is_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"first line\n").unwrap();
        let file = File::open(&path).unwrap();
        let identity = FileIdentity::of(&file, &file.metadata().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(identity.len, 11);
        assert_eq!(FileIdentity::parse(&identity.to_string()), Some(identity));
        let mut append = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        append.write_all(b"more\n").unwrap();
        assert!(identity.matches(&file, &file.metadata().unwrap()).unwrap());
        // Truncated and rewritten in place (copytruncate, then new lines): same inode,
        // other first bytes.
        std::fs::write(&path, b"other line\n").unwrap();
        assert!(!identity.matches(&file, &file.metadata().unwrap()).unwrap());
        assert!(identity.same_inode(&file.metadata().unwrap()));
        std::fs::write(&path, b"").unwrap();
        assert!(
            FileIdentity::of(&file, &file.metadata().unwrap())
                .unwrap()
                .is_none()
        );
    }
}
