//! Property tests: the shape ops, reductions and matmul against naive
//! definitions written with explicit multi-indices (independent of the
//! interpreter's strided walks), on random shapes including rank 0 and
//! 0-length axes. Elements are small integers, so every sum is exact and
//! independent of the summation order.

mod common;

use adjoint_ir::{Op, Shape, Tensor};
use common::*;
use proptest::prelude::*;

/// The multi-index of row-major position `flat` in `dims`.
fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for a in (0..dims.len()).rev() {
        idx[a] = flat % dims[a];
        flat /= dims[a];
    }
    idx
}

/// The row-major position of `idx` in `dims`.
fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

fn numel(dims: &[usize]) -> usize {
    dims.iter().product()
}

fn tensor(dims: &[usize], vals: &[i8]) -> Tensor {
    Tensor::from_f64(dims.to_vec(), vals.iter().map(|&v| f64::from(v)).collect()).unwrap()
}

/// Dims of rank up to `max_rank`, each 0..4, with matching element values.
fn shaped(max_rank: usize) -> impl Strategy<Value = (Vec<usize>, Vec<i8>)> {
    prop::collection::vec(0usize..4, 0..=max_rank).prop_flat_map(|d| {
        let n = numel(&d);
        (Just(d), prop::collection::vec(-8i8..8, n))
    })
}

