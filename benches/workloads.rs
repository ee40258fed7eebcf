//! The project's benchmark workloads (../shared/workloads.md), with their
//! exact ids, run through the AD passes and the Cranelift JIT.
//!
//! W5 (full Jacobians through the Jacobian-chain pass) is benchmarked by the
//! chain pass's own benches.

use adjoint::ir::{DType, Graph, GraphBuilder, TensorType};
use adjoint::jit::{compile, BufMut, BufRef, CompiledFn, JitOptions};
use adjoint::passes::PassManager;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

const OPT: &str = "simplify,cse,dce";

/// Runs `pipeline`, keeps only the outputs `keep`, and cleans up.
fn derive(mut g: Graph, pipeline: &str, keep: &[usize]) -> Graph {
    PassManager::parse(pipeline).unwrap().run(&mut g).unwrap();
    let outs: Vec<_> = keep.iter().map(|&k| g.outputs()[k]).collect();
    g.set_outputs(outs);
    PassManager::parse(OPT).unwrap().run(&mut g).unwrap();
    g
}

fn jit(g: &Graph) -> CompiledFn {
    compile(g, &JitOptions::default()).unwrap()
}

fn linspace(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect()
}

fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t1 = a - c * c;
    let t2 = c.lit(1.0) - c;
    let f = (t1.lit(100.0) * t1 * t1 + t2 * t2).sum();
    b.build(&[f]).unwrap()
}

fn w1(c: &mut Criterion) {
    let b = GraphBuilder::new("w1");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let g = derive(b.build(&[x1 * x2 + x1.sin()]).unwrap(), "grad", &[1, 2]);
    let f = jit(&g);
    let (mut d1, mut d2) = ([0.0], [0.0]);
    f.call_f64(&[&[2.0], &[7.0]], &mut [&mut d1, &mut d2])
        .unwrap();
    assert!((d1[0] - 6.583853163452858).abs() < 1e-14 && d2[0] == 2.0);
    c.bench_function("W1_seed_scalar_grad", |bch| {
        bch.iter(|| {
            f.call_f64(
                &[black_box(&[2.0]), black_box(&[7.0])],
                &mut [&mut d1, &mut d2],
            )
            .unwrap();
        })
    });
}

fn w2(c: &mut Criterion) {
    let b = GraphBuilder::new("w2");
    let x = b.param("x", TensorType::f64([]));
    let g = derive(
        b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap(),
        "grad",
        &[1],
    );
    let f = jit(&g);
    let mut d = [0.0];
    c.bench_function("W2_sigmoid3_grad", |bch| {
        bch.iter(|| f.call_f64(&[black_box(&[100.0])], &mut [&mut d]).unwrap())
    });
}

fn w3(c: &mut Criterion) {
    for (n, id) in [
        (1000, "W3_rosenbrock_grad_n1000"),
        (1_000_000, "W3_rosenbrock_grad_n1000000"),
    ] {
        let g = derive(rosenbrock(n), "grad", &[1]);
        let f = jit(&g);
        let x = linspace(n);
        let mut d = vec![0.0; n];
        c.bench_function(id, |bch| {
            bch.iter(|| f.call_f64(&[black_box(&x)], &mut [&mut d]).unwrap())
        });
        // The function alone, for the gradient/function time ratio.
        let fv = jit(&rosenbrock(n));
        let mut v = [0.0];
        c.bench_function(&format!("W3_rosenbrock_value_n{n}"), |bch| {
            bch.iter(|| fv.call_f64(&[black_box(&x)], &mut [&mut v]).unwrap())
        });
    }
}

fn mlp(dt: DType) -> Graph {
    let bsz = 128;
    let b = GraphBuilder::new("mlp");
    let x = b.param("x", TensorType::new(dt, [bsz, 784]));
    let labels = b.param("labels", TensorType::new(dt, [bsz, 10]));
    let w1 = b.param("w1", TensorType::new(dt, [784, 256]));
    let b1 = b.param("b1", TensorType::new(dt, [256]));
    let w2 = b.param("w2", TensorType::new(dt, [256, 256]));
    let b2 = b.param("b2", TensorType::new(dt, [256]));
    let w3 = b.param("w3", TensorType::new(dt, [256, 10]));
    let b3 = b.param("b3", TensorType::new(dt, [10]));
    let h1 = (x.matmul(w1) + b1).tanh();
    let h2 = (h1.matmul(w2) + b2).tanh();
    let logits = h2.matmul(w3) + b3;
    let loss = logits.cross_entropy(labels);
    b.build(&[loss]).unwrap()
}

