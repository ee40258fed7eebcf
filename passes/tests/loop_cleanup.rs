//! The clean-up passes on programs with loops: `dce`, `cse`, `fold`,
//! `simplify` and `inline` run inside bodies, `dce` prunes loop
//! signatures, `licm` hoists invariants, and `simplify` rewrites trivial
//! loops. Each rewrite is checked for its structure and for results equal
//! bit for bit before and after on the interpreter, with NaN, ±inf and -0
//! among the inputs.
mod common;

use adjoint_ir::{
    verify, BodyRef, DType, Graph, GraphBuilder, NodeId, Op, Tensor, TensorType, Value,
};
use adjoint_passes::{Pass, PassStats};
use common::op_counts;
use std::sync::Arc;

fn f64s(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

fn boolean() -> TensorType {
    TensorType::new(DType::Bool, Vec::<usize>::new())
}

/// A body built with the builder from named parameters.
fn body(
    name: &str,
    params: &[(&str, TensorType)],
    f: impl for<'b> Fn(&[Value<'b>]) -> Vec<Value<'b>>,
) -> BodyRef {
    let b = GraphBuilder::new(name);
    let ps: Vec<Value> = params.iter().map(|(n, t)| b.param(n, t.clone())).collect();
    let outs = f(&ps);
    BodyRef::new(b.build(&outs).unwrap())
}

/// A forward `scan` of `body` with `carry` carries and `xs` scanned
/// inputs, `length` trips.
fn scan_op(body: BodyRef, carry: usize, xs: usize, length: usize) -> Op {
    Op::Scan {
        body,
        carry,
        xs,
        length,
        reverse: false,
    }
}

/// Parameters of `g` named `names`, each of type `ty`.
fn params_of(g: &mut Graph, names: &[&str], ty: &TensorType) -> Vec<NodeId> {
    names
        .iter()
        .map(|n| g.add_param(*n, ty.clone()).unwrap())
        .collect()
}

fn apply(g: &Graph, p: &dyn Pass) -> (Graph, PassStats) {
    let mut h = g.clone();
    let s = p.run(&mut h).unwrap();
    verify(&h).unwrap_or_else(|e| panic!("{e}\n{}", adjoint_ir::print_graph(&h)));
    (h, s)
}

fn dce() -> adjoint_passes::dce::Dce {
    adjoint_passes::dce::Dce
}

fn simplify() -> adjoint_passes::simplify::Simplify {
    adjoint_passes::simplify::Simplify::default()
}

fn count(g: &Graph, op: &str) -> usize {
    op_counts(g).get(op).copied().unwrap_or(0)
}

/// The one loop node of `g` with op name `name`.
fn the(g: &Graph, name: &str) -> NodeId {
    let v: Vec<NodeId> = g
        .node_ids()
        .into_iter()
        .filter(|&n| g[n].op.name() == name)
        .collect();
    assert_eq!(v.len(), 1, "expected one {name}");
    v[0]
}

fn body_of(g: &Graph, id: NodeId) -> BodyRef {
    g[id].op.bodies()[0].clone()
}

/// Special values cycled through the inputs.
const SPECIAL: [f64; 8] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    1.5,
    -2.25,
    1e-310,
];

fn inputs(g: &Graph) -> Vec<Tensor> {
    let mut k = 0;
    g.param_types()
        .iter()
        .map(|t| {
            let v: Vec<f64> = (0..t.numel())
                .map(|_| {
                    k += 1;
                    SPECIAL[(k * 5 + k / 8) % SPECIAL.len()]
                })
                .collect();
            if t.dtype == DType::Bool {
                Tensor::from_bool(t.shape.clone(), v.iter().map(|x| *x > 0.0).collect()).unwrap()
            } else {
                Tensor::from_f64_as(t, &v).unwrap()
            }
        })
        .collect()
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_f64_vec()
        .iter()
        .map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() })
        .collect()
}

