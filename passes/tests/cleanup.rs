//! The clean-up passes, each with before/after checks: the structure
//! changes as intended, the stats report it, and the values do not change.
mod common;

use adjoint_ir::{
    BinaryOp, CustomOp, DType, Graph, GraphBuilder, Op, Shape, Tensor, TensorType, UnaryOp, Value,
};
use adjoint_passes::{Pass, PassStats};
use common::{eval, op_counts, Rng};

fn apply(g: &Graph, p: &dyn Pass) -> (Graph, PassStats) {
    let mut h = g.clone();
    let s = p.run(&mut h).unwrap();
    adjoint_ir::verify(&h).unwrap();
    (h, s)
}

fn same_values(g: &Graph, h: &Graph, seed: u64) {
    let mut r = Rng(seed);
    let xs: Vec<Tensor> = g
        .param_types()
        .iter()
        .map(|t| r.tensor(t, -2.0, 2.0))
        .collect();
    let (a, b) = (eval(g, &xs), eval(h, &xs));
    assert_eq!(
        a,
        b,
        "values changed:\n{}\n{}",
        adjoint_ir::print_graph(g),
        adjoint_ir::print_graph(h)
    );
}

fn count(g: &Graph, op: &str) -> usize {
    op_counts(g).get(op).copied().unwrap_or(0)
}

fn one(name: &str, shape: &[usize], f: impl for<'b> Fn(Value<'b>) -> Value<'b>) -> Graph {
    let b = GraphBuilder::new(name);
    let x = b.param("x", TensorType::f64(shape.to_vec()));
    b.build(&[f(x)]).unwrap()
}

#[test]
fn dce_removes_dead_nodes_but_never_parameters() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let _unused = b.param("u", TensorType::f64([2]));
    let _dead = (x.exp() * 2.0).sin();
    let g = b.build(&[x.cos().sum()]).unwrap();
    let (h, s) = apply(&g, &adjoint_passes::dce::Dce);
    // exp, const 2, broadcast, mul, sin are gone; both params stay.
    assert_eq!(s.removed, 5);
    assert_eq!(h.len(), g.len() - 5);
    assert_eq!(h.param_names(), ["x", "u"]);
    same_values(&g, &h, 1);
    let (_, s) = apply(&h, &adjoint_passes::dce::Dce);
    assert_eq!(s, PassStats::default());
}

#[test]
fn cse_merges_structurally_equal_nodes_and_commutes() {
    let mut g = Graph::new("f");
    let x = g.add_param("x", TensorType::f64([3])).unwrap();
    let y = g.add_param("y", TensorType::f64([3])).unwrap();
    let m1 = g.add(Op::Binary(BinaryOp::Mul), &[x, y]).unwrap();
    let m2 = g.add(Op::Binary(BinaryOp::Mul), &[y, x]).unwrap(); // commuted
    let s1 = g.add(Op::Unary(UnaryOp::Sin), &[m1]).unwrap();
    let s2 = g.add(Op::Unary(UnaryOp::Sin), &[m2]).unwrap(); // equal after m2 -> m1
    let d1 = g.add(Op::Binary(BinaryOp::Sub), &[s1, x]).unwrap();
    let d2 = g.add(Op::Binary(BinaryOp::Sub), &[x, s2]).unwrap(); // not commutative
    let c1 = g.constant(Tensor::scalar_f64(1.5));
    let c2 = g.constant(Tensor::scalar_f64(1.5));
    let c3 = g.constant(Tensor::scalar_f64(-0.0));
    let c4 = g.constant(Tensor::scalar_f64(0.0)); // differs bitwise from -0
    let a = g.add(Op::Binary(BinaryOp::Add), &[c1, c3]).unwrap();
    let b = g.add(Op::Binary(BinaryOp::Add), &[c2, c4]).unwrap();
    let ab = g.add(Op::Binary(BinaryOp::Mul), &[a, b]).unwrap();
    g.set_outputs(vec![d1, d2, ab]);
    let (h, s) = apply(&g, &adjoint_passes::cse::Cse);
    // m2, s2 and c2 merged; the two subtractions and 0.0/-0.0 are kept.
    assert_eq!(s.removed, 3);
    assert_eq!(s.notes, ["removed 3: 1 const, 1 mul, 1 sin"]);
    assert_eq!(count(&h, "mul"), 2);
    assert_eq!(count(&h, "sin"), 1);
    assert_eq!(count(&h, "sub"), 2);
    assert_eq!(count(&h, "const"), 3);
    same_values(&g, &h, 2);
}

