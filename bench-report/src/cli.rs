//! What the measuring commands (`sweep`, `cpu`, `serve`) share on the
//! command line: list options with a `--quick` and a full default.

/// A comma-separated option: the values given, or else the default
/// (`quick_default` with `--quick`, `full_default` without), sorted and
/// each once.
pub fn sorted_list(
    given: Option<Vec<u64>>,
    quick: bool,
    quick_default: &[u64],
    full_default: &[u64],
) -> Vec<u64> {
    let mut list =
        given.unwrap_or_else(|| if quick { quick_default } else { full_default }.to_vec());
    list.sort_unstable();
    list.dedup();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_once_each_with_the_right_default() {
        assert_eq!(
            sorted_list(Some(vec![100, 1, 10, 1]), true, &[2], &[3]),
            [1, 10, 100]
        );
        assert_eq!(sorted_list(None, true, &[1, 20], &[1, 10]), [1, 20]);
        assert_eq!(sorted_list(None, false, &[1, 20], &[1, 10]), [1, 10]);
    }
}
