//! The builder's loops and conditionals: the graphs `scan`, `while_loop`,
//! `cond` and `fori_loop` build (operands, body signatures, closure
//! conversion of enclosing values into invariants), their errors, and
//! `iota` / `and` / `or` / `not`.

use adjoint_ir::{
    verify, BodyRef, DType, Graph, GraphBuilder, LogicalOp, NodeId, Op, ScanOpts, TensorType,
};

fn f64s(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

fn boolean(d: &[usize]) -> TensorType {
    TensorType::new(DType::Bool, d.to_vec())
}

/// The multi-result node behind output `i` of `g` (a projection).
fn loop_of(g: &Graph, i: usize) -> NodeId {
    let p = g.outputs()[i];
    assert!(matches!(g[p].op, Op::Project { .. }), "{:?}", g[p].op);
    g.operands(p)[0]
}

fn scan_body(g: &Graph, node: NodeId) -> BodyRef {
    match &g[node].op {
        Op::Scan { body, .. } => body.clone(),
        other => panic!("not a scan: {other:?}"),
    }
}

/// The uses of parameter `i` of `g`.
fn uses_of_param(g: &Graph, i: usize) -> usize {
    g.use_count(g.params()[i])
}

#[test]
fn scan_captures_an_invariant_once_even_if_used_twice() {
    let b = GraphBuilder::new("f");
    let c0 = b.param("c0", f64s(&[2]));
    let xs = b.param("xs", f64s(&[5, 2]));
    let k = b.param("k", f64s(&[]));
    let (c, ys) = b.scan(&[c0], &[xs], |_, c, x| {
        let nc = c[0] + k * x[0] + k; // `k * x` goes to the body
        (vec![nc], vec![nc.sum()])
    });
    assert_eq!((c.len(), ys.len()), (1, 1));
    assert_eq!(c[0].ty(), f64s(&[2]));
    assert_eq!(ys[0].ty(), f64s(&[5]));
    let g = b.build(&[c[0], ys[0]]).unwrap();
    verify(&g).unwrap();
    let s = loop_of(&g, 0);
    assert_eq!(loop_of(&g, 1), s);
    assert_eq!(g.operands(s), vec![c0.id(), xs.id(), k.id()]);
    let Op::Scan {
        body,
        carry,
        xs: m,
        length,
        reverse,
    } = &g[s].op
    else {
        panic!()
    };
    assert_eq!((*carry, *m, *length, *reverse), (1, 1, 5, false));
    assert_eq!(body.name(), "f_scan_body_1");
    assert_eq!(body.param_names(), ["c0", "x0", "k"]);
    assert_eq!(body.param_types(), vec![f64s(&[2]), f64s(&[2]), f64s(&[])]);
    assert_eq!(body.output_types(), vec![f64s(&[2]), f64s(&[])]);
    // k is used twice in the body (through broadcasts), as one parameter.
    assert_eq!(uses_of_param(body, 2), 2);
}

#[test]
fn scan_options_reverse_and_length_without_xs() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let opts = ScanOpts {
        reverse: true,
        length: Some(4),
    };
    let (c, ys) = b.scan_with(opts, &[x], &[], |_, c, xs| {
        assert!(xs.is_empty());
        (vec![c[0] * 2.0], vec![c[0], c[0].sin()])
    });
    assert_eq!(ys[0].ty(), f64s(&[4]));
    assert_eq!(ys[1].ty(), f64s(&[4]));
    let g = b.build(&[c[0], ys[1]]).unwrap();
    let s = loop_of(&g, 0);
    assert!(matches!(
        g[s].op,
        Op::Scan {
            carry: 1,
            xs: 0,
            length: 4,
            reverse: true,
            ..
        }
    ));
    // A pure map: no carries.
    let xs = b.param("xs", f64s(&[3, 2]));
    let (c, ys) = b.scan(&[], &[xs], |_, _, x| (vec![], vec![x[0].exp()]));
    assert!(c.is_empty());
    assert_eq!(ys[0].ty(), f64s(&[3, 2]));
}