/// `g` and `h` give the same results bit for bit on the interpreter, on
/// inputs with special values and on ordinary ones.
fn same_bits(g: &Graph, h: &Graph) {
    let mut sets = vec![inputs(g)];
    let mut r = common::Rng(7);
    sets.push(
        g.param_types()
            .iter()
            .map(|t| {
                if t.dtype == DType::Bool {
                    Tensor::from_bool(t.shape.clone(), vec![true; t.numel()]).unwrap()
                } else {
                    r.tensor(t, -2.0, 2.0)
                }
            })
            .collect(),
    );
    for xs in sets {
        let a = adjoint_interp::eval(g, &xs).unwrap_or_else(|e| panic!("before: {e}"));
        let b = adjoint_interp::eval(h, &xs).unwrap_or_else(|e| panic!("after: {e}"));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.ty(), y.ty());
            assert_eq!(
                bits(x),
                bits(y),
                "results changed:\n{}\n{}",
                adjoint_ir::print_graph(g),
                adjoint_ir::print_graph(h)
            );
        }
    }
}

/// A scan with two carries, two scanned inputs and three invariants, of
/// which only the first carry's result is used:
/// `(c1, c2, x1, x2, k1, k2, k3) -> (c1 + x1*k1, c2 + x2, c1*k2, x2*k3)`.
fn wide_scan() -> Graph {
    let s = f64s(&[]);
    let b = body(
        "step",
        &[
            ("c1", s.clone()),
            ("c2", s.clone()),
            ("x1", s.clone()),
            ("x2", s.clone()),
            ("k1", s.clone()),
            ("k2", s.clone()),
            ("k3", s.clone()),
        ],
        |p| vec![p[0] + p[2] * p[4], p[1] + p[3], p[0] * p[5], p[3] * p[6]],
    );
    let mut g = Graph::new("f");
    let ps: Vec<NodeId> = [
        ("a", s.clone()),
        ("b", s.clone()),
        ("xs1", f64s(&[4])),
        ("xs2", f64s(&[4])),
        ("k1", s.clone()),
        ("k2", s.clone()),
        ("k3", s.clone()),
    ]
    .iter()
    .map(|(n, t)| g.add_param(*n, t.clone()).unwrap())
    .collect();
    let op = scan_op(b, 2, 2, 4);
    let r = g.add_multi(op, &ps).unwrap();
    g.set_outputs(vec![r[0]]);
    verify(&g).unwrap();
    g
}

#[test]
fn dce_drops_unused_carries_ys_scanned_inputs_and_invariants() {
    let g = wide_scan();
    let (h, s) = apply(&g, &dce());
    assert!(s.did_change());
    let scan = the(&h, "scan");
    match &h[scan].op {
        Op::Scan { carry, xs, .. } => assert_eq!((*carry, *xs), (1, 1)),
        _ => unreachable!(),
    }
    let names: Vec<String> = h
        .operands(scan)
        .iter()
        .map(|&o| h.display_name(o))
        .collect();
    assert_eq!(names, ["%a", "%xs1", "%k1"]);
    let b = body_of(&h, scan);
    assert_eq!(b.param_names(), ["c1", "x1", "k1"]);
    assert_eq!(b.outputs().len(), 1);
    same_bits(&g, &h);
    // A second run changes nothing.
    let (_, s) = apply(&h, &dce());
    assert!(!s.did_change());
}

#[test]
fn dce_removes_a_carry_that_only_feeds_itself_and_keeps_one_another_carry_reads() {
    // c1 feeds c2's update; c3 feeds only itself. Only c2 is used.
    let s = f64s(&[]);
    let b = body(
        "step",
        &[("c1", s.clone()), ("c2", s.clone()), ("c3", s.clone())],
        |p| vec![p[0] * p[0], p[1] + p[0], p[2] + p[2]],
    );
    let mut g = Graph::new("f");
    let ps = params_of(&mut g, &["a", "b", "c"], &s);
    let op = scan_op(b, 3, 0, 3);
    let r = g.add_multi(op, &ps).unwrap();
    g.set_outputs(vec![r[1]]);
    let (h, _) = apply(&g, &dce());
    let scan = the(&h, "scan");
    assert_eq!(body_of(&h, scan).param_names(), ["c1", "c2"]);
    same_bits(&g, &h);
}

/// `while i < n: (i, acc, junk) = (i + 1, acc + k, junk * junk)`, with an
/// unused invariant `u`; only `acc` is used.
fn counting_while(max_trips: Option<usize>) -> Graph {
    let s = f64s(&[]);
    let params = [
        ("i", s.clone()),
        ("acc", s.clone()),
        ("junk", s.clone()),
        ("n", s.clone()),
        ("k", s.clone()),
        ("u", s.clone()),
    ];
    let cond = body("p", &params, |p| vec![p[0].lt(p[3])]);
    let step = body("step", &params, |p| {
        vec![p[0] + p[0].lit(1.0), p[1] + p[4], p[2] * p[2]]
    });
    let mut g = Graph::new("f");
    let ps = params_of(&mut g, &["i0", "a0", "j0", "n", "k", "u"], &s);
    let op = Op::While {
        cond,
        body: step,
        carry: 3,
        max_trips,
    };
    let r = g.add_multi(op, &ps).unwrap();
    g.set_outputs(vec![r[1]]);
    verify(&g).unwrap();
    g
}

