//! `grad{remat=true}`: the stored residuals fall to a hand-counted minimum,
//! each recomputed node is cloned once, the clones survive the clean-up
//! passes and a text round trip, and the results are bit for bit those
//! without `remat` (NaN and infinities included), first and second order.
mod common;
mod loop_cases;

use adjoint_interp::{eval_with, EvalOptions};
use adjoint_ir::UnaryOp;
use adjoint_ir::{
    parse_module, print_graph, DType, Graph, GraphBuilder, NodeId, Tensor, TensorType, Value,
};
use adjoint_passes::emit;
use adjoint_passes::remat::{is_clone, CLONE_PREFIX};
use common::{eval, run, Rng};
use std::collections::HashSet;

const CLEANUP: &str = "simplify,cse,dce";

/// `sum(tanh(sigmoid(tanh(x @ w))) @ v)` on `x: [b, k]`, `w: [k, n]`,
/// `v: [n, 1]`, the intermediates named `h`, `t1`, `t2`, `t3`.
fn chain(b: usize, k: usize, n: usize) -> Graph {
    let gb = GraphBuilder::new("chain");
    let x = gb.param("x", TensorType::f64([b, k]));
    let w = gb.param("w", TensorType::f64([k, n]));
    let v = gb.param("v", TensorType::f64([n, 1]));
    let h = x.matmul(w);
    let t1 = h.tanh();
    let t2 = t1.sigmoid();
    let t3 = t2.tanh();
    let y = t3.matmul(v).sum();
    for (val, name) in [(h, "h"), (t1, "t1"), (t2, "t2"), (t3, "t3")] {
        gb.try_name(val, name).unwrap();
    }
    gb.build(&[y]).unwrap()
}

/// An MLP whose activation is a wide elementwise tail,
/// `act(z) = tanh(z) * sigmoid(z) + 0.125 * z`, with a softmax
/// cross-entropy loss.
fn wide_mlp(batch: usize, dims: [usize; 4]) -> Graph {
    let gb = GraphBuilder::new("wide_mlp");
    let t = |d: &[usize]| TensorType::f64(d.to_vec());
    let x = gb.param("x", t(&[batch, dims[0]]));
    let labels = gb.param("labels", t(&[batch, dims[3]]));
    let w1 = gb.param("w1", t(&[dims[0], dims[1]]));
    let b1 = gb.param("b1", t(&[dims[1]]));
    let w2 = gb.param("w2", t(&[dims[1], dims[2]]));
    let b2 = gb.param("b2", t(&[dims[2]]));
    let w3 = gb.param("w3", t(&[dims[2], dims[3]]));
    let h1 = act(x.matmul(w1) + b1);
    let h2 = act(h1.matmul(w2) + b2);
    let logits = h2.matmul(w3);
    gb.build(&[logits.cross_entropy(labels)]).unwrap()
}

fn act(z: Value<'_>) -> Value<'_> {
    z.tanh() * z.sigmoid() + 0.125 * z
}

/// The residuals of a gradient program, found from its structure alone:
/// the values the forward output (output 0) depends on that a node
/// outside that forward part reads, without parameters, constants and
/// the forward output itself (never working memory, or held anyway).
fn residuals(g: &Graph) -> Vec<NodeId> {
    let fwd = g.ancestors(&[g.outputs()[0]]);
    let mut r: Vec<NodeId> = fwd
        .iter()
        .copied()
        .filter(|&f| {
            f != g.outputs()[0]
                && !matches!(
                    g[f].op,
                    adjoint_ir::Op::Param { .. } | adjoint_ir::Op::Const(_)
                )
                && g.users(f).iter().any(|u| !fwd.contains(u))
        })
        .collect();
    r.sort_unstable();
    r
}

fn stored_bytes(g: &Graph) -> usize {
    residuals(g).iter().map(|&r| g.ty(r).size_bytes()).sum()
}

fn names(g: &Graph, ids: &[NodeId]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|&i| g.display_name(i)).collect();
    v.sort();
    v
}

fn clones(g: &Graph) -> Vec<String> {
    let ids: Vec<NodeId> = g
        .node_ids()
        .into_iter()
        .filter(|&n| is_clone(g, n))
        .collect();
    names(g, &ids)
}

fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng(seed);
    g.param_types()
        .iter()
        .map(|t| rng.tensor(t, -1.0, 1.0))
        .collect()
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// The interpreter's peak working memory for `g`: the smallest budget
/// its up-front check accepts (found by bisection; inputs are not
/// counted).
fn interp_peak(g: &Graph, ins: &[Tensor]) -> u64 {
    let fits = |b: u64| {
        let opts = EvalOptions {
            max_working_bytes: b,
            ..EvalOptions::default()
        };
        eval_with(g, ins, &opts).is_ok()
    };
    let (mut lo, mut hi) = (0u64, 1u64 << 32);
    assert!(fits(hi));
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[test]
fn chain_stores_t1_and_recomputes_t2_t3() {
    let g = chain(4, 3, 5);
    let plain = run(&g, &format!("grad{{wrt=w,v}},{CLEANUP}"));
    let remat = run(&g, &format!("grad{{wrt=w,v,remat=true}},{CLEANUP}"));
    // Without remat every activation is read by the backward part: tanh'
    // and sigmoid' use the results, and dv = t3ᵀ·dy.
    assert_eq!(names(&plain, &residuals(&plain)), ["%t1", "%t2", "%t3"]);
    assert_eq!(stored_bytes(&plain), 3 * 4 * 5 * 8);
    // With it one [4,5] value is enough: storing h (and recomputing t1, t2
    // and t3) or t1 (recomputing t2 and t3) both cost 160 bytes, and the
    // cut that recomputes less is taken.
    assert_eq!(names(&remat, &residuals(&remat)), ["%t1"]);
    assert_eq!(stored_bytes(&remat), 4 * 5 * 8);
    assert_eq!(clones(&remat), ["%remat_t2", "%remat_t3"]);
    // The same values, bit for bit.
    let ins = inputs(&g, 1);
    assert_eq!(bits(&eval(&plain, &ins)), bits(&eval(&remat, &ins)));
}

#[test]
fn each_recomputed_node_is_cloned_once() {
    let g = wide_mlp(3, [4, 5, 6, 3]);
    let mut h = g.clone();
    let before: HashSet<NodeId> = h.node_ids().into_iter().collect();
    let report = adjoint_passes::PassManager::parse("grad{remat=true}")
        .unwrap()
        .run(&mut h)
        .unwrap();
    let note = format!("{report:?}");
    assert!(note.contains("remat: residuals"), "{note}");
    // Every clone is a copy of one forward node, and no forward node has
    // two: the names are `remat_<original>` without a uniqueness suffix.
    let made: Vec<NodeId> = h
        .node_ids()
        .into_iter()
        .filter(|&n| is_clone(&h, n))
        .collect();
    assert!(!made.is_empty());
    let mut originals = HashSet::new();
    for &c in &made {
        assert!(!before.contains(&c));
        let name = h[c].name.clone().unwrap();
        let orig = &name[CLONE_PREFIX.len()..];
        let o = before
            .iter()
            .copied()
            .find(|&f| h[f].name.as_deref() == Some(orig) || f.index().to_string() == orig)
            .unwrap_or_else(|| panic!("{name} copies no forward node"));
        assert_eq!(h[o].op, h[c].op, "{name}");
        assert!(originals.insert(o), "{orig} is recomputed twice");
    }
    // The clean-up passes keep them apart from the originals.
    let cleaned = run(&h, CLEANUP);
    assert_eq!(clones(&cleaned).len(), made.len());
}

#[test]
fn wide_mlp_stores_one_value_per_layer() {
    let g = wide_mlp(3, [4, 5, 6, 3]);
    let pipe = |r: bool| format!("grad{{wrt=w1,b1,w2,b2,w3,remat={r}}},{CLEANUP}");
    let plain = run(&g, &pipe(false));
    let remat = run(&g, &pipe(true));
    // Per hidden layer the backward part reads tanh(z), sigmoid(z), the
    // broadcast constant 0.125 and act(z) (the next matmul's operand), 4
    // values of [b, width]; the loss reads back its exp and their row sums.
    let ops = |h: &Graph| {
        residuals(h)
            .iter()
            .map(|&r| format!("{} {}", h[r].op.name(), h.ty(r)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ops(&plain),
        [
            "tanh f64[3,5]",
            "sigmoid f64[3,5]",
            "broadcast f64[3,5]",
            "add f64[3,5]",
            "tanh f64[3,6]",
            "sigmoid f64[3,6]",
            "broadcast f64[3,6]",
            "add f64[3,6]",
            "exp f64[3,3]",
            "reduce_sum f64[3]",
        ]
    );
    assert_eq!(stored_bytes(&plain), 4 * (120 + 144) + 72 + 24);
    // With remat each layer keeps only its pre-activation z = x·w + b,
    // from which the 4 values are recomputed (z's operands, a matmul and
    // a broadcast, are as large together); the loss keeps what it kept
    // (exp's input and the matmul before it are as large).
    assert_eq!(
        ops(&remat),
        [
            "add f64[3,5]",
            "add f64[3,6]",
            "exp f64[3,3]",
            "reduce_sum f64[3]"
        ]
    );
    assert_eq!(stored_bytes(&remat), 120 + 144 + 72 + 24);
    let ins = inputs(&g, 2);
    assert_eq!(bits(&eval(&plain, &ins)), bits(&eval(&remat, &ins)));
    // The interpreter's peak working memory falls with the residuals.
    assert!(interp_peak(&remat, &ins) < interp_peak(&plain, &ins));
}

#[test]
fn nan_and_infinities_give_the_same_bits() {
    let g = wide_mlp(3, [4, 5, 6, 3]);
    let pipe = |r: bool| format!("grad{{remat={r}}},{CLEANUP}");
    let plain = run(&g, &pipe(false));
    let remat = run(&g, &pipe(true));
    let mut ins = inputs(&g, 3);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e300,
        5e-324,
    ];
    for (k, t) in ins.iter_mut().enumerate() {
        let mut v = t.to_f64_vec();
        for (i, x) in v.iter_mut().enumerate() {
            if (i + k) % 3 == 0 {
                *x = specials[(i + k) % specials.len()];
            }
        }
        *t = Tensor::from_f64_as(&t.ty(), &v).unwrap();
    }
    assert_eq!(bits(&eval(&plain, &ins)), bits(&eval(&remat, &ins)));
}

#[test]
fn remat_gradient_matches_finite_differences() {
    let g = wide_mlp(2, [3, 4, 4, 3]);
    let remat = run(&g, &format!("grad{{remat=true}},{CLEANUP}"));
    let ins = inputs(&g, 4);
    let grads = eval(&remat, &ins);
    let eps = 1e-6;
    // Every element of every parameter.
    for p in 0..ins.len() {
        let x = ins[p].to_f64_vec();
        let want = grads[p + 1].to_f64_vec();
        for i in 0..x.len() {
            let at = |d: f64| {
                let mut a = ins.clone();
                let mut xv = x.clone();
                xv[i] += d;
                a[p] = Tensor::from_f64_as(&ins[p].ty(), &xv).unwrap();
                eval(&g, &a)[0].to_f64_vec()[0]
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (fd - want[i]).abs() <= 1e-7 + 1e-6 * fd.abs(),
                "param {p} elem {i}: fd {fd} vs {}",
                want[i]
            );
        }
    }
}

#[test]
fn second_order_through_remat() {
    // x: f64[] scalar; f(x) = sum(tanh(sigmoid(tanh(x * c)))) over a
    // constant vector c.
    let gb = GraphBuilder::new("f");
    let x = gb.param("x", TensorType::f64([]));
    let c = gb.constant(Tensor::from_f64([4], vec![0.5, -1.0, 2.0, 0.25]).unwrap());
    let y = (x * c).tanh().sigmoid().tanh().sum();
    let g = gb.build(&[y]).unwrap();
    let gg = |r: bool| {
        run(
            &g,
            &format!("grad{{wrt=x,remat={r}}},{CLEANUP},grad{{wrt=x,of=1,remat={r}}},{CLEANUP}"),
        )
    };
    let (plain, remat) = (gg(false), gg(true));
    assert!(!clones(&remat).is_empty());
    for x0 in [0.3, -1.7, 0.0, f64::NAN, f64::INFINITY] {
        let ins = [Tensor::scalar_f64(x0)];
        let (a, b) = (eval(&plain, &ins), eval(&remat, &ins));
        // f and f' are the same bits. f'' differentiates the rewritten
        // program, whose cotangent sums are grouped differently (the
        // clone's and the original's uses are summed apart), so it agrees
        // to rounding, and a NaN may differ in sign.
        assert_eq!(bits(&a[..2]), bits(&b[..2]), "x = {x0}");
        let (p2, r2) = (a[2].to_f64_vec()[0], b[2].to_f64_vec()[0]);
        assert_eq!(p2.is_nan(), r2.is_nan(), "x = {x0}");
        if x0.is_finite() {
            assert!((p2 - r2).abs() <= 1e-14 * p2.abs().max(1.0), "{p2} vs {r2}");
            // f'' by central differences of f'.
            let d1 = |t: f64| eval(&remat, &[Tensor::scalar_f64(t)])[1].to_f64_vec()[0];
            let h = 1e-5;
            let fd = (d1(x0 + h) - d1(x0 - h)) / (2.0 * h);
            assert!((fd - r2).abs() < 1e-6 * (1.0 + fd.abs()), "{fd} vs {r2}");
        }
    }
    // An HVP (forward over a remat reverse) is the same bits too.
    let hvp = |r: bool| {
        run(
            &g,
            &format!("grad{{wrt=x,remat={r}}},{CLEANUP},jvp{{wrt=x}}"),
        )
    };
    let (hp, hr) = (hvp(false), hvp(true));
    for x0 in [0.7, -0.0, f64::NAN, f64::NEG_INFINITY] {
        let ins = [Tensor::scalar_f64(x0), Tensor::scalar_f64(1.0)];
        assert_eq!(bits(&eval(&hp, &ins)), bits(&eval(&hr, &ins)), "x = {x0}");
    }
}

#[test]
fn nothing_to_gain_leaves_the_program_unchanged() {
    // Only the activation is read back (tanh' uses its result, and the
    // matmul's operand x is a parameter): nothing cheaper to store.
    let gb = GraphBuilder::new("g");
    let x = gb.param("x", TensorType::f64([3, 4]));
    let w = gb.param("w", TensorType::f64([4, 2]));
    let g = gb.build(&[x.matmul(w).tanh().sum()]).unwrap();
    let plain = run(&g, "grad");
    let remat = run(&g, "grad{remat=true}");
    assert_eq!(print_graph(&plain), print_graph(&remat));
    assert_eq!(stored_bytes(&remat), 3 * 2 * 8);
    // So does `remat=false`, the default.
    assert_eq!(
        print_graph(&run(&g, "grad{remat=false}")),
        print_graph(&plain)
    );
}

#[test]
fn clones_survive_a_text_round_trip_and_cse() {
    let g = chain(2, 3, 4);
    let remat = run(&g, &format!("grad{{remat=true}},{CLEANUP}"));
    let text = print_graph(&remat);
    assert!(text.contains("%remat_t2 = sigmoid %t1"), "{text}");
    let back = parse_module(&text).unwrap().func("chain").unwrap().clone();
    let again = run(&back, CLEANUP);
    assert_eq!(clones(&again), ["%remat_t2", "%remat_t3"]);
    assert_eq!(stored_bytes(&again), stored_bytes(&remat));
}

#[test]
fn bad_remat_value_is_an_error() {
    let e = adjoint_passes::PassManager::parse("grad{remat=yes}").unwrap_err();
    assert!(
        e.message.contains("remat") && e.message.contains("yes"),
        "{}",
        e.message
    );
}

#[test]
fn f32_programs_keep_their_bits() {
    let gb = GraphBuilder::new("f32");
    let x = gb.param("x", TensorType::new(DType::F32, [5, 3]));
    let w = gb.param("w", TensorType::new(DType::F32, [3, 4]));
    let h = x.matmul(w);
    let y = (h.tanh() * h.sigmoid() + h.sin()).sum();
    let g = gb.build(&[y]).unwrap();
    let plain = run(&g, &format!("grad,{CLEANUP}"));
    let remat = run(&g, &format!("grad{{remat=true}},{CLEANUP}"));
    assert!(stored_bytes(&remat) < stored_bytes(&plain));
    let ins = inputs(&g, 5);
    assert_eq!(bits(&eval(&plain, &ins)), bits(&eval(&remat, &ins)));
}

#[test]
fn free_node_slots_before_grad_do_not_move_the_clones_early() {
    // Dead nodes removed before `grad` leave free slots, which new nodes
    // reuse; the clones must still come after the backward part.
    let mut g = wide_mlp(3, [4, 5, 6, 3]);
    let x = g.params()[0];
    for _ in 0..8 {
        g.add(adjoint_ir::Op::Unary(adjoint_ir::UnaryOp::Exp), &[x])
            .unwrap();
    }
    let g = run(&g, "dce");
    let pipe = |r: bool| format!("grad{{wrt=w1,b1,w2,b2,w3,remat={r}}},{CLEANUP}");
    let (plain, remat) = (run(&g, &pipe(false)), run(&g, &pipe(true)));
    assert_eq!(stored_bytes(&remat), 120 + 144 + 72 + 24);
    let ins = inputs(&g, 6);
    assert_eq!(bits(&eval(&plain, &ins)), bits(&eval(&remat, &ins)));
    assert!(interp_peak(&remat, &ins) < interp_peak(&plain, &ins));
}

#[test]
fn loops_are_kept_and_the_chain_before_them_is_recomputed() {
    // xs' = tanh(sigmoid(xs)) feeds a scan `c' = c·x + k`: the scan's
    // gradient reads xs' and the chain's derivatives read its results.
    // The scan is never recomputed, and the chain is recomputed from the
    // parameter xs, which costs nothing to keep.
    use loop_cases::{body, f64t, scan, total};
    let n = 6;
    let step = body(
        "step",
        &[("c", f64t(&[])), ("x", f64t(&[])), ("k", f64t(&[]))],
        |_, p| vec![p[0] * p[1] + p[2], p[0]],
    );
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", f64t(&[])).unwrap();
    let xs = g.add_param("xs", f64t(&[n])).unwrap();
    let k = g.add_param("k", f64t(&[])).unwrap();
    let s = emit::un(&mut g, UnaryOp::Sigmoid, xs).unwrap();
    let t = emit::un(&mut g, UnaryOp::Tanh, s).unwrap();
    let r = g
        .add_multi(scan(&step, 1, 1, n, false), &[c0, t, k])
        .unwrap();
    let ys = total(&mut g, r[1]);
    let l = emit::add(&mut g, r[0], ys).unwrap();
    g.set_outputs(vec![l]);
    let plain = run(&g, &format!("grad,{CLEANUP}"));
    let remat = run(&g, &format!("grad{{remat=true}},{CLEANUP}"));
    assert!(stored_bytes(&remat) < stored_bytes(&plain));
    let ops = |h: &Graph| {
        let mut v: Vec<&str> = residuals(h).iter().map(|&r| h[r].op.name()).collect();
        v.sort();
        v
    };
    assert!(ops(&plain).contains(&"sigmoid") && ops(&plain).contains(&"tanh"));
    assert!(!ops(&remat).contains(&"sigmoid") && !ops(&remat).contains(&"tanh"));
    assert_eq!(clones(&remat).len(), 2, "{}", print_graph(&remat));
    let mut rng = Rng(7);
    for special in [None, Some(f64::NAN), Some(f64::INFINITY)] {
        let mut ins = vec![
            Tensor::scalar_f64(0.4),
            rng.tensor(&f64t(&[n]), -1.0, 1.0),
            Tensor::scalar_f64(0.3),
        ];
        if let Some(v) = special {
            let mut x = ins[1].to_f64_vec();
            x[2] = v;
            ins[1] = Tensor::from_f64([n], x).unwrap();
        }
        assert_eq!(bits(&eval(&plain, &ins)), bits(&eval(&remat, &ins)));
    }
}
