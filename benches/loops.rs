//! Loops compiled as native loops: the per-trip cost of a small `scan`
//! body (`loops/scan_scalar_T1000`, divide by 1000 for the ns per trip),
//! the code size and compile time of a scan, which do not depend on its
//! trip count (`loops/compile_scan_T10` against `loops/compile_scan_T10000`).
//! The workloads with loops (W8–W11, including W10's Newton `while`) are in
//! benches/workloads.rs.

use adjoint::ir::{BodyRef, Graph, GraphBuilder, Op, TensorType};
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
    // Code size does not depend on the trip count (printed for
    // docs/performance.md; asserted by adjoint-jit's tests/loops.rs).
    for t in [10usize, 100_000] {
        let st = compile(&scan_scalar(t), &JitOptions::default()).unwrap();
        let st = st.stats();
        println!(
            "loops/scan_scalar_T{t}: {} bytes of machine code in {} functions",
            st.code_bytes, st.functions
        );
    }
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
        .warm_up_time(Duration::from_secs(1))
        // criterion's plots fail (FontUnavailable) with plotters' ab_glyph
        // feature, which the examples enable; nothing reads them.
        .without_plots();
    targets = loops
}
criterion_main!(benches);