fn check(got: &Tensor, dims: &[usize], want: &[f64]) {
    assert_f64(got, dims, want);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn transpose_matches_naive(
        (dims, vals, perm) in shaped(4).prop_flat_map(|(d, v)| {
            let r = d.len();
            (Just(d), Just(v), Just((0..r).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let out: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
        let want: Vec<f64> = (0..numel(&out)).map(|j| {
            let r = unravel(j, &out);
            let mut o = vec![0; dims.len()];
            for a in 0..perm.len() {
                o[perm[a]] = r[a];
            }
            f64::from(vals[ravel(&o, &dims)])
        }).collect();
        check(&run(Op::Transpose { perm: perm.clone() }, &[tensor(&dims, &vals)]), &out, &want);
    }

    #[test]
    fn slice_matches_naive(
        (dims, vals, bounds) in shaped(4).prop_flat_map(|(d, v)| {
            let per_axis: Vec<_> = d.iter().map(|&n| (0..=n, 0..=n, 1usize..4)).collect();
            (Just(d), Just(v), per_axis)
        })
    ) {
        let start: Vec<usize> = bounds.iter().map(|b| b.0.min(b.1)).collect();
        let end: Vec<usize> = bounds.iter().map(|b| b.0.max(b.1)).collect();
        let stride: Vec<usize> = bounds.iter().map(|b| b.2).collect();
        let out: Vec<usize> = (0..dims.len()).map(|a| (end[a] - start[a]).div_ceil(stride[a])).collect();
        let want: Vec<f64> = (0..numel(&out)).map(|j| {
            let r = unravel(j, &out);
            let o: Vec<usize> = (0..dims.len()).map(|a| start[a] + r[a] * stride[a]).collect();
            f64::from(vals[ravel(&o, &dims)])
        }).collect();
        let op = Op::Slice { start, end, stride };
        check(&run(op, &[tensor(&dims, &vals)]), &out, &want);
    }

    #[test]
    fn pad_matches_naive(
        (dims, vals, lohi) in shaped(4).prop_flat_map(|(d, v)| {
            let r = d.len();
            (Just(d), Just(v), prop::collection::vec((0usize..3, 0usize..3), r))
        })
    ) {
        let lo: Vec<usize> = lohi.iter().map(|p| p.0).collect();
        let hi: Vec<usize> = lohi.iter().map(|p| p.1).collect();
        let out: Vec<usize> = (0..dims.len()).map(|a| lo[a] + dims[a] + hi[a]).collect();
        let want: Vec<f64> = (0..numel(&out)).map(|j| {
            let r = unravel(j, &out);
            let inside = (0..dims.len()).all(|a| r[a] >= lo[a] && r[a] < lo[a] + dims[a]);
            if inside {
                let o: Vec<usize> = (0..dims.len()).map(|a| r[a] - lo[a]).collect();
                f64::from(vals[ravel(&o, &dims)])
            } else {
                0.0
            }
        }).collect();
        check(&run(Op::Pad { lo, hi }, &[tensor(&dims, &vals)]), &out, &want);
    }

    #[test]
    fn broadcast_matches_naive(
        (target, drop, ones, vals) in prop::collection::vec(0usize..4, 0..=4).prop_flat_map(|t| {
            let r = t.len();
            (Just(t), 0..=r, prop::collection::vec(any::<bool>(), r), prop::collection::vec(-8i8..8, 64))
        })
    ) {
        // The source drops `drop` leading axes and has size 1 where `ones`.
        let src: Vec<usize> = (drop..target.len()).map(|a| if ones[a] { 1 } else { target[a] }).collect();
        let vals = &vals[..numel(&src)];
        let want: Vec<f64> = (0..numel(&target)).map(|j| {
            let r = unravel(j, &target);
            let o: Vec<usize> = (0..src.len()).map(|a| if src[a] == 1 { 0 } else { r[drop + a] }).collect();
            f64::from(vals[ravel(&o, &src)])
        }).collect();
        let op = Op::Broadcast { shape: Shape::new(target.clone()) };
        check(&run(op, &[tensor(&src, vals)]), &target, &want);
    }

    #[test]
    fn reductions_match_naive(
        (dims, vals, axes) in shaped(4).prop_flat_map(|(d, v)| {
            let r = d.len();
            let axes = prop::sample::subsequence((0..r).collect::<Vec<_>>(), 0..=r).prop_shuffle();
            (Just(d), Just(v), axes)
        })
    ) {
        let kept: Vec<usize> = (0..dims.len()).filter(|a| !axes.contains(a)).collect();
        let out: Vec<usize> = kept.iter().map(|&a| dims[a]).collect();
        let mut sums = vec![0.0; numel(&out)];
        let mut maxs = vec![f64::NEG_INFINITY; numel(&out)];
        for (i, &v) in vals.iter().enumerate() {
            let idx = unravel(i, &dims);
            let o: Vec<usize> = kept.iter().map(|&a| idx[a]).collect();
            let j = ravel(&o, &out);
            sums[j] += f64::from(v);
            maxs[j] = maxs[j].max(f64::from(v));
        }
        // Integer sums are exact; +0.0 stands for a zero sum in any order
        // because every partial starts at +0.0 and no element is -0.0.
        check(&run(Op::ReduceSum { axes: axes.clone() }, &[tensor(&dims, &vals)]), &out, &sums);
        check(&run(Op::ReduceMax { axes: axes.clone() }, &[tensor(&dims, &vals)]), &out, &maxs);
    }

    #[test]
    fn concat_matches_naive(
        (base, axis, sizes, vals) in prop::collection::vec(0usize..4, 1..=3).prop_flat_map(|b| {
            let r = b.len();
            (Just(b), 0..r, prop::collection::vec(0usize..4, 1..=3), prop::collection::vec(-8i8..8, 200))
        })
    ) {
        let mut parts = Vec::new();
        let mut used = 0;
        for &s in &sizes {
            let mut d = base.clone();
            d[axis] = s;
            let n = numel(&d);
            parts.push((d, vals[used..used + n].to_vec()));
            used += n;
        }
        let mut out = base.clone();
        out[axis] = sizes.iter().sum();
        let want: Vec<f64> = (0..numel(&out)).map(|j| {
            let mut r = unravel(j, &out);
            let mut q = 0;
            while r[axis] >= parts[q].0[axis] {
                r[axis] -= parts[q].0[axis];
                q += 1;
            }
            f64::from(parts[q].1[ravel(&r, &parts[q].0)])
        }).collect();
        let ts: Vec<Tensor> = parts.iter().map(|(d, v)| tensor(d, v)).collect();
        check(&run(Op::Concat { axis }, &ts), &out, &want);
    }

    #[test]
    fn matmul_matches_naive(
        (batch, drop_a, ones_a, drop_b, ones_b, mkn, vec_a, vec_b, vals) in
            prop::collection::vec(0usize..3, 0..=3).prop_flat_map(|t| {
                let r = t.len();
                (
                    Just(t),
                    0..=r,
                    prop::collection::vec(any::<bool>(), r),
                    0..=r,
                    prop::collection::vec(any::<bool>(), r),
                    (0usize..4, 0usize..4, 0usize..4),
                    any::<bool>(),
                    any::<bool>(),
                    prop::collection::vec(-8i8..8, 400),
                )
            })
    ) {
        let (m, k, n) = mkn;
        let bsrc = |drop: usize, ones: &[bool]| -> Vec<usize> {
            (drop..batch.len()).map(|a| if ones[a] { 1 } else { batch[a] }).collect()
        };
        // A 1-D operand has no batch axes.
        let ba = if vec_a { vec![] } else { bsrc(drop_a, &ones_a) };
        let bb = if vec_b { vec![] } else { bsrc(drop_b, &ones_b) };
        let a_dims: Vec<usize> = if vec_a { vec![k] } else { [ba.clone(), vec![m, k]].concat() };
        let b_dims: Vec<usize> = if vec_b { vec![k] } else { [bb.clone(), vec![k, n]].concat() };
        let (m, n) = (if vec_a { 1 } else { m }, if vec_b { 1 } else { n });
        // numpy broadcast of the batch dims: aligned from the right, a
        // missing or size-1 axis takes the other operand's size.
        let rank = ba.len().max(bb.len());
        let from_right = |b: &Vec<usize>, i: usize| {
            let off = rank - b.len();
            if i >= off { b[i - off] } else { 1 }
        };
        let full_batch: Vec<usize> = (0..rank).map(|i| {
            let (x, y) = (from_right(&ba, i), from_right(&bb, i));
            if x == 1 { y } else { x }
        }).collect();
        let a_vals = &vals[..numel(&a_dims)];
        let b_vals = &vals[200..200 + numel(&b_dims)];
        let mut want = Vec::new();
        for bflat in 0..numel(&full_batch) {
            let bi = unravel(bflat, &full_batch);
            let pick = |b: &Vec<usize>| -> Vec<usize> {
                let off = full_batch.len() - b.len();
                (0..b.len()).map(|a| if b[a] == 1 { 0 } else { bi[off + a] }).collect()
            };
            let (ia, ib) = (pick(&ba), pick(&bb));
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0.0;
                    for kk in 0..k {
                        let x = f64::from(a_vals[ravel(&[ia.clone(), vec![i, kk]].concat(), &[ba.clone(), vec![m, k]].concat())]);
                        let y = f64::from(b_vals[ravel(&[ib.clone(), vec![kk, j]].concat(), &[bb.clone(), vec![k, n]].concat())]);
                        acc += x * y;
                    }
                    want.push(acc);
                }
            }
        }
        let mut out = full_batch.clone();
        if !vec_a { out.push(m); }
        if !vec_b { out.push(n); }
        let r = run(Op::MatMul, &[tensor(&a_dims, a_vals), tensor(&b_dims, b_vals)]);
        check(&r, &out, &want);
    }
}