#[test]
fn simplify_identities() {
    let cases: Vec<(Graph, &str)> = vec![
        (one("mul1", &[3], |x| (x * 1.0).sin()), "x*1"),
        (one("1mul", &[3], |x| (1.0 * x).sin()), "1*x"),
        (one("addm0", &[3], |x| (x + -0.0).sin()), "x+(-0)"),
        (one("m0add", &[3], |x| (-0.0 + x).sin()), "(-0)+x"),
        (one("sub0", &[3], |x| (x - 0.0).sin()), "x-0"),
        (one("div1", &[3], |x| (x / 1.0).sin()), "x/1"),
        (one("negneg", &[3], |x| (-(-x)).sin()), "neg neg"),
        (
            one("bcast_id", &[2, 3], |x| x.op_broadcast([2, 3]).sin()),
            "broadcast id",
        ),
        (
            one("reshape_id", &[2, 3], |x| x.reshape([2, 3]).sin()),
            "reshape id",
        ),
        (
            one("transpose_id", &[2, 3], |x| x.transpose(&[0, 1]).sin()),
            "transpose id",
        ),
        (
            one("tt", &[2, 3], |x| {
                x.transpose(&[1, 0]).transpose(&[1, 0]).sin()
            }),
            "transpose transpose",
        ),
        (
            one("slice_id", &[2, 3], |x| x.slice(&[0, 0], &[2, 3]).sin()),
            "full slice",
        ),
        (
            one("pad_id", &[2, 3], |x| x.pad(&[0, 0], &[0, 0]).sin()),
            "zero pad",
        ),
        (
            one("sel", &[3], |x| x.gt(x.sin()).select(x, x).sin()),
            "select x x",
        ),
    ];
    for (g, what) in cases {
        let (h, s) = apply(&g, &adjoint_passes::simplify::Simplify::default());
        // Only param -> sin -> output is left (plus what the comparison of
        // `select` needs, which dies too).
        assert_eq!(h.len(), 2, "{what}: {}", adjoint_ir::print_graph(&h));
        assert!(s.removed >= 1 && s.changed, "{what}");
        same_values(&g, &h, 3);
    }
}

fn fast() -> adjoint_passes::simplify::Simplify {
    adjoint_passes::simplify::Simplify { fast_math: true }
}

#[test]
fn simplify_pow_two_is_the_square_only_under_fast_math() {
    let g = one("pow2", &[3], |x| x.powf(2.0).sin());
    let (h, s) = apply(&g, &adjoint_passes::simplify::Simplify::default());
    assert!(!s.changed);
    assert_eq!(count(&h, "pow"), 1);
    let (h, s) = apply(&g, &fast());
    assert!(s.changed);
    assert_eq!(count(&h, "pow"), 0, "{}", adjoint_ir::print_graph(&h));
    assert_eq!(count(&h, "mul"), 1);
    // pow(x, 1) likewise.
    let g = one("pow1", &[3], |x| x.powf(1.0).sin());
    assert_eq!(
        count(
            &apply(&g, &adjoint_passes::simplify::Simplify::default()).0,
            "pow"
        ),
        1
    );
    let (h, _) = apply(&g, &fast());
    assert_eq!(count(&h, "pow"), 0);
    same_values(&g, &h, 4);
}

trait OpBroadcast<'b> {
    fn op_broadcast(self, shape: impl Into<Shape>) -> Value<'b>;
}

impl<'b> OpBroadcast<'b> for Value<'b> {
    /// An explicit broadcast node, even to the same shape.
    fn op_broadcast(self, shape: impl Into<Shape>) -> Value<'b> {
        self.builder().op(
            Op::Broadcast {
                shape: shape.into(),
            },
            &[self],
        )
    }
}

