//! Every primitive gradchecked in f64 (reverse and forward mode against
//! central finite differences) at random points and shapes, including
//! broadcasting from size-1 dims and rank 0, reductions over several axes
//! and matmul in all its numpy forms. Relative error must be <= 1e-6.
mod common;

use adjoint_ir::{DType, Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint_passes::gradcheck::{gradcheck, GradCheckOptions};
use common::Rng;

fn f64t(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

/// Gradchecks `g` at random inputs in [lo, hi) and returns the worst
/// relative error.
fn check(g: &Graph, lo: f64, hi: f64, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let inputs: Vec<Tensor> = g
        .param_types()
        .iter()
        .map(|t| rng.tensor(t, lo, hi))
        .collect();
    let r = gradcheck(g, &inputs, &GradCheckOptions::default()).unwrap();
    assert!(r.pass, "@{}:\n{r}", g.name());
    assert!(r.max_rel() <= 1e-6, "@{}:\n{r}", g.name());
    r.max_rel()
}

/// A function of one or two params whose output is built by `f`, then
/// summed against fixed weights by gradcheck itself.
fn unary_graph(name: &str, shape: &[usize], f: impl for<'b> Fn(Value<'b>) -> Value<'b>) -> Graph {
    let b = GraphBuilder::new(name);
    let x = b.param("x", f64t(shape));
    b.build(&[f(x)]).unwrap()
}

fn binary_graph(
    name: &str,
    sa: &[usize],
    sb: &[usize],
    f: impl for<'b> Fn(Value<'b>, Value<'b>) -> Value<'b>,
) -> Graph {
    let b = GraphBuilder::new(name);
    let x = b.param("a", f64t(sa));
    let y = b.param("b", f64t(sb));
    b.build(&[f(x, y)]).unwrap()
}

#[test]
fn unary_ops() {
    let mut worst: f64 = 0.0;
    for shape in [&[][..], &[2, 3][..]] {
        worst = worst.max(check(&unary_graph("neg", shape, |x| -x), -2.0, 2.0, 1));
        worst = worst.max(check(&unary_graph("exp", shape, |x| x.exp()), -2.0, 2.0, 2));
        worst = worst.max(check(&unary_graph("log", shape, |x| x.ln()), 0.5, 3.0, 3));
        worst = worst.max(check(
            &unary_graph("sqrt", shape, |x| x.sqrt()),
            0.5,
            3.0,
            4,
        ));
        worst = worst.max(check(&unary_graph("sin", shape, |x| x.sin()), -3.0, 3.0, 5));
        worst = worst.max(check(&unary_graph("cos", shape, |x| x.cos()), -3.0, 3.0, 6));
        worst = worst.max(check(
            &unary_graph("tanh", shape, |x| x.tanh()),
            -2.0,
            2.0,
            7,
        ));
        worst = worst.max(check(
            &unary_graph("sigmoid", shape, |x| x.sigmoid()),
            -4.0,
            4.0,
            8,
        ));
        // Away from the kink at 0 (tested separately).
        worst = worst.max(check(&unary_graph("abs+", shape, |x| x.abs()), 0.2, 2.0, 9));
        worst = worst.max(check(
            &unary_graph("abs-", shape, |x| x.abs()),
            -2.0,
            -0.2,
            10,
        ));
        worst = worst.max(check(
            &unary_graph("relu+", shape, |x| x.relu()),
            0.2,
            2.0,
            11,
        ));
        worst = worst.max(check(
            &unary_graph("relu-", shape, |x| (x.relu() + x).exp()),
            -2.0,
            -0.2,
            12,
        ));
    }
    println!("unary: worst rel err {worst:.3e}");
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[], &[]),
        (&[2, 3], &[2, 3]),
        (&[2, 1, 3], &[4, 3]), // size-1 dim and missing leading dims
        (&[], &[3]),           // rank 0 against a vector
    ];
    let mut worst: f64 = 0.0;
    for (i, (sa, sb)) in shapes.iter().enumerate() {
        let s = 100 + 10 * i as u64;
        worst = worst.max(check(
            &binary_graph("add", sa, sb, |a, b| a + b),
            -2.0,
            2.0,
            s,
        ));
        worst = worst.max(check(
            &binary_graph("sub", sa, sb, |a, b| a - b),
            -2.0,
            2.0,
            s + 1,
        ));
        worst = worst.max(check(
            &binary_graph("mul", sa, sb, |a, b| a * b),
            -2.0,
            2.0,
            s + 2,
        ));
        worst = worst.max(check(
            &binary_graph("div", sa, sb, |a, b| a / b),
            0.5,
            2.0,
            s + 3,
        ));
        worst = worst.max(check(
            &binary_graph("pow", sa, sb, |a, b| a.pow(b)),
            0.5,
            2.0,
            s + 4,
        ));
        // Random reals: ties have probability 0.
        worst = worst.max(check(
            &binary_graph("max", sa, sb, |a, b| a.maximum(b)),
            -2.0,
            2.0,
            s + 5,
        ));
        worst = worst.max(check(
            &binary_graph("min", sa, sb, |a, b| a.minimum(b)),
            -2.0,
            2.0,
            s + 6,
        ));
    }
    // pow with a constant exponent (the specialised rule) and x*x.
    worst = worst.max(check(
        &unary_graph("pow3", &[4], |x| x.powf(3.0)),
        0.5,
        2.0,
        150,
    ));
    worst = worst.max(check(
        &unary_graph("pow2", &[4], |x| x.powf(2.0)),
        -2.0,
        2.0,
        151,
    ));
    worst = worst.max(check(
        &unary_graph("powm", &[4], |x| x.powf(-1.5)),
        0.5,
        2.0,
        152,
    ));
    worst = worst.max(check(&unary_graph("sq", &[4], |x| x * x), -2.0, 2.0, 153));
    println!("binary: worst rel err {worst:.3e}");
}

