//! Batch compression codecs, with fast settings: LZ4 frames at the fast level, zstd at
//! level 3 through a reused per-thread context, snappy in the xerial framing the Java client
//! writes (raw snappy is accepted on read, as librdkafka may send it), gzip at the default
//! level.

use std::cell::RefCell;
use std::io::{Read, Write};

use crate::error::{Error, Result};

/// A batch compression codec (the low three bits of a batch's attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (deflate).
    Gzip,
    /// Snappy, xerial-framed.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec's id in a batch's attributes.
    pub fn id(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The codec with attribute id `id`.
    pub fn from_id(id: i16) -> Option<Self> {
        Some(match id {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return None,
        })
    }

    /// The codec's name as Kafka's `compression.type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Parses a `compression.type` name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    fn error(self, direction: &'static str, source: std::io::Error) -> Error {
        Error::Compression {
            codec: self.name(),
            direction,
            source,
        }
    }

    /// Compresses `data`, appending to `out`.
    pub(crate) fn compress(self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let fail = |e| self.error("compression", e);
        match self {
            Self::None => out.extend_from_slice(data),
            Self::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(out, flate2::Compression::default());
                encoder.write_all(data).map_err(fail)?;
                encoder.finish().map_err(fail)?;
            }
            Self::Snappy => xerial::compress(data, out).map_err(fail)?,
            Self::Lz4 => {
                let mut encoder = lz4_flex::frame::FrameEncoder::new(out);
                encoder.write_all(data).map_err(fail)?;
                encoder.finish().map_err(|e| fail(e.into()))?;
            }
            Self::Zstd => ZSTD.with(|cell| -> Result<()> {
                let mut slot = cell.borrow_mut();
                if slot.is_none() {
                    *slot = Some(zstd::bulk::Compressor::new(3).map_err(fail)?);
                }
                let compressor = slot
                    .as_mut()
                    .ok_or_else(|| fail(std::io::ErrorKind::Other.into()))?;
                let bound = zstd::zstd_safe::compress_bound(data.len());
                let start = out.len();
                out.resize(start + bound, 0);
                let n = compressor
                    .compress_to_buffer(data, &mut out[start..])
                    .map_err(fail)?;
                out.truncate(start + n);
                Ok(())
            })?,
        }
        Ok(())
    }

    /// Decompresses `data`.
    pub(crate) fn decompress(self, data: &[u8]) -> Result<Vec<u8>> {
        let fail = |e| self.error("decompression", e);
        let mut out = Vec::with_capacity(data.len() * 3);
        match self {
            Self::None => out.extend_from_slice(data),
            Self::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(fail)?;
            }
            Self::Snappy => xerial::decompress(data, &mut out).map_err(fail)?,
            Self::Lz4 => {
                lz4_flex::frame::FrameDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(fail)?;
            }
            Self::Zstd => {
                zstd::stream::read::Decoder::with_buffer(data)
                    .and_then(|mut d| d.read_to_end(&mut out))
                    .map_err(fail)?;
            }
        }
        Ok(out)
    }
}

thread_local! {
    /// One zstd context per thread, reused for every batch.
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// The xerial snappy-java stream framing: a 16-byte header, then blocks of a big-endian
/// length and a raw snappy block.
mod xerial {
    use std::io;

    const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    const BLOCK: usize = 32 * 1024;

    fn invalid(e: impl std::fmt::Display) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    }

    pub(super) fn compress(data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&1_i32.to_be_bytes()); // version
        out.extend_from_slice(&1_i32.to_be_bytes()); // minimum compatible version
        let mut encoder = snap::raw::Encoder::new();
        for block in data.chunks(BLOCK) {
            let at = out.len();
            out.resize(at + 4 + snap::raw::max_compress_len(block.len()), 0);
            let n = encoder
                .compress(block, &mut out[at + 4..])
                .map_err(invalid)?;
            out[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
            out.truncate(at + 4 + n);
        }
        Ok(())
    }

    pub(super) fn decompress(data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut decoder = snap::raw::Decoder::new();
        if data.len() < 16 || data[..8] != MAGIC {
            // Raw snappy, as some clients write it.
            out.extend_from_slice(&decoder.decompress_vec(data).map_err(invalid)?);
            return Ok(());
        }
        let mut rest = &data[16..];
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(invalid("truncated xerial block length"));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let block = rest
                .get(4..4 + len)
                .ok_or_else(|| invalid("truncated xerial block"))?;
            out.extend_from_slice(&decoder.decompress_vec(block).map_err(invalid)?);
            rest = &rest[4 + len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut packed = Vec::new();
            codec.compress(&data, &mut packed).unwrap();
            if codec != Compression::None {
                assert!(packed.len() < data.len(), "{codec:?} did not compress");
            }
            assert_eq!(codec.decompress(&packed).unwrap(), data, "{codec:?}");
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
            assert_eq!(Compression::parse(codec.name()), Some(codec));
        }
    }

    #[test]
    fn raw_snappy_is_accepted() {
        let data = b"hello hello hello hello hello".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(Compression::Snappy.decompress(&raw).unwrap(), data);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(
                codec.decompress(b"definitely not compressed").is_err(),
                "{codec:?}"
            );
        }
    }
}
