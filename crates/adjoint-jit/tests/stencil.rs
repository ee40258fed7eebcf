//! Vector loops that take shifted values from the previous step (a padded
//! region value read at several offsets, as in the Rosenbrock gradient) and
//! negation as a sign flip with a constant mask:
//! bit for bit equal to the interpreter at every length and tail, every
//! shift, both dtypes, one row or many, on one thread or split.

mod common;

use adjoint_ir::{DType, Graph, GraphBuilder, Tensor, TensorType};
use adjoint_jit::{compile, JitOptions};
use common::*;

fn check(g: &Graph, inputs: &[Tensor], opts: &JitOptions) {
    let want = adjoint_interp::eval(g, inputs).unwrap_or_else(|e| panic!("interp: {e}"));
    let got = jit_run_opts(g, inputs, opts);
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert_same(&format!("@{} output {i}", g.name()), a, b);
    }
}

fn split() -> JitOptions {
    JitOptions {
        threads: 2,
        parallel_min_elems: 1,
        ..JitOptions::default()
    }
}

/// `t = (x - x²)·3 + 1` (nonzero, so missing masks show) padded so that
/// the consumer reads `t[i]` and `t[i - s]` for each shift in `shifts`.
fn shifted_sum(dt: DType, rows: Option<usize>, n: usize, shifts: &[usize]) -> Graph {
    let b = GraphBuilder::new("shifted");
    let m = *shifts.iter().max().unwrap();
    let dims = |k: usize| match rows {
        Some(r) => vec![r, k],
        None => vec![k],
    };
    let pads = |lo: usize, hi: usize| match rows {
        Some(_) => (vec![0, lo], vec![0, hi]),
        None => (vec![lo], vec![hi]),
    };
    let x = b.param("x", TensorType::new(dt, dims(n)));
    let y = b.param("y", TensorType::new(dt, dims(n + m)));
    let t = (x - x * x) * x.lit(3.0) + x.lit(1.0);
    let (lo, hi) = pads(0, m);
    let mut acc = t.pad(&lo, &hi) * y;
    for &s in shifts {
        let (lo, hi) = pads(s, m - s);
        acc = acc + t.pad(&lo, &hi);
    }
    b.build(&[acc]).unwrap()
}

fn inputs(g: &Graph, special: bool) -> Vec<Tensor> {
    g.param_types()
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            let v = if special {
                data_special(ty.numel(), 7 + i as u64)
            } else {
                data(ty.numel(), 3 + i as u64, -2.0, 2.0)
            };
            tensor(ty, &v)
        })
        .collect()
}

#[test]
fn shifted_values_at_every_length_and_shift() {
    let shift_sets: [&[usize]; 7] = [&[1], &[2], &[3], &[4], &[5], &[1, 3], &[1, 2, 4]];
    for dt in FLOATS {
        for n in LENS.iter().copied().chain([10, 11, 12, 13, 14, 15, 16]) {
            for shifts in shift_sets {
                let g = shifted_sum(dt, None, n, shifts);
                for special in [false, true] {
                    let ins = inputs(&g, special);
                    check(&g, &ins, &JitOptions::default());
                    check(&g, &ins, &split());
                }
            }
        }
    }
}

#[test]
fn shifted_values_in_many_rows() {
    for dt in FLOATS {
        for n in [1usize, 3, 4, 5, 8, 9, 31] {
            for shifts in [&[1usize][..], &[2, 3]] {
                let g = shifted_sum(dt, Some(5), n, shifts);
                let ins = inputs(&g, false);
                check(&g, &ins, &JitOptions::default());
                check(&g, &ins, &split());
            }
        }
    }
}

#[test]
fn rosenbrock_gradient_reuses_the_shifted_term() {
    for n in [2usize, 3, 4, 5, 6, 7, 8, 9, 10, 1000, 70_001] {
        let g = rosenbrock_grad(n);
        let x = tensor(&TensorType::f64([n]), &data(n, 5, -1.5, 1.5));
        for threads in [1, 2] {
            let opts = JitOptions {
                threads,
                parallel_min_elems: 1000,
                ..JitOptions::default()
            };
            check(&g, std::slice::from_ref(&x), &opts);
        }
    }
    // The shifted term is assembled from lanes, not recomputed.
    let f = compile(
        &rosenbrock_grad(1000),
        &JitOptions {
            keep_clif: true,
            ..JitOptions::default()
        },
    )
    .unwrap();
    let clif = f.clif().unwrap();
    assert!(clif.contains("shuffle"), "no lane shuffle in:\n{clif}");
}

#[test]
fn negation_keeps_every_bit() {
    // Specials (NaN of either sign, infinities, signed zeros), subnormals
    // and values near overflow, negated directly and after arithmetic.
    let specials = [
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE / 3.0,
        5e-324,
        -5e-324,
        f64::MAX,
        -f64::MAX / 1.5,
        1.0 + f64::EPSILON,
    ];
    for dt in FLOATS {
        for n in [1usize, 4, 5, 13, 64] {
            let b = GraphBuilder::new("double");
            let x = b.param("x", TensorType::new(dt, [n]));
            let y = b.param("y", TensorType::new(dt, [n]));
            let d = x + x;
            let e = (d - y) + (d - y);
            let f = -(e + y) + (-x);
            let g = b.build(&[d, e, f]).unwrap();
            let xv: Vec<f64> = (0..n).map(|i| specials[i % specials.len()]).collect();
            let yv: Vec<f64> = (0..n)
                .map(|i| specials[(i * 5 + 3) % specials.len()])
                .collect();
            let ins = [
                tensor(&TensorType::new(dt, [n]), &xv),
                tensor(&TensorType::new(dt, [n]), &yv),
            ];
            check(&g, &ins, &JitOptions::default());
        }
    }
}

#[test]
fn long_loops_run_eight_elements_a_step_at_every_tail() {
    for dt in FLOATS {
        for n in 1024..=1033 {
            // Plain elementwise, and with shifted values reused.
            let b = GraphBuilder::new("wide");
            let x = b.param("x", TensorType::new(dt, [n]));
            let y = b.param("y", TensorType::new(dt, [n]));
            let g = b.build(&[(x + x) * y - (-x)]).unwrap();
            for special in [false, true] {
                let ins = inputs(&g, special);
                check(&g, &ins, &JitOptions::default());
                check(&g, &ins, &split());
            }
            for shifts in [&[1usize][..], &[1, 4], &[3]] {
                let g = shifted_sum(dt, None, n, shifts);
                let ins = inputs(&g, true);
                check(&g, &ins, &JitOptions::default());
                check(&g, &ins, &split());
            }
        }
    }
}
