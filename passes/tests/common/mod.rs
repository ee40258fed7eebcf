//! Shared helpers for the pass tests: workload graphs and evaluation.
#![allow(dead_code)]

use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType};

/// Rosenbrock: `sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)` on `x: f64[n]`.
pub fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let hi = x.slice(&[1], &[n]);
    let lo = x.slice(&[0], &[n - 1]);
    let d = hi - lo * lo;
    let e = 1.0 - lo;
    let y = (100.0 * (d * d) + e * e).sum();
    b.build(&[y]).unwrap()
}

/// The W4 MLP loss: `784-256-256-10`-shaped (scaled by `dims`), tanh hidden
/// layers, softmax cross-entropy averaged over the batch.
pub fn mlp(batch: usize, dims: [usize; 4], dtype_f32: bool) -> Graph {
    let t = |d: &[usize]| {
        if dtype_f32 {
            TensorType::f32(d.to_vec())
        } else {
            TensorType::f64(d.to_vec())
        }
    };
    let b = GraphBuilder::new("mlp");
    let w1 = b.param("w1", t(&[dims[0], dims[1]]));
    let b1 = b.param("b1", t(&[dims[1]]));
    let w2 = b.param("w2", t(&[dims[1], dims[2]]));
    let b2 = b.param("b2", t(&[dims[2]]));
    let w3 = b.param("w3", t(&[dims[2], dims[3]]));
    let b3 = b.param("b3", t(&[dims[3]]));
    let x = b.param("x", t(&[batch, dims[0]]));
    let y = b.param("y", t(&[batch, dims[3]]));
    let h1 = (x.matmul(w1) + b1).tanh();
    let h2 = (h1.matmul(w2) + b2).tanh();
    let logits = h2.matmul(w3) + b3;
    let loss = logits.cross_entropy(y);
    b.build(&[loss]).unwrap()
}

/// A deterministic pseudo-random generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    /// The next value in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A value in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// A tensor of type `ty` with elements in [lo, hi).
    pub fn tensor(&mut self, ty: &TensorType, lo: f64, hi: f64) -> Tensor {
        let v: Vec<f64> = (0..ty.numel()).map(|_| self.uniform(lo, hi)).collect();
        Tensor::from_f64_as(ty, &v).unwrap()
    }
}

/// Evaluates `g` with the reference interpreter.
pub fn eval(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    adjoint_interp::eval(g, inputs).unwrap_or_else(|e| panic!("eval of @{}: {e}", g.name()))
}

/// Runs a pipeline on a copy of `g`.
pub fn run(g: &Graph, pipeline: &str) -> Graph {
    let mut h = g.clone();
    adjoint_passes::PassManager::parse(pipeline)
        .unwrap()
        .run(&mut h)
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"));
    h
}

/// Counts nodes by op name.
pub fn op_counts(g: &Graph) -> std::collections::BTreeMap<&'static str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for id in g.node_ids() {
        *m.entry(g[id].op.name()).or_insert(0) += 1;
    }
    m
}
