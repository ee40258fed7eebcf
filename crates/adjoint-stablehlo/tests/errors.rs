//! Bad input at export time: a graph the verifier rejects is an error that
//! names the op and the shapes, never a module (which the engines would
//! reject, or worse, run).

use adjoint_ir::{BinaryOp, DType, Graph, Op, TensorType};

/// A graph of `params` whose one output is `op` over all of them, declared
/// with type `declared` (skipping the builder's checks).
fn bad(op: Op, params: &[TensorType], declared: TensorType) -> Graph {
    let mut g = Graph::new("bad");
    let ps: Vec<_> = params
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_param(format!("p{i}"), t.clone()).unwrap())
        .collect();
    g.add_unchecked(op, declared, &ps);
    let last = *g.node_ids().last().unwrap();
    g.set_outputs(vec![last]);
    g
}

fn export_err(g: &Graph) -> String {
    match adjoint_stablehlo::export(g) {
        Ok(text) => panic!("exported a graph the verifier rejects:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn has(msg: &str, needles: &[&str]) {
    for n in needles {
        assert!(msg.contains(n), "`{n}` missing from the error: {msg}");
    }
}

#[test]
fn a_wrongly_typed_add_names_the_op_and_shapes() {
    let f = TensorType::f64([2]);
    let e = export_err(&bad(
        Op::Binary(BinaryOp::Add),
        &[f.clone(), f],
        TensorType::f64([3]),
    ));
    has(&e, &["add", "f64[2]", "f64[3]"]);
}

#[test]
fn a_matmul_of_mismatched_shapes_names_the_op_and_shapes() {
    let e = export_err(&bad(
        Op::MatMul,
        &[TensorType::f64([2, 3]), TensorType::f64([4, 5])],
        TensorType::f64([2, 5]),
    ));
    has(&e, &["matmul", "f64[2,3]", "f64[4,5]"]);
}

#[test]
fn a_cast_to_bool_is_refused() {
    let e = export_err(&bad(
        Op::Cast { to: DType::Bool },
        &[TensorType::f64([2])],
        TensorType::new(DType::Bool, vec![2]),
    ));
    has(&e, &["cast", "bool"]);
}

#[test]
fn a_select_with_a_float_mask_is_refused() {
    let f = TensorType::f64([2]);
    let e = export_err(&bad(Op::Select, &[f.clone(), f.clone(), f.clone()], f));
    has(&e, &["select", "f64[2]"]);
}

#[test]
fn arithmetic_on_bool_is_refused() {
    let b = TensorType::new(DType::Bool, vec![3]);
    let e = export_err(&bad(Op::Binary(BinaryOp::Mul), &[b.clone(), b.clone()], b));
    has(&e, &["mul", "bool[3]"]);
}
