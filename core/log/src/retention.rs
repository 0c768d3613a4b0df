//! Which segments retention deletes: a pure decision over segment facts, so every rule is
//! tested without files or sleeping. Whole segments only, oldest first, as Kafka does.

/// What retention needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentFacts {
    /// Bytes in the segment.
    pub(crate) size: u64,
    /// Newest record timestamp, or the last write time when records carry none.
    pub(crate) newest_ms: i64,
}

/// The decision: delete the first `delete` segments; if that includes the active one,
/// roll it first so the log keeps an (empty) active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RetentionPlan {
    pub(crate) delete: usize,
    pub(crate) roll_active_first: bool,
}

/// Plans deletion over `segments` (oldest first, the last one active).
pub(crate) fn plan(
    segments: &[SegmentFacts],
    retention_ms: Option<i64>,
    retention_bytes: Option<u64>,
    now_ms: i64,
) -> RetentionPlan {
    let Some(active) = segments.len().checked_sub(1) else {
        return RetentionPlan::default();
    };
    let expired = |s: &SegmentFacts| retention_ms.is_some_and(|r| now_ms - s.newest_ms > r);
    let mut delete = segments
        .iter()
        .enumerate()
        .take_while(|(i, s)| expired(s) && (*i < active || s.size > 0))
        .count();
    if let Some(limit) = retention_bytes {
        let total: u64 = segments.iter().map(|s| s.size).sum();
        let mut excess = total.saturating_sub(limit);
        excess = excess.saturating_sub(segments[..delete].iter().map(|s| s.size).sum());
        for segment in &segments[delete..active] {
            if excess < segment.size {
                break;
            }
            excess -= segment.size;
            delete += 1;
        }
    }
    RetentionPlan {
        delete,
        roll_active_first: delete > active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(size: u64, newest_ms: i64) -> SegmentFacts {
        SegmentFacts { size, newest_ms }
    }

    #[test]
    fn time_deletes_the_expired_prefix_only() {
        let segments = [seg(10, 100), seg(10, 500), seg(10, 200), seg(10, 900)];
        // retention 600 at now 1000: 100 and 200 expired, but 500 stops the prefix.
        let plan = plan(&segments, Some(600), None, 1000);
        assert_eq!(
            plan,
            RetentionPlan {
                delete: 1,
                roll_active_first: false
            }
        );
    }

    #[test]
    fn time_rolls_an_expired_active_segment_but_not_an_empty_one() {
        let all_old = [seg(10, 100), seg(10, 100)];
        assert_eq!(
            plan(&all_old, Some(10), None, 1000),
            RetentionPlan {
                delete: 2,
                roll_active_first: true
            }
        );
        let empty_active = [seg(10, 100), seg(0, 100)];
        assert_eq!(plan(&empty_active, Some(10), None, 1000).delete, 1);
    }

    #[test]
    fn size_deletes_oldest_while_the_rest_stays_over_the_limit_never_the_active() {
        let segments = [seg(100, 0), seg(100, 0), seg(100, 0), seg(100, 0)];
        assert_eq!(plan(&segments, None, Some(250), 0).delete, 1);
        assert_eq!(plan(&segments, None, Some(200), 0).delete, 2);
        assert_eq!(plan(&segments, None, Some(0), 0).delete, 3);
        assert_eq!(plan(&segments, None, Some(1000), 0).delete, 0);
    }

    #[test]
    fn time_and_size_combine() {
        let segments = [seg(100, 0), seg(100, 900), seg(100, 900), seg(100, 900)];
        assert_eq!(plan(&segments, Some(500), Some(150), 1000).delete, 2);
        assert_eq!(plan(&segments, None, None, 1000).delete, 0);
    }
}
