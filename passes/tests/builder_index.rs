//! The builder's indexing, stacking and shifting composites (`at`, `range`,
//! `stack`, `roll`, `diff`): values against hand-computed ones, gradients
//! against finite differences, and gradients that come out of
//! `grad,simplify,cse,dce` as small as an adjoint written by hand.
mod common;

use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint_passes::gradcheck::{gradcheck, GradCheckOptions};
use common::{eval, op_counts, run, Rng};
use std::collections::BTreeMap;

/// `x = [[0, 1, 2], [10, 11, 12], …, [40, 41, 42]]`.
fn x53() -> Tensor {
    let v: Vec<f64> = (0..5)
        .flat_map(|i| (0..3).map(move |j| f64::from(10 * i + j)))
        .collect();
    Tensor::from_f64([5, 3], v).unwrap()
}

type Case = for<'b> fn(&'b GraphBuilder, Value<'b>) -> Value<'b>;

/// The cases: name, composite on `x: f64[5,3]`, expected value.
fn cases() -> Vec<(&'static str, Case, Vec<usize>, Vec<f64>)> {
    vec![
        ("at", |_, x| x.at([1, 2]), vec![], vec![12.0]),
        ("at_neg", |_, x| x.at(-2), vec![3], vec![30.0, 31.0, 32.0]),
        (
            "range",
            |_, x| x.range(0, 3..),
            vec![2, 3],
            vec![30.0, 31.0, 32.0, 40.0, 41.0, 42.0],
        ),
        (
            "range_incl",
            |_, x| x.range(1, ..=-2),
            vec![5, 2],
            vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0, 40.0, 41.0],
        ),
        (
            "range_step",
            |_, x| x.range_step(0, 1..5, 2).at_col(0),
            vec![2],
            vec![10.0, 30.0],
        ),
        (
            "stack_scalars",
            |b, x| b.stack(&[x.at([0, 0]), x.at([1, 1]), x.at([4, 2])], 0),
            vec![3],
            vec![0.0, 11.0, 42.0],
        ),
        (
            "stack_rows_axis1",
            |b, x| b.stack(&[x.at(0), x.at(4)], 1),
            vec![3, 2],
            vec![0.0, 40.0, 1.0, 41.0, 2.0, 42.0],
        ),
        (
            "roll",
            |_, x| x.roll(2, 0).at_col(0),
            vec![5],
            vec![30.0, 40.0, 0.0, 10.0, 20.0],
        ),
        (
            "roll_neg",
            |_, x| x.roll(-1, 1).at(0),
            vec![3],
            vec![1.0, 2.0, 0.0],
        ),
        (
            "roll_full",
            |_, x| x.roll(6, 1).at(0),
            vec![3],
            vec![0.0, 1.0, 2.0],
        ),
        ("diff", |_, x| x.diff(1).at(2), vec![2], vec![1.0, 1.0]),
        (
            "diff0",
            |_, x| x.diff(0).at_col(1),
            vec![4],
            vec![10.0, 10.0, 10.0, 10.0],
        ),
    ]
}

/// Column `j` of a matrix (test shorthand).
trait AtCol<'b> {
    fn at_col(self, j: usize) -> Value<'b>;
}
impl<'b> AtCol<'b> for Value<'b> {
    fn at_col(self, j: usize) -> Value<'b> {
        let n = self.shape().0[0];
        self.range(1, j as i64..=j as i64).reshape([n])
    }
}

#[test]
fn values_match_numpy_semantics() {
    for (name, f, shape, want) in cases() {
        let b = GraphBuilder::new(name);
        let x = b.param("x", TensorType::f64([5, 3]));
        let y = f(&b, x);
        assert_eq!(y.shape().0, shape, "{name}");
        let g = b.build(&[y]).unwrap();
        assert_eq!(eval(&g, &[x53()])[0].to_f64_vec(), want, "{name}");
    }
}

#[test]
fn gradients_match_finite_differences() {
    for (name, f, _, _) in cases() {
        let b = GraphBuilder::new(name);
        let x = b.param("x", TensorType::f64([5, 3]));
        // A nonlinear use, so the gradient depends on the indexing.
        let y = f(&b, x);
        let g = b.build(&[(y.sin() * y).sum()]).unwrap();
        let xs = [Rng(7).tensor(&TensorType::f64([5, 3]), -2.0, 2.0)];
        let rep = gradcheck(&g, &xs, &GradCheckOptions::default()).unwrap();
        assert!(rep.pass, "{name}:\n{rep}");
    }
}

