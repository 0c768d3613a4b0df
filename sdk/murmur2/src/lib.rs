//! Murmur2, 32-bit, exactly as the Java client computes it (seed `0x9747b28c`), so keys land
//! on the same partitions whichever client produced them: weir's client, a WASM
//! partitioner built with the plugin SDK, or any Kafka client.

/// The Java client's `Utils.murmur2` of `data`, as a signed 32-bit value.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for a keyed record:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of the Java client's `Utils.murmur2` (Kafka's UtilsTest).
    const JAVA: &[(&str, i32)] = &[
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        ("abc", 479470107),
    ];

    #[test]
    fn matches_the_java_client() {
        for (key, expected) in JAVA {
            assert_eq!(murmur2(key.as_bytes()), *expected, "key {key:?}");
        }
    }

    #[test]
    fn partitions_match_the_java_default_partitioner() {
        // (key, partition for 1, 3, 4, 12 partitions), from the Java outputs above.
        let expected: &[(&str, [i32; 4])] = &[
            ("21", [0, 0, 0, 0]),
            ("foobar", [0, 0, 2, 6]),
            ("a-little-bit-long-string", [0, 2, 0, 8]),
            ("a-little-bit-longer-string", [0, 2, 3, 11]),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                [0, 2, 1, 5],
            ),
            ("abc", [0, 0, 3, 3]),
        ];
        for (key, partitions) in expected {
            for (n, want) in [1, 3, 4, 12].into_iter().zip(partitions) {
                assert_eq!(
                    partition_for_key(key.as_bytes(), n),
                    *want,
                    "{key:?} over {n}"
                );
            }
        }
    }

    #[test]
    fn empty_key_hashes() {
        // Every tail length goes through its own branch.
        for len in 0..8 {
            let key = vec![0xab_u8; len];
            let _ = murmur2(&key);
        }
    }
}