#[test]
fn dce_keeps_a_carry_the_while_condition_reads() {
    let g = counting_while(Some(5));
    let (h, _) = apply(&g, &dce());
    let w = the(&h, "while");
    let Op::While {
        cond, body, carry, ..
    } = &h[w].op
    else {
        unreachable!()
    };
    assert_eq!(
        *carry, 2,
        "i (read by the condition) and acc stay, junk goes"
    );
    assert_eq!(body.param_names(), ["i", "acc", "n", "k"]);
    assert_eq!(cond.param_names(), ["i", "acc", "n", "k"]);
    same_bits(&g, &h);
}

fn branch(name: &str, f: impl for<'b> Fn(&[Value<'b>]) -> Vec<Value<'b>>) -> BodyRef {
    let s = f64s(&[]);
    body(name, &[("a", s.clone()), ("b", s.clone()), ("c", s)], f)
}

/// `cond p, a, b, c` with branches `(a*b, c+c)` and `(a-b, c*c)`; `pick`
/// selects the used results.
fn two_branch_cond(pick: &[usize]) -> Graph {
    let then = branch("t", |p| vec![p[0] * p[1], p[2] + p[2]]);
    let els = branch("e", |p| vec![p[0] - p[1], p[2] * p[2]]);
    let mut g = Graph::new("f");
    let p = g.add_param("p", boolean()).unwrap();
    let xs: Vec<NodeId> = ["a", "b", "c"]
        .iter()
        .map(|n| g.add_param(*n, f64s(&[])).unwrap())
        .collect();
    let mut ops = vec![p];
    ops.extend(xs);
    let r = g.add_multi(Op::Cond { then, els }, &ops).unwrap();
    g.set_outputs(pick.iter().map(|&i| r[i]).collect());
    verify(&g).unwrap();
    g
}

#[test]
fn dce_drops_an_unused_cond_result_and_the_operands_only_it_read() {
    let g = two_branch_cond(&[0]);
    let (h, _) = apply(&g, &dce());
    let c = the(&h, "cond");
    assert_eq!(h.operands(c).len(), 3, "pred, a, b");
    let Op::Cond { then, els } = &h[c].op else {
        unreachable!()
    };
    assert_eq!(then.outputs().len(), 1);
    assert_eq!(els.param_names(), ["a", "b"]);
    same_bits(&g, &h);
}

#[test]
fn dce_cleans_inside_bodies() {
    let s = f64s(&[]);
    let b = body("step", &[("c", s.clone())], |p| {
        let _dead = p[0].exp().sin();
        vec![p[0] * p[0]]
    });
    assert_eq!(b.len(), 4);
    let mut g = Graph::new("f");
    let a = g.add_param("a", s).unwrap();
    let op = scan_op(b, 1, 0, 2);
    let r = g.add_multi(op, &[a]).unwrap();
    g.set_outputs(r);
    let (h, s) = apply(&g, &dce());
    assert_eq!(s.removed, 2);
    assert_eq!(body_of(&h, the(&h, "scan")).len(), 2);
    same_bits(&g, &h);
}

#[test]
fn cse_merges_identical_loops_and_their_projections() {
    let s = f64s(&[]);
    let b = body("step", &[("c", s.clone()), ("k", s.clone())], |p| {
        vec![p[0] * p[1] + p[0] * p[1]]
    });
    let mut g = Graph::new("f");
    let a = g.add_param("a", s.clone()).unwrap();
    let k = g.add_param("k", s).unwrap();
    let op = scan_op(b, 1, 0, 3);
    let r1 = g.add_multi(op.clone(), &[a, k]).unwrap();
    let r2 = g.add_multi(op, &[a, k]).unwrap();
    let sum = g
        .add(Op::Binary(adjoint_ir::BinaryOp::Add), &[r1[0], r2[0]])
        .unwrap();
    g.set_outputs(vec![sum]);
    let (h, s) = apply(&g, &adjoint_passes::cse::Cse);
    assert_eq!(count(&h, "scan"), 1);
    assert_eq!(count(&h, "project"), 1);
    // Inside the body, `c*k` is computed once.
    assert_eq!(count(&body_of(&h, the(&h, "scan")), "mul"), 1);
    assert_eq!(s.removed, 3);
    same_bits(&g, &h);
}