#[test]
fn select_and_compare() {
    let g = binary_graph("select", &[2, 3], &[3], |a, b| {
        let c = a.gt(b);
        c.select(a * a, b.sin())
    });
    let r = check(&g, -2.0, 2.0, 200);
    println!("select: {r:.3e}");
}

#[test]
fn shape_ops() {
    let mut worst: f64 = 0.0;
    let g = unary_graph("broadcast", &[3, 1], |x| x.broadcast_to([2, 3, 4]).sin());
    worst = worst.max(check(&g, -2.0, 2.0, 300));
    let g = unary_graph("broadcast0", &[], |x| x.broadcast_to([2, 3]).sin());
    worst = worst.max(check(&g, -2.0, 2.0, 301));
    let g = unary_graph("reshape", &[2, 6], |x| x.reshape([3, 4]).sin());
    worst = worst.max(check(&g, -2.0, 2.0, 302));
    let g = unary_graph("transpose", &[2, 3, 4], |x| x.transpose(&[2, 0, 1]).sin());
    worst = worst.max(check(&g, -2.0, 2.0, 303));
    let g = unary_graph("slice", &[5, 4], |x| x.slice(&[1, 0], &[4, 3]).sin());
    worst = worst.max(check(&g, -2.0, 2.0, 304));
    let g = unary_graph("slice_strided", &[9, 7], |x| {
        x.try_slice(&[1, 0], &[8, 7], &[2, 3]).unwrap().sin()
    });
    worst = worst.max(check(&g, -2.0, 2.0, 305));
    let g = unary_graph("slice_strided_end", &[10], |x| {
        x.try_slice(&[2], &[10], &[4]).unwrap().exp()
    });
    worst = worst.max(check(&g, -2.0, 2.0, 306));
    let g = unary_graph("pad", &[2, 3], |x| x.sin().pad(&[1, 0], &[2, 3]).exp());
    worst = worst.max(check(&g, -2.0, 2.0, 307));
    let b = GraphBuilder::new("concat");
    let x = b.param("x", f64t(&[2, 3]));
    let y = b.param("y", f64t(&[2, 1]));
    let z = b.param("z", f64t(&[2, 2]));
    let g = b.build(&[b.concat(&[x, y.sin(), z * z], 1).exp()]).unwrap();
    worst = worst.max(check(&g, -1.0, 1.0, 308));
    let g = unary_graph("reduce_sum", &[2, 3, 4], |x| x.sin().sum_axes(&[0, 2]));
    worst = worst.max(check(&g, -2.0, 2.0, 309));
    let g = unary_graph("reduce_sum_all", &[2, 3], |x| x.sin().sum());
    worst = worst.max(check(&g, -2.0, 2.0, 310));
    let g = unary_graph("reduce_max", &[3, 4], |x| x.max_axes(&[1]).exp());
    worst = worst.max(check(&g, -2.0, 2.0, 311));
    let g = unary_graph("reduce_max2", &[2, 3, 4], |x| x.max_axes(&[0, 2]).exp());
    worst = worst.max(check(&g, -2.0, 2.0, 312));
    let g = unary_graph("logsumexp", &[3, 4], |x| x.logsumexp(1));
    worst = worst.max(check(&g, -2.0, 2.0, 313));
    let g = unary_graph("softmax", &[3, 4], |x| x.softmax(1));
    worst = worst.max(check(&g, -2.0, 2.0, 314));
    println!("shape ops: worst rel err {worst:.3e}");
}

