//! Two of issue 15's newcomer programs written with the builder helpers
//! (`binary_cross_entropy_with_logits`, `diff`, `roll`, `at`, `stack`),
//! with gradients checked against the hand-derived formulas.
mod common;

use adjoint_ir::{GraphBuilder, Tensor, TensorType};
use common::{eval, run, Rng};

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn logistic_regression_gradient_is_xt_times_residual() {
    let (n, d) = (16, 3);
    let b = GraphBuilder::new("logreg");
    let x = b.param("x", TensorType::f64([n, d]));
    let y = b.param("y", TensorType::f64([n]));
    let w = b.param("w", TensorType::f64([d]));
    let c = b.param("c", TensorType::f64([]));
    let z = x.matmul(w.reshape([d, 1])).reshape([n]) + c;
    let g = b.build(&[z.binary_cross_entropy_with_logits(y)]).unwrap();
    let g = run(&g, "grad{wrt=w,c},simplify,cse,dce");
    let mut r = Rng(5);
    let xs = r.tensor(&TensorType::f64([n, d]), -2.0, 2.0).to_f64_vec();
    let ys: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
    let ws = [0.5, -1.0, 2.0];
    let cs = 0.25;
    let out = eval(
        &g,
        &[
            Tensor::from_f64([n, d], xs.clone()).unwrap(),
            Tensor::from_f64([n], ys.clone()).unwrap(),
            Tensor::from_f64([d], ws.to_vec()).unwrap(),
            Tensor::scalar_f64(cs),
        ],
    );
    // dL/dw = Xᵀ(σ(z) − y)/n, dL/dc = Σ(σ(z) − y)/n.
    let res: Vec<f64> = (0..n)
        .map(|i| {
            let zi: f64 = (0..d).map(|j| xs[i * d + j] * ws[j]).sum::<f64>() + cs;
            (sigmoid(zi) - ys[i]) / n as f64
        })
        .collect();
    let dw: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| xs[i * d + j] * res[i]).sum())
        .collect();
    let dc: f64 = res.iter().sum();
    for (a, e) in out[1].to_f64_vec().iter().zip(&dw) {
        assert!((a - e).abs() < 1e-14, "{a} vs {e}");
    }
    assert!((out[2].to_f64_vec()[0] - dc).abs() < 1e-14);
}

#[test]
fn spring_ring_forces_are_minus_the_gradient() {
    // A periodic chain of n unit masses on a line, springs of stiffness k
    // and rest length l between neighbours (the last tied to the first
    // through roll): E = k/2 Σ (x[i+1] − x[i] − l)², plus an open chain
    // E' = k/2 Σ (diff(x) − l)² pinned at x[0] by (x[0])².
    let n = 6;
    let (k, l) = (3.0, 0.5);
    let b = GraphBuilder::new("springs");
    let x = b.param("x", TensorType::f64([n]));
    let ring = x.roll(-1, 0) - x - l; // x[i+1] − x[i] − l, wrapping
    let e_ring = 0.5 * k * (ring * ring).sum();
    let open = x.diff(0) - l;
    let e_open = 0.5 * k * (open * open).sum() + x.at(0) * x.at(0);
    let ends = b.stack(&[x.at(0), x.at(-1)], 0);
    let g = b.build(&[e_ring, e_open, ends]).unwrap();
    let ring_g = run(&g, "grad{of=0},simplify,cse,dce");
    let open_g = run(&g, "grad{of=1},simplify,cse,dce");
    let xs: Vec<f64> = (0..n)
        .map(|i| 0.6 * i as f64 + 0.1 * (i as f64).sin())
        .collect();
    let t = [Tensor::from_f64([n], xs.clone()).unwrap()];
    // Outputs: the three originals, then the gradient.
    assert_eq!(eval(&g, &t)[2].to_f64_vec(), [xs[0], xs[n - 1]]);
    // The tension of the spring from mass i to mass j.
    let s = |i: usize, j: usize| k * (xs[j] - xs[i] - l);
    // Ring: dE/dx[i] = s(i−1, i) − s(i, i+1), indices mod n (the
    // wrap-around spring measured as x[0] − x[n−1] − l).
    let gr = eval(&ring_g, &t)[3].to_f64_vec();
    for (i, gi) in gr.iter().enumerate() {
        let (p, q) = ((i + n - 1) % n, (i + 1) % n);
        let want = s(p, i) - s(i, q);
        assert!((gi - want).abs() < 1e-13, "ring {i}: {gi} vs {want}");
    }
    // Open chain: the end springs are missing, and x[0] is pinned.
    let go = eval(&open_g, &t)[3].to_f64_vec();
    for (i, gi) in go.iter().enumerate() {
        let mut want = 0.0;
        if i > 0 {
            want += s(i - 1, i);
        }
        if i + 1 < n {
            want -= s(i, i + 1);
        }
        if i == 0 {
            want += 2.0 * xs[0];
        }
        assert!((gi - want).abs() < 1e-13, "open {i}: {gi} vs {want}");
    }
}
