//! After `grad,simplify,cse,dce` the gradients of Rosenbrock and the W4 MLP
//! contain no node a hand-written adjoint would not need: the node counts
//! and the op mix of the adjoint part are pinned here (and quoted in
//! docs/passes.md).
mod common;

use adjoint_ir::{Graph, Tensor, TensorType};
use adjoint_passes::gradcheck::{gradcheck, GradCheckOptions};
use common::{eval, mlp, rosenbrock, run, Rng};
use std::collections::BTreeMap;

/// Op counts of the nodes `h` has that `g` did not (the adjoint part).
fn added_ops(g: &Graph, h: &Graph) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for n in h.node_ids() {
        if !g.contains(n) || g[n].op != h[n].op {
            *m.entry(h[n].op.name()).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn rosenbrock_gradient_is_minimal() {
    let g = rosenbrock(1000);
    assert_eq!(g.len(), 15);
    let raw = run(&g, "grad");
    let h = run(&g, "grad,simplify,cse,dce");
    println!(
        "rosenbrock: primal {} nodes, grad {} nodes, after clean-up {}",
        g.len(),
        raw.len(),
        h.len()
    );
    assert_eq!(raw.len(), 34);
    assert_eq!(h.len(), 25);
    // The adjoint: 100·d+100·d = 200·d (g[1:]), (−200·d)·x[:-1] twice and
    // −2·(1 − x[:-1]) for g[:-1], two pads and their sum. No seed, no
    // multiplication by one, no broadcast or reshape.
    let want: BTreeMap<&str, usize> = [("add", 4), ("mul", 2), ("neg", 1), ("pad", 2), ("sub", 1)]
        .into_iter()
        .collect();
    assert_eq!(added_ops(&g, &h), want, "{}", adjoint_ir::print_graph(&h));
    // And it is right: x = linspace(-1, 1, n).
    let n = 1000;
    let x: Vec<f64> = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect();
    let out = eval(&h, &[Tensor::from_f64([n], x.clone()).unwrap()]);
    let gr = out[1].to_f64_vec();
    for i in 0..n {
        let mut want = 0.0;
        if i + 1 < n {
            want += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        }
        if i > 0 {
            want += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
        }
        assert!(
            (gr[i] - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{i}: {} vs {want}",
            gr[i]
        );
    }
}

#[test]
fn mlp_gradient_is_minimal() {
    let g = mlp(128, [784, 256, 256, 10], true);
    // 36 nodes, and 7 for logsumexp's guard of a non-finite max
    // (abs, lt, select, two constants, two broadcasts).
    assert_eq!(g.len(), 43);
    let p = "grad{wrt=w1,b1,w2,b2,w3,b3}";
    let raw = run(&g, p);
    let h = run(&g, &format!("{p},simplify,fold,cse,dce"));
    println!(
        "mlp: primal {} nodes, grad {} nodes, after clean-up {}",
        g.len(),
        raw.len(),
        h.len()
    );
    assert_eq!(h.len(), 76);
    // No adjoint flows through the max of the stable log-sum-exp (no
    // eq/cast/mask), and every matmul, transpose, reduction and elementwise
    // op is one a hand-written backward pass has:
    // - dlogits = softmax·rowsum(y)/B − y/B: const, broadcast, mul, neg,
    //   reduce_sum, 2×reshape, 2×broadcast, div (softmax = e/s), mul, add;
    // - per layer: dW = hᵀ·dz (transpose, matmul), db = Σ_batch dz
    //   (reduce_sum), dh = dz·Wᵀ (transpose, matmul) except for the first
    //   layer, and dz = dh·(1 − h²) for tanh (2×mul, sub; the broadcast 1
    //   is shared).
    let want: BTreeMap<&str, usize> = [
        ("add", 1),
        ("broadcast", 4),
        ("const", 2),
        ("div", 1),
        ("matmul", 5),
        ("mul", 6),
        ("neg", 1),
        ("reduce_sum", 4),
        ("reshape", 2),
        ("sub", 2),
        ("transpose", 5),
    ]
    .into_iter()
    .collect();
    assert_eq!(added_ops(&g, &h), want, "{}", adjoint_ir::print_graph(&h));
}

#[test]
fn mlp_gradient_checks_in_f64() {
    // A small MLP of the same structure, promoted to f64 by gradcheck.
    let g = mlp(3, [5, 4, 4, 3], true);
    let mut r = Rng(9);
    let mut xs: Vec<Tensor> = g
        .param_types()
        .iter()
        .map(|t| r.tensor(t, -1.0, 1.0))
        .collect();
    // One-hot labels.
    let mut y = vec![0.0; 9];
    for (b, c) in [(0, 2), (1, 0), (2, 1)] {
        y[b * 3 + c] = 1.0;
    }
    xs[7] = Tensor::from_f64_as(&TensorType::f32([3, 3]), &y).unwrap();
    let opts = GradCheckOptions {
        wrt: Some(
            ["w1", "b1", "w2", "b2", "w3", "b3"]
                .map(String::from)
                .to_vec(),
        ),
        ..GradCheckOptions::default()
    };
    let rep = gradcheck(&g, &xs, &opts).unwrap();
    println!("{rep}");
    assert!(rep.pass && rep.max_rel() <= 1e-6, "{rep}");
}

#[test]
fn log_sum_exp_is_differentiated_as_a_whole_in_both_modes() {
    let g = mlp(4, [6, 5, 5, 3], false);
    let masks = |h: &Graph| common::op_counts(h).get("eq").copied().unwrap_or(0);
    assert_eq!(masks(&run(&g, "grad")), 0);
    assert_eq!(masks(&run(&g, "jvp")), 0);
    // ... and the values match differentiating through the max.
    let mut r = Rng(3);
    let xs: Vec<Tensor> = g
        .param_types()
        .iter()
        .map(|t| r.tensor(t, -1.0, 1.0))
        .collect();
    let vs: Vec<Tensor> = g
        .param_types()
        .iter()
        .map(|t| r.tensor(t, -1.0, 1.0))
        .collect();
    let mut args = xs.clone();
    args.extend(vs.iter().cloned());
    let jv = eval(&run(&g, "jvp"), &args)[1].scalar_value().unwrap();
    let grads = eval(&run(&g, "grad"), &xs);
    let gv: f64 = (0..vs.len())
        .map(|i| {
            grads[1 + i]
                .to_f64_vec()
                .iter()
                .zip(vs[i].to_f64_vec())
                .map(|(a, b)| a * b)
                .sum::<f64>()
        })
        .sum();
    assert!(((jv - gv) / gv).abs() < 1e-12, "{jv} vs {gv}");
    // Seeded inside the composite (at the max), the library functions
    // differentiate the parts: d lse / d m = 1 - sum(softmax) = 0 (to
    // rounding), not a missing value.
    let b = adjoint_ir::GraphBuilder::new("lse");
    let x = b.param("x", TensorType::f64([5]));
    let g = b.build(&[x.logsumexp(0)]).unwrap();
    let mut h = g.clone();
    let m = h
        .node_ids()
        .into_iter()
        .find(|&n| h[n].op.name() == "reduce_max")
        .unwrap();
    let y = h.outputs()[0];
    let one = adjoint_passes::emit::full(&mut h, &TensorType::f64([]), 1.0).unwrap();
    let c = adjoint_passes::reverse::backpropagate(&mut h, &[(y, one)], &[m], &[]).unwrap();
    let node = c[0].node().expect("a cotangent reaches m");
    h.set_outputs(vec![node]);
    let v = eval(
        &h,
        &[Tensor::from_f64([5], vec![0.1, 2.0, -1.0, 0.5, 1.5]).unwrap()],
    );
    assert!(v[0].scalar_value().unwrap().abs() < 1e-15);
}