#[test]
fn a_scan_without_xs_needs_a_length() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let mut ran = false;
    let e = b
        .try_scan(&[x], &[], |_, c, _| {
            ran = true;
            Ok((vec![c[0]], vec![]))
        })
        .unwrap_err();
    assert!(
        e.message.contains("scan") && e.message.contains("length"),
        "{e}"
    );
    assert!(!ran);
    // A scanned input without a leading axis.
    let e = b
        .try_scan(&[x], &[x], |_, c, _| Ok((vec![c[0]], vec![])))
        .unwrap_err();
    assert!(e.message.contains("no leading axis"), "{e}");
    // A length that differs from the leading dimension.
    let xs = b.param("xs", f64s(&[3]));
    let opts = ScanOpts {
        reverse: false,
        length: Some(4),
    };
    let e = b
        .try_scan_with(opts, &[x], &[xs], |_, c, _| Ok((vec![c[0]], vec![])))
        .unwrap_err();
    assert!(
        e.message.contains("leading dimension 3") && e.message.contains("length is 4"),
        "{e}"
    );
}

#[test]
fn nested_capture_goes_through_every_level() {
    let b = GraphBuilder::new("f");
    let a = b.param("a", f64s(&[]));
    let xs = b.param("xs", f64s(&[3, 4]));
    let zero = b.scalar(0.0, DType::F64);
    let (c, _) = b.scan(&[zero], &[xs], |_, c, row| {
        // The inner loop, over the elements of one row, uses `a` from @f.
        let (s, _) = row[0].builder().scan(&[c[0]], &[row[0]], |_, s, x| {
            (vec![s[0] + x[0] * a], vec![])
        });
        (vec![s[0]], vec![])
    });
    let g = b.build(&c).unwrap();
    verify(&g).unwrap();
    let outer = loop_of(&g, 0);
    // @f passes its own `a` as the outer loop's invariant.
    assert_eq!(g.operands(outer), vec![zero.id(), xs.id(), a.id()]);
    let mid = scan_body(&g, outer);
    assert_eq!(mid.name(), "f_scan_body_1");
    assert_eq!(mid.param_names(), ["c0", "x0", "a"]);
    // The middle body passes its capture of `a` to the inner loop.
    let inner = loop_of(&mid, 0);
    assert_eq!(
        mid.operands(inner),
        vec![mid.params()[0], mid.params()[1], mid.params()[2]]
    );
    let leaf = scan_body(&mid, inner);
    assert_eq!(leaf.name(), "f_scan_body_1_scan_body_1");
    assert_eq!(leaf.param_names(), ["c0", "x0", "a"]);
    assert_eq!(uses_of_param(&leaf, 2), 1);
}

#[test]
fn an_imported_capture_and_the_original_value_are_one_invariant() {
    let b = GraphBuilder::new("f");
    let p = b.param("p", f64s(&[]));
    let x = b.param("x", f64s(&[]));
    let r = b.fori_loop(2, &[x], |m, _, c| {
        let pm = m.import(p); // @f's p, as a parameter of the middle body
        m.fori_loop(3, &[c[0]], |_, _, d| vec![d[0] * pm + p])
    });
    let g = b.build(&r).unwrap();
    verify(&g).unwrap();
    let mid = scan_body(&g, loop_of(&g, 0));
    assert_eq!(mid.param_names(), ["c0", "x0", "p"]);
    let leaf = scan_body(&mid, loop_of(&mid, 0));
    assert_eq!(leaf.param_names(), ["c0", "x0", "p"]);
    assert_eq!(uses_of_param(&leaf, 2), 2);
}

#[test]
fn ops_on_enclosing_values_only_are_built_in_the_enclosing_function() {
    let b = GraphBuilder::new("f");
    let xs = b.param("xs", f64s(&[3]));
    let k = b.param("k", f64s(&[]));
    let (c, _) = b.scan(&[k], &[xs], |_, c, x| {
        let e = k.exp(); // computed once, before the loop
        (vec![c[0] * e + x[0]], vec![])
    });
    let g = b.build(&c).unwrap();
    let s = loop_of(&g, 0);
    let inv = g.operands(s)[2];
    assert_eq!(g[inv].op.name(), "exp");
    let body = scan_body(&g, s);
    assert_eq!(body.param_types().len(), 3);
    assert!(body.node_ids().iter().all(|&n| body[n].op.name() != "exp"));
}

