//! The benchmark workloads of `workloads.md` as graphs, with their fixed
//! shapes and deterministic inputs. The criterion benches, the examples and
//! the peer comparison all build their programs here, so every figure is
//! about the same program.

use crate::ir::{DType, Graph, GraphBuilder, Result, Tensor, TensorType, Value};

/// `n` evenly spaced points from -1 to 1 (numpy's `linspace(-1, 1, n)`).
pub fn linspace(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if n == 1 {
                -1.0
            } else {
                -1.0 + 2.0 * i as f64 / (n - 1) as f64
            }
        })
        .collect()
}

/// W1: `f(x1, x2) = x1*x2 + sin(x1)`.
pub fn seed_scalar() -> Result<Graph> {
    let b = GraphBuilder::new("seed");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    b.build(&[x1 * x2 + x1.sin()])
}

/// `1 / (1 + exp(-x))` from primitives.
pub fn sigmoid_primitives(x: Value<'_>) -> Value<'_> {
    1.0 / (1.0 + (-x).exp())
}

/// W2: `s(s(s(x)))` with `s(x) = 1/(1+exp(-x))` built from primitives.
pub fn sigmoid3() -> Result<Graph> {
    let b = GraphBuilder::new("sigmoid3");
    let x = b.param("x", TensorType::f64([]));
    b.build(&[sigmoid_primitives(sigmoid_primitives(sigmoid_primitives(
        x,
    )))])
}

/// `sum(100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)` of a vector `x`.
pub fn rosenbrock_of(x: Value<'_>) -> Value<'_> {
    let n = x.shape().dims()[0];
    let hi = x.slice(&[1], &[n]);
    let lo = x.slice(&[0], &[n - 1]);
    let d = hi - lo * lo;
    let e = 1.0 - lo;
    (100.0 * d * d + e * e).sum()
}

/// W3/W6: the Rosenbrock function of `x: f64[n]` (`n >= 2`).
pub fn rosenbrock(n: usize) -> Result<Graph> {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    b.build(&[rosenbrock_of(x)])
}

/// The MLP of W4: 784-256-256-10, tanh hidden layers, softmax
/// cross-entropy averaged over a batch of `batch`. Parameters, in order:
/// `x`, `labels`, `w1`, `b1`, `w2`, `b2`, `w3`, `b3`.
pub fn mlp(dtype: DType, batch: usize) -> Result<Graph> {
    let b = GraphBuilder::new("mlp");
    let t = |dims: &[usize]| TensorType::new(dtype, dims.to_vec());
    let x = b.param("x", t(&[batch, 784]));
    let labels = b.param("labels", t(&[batch, 10]));
    let w1 = b.param("w1", t(&[784, 256]));
    let b1 = b.param("b1", t(&[256]));
    let w2 = b.param("w2", t(&[256, 256]));
    let b2 = b.param("b2", t(&[256]));
    let w3 = b.param("w3", t(&[256, 10]));
    let b3 = b.param("b3", t(&[10]));
    let h1 = (x.matmul(w1) + b1).tanh();
    let h2 = (h1.matmul(w2) + b2).tanh();
    let logits = h2.matmul(w3) + b3;
    b.build(&[logits.cross_entropy(labels)])
}

/// Deterministic inputs for [`mlp`]: inputs in [-1, 1], one-hot labels,
/// weights scaled by `1/sqrt(fan_in)`, zero biases.
pub fn mlp_inputs(g: &Graph) -> Result<Vec<Tensor>> {
    g.param_types()
        .iter()
        .zip(g.param_names())
        .map(|(ty, name)| {
            let n = ty.numel();
            let v: Vec<f64> = match name.as_str() {
                "labels" => {
                    let classes = ty.shape.dims()[1];
                    (0..n)
                        .map(|i| f64::from(u8::from(i % classes == (i / classes) % classes)))
                        .collect()
                }
                "x" => (0..n)
                    .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
                    .collect(),
                w if w.starts_with('w') => {
                    let fan_in = ty.shape.dims()[0] as f64;
                    (0..n)
                        .map(|i| ((i * 7 + 3) as f64).sin() / fan_in.sqrt())
                        .collect()
                }
                _ => vec![0.0; n],
            };
            Tensor::from_f64_as(ty, &v)
        })
        .collect()
}

/// The deterministic `m × n` weight of W5: `W[r][c] = sin(7r + 3c)/sqrt(n)`.
pub fn chain_weight(m: usize, n: usize) -> Result<Tensor> {
    let data = (0..m * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            ((r * 7 + c * 3) as f64).sin() / (n as f64).sqrt()
        })
        .collect();
    Tensor::from_f64([m, n], data)
}

/// W5: `x -> tanh(W_k … tanh(W_1 x))` for widths `[n_0, n_1, …, n_k]`,
/// with `W_i` the constant [`chain_weight`] of size `n_i × n_{i-1}`.
pub fn tanh_chain(widths: &[usize]) -> Result<Graph> {
    let b = GraphBuilder::new("chain");
    let first = widths.first().copied().unwrap_or(1);
    let x = b.param("x", TensorType::f64([first]));
    let mut h = x;
    for w in widths.windows(2) {
        h = b.constant(chain_weight(w[1], w[0])?).matmul(h).tanh();
    }
    b.build(&[h])
}

/// The three chains of W5, by name.
pub const W5_CHAINS: [(&str, &[usize]); 3] = [
    ("hourglass", &[800, 8, 800, 8, 800]),
    ("diamond", &[8, 800, 800, 8, 800, 8]),
    ("wide_in", &[1000, 500, 250, 50, 10]),
];

/// W7's program: `x: f64[16]`; 250 times `x = sin(x)*1.01 + cos(x)*0.5`;
/// return `sum(x)`.
pub fn w7_program() -> Result<Graph> {
    let b = GraphBuilder::new("w7");
    let mut x = b.param("x", TensorType::f64([16]));
    for _ in 0..250 {
        x = x.sin() * 1.01 + x.cos() * 0.5;
    }
    b.build(&[x.sum()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_evaluate_to_known_values() {
        let out = adjoint_interp::eval(
            &seed_scalar().unwrap(),
            &[Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)],
        )
        .unwrap();
        assert_eq!(out[0].to_f64_vec(), vec![14.909297426825681]);
        // Rosenbrock at (1, …, 1) is 0; at 0 it is n-1.
        let r = rosenbrock(5).unwrap();
        let ones = Tensor::from_f64([5], vec![1.0; 5]).unwrap();
        assert_eq!(
            adjoint_interp::eval(&r, &[ones]).unwrap()[0].to_f64_vec(),
            vec![0.0]
        );
        let zeros = Tensor::from_f64([5], vec![0.0; 5]).unwrap();
        assert_eq!(
            adjoint_interp::eval(&r, &[zeros]).unwrap()[0].to_f64_vec(),
            vec![4.0]
        );
        assert_eq!(linspace(3), vec![-1.0, 0.0, 1.0]);
        let c = tanh_chain(&[3, 2, 4]).unwrap();
        assert_eq!(c.output_types()[0], TensorType::f64([4]));
        // Per iteration: sin, cos, two scalar consts, their broadcasts, two
        // muls and an add.
        assert_eq!(w7_program().unwrap().len(), 1 + 250 * 9 + 1);
    }

    #[test]
    fn mlp_inputs_are_one_hot_and_typed() {
        let g = mlp(DType::F32, 4).unwrap();
        let ins = mlp_inputs(&g).unwrap();
        assert_eq!(ins.len(), 8);
        let labels = ins[1].to_f64_vec();
        for row in labels.chunks(10) {
            assert_eq!(row.iter().sum::<f64>(), 1.0);
        }
        let loss = adjoint_interp::eval(&g, &ins).unwrap()[0].to_f64_vec()[0];
        assert!(loss.is_finite() && loss > 0.0);
    }
}
