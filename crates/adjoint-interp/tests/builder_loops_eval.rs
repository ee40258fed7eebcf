//! Programs built with the builder's loops and conditionals
//! (`GraphBuilder::scan`, `while_loop`, `cond`, `fori_loop`, with closure
//! conversion) evaluate to hand-derived values on the interpreter.

mod common;

use adjoint_interp::eval;
use adjoint_ir::{DType, Graph, GraphBuilder, ScanOpts, Tensor, TensorType, Value};
use common::{eval_f64, f64s, s64, t64};

/// `(sum k*xs, cumsum k*xs)`, forward or reversed.
fn cumsum(reverse: bool) -> Graph {
    let b = GraphBuilder::new("cumsum");
    let xs = b.param("xs", f64s(&[4]));
    let k = b.param("k", f64s(&[]));
    let zero = b.scalar(0.0, DType::F64);
    let opts = ScanOpts {
        reverse,
        length: None,
    };
    let (c, ys) = b.scan_with(opts, &[zero], &[xs], |_, c, x| {
        let s = c[0] + k * x[0];
        (vec![s], vec![s])
    });
    b.build(&[c[0], ys[0]]).unwrap()
}

#[test]
fn scan_cumulative_sum() {
    let xs = t64(&[4], &[1.0, 2.0, 3.0, 4.0]);
    let out = eval_f64(&cumsum(false), &[xs.clone(), s64(2.0)]);
    assert_eq!(out, vec![vec![20.0], vec![2.0, 6.0, 12.0, 20.0]]);
    // Reversed: iteration t = 3 runs first; ys[t] is the sum of k*xs[t..].
    let out = eval_f64(&cumsum(true), &[xs, s64(2.0)]);
    assert_eq!(out, vec![vec![20.0], vec![20.0, 18.0, 14.0, 8.0]]);
}

#[test]
fn scan_without_xs_iterates_length_times() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let opts = ScanOpts {
        reverse: false,
        length: Some(3),
    };
    let (c, ys) = b.scan_with(opts, &[x], &[], |_, c, _| (vec![c[0] * 2.0], vec![c[0]]));
    let g = b.build(&[c[0], ys[0]]).unwrap();
    assert_eq!(
        eval_f64(&g, &[s64(1.5)]),
        vec![vec![12.0], vec![1.5, 3.0, 6.0]]
    );
}

/// Newton's method for x = cos(a x), from x0, stopping when a step is at
/// most `tol`; outputs (x, the number of trips). `a` and `tol` are used by
/// the closures and become loop invariants.
fn newton(max_trips: Option<usize>) -> Graph {
    let b = GraphBuilder::new("newton");
    let x0 = b.param("x0", f64s(&[]));
    let a = b.param("a", f64s(&[]));
    let tol = b.param("tol", f64s(&[]));
    let one = b.scalar(1.0, DType::F64);
    let zero = b.scalar(0.0, DType::F64);
    let init = [x0, one, zero];
    // One Newton step on the carries (x, the last step, the trip count).
    fn step<'c>(c: &[Value<'c>], a: Value<'c>) -> Vec<Value<'c>> {
        let x = c[0];
        let f = x - (a * x).cos();
        let df = (a * x).sin() * a + 1.0;
        let dx = f / df;
        vec![x - dx, dx, c[2] + 1.0]
    }
    let r = match max_trips {
        None => b.while_loop(&init, |_, c| c[1].abs().gt(tol), |_, c| step(c, a)),
        Some(n) => b.while_loop_bounded(n, &init, |_, c| c[1].abs().gt(tol), |_, c| step(c, a)),
    };
    b.build(&[r[0], r[2]]).unwrap()
}

#[test]
fn while_newton_iteration_converges() {
    let out = eval_f64(&newton(None), &[s64(1.0), s64(0.7), s64(1e-12)]);
    // Steps 0.162, 3.7e-3, 2.0e-6, 5.7e-13: four trips.
    assert_eq!(out[1], vec![4.0]);
    assert!((out[0][0] - 0.8342699518670651).abs() <= 2e-16, "{out:?}");
    // The root solves x = cos(0.7 x).
    assert!((out[0][0] - (0.7 * out[0][0]).cos()).abs() <= 4e-16);
}