#[test]
fn while_condition_and_body_share_one_invariant_list() {
    let b = GraphBuilder::new("g");
    let x0 = b.param("x0", f64s(&[]));
    let a = b.param("a", f64s(&[]));
    let tol = b.param("tol", f64s(&[]));
    let r = b.while_loop(
        &[x0, x0 + 1.0],
        |_, c| (c[0] - c[1]).abs().gt(tol),
        |_, c| vec![(a * c[0]).cos(), c[0] + tol - tol],
    );
    let g = b.build(&r).unwrap();
    verify(&g).unwrap();
    let w = loop_of(&g, 0);
    assert_eq!(loop_of(&g, 1), w);
    let Op::While {
        cond,
        body,
        carry: 2,
        max_trips: None,
    } = &g[w].op
    else {
        panic!("{:?}", g[w].op)
    };
    assert_eq!(cond.name(), "g_while_cond_1");
    assert_eq!(body.name(), "g_while_body_1");
    assert_eq!(cond.param_names(), ["c0", "c1", "tol", "a"]);
    assert_eq!(body.param_names(), ["c0", "c1", "tol", "a"]);
    assert_eq!(g.operands(w)[2..], [tol.id(), a.id()]);
    // The condition does not use `a`; the body uses tol and a.
    assert_eq!(uses_of_param(cond, 3), 0);
    assert!(uses_of_param(body, 2) > 0 && uses_of_param(body, 3) > 0);

    let r = b.while_loop_bounded(7, &[x0], |_, c| c[0].lt(a), |_, c| vec![c[0] + 1.0]);
    let g = b.build(&r).unwrap();
    let w = loop_of(&g, 0);
    let Op::While {
        cond,
        max_trips: Some(7),
        ..
    } = &g[w].op
    else {
        panic!("{:?}", g[w].op)
    };
    assert_eq!(cond.name(), "g_while_cond_2");
}

#[test]
fn cond_with_captures_in_one_branch_only() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let y = b.param("y", f64s(&[2]));
    let z = b.param("z", f64s(&[]));
    let p = x.gt(x.lit(0.0));
    let r = b.cond(
        p,
        &[x],
        |_, a| vec![a[0] * z, a[0].broadcast_to([2])],
        |_, a| vec![a[0], a[0] * y],
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].ty(), f64s(&[2]));
    let g = b.build(&r).unwrap();
    verify(&g).unwrap();
    let c = loop_of(&g, 0);
    let Op::Cond { then, els } = &g[c].op else {
        panic!()
    };
    assert_eq!(then.name(), "f_cond_then_1");
    assert_eq!(els.name(), "f_cond_else_1");
    // Captures of either branch become parameters of both, in one order.
    assert_eq!(g.operands(c), vec![p.id(), x.id(), z.id(), y.id()]);
    assert_eq!(then.param_names(), ["a0", "z", "y"]);
    assert_eq!(els.param_names(), ["a0", "z", "y"]);
    assert_eq!((uses_of_param(then, 1), uses_of_param(then, 2)), (1, 0));
    assert_eq!((uses_of_param(els, 1), uses_of_param(els, 2)), (0, 1));
}

#[test]
fn a_branch_may_return_an_enclosing_value_directly() {
    let b = GraphBuilder::new("f");
    let p = b.param("p", boolean(&[]));
    let x = b.param("x", f64s(&[]));
    let r = b.cond(p, &[], |t, _| vec![t.import(x).ln()], |_, _| vec![x]);
    let g = b.build(&r).unwrap();
    verify(&g).unwrap();
    let c = loop_of(&g, 0);
    assert_eq!(g.operands(c), vec![p.id(), x.id()]);
    let Op::Cond { then, els } = &g[c].op else {
        panic!()
    };
    // `ln` is inside the then branch, not in @f.
    assert!(then.node_ids().iter().any(|&n| then[n].op.name() == "log"));
    assert!(g.node_ids().iter().all(|&n| g[n].op.name() != "log"));
    assert_eq!(els.outputs(), els.params());
}

#[test]
fn fori_loop_scans_an_exact_iota_of_the_carry_dtype() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f32([2]));
    let mut index_ty = None;
    let r = b.fori_loop(5, &[x], |_, i, c| {
        index_ty = Some(i.ty());
        vec![c[0] + i]
    });
    assert_eq!(index_ty, Some(TensorType::f32([])));
    let g = b.build(&r).unwrap();
    verify(&g).unwrap();
    let s = loop_of(&g, 0);
    let ops = g.operands(s);
    assert_eq!(ops.len(), 2);
    assert_eq!(
        g[ops[1]].op,
        Op::Iota {
            shape: vec![5].into(),
            axis: 0,
            dtype: DType::F32
        }
    );
    let body = scan_body(&g, s);
    assert_eq!(body.name(), "f_fori_body_1");
    assert!(matches!(
        g[s].op,
        Op::Scan {
            carry: 1,
            xs: 1,
            length: 5,
            reverse: false,
            ..
        }
    ));
    // No carries with a float dtype: the index is f64.
    let p = b.param("p", boolean(&[]));
    let mut index_ty = None;
    b.fori_loop(0, &[p], |_, i, c| {
        index_ty = Some(i.ty());
        vec![c[0]]
    });
    assert_eq!(index_ty, Some(f64s(&[])));
}

