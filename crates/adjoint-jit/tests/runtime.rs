//! The call contract: checked buffers, concurrent calls, the arena, the
//! CLIF dump, and freeing on drop.

mod common;

use adjoint_ir::{ErrorKind, GraphBuilder, TensorType};
use adjoint_jit::{compile, BufMut, BufRef, JitOptions};
use common::*;

fn scalar_fn() -> adjoint_ir::Graph {
    let b = GraphBuilder::new("f");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let y = x1 * x2 + x1.sin();
    b.build(&[y]).unwrap()
}

#[test]
fn w1_function_value() {
    let f = compile(&scalar_fn(), &JitOptions::default()).unwrap();
    let mut out = [0.0];
    f.call_f64(&[&[2.0], &[7.0]], &mut [&mut out]).unwrap();
    // sin is a polynomial within 1 ulp of std's.
    assert!((out[0] - (14.0 + 2.0f64.sin())).abs() < 1e-14, "{}", out[0]);
}

#[test]
fn wrong_count_dtype_or_length_is_an_error() {
    let f = compile(&scalar_fn(), &JitOptions::default()).unwrap();
    let mut out = [0.0];
    // Count.
    let e = f.call_f64(&[&[2.0]], &mut [&mut out]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    assert!(e.message.contains("expected 2 inputs"), "{e}");
    let e = f.call_f64(&[&[2.0], &[1.0]], &mut []).unwrap_err();
    assert!(e.message.contains("outputs"), "{e}");
    // Length.
    let e = f
        .call_f64(&[&[2.0, 3.0], &[1.0]], &mut [&mut out])
        .unwrap_err();
    assert!(e.message.contains("input 0"), "{e}");
    let mut long = [0.0; 2];
    let e = f.call_f64(&[&[2.0], &[1.0]], &mut [&mut long]).unwrap_err();
    assert!(e.message.contains("output 0"), "{e}");
    // Dtype.
    let x32 = [2.0f32];
    let e = f
        .call(
            &[BufRef::F32(&x32), BufRef::F64(&[1.0])],
            &mut [BufMut::F64(&mut out)],
        )
        .unwrap_err();
    assert!(
        e.message.contains("f64") && e.message.contains("f32"),
        "{e}"
    );
    let mut o32 = [0.0f32];
    let e = f
        .call(
            &[BufRef::F64(&[2.0]), BufRef::F64(&[1.0])],
            &mut [BufMut::F32(&mut o32)],
        )
        .unwrap_err();
    assert!(e.message.contains("output 0"), "{e}");
    // run() checks tensor types.
    let e = f
        .run(&[
            adjoint_ir::Tensor::scalar_f32(1.0),
            adjoint_ir::Tensor::scalar_f64(1.0),
        ])
        .unwrap_err();
    assert!(e.message.contains("input 0"), "{e}");
    // call_f64 on a non-f64 function.
    let b = GraphBuilder::new("g");
    let x = b.param("x", TensorType::f32([2]));
    let g = b.build(&[x.exp()]).unwrap();
    let f32fn = compile(&g, &JitOptions::default()).unwrap();
    let e = f32fn
        .call_f64(&[&[1.0, 2.0]], &mut [&mut [0.0, 0.0]])
        .unwrap_err();
    assert!(e.message.contains("call_f64"), "{e}");
    // Nothing was written on error.
    assert_eq!(out[0], 0.0);
}

#[test]
fn invalid_graphs_are_rejected_before_lowering() {
    let mut g = adjoint_ir::Graph::new("bad");
    let x = g.add_param("x", TensorType::f64([3])).unwrap();
    let bad = g.add_unchecked(
        adjoint_ir::Op::Unary(adjoint_ir::UnaryOp::Exp),
        TensorType::f64([4]),
        &[x],
    );
    g.set_outputs(vec![bad]);
    let e = compile(&g, &JitOptions::default()).unwrap_err();
    assert!(e.message.contains("exp"), "{e}");
}

fn big_fn(n: usize) -> adjoint_ir::Graph {
    let b = GraphBuilder::new("big");
    let x = b.param("x", TensorType::f64([n]));
    let y = b.param("y", TensorType::f64([n]));
    let z = (x * y + x.tanh()).exp();
    let s = (z * x).sum();
    b.build(&[z, s]).unwrap()
}

#[test]
fn concurrent_calls_from_several_threads() {
    for n in [5usize, 4099, 300_001] {
        let f = compile(&big_fn(n), &JitOptions::default()).unwrap();
        let xs = data(n, 40, -1.0, 1.0);
        let ys = data(n, 41, -1.0, 1.0);
        let mut z0 = vec![0.0; n];
        let mut s0 = [0.0];
        f.call_f64(&[&xs, &ys], &mut [&mut z0, &mut s0]).unwrap();
        std::thread::scope(|sc| {
            for t in 0..4 {
                let (f, xs, ys, z0) = (&f, &xs, &ys, &z0);
                sc.spawn(move || {
                    for _ in 0..(20 - 4 * t) {
                        let mut z = vec![0.0; n];
                        let mut s = [0.0];
                        f.call_f64(&[xs, ys], &mut [&mut z, &mut s]).unwrap();
                        assert!(&z == z0, "a concurrent call differs");
                        assert_eq!(s[0].to_bits(), s0[0].to_bits());
                    }
                });
            }
        });
    }
}

#[test]
fn parallel_split_equals_single_thread() {
    // An elementwise loop (split over its flat range) and row sums (split
    // over rows) are both large enough to run on several threads.
    let (rows, cols) = (700, 301);
    let n = rows * cols;
    let b = GraphBuilder::new("par");
    let x = b.param("x", TensorType::f64([rows, cols]));
    let y = b.param("y", TensorType::f64([rows, cols]));
    let z = (x * y + x.tanh()).exp();
    let r = (z * x).sum_axes(&[1]);
    let g = b.build(&[z, r]).unwrap();
    let xs = data(n, 42, -1.0, 1.0);
    let ys = data(n, 43, -1.0, 1.0);
    let run = |threads| {
        let f = compile(
            &g,
            &JitOptions {
                threads,
                parallel_min_elems: 1000,
                ..Default::default()
            },
        )
        .unwrap();
        let mut z = vec![0.0; n];
        let mut s = vec![0.0; rows];
        f.call_f64(&[&xs, &ys], &mut [&mut z, &mut s]).unwrap();
        (z, s, f.stats().parallel_kernels)
    };
    let (z1, s1, p1) = run(1);
    let (z2, s2, p2) = run(2);
    assert_eq!(p1, 0);
    assert!(p2 >= 1, "nothing ran in parallel");
    assert!(z1 == z2, "threads changed the elementwise results");
    assert!(s1 == s2, "threads changed the row sums");
    let zr: Vec<f64> = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (x * y + x.tanh()).exp())
        .collect();
    let worst = z1
        .iter()
        .zip(&zr)
        .map(|(a, b)| ((a - b) / b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-14, "relative error {worst:e}");
    // A purely elementwise graph splits its flat loop.
    let b = GraphBuilder::new("flat");
    let x = b.param("x", TensorType::f64([n]));
    let g = b.build(&[(x * x).sqrt()]).unwrap();
    let f = compile(
        &g,
        &JitOptions {
            threads: 2,
            parallel_min_elems: 1000,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(f.stats().parallel_kernels, 1);
    let mut out = vec![0.0; n];
    f.call_f64(&[&xs], &mut [&mut out]).unwrap();
    let want: Vec<f64> = xs.iter().map(|v| (v * v).sqrt()).collect();
    assert!(out == want, "parallel sqrt differs");
}

#[test]
fn arena_reuses_memory_by_liveness() {
    // A chain of reductions and broadcasts: each stored intermediate is dead
    // after the next step, so the arena stays far below the sum of sizes.
    let n = 1000;
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([n]));
    let mut v = x;
    for _ in 0..10 {
        let m = v.max_all().broadcast_to([n]);
        v = (v - m).exp();
    }
    let g = b.build(&[v.sum()]).unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let per = n * 8;
    assert!(f.arena_bytes() >= per, "{}", f.arena_bytes());
    assert!(
        f.arena_bytes() <= 3 * per,
        "arena {} bytes",
        f.arena_bytes()
    );
    let xs = data(n, 44, -1.0, 1.0);
    let mut out = [0.0];
    f.call_f64(&[&xs], &mut [&mut out]).unwrap();
    assert!(out[0].is_finite() && out[0] > 0.0);
}

#[test]
fn heap_arena_and_stack_arena_agree() {
    let n = 10_000;
    let b = GraphBuilder::new("h");
    let x = b.param("x", TensorType::f64([n]));
    let m = x.max_all().broadcast_to([n]);
    let y = (x - m).exp();
    let g = b.build(&[y.sum(), y]).unwrap();
    let xs = data(n, 45, -5.0, 5.0);
    let mut res = Vec::new();
    for stack_arena_max in [0, 1 << 20] {
        let f = compile(
            &g,
            &JitOptions {
                stack_arena_max,
                ..Default::default()
            },
        )
        .unwrap();
        let mut s = [0.0];
        let mut yv = vec![0.0; n];
        f.call_f64(&[&xs], &mut [&mut s, &mut yv]).unwrap();
        res.push((s[0], yv));
    }
    assert_eq!(res[0].0.to_bits(), res[1].0.to_bits());
    assert!(res[0].1 == res[1].1, "heap and stack arenas differ");
}

#[test]
fn clif_text_is_kept_on_request() {
    let f = compile(
        &scalar_fn(),
        &JitOptions {
            keep_clif: true,
            ..Default::default()
        },
    )
    .unwrap();
    let text = f.clif().unwrap();
    assert!(text.contains("function") && text.contains("fmul"), "{text}");
    let f = compile(&scalar_fn(), &JitOptions::default()).unwrap();
    assert!(f.clif().is_none());
}

#[test]
fn eval_has_the_interpreters_signature() {
    let g = scalar_fn();
    let ins = [
        adjoint_ir::Tensor::scalar_f64(2.0),
        adjoint_ir::Tensor::scalar_f64(7.0),
    ];
    let want = adjoint_interp::eval(&g, &ins).unwrap();
    let got = adjoint_jit::eval(&g, &ins).unwrap();
    assert_eq!(got, want);
    let e = adjoint_jit::eval(&g, &ins[..1]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
}

#[test]
fn auto_opt_level_skips_the_optimiser_only_for_scalar_code() {
    use adjoint_jit::OptLevel;
    let (scalar, looped) = (scalar_fn(), big_fn(100));
    let level = |g: &adjoint_ir::Graph, l: OptLevel| {
        let opts = JitOptions {
            opt_level: l,
            ..JitOptions::default()
        };
        compile(g, &opts).unwrap().stats().opt_level
    };
    assert_eq!(JitOptions::default().opt_level, OptLevel::Auto);
    assert_eq!(level(&scalar, OptLevel::Auto), OptLevel::None);
    assert_eq!(level(&looped, OptLevel::Auto), OptLevel::Speed);
    // Explicit levels are kept as given.
    assert_eq!(level(&scalar, OptLevel::Speed), OptLevel::Speed);
    assert_eq!(level(&looped, OptLevel::None), OptLevel::None);
    // Both levels compute the same values.
    let x = [0.75];
    let y = [-2.5];
    let mut a = [0.0];
    let mut b = [0.0];
    for (l, out) in [(OptLevel::None, &mut a), (OptLevel::Speed, &mut b)] {
        let opts = JitOptions {
            opt_level: l,
            ..JitOptions::default()
        };
        let f = compile(&scalar, &opts).unwrap();
        f.call_f64(&[&x, &y], &mut [out]).unwrap();
    }
    assert_eq!(a[0].to_bits(), b[0].to_bits());
}

#[test]
fn auto_opt_level_uses_the_single_pass_allocator_for_call_dense_code() {
    use adjoint_jit::OptLevel;
    // W7's shape: a 16-element loop with 300 sin/cos, host calls (too many
    // to inline in so small a loop).
    let b = GraphBuilder::new("w7ish");
    let mut x = b.param("x", TensorType::f64([16]));
    for _ in 0..150 {
        x = x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5);
    }
    let g = b.build(&[x.sum()]).unwrap();
    let run = |l: OptLevel| {
        let opts = JitOptions {
            opt_level: l,
            ..JitOptions::default()
        };
        let f = compile(&g, &opts).unwrap();
        let xs: Vec<f64> = (0..16).map(|i| i as f64 * 0.1 - 0.7).collect();
        let mut out = [0.0];
        f.call_f64(&[&xs], &mut [&mut out]).unwrap();
        (f.stats().single_pass_regalloc, out[0])
    };
    let (auto_sp, auto_v) = run(OptLevel::Auto);
    let (speed_sp, speed_v) = run(OptLevel::Speed);
    assert!(auto_sp && !speed_sp);
    assert_eq!(auto_v.to_bits(), speed_v.to_bits());
    // A loop with few functions keeps the backtracking allocator.
    let f = compile(&big_fn(100), &JitOptions::default()).unwrap();
    assert!(!f.stats().single_pass_regalloc);
}