#[test]
fn fold_folds_inside_bodies_but_never_evaluates_loops() {
    let s = f64s(&[]);
    let b = body("step", &[("c", s.clone())], |p| {
        let two = p[0].lit(1.0) + p[0].lit(1.0);
        vec![p[0] * two]
    });
    let mut g = Graph::new("f");
    let a = g.constant(Tensor::scalar_f64(3.0));
    let x = g.add_param("x", s).unwrap();
    let op = scan_op(b, 1, 0, 2);
    let r = g.add_multi(op, &[a]).unwrap();
    let y = g
        .add(Op::Binary(adjoint_ir::BinaryOp::Mul), &[r[0], x])
        .unwrap();
    g.set_outputs(vec![y]);
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold::default());
    // The scan on a constant init stays a scan; its body's 1+1 is folded.
    let scan = the(&h, "scan");
    assert_eq!(count(&body_of(&h, scan), "add"), 0);
    same_bits(&g, &h);
}

/// An RNN-like cell: `h' = tanh(h*w + x + broadcast(b))`, `y = h'`, with
/// invariants `w: f64[4]` and `b: f64[]` (the bias broadcast does not
/// depend on the carry or the input).
fn rnn() -> Graph {
    let h4 = f64s(&[4]);
    let cell = body(
        "cell",
        &[
            ("h", h4.clone()),
            ("x", h4.clone()),
            ("w", h4.clone()),
            ("b", f64s(&[])),
        ],
        |p| {
            let bias = p[3].broadcast_to([4]);
            let w2 = p[2] * p[2];
            let h = (p[0] * w2 + p[1] + bias).tanh();
            vec![h, h]
        },
    );
    let mut g = Graph::new("rnn");
    let h0 = g.add_param("h0", h4.clone()).unwrap();
    let xs = g.add_param("xs", f64s(&[5, 4])).unwrap();
    let w = g.add_param("w", h4).unwrap();
    let b = g.add_param("b", f64s(&[])).unwrap();
    let op = scan_op(cell, 1, 1, 5);
    let r = g.add_multi(op, &[h0, xs, w, b]).unwrap();
    g.set_outputs(r);
    verify(&g).unwrap();
    g
}

#[test]
fn licm_moves_the_bias_broadcast_out_of_an_rnn_cell() {
    let g = rnn();
    let (h, s) = apply(&g, &adjoint_passes::licm::Licm);
    assert!(s.did_change());
    let scan = the(&h, "scan");
    let cell = body_of(&h, scan);
    assert_eq!(
        count(&cell, "broadcast"),
        0,
        "{}",
        adjoint_ir::print_graph(&h)
    );
    assert_eq!(count(&cell, "mul"), 1, "w*w moved out, h*w2 stays");
    assert_eq!(count(&h, "broadcast"), 1);
    assert_eq!(count(&h, "mul"), 1);
    assert_eq!(h.operands(scan).len(), 6, "two new invariants");
    same_bits(&g, &h);
    // simplify hoists too, and a second licm finds nothing more.
    let (h2, _) = apply(&g, &simplify());
    assert_eq!(count(&body_of(&h2, the(&h2, "scan")), "broadcast"), 0);
    same_bits(&g, &h2);
    let (_, s) = apply(&h, &adjoint_passes::licm::Licm);
    assert!(!s.did_change());
}

