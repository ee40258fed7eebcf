//! The builder's composites (indexing, stacking, shifting and the stable
//! `log1p`, `expm1`, `softplus`, `logsumexp`,
//! `binary_cross_entropy_with_logits`, `var`, `clip`, `where_`) and their
//! cleaned-up gradients run on the JIT with the interpreter's bits (the
//! engine contract, in the JIT's math mode), IEEE specials and extreme
//! inputs included, in f32 and f64.

mod common;

use adjoint_interp::{eval_with, EvalOptions};
use adjoint_ir::{DType, Graph, GraphBuilder, Tensor, TensorType};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;
use common::*;

const N: usize = 24;

/// Every composite of a `[2, N/2]` input `x` and targets `y`.
fn composites(dt: DType) -> Graph {
    let b = GraphBuilder::new("composites");
    let x = b.param("x", TensorType::new(dt, [2, N / 2]));
    let y = b.param("y", TensorType::new(dt, [2, N / 2]));
    let outs = [
        x.log1p(),
        x.expm1(),
        x.softplus(),
        x.logsumexp(1),
        x.logsumexp([0, 1]),
        x.binary_cross_entropy_with_logits(y.sigmoid()),
        x.var_axes(1),
        x.clip(-1.5, 2.0),
        b.where_(x.gt(y), x, y),
        x.at([1, 3]),
        x.range_step(1, 1..N as i64 / 2 - 1, 3),
        b.stack(&[x.at([0, 0]), y.at([1, 1]), x.at([1, 2])], 0),
        x.roll(5, 1),
        x.diff(1),
    ];
    b.build(&outs).unwrap()
}

/// `composites` with every output reduced to a scalar and summed, and its
/// gradient cleaned up.
fn gradient(dt: DType) -> Graph {
    let b = GraphBuilder::new("loss");
    let x = b.param("x", TensorType::new(dt, [2, N / 2]));
    let y = b.param("y", TensorType::new(dt, [2, N / 2]));
    let terms = [
        x.log1p().sum(),
        x.expm1().sum(),
        x.softplus().sum(),
        x.logsumexp(1).sum(),
        x.binary_cross_entropy_with_logits(y.sigmoid()),
        x.var(),
        x.clip(-1.5, 2.0).sum(),
        b.where_(x.gt(y), x * x, y).sum(),
        (x.roll(5, 1) * y).sum(),
        (x.diff(1).sin()).sum(),
        (b.stack(&[x.at([0, 0]), y.at([1, 1]), x.at([1, 2])], 0) * x.range(1, 3..6).at(1)).sum(),
    ];
    let loss = terms[1..].iter().fold(terms[0], |a, &t| a + t);
    let mut g = b.build(&[loss]).unwrap();
    PassManager::parse("grad,simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    g
}

/// Compiles `g` once and checks it on every input set.
fn check(g: &Graph, input_sets: &[[Tensor; 2]]) {
    let opts = JitOptions::default();
    let f = compile(g, &opts).unwrap();
    for inputs in input_sets {
        let want = eval_with(
            g,
            inputs,
            &EvalOptions {
                math: opts.math_mode(),
                ..EvalOptions::default()
            },
        )
        .unwrap();
        let got = f.run(inputs).unwrap();
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_same(&format!("@{} output {k}", g.name()), a, b);
        }
    }
}

#[test]
fn jit_agrees_with_the_interpreter_bit_for_bit() {
    for dt in FLOATS {
        let ty = TensorType::new(dt, [2, N / 2]);
        let inputs = [
            // Ordinary values.
            (data(N, 1, -3.0, 3.0), data(N, 2, -3.0, 3.0)),
            // NaN, ±inf, ±0 mixed in.
            (data_special(N, 3), data_special(N, 4)),
            // Extremes: huge logits, tiny arguments, the edges of log1p.
            (
                [
                    1000.0, -1000.0, 1e-300, -1e-30, 1e-8, -1.0, -0.999, 88.0, -88.0, 709.0,
                    -745.0, 0.49,
                ]
                .iter()
                .chain(&[
                    0.5, -0.5, 40.0, -40.0, 1e30, -1e30, 3e-7, -0.0, 0.0, 2.0, -1.5, 1e-320,
                ])
                .copied()
                .collect(),
                data(N, 5, -1.0, 1.0),
            ),
        ];
        let sets: Vec<[Tensor; 2]> = inputs
            .iter()
            .map(|(x, y)| [tensor(&ty, x), tensor(&ty, y)])
            .collect();
        check(&composites(dt), &sets);
        check(&gradient(dt), &sets);
    }
}