#[test]
fn body_names_are_unique_valid_identifiers() {
    let b = GraphBuilder::new("my-fn");
    let x = b.param("x", f64s(&[]));
    let mut names = Vec::new();
    let (c, _) = b.scan_with(
        ScanOpts {
            reverse: false,
            length: Some(2),
        },
        &[x],
        &[],
        |_, c, _| (vec![c[0]], vec![]),
    );
    let r = b.cond(c[0].gt(x), &[x], |_, a| vec![a[0]], |_, a| vec![-a[0]]);
    let g = b.build(&r).unwrap();
    for n in g.node_ids() {
        for body in g[n].op.bodies() {
            names.push(body.name().to_string());
        }
    }
    assert_eq!(
        names,
        [
            "my_fn_scan_body_1",
            "my_fn_cond_then_2",
            "my_fn_cond_else_2"
        ]
    );
}

#[test]
fn a_scan_body_with_the_wrong_carries_is_an_error_naming_it() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let xs = b.param("xs", f64s(&[3]));
    let e = b
        .try_scan(&[x], &[xs], |_, c, x| Ok((vec![c[0], x[0]], vec![])))
        .unwrap_err();
    assert!(
        e.message.contains("body=@f_scan_body_1") && e.message.contains("2 carries"),
        "{e}"
    );
    let e = b
        .try_scan(&[x], &[xs], |_, c, _| {
            Ok((vec![c[0].cast(DType::F32)], vec![]))
        })
        .unwrap_err();
    assert!(
        e.message.contains("scan")
            && e.message.contains("@f_scan_body_2")
            && e.message.contains("carry 0")
            && e.message.contains("f32"),
        "{e}"
    );
    // A scan with no carries and no ys.
    let e = b
        .try_scan(&[], &[xs], |_, _, _| Ok((vec![], vec![])))
        .unwrap_err();
    assert!(e.message.contains("at least one result"), "{e}");
    // The panicking form panics with the same message.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.scan(&[x], &[xs], |_, c, x| (vec![c[0], x[0]], vec![]))
    }));
    assert!(r.is_err());
}

#[test]
fn while_errors_name_the_functions() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    // A float condition.
    let e = b
        .try_while_loop(&[x], |_, c| Ok(c[0]), |_, c| Ok(vec![c[0]]))
        .unwrap_err();
    assert!(
        e.message.contains("while") && e.message.contains("cond=@f_while_cond_1"),
        "{e}"
    );
    // A body that returns too many carries.
    let e = b
        .try_while_loop(&[x], |_, c| Ok(c[0].lt(x)), |_, c| Ok(vec![c[0], c[0]]))
        .unwrap_err();
    assert!(
        e.message.contains("body=@f_while_body_2") && e.message.contains("exactly the 1 carries"),
        "{e}"
    );
    // No carries at all.
    let e = b
        .try_while_loop(&[], |_, _| Ok(x.lt(x)), |_, _| Ok(vec![]))
        .unwrap_err();
    assert!(e.message.contains("at least one carry"), "{e}");
    // A closure's own error is returned as is, and the body is not built.
    let mut body_ran = false;
    let e = b
        .try_while_loop_bounded(
            3,
            &[x],
            |_, c| c[0].try_reshape([2]),
            |_, c| {
                body_ran = true;
                Ok(vec![c[0]])
            },
        )
        .unwrap_err();
    assert!(
        e.message.contains("reshape") && e.message.contains("[2]"),
        "{e}"
    );
    assert!(!body_ran);
}

