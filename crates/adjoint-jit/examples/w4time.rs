//! Times W4 (MLP 784-256-256-10, batch 128, f32: loss and all gradients)
//! and the loss alone: best and median of 300 calls.
use adjoint_ir::{DType, Graph, GraphBuilder, Tensor, TensorType};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;
use std::time::Instant;

fn mlp() -> Graph {
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
    let h1 = (x.matmul(w1) + b1).tanh();
    let h2 = (h1.matmul(w2) + b2).tanh();
    let logits = h2.matmul(w3) + b3;
    b.build(&[logits.cross_entropy(labels)]).unwrap()
}

fn main() {
    let g0 = mlp();
    let mut g = g0.clone();
    PassManager::parse("grad{wrt=w1,b1,w2,b2,w3,b3},simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let ins: Vec<Tensor> = g0
        .param_types()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v: Vec<f64> = (0..t.numel())
                .map(|k| (((k * 7919 + i * 104729) % 2003) as f64 / 1001.5 - 1.0) * 0.05)
                .collect();
            Tensor::from_f64_as(t, &v).unwrap()
        })
        .collect();
    for threads in [1usize, 2] {
        for (name, gg) in [("step", &g), ("loss", &g0)] {
            let t0 = Instant::now();
            let f = compile(
                gg,
                &JitOptions {
                    threads,
                    ..Default::default()
                },
            )
            .unwrap();
            let tc = t0.elapsed().as_secs_f64();
            let mut times: Vec<f64> = (0..300)
                .map(|_| {
                    let t = Instant::now();
                    let out = f.run(&ins).unwrap();
                    std::hint::black_box(out);
                    t.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            println!(
                "W4 {name} threads={threads}: best {:.1} us, median {:.1} us (compile {:.1} ms, arena {} B, {} kernels, {} matmuls)",
                times[0] * 1e6,
                times[times.len() / 2] * 1e6,
                tc * 1e3,
                f.arena_bytes(),
                f.stats().kernels,
                f.stats().matmuls
            );
        }
    }
}
