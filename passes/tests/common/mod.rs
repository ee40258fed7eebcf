//! Shared helpers for the pass tests: workload graphs and evaluation.
#![allow(dead_code)]

use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType, Value};

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

/// A random program over `[3,4]` values built from every kind of op.
pub fn random_graph(seed: u64, steps: usize) -> Graph {
    random_graph_with(seed, steps, false)
}

/// [`random_graph`], and with `rewrites` also the patterns `simplify`
/// rewrites (see [`rewrite_pattern`]), with special constants.
pub fn random_graph_with(seed: u64, steps: usize, rewrites: bool) -> Graph {
    let mut r = Rng(seed);
    let b = GraphBuilder::new(format!("rand{seed}"));
    let x = b.param("x", TensorType::f64([3, 4]));
    let y = b.param("y", TensorType::f64([3, 4]));
    let w = b.param("w", TensorType::f64([4]));
    let s = b.param("s", TensorType::f64([]));
    let mut pool: Vec<Value<'_>> = vec![x, y, w.broadcast_to([3, 4]), x * s];
    let pick = |r: &mut Rng, n: usize| (r.next_f64() * n as f64) as usize % n;
    for _ in 0..steps {
        let a = pool[pick(&mut r, pool.len())];
        let c = pool[pick(&mut r, pool.len())];
        let kinds = if rewrites { 21 + REWRITE_PATTERNS } else { 21 };
        let v = match pick(&mut r, kinds) {
            0 => a.sin(),
            1 => a.tanh(),
            2 => a.sigmoid(),
            3 => (a * 0.3).exp(),
            4 => a * c,
            5 => a + c,
            6 => a - c,
            7 => a / (1.0 + c * c),
            8 => a.maximum(c),
            9 => a.minimum(c).abs(),
            10 => a.gt(c).select(a, c * 2.0),
            11 => (a.sigmoid() + 0.5).pow(c.cos()),
            12 => a.matmul(c.t()).matmul(a) * 0.1,
            13 => a.sum_axes(&[1]).reshape([3, 1]).broadcast_to([3, 4]),
            14 => a.max_axes(&[0]).broadcast_to([3, 4]) + c,
            15 => a.reshape([2, 6]).transpose(&[1, 0]).reshape([3, 4]),
            16 => a.slice(&[0, 1], &[3, 4]).pad(&[0, 1], &[0, 0]) + c,
            17 => b.concat(&[a.slice(&[0, 0], &[3, 2]), c.slice(&[0, 2], &[3, 4])], 1),
            18 => a
                .try_slice(&[0, 0], &[3, 4], &[2, 3])
                .unwrap()
                .pad(&[1, 1], &[0, 1]),
            19 => (a * w).relu() + s * c,
            20 => a.logsumexp(1).reshape([3, 1]).broadcast_to([3, 4]) * c,
            k => rewrite_pattern(&mut r, k - 21, a, c),
        };
        pool.push(v);
    }
    let n = pool.len();
    let o1 = pool[n - 1];
    let o2 = pool[n - 2].sum_axes(&[0]);
    b.build(&[o1, o2]).unwrap()
}

/// The number of pattern kinds of [`rewrite_pattern`].
pub const REWRITE_PATTERNS: usize = 8;

/// Constants for the rewrite patterns: signed zeros, ±1, powers of two
/// (small, large, tiny), non-powers of two, and special values.
pub const PATTERN_CONSTS: [f64; 18] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    2.0,
    -4.0,
    0.5,
    3.0,
    0.1,
    1.2676506002282294e30, // 2^100
    7.888609052210118e-31, // 2^-100
    8.98846567431158e307,  // 2^1023
    1e300,
    5e-324,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    0.7,
];

/// One pattern that `simplify` rewrites (or must leave alone), on `[3,4]`
/// values `a` and `c`: constants times expressions (nested), `x ± 0` and
/// `0 - x` with both zeros, sums of broadcast copies (0 to 24 copies),
/// nested negations, `x·1`, `x/1`, `pow(x, 1|2)`, identity ops written out
/// (`reduce_sum`/`reduce_max` over no axes, same-shape `broadcast`, cast
/// round trips), and products with special constants.
pub fn rewrite_pattern<'b>(r: &mut Rng, kind: usize, a: Value<'b>, c: Value<'b>) -> Value<'b> {
    use adjoint_ir::{DType, Op};
    let pick = |r: &mut Rng, n: usize| (r.next_f64() * n as f64) as usize % n;
    let k = |r: &mut Rng| PATTERN_CONSTS[pick(r, PATTERN_CONSTS.len())];
    let b = a.builder();
    match kind {
        0 => {
            let (k1, k2) = (k(r), k(r));
            match pick(r, 3) {
                0 => k1 * (a * k2),
                1 => (k2 * a) * k1,
                _ => -(k1 * (k2 * -a)),
            }
        }
        1 => match pick(r, 8) {
            0 => a + 0.0,
            1 => 0.0 + a,
            2 => a + -0.0,
            3 => -0.0 + a,
            4 => a - 0.0,
            5 => a - -0.0,
            6 => 0.0 - a,
            _ => -0.0 - a,
        },
        2 | 3 => {
            let n = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 24][pick(r, 13)];
            if kind == 2 {
                a.broadcast_to([n, 3, 4]).sum_axes(&[0])
            } else {
                a.reshape([3, 1, 4]).broadcast_to([3, n, 4]).sum_axes(&[1])
            }
        }
        4 => match pick(r, 9) {
            0 => -(-a),
            1 => (-a) * (-c),
            2 => a + (-c),
            3 => (-a) + c,
            4 => a - (-c),
            5 => -(a * k(r)),
            6 => (-a) * k(r),
            7 => a * -1.0,
            _ => -1.0 * a,
        },
        5 => match pick(r, 6) {
            0 => a * 1.0,
            1 => 1.0 * a,
            2 => a / 1.0,
            3 => a.powf(1.0),
            4 => a.powf(2.0),
            _ => a.gt(c).select(a, a),
        },
        6 => match pick(r, 4) {
            0 => b.op(Op::ReduceSum { axes: vec![] }, &[a]),
            1 => b.op(Op::ReduceMax { axes: vec![] }, &[a]),
            2 => b.op(
                Op::Broadcast {
                    shape: [3, 4].into(),
                },
                &[a],
            ),
            _ => a
                .cast(DType::F32)
                .cast(DType::F64)
                .cast(DType::F32)
                .cast(DType::F64),
        },
        _ => match pick(r, 3) {
            0 => a * k(r),
            1 => k(r) + a,
            _ => a * 0.0,
        },
    }
}
