//! Strided walks over row-major index spaces: the one piece of index
//! arithmetic that `broadcast`, `transpose`, `slice`, `pad`, `concat`, the
//! reductions and `matmul` share.
//!
//! A walk visits every multi-index of `dims` in row-major order and yields
//! the offset `base + Σ idx[k] * strides[k]` into some buffer. A stride of 0
//! repeats an element (broadcasting); a permuted stride list transposes.

use crate::memory::try_vec;
use adjoint_ir::Result;

/// Row-major strides of `dims`, in elements.
pub(crate) fn row_major_strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Calls `f(offset)` for every multi-index `idx` of `dims` in row-major
/// order, with `offset = base + Σ idx[k] * strides[k]`. Nothing is visited
/// if any dim is 0; a rank-0 space has exactly one index (offset `base`).
pub(crate) fn for_each_offset(
    dims: &[usize],
    strides: &[usize],
    base: usize,
    mut f: impl FnMut(usize),
) {
    debug_assert_eq!(dims.len(), strides.len());
    if dims.contains(&0) {
        return;
    }
    let Some(last) = dims.len().checked_sub(1) else {
        f(base);
        return;
    };
    let (n_last, s_last) = (dims[last], strides[last]);
    // `idx` holds the outer (all but the last) axes' indices; `off` is the
    // offset of the current outer index with the last index at 0.
    let mut idx = vec![0usize; last];
    let mut off = base;
    loop {
        let mut o = off;
        for _ in 0..n_last {
            f(o);
            o += s_last;
        }
        // Advance the outer odometer.
        let mut k = last;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            off += strides[k];
            if idx[k] < dims[k] {
                break;
            }
            off -= strides[k] * dims[k];
            idx[k] = 0;
        }
    }
}

/// The elements of `src` at the offsets of a strided walk, in walk order,
/// in a fallibly allocated vector (`what` names the op in the error).
pub(crate) fn gather<T: Copy>(
    src: &[T],
    dims: &[usize],
    strides: &[usize],
    base: usize,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = try_vec(dims.iter().product(), what)?;
    for_each_offset(dims, strides, base, |o| out.push(src[o]));
    Ok(out)
}

/// Writes the elements of `src` (row-major over `dims`) into `dst` at the
/// offsets of a strided walk.
pub(crate) fn scatter<T: Copy>(
    src: &[T],
    dst: &mut [T],
    dims: &[usize],
    strides: &[usize],
    base: usize,
) {
    let mut it = src.iter();
    for_each_offset(dims, strides, base, |o| {
        if let Some(&v) = it.next() {
            dst[o] = v;
        }
    });
}

/// The strides that read an operand of shape `from` as if it were
/// broadcast (numpy rules, trailing axes aligned) to shape `to`: 0 on
/// axes that `from` lacks or has as size 1.
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let src = row_major_strides(from);
    let off = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < off || from[i - off] == 1 {
                0
            } else {
                src[i - off]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(dims: &[usize], strides: &[usize], base: usize) -> Vec<usize> {
        let mut v = Vec::new();
        for_each_offset(dims, strides, base, |o| v.push(o));
        v
    }

    #[test]
    fn walks_row_major() {
        assert_eq!(offsets(&[2, 3], &[3, 1], 0), vec![0, 1, 2, 3, 4, 5]);
        // Transposed walk of a [3,2] buffer.
        assert_eq!(offsets(&[2, 3], &[1, 2], 0), vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(
            offsets(&[2, 2, 2], &[4, 2, 1], 10),
            (10..18).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rank0_and_empty() {
        assert_eq!(offsets(&[], &[], 7), vec![7]);
        assert_eq!(offsets(&[3, 0, 2], &[0, 2, 1], 0), Vec::<usize>::new());
        assert_eq!(offsets(&[0], &[1], 0), Vec::<usize>::new());
    }

    #[test]
    fn broadcast_strides_align_trailing() {
        assert_eq!(
            broadcast_strides(&[3, 1, 5], &[2, 3, 4, 5]),
            vec![0, 5, 0, 1]
        );
        assert_eq!(broadcast_strides(&[], &[2, 2]), vec![0, 0]);
        assert_eq!(
            offsets(&[2, 3], &broadcast_strides(&[3], &[2, 3]), 0),
            vec![0, 1, 2, 0, 1, 2]
        );
    }

    #[test]
    fn strides() {
        assert_eq!(row_major_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(row_major_strides(&[]), Vec::<usize>::new());
    }
}