#[test]
fn licm_hoists_from_a_while_condition_and_body_but_not_from_cond_branches() {
    let s = f64s(&[]);
    let params = [("i", s.clone()), ("n", s.clone()), ("k", s.clone())];
    let cond = body("p", &params, |p| vec![p[0].lt(p[1] * p[1])]);
    let step = body("step", &params, |p| vec![p[0] + p[2].exp()]);
    let mut g = Graph::new("f");
    let ps = params_of(&mut g, &["i0", "n", "k"], &s);
    let op = Op::While {
        cond,
        body: step,
        carry: 1,
        max_trips: Some(7),
    };
    let r = g.add_multi(op, &ps).unwrap();
    g.set_outputs(r);
    let (h, _) = apply(&g, &adjoint_passes::licm::Licm);
    let w = the(&h, "while");
    let Op::While { cond, body, .. } = &h[w].op else {
        unreachable!()
    };
    assert_eq!(count(cond, "mul"), 0);
    assert_eq!(count(body, "exp"), 0);
    assert_eq!(cond.params().len(), 5);
    assert_eq!(body.params().len(), 5);
    same_bits(&g, &h);
    // A cond's branches keep their invariant-only work.
    let g = two_branch_cond(&[0, 1]);
    let (h, s) = apply(&g, &adjoint_passes::licm::Licm);
    assert!(!s.did_change());
    assert_eq!(h.len(), g.len());
}

#[test]
fn simplify_turns_a_cond_on_a_constant_predicate_into_its_branch() {
    for p in [true, false] {
        let mut g = two_branch_cond(&[0, 1]);
        let pred = g.params()[0];
        let c = g.constant(Tensor::from_bool(Vec::<usize>::new(), vec![p]).unwrap());
        let node = the(&g, "cond");
        g.set_operand(node, 0, c);
        verify(&g).unwrap();
        let (h, _) = apply(&g, &simplify());
        assert_eq!(count(&h, "cond"), 0);
        let want = if p { ["mul", "add"] } else { ["sub", "mul"] };
        for op in want {
            assert!(
                count(&h, op) >= 1,
                "{op} in {}",
                adjoint_ir::print_graph(&h)
            );
        }
        assert!(h.params().contains(&pred));
        same_bits(&g, &h);
    }
}

fn scan_of_length(n: usize) -> Graph {
    let s = f64s(&[]);
    let b = body(
        "step",
        &[("c", s.clone()), ("x", f64s(&[2])), ("k", s.clone())],
        |p| vec![p[0] + p[1].sum() * p[2], p[1] - p[0].broadcast_to([2])],
    );
    let mut g = Graph::new("f");
    let c = g.add_param("c", s.clone()).unwrap();
    let xs = g.add_param("xs", f64s(&[n, 2])).unwrap();
    let k = g.add_param("k", s).unwrap();
    let op = Op::Scan {
        body: b,
        carry: 1,
        xs: 1,
        length: n,
        reverse: true,
    };
    let r = g.add_multi(op, &[c, xs, k]).unwrap();
    g.set_outputs(r);
    verify(&g).unwrap();
    g
}

#[test]
fn simplify_replaces_scans_of_length_zero_and_one() {
    for n in [0, 1] {
        let g = scan_of_length(n);
        let (h, _) = apply(&g, &simplify());
        assert_eq!(count(&h, "scan"), 0, "{}", adjoint_ir::print_graph(&h));
        assert_eq!(h.output_types(), g.output_types());
        same_bits(&g, &h);
    }
    // Length 2 stays a loop.
    let g = scan_of_length(2);
    let (h, _) = apply(&g, &simplify());
    assert_eq!(count(&h, "scan"), 1);
}

#[test]
fn simplify_replaces_a_while_with_max_trips_zero_by_its_inits() {
    let g = counting_while(Some(0));
    let (h, _) = apply(&g, &simplify());
    assert_eq!(count(&h, "while"), 0);
    assert_eq!(h.outputs(), &[h.param_by_name("a0").unwrap()]);
    same_bits(&g, &h);
}

#[test]
fn simplify_replaces_a_while_whose_condition_is_constant_false_by_its_inits() {
    let s = f64s(&[]);
    let cond = body("never", &[("c", s.clone())], |p| {
        vec![p[0]
            .builder()
            .constant(Tensor::from_bool(Vec::<usize>::new(), vec![false]).unwrap())]
    });
    let step = body("step", &[("c", s.clone())], |p| vec![p[0] + p[0]]);
    let mut g = Graph::new("f");
    let a = g.add_param("a", s).unwrap();
    let op = Op::While {
        cond,
        body: step,
        carry: 1,
        max_trips: None,
    };
    let r = g.add_multi(op, &[a]).unwrap();
    g.set_outputs(r);
    let (h, _) = apply(&g, &simplify());
    assert_eq!(count(&h, "while"), 0);
    assert_eq!(h.outputs(), &[a]);
    same_bits(&g, &h);
}