#[test]
fn cond_errors_name_the_predicate_and_the_branches() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", f64s(&[]));
    let v = b.param("v", f64s(&[2]));
    // A float predicate.
    let e = b
        .try_cond(x, &[x], |_, a| Ok(vec![a[0]]), |_, a| Ok(vec![a[0]]))
        .unwrap_err();
    assert!(
        e.message.contains("cond") && e.message.contains("predicate must be bool[]"),
        "{e}"
    );
    // A non-scalar bool predicate.
    let pv = v.gt(v.lit(0.0));
    let e = b
        .try_cond(pv, &[x], |_, a| Ok(vec![a[0]]), |_, a| Ok(vec![a[0]]))
        .unwrap_err();
    assert!(e.message.contains("bool[2]"), "{e}");
    // Branches with different result types.
    let p = x.gt(x.lit(0.0));
    let e = b
        .try_cond(
            p,
            &[x],
            |_, a| Ok(vec![a[0]]),
            |_, a| Ok(vec![a[0].cast(DType::F32)]),
        )
        .unwrap_err();
    assert!(
        e.message.contains("then=@f_cond_then_")
            && e.message.contains("else=@f_cond_else_")
            && e.message.contains("returns (f32)"),
        "{e}"
    );
    // Branches that return nothing.
    let e = b
        .try_cond(p, &[x], |_, _| Ok(vec![]), |_, _| Ok(vec![]))
        .unwrap_err();
    assert!(e.message.contains("return nothing"), "{e}");
}

#[test]
fn values_of_an_unrelated_builder_are_still_rejected() {
    let b = GraphBuilder::new("f");
    let u = GraphBuilder::new("u");
    let x = b.param("x", f64s(&[]));
    let xs = b.param("xs", f64s(&[3]));
    let ux = u.param("ux", f64s(&[]));
    // In the body of a loop.
    let e = b
        .try_scan(&[x], &[xs], |_, c, _| Ok((vec![c[0].try_add(ux)?], vec![])))
        .unwrap_err();
    assert!(
        e.message.contains("add: operand 1")
            && e.message.contains("belongs to another GraphBuilder")
            && e.message.contains("@u")
            && e.message.contains("@f_scan_body_1")
            && e.message.contains("%ux"),
        "{e}"
    );
    // Returned from a branch.
    let p = x.gt(x.lit(0.0));
    let e = b
        .try_cond(p, &[], |_, _| Ok(vec![ux]), |_, _| Ok(vec![x]))
        .unwrap_err();
    assert!(
        e.message.contains("belongs to another GraphBuilder") && e.message.contains("@u"),
        "{e}"
    );
    // As a loop operand.
    let e = b
        .try_while_loop(&[ux], |_, c| Ok(c[0].lt(c[0])), |_, c| Ok(vec![c[0]]))
        .unwrap_err();
    assert!(
        e.message.contains("while: init 0") && e.message.contains("belongs to another"),
        "{e}"
    );
    // Nothing of @f's was captured by the failed attempts in @u, and @u
    // cannot import @f's values.
    assert!(u.try_import(x).is_err());
    assert_eq!(u.graph().len(), 1);
}

#[test]
fn iota_and_boolean_ops() {
    let b = GraphBuilder::new("f");
    let i = b.iota([2, 3], 1, DType::F32);
    assert_eq!(i.ty(), TensorType::f32([2, 3]));
    let e = b.try_iota([2, 3], 2, DType::F64).unwrap_err();
    assert!(
        e.message.contains("iota") && e.message.contains("axis 2"),
        "{e}"
    );
    let e = b.try_iota([2], 0, DType::Bool).unwrap_err();
    assert!(e.message.contains("f32 or f64"), "{e}");
    let x = b.param("x", f64s(&[3]));
    let s = b.param("s", f64s(&[]));
    let v = x.gt(x.lit(0.0)); // bool[3]
    let w = s.lt(s.lit(1.0)); // bool[], broadcast
    let a = v.and(w);
    let o = w.or(v);
    let n = !a;
    assert_eq!(a.not().ty(), boolean(&[3]));
    assert_eq!(a.ty(), boolean(&[3]));
    assert_eq!(o.ty(), boolean(&[3]));
    assert_eq!(n.ty(), boolean(&[3]));
    let g = b.build(&[n, o]).unwrap();
    assert_eq!(g[n.id()].op, Op::Logical(LogicalOp::Not));
    assert_eq!(g[a.id()].op, Op::Logical(LogicalOp::And));
    assert_eq!(g[o.id()].op, Op::Logical(LogicalOp::Or));
    // Non-bool operands.
    let e = x.try_and(v).unwrap_err();
    assert!(
        e.message.contains("and") && e.message.contains("bool"),
        "{e}"
    );
    let e = x.try_not().unwrap_err();
    assert!(
        e.message.contains("not") && e.message.contains("f64"),
        "{e}"
    );
    let e = v.try_or(b.param("q", boolean(&[2]))).unwrap_err();
    assert!(
        e.message.contains("or") && e.message.contains("broadcast"),
        "{e}"
    );
}
