//! Zig-zag varints as Kafka records use them.

use bytes::BufMut;

/// Appends `v` as a zig-zag varint (32-bit).
pub(crate) fn put_varint(buf: &mut impl BufMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

/// Appends `v` as a zig-zag varlong.
pub(crate) fn put_varlong(buf: &mut impl BufMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// The encoded length of `v` as a zig-zag varlong.
pub(crate) fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a zig-zag varlong from the front of `buf`, advancing it.
pub(crate) fn get_varlong(buf: &mut &[u8]) -> Option<i64> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        z |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// Reads a zig-zag varint.
pub(crate) fn get_varint(buf: &mut &[u8]) -> Option<i32> {
    get_varlong(buf).and_then(|v| i32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lengths() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            assert_eq!(buf.len(), varlong_len(v), "{v}");
            let mut slice = &buf[..];
            assert_eq!(get_varlong(&mut slice), Some(v));
            assert!(slice.is_empty());
        }
        let mut buf = Vec::new();
        put_varint(&mut buf, -1);
        assert_eq!(buf, [1]);
    }
}
