//! The nearest valid name to a mistyped one, for "did you mean" hints.

/// The candidate closest to `wrong`, if it is close enough to be the likely intent.
///
/// Names are compared lowercased with `-` and `.` read as `_`, so Kafka's spelling
/// `log.retention.ms` finds `log_retention_ms`; otherwise the edit distance must be at most a
/// third of the name's length, so very short names are only matched that way.
pub(crate) fn nearest<'c>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let wrong = normalize(wrong);
    let allowed = wrong.chars().count() / 3;
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&wrong, &normalize(candidate)), candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The hint text for a suggested name.
pub(crate) fn did_you_mean(name: &str) -> String {
    format!("did you mean \"{name}\"?")
}

fn normalize(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Levenshtein distance: the fewest single-character insertions, deletions and substitutions
/// that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            edit_distance("log_retention_hour", "log_retention_hours"),
            1
        );
    }

    #[test]
    fn suggests_the_closest_name_only_when_close() {
        let keys = ["log_retention_hours", "log_retention_ms", "num_partitions"];
        assert_eq!(
            nearest("log_retention_hour", keys),
            Some("log_retention_hours")
        );
        assert_eq!(nearest("log.retention.ms", keys), Some("log_retention_ms"));
        assert_eq!(nearest("NUM-PARTITIONS", keys), Some("num_partitions"));
        assert_eq!(nearest("colour", keys), None);
        assert_eq!(nearest("2", ["0", "1", "all"]), None);
        assert_eq!(nearest("ALL", ["0", "1", "all"]), Some("all"));
        assert_eq!(nearest("anything", []), None);
    }
}
