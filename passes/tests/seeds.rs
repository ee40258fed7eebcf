//! The seed notes' examples, exactly.
mod common;

use adjoint_ir::{CustomOp, Graph, GraphBuilder, Tensor, TensorType, Value};
use common::{eval, run};
use std::sync::Arc;

#[test]
fn grad_of_x1_x2_plus_sin_x1_at_2_7() {
    let b = GraphBuilder::new("f");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let g = b.build(&[x1 * x2 + x1.sin()]).unwrap();
    for pipeline in ["grad", "grad,simplify,cse,dce,fold"] {
        let h = run(&g, pipeline);
        let out = eval(&h, &[Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)]);
        let grad: Vec<f64> = out[1..].iter().map(|t| t.scalar_value().unwrap()).collect();
        assert_eq!(grad, vec![6.583853163452858, 2.0], "{pipeline}");
    }
}

#[test]
fn product_of_sums() {
    // f(x) = (x + a)(x + b): df/da = x + b and df/db = x + a, exactly.
    let bl = GraphBuilder::new("f");
    let x = bl.param("x", TensorType::f64([3]));
    let a = bl.param("a", TensorType::f64([3]));
    let b = bl.param("b", TensorType::f64([3]));
    let g = bl.build(&[((x + a) * (x + b)).sum()]).unwrap();
    let h = run(&g, "grad{wrt=a,b},simplify,cse,dce");
    let xs = [
        Tensor::from_f64([3], vec![0.5, -1.25, 3.0]).unwrap(),
        Tensor::from_f64([3], vec![2.0, 0.75, -4.5]).unwrap(),
        Tensor::from_f64([3], vec![-1.5, 6.0, 0.125]).unwrap(),
    ];
    let out = eval(&h, &xs);
    let (xv, av, bv) = (xs[0].to_f64_vec(), xs[1].to_f64_vec(), xs[2].to_f64_vec());
    let x_plus_b: Vec<f64> = xv.iter().zip(&bv).map(|(x, b)| x + b).collect();
    let x_plus_a: Vec<f64> = xv.iter().zip(&av).map(|(x, a)| x + a).collect();
    assert_eq!(out[1].to_f64_vec(), x_plus_b);
    assert_eq!(out[2].to_f64_vec(), x_plus_a);
    // And they are literally the primal sums: after cse, the gradient
    // outputs are the forward pass's own `x + b` and `x + a` nodes.
    let prod = h.operands(h.outputs()[0])[0];
    assert_eq!(h[prod].op.name(), "mul");
    let factors = h.operands(prod);
    assert!(factors.contains(&h.outputs()[1]) && factors.contains(&h.outputs()[2]));
}

/// s(x) = 1 / (1 + exp(-x)) from primitives.
fn s_prim(x: Value<'_>) -> Value<'_> {
    1.0 / (1.0 + (-x).exp())
}

/// The custom sigmoid: body from primitives, VJP `ct·y(1−y)` and JVP
/// `t·y(1−y)` reusing the forward `y`.
fn custom_sigmoid() -> Arc<CustomOp> {
    let b = GraphBuilder::new("sigmoid_body");
    let x = b.param("x", TensorType::f64([]));
    let body = b.build(&[s_prim(x)]).unwrap();
    let rule = |name: &str, last: &str| -> Graph {
        let b = GraphBuilder::new(name);
        let _x = b.param("x", TensorType::f64([]));
        let y = b.param("y", TensorType::f64([]));
        let c = b.param(last, TensorType::f64([]));
        b.build(&[c * (y * (1.0 - y))]).unwrap()
    };
    CustomOp::new(
        "sigmoid_c",
        body,
        Some(rule("sigmoid_vjp", "ct")),
        Some(rule("sigmoid_jvp", "t")),
    )
    .unwrap()
}

fn chain_prim() -> Graph {
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([]));
    b.build(&[s_prim(s_prim(s_prim(x)))]).unwrap()
}

fn chain_custom() -> Graph {
    let op = custom_sigmoid();
    let b = GraphBuilder::new("chain_c");
    let x = b.param("x", TensorType::f64([]));
    let s1 = b.call(&op, &[x]);
    let s2 = b.call(&op, &[s1]);
    let s3 = b.call(&op, &[s2]);
    b.build(&[s3]).unwrap()
}

fn grad_at(g: &Graph, x: f64) -> f64 {
    eval(g, &[Tensor::scalar_f64(x)])[1].scalar_value().unwrap()
}

#[test]
fn sigmoid_chain_custom_rule_vs_primitives() {
    let p = run(&chain_prim(), "grad,simplify,cse,dce");
    let c = run(&chain_custom(), "grad,simplify,cse,dce");
    // Forward mode through the custom JVP too.
    let cf = run(&chain_custom(), "jvp,simplify,cse,dce");
    for x in [0.7, -2.3, 4.0] {
        let (gp, gc) = (grad_at(&p, x), grad_at(&c, x));
        let gf = eval(&cf, &[Tensor::scalar_f64(x), Tensor::scalar_f64(1.0)])[1]
            .scalar_value()
            .unwrap();
        assert!(((gp - gc) / gp).abs() <= 1e-12, "x={x}: {gp} vs {gc}");
        assert!(((gf - gc) / gc).abs() <= 1e-12, "x={x}: {gf} vs {gc}");
    }
    // The custom rule's gradient graph is smaller.
    assert!(
        c.len() < p.len(),
        "custom {} nodes vs primitives {}",
        c.len(),
        p.len()
    );
    // At x = 100: sigma(100) rounds to exactly 1.0 in f64 (e^-100 ~ 3.7e-44
    // is far below half an ulp of 1), so the rule's y(1-y) is exactly 0;
    // the primitive chain differentiates 1/(1+e^-x) and keeps the tiny
    // e^-x factor: e^-100 * s'(1) * s'(s(1)) = 1.6e-45.
    let (gp, gc) = (grad_at(&p, 100.0), grad_at(&c, 100.0));
    assert_eq!(gc, 0.0);
    assert!(gp > 1.5e-45 && gp < 1.7e-45, "{gp:e}");
    println!(
        "sigmoid^3: custom graph {} nodes, primitives {} nodes; at 100: custom {gc:e}, primitives {gp:e}",
        c.len(),
        p.len()
    );
}

#[test]
fn sigmoid_op_rule_reuses_the_forward_value() {
    // The built-in `sigmoid` op's rule is y(1-y) on the forward y, so it
    // behaves like the custom rule (exactly 0 at 100).
    let b = GraphBuilder::new("chain_op");
    let x = b.param("x", TensorType::f64([]));
    let g = b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap();
    let h = run(&g, "grad,simplify,cse,dce");
    assert_eq!(grad_at(&h, 100.0), 0.0);
    let c = run(&chain_custom(), "grad,simplify,cse,dce");
    for x in [0.7, -2.3, 4.0] {
        let (a, b) = (grad_at(&h, x), grad_at(&c, x));
        assert!(((a - b) / b).abs() <= 1e-12);
    }
}