#[test]
fn a_body_shared_by_two_loops_stays_shared() {
    let s = f64s(&[]);
    let b = body("step", &[("c", s.clone()), ("k", s.clone())], |p| {
        let _dead = p[0].exp();
        let one = p[0].lit(0.5) + p[0].lit(0.5);
        vec![p[0] * one * p[1].sin()]
    });
    let mut g = Graph::new("f");
    let a = g.add_param("a", s.clone()).unwrap();
    let bb = g.add_param("b", s.clone()).unwrap();
    let k = g.add_param("k", s).unwrap();
    let op = |length| scan_op(b.clone(), 1, 0, length);
    let r1 = g.add_multi(op(2), &[a, k]).unwrap();
    let r2 = g.add_multi(op(3), &[bb, k]).unwrap();
    g.set_outputs(vec![r1[0], r2[0]]);
    let passes: Vec<Box<dyn Pass>> = vec![
        Box::new(adjoint_passes::fold::Fold::default()),
        Box::new(simplify()),
        Box::new(adjoint_passes::cse::Cse),
        Box::new(dce()),
        Box::new(adjoint_passes::inline::Inline),
        Box::new(adjoint_passes::licm::Licm),
    ];
    for p in passes {
        let (h, _) = apply(&g, p.as_ref());
        let scans: Vec<NodeId> = h
            .node_ids()
            .into_iter()
            .filter(|&n| h[n].op.name() == "scan")
            .collect();
        assert_eq!(scans.len(), 2);
        let (b1, b2) = (body_of(&h, scans[0]), body_of(&h, scans[1]));
        assert!(Arc::ptr_eq(&b1.0, &b2.0), "{} unshared the body", p.name());
        if matches!(p.name(), "licm" | "simplify") {
            assert_eq!(count(&b1, "sin"), 0, "sin(k) hoisted");
        }
        same_bits(&g, &h);
    }
    // fold changed the shared body (once).
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold::default());
    let b1 = body_of(&h, the_first(&h, "scan"));
    assert!(!Arc::ptr_eq(&b1.0, &b.0));
    assert_eq!(count(&b1, "add"), 0);
}

fn the_first(g: &Graph, name: &str) -> NodeId {
    g.node_ids()
        .into_iter()
        .find(|&n| g[n].op.name() == name)
        .unwrap()
}

/// `depth` scans nested in one another, built iteratively: level 0 is
/// `(c, k) -> c*exp(k) + (1+1)` with a dead `exp(c)`, level `i` scans level
/// `i-1` twice, passing `k` through as an invariant.
fn nested(depth: usize) -> Graph {
    let s = f64s(&[]);
    let mut inner = body("l0", &[("c", s.clone()), ("k", s.clone())], |p| {
        let _dead = p[0].exp();
        vec![p[0] * p[1].exp() + (p[0].lit(1.0) + p[0].lit(1.0))]
    });
    for i in 1..=depth {
        let mut g = Graph::new(format!("l{i}"));
        let c = g.add_param("c", s.clone()).unwrap();
        let k = g.add_param("k", s.clone()).unwrap();
        let op = scan_op(inner, 1, 0, 2);
        let r = g.add_multi(op, &[c, k]).unwrap();
        g.set_outputs(r);
        inner = BodyRef::new(g);
    }
    inner.into_graph()
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let g = nested(2000);
    let passes: Vec<Box<dyn Pass>> = vec![
        Box::new(dce()),
        Box::new(adjoint_passes::cse::Cse),
        Box::new(adjoint_passes::fold::Fold::default()),
        Box::new(adjoint_passes::inline::Inline),
        Box::new(adjoint_passes::licm::Licm),
        Box::new(simplify()),
    ];
    for p in passes {
        let mut h = g.clone();
        p.run(&mut h).unwrap();
        verify(&h).unwrap();
        // The innermost body changed (dce: the dead exp; fold: 1+1; licm
        // and simplify: exp(k) hoisted out of every level).
        let mut b = body_of(&h, the(&h, "scan"));
        for _ in 1..2000 {
            let next = body_of(&b, the(&b, "scan"));
            b = next;
        }
        match p.name() {
            "dce" => assert_eq!(count(&b, "exp"), 1),
            "fold" => assert_eq!(count(&b, "add"), 1),
            "licm" | "simplify" => {
                assert_eq!(count(&b, "exp"), 1, "only the dead one");
                assert_eq!(count(&h, "exp"), 1, "computed once, outermost");
            }
            _ => {}
        }
    }
}