/// The op counts of `a` minus those of `b`.
fn minus<'a>(a: &Graph, b: &Graph) -> BTreeMap<&'a str, isize> {
    let mut m: BTreeMap<&str, isize> = BTreeMap::new();
    for (k, v) in op_counts(a) {
        *m.entry(k).or_default() += v as isize;
    }
    for (k, v) in op_counts(b) {
        *m.entry(k).or_default() -= v as isize;
    }
    m.retain(|k, v| *v != 0 && *k != "param");
    m
}

/// The ops that `grad{wrt=x},simplify,cse,dce` adds to
/// `sum(w ⊙ f(x))` (beyond the cleaned-up forward function), and the
/// gradient's value at generic `x`, `w`.
fn adjoint_of(f: Case) -> (BTreeMap<&'static str, isize>, Vec<f64>) {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([5, 3]));
    let y = f(&b, x);
    let w = b.param("w", y.ty());
    let g = b.build(&[(y * w).sum()]).unwrap();
    let fwd = run(&g, "simplify,cse,dce");
    let d = run(&g, "grad{wrt=x},simplify,cse,dce");
    let mut r = Rng(3);
    let ins = [x53(), r.tensor(&w.ty(), -1.0, 1.0)];
    (minus(&d, &fwd), eval(&d, &ins)[1].to_f64_vec())
}

/// The ops and value of a hand-written adjoint `h(ct)` with `ct` the `w`
/// above.
fn by_hand(ct_ty: TensorType, h: Case) -> (BTreeMap<&'static str, isize>, Vec<f64>) {
    let b = GraphBuilder::new("h");
    let ct = b.param("w", ct_ty.clone());
    let g = b.build(&[h(&b, ct)]).unwrap();
    let g = run(&g, "simplify,cse,dce");
    let mut r = Rng(3);
    let ins = [r.tensor(&ct_ty, -1.0, 1.0)];
    let empty = GraphBuilder::new("e").build(&[]).unwrap();
    (minus(&g, &empty), eval(&g, &ins)[0].to_f64_vec())
}

fn counts(pairs: &[(&'static str, isize)]) -> BTreeMap<&'static str, isize> {
    pairs.iter().copied().collect()
}

#[test]
fn cleaned_up_gradients_are_the_hand_written_adjoints() {
    // x[1, 2]: the adjoint places the cotangent with one pad.
    let (ops, val) = adjoint_of(|_, x| x.at([1, 2]));
    let (hops, hval) = by_hand(TensorType::f64([]), |_, ct| {
        ct.reshape([1, 1]).pad(&[1, 2], &[3, 0])
    });
    assert_eq!((ops, val), (hops, hval));
    // x[3:]: one pad.
    let (ops, val) = adjoint_of(|_, x| x.range(0, 3..));
    let (hops, hval) = by_hand(TensorType::f64([2, 3]), |_, ct| ct.pad(&[3, 0], &[0, 0]));
    assert_eq!(hops, counts(&[("pad", 1)]));
    assert_eq!((ops, val), (hops, hval));
    // diff along 0: the cotangent padded both ways, one negated.
    let (ops, val) = adjoint_of(|_, x| x.diff(0));
    let (hops, hval) = by_hand(TensorType::f64([4, 3]), |_, ct| {
        ct.pad(&[1, 0], &[0, 0]) + (-ct).pad(&[0, 0], &[1, 0])
    });
    assert_eq!((ops, val), (hops, hval));
    // roll by 2 along 0: the two pieces of the cotangent put back with two
    // pads and an add. (`roll(ct, -2)`, a concat of two slices, is two
    // nodes fewer and equal in value, but keeps a −0 cotangent where
    // pad + add gives +0, so clean-up may not rewrite one into the other.)
    let (ops, val) = adjoint_of(|_, x| x.roll(2, 0));
    let (hops, hval) = by_hand(TensorType::f64([5, 3]), |_, ct| {
        ct.range(0, 2..).pad(&[0, 0], &[2, 0]) + ct.range(0, ..2).pad(&[3, 0], &[0, 0])
    });
    assert_eq!((ops, val.clone()), (hops, hval));
    let (_, rolled_back) = by_hand(TensorType::f64([5, 3]), |_, ct| ct.roll(-2, 0));
    assert_eq!(val, rolled_back);
    // Stacking three scalars: each cotangent element scattered by one pad.
    let (ops, val) = adjoint_of(|b, x| b.stack(&[x.at([0, 0]), x.at([1, 1]), x.at([4, 2])], 0));
    let (hops, hval) = by_hand(TensorType::f64([3]), |_, ct| {
        let place = |i: i64, lo: [usize; 2], hi: [usize; 2]| ct.at(i).reshape([1, 1]).pad(&lo, &hi);
        place(2, [4, 2], [0, 0]) + place(1, [1, 1], [3, 1]) + place(0, [0, 0], [4, 2])
    });
    assert_eq!((ops, val), (hops, hval));
}