#[test]
fn simplify_rewrites() {
    let run = |g: &Graph| {
        let (h, _) = apply(g, &adjoint_passes::simplify::Simplify::default());
        same_values(g, &h, 4);
        h
    };
    // (-0) - x -> neg x (but not 0 - x: 0 - 0 = +0); x * -1 -> neg x.
    let h = run(&one("m0sub", &[3], |x| -0.0 - x));
    assert_eq!((count(&h, "neg"), count(&h, "sub")), (1, 0));
    let h = run(&one("0sub", &[3], |x| 0.0 - x));
    assert_eq!((count(&h, "neg"), count(&h, "sub")), (0, 1));
    // x + 0 -> x only where x cannot be -0 (exp x, a sum), not for x itself.
    let h = run(&one("add0", &[3], |x| x + 0.0));
    assert_eq!(count(&h, "add"), 1);
    let h = run(&one("exp_add0", &[3], |x| x.exp() + 0.0));
    assert_eq!(count(&h, "add"), 0);
    let h = run(&one("sum_add0", &[3], |x| 0.0 + x.sum()));
    assert_eq!(count(&h, "add"), 0);
    let h = run(&one("mulm1", &[3], |x| x * -1.0));
    assert_eq!((count(&h, "neg"), count(&h, "mul")), (1, 0));
    // a + (-b) -> a - b; a - (-b) -> a + b; (-a)*(-b) -> a*b.
    let h = run(&one("addneg", &[3], |x| x.sin() + (-x)));
    assert_eq!(
        (count(&h, "neg"), count(&h, "sub"), count(&h, "add")),
        (0, 1, 0)
    );
    let h = run(&one("subneg", &[3], |x| x.sin() - (-x)));
    assert_eq!((count(&h, "neg"), count(&h, "add")), (0, 1));
    let h = run(&one("negneg_mul", &[3], |x| (-x) * (-x.sin())));
    assert_eq!((count(&h, "neg"), count(&h, "mul")), (0, 1));
    // (-x) * 3 -> x * -3; -(x * 3) -> x * -3; 2 * (x * 4) -> x * 8.
    let h = run(&one("negc", &[3], |x| (-x) * 3.0));
    assert_eq!((count(&h, "neg"), count(&h, "mul")), (0, 1));
    let h = run(&one("negc2", &[3], |x| -(x * 3.0)));
    assert_eq!((count(&h, "neg"), count(&h, "mul")), (0, 1));
    let h = run(&one("reassoc", &[3], |x| 2.0 * (x * -4.0)));
    assert_eq!(count(&h, "mul"), 1);
    // ... but not when a constant is not a power of two of at least 1
    // (inexact: 2·(x·3) rounds 3x in the subnormals; x·0.5 underflows).
    for (c1, c2) in [(2.0, 3.0), (3.0, 0.1), (2.0, 0.5), (0.5, 0.5)] {
        let h = run(&one("noreassoc", &[3], |x| c1 * (x * c2)));
        assert_eq!(count(&h, "mul"), 2, "{c1}·(x·{c2})");
    }
    // broadcast of broadcast -> one broadcast.
    let h = run(&one("bb", &[3], |x| {
        x.broadcast_to([2, 3]).broadcast_to([4, 2, 3])
    }));
    assert_eq!(count(&h, "broadcast"), 1);
    // reshape of reshape -> one reshape.
    let h = run(&one("rr", &[2, 6], |x| x.reshape([3, 4]).reshape([4, 3])));
    assert_eq!(count(&h, "reshape"), 1);
    // transpose of transpose -> the composed permutation.
    let h = run(&one("tt", &[2, 3, 4], |x| {
        x.transpose(&[1, 2, 0]).transpose(&[1, 2, 0])
    }));
    assert_eq!(count(&h, "transpose"), 1);
    let t = h
        .node_ids()
        .into_iter()
        .find(|&n| h[n].op.name() == "transpose")
        .unwrap();
    assert_eq!(
        h[t].op,
        Op::Transpose {
            perm: vec![2, 0, 1]
        }
    );
    // reduce_sum of a broadcast -> a scaled (re)broadcast, no reduction,
    // for the copy counts where that is exact.
    let h = run(&one("rb", &[3], |x| x.broadcast_to([4, 3]).sum_axes(&[0])));
    assert_eq!((count(&h, "reduce_sum"), count(&h, "mul")), (0, 1));
    let h = run(&one("rb1", &[2, 1], |x| {
        x.broadcast_to([4, 2, 3]).sum_axes(&[0, 2])
    }));
    assert_eq!(count(&h, "reduce_sum"), 0);
    let h = run(&one("rb5", &[3], |x| x.broadcast_to([5, 3]).sum_axes(&[0])));
    assert_eq!(count(&h, "reduce_sum"), 1);
    // ... not when a summed axis was not broadcast.
    let h = run(&one("rb2", &[2, 1], |x| {
        x.broadcast_to([2, 3]).sum_axes(&[0])
    }));
    assert_eq!(count(&h, "reduce_sum"), 1);
    // reshape / transpose of a broadcast scalar -> a broadcast.
    let h = run(&one("rs", &[], |x| {
        x.broadcast_to([2, 3]).reshape([3, 2]).t()
    }));
    assert_eq!(
        (
            count(&h, "broadcast"),
            count(&h, "reshape"),
            count(&h, "transpose")
        ),
        (1, 0, 0)
    );
    // cast f32 -> f64 -> f32 is the identity (f64 -> f32 -> f64 is not).
    let b = GraphBuilder::new("c");
    let x = b.param("x", TensorType::f32([3]));
    let g = b.build(&[x.cast(DType::F64).cast(DType::F32)]).unwrap();
    let h = run(&g);
    assert_eq!(count(&h, "cast"), 0);
    let b = GraphBuilder::new("c2");
    let x = b.param("x", TensorType::f64([3]));
    let g = b.build(&[x.cast(DType::F32).cast(DType::F64)]).unwrap();
    assert_eq!(count(&run(&g), "cast"), 2);
}