#[test]
fn inline_expands_calls_inside_bodies() {
    let sb = GraphBuilder::new("sq_body");
    let x = sb.param("x", f64s(&[]));
    let sq = adjoint_ir::CustomOp::new("sq", sb.build(&[x * x]).unwrap(), None, None).unwrap();
    let s = f64s(&[]);
    let b = body("step", &[("c", s.clone())], |p| {
        vec![p[0].builder().call(&sq, &[p[0]]) + p[0]]
    });
    let mut g = Graph::new("f");
    let a = g.add_param("a", s).unwrap();
    let op = scan_op(b, 1, 0, 3);
    let r = g.add_multi(op, &[a]).unwrap();
    g.set_outputs(r);
    let (h, s) = apply(&g, &adjoint_passes::inline::Inline);
    assert_eq!(s.removed, 1);
    let inner = body_of(&h, the(&h, "scan"));
    assert_eq!(count(&inner, "call"), 0);
    assert_eq!(count(&inner, "mul"), 1);
    same_bits(&g, &h);
}

#[test]
fn dce_prunes_an_inner_loop_once_the_outer_loop_drops_what_it_fed() {
    // inner: (a, b) -> (a*a, b+a), 2 trips; the outer body returns
    // (c + a_final, b_final) as (carry, y). Only the outer carry is used,
    // so the outer ys goes, and then the inner carry b.
    let s = f64s(&[]);
    let inner = body("inner", &[("a", s.clone()), ("b", s.clone())], |p| {
        vec![p[0] * p[0], p[1] + p[0]]
    });
    let mut ob = Graph::new("outer");
    let c = ob.add_param("c", s.clone()).unwrap();
    let op = scan_op(inner, 2, 0, 2);
    let r = ob.add_multi(op, &[c, c]).unwrap();
    let nc = ob
        .add(Op::Binary(adjoint_ir::BinaryOp::Add), &[c, r[0]])
        .unwrap();
    ob.set_outputs(vec![nc, r[1]]);
    let mut g = Graph::new("f");
    let a = g.add_param("a", s).unwrap();
    let op = scan_op(BodyRef::new(ob), 1, 0, 3);
    let r = g.add_multi(op, &[a]).unwrap();
    g.set_outputs(vec![r[0]]);
    verify(&g).unwrap();
    let (h, _) = apply(&g, &dce());
    let outer = body_of(&h, the(&h, "scan"));
    assert_eq!(outer.outputs().len(), 1);
    let Op::Scan { carry, body, .. } = &outer[the(&outer, "scan")].op else {
        unreachable!()
    };
    assert_eq!(*carry, 1);
    assert_eq!(body.param_names(), ["a"]);
    same_bits(&g, &h);
}

/// A random scan body: `k` carries, `m` scanned inputs (all `f64[3]`) and
/// invariants `f64[3]`/`f64[]`; `steps` random elementwise nodes; outputs
/// the carries then `q` ys picked from the values.
fn random_body(r: &mut common::Rng, k: usize, m: usize, invs: &[TensorType], q: usize) -> BodyRef {
    use adjoint_ir::{BinaryOp, UnaryOp};
    let v3 = f64s(&[3]);
    let mut g = Graph::new("rb");
    let mut pool = vec![g.constant(Tensor::from_f64([3], vec![f64::NAN, -0.0, 2.5]).unwrap())];
    for i in 0..k + m {
        pool.push(g.add_param(format!("p{i}"), v3.clone()).unwrap());
    }
    for (i, t) in invs.iter().enumerate() {
        let p = g.add_param(format!("k{i}"), t.clone()).unwrap();
        let v = if t.shape.is_scalar() {
            g.add(Op::Broadcast { shape: [3].into() }, &[p]).unwrap()
        } else {
            p
        };
        pool.push(v);
    }
    let pick =
        |r: &mut common::Rng, pool: &[NodeId]| pool[(r.next_f64() * pool.len() as f64) as usize];
    for _ in 0..6 {
        let a = pick(r, &pool);
        let b = pick(r, &pool);
        let n = match (r.next_f64() * 7.0) as usize {
            0 => g.add(Op::Binary(BinaryOp::Add), &[a, b]),
            1 => g.add(Op::Binary(BinaryOp::Mul), &[a, b]),
            2 => g.add(Op::Binary(BinaryOp::Sub), &[a, b]),
            3 => g.add(Op::Unary(UnaryOp::Neg), &[a]),
            4 => g.add(Op::Unary(UnaryOp::Tanh), &[a]),
            5 => {
                let c = g.constant(Tensor::scalar_f64(if r.next_f64() < 0.5 {
                    1.0
                } else {
                    -0.0
                }));
                let c = g.add(Op::Broadcast { shape: [3].into() }, &[c]).unwrap();
                g.add(Op::Binary(BinaryOp::Mul), &[a, c])
            }
            _ => g.add(Op::Binary(BinaryOp::Max), &[a, b]),
        };
        pool.push(n.unwrap());
    }
    let outs: Vec<NodeId> = (0..k + q).map(|_| pick(r, &pool)).collect();
    g.set_outputs(outs);
    BodyRef::new(g)
}

