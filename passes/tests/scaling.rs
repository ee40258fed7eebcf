//! Large programs through the passes: a ~20k-node scalar chain through
//! `grad,cse,dce` and `jacobian`, and a wide graph of 20k nodes sharing one
//! operand through `cse` and `dce`, with values checked against the chain
//! rule computed by hand. Not timed (speed is in `benches/pass_scaling.rs`);
//! these catch crashes and wrong results at sizes where a quadratic pass
//! would take minutes.

mod common;

use adjoint_ir::{Graph, GraphBuilder, NodeId, Op, Tensor, TensorType};
use adjoint_passes::PassManager;
use common::eval;

/// Nodes in the chain (about).
const N: usize = 20_000;

/// `v ← sin v`, `v ← 0.75·v`, `v ← v + 0.25`, repeated: every value is a
/// cut point of the chain (nothing but `v` flows on), the Jacobian pass's
/// worst case for stage splitting.
fn chain(n: usize) -> Graph {
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([]));
    let mut v = x;
    // Nodes so far: the parameter, then 1 per `sin`, 2 per `mul` or `add`
    // (the op and its constant).
    let (mut k, mut len) = (0, 1);
    while len < n {
        v = match k % 3 {
            0 => v.sin(),
            1 => v * v.lit(0.75),
            _ => v + v.lit(0.25),
        };
        len += if k % 3 == 0 { 1 } else { 2 };
        k += 1;
    }
    b.build(&[v]).unwrap()
}

/// The chain's value and derivative at `x`, by the chain rule in f64 with
/// the same operations in the same order as the graph.
fn chain_by_hand(n: usize, x: f64) -> (f64, f64) {
    let g = chain(n);
    let steps = g
        .topo_order()
        .unwrap()
        .into_iter()
        .filter(|&id| !matches!(g[id].op, Op::Param { .. } | Op::Const(_)))
        .count();
    let (mut v, mut d) = (x, 1.0f64);
    for k in 0..steps {
        match k % 3 {
            0 => {
                d *= v.cos();
                v = v.sin();
            }
            1 => {
                v *= 0.75;
                d *= 0.75;
            }
            _ => v += 0.25,
        }
    }
    (v, d)
}

fn scalar(v: f64) -> Tensor {
    Tensor::from_f64([], vec![v]).unwrap()
}