#[test]
fn simplify_keeps_ieee_semantics_of_x_times_zero() {
    let g = one("mul0", &[3], |x| x * 0.0);
    let (h, _) = apply(&g, &adjoint_passes::simplify::Simplify::default());
    assert_eq!(count(&h, "mul"), 1);
    let out = eval(
        &h,
        &[Tensor::from_f64([3], vec![f64::INFINITY, f64::NAN, 1.0]).unwrap()],
    );
    let v = out[0].to_f64_vec();
    assert!(v[0].is_nan() && v[1].is_nan() && v[2] == 0.0);
}

#[test]
fn fold_evaluates_constants_compactly_and_respects_the_cap() {
    // (2 + 3) * x: the add folds to 5.
    let g = one("f", &[3], |x| (x.lit(2.0) + x.lit(3.0)) * x);
    let (h, s) = apply(&g, &adjoint_passes::fold::Fold::default());
    assert_eq!(count(&h, "add"), 0);
    assert!(s.removed >= 1);
    same_values(&g, &h, 5);
    // A splat result of any size stays a broadcast scalar.
    let g = one("big", &[100_000], |x| {
        x + (x.lit(1.0).broadcast_to([100_000]) * 2.0).sqrt()
    });
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold::default());
    assert_eq!((count(&h, "mul"), count(&h, "sqrt")), (0, 0));
    let c = h
        .node_ids()
        .into_iter()
        .find(|&n| matches!(&h[n].op, Op::Const(t) if t.scalar_value().unwrap() == 2f64.sqrt()))
        .expect("sqrt 2 folded to a scalar");
    assert_eq!(h[c].ty, TensorType::f64([]));
    // A dense result over the cap is not folded.
    let mut g = Graph::new("dense");
    let x = g.add_param("x", TensorType::f64([20])).unwrap();
    let v: Vec<f64> = (0..20).map(|i| i as f64).collect();
    let c = g.constant(Tensor::from_f64([20], v).unwrap());
    let e = g.add(Op::Unary(UnaryOp::Sqrt), &[c]).unwrap();
    let y = g.add(Op::Binary(BinaryOp::Mul), &[x, e]).unwrap();
    g.set_outputs(vec![y]);
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold { max_elements: 10 });
    assert_eq!(count(&h, "sqrt"), 1);
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold { max_elements: 20 });
    assert_eq!(count(&h, "sqrt"), 0);
    same_values(&g, &h, 6);
}

