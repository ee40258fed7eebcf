//! Loops compiled as native loops: the per-trip cost of a small `scan`
//! body (`loops/scan_scalar_T1000`, divide by 1000 for the ns per trip),
//! W10's Newton `while` (forward), and the compile time of a scan, which
//! does not depend on its trip count (`loops/compile_scan_T10` against
//! `loops/compile_scan_T10000`).

use adjoint::ir::{BodyRef, CompareOp, Graph, GraphBuilder, Op, Tensor, TensorType};
use adjoint::jit::{compile, JitOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

/// `c' = c·k + x`, `y = c'` over `xs: f64[t]`: a scalar body.
fn scan_scalar(t: usize) -> Graph {
    let b = GraphBuilder::new("step");
    let c = b.param("c", TensorType::f64([]));
    let x = b.param("x", TensorType::f64([]));
    let k = b.param("k", TensorType::f64([]));
    let nc = c * k + x;
    let body = BodyRef::new(b.build(&[nc, nc]).unwrap());
    let mut g = Graph::new("scan_scalar");
    let c0 = g.add_param("c0", TensorType::f64([])).unwrap();
    let xs = g.add_param("xs", TensorType::f64([t])).unwrap();
    let k = g.add_param("k", TensorType::f64([])).unwrap();
    let op = Op::Scan {
        body,
        carry: 1,
        xs: 1,
        length: t,
        reverse: false,
    };
    let r = g.add_multi(op, &[c0, xs, k]).unwrap();
    g.set_outputs(r);
    g
}

/// W10: x* solving x = cos(a·x) by Newton's method from x = 1, until
/// |Δx| < 1e-14, at most 50 trips.
fn newton() -> Graph {
    let b = GraphBuilder::new("more");
    let _x = b.param("x", TensorType::f64([]));
    let d = b.param("d", TensorType::f64([]));
    let _a = b.param("a", TensorType::f64([]));
    let p = b.op(Op::Compare(CompareOp::Ge), &[d.abs(), d.lit(1e-14)]);
    let cond = BodyRef::new(b.build(&[p]).unwrap());
    let b = GraphBuilder::new("newton_step");
    let x = b.param("x", TensorType::f64([]));
    let _d = b.param("d", TensorType::f64([]));
    let a = b.param("a", TensorType::f64([]));
    let f = x - (a * x).cos();
    let df = x.lit(1.0) + a * (a * x).sin();
    let nx = x - f / df;
    let body = BodyRef::new(b.build(&[nx, nx - x]).unwrap());
    let mut g = Graph::new("w10");
    let a = g.add_param("a", TensorType::f64([])).unwrap();
    let x0 = g.constant(Tensor::from_f64([], vec![1.0]).unwrap());
    let d0 = g.constant(Tensor::from_f64([], vec![1.0]).unwrap());
    let op = Op::While {
        cond,
        body,
        carry: 2,
        max_trips: Some(50),
    };
    let r = g.add_multi(op, &[x0, d0, a]).unwrap();
    g.set_outputs(vec![r[0]]);
    g
}

fn loops(c: &mut Criterion) {
    let t = 1000;
    let f = compile(&scan_scalar(t), &JitOptions::default()).unwrap();
    let xs: Vec<f64> = (0..t).map(|i| (i as f64 * 0.37).sin()).collect();
    let (mut cend, mut ys) = ([0.0], vec![0.0; t]);
    c.bench_function("loops/scan_scalar_T1000", |b| {
        b.iter(|| {
            f.call_f64(
                &[&[0.5], black_box(&xs), &[0.999]],
                &mut [&mut cend, &mut ys],
            )
            .unwrap()
        })
    });
    let f = compile(&newton(), &JitOptions::default()).unwrap();
    let mut x = [0.0];
    f.call_f64(&[&[0.7]], &mut [&mut x]).unwrap();
    assert!((x[0] - 0.8342699518670651).abs() < 1e-15);
    c.bench_function("W10_while_newton", |b| {
        b.iter(|| f.call_f64(&[black_box(&[0.7])], &mut [&mut x]).unwrap())
    });
    for t in [10usize, 10_000] {
        let g = scan_scalar(t);
        c.bench_function(&format!("loops/compile_scan_T{t}"), |b| {
            b.iter(|| compile(black_box(&g), &JitOptions::default()).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = loops
}
criterion_main!(benches);