#[test]
fn a_20k_node_chain_goes_through_grad_cse_dce_with_correct_values() {
    let mut g = chain(N);
    assert!(g.len() >= N);
    PassManager::parse("grad,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let x = 0.7;
    let out = eval(&g, &[scalar(x)]);
    let (v, d) = chain_by_hand(N, x);
    assert_eq!(out[0].to_f64_vec(), vec![v]);
    // Same ops, but the gradient multiplies the factors from the output
    // back (reverse order): allow rounding over ~13k products.
    let got = out[1].to_f64_vec()[0];
    assert!(
        (got - d).abs() <= 1e-9 * d.abs().max(1e-300),
        "grad {got} vs {d}"
    );
    assert!(d != 0.0);
}

#[test]
fn a_20k_node_chain_goes_through_jacobian_in_every_mode() {
    let x = 0.7;
    let (v, d) = chain_by_hand(N, x);
    for mode in ["auto", "fwd", "rev"] {
        let mut g = chain(N);
        let report = PassManager::parse(&format!("jacobian{{mode={mode}}},cse,dce"))
            .unwrap()
            .run(&mut g)
            .unwrap();
        let out = eval(&g, &[scalar(x)]);
        assert_eq!(out[0].to_f64_vec(), vec![v], "{mode}");
        assert_eq!(out[1].shape().dims(), &[] as &[usize], "{mode}");
        let got = out[1].to_f64_vec()[0];
        assert!(
            (got - d).abs() <= 1e-9 * d.abs(),
            "{mode}: jacobian {got} vs {d}; {:?}",
            report.passes[0].stats.notes
        );
    }
}

/// `w` chains `sin(x * (j % 16))` reading the shared parameter `x`, summed:
/// only 16 distinct chains, so `cse` merges almost all of them, each merge
/// unlinking a user of `x` (a value with `w` users).
fn wide(w: usize) -> Graph {
    let b = GraphBuilder::new("wide");
    let x = b.param("x", TensorType::f64([]));
    let mut acc = (x * x.lit(0.0)).sin();
    for j in 1..w {
        acc = acc + (x * x.lit((j % 16) as f64)).sin();
    }
    b.build(&[acc]).unwrap()
}

fn wide_by_hand(w: usize, x: f64) -> f64 {
    let mut acc = (x * 0.0).sin();
    for j in 1..w {
        acc += (x * (j % 16) as f64).sin();
    }
    acc
}

#[test]
fn a_wide_graph_with_a_shared_operand_goes_through_cse_and_dce() {
    const W: usize = 5_000;
    let mut g = wide(W);
    let before = g.len();
    assert!(before >= 4 * W);
    let report = PassManager::parse("cse,dce").unwrap().run(&mut g).unwrap();
    // Every chain but 16 merges: 3 nodes each (constant, mul, sin).
    assert_eq!(report.passes[0].stats.removed, 3 * (W - 16));
    assert_eq!(g.len(), before - 3 * (W - 16));
    let x = 0.3;
    let out = eval(&g, &[scalar(x)]);
    assert_eq!(out[0].to_f64_vec(), vec![wide_by_hand(W, x)]);
    // Keep only the first chain: dce removes the rest, every one a user of
    // x or of a value x's users feed.
    let first = g
        .node_ids()
        .into_iter()
        .find(|&n| matches!(g[n].op, Op::Unary(_)))
        .unwrap();
    g.set_outputs(vec![first]);
    let report = PassManager::parse("dce").unwrap().run(&mut g).unwrap();
    assert!(report.passes[0].stats.removed > W);
    assert_eq!(g.len(), 4); // x, the constant, the mul, the sin
    let out = eval(&g, &[scalar(x)]);
    assert_eq!(out[0].to_f64_vec(), vec![(x * 0.0).sin()]);
}

/// `Graph::remove_nodes` keeps every other node's operands and the order
/// of its users, and reuses freed ids like one-by-one removal does.
#[test]
fn remove_nodes_matches_removing_one_by_one() {
    let mut a = wide(64);
    let x = a.params()[0];
    let victims: Vec<NodeId> = a
        .node_ids()
        .into_iter()
        .filter(|&n| matches!(a[n].op, Op::Binary(adjoint_ir::BinaryOp::Mul)) && n.index() % 3 == 0)
        .collect();
    // Detach the victims first (their users take x instead), as cse does.
    for &v in &victims {
        a.replace_all_uses(v, x);
    }
    let mut b = a.clone();
    let bulk = a.remove_nodes(&victims).unwrap();
    let single: Vec<_> = victims.iter().map(|&v| b.remove_node(v).unwrap()).collect();
    assert_eq!(bulk, single);
    assert_eq!(a.node_ids(), b.node_ids());
    for n in a.node_ids() {
        assert_eq!(a.operands(n), b.operands(n), "operands of {n}");
        assert_eq!(a.users(n), b.users(n), "users of {n}");
    }
    let (na, nb) = (a.constant(scalar(1.0)), b.constant(scalar(1.0)));
    assert_eq!(na, nb);
    // Parameters, missing and repeated nodes are errors and remove nothing.
    let len = a.len();
    assert!(a.remove_nodes(&[x]).is_err());
    assert!(a.remove_nodes(&[victims[0]]).is_err());
    assert!(a.remove_nodes(&[na, na]).is_err());
    assert_eq!(a.len(), len);
}

/// An hourglass chain: `k` layers `s = Σ sin v`, `v = sin(s)·s` broadcast
/// back to 4 elements; every `s` (1 element) is a cut point between
/// non-diagonal stages, so `auto` preaccumulates many stages and multiplies
/// them, each push or pull confined to its stages.
fn hourglass(k: usize) -> Graph {
    let b = GraphBuilder::new("hourglass");
    let x = b.param("x", TensorType::f64([4]));
    let mut v = x;
    for _ in 0..k {
        let s = v.sin().sum();
        let sb = s.broadcast_to([4]);
        v = sb.sin() * sb + v.lit(0.5);
    }
    b.build(&[v]).unwrap()
}

#[test]
fn a_long_hourglass_chain_gets_the_same_jacobian_in_every_mode() {
    let x = Tensor::from_f64([4], vec![0.1, -0.2, 0.3, 0.4]).unwrap();
    let mut jacs = Vec::new();
    for mode in ["auto", "fwd", "rev"] {
        let mut g = hourglass(400);
        let report = PassManager::parse(&format!("jacobian{{mode={mode}}}"))
            .unwrap()
            .run(&mut g)
            .unwrap();
        let out = eval(&g, std::slice::from_ref(&x));
        assert_eq!(out[1].shape().dims(), &[4, 4]);
        jacs.push((
            mode,
            out[1].to_f64_vec(),
            report.passes[0].stats.notes.join("; "),
        ));
    }
    let scale = jacs[1].1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0 && scale.is_finite());
    for (mode, j, note) in &jacs {
        for (a, b) in j.iter().zip(&jacs[1].1) {
            assert!((a - b).abs() <= 1e-9 * scale, "{mode}: {a} vs {b}; {note}");
        }
    }
    // auto really split the chain (not a pure mode).
    assert!(jacs[0].2.contains("·"), "{}", jacs[0].2);
}