#[test]
fn a_bounded_while_stops_at_the_bound_or_earlier() {
    // Bound hit: two Newton steps from 1.0.
    let out = eval_f64(&newton(Some(2)), &[s64(1.0), s64(0.7), s64(1e-12)]);
    assert_eq!(out[1], vec![2.0]);
    assert!((out[0][0] - 0.8342719216536604).abs() <= 2e-16, "{out:?}");
    // Bound not hit.
    let out = eval_f64(&newton(Some(100)), &[s64(1.0), s64(0.7), s64(1e-12)]);
    assert_eq!(out[1], vec![4.0]);
    // Bound 0: the inits.
    let out = eval_f64(&newton(Some(0)), &[s64(1.0), s64(0.7), s64(1e-12)]);
    assert_eq!(out, vec![vec![1.0], vec![0.0]]);
}

#[test]
fn fori_loop_sees_each_index_exactly() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f32([]));
    let s = b.param("s", TensorType::f32([]));
    // x + sum_i i*i*s, for i in 0..5.
    let r = b.fori_loop(5, &[x], |_, i, c| vec![c[0] + i * i * s]);
    let g = b.build(&r).unwrap();
    let out = eval(&g, &[Tensor::scalar_f32(1.0), Tensor::scalar_f32(0.5)]).unwrap();
    assert_eq!(out[0].ty(), TensorType::f32([]));
    assert_eq!(out[0].to_f64_vec(), vec![1.0 + 30.0 * 0.5]);
    // Zero trips: the init.
    let r = b.fori_loop(0, &[x], |_, i, c| vec![c[0] + i]);
    let g = b.build(&r).unwrap();
    let out = eval(&g, &[Tensor::scalar_f32(7.0), Tensor::scalar_f32(0.5)]).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![7.0]);
}

#[test]
fn nested_loops_capture_through_two_levels() {
    // For each row r of m: y_r = sum_j a * m[r, j] (inner scan); the outer
    // carry adds the row sums, and a while inside the outer body doubles
    // the running total until it exceeds `a` times its row's y.
    let b = GraphBuilder::new("f");
    let m = b.param("m", f64s(&[2, 3]));
    let a = b.param("a", f64s(&[]));
    let zero = b.scalar(0.0, DType::F64);
    let (c, ys) = b.scan(&[zero], &[m], |body, c, row| {
        let (s, _) = body.scan(&[c[0].lit(0.0)], &[row[0]], |_, s, x| {
            (vec![s[0] + a * x[0]], vec![])
        });
        let y = s[0];
        let w = body.while_loop(&[y], |_, w| w[0].lt(a * y), |_, w| vec![w[0] * 2.0]);
        (vec![c[0] + y], vec![y, w[0]])
    });
    let g = b.build(&[c[0], ys[0], ys[1]]).unwrap();
    let mt = t64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // a = 3: row sums 18 and 45; total 63. The while starts at y and
    // doubles while below 3y: 18 -> 36 -> 72; 45 -> 90 -> 180.
    assert_eq!(
        eval_f64(&g, &[mt, s64(3.0)]),
        vec![vec![63.0], vec![18.0, 45.0], vec![72.0, 180.0]]
    );
}

#[test]
fn cond_runs_the_chosen_branch_only() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let y = b.param("y", f64s(&[]));
    let p = x.gt(x.lit(0.0));
    // then: ln(x) * y (inside the branch); else: -x.
    let r = b.cond(p, &[], |t, _| vec![t.import(x).ln() * y], |_, _| vec![-x]);
    let g = b.build(&r).unwrap();
    let e = std::f64::consts::E;
    assert_eq!(eval_f64(&g, &[s64(e * e), s64(3.0)]), vec![vec![6.0]]);
    // x < 0: ln(x) would be NaN, but the then branch does not run.
    assert_eq!(eval_f64(&g, &[s64(-2.0), s64(3.0)]), vec![vec![2.0]]);
    // The operands and the predicate built from logical ops.
    let q = p.and(y.gt(y.lit(0.0))).not();
    let r = b.cond(
        q,
        &[x, y],
        |_, a| vec![a[0] + a[1]],
        |_, a| vec![a[0] * a[1]],
    );
    let g = b.build(&r).unwrap();
    assert_eq!(eval_f64(&g, &[s64(2.0), s64(3.0)]), vec![vec![6.0]]);
    assert_eq!(eval_f64(&g, &[s64(2.0), s64(-3.0)]), vec![vec![-1.0]]);
}