fn det(n: usize, seed: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((((i * 7919 + seed * 104729) % 2003) as f32) / 1001.5 - 1.0) * scale)
        .collect()
}

fn w4(c: &mut Criterion) {
    let g0 = mlp(DType::F32);
    let g = derive(
        g0.clone(),
        "grad{wrt=w1,b1,w2,b2,w3,b3}",
        &[0, 1, 2, 3, 4, 5, 6],
    );
    let f = jit(&g);
    let x = det(128 * 784, 1, 1.0);
    let mut labels = vec![0.0f32; 128 * 10];
    for r in 0..128 {
        labels[r * 10 + r % 10] = 1.0;
    }
    let w1 = det(784 * 256, 2, 0.05);
    let b1 = det(256, 3, 0.01);
    let w2 = det(256 * 256, 4, 0.06);
    let b2 = det(256, 5, 0.01);
    let w3 = det(256 * 10, 6, 0.06);
    let b3 = det(10, 7, 0.01);
    let ins = [
        BufRef::F32(&x),
        BufRef::F32(&labels),
        BufRef::F32(&w1),
        BufRef::F32(&b1),
        BufRef::F32(&w2),
        BufRef::F32(&b2),
        BufRef::F32(&w3),
        BufRef::F32(&b3),
    ];
    let mut loss = [0.0f32];
    let mut gw1 = vec![0.0f32; 784 * 256];
    let mut gb1 = vec![0.0f32; 256];
    let mut gw2 = vec![0.0f32; 256 * 256];
    let mut gb2 = vec![0.0f32; 256];
    let mut gw3 = vec![0.0f32; 2560];
    let mut gb3 = vec![0.0f32; 10];
    c.bench_function("W4_mlp_step_f32", |bch| {
        bch.iter(|| {
            f.call(
                &ins,
                &mut [
                    BufMut::F32(&mut loss),
                    BufMut::F32(&mut gw1),
                    BufMut::F32(&mut gb1),
                    BufMut::F32(&mut gw2),
                    BufMut::F32(&mut gb2),
                    BufMut::F32(&mut gw3),
                    BufMut::F32(&mut gb3),
                ],
            )
            .unwrap()
        })
    });
    let fl = jit(&g0);
    c.bench_function("W4_mlp_loss_f32", |bch| {
        bch.iter(|| fl.call(&ins, &mut [BufMut::F32(&mut loss)]).unwrap())
    });
}

fn w6(c: &mut Criterion) {
    let n = 10_000;
    // Forward over reverse: outputs after grad and jvp are
    // [f, df/dx, tangent of f, tangent of df/dx = H v].
    let g = derive(rosenbrock(n), "grad{wrt=x},jvp{wrt=x}", &[3]);
    let f = jit(&g);
    let x = linspace(n);
    let v = vec![1.0; n];
    let mut hv = vec![0.0; n];
    c.bench_function("W6_hvp_rosenbrock_n10000", |bch| {
        bch.iter(|| f.call_f64(&[black_box(&x), &v], &mut [&mut hv]).unwrap())
    });
}

/// W7: build, differentiate, optimise and compile.
pub fn w7_build_and_compile() -> CompiledFn {
    let b = GraphBuilder::new("w7");
    let mut x = b.param("x", TensorType::f64([16]));
    for _ in 0..250 {
        x = x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5);
    }
    let g = derive(b.build(&[x.sum()]).unwrap(), "grad", &[1]);
    jit(&g)
}

fn w7(c: &mut Criterion) {
    let mut group = c.benchmark_group("w7");
    group.sample_size(10);
    group.bench_function("W7_compile_1000op_grad", |bch| {
        bch.iter(|| black_box(w7_build_and_compile()))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = workloads;
    config = config();
    targets = w1, w2, w3, w4, w6, w7
}
criterion_main!(workloads);
