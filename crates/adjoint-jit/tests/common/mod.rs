//! Shared helpers of the JIT tests: deterministic data, bitwise comparison
//! and a JIT-vs-reference harness.
#![allow(dead_code)]

use adjoint_ir::{DType, Graph, GraphBuilder, Tensor, TensorData, TensorType};
use adjoint_jit::{compile, JitOptions};

/// Every length the SIMD paths care about: empty, shorter than a vector
/// step, exact steps, steps plus every tail length, and larger.
pub const LENS: [usize; 14] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 31, 64, 1027];

/// A deterministic pseudo-random sequence in `[lo, hi)`.
pub fn data(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * u
        })
        .collect()
}

/// Data with IEEE special values mixed in (NaN, ±inf, ±0) every few
/// elements.
pub fn data_special(n: usize, seed: u64) -> Vec<f64> {
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1.0];
    let mut v = data(n, seed, -4.0, 4.0);
    for (i, x) in v.iter_mut().enumerate() {
        if i % 5 == 3 {
            *x = specials[(i / 5 + seed as usize) % specials.len()];
        }
    }
    v
}

/// A tensor of `ty` from f64 values.
pub fn tensor(ty: &TensorType, v: &[f64]) -> Tensor {
    Tensor::from_f64_as(ty, v).unwrap()
}

/// Bitwise equality with every NaN equal to every NaN.
pub fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    if a.shape() != b.shape() || a.dtype() != b.dtype() {
        return false;
    }
    match (a.data(), b.data()) {
        (TensorData::F64(x), TensorData::F64(y)) => x
            .iter()
            .zip(y)
            .all(|(p, q)| (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits()),
        (TensorData::F32(x), TensorData::F32(y)) => x
            .iter()
            .zip(y)
            .all(|(p, q)| (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits()),
        (TensorData::Bool(x), TensorData::Bool(y)) => x == y,
        _ => false,
    }
}

/// Compiles `g` and runs it on `inputs`.
pub fn jit_run(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    jit_run_opts(g, inputs, &JitOptions::default())
}

/// Compiles `g` with `opts` and runs it on `inputs`.
pub fn jit_run_opts(g: &Graph, inputs: &[Tensor], opts: &JitOptions) -> Vec<Tensor> {
    let f = compile(g, opts).unwrap_or_else(|e| panic!("compile @{}: {e}", g.name()));
    f.run(inputs).unwrap()
}

/// Asserts bitwise equality (NaN == NaN), with a readable message.
pub fn assert_same(what: &str, got: &Tensor, want: &Tensor) {
    if !same_bits(got, want) {
        let g = got.to_f64_vec();
        let w = want.to_f64_vec();
        let first = g
            .iter()
            .zip(&w)
            .position(|(a, b)| !((a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()));
        panic!(
            "{what}: JIT differs from the reference (shapes {} vs {}, first difference at {first:?}: {:?} vs {:?})",
            got.shape(),
            want.shape(),
            first.map(|i| g[i]),
            first.map(|i| w[i])
        );
    }
}

/// The float dtypes.
pub const FLOATS: [DType; 2] = [DType::F32, DType::F64];

/// Distance in units in the last place between two floats of `dtype`
/// (0 when both are NaN or equal; `u64::MAX` when only one is NaN).
pub fn ulps(dtype: DType, a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    if a == b {
        return 0;
    }
    match dtype {
        DType::F32 => {
            let key = |x: f32| {
                let i = x.to_bits() as i32;
                if i < 0 {
                    i64::from(i32::MIN) - i64::from(i)
                } else {
                    i64::from(i)
                }
            };
            key(a as f32).abs_diff(key(b as f32))
        }
        _ => {
            let key = |x: f64| {
                let i = x.to_bits() as i64;
                if i < 0 {
                    i64::MIN as i128 - i as i128
                } else {
                    i as i128
                }
            };
            (key(a) - key(b)).unsigned_abs() as u64
        }
    }
}

/// W3: `sum(100 (x[1:] - x[:-1]²)² + (1 - x[:-1])²)` of `x: f64[n]`.
pub fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t1 = a - c * c;
    let t2 = c.lit(1.0) - c;
    b.build(&[(t1.lit(100.0) * t1 * t1 + t2 * t2).sum()])
        .unwrap()
}

/// The gradient of [`rosenbrock`] alone, through the benches' pipeline.
pub fn rosenbrock_grad(n: usize) -> Graph {
    let mut g = rosenbrock(n);
    adjoint_passes::PassManager::parse("grad")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let o = g.outputs()[1];
    g.set_outputs(vec![o]);
    adjoint_passes::PassManager::parse("simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    g
}