#[test]
fn cast_roundtrip() {
    // Promoted to f64 by gradcheck, the casts stay in the graph as f64->f64
    // identities; check the rule on a real f32 -> f64 cast separately.
    let b = GraphBuilder::new("cast");
    let x = b.param("x", TensorType::f32([3]));
    let g = b.build(&[x.cast(DType::F64).sin().sum()]).unwrap();
    let r = check(&g, -1.0, 1.0, 400);
    println!("cast: {r:.3e}");
}

#[test]
fn matmul_all_numpy_forms() {
    let forms: [(&[usize], &[usize]); 10] = [
        (&[4], &[4]),                // vector . vector -> scalar
        (&[4], &[4, 3]),             // vector @ matrix
        (&[2, 4], &[4]),             // matrix @ vector
        (&[2, 4], &[4, 3]),          // matrix @ matrix
        (&[5, 2, 4], &[4, 3]),       // batched @ matrix
        (&[2, 4], &[5, 4, 3]),       // matrix @ batched
        (&[4], &[5, 4, 3]),          // vector @ batched
        (&[5, 2, 4], &[4]),          // batched @ vector
        (&[2, 1, 3, 4], &[5, 4, 2]), // broadcast batch dims
        (&[1, 2, 4], &[3, 4, 2]),    // size-1 batch dim
    ];
    let mut worst: f64 = 0.0;
    for (i, (sa, sb)) in forms.iter().enumerate() {
        let g = binary_graph("matmul", sa, sb, |a, b| a.matmul(b));
        worst = worst.max(check(&g, -1.0, 1.0, 500 + i as u64));
    }
    println!("matmul: worst rel err {worst:.3e}");
}

fn custom_sigmoid(vjp_factor_is_right: bool) -> std::sync::Arc<adjoint_ir::CustomOp> {
    let b = GraphBuilder::new("sig_body");
    let x = b.param("x", f64t(&[3]));
    let body = b.build(&[1.0 / (1.0 + (-x).exp())]).unwrap();
    let rule = |name: &str, right: bool| {
        let b = GraphBuilder::new(name);
        let _x = b.param("x", f64t(&[3]));
        let y = b.param("y", f64t(&[3]));
        let c = b.param("c", f64t(&[3]));
        let f = if right { y * (1.0 - y) } else { y };
        b.build(&[c * f]).unwrap()
    };
    adjoint_ir::CustomOp::new(
        "sig",
        body,
        Some(rule("sig_vjp", vjp_factor_is_right)),
        Some(rule("sig_jvp", true)),
    )
    .unwrap()
}

#[test]
fn custom_calls() {
    let op = custom_sigmoid(true);
    let b = GraphBuilder::new("call");
    let x = b.param("x", f64t(&[3]));
    let g = b.build(&[b.call(&op, &[x.sin()]) * x]).unwrap();
    let r = check(&g, -2.0, 2.0, 600);
    println!("call: {r:.3e}");
}

#[test]
fn gradcheck_catches_a_wrong_rule() {
    // A custom op whose VJP rule is wrong (y instead of y(1-y)): reverse
    // mode fails the check, forward mode (right JVP) passes.
    let op = custom_sigmoid(false);
    let b = GraphBuilder::new("bad");
    let x = b.param("x", f64t(&[3]));
    let g = b.build(&[b.call(&op, &[x])]).unwrap();
    let mut rng = Rng(601);
    let xs = [rng.tensor(&f64t(&[3]), -1.0, 1.0)];
    let r = gradcheck(&g, &xs, &GradCheckOptions::default()).unwrap();
    assert!(!r.pass, "{r}");
    assert!(
        r.inputs[0].reverse_rel > 0.1 && r.inputs[0].forward_rel < 1e-8,
        "{r}"
    );
    assert!(r.to_string().contains("FAIL"));
}
