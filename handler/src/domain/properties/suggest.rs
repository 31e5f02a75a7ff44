//! "Did you mean": the closest accepted name to an unknown one.

/// The closest candidate to `key`: equal ignoring case, or at most two edits away.
pub(crate) fn suggestion<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    candidates
        .iter()
        .filter_map(|candidate| {
            let distance = edit_distance(&key, &candidate.to_lowercase(), 2)?;
            Some((distance, *candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between `a` and `b`, or `None` when it exceeds `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::domain::properties::PROPERTY_NAMES;

    #[rstest]
    #[case::exact("RoleName", Some("RoleName"))]
    #[case::case_only("ROLENAME", Some("RoleName"))]
    #[case::one_edit("RoleNme", Some("RoleName"))]
    #[case::two_edits("RleNme", Some("RoleName"))]
    #[case::three_edits("RlNme", None)]
    #[case::closest_wins("Tag", Some("Tags"))]
    #[case::nothing_close("Principal", None)]
    fn suggests_close_names(#[case] key: &str, #[case] expected: Option<&str>) {
        assert_eq!(suggestion(key, &PROPERTY_NAMES), expected);
    }
}
