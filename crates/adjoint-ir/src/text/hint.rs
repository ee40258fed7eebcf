//! "Did you mean" hints for unknown names.

/// The edit distance between `a` and `b` (for "did you mean" hints).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// ` (did you mean `x`?)` for the closest candidate within a small edit
/// distance, else nothing.
pub(super) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    sigil: &str,
) -> String {
    let n = name.chars().count();
    if n > 64 {
        return String::new();
    }
    let limit = match n {
        0..=2 => return String::new(),
        3..=4 => 1,
        _ => 2,
    };
    candidates
        .into_iter()
        .filter(|c| c.chars().count() <= 64)
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| format!(" (did you mean `{sigil}{c}`?)"))
        .unwrap_or_default()
}
