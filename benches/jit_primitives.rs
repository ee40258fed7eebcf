//! Primitive-level benchmarks of the JIT, the ones used to tune it: call
//! overhead, a fused elementwise chain, a vectorised reduction, polynomial
//! against host-call `exp`/`tanh`, a padded (Rosenbrock-style) loop, a
//! column reduction, and compile time per node.

use adjoint::ir::{DType, Graph, GraphBuilder, TensorType};
use adjoint::jit::{compile, BufMut, BufRef, JitOptions};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn unary(
    dt: DType,
    n: usize,
    f: impl Fn(adjoint::ir::Value<'_>) -> adjoint::ir::Value<'_>,
) -> Graph {
    let b = GraphBuilder::new("u");
    let x = b.param("x", TensorType::new(dt, [n]));
    let y = f(x);
    b.build(&[y]).unwrap()
}

fn data(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 7919) % 2003) as f64 / 1001.5 - 1.0)
        .collect()
}

fn call_overhead(c: &mut Criterion) {
    let g = unary(DType::F64, 1, |x| x.neg_());
    let f = compile(&g, &JitOptions::default()).unwrap();
    let mut out = [0.0];
    c.bench_function("jit_call_overhead_scalar_neg", |b| {
        b.iter(|| f.call_f64(&[black_box(&[2.0])], &mut [&mut out]).unwrap())
    });
}

fn elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("jit_elementwise");
    for n in [1024usize, 1 << 20] {
        group.throughput(Throughput::Elements(n as u64));
        let g = unary(DType::F64, n, |x| (x * x + x.lit(1.0)).sqrt() - x);
        let f = compile(&g, &JitOptions::default()).unwrap();
        let x = data(n);
        let mut out = vec![0.0; n];
        group.bench_with_input(BenchmarkId::new("chain_f64", n), &n, |b, _| {
            b.iter(|| f.call_f64(&[&x], &mut [&mut out]).unwrap())
        });
        let g = unary(DType::F64, n, |x| (x * x).sum());
        let f = compile(&g, &JitOptions::default()).unwrap();
        let mut s = [0.0];
        group.bench_with_input(BenchmarkId::new("sum_sq_f64", n), &n, |b, _| {
            b.iter(|| f.call_f64(&[&x], &mut [&mut s]).unwrap())
        });
    }
    group.finish();
}

fn transcendental(c: &mut Criterion) {
    let n = 1 << 16;
    let mut group = c.benchmark_group("jit_transcendental");
    group.throughput(Throughput::Elements(n as u64));
    let x32: Vec<f32> = data(n).iter().map(|&v| v as f32 * 3.0).collect();
    let mut o32 = vec![0.0f32; n];
    for poly in [true, false] {
        let opts = JitOptions {
            poly_math: poly,
            ..JitOptions::default()
        };
        let label = if poly { "poly" } else { "host" };
        for (name, g) in [
            ("exp_f32", unary(DType::F32, n, |x| x.exp())),
            ("tanh_f32", unary(DType::F32, n, |x| x.tanh())),
        ] {
            let f = compile(&g, &opts).unwrap();
            group.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| {
                    f.call(&[BufRef::F32(&x32)], &mut [BufMut::F32(&mut o32)])
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

fn padded_and_columns(c: &mut Criterion) {
    let n = 1 << 16;
    let b = GraphBuilder::new("pad");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let l = x.slice(&[0], &[n - 1]);
    let t = a - l * l;
    let y = t.pad(&[1], &[0]) + (t * l).pad(&[0], &[1]);
    let g = b.build(&[y]).unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let xv = data(n);
    let mut out = vec![0.0; n];
    c.bench_function("jit_padded_recompute_f64_65536", |bch| {
        bch.iter(|| f.call_f64(&[&xv], &mut [&mut out]).unwrap())
    });
    let b = GraphBuilder::new("cols");
    let x = b.param("x", TensorType::f32([128, 256]));
    let g = b.build(&[x.sum_axes(&[0])]).unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let xv: Vec<f32> = data(128 * 256).iter().map(|&v| v as f32).collect();
    let mut o = vec![0.0f32; 256];
    c.bench_function("jit_column_sum_f32_128x256", |bch| {
        bch.iter(|| {
            f.call(&[BufRef::F32(&xv)], &mut [BufMut::F32(&mut o)])
                .unwrap()
        })
    });
}

fn compile_time(c: &mut Criterion) {
    let b = GraphBuilder::new("chain");
    let mut x = b.param("x", TensorType::f64([16]));
    for _ in 0..100 {
        x = (x * x.lit(0.5) + x.lit(1.0)).tanh();
    }
    let g = b.build(&[x]).unwrap();
    let mut group = c.benchmark_group("jit_compile");
    group.sample_size(10);
    group.bench_function("chain_300_nodes", |bch| {
        bch.iter(|| black_box(compile(&g, &JitOptions::default()).unwrap()))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = primitives;
    config = config();
    targets = call_overhead, elementwise, transcendental, padded_and_columns, compile_time
}
criterion_main!(primitives);
