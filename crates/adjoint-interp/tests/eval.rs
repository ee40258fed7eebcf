//! Whole-graph evaluation: input checking, outputs, dead code, custom op
//! calls, and errors (never panics) on malformed graphs.

mod common;

use adjoint_interp::{eval, eval_node};
use adjoint_ir::{
    BinaryOp, CustomOp, DType, ErrorKind, Graph, GraphBuilder, Op, Tensor, TensorType, UnaryOp,
};
use common::*;

fn seed() -> Graph {
    let b = GraphBuilder::new("f");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([2, 3]));
    b.build(&[x2 * x1]).unwrap()
}

#[test]
fn wrong_input_count_names_the_parameters() {
    let e = eval(&seed(), &[Tensor::scalar_f64(1.0)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Eval);
    for want in ["@f", "2 inputs", "%x1: f64", "%x2: f64[2,3]", "got 1"] {
        assert!(e.message.contains(want), "{want:?} not in {:?}", e.message);
    }
    let e = eval(&seed(), &[]).unwrap_err();
    assert!(e.message.contains("got 0"), "{}", e.message);
}

#[test]
fn wrong_input_dtype_names_parameter_and_both_types() {
    let e = eval(&seed(), &[Tensor::scalar_f32(1.0), f64t([2, 3], &[0.0; 6])]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Eval);
    for want in ["%x1", "expects f64", "got f32"] {
        assert!(e.message.contains(want), "{want:?} not in {:?}", e.message);
    }
}

#[test]
fn wrong_input_shape_names_parameter_and_both_types() {
    let e = eval(&seed(), &[Tensor::scalar_f64(1.0), f64t([3, 2], &[0.0; 6])]).unwrap_err();
    for want in ["%x2", "expects f64[2,3]", "got f64[3,2]"] {
        assert!(e.message.contains(want), "{want:?} not in {:?}", e.message);
    }
    let e = eval(
        &seed(),
        &[Tensor::scalar_f64(1.0), boolt([2, 3], &[true; 6])],
    )
    .unwrap_err();
    assert!(e.message.contains("got bool[2,3]"), "{}", e.message);
}

#[test]
fn outputs_in_order_with_repeats_and_parameters() {
    let b = GraphBuilder::new("g");
    let x = b.param("x", TensorType::f64([2]));
    let y = b.param("y", TensorType::f64([2]));
    let s = x + y;
    let g = b.build(&[s, y, s, x.exp()]).unwrap();
    let out = eval(&g, &[f64t([2], &[1.0, 2.0]), f64t([2], &[10.0, 20.0])]).unwrap();
    assert_eq!(out.len(), 4);
    assert_f64(&out[0], &[2], &[11.0, 22.0]);
    assert_f64(&out[1], &[2], &[10.0, 20.0]);
    assert_f64(&out[2], &[2], &[11.0, 22.0]);
    assert_close_f64(out[3].as_f64().unwrap()[0], std::f64::consts::E, 1);
}

#[test]
fn no_outputs_and_constants_only() {
    let b = GraphBuilder::new("c");
    let k = b.constant(f64t([2, 2], &[1.0, 2.0, 3.0, 4.0]));
    let g = b.build(&[k.t()]).unwrap();
    let out = eval(&g, &[]).unwrap();
    assert_f64(&out[0], &[2, 2], &[1.0, 3.0, 2.0, 4.0]);
    let g = GraphBuilder::new("e").build(&[]).unwrap();
    assert!(eval(&g, &[]).unwrap().is_empty());
}

#[test]
fn values_used_many_times_survive_until_their_last_use() {
    // h is used by four nodes evaluated at different times.
    let b = GraphBuilder::new("reuse");
    let x = b.param("x", TensorType::f64([3]));
    let h = x * 2.0;
    let a = h + 1.0;
    let c = a * h;
    let d = c - h;
    let e = d / h;
    let g = b.build(&[e, a]).unwrap();
    let out = eval(&g, &[f64t([3], &[1.0, 2.0, 3.0])]).unwrap();
    // h = 2x, a = 2x + 1, c = (2x+1) 2x, d = c - 2x = 4x^2, e = 2x.
    assert_f64(&out[0], &[3], &[2.0, 4.0, 6.0]);
    assert_f64(&out[1], &[3], &[3.0, 5.0, 7.0]);
}

#[test]
fn dead_nodes_are_not_evaluated() {
    // A dead node whose evaluation would fail (its recorded type is wrong)
    // does not stop evaluation, because the outputs do not need it.
    let mut g = Graph::new("dead");
    let x = g.add_param("x", TensorType::f64([2])).unwrap();
    let _dead = g.add_unchecked(Op::Unary(UnaryOp::Exp), TensorType::f64([5]), &[x]);
    let y = g.add(Op::Unary(UnaryOp::Neg), &[x]).unwrap();
    g.set_outputs(vec![y]);
    let out = eval(&g, &[f64t([2], &[1.0, -2.0])]).unwrap();
    assert_f64(&out[0], &[2], &[-1.0, 2.0]);
}

#[test]
fn malformed_graph_is_an_error_not_a_panic() {
    let mut g = Graph::new("bad");
    let x = g.add_param("x", TensorType::f64([2])).unwrap();
    let y = g.add_unchecked(Op::Unary(UnaryOp::Exp), TensorType::f64([5]), &[x]);
    g.set_outputs(vec![y]);
    let e = eval(&g, &[f64t([2], &[1.0, 2.0])]).unwrap_err();
    for want in ["@bad", "exp", "f64[2]", "f64[5]"] {
        assert!(e.message.contains(want), "{want:?} not in {:?}", e.message);
    }
    // Wrong arity.
    let mut g = Graph::new("arity");
    let x = g.add_param("x", TensorType::f64([2])).unwrap();
    let y = g.add_unchecked(Op::Binary(BinaryOp::Add), TensorType::f64([2]), &[x]);
    g.set_outputs(vec![y]);
    let e = eval(&g, &[f64t([2], &[1.0, 2.0])]).unwrap_err();
    assert!(e.message.contains("add"), "{}", e.message);
    // A constant whose node type disagrees with the tensor.
    let mut g = Graph::new("k");
    let k = g.add_unchecked(Op::Const(Tensor::scalar_f64(1.0)), TensorType::f32([]), &[]);
    g.set_outputs(vec![k]);
    assert!(eval(&g, &[]).is_err());
}

#[test]
fn eval_node_checks_types_and_rejects_param() {
    let a = f64t([2], &[1.0, 2.0]);
    let e = eval_node(&Op::Param { index: 0 }, &TensorType::f64([2]), &[]).unwrap_err();
    assert!(e.message.contains("param"), "{}", e.message);
    let e = eval_node(&Op::Unary(UnaryOp::Exp), &TensorType::f64([3]), &[&a]).unwrap_err();
    assert!(
        e.message.contains("f64[3]") && e.message.contains("f64[2]"),
        "{}",
        e.message
    );
    let e = eval_node(
        &Op::Unary(UnaryOp::Exp),
        &TensorType::bool([2]),
        &[&boolt([2], &[true, false])],
    )
    .unwrap_err();
    assert!(e.message.contains("exp"), "{}", e.message);
    let e = eval_node(
        &Op::MatMul,
        &TensorType::f64([]),
        &[&a, &f64t([3], &[0.0; 3])],
    )
    .unwrap_err();
    assert!(e.message.contains("matmul"), "{}", e.message);
    let c = Tensor::scalar_f32(4.0);
    assert_eq!(eval_node(&Op::Const(c.clone()), &c.ty(), &[]).unwrap(), c);
}

fn softplus() -> std::sync::Arc<CustomOp> {
    let b = GraphBuilder::new("softplus_body");
    let x = b.param("x", TensorType::f64([2]));
    let body = b.build(&[(x.exp() + 1.0).log()]).unwrap();
    CustomOp::new("softplus", body, None, None).unwrap()
}

#[test]
fn custom_op_call_evaluates_its_body() {
    let sp = softplus();
    let b = GraphBuilder::new("main");
    let x = b.param("x", TensorType::f64([2]));
    let y = b.call(&sp, &[x]) * 2.0;
    let g = b.build(&[y]).unwrap();
    let out = eval(&g, &[f64t([2], &[0.0, -800.0])]).unwrap();
    let v = out[0].as_f64().unwrap();
    assert_close_f64(v[0], 2.0 * std::f64::consts::LN_2, 1);
    assert_eq!(v[1], 0.0);
}

#[test]
fn nested_custom_ops_with_two_operands() {
    let sp = softplus();
    // outer(a, b) = softplus(a) - b
    let b = GraphBuilder::new("outer_body");
    let p = b.param("a", TensorType::f64([2]));
    let q = b.param("b", TensorType::f64([2]));
    let body = b.build(&[b.call(&sp, &[p]) - q]).unwrap();
    let outer = CustomOp::new("outer", body, None, None).unwrap();
    let b = GraphBuilder::new("main");
    let x = b.param("x", TensorType::f64([2]));
    let z = b.param("z", TensorType::f64([2]));
    let g = b.build(&[b.call(&outer, &[x, z])]).unwrap();
    let out = eval(&g, &[f64t([2], &[0.0, 0.0]), f64t([2], &[1.0, -1.0])]).unwrap();
    let v = out[0].as_f64().unwrap();
    assert_close_f64(v[0], std::f64::consts::LN_2 - 1.0, 2);
    assert_close_f64(v[1], std::f64::consts::LN_2 + 1.0, 2);
    // eval_node on the call directly.
    let xs = f64t([2], &[0.0, 0.0]);
    let zs = f64t([2], &[1.0, -1.0]);
    let r = eval_node(
        &Op::Call(adjoint_ir::CustomRef(outer.clone())),
        &TensorType::f64([2]),
        &[&xs, &zs],
    )
    .unwrap();
    assert_eq!(&r, &out[0]);
}

#[test]
fn mlp_layer_end_to_end() {
    // relu(x @ w + b) and its sum: small enough to check by hand.
    let bld = GraphBuilder::new("layer");
    let x = bld.param("x", TensorType::f32([2, 2]));
    let w = bld.param("w", TensorType::f32([2, 3]));
    let bias = bld.param("b", TensorType::f32([3]));
    let t = (x.matmul(w) + bias).relu();
    let g = bld.build(&[t.sum(), t]).unwrap();
    let out = eval(
        &g,
        &[
            f32t([2, 2], &[1.0, 2.0, -1.0, 0.5]),
            f32t([2, 3], &[1.0, 0.0, -1.0, 0.5, 1.0, 2.0]),
            f32t([3], &[0.0, -1.0, 0.25]),
        ],
    )
    .unwrap();
    // x @ w = [[2, 2, 3], [-0.75, 0.5, 2]]; + b = [[2, 1, 3.25], [-0.75, -0.5, 2.25]].
    assert_f32(&out[1], &[2, 3], &[2.0, 1.0, 3.25, 0.0, 0.0, 2.25]);
    assert_f32(&out[0], &[], &[8.5]);
    assert_eq!(out[0].dtype(), DType::F32);
}
