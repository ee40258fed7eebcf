//! The Jacobian graphs (auto, fwd, rev, and the Hessian from
//! `grad,jacobian{of=1}`) compiled by the JIT equal the interpreter's
//! results to 1e-12, relative to the Jacobian's largest entry.

use adjoint::interp::eval;
use adjoint::ir::{Graph, GraphBuilder, Tensor, TensorType};
use adjoint::jit::{compile, JitOptions};
use adjoint::passes::PassManager;

fn weight(m: usize, n: usize, seed: usize) -> Tensor {
    let data = (0..m * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            ((r * 7 + c * 3 + seed * 11) as f64).sin() / (n as f64).sqrt()
        })
        .collect();
    Tensor::from_f64([m, n], data).unwrap()
}

fn linspace(n: usize) -> Tensor {
    let v = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n.max(2) - 1) as f64)
        .collect();
    Tensor::from_f64([n], v).unwrap()
}

fn tanh_chain(widths: &[usize]) -> Graph {
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([widths[0]]));
    let mut h = x;
    for (i, w) in widths.windows(2).enumerate() {
        h = b.constant(weight(w[1], w[0], i)).matmul(h).tanh();
    }
    b.build(&[h]).unwrap()
}

fn check(g: &Graph, pipeline: &str, inputs: &[Tensor]) {
    let mut h = g.clone();
    PassManager::parse(pipeline).unwrap().run(&mut h).unwrap();
    let want = eval(&h, inputs).unwrap();
    for threads in [1, 2] {
        let opts = JitOptions {
            threads,
            ..JitOptions::default()
        };
        let f = compile(&h, &opts).unwrap();
        let got = f.run(inputs).unwrap();
        assert_eq!(got.len(), want.len());
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.shape(), b.shape(), "{pipeline}: output {k}");
            let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
            let scale = bv.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
            let err = av
                .iter()
                .zip(&bv)
                .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                err <= 1e-12 * scale,
                "{pipeline} (threads {threads}): output {k} differs by {err:e} (scale {scale:e})"
            );
        }
    }
}

#[test]
fn jit_jacobians_equal_the_interpreter() {
    for widths in [
        &[6, 2, 6, 2, 6][..],
        &[2, 6, 6, 2, 6, 2],
        &[10, 5, 4, 3, 2],
        &[80, 4, 80, 4, 80],
    ] {
        let g = tanh_chain(widths);
        let x = linspace(widths[0]);
        for mode in ["auto", "fwd", "rev"] {
            check(
                &g,
                &format!("jacobian{{mode={mode}}},simplify,cse,dce"),
                std::slice::from_ref(&x),
            );
            check(
                &g,
                &format!("jacobian{{mode={mode}}}"),
                std::slice::from_ref(&x),
            );
        }
    }
}

#[test]
fn jit_hessians_equal_the_interpreter() {
    let b = GraphBuilder::new("mlp");
    let w1 = b.param("W1", TensorType::f64([3, 4]));
    let w2 = b.param("W2", TensorType::f64([2, 3]));
    let x = b.constant(Tensor::from_f64([4], vec![0.5, -1.0, 0.25, 2.0]).unwrap());
    let t = b.constant(Tensor::from_f64([2], vec![0.1, -0.3]).unwrap());
    let out = w2.matmul(w1.matmul(x).tanh());
    let loss = ((out - t) * (out - t)).sum();
    let g = b.build(&[loss]).unwrap();
    let inputs = [weight(3, 4, 7), weight(2, 3, 8)];
    for mode in ["auto", "fwd", "rev"] {
        check(
            &g,
            &format!("grad{{wrt=W1}},jacobian{{of=1,wrt=W1,W2,mode={mode}}},simplify,cse,dce"),
            &inputs,
        );
    }
}
