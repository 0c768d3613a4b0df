//! Starting writeback of freshly appended bytes at once, so that the fsync that follows
//! (group commit) mostly waits for I/O already in flight instead of starting it. Without it,
//! every group commit begins from an idle disk and fsync-mode throughput falls well short of
//! the disk's streaming bandwidth.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk, without
/// waiting. Best effort: a failure here shows up again, and is handled, at the next fsync.
#[allow(unsafe_code)]
pub(crate) fn start(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range takes plain integers and a descriptor that `file` keeps open
    // for the duration of the call; it touches no memory of ours.
    let rc = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "sync_file_range failed");
    }
}
