//! Long chains of ops compile in time and memory linear in their length,
//! and give the interpreter's results (issue 11, items 12 and 13).
//!
//! A chain of N materialised steps used to be one native function of N
//! loops, which Cranelift compiles in superlinear time and memory (10,000
//! `pad`s ran out of memory); identity-like ops (`pad` of zeros, one-part
//! `concat`) each cost two loops.

mod common;

use adjoint_ir::{Graph, GraphBuilder, Op, Tensor, TensorType};
use adjoint_jit::{compile, CompiledFn, JitOptions};
use common::*;

fn chain(
    n: usize,
    dims: &[usize],
    step: impl for<'a> Fn(&'a GraphBuilder, adjoint_ir::Value<'a>) -> adjoint_ir::Value<'a>,
) -> Graph {
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64(dims.to_vec()));
    let mut v = x;
    for _ in 0..n {
        v = step(&b, v);
    }
    b.build(&[v]).unwrap()
}

/// Compiles `g`, runs it on special values and checks the interpreter's
/// results bit for bit.
fn check(g: &Graph) -> CompiledFn {
    let ty = g.param_types()[0].clone();
    let x = tensor(&ty, &data_special(ty.numel(), 7));
    let f = compile(g, &JitOptions::default()).unwrap();
    let got = f.run(std::slice::from_ref(&x)).unwrap();
    let want = adjoint_interp::eval(g, &[x]).unwrap();
    assert_same("chain", &got[0], &want[0]);
    f
}

#[test]
fn ten_thousand_pads_of_zeros() {
    let g = chain(10_000, &[5], |_, v| v.pad(&[0], &[0]));
    let f = check(&g);
    // The pads are the operand itself: one copy to the output.
    assert_eq!(f.stats().kernels, 1, "{}", f.plan());
}

#[test]
fn ten_thousand_pads_that_grow() {
    let g = chain(10_000, &[3], |_, v| v.pad(&[1], &[0]));
    let f = check(&g);
    // The pads compose into one padded view, written once.
    assert_eq!(f.stats().kernels, 1, "{}", f.plan());
    assert_eq!(f.output_types()[0].numel(), 10_003);
}

#[test]
fn twenty_thousand_one_part_concats() {
    let g = chain(20_000, &[4], |b, v| b.concat(&[v], 0));
    let f = check(&g);
    assert_eq!(f.stats().kernels, 1, "{}", f.plan());
}

#[test]
fn pads_mixed_with_concats_and_loops() {
    // Pads read by pads, by concats and by loops, each still correct.
    let g = chain(300, &[2], |b, v| {
        let p = v.pad(&[1], &[1]);
        let c = b.concat(&[p, v], 0);
        -(c.slice(&[0], &[p.shape().dims()[0]]) * p)
    });
    check(&g);
}

fn sum_chain(n: usize) -> Graph {
    chain(n, &[], |b, v| b.op(Op::ReduceSum { axes: vec![] }, &[v]))
}

#[test]
fn ten_thousand_empty_reductions() {
    // Every `reduce_sum axes=[]` is a loop of its own (it maps -0 to +0,
    // so it is no identity): 10,000 steps, cut into bounded functions.
    let f = check(&sum_chain(10_000));
    assert_eq!(f.stats().kernels, 10_000);
    assert!(f.stats().functions > 10_000 / 64, "{:?}", f.stats());
}

#[test]
fn the_plan_grows_linearly() {
    let small = compile(&sum_chain(500), &JitOptions::default()).unwrap();
    let large = compile(&sum_chain(2000), &JitOptions::default()).unwrap();
    let (s, l) = (small.stats(), large.stats());
    assert_eq!(l.kernels, 4 * s.kernels);
    assert_eq!(l.kernel_exprs, 4 * s.kernel_exprs, "{s:?} {l:?}");
    // No generated function holds more than 64 steps: `main` and the
    // chunks, about one per 64 steps.
    assert!(
        l.functions <= 2 + l.kernels / 64 && l.functions > l.kernels / 64,
        "{l:?}"
    );
    // A short plan stays in one function.
    let one = compile(&sum_chain(10), &JitOptions::default()).unwrap();
    assert_eq!(one.stats().functions, 1);
}

#[test]
fn a_hundred_thousand_deep_elementwise_chain() {
    // Deep enough to overflow the stack of any recursive walk over the
    // expression; regions are cut at the fusion pass's 256 nodes.
    let b = GraphBuilder::new("deep");
    // Scalars keep the (debug-build) compile time small.
    let x = b.param("x", TensorType::f64([]));
    let k = b.constant(Tensor::from_f64_as(&TensorType::f64([]), &[0.5]).unwrap());
    let mut v = x;
    for i in 0..100_000 {
        v = if i % 2 == 0 { -v } else { v + k };
    }
    check(&b.build(&[v]).unwrap());
}

#[test]
fn chunked_code_with_parallel_kernels_and_a_heap_arena() {
    // 150 loops (three chunks), each split across two threads, with an
    // arena too large for the stack: every chunk gets the same arena.
    let g = chain(150, &[5000], |b, v| {
        -b.op(Op::ReduceSum { axes: vec![] }, &[v])
    });
    let opts = JitOptions {
        threads: 2,
        parallel_min_elems: 1024,
        ..JitOptions::default()
    };
    let f = compile(&g, &opts).unwrap();
    let s = f.stats();
    assert_eq!(s.parallel_kernels, s.kernels, "{s:?}");
    assert_eq!(s.functions, 1 + s.kernels.div_ceil(64) + s.kernels, "{s:?}");
    assert!(f.arena_bytes() > opts.stack_arena_max);
    let x = tensor(&g.param_types()[0], &data_special(5000, 3));
    let want = adjoint_interp::eval(&g, std::slice::from_ref(&x)).unwrap();
    assert_same("chunked", &f.run(&[x]).unwrap()[0], &want[0]);
}
