//! `grad{remat=true}` against the default on W4's MLP gradient (f32,
//! batch 128, 784-256-256-10, tanh, softmax cross-entropy), and on the
//! same MLP with a wide elementwise activation tail,
//! `tanh(z)·sigmoid(z) + z/8`. Each pair is timed; the arena bytes of
//! both plans are printed once before timing (`remat/<case>: arena …`).

use adjoint::ir::{DType, Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint::jit::{compile, CompiledFn, JitOptions};
use adjoint::passes::PassManager;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn tail(z: Value<'_>) -> Value<'_> {
    z.tanh() * z.sigmoid() + 0.125 * z
}

/// W4's MLP, with `act` as the hidden activation.
fn mlp(act: fn(Value<'_>) -> Value<'_>) -> Graph {
    let dt = DType::F32;
    let b = GraphBuilder::new("mlp");
    let x = b.param("x", TensorType::new(dt, [128, 784]));
    let labels = b.param("labels", TensorType::new(dt, [128, 10]));
    let w1 = b.param("w1", TensorType::new(dt, [784, 256]));
    let b1 = b.param("b1", TensorType::new(dt, [256]));
    let w2 = b.param("w2", TensorType::new(dt, [256, 256]));
    let b2 = b.param("b2", TensorType::new(dt, [256]));
    let w3 = b.param("w3", TensorType::new(dt, [256, 10]));
    let b3 = b.param("b3", TensorType::new(dt, [10]));
    let h1 = act(x.matmul(w1) + b1);
    let h2 = act(h1.matmul(w2) + b2);
    let logits = h2.matmul(w3) + b3;
    b.build(&[logits.cross_entropy(labels)]).unwrap()
}

fn grad(g: &Graph, remat: bool) -> CompiledFn {
    let mut h = g.clone();
    PassManager::parse(&format!(
        "grad{{wrt=w1,b1,w2,b2,w3,b3,remat={remat}}},simplify,cse,dce"
    ))
    .unwrap()
    .run(&mut h)
    .unwrap();
    compile(&h, &JitOptions::default()).unwrap()
}

fn inputs(g: &Graph) -> Vec<Tensor> {
    g.param_types()
        .iter()
        .enumerate()
        .map(|(k, ty)| {
            let scale = if k == 0 { 1.0 } else { 0.05 };
            let v: Vec<f64> = (0..ty.numel())
                .map(|i| ((((i * 7919 + k * 104729) % 2003) as f64) / 1001.5 - 1.0) * scale)
                .collect();
            Tensor::from_f64_as(ty, &v).unwrap()
        })
        .collect()
}

fn remat(c: &mut Criterion) {
    for (name, act) in [
        ("W4_mlp_grad", (|z| z.tanh()) as fn(Value<'_>) -> Value<'_>),
        ("W4_wide_tail_grad", tail),
    ] {
        let g = mlp(act);
        let ins = inputs(&g);
        let (plain, re) = (grad(&g, false), grad(&g, true));
        eprintln!(
            "remat/{name}: arena {} bytes without remat, {} bytes with",
            plain.arena_bytes(),
            re.arena_bytes()
        );
        for (tag, f) in [("plain", &plain), ("remat", &re)] {
            c.bench_function(&format!("remat/{name}/{tag}"), |b| {
                b.iter(|| f.run(black_box(&ins)).unwrap())
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        // criterion's plots fail (FontUnavailable) with plotters' ab_glyph
        // backend and no system fonts.
        .without_plots();
    targets = remat
}
criterion_main!(benches);