#[test]
fn random_loop_programs_keep_their_bits_through_the_clean_up_pipeline() {
    let mut r = common::Rng(2024);
    for case in 0..60 {
        let k = (r.next_f64() * 3.0) as usize;
        let m = (r.next_f64() * 3.0) as usize;
        let q = if k == 0 {
            1
        } else {
            (r.next_f64() * 3.0) as usize
        };
        let n = (r.next_f64() * 4.0) as usize;
        let invs: Vec<TensorType> = (0..(r.next_f64() * 3.0) as usize)
            .map(|i| if i % 2 == 0 { f64s(&[]) } else { f64s(&[3]) })
            .collect();
        let body = random_body(&mut r, k, m, &invs, q);
        let mut g = Graph::new("f");
        let mut ops = Vec::new();
        for i in 0..k {
            ops.push(g.add_param(format!("c{i}"), f64s(&[3])).unwrap());
        }
        for i in 0..m {
            ops.push(g.add_param(format!("x{i}"), f64s(&[n, 3])).unwrap());
        }
        for (i, t) in invs.iter().enumerate() {
            ops.push(g.add_param(format!("k{i}"), t.clone()).unwrap());
        }
        let op = Op::Scan {
            body,
            carry: k,
            xs: m,
            length: n,
            reverse: r.next_f64() < 0.5,
        };
        // The same scan twice (cse), results used at random.
        let r1 = g.add_multi(op.clone(), &ops).unwrap();
        let r2 = g.add_multi(op, &ops).unwrap();
        let mut outs: Vec<NodeId> = r1
            .iter()
            .chain(&r2)
            .copied()
            .filter(|_| r.next_f64() < 0.4)
            .collect();
        if outs.is_empty() {
            outs.push(r1[0]);
        }
        g.set_outputs(outs);
        verify(&g).unwrap();
        let h = common::run(&g, "fold,simplify,cse,licm,dce");
        assert!(count(&h, "scan") <= 1, "case {case}");
        same_bits(&g, &h);
    }
}

/// A loop result read only by dead nodes is dropped with them (it used to
/// be an error: "result 1 is dropped but %d is still used").
#[test]
fn dce_drops_a_loop_result_read_only_by_dead_nodes() {
    let m = adjoint_ir::parse_module(
        "func @step(%a: f64, %b: f64) -> (f64, f64) {
           %a2 = sin %a
           %b2 = mul %b, %b
           return %a2, %b2
         }
         func @main(%a0: f64, %b0: f64) -> f64 {
           %a, %b = scan %a0, %b0 body=@step carry=2 xs=0 length=3
           %d = exp %b
           %e = neg %d
           return %a
         }",
    )
    .unwrap();
    let mut g = m.main_func().unwrap().clone();
    let inputs = [Tensor::scalar_f64(0.5), Tensor::scalar_f64(2.0)];
    let before = adjoint_interp::eval(&g, &inputs).unwrap();
    adjoint_passes::PassManager::parse("dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let after = adjoint_interp::eval(&g, &inputs).unwrap();
    assert_eq!(before[0].to_f64_vec(), after[0].to_f64_vec());
    let scan = g
        .node_ids()
        .into_iter()
        .find(|&n| matches!(g[n].op, Op::Scan { .. }))
        .unwrap();
    assert!(matches!(g[scan].op, Op::Scan { carry: 1, .. }));
    assert!(!g.node_ids().iter().any(|&n| g[n].op.name() == "exp"));
}
