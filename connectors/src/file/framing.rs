//! Cutting a file's bytes into lines: a line is emitted only once its delimiter was read, so
//! a partial last line is held (never emitted in two halves); a line longer than the limit
//! becomes one error frame with its first bytes, and the rest of it up to the delimiter is
//! skipped.

use bytes::{Bytes, BytesMut};

/// One framed piece of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The line without its delimiter (cut to the limit for an oversized one).
    pub(crate) bytes: Bytes,
    /// The file offset just after the line's delimiter: where reading resumes after it.
    pub(crate) end: u64,
    /// The line's number in the file, from 1.
    pub(crate) line: u64,
    /// The line's full length if it was longer than the limit.
    pub(crate) oversized: Option<u64>,
}

/// Splits appended bytes into lines.
#[derive(Debug)]
pub(crate) struct LineFramer {
    delimiter: Vec<u8>,
    max_line: usize,
    /// Bytes after the last delimiter, waiting for theirs.
    partial: BytesMut,
    /// The file offset of `partial`'s first byte.
    partial_start: u64,
    /// The file offset where the line being read began (before `partial_start` while an
    /// oversized line is being skipped).
    line_start: u64,
    /// Inside an oversized line: its length so far (its first bytes were kept in
    /// `oversized_head`).
    skipping: Option<(u64, Bytes)>,
    /// Lines completed so far.
    lines: u64,
}

impl LineFramer {
    /// A framer for a file read from `offset`, whose line `lines + 1` starts there.
    pub(crate) fn new(delimiter: Vec<u8>, max_line: usize, offset: u64, lines: u64) -> Self {
        Self {
            delimiter,
            max_line,
            partial: BytesMut::new(),
            partial_start: offset,
            line_start: offset,
            skipping: None,
            lines,
        }
    }

    /// The offset of the first byte not yet part of a completed line.
    pub(crate) fn resume_offset(&self) -> u64 {
        self.line_start
    }

    /// Bytes read but held for their delimiter.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.partial.len()
    }

    /// Takes `chunk` (the bytes after everything pushed before) and appends the lines it
    /// completes to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        self.partial.extend_from_slice(chunk);
        let delimiter_len = self.delimiter.len();
        // Search from where a delimiter could first end: its last bytes may have been held.
        let mut search_from = 0;
        loop {
            let found =
                find(&self.partial[search_from..], &self.delimiter).map(|at| search_from + at);
            let Some(at) = found else {
                break;
            };
            let mut line = self.partial.split_to(at + delimiter_len);
            line.truncate(at);
            let end = self.partial_start + (at + delimiter_len) as u64;
            self.partial_start = end;
            self.line_start = end;
            self.lines += 1;
            search_from = 0;
            match self.skipping.take() {
                Some((skipped, head)) => out.push(Frame {
                    bytes: head,
                    end,
                    line: self.lines,
                    oversized: Some(skipped + line.len() as u64),
                }),
                None if line.len() > self.max_line => out.push(Frame {
                    bytes: line.freeze().slice(..self.max_line),
                    end,
                    line: self.lines,
                    oversized: Some(at as u64),
                }),
                None => out.push(Frame {
                    bytes: line.freeze(),
                    end,
                    line: self.lines,
                    oversized: None,
                }),
            }
        }
        // No delimiter in what is held: an oversized line is cut here so memory stays
        // bounded; its head is kept for the error frame.
        if self.partial.len() > self.max_line + delimiter_len {
            let keep = delimiter_len.saturating_sub(1);
            let cut = self.partial.len() - keep;
            let dropped = self.partial.split_to(cut).freeze();
            self.partial_start += cut as u64;
            let (skipped, head) = match self.skipping.take() {
                Some((skipped, head)) => (skipped + dropped.len() as u64, head),
                None => (dropped.len() as u64, dropped.slice(..self.max_line)),
            };
            self.skipping = Some((skipped, head));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return memchr(needle[0], haystack);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == byte)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lines(frames: &[Frame]) -> Vec<(&[u8], u64, u64)> {
        frames
            .iter()
            .map(|f| (&f.bytes[..], f.end, f.line))
            .collect()
    }

    #[test]
    fn a_partial_line_is_held_until_completed() {
        let mut framer = LineFramer::new(b"\n".to_vec(), 100, 0, 0);
        let mut out = Vec::new();
        framer.push(b"one\ntw", &mut out);
        assert_eq!(lines(&out), vec![(&b"one"[..], 4, 1)]);
        assert_eq!(framer.resume_offset(), 4);
        assert_eq!(framer.held(), 2);
        out.clear();
        framer.push(b"o\nthree", &mut out);
        assert_eq!(lines(&out), vec![(&b"two"[..], 8, 2)]);
        assert_eq!(framer.resume_offset(), 8);
    }

    #[test]
    fn a_multibyte_delimiter_split_across_reads() {
        let mut framer = LineFramer::new(b"\r\n".to_vec(), 100, 10, 4);
        let mut out = Vec::new();
        framer.push(b"a\r", &mut out);
        assert!(out.is_empty());
        framer.push(b"\nb\r\n", &mut out);
        assert_eq!(lines(&out), vec![(&b"a"[..], 13, 5), (&b"b"[..], 16, 6)]);
    }

    #[test]
    fn an_oversized_line_becomes_one_error_frame() {
        let mut framer = LineFramer::new(b"\n".to_vec(), 4, 0, 0);
        let mut out = Vec::new();
        framer.push(b"ok\n0123456789", &mut out);
        framer.push(b"abcdef", &mut out);
        framer.push(b"xyz\nnext\n", &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(&out[0].bytes[..], b"ok");
        assert_eq!(&out[1].bytes[..], b"0123");
        assert_eq!(out[1].oversized, Some(19));
        assert_eq!(out[1].end, 23);
        assert_eq!(&out[2].bytes[..], b"next");
        assert_eq!(out[2].line, 3);
        assert!(framer.held() <= 4);
    }
}
