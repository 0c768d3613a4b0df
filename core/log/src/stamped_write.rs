//! Writing a leader's batches with their assigned base offsets and leader epoch, straight
//! from the producer's buffer: each batch's first 16 bytes (base offset, length, epoch: the
//! part outside the CRC that the broker stamps) go out from a small array, the rest from
//! where the request put it, all in one `pwritev`. The producer's bytes are never copied or
//! changed, so a request buffer shared by several partitions need not be copied per
//! partition before its append.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;

use crate::batch::{self, BatchHeader};

/// At most this many slices go to one `pwritev` (Linux's `IOV_MAX` is 1024).
const MAX_SLICES: usize = 1024;

/// Writes the batches of `bytes` (at the positions in `batches`, which carry the base offset
/// and leader epoch to stamp) contiguously at `position` of `file`.
pub(crate) fn write_all_at(
    file: &File,
    bytes: &[u8],
    batches: &[(usize, BatchHeader)],
    mut position: u64,
) -> io::Result<()> {
    let prefixes: Vec<[u8; batch::STAMPED_LEN]> = batches
        .iter()
        .map(|(at, header)| batch::stamped_prefix(&bytes[*at..], header))
        .collect();
    let mut slices = Vec::with_capacity(2 * batches.len());
    for ((at, header), prefix) in batches.iter().zip(&prefixes) {
        slices.push(IoSlice::new(prefix));
        slices.push(IoSlice::new(
            &bytes[at + batch::STAMPED_LEN..at + header.total_len()],
        ));
    }
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let count = rest.len().min(MAX_SLICES);
        let written = pwritev(file, &rest[..count], position)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        position += written as u64;
        IoSlice::advance_slices(&mut rest, written);
    }
    Ok(())
}

/// One `pwritev` call, retried when a signal interrupts it.
#[allow(unsafe_code)]
fn pwritev(file: &File, slices: &[IoSlice<'_>], position: u64) -> io::Result<usize> {
    let offset = libc::off_t::try_from(position)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file position too large"))?;
    loop {
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (std documents this), the
        // slices borrow live buffers for the whole call, and `count` (at most MAX_SLICES)
        // is their number; the descriptor stays open because `file` is borrowed.
        let written = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                slices.as_ptr().cast::<libc::iovec>(),
                slices.len() as libc::c_int,
                offset,
            )
        };
        if written >= 0 {
            return Ok(written as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::BatchBuilder;

    #[test]
    fn batches_land_stamped_and_the_source_is_untouched() {
        let mut bytes = BatchBuilder::new().records(3, 10).build();
        bytes.extend(BatchBuilder::new().records(2, 5).build());
        let source = bytes.clone();
        let mut batches = batch::validate_all(&bytes).unwrap();
        let mut next = 40;
        for (_, header) in &mut batches {
            header.base_offset = next;
            header.leader_epoch = 7;
            next = header.next_offset();
        }
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("log")).unwrap();
        write_all_at(&file, &bytes, &batches, 100).unwrap();

        assert_eq!(bytes, source, "the producer's buffer is not modified");
        let written = std::fs::read(dir.path().join("log")).unwrap();
        assert_eq!(written.len(), 100 + bytes.len());
        let on_disk = batch::validate_all(&written[100..]).unwrap();
        let stamped: Vec<_> = on_disk
            .iter()
            .map(|(_, h)| (h.base_offset, h.leader_epoch, h.record_count))
            .collect();
        assert_eq!(stamped, [(40, 7, 3), (43, 7, 2)]);
    }

    #[test]
    fn more_batches_than_one_call_takes_are_all_written() {
        let one = BatchBuilder::new().records(1, 3).build();
        let bytes = one.repeat(MAX_SLICES);
        let batches = batch::validate_all(&bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("log")).unwrap();
        write_all_at(&file, &bytes, &batches, 0).unwrap();
        assert_eq!(std::fs::read(dir.path().join("log")).unwrap(), bytes);
    }
}
