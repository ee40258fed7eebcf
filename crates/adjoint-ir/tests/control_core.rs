//! The graph-level core of the control-flow ops: result types, body
//! signature checks, and the projection invariants the verifier enforces.

use adjoint_ir::{
    verify, BinaryOp, BodyRef, CompareOp, DType, Graph, GraphBuilder, LogicalOp, NodeId, Op,
    TensorType,
};

fn f64s(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

/// `(c: f64[2], x: f64[2], k: f64[]) -> (c + x*k, sum(c))`
fn step() -> BodyRef {
    let b = GraphBuilder::new("step");
    let c = b.param("c", f64s(&[2]));
    let x = b.param("x", f64s(&[2]));
    let k = b.param("k", f64s(&[]));
    let nc = c + x * k;
    let y = c.sum();
    BodyRef::new(b.build(&[nc, y]).unwrap())
}

/// Adds parameters `c0: f64[2]`, `xs: f64[5, 2]`, `k: f64[]` to `g` and a
/// scan of [`step`] on them (5 trips); returns its results.
fn step_scan(g: &mut Graph) -> Vec<NodeId> {
    let c0 = g.add_param("c0", f64s(&[2])).unwrap();
    let xs = g.add_param("xs", f64s(&[5, 2])).unwrap();
    let k = g.add_param("k", f64s(&[])).unwrap();
    let op = Op::Scan {
        body: step(),
        carry: 1,
        xs: 1,
        length: 5,
        reverse: false,
    };
    g.add_multi(op, &[c0, xs, k]).unwrap()
}

#[test]
fn scan_results_are_the_carries_and_the_stacked_ys() {
    let mut g = Graph::new("f");
    let r = step_scan(&mut g);
    assert_eq!(r.len(), 2);
    assert_eq!(g.ty(r[0]), &f64s(&[2]));
    assert_eq!(g.ty(r[1]), &f64s(&[5]));
    let node = g.operands(r[0])[0];
    assert_eq!(g.projections(node), vec![Some(r[0]), Some(r[1])]);
    assert_eq!(g.result_types(node).unwrap(), vec![f64s(&[2]), f64s(&[5])]);
    g.set_outputs(vec![r[1], r[0]]);
    verify(&g).unwrap();
}

#[test]
fn scan_signature_errors_name_the_op_and_the_function() {
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", f64s(&[2])).unwrap();
    let xs = g.add_param("xs", f64s(&[5, 2])).unwrap();
    let ys = g.add_param("ys", f64s(&[4, 2])).unwrap();
    let k = g.add_param("k", f64s(&[])).unwrap();
    let scan = |length, xs| Op::Scan {
        body: step(),
        carry: 1,
        xs,
        length,
        reverse: false,
    };
    // Leading dimension differs from the length.
    let e = g.add_multi(scan(4, 1), &[c0, xs, k]).unwrap_err();
    assert!(
        e.message.contains("scan") && e.message.contains("leading dimension 5"),
        "{e}"
    );
    // Two scanned inputs that disagree (the body takes one, so use the length check).
    let e = g.add_multi(scan(5, 1), &[c0, ys, k]).unwrap_err();
    assert!(e.message.contains("leading dimension 4"), "{e}");
    // Wrong invariant type.
    let e = g.add_multi(scan(5, 1), &[c0, xs, c0]).unwrap_err();
    assert!(
        e.message.contains("body=@step") && e.message.contains("must take"),
        "{e}"
    );
    // More carries and xs than operands.
    let e = g
        .add_multi(
            Op::Scan {
                body: step(),
                carry: 3,
                xs: 1,
                length: 5,
                reverse: false,
            },
            &[c0, xs],
        )
        .unwrap_err();
    assert!(
        e.message.contains("carry=3") || e.message.contains("operands"),
        "{e}"
    );
}

#[test]
fn a_body_that_changes_a_carry_type_is_an_error() {
    let b = GraphBuilder::new("grow");
    let c = b.param("c", f64s(&[]));
    let bad = c.cast(DType::F32);
    let body = BodyRef::new(b.build(&[bad]).unwrap());
    let p = GraphBuilder::new("p");
    let c = p.param("c", f64s(&[]));
    let t = c.lt(c);
    let pred = BodyRef::new(p.build(&[t]).unwrap());
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", f64s(&[])).unwrap();
    let op = Op::While {
        cond: pred,
        body,
        carry: 1,
        max_trips: None,
    };
    let e = g.add_multi(op, &[c0]).unwrap_err();
    assert!(
        e.message.contains("while") && e.message.contains("@grow") && e.message.contains("f32"),
        "{e}"
    );
}

#[test]
fn cond_checks_the_predicate_and_the_branches() {
    let branch = |name: &str, ty: TensorType| {
        let b = GraphBuilder::new(name);
        let x = b.param("x", f64s(&[]));
        let y = if ty.dtype == DType::F32 {
            x.cast(DType::F32)
        } else {
            x.sin()
        };
        BodyRef::new(b.build(&[y]).unwrap())
    };
    let mut g = Graph::new("f");
    let p = g
        .add_param("p", TensorType::new(DType::Bool, vec![]))
        .unwrap();
    let x = g.add_param("x", f64s(&[])).unwrap();
    let good = Op::Cond {
        then: branch("t", f64s(&[])),
        els: branch("e", f64s(&[])),
    };
    let r = g.add_multi(good.clone(), &[p, x]).unwrap();
    g.set_outputs(r.clone());
    verify(&g).unwrap();
    // A float predicate.
    let e = g.add_multi(good, &[x, x]).unwrap_err();
    assert!(
        e.message.contains("cond") && e.message.contains("bool[]"),
        "{e}"
    );
    // Branch results differ.
    let bad = Op::Cond {
        then: branch("t", f64s(&[])),
        els: branch("e32", TensorType::f32(vec![])),
    };
    let e = g.add_multi(bad, &[p, x]).unwrap_err();
    assert!(
        e.message.contains("@t") && e.message.contains("@e32"),
        "{e}"
    );
}

#[test]
fn the_verifier_rejects_direct_uses_of_a_multi_result_node() {
    let mut g = Graph::new("f");
    let r = step_scan(&mut g);
    let node = g.operands(r[0])[0];
    // As an output.
    g.set_outputs(vec![node]);
    let e = verify(&g).unwrap_err();
    assert!(
        e.message.contains("output 0") && e.message.contains("scan"),
        "{e}"
    );
    // As an operand.
    let bad = g.add_unchecked(Op::Binary(BinaryOp::Add), f64s(&[2]), &[node, node]);
    g.set_outputs(vec![bad]);
    let e = verify(&g).unwrap_err();
    assert!(e.message.contains("uses the node itself"), "{e}");
    g.remove_node(bad).unwrap();
    // A second projection of one result.
    let dup = g.add_unchecked(Op::Project { index: 0 }, f64s(&[2]), &[node]);
    g.set_outputs(vec![dup]);
    let e = verify(&g).unwrap_err();
    assert!(e.message.contains("more than one projection"), "{e}");
    g.remove_node(dup).unwrap();
    // A projection of a wrong type, and one out of range.
    let wrong = g.add_unchecked(Op::Project { index: 7 }, f64s(&[2]), &[node]);
    g.set_outputs(vec![wrong]);
    let e = verify(&g).unwrap_err();
    assert!(e.message.contains("2 results"), "{e}");
}

#[test]
fn add_refuses_multi_result_ops_and_bodies_are_verified() {
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", f64s(&[2])).unwrap();
    let e = g
        .add(
            Op::Scan {
                body: step(),
                carry: 1,
                xs: 0,
                length: 3,
                reverse: false,
            },
            &[c0],
        )
        .unwrap_err();
    assert!(e.message.contains("add_multi"), "{e}");
    // A body with a wrong recorded type is caught through the loop.
    let mut body = Graph::new("broken");
    let c = body.add_param("c", f64s(&[])).unwrap();
    let s = body.add_unchecked(Op::Unary(adjoint_ir::UnaryOp::Sin), f64s(&[3]), &[c]);
    body.set_outputs(vec![s]);
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", f64s(&[])).unwrap();
    let node = g.add_unchecked(
        Op::Scan {
            body: BodyRef::new(body),
            carry: 0,
            xs: 0,
            length: 2,
            reverse: false,
        },
        f64s(&[2, 3]),
        &[c0],
    );
    let p = g.add_unchecked(Op::Project { index: 0 }, f64s(&[2, 3]), &[node]);
    g.set_outputs(vec![p]);
    let e = verify(&g).unwrap_err();
    assert!(e.message.contains("@broken"), "{e}");
}

#[test]
fn iota_and_logical_types() {
    let mut g = Graph::new("f");
    let i = g
        .add(
            Op::Iota {
                shape: vec![2, 3].into(),
                axis: 1,
                dtype: DType::F32,
            },
            &[],
        )
        .unwrap();
    assert_eq!(g.ty(i), &TensorType::f32(vec![2, 3]));
    let e = g
        .add(
            Op::Iota {
                shape: vec![2, 3].into(),
                axis: 2,
                dtype: DType::F64,
            },
            &[],
        )
        .unwrap_err();
    assert!(
        e.message.contains("iota") && e.message.contains("axis 2"),
        "{e}"
    );
    let e = g
        .add(
            Op::Iota {
                shape: vec![2].into(),
                axis: 0,
                dtype: DType::Bool,
            },
            &[],
        )
        .unwrap_err();
    assert!(e.message.contains("f32 or f64"), "{e}");
    let z = g.add(Op::Compare(CompareOp::Lt), &[i, i]).unwrap();
    let a = g.add(Op::Logical(LogicalOp::And), &[z, z]).unwrap();
    let n = g.add(Op::Logical(LogicalOp::Not), &[a]).unwrap();
    assert_eq!(g.ty(n).dtype, DType::Bool);
    let e = g.add(Op::Logical(LogicalOp::Or), &[i, i]).unwrap_err();
    assert!(
        e.message.contains("or") && e.message.contains("bool"),
        "{e}"
    );
}

#[test]
fn a_deep_chain_of_bodies_drops_without_recursion() {
    // 100,000 functions, each a length-1 scan of the previous one: dropping
    // the outermost must not recurse once per level (2 MiB test stack).
    let ty = f64s(&[]);
    let mut inner = Graph::new("b0");
    let c = inner.add_param("c", ty.clone()).unwrap();
    inner.set_outputs(vec![c]);
    for i in 1..100_000 {
        let mut g = Graph::new(format!("b{i}"));
        let c = g.add_param("c", ty.clone()).unwrap();
        let r = g
            .add_multi(
                Op::Scan {
                    body: BodyRef::new(inner),
                    carry: 1,
                    xs: 0,
                    length: 1,
                    reverse: false,
                },
                &[c],
            )
            .unwrap();
        g.set_outputs(r);
        inner = g;
    }
    verify(&inner).unwrap();
    drop(inner);
}