#[test]
fn fold_leaves_engine_dependent_ops_alone() {
    // Transcendentals, pow and matmul of constants are not folded: their
    // bits depend on the engine's math mode or summation order
    // (docs/ir.md §14), and folding would put the interpreter's in place of
    // the JIT's.
    let g = one("t", &[3], |x| {
        let c = x.lit(0.5);
        x + (c.exp() + c.log() + c.sin() + c.cos() + c.tanh() + c.sigmoid() + c.pow(c))
    });
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold::default());
    for op in ["exp", "log", "sin", "cos", "tanh", "sigmoid", "pow"] {
        assert_eq!(count(&h, op), 1, "{op} was folded");
    }
    let mut g = Graph::new("mm");
    let x = g.add_param("x", TensorType::f64([2, 2])).unwrap();
    let c = g.constant(Tensor::from_f64([2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap());
    let m = g.add(Op::MatMul, &[c, c]).unwrap();
    let y = g.add(Op::Binary(BinaryOp::Add), &[x, m]).unwrap();
    g.set_outputs(vec![y]);
    let (h, _) = apply(&g, &adjoint_passes::fold::Fold::default());
    assert_eq!(count(&h, "matmul"), 1);
}

fn square_op(with_rules: bool) -> std::sync::Arc<CustomOp> {
    let b = GraphBuilder::new("sq_body");
    let x = b.param("x", TensorType::f64([3]));
    let body = b.build(&[x * x]).unwrap();
    let vjp = with_rules.then(|| {
        let b = GraphBuilder::new("sq_vjp");
        let x = b.param("x", TensorType::f64([3]));
        let _y = b.param("y", TensorType::f64([3]));
        let ct = b.param("ct", TensorType::f64([3]));
        b.build(&[ct * x * 2.0]).unwrap()
    });
    CustomOp::new("sq", body, vjp, None).unwrap()
}

#[test]
fn inline_expands_calls() {
    let op = square_op(false);
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let g = b
        .build(&[b.call(&op, &[b.call(&op, &[x.sin()])]).sum()])
        .unwrap();
    let (h, s) = apply(&g, &adjoint_passes::inline::Inline);
    assert_eq!(count(&h, "call"), 0);
    assert_eq!(count(&h, "mul"), 2);
    assert_eq!((s.removed, s.added), (2, 2));
    same_values(&g, &h, 7);
}

#[test]
fn ad_uses_custom_rules_or_differentiates_the_body() {
    // With a vjp rule: grad uses it (the call stays). Without: the body is
    // inlined and differentiated. jvp of the op with only a vjp inlines.
    for rules in [true, false] {
        let op = square_op(rules);
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([3]));
        let g = b.build(&[b.call(&op, &[x.sin()]).sum()]).unwrap();
        let h = common::run(&g, "grad,simplify,cse,dce");
        assert_eq!(count(&h, "call"), usize::from(rules));
        let hf = common::run(&g, "jvp");
        assert_eq!(count(&hf, "call"), 0);
        let xs = [Tensor::from_f64([3], vec![0.1, -0.7, 1.3]).unwrap()];
        let gr = eval(&h, &xs)[1].to_f64_vec();
        let want: Vec<f64> = [0.1f64, -0.7, 1.3]
            .iter()
            .map(|v| 2.0 * v.sin() * v.cos())
            .collect();
        for (a, b) in gr.iter().zip(&want) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}

#[test]
fn fold_removes_the_users_of_a_shared_constant_and_the_constant_in_one_batch() {
    // y = x + c·c + c·c + ... (2000 products of one shared constant c):
    // every product folds, then c is left without users; the folded nodes
    // and c go in one batch (one at a time, each removal walked c's list of
    // users, quadratic in the number of users).
    const N: usize = 2000;
    let mut g = Graph::new("shared");
    let x = g.add_param("x", TensorType::f64([])).unwrap();
    let c = g.constant(Tensor::scalar_f64(1.5));
    let mut y = x;
    for _ in 0..N {
        let p = g.add(Op::Binary(BinaryOp::Mul), &[c, c]).unwrap();
        y = g.add(Op::Binary(BinaryOp::Add), &[y, p]).unwrap();
    }
    g.set_outputs(vec![y]);
    let (h, s) = apply(&g, &adjoint_passes::fold::Fold::default());
    assert_eq!(count(&h, "mul"), 0);
    assert_eq!(count(&h, "add"), N);
    assert!(
        !h.contains(c),
        "the shared constant is left without users and removed"
    );
    assert_eq!(s.removed, N + 1, "{N} products and the constant");
    same_values(&g, &h, 7);
}
