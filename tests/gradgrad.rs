//! Gradgrad: second derivatives of every primitive op (docs/ir.md §13) and
//! of every composite the AD passes recognise, in f64 on both engines.
//!
//! Each case is a scalar function `f = Σ w ⊙ body(params)` with fixed
//! weights `w`, at a random point away from kinks. Its Hessian-vector
//! product is computed forward-over-reverse (`grad,jvp`),
//! reverse-over-forward (`jvp,grad{of=1}`) and reverse-over-reverse
//! (`grad,vjp`), and each must match central differences of the compiled
//! gradient on the same engine (see `hvp/mod.rs`). Linear and piecewise
//! linear ops are followed by something curved, so the rules the first
//! pass emits are themselves differentiated with a nonzero second factor.
//!
//! `every_op_has_a_gradgrad_case` enumerates the ops from the op table
//! (`Op::all_names()` and the headings and rows of docs/ir.md §13): an op
//! added without a case here fails it.

mod hvp;

use adjoint::ir::{
    parse_module, BodyRef, CustomOp, DType, Graph, GraphBuilder, NodeId, Op, Tensor, TensorType,
    Value,
};
use adjoint::passes::composite::LogSumExp;
use adjoint::passes::emit;
use adjoint::Engine;
use hvp::common::{run, Rng};
use hvp::{hvps, point, rel_err};
use std::collections::BTreeSet;
use std::sync::Arc;

/// One gradgrad case: the op (or pattern) it is for, a scalar graph, and
/// the range of its inputs.
struct Case {
    op: &'static str,
    g: Graph,
    lo: f64,
    hi: f64,
}

fn f64t(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

/// `Σ w ⊙ y` with fixed weights in [0.5, 1.5) (`y` itself if scalar).
fn weighted<'b>(b: &'b GraphBuilder, y: Value<'b>) -> Value<'b> {
    let ty = y.ty();
    if ty.shape.rank() == 0 {
        return y;
    }
    let mut r = Rng(0x3e19 + ty.numel() as u64);
    let w: Vec<f64> = (0..ty.numel()).map(|_| r.uniform(0.5, 1.5)).collect();
    let wt = b.constant(Tensor::from_f64(ty.shape.clone(), w).unwrap());
    (y * wt).sum()
}

/// A case with parameters of the given shapes (`a`, `b`, `c`, … or `x`
/// alone) and body `f`.
fn case(
    op: &'static str,
    shapes: &[&[usize]],
    (lo, hi): (f64, f64),
    f: impl for<'b> Fn(&'b GraphBuilder, &[Value<'b>]) -> Value<'b>,
) -> Case {
    let b = GraphBuilder::new(op);
    let names = ["a", "b", "c"];
    let ps: Vec<_> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n = if shapes.len() == 1 { "x" } else { names[i] };
            b.param(n, f64t(s))
        })
        .collect();
    let y = f(&b, &ps);
    let out = weighted(&b, y);
    Case {
        op,
        g: b.build(&[out]).unwrap(),
        lo,
        hi,
    }
}

/// Checks one case on both engines; returns the worst error against the
/// finite differences.
fn check(c: &Case, seed: u64) -> f64 {
    let (xs, vs) = point(&c.g, c.lo, c.hi, seed);
    let mut worst: f64 = 0.0;
    let mut per_engine = Vec::new();
    for engine in Engine::ALL {
        let h = hvps(&c.g, &xs, &vs, engine);
        let (e, between) = (h.vs_fd(), h.between());
        assert!(
            e <= 1e-6 && between <= 1e-9,
            "{} (@{}) on {engine}: HVP vs fd {e:.2e}, between modes {between:.2e}\n{h:?}",
            c.op,
            c.g.name()
        );
        worst = worst.max(e);
        per_engine.push(h);
    }
    // The two engines agree on every product.
    let (i, j) = (&per_engine[0], &per_engine[1]);
    for (a, b) in [
        (&i.fwd_over_rev, &j.fwd_over_rev),
        (&i.rev_over_fwd, &j.rev_over_fwd),
        (&i.rev_over_rev, &j.rev_over_rev),
    ] {
        let (a, b): (Vec<f64>, Vec<f64>) = (a.concat(), b.concat());
        let e = rel_err(&a, &b, 1e-13);
        assert!(e <= 1e-10, "{}: interp and jit differ by {e:.2e}", c.op);
    }
    worst
}

fn check_all(cases: &[Case], seed: u64) {
    let mut worst: f64 = 0.0;
    for (i, c) in cases.iter().enumerate() {
        assert!(
            c.g.node_ids().iter().any(|&n| c.g[n].op.name() == c.op)
                || c.op.starts_with("pattern:"),
            "case {} has no {} node",
            c.g.name(),
            c.op
        );
        worst = worst.max(check(c, seed + i as u64));
    }
    println!("gradgrad: worst HVP error vs fd {worst:.2e}");
}

const SMALL: (f64, f64) = (-2.0, 2.0);
const POS: (f64, f64) = (0.5, 2.5);

fn unary_cases() -> Vec<Case> {
    let s: &[&[usize]] = &[&[2, 3]];
    vec![
        case("neg", s, SMALL, |_, p| (-p[0]).tanh()),
        case("abs", s, (0.2, 2.0), |_, p| p[0].abs() * p[0].sin()),
        case("abs", s, (-2.0, -0.2), |_, p| p[0].abs() * p[0].sin()),
        case("exp", s, SMALL, |_, p| p[0].exp()),
        case("log", s, POS, |_, p| p[0].ln()),
        case("sqrt", s, POS, |_, p| p[0].sqrt()),
        case("sin", s, (-3.0, 3.0), |_, p| p[0].sin()),
        case("cos", s, (-3.0, 3.0), |_, p| p[0].cos()),
        case("tanh", s, SMALL, |_, p| p[0].tanh()),
        case("sigmoid", s, (-4.0, 4.0), |_, p| p[0].sigmoid()),
        case("relu", s, (0.2, 2.0), |_, p| p[0].relu() * p[0].sin()),
        case("relu", s, (-2.0, -0.2), |_, p| (p[0].relu() + p[0]).exp()),
        // Rank 0.
        case("tanh", &[&[]], SMALL, |_, p| p[0].tanh()),
        case("log", &[&[]], POS, |_, p| p[0].ln()),
    ]
}

fn binary_cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Same shapes, and a [3] operand broadcast against [2,3].
    for s in [&[&[2, 3][..], &[2, 3]][..], &[&[2, 3], &[3]], &[&[], &[3]]] {
        v.extend([
            case("add", s, SMALL, |_, p| (p[0] + p[1]).sin()),
            case("sub", s, SMALL, |_, p| (p[0] - p[1]).sin()),
            case("mul", s, SMALL, |_, p| p[0] * p[1]),
            case("div", s, POS, |_, p| p[0] / p[1]),
            case("pow", s, POS, |_, p| p[0].pow(p[1])),
            case("max", s, SMALL, |_, p| p[0].maximum(p[1]).sin()),
            case("min", s, SMALL, |_, p| p[0].minimum(p[1]).sin()),
        ]);
    }
    // pow with constant exponents (the specialised rule).
    for e in [3.0, 2.0, -1.5, 0.5] {
        v.push(case("pow", &[&[4]], POS, move |_, p| p[0].powf(e)));
    }
    v
}

fn select_cases() -> Vec<Case> {
    let s: &[&[usize]] = &[&[2, 3], &[2, 3]];
    fn pick<'b>(c: Value<'b>, p: &[Value<'b>]) -> Value<'b> {
        c.select(p[0] * p[0] * p[1], p[1].sin() * p[0])
    }
    vec![
        case("select", s, SMALL, |_, p| pick(p[0].gt(p[1]), p)),
        case("lt", s, SMALL, |_, p| pick(p[0].lt(p[1]), p)),
        case("le", s, SMALL, |_, p| pick(p[0].le(p[1]), p)),
        case("gt", s, SMALL, |_, p| pick(p[0].gt(p[1]), p)),
        case("ge", s, SMALL, |_, p| pick(p[0].ge(p[1]), p)),
        // eq against the row maximum: a real mask.
        case("eq", &[&[2, 3]], SMALL, |_, p| {
            let m = p[0].max_axes(&[1]).reshape([2, 1]);
            p[0].eq_(m).select(p[0] * p[0], p[0].sin())
        }),
    ]
}

fn shape_cases() -> Vec<Case> {
    vec![
        case("broadcast", &[&[3, 1]], SMALL, |_, p| {
            p[0].broadcast_to([2, 3, 4]).sin()
        }),
        case("broadcast", &[&[]], SMALL, |_, p| {
            p[0].broadcast_to([2, 3]).sin()
        }),
        case("reshape", &[&[2, 6]], SMALL, |_, p| {
            p[0].reshape([3, 4]).sin()
        }),
        case("transpose", &[&[2, 3, 4]], SMALL, |_, p| {
            p[0].transpose(&[2, 0, 1]).sin() * p[0].transpose(&[2, 0, 1])
        }),
        case("slice", &[&[5, 4]], SMALL, |_, p| {
            p[0].slice(&[1, 0], &[4, 3]).sin()
        }),
        case("slice", &[&[9, 7]], SMALL, |_, p| {
            p[0].try_slice(&[1, 0], &[8, 7], &[2, 3]).unwrap().sin()
        }),
        case("pad", &[&[2, 3]], SMALL, |_, p| {
            p[0].sin().pad(&[1, 0], &[2, 3]).exp()
        }),
        case(
            "concat",
            &[&[2, 3], &[2, 1], &[2, 2]],
            (-1.0, 1.0),
            |b, p| b.concat(&[p[0], p[1].sin(), p[2] * p[2]], 1).exp(),
        ),
        case("reduce_sum", &[&[2, 3, 4]], SMALL, |_, p| {
            p[0].sin().sum_axes(&[0, 2]).sin()
        }),
        case("reduce_sum", &[&[2, 3]], SMALL, |_, p| p[0].sum().sin()),
        case("reduce_max", &[&[3, 4]], SMALL, |_, p| {
            p[0].max_axes(&[1]).exp()
        }),
        case("reduce_max", &[&[2, 3, 4]], SMALL, |_, p| {
            p[0].max_axes(&[0, 2]).sin() * p[0].sum_axes(&[0, 2])
        }),
    ]
}

fn custom_sigmoid(with_rules: bool) -> Arc<CustomOp> {
    let b = GraphBuilder::new("sig_body");
    let x = b.param("x", f64t(&[3]));
    let body = b.build(&[1.0 / (1.0 + (-x).exp())]).unwrap();
    let rule = |name: &str, vjp: bool| {
        let b = GraphBuilder::new(name);
        let _x = b.param("x", f64t(&[3]));
        let y = b.param("y", f64t(&[3]));
        let c = b.param(if vjp { "c" } else { "t" }, f64t(&[3]));
        b.build(&[c * (y * (1.0 - y))]).unwrap()
    };
    let (v, j) = if with_rules {
        (Some(rule("sig_vjp", true)), Some(rule("sig_jvp", false)))
    } else {
        (None, None)
    };
    CustomOp::new(if with_rules { "sig" } else { "sig_plain" }, body, v, j).unwrap()
}

fn other_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let forms: [(&[usize], &[usize]); 6] = [
        (&[4], &[4]),
        (&[2, 4], &[4]),
        (&[4], &[4, 3]),
        (&[2, 4], &[4, 3]),
        (&[5, 2, 4], &[4, 3]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
    ];
    for (sa, sb) in forms {
        v.push(case("matmul", &[sa, sb], (-1.0, 1.0), |_, p| {
            p[0].matmul(p[1])
        }));
    }
    v.push(case("matmul", &[&[3, 4], &[4, 3]], (-1.0, 1.0), |_, p| {
        p[0].matmul(p[1]).tanh()
    }));
    // The identity cast f64 -> f64 (the builder would elide it).
    v.push(case("cast", &[&[3]], SMALL, |b, p| {
        b.op(Op::Cast { to: DType::F64 }, &[p[0]]).sin() * p[0]
    }));
    // From bool: no derivative through the mask.
    v.push(case("cast", &[&[2, 3], &[2, 3]], SMALL, |_, p| {
        p[0].gt(p[1]).cast(DType::F64) * p[0] * p[1] + p[0].sin()
    }));
    for rules in [true, false] {
        let op = custom_sigmoid(rules);
        v.push(case("call", &[&[3]], SMALL, move |b, p| {
            b.call(&op, &[p[0].sin()]) * p[0]
        }));
    }
    v
}

/// A loop body (or branch) built with the builder from named parameters.
fn loop_body(
    name: &str,
    params: &[(&str, &[usize])],
    f: impl for<'b> Fn(&'b GraphBuilder, &[Value<'b>]) -> Vec<Value<'b>>,
) -> BodyRef {
    let b = GraphBuilder::new(name);
    let ps: Vec<Value> = params.iter().map(|(n, d)| b.param(n, f64t(d))).collect();
    let outs = f(&b, &ps);
    BodyRef::new(b.build(&outs).unwrap())
}

/// `Σ w ⊙ v` over the values `vs` of `g`, with fixed weights, as the
/// single output.
fn weighted_sum(g: &mut Graph, vs: &[NodeId]) {
    let mut acc: Option<NodeId> = None;
    for (i, &v) in vs.iter().enumerate() {
        let ty = g.ty(v).clone();
        let mut r = Rng(0x5a17 + i as u64);
        let w: Vec<f64> = (0..ty.numel()).map(|_| r.uniform(0.5, 1.5)).collect();
        let wt = g.constant(Tensor::from_f64(ty.shape.clone(), w).unwrap());
        let p = emit::mul(g, v, wt).unwrap();
        let s = emit::reduce_sum(g, p, (0..ty.shape.rank()).collect()).unwrap();
        acc = Some(match acc {
            None => s,
            Some(a) => emit::add(g, a, s).unwrap(),
        });
    }
    g.set_outputs(vec![acc.expect("a value")]);
}

/// The loops (issue 12), built with the graph API: `scan` in both
/// directions with carries, scanned inputs and an invariant; a bounded
/// `while` whose trip count depends on the parameters; `cond` on a
/// predicate computed from them, once for each branch.
fn loop_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for reverse in [false, true] {
        let step = loop_body("step", &[("c", &[2]), ("x", &[2]), ("k", &[2])], |_, p| {
            let c = (p[0] * p[1] + p[2]).tanh();
            vec![c, (p[0] * p[2]).sin()]
        });
        let mut g = Graph::new(if reverse { "scan_rev" } else { "scan" });
        let c0 = g.add_param("a", f64t(&[2])).unwrap();
        let xs = g.add_param("b", f64t(&[3, 2])).unwrap();
        let k = g.add_param("c", f64t(&[2])).unwrap();
        let op = Op::Scan {
            body: step,
            carry: 1,
            xs: 1,
            length: 3,
            reverse,
        };
        let r = g.add_multi(op, &[c0, xs, k]).unwrap();
        let sq = emit::mul(&mut g, r[0], r[0]).unwrap();
        weighted_sum(&mut g, &[sq, r[1]]);
        v.push(Case {
            op: "scan",
            g,
            lo: -1.0,
            hi: 1.0,
        });
    }
    // revolve: s' = tanh(s x + k) forward; from b = b0 backward,
    // b = b cos(s) + x k and y = sin(b s); two snapshots for three steps.
    for masked in [false, true] {
        let step = loop_body("fwd", &[("s", &[2]), ("x", &[2]), ("k", &[2])], |_, p| {
            vec![(p[0] * p[1] + p[2]).tanh()]
        });
        let body = loop_body(
            "bwd",
            &[("b", &[2]), ("s", &[2]), ("x", &[2]), ("k", &[2])],
            |_, p| vec![p[0] * p[1].cos() + p[2] * p[3], (p[0] * p[1]).sin()],
        );
        let mut g = Graph::new(if masked { "revolve_masked" } else { "revolve" });
        let s0 = g.add_param("a", f64t(&[2])).unwrap();
        let b0 = g.add_param("b", f64t(&[2])).unwrap();
        let xs = g.add_param("c", f64t(&[3, 2])).unwrap();
        let k = g.add_param("d", f64t(&[2])).unwrap();
        let mut ops = vec![s0, b0, xs, k];
        if masked {
            let m = adjoint::ir::Tensor::from_bool([3], vec![true, true, false]).unwrap();
            ops.insert(0, g.constant(m));
        }
        let op = Op::Revolve {
            body,
            step,
            state: 1,
            carry: 1,
            xs: 1,
            length: 3,
            snapshots: 2,
            masked,
        };
        let r = g.add_multi(op, &ops).unwrap();
        let sq = emit::mul(&mut g, r[0], r[0]).unwrap();
        weighted_sum(&mut g, &[sq, r[1]]);
        v.push(Case {
            op: "revolve",
            g,
            lo: -1.0,
            hi: 1.0,
        });
    }
    // while sum(c) < 8 (at most 10 trips): c = c * 1.25 + k * k / 10.
    let sig: [(&str, &[usize]); 2] = [("c", &[2]), ("k", &[2])];
    let cond = loop_body("below", &sig, |_, p| {
        vec![p[0].sum().lt(p[0].sum().lit(8.0))]
    });
    let body = loop_body("grow", &sig, |_, p| {
        vec![p[0] * p[0].lit(1.25) + p[1] * p[1] * p[1].lit(0.1)]
    });
    let mut g = Graph::new("while");
    let c0 = g.add_param("a", f64t(&[2])).unwrap();
    let k = g.add_param("b", f64t(&[2])).unwrap();
    let op = Op::While {
        cond,
        body,
        carry: 1,
        max_trips: Some(10),
    };
    let r = g.add_multi(op, &[c0, k]).unwrap();
    let s = emit::un(&mut g, adjoint::ir::UnaryOp::Sin, r[0]).unwrap();
    let sq = emit::mul(&mut g, s, r[0]).unwrap();
    weighted_sum(&mut g, &[sq]);
    v.push(Case {
        op: "while",
        g,
        lo: 0.5,
        hi: 2.5,
    });
    // cond(sum(a) > t, a, b): (sin(a b), a^2) or (exp(a) b, b^3); t picks
    // the branch for inputs in (0.5, 2.5).
    for t in [-100.0, 100.0] {
        let sig: [(&str, &[usize]); 2] = [("a", &[3]), ("b", &[3])];
        let then = loop_body("t", &sig, |_, p| vec![(p[0] * p[1]).sin(), p[0] * p[0]]);
        let els = loop_body("e", &sig, |_, p| {
            vec![p[0].exp() * p[1], p[1] * p[1] * p[1]]
        });
        let mut g = Graph::new(if t < 0.0 { "cond_then" } else { "cond_else" });
        let a = g.add_param("a", f64t(&[3])).unwrap();
        let b = g.add_param("b", f64t(&[3])).unwrap();
        let s = emit::reduce_sum(&mut g, a, vec![0]).unwrap();
        let pred = emit::cmp_lit(&mut g, adjoint::ir::CompareOp::Gt, s, t).unwrap();
        let r = g.add_multi(Op::Cond { then, els }, &[pred, a, b]).unwrap();
        let m = emit::mul(&mut g, r[0], r[1]).unwrap();
        weighted_sum(&mut g, &[m, r[0]]);
        v.push(Case {
            op: "cond",
            g,
            lo: 0.5,
            hi: 2.5,
        });
    }
    v
}

/// The log-sum-exp written from primitives, and variants whose
/// inner nodes are also used outside the composite.
fn text_case(name: &'static str, src: &str) -> Case {
    let m = parse_module(src).unwrap_or_else(|e| panic!("{name}: {e}"));
    let g = m.funcs().next().unwrap().clone();
    Case {
        op: name,
        g,
        lo: -2.0,
        hi: 2.0,
    }
}

fn pattern_cases() -> Vec<Case> {
    let mut v = vec![
        text_case(
            "pattern:lse-text",
            "func @lse(%x: f64[5]) -> f64 {
               %m = reduce_max %x axes=[0]
               %d = sub %x, %m
               %e = exp %d
               %s = reduce_sum %e axes=[0]
               %l = log %s
               %y = add %l, %m
               return %y
             }",
        ),
        // The max is used outside the composite too.
        text_case(
            "pattern:lse-max-reused",
            "func @lse_m(%x: f64[4]) -> f64 {
               %m = reduce_max %x axes=[0]
               %d = sub %x, %m
               %e = exp %d
               %s = reduce_sum %e axes=[0]
               %l = log %s
               %y = add %m, %l
               %q = mul %m, %m
               %z = add %y, %q
               return %z
             }",
        ),
        // The exponentials are shared with a softmax (first-order forward
        // mode needs their tangents too).
        text_case(
            "pattern:lse-exp-shared",
            "func @lse_e(%x: f64[2,3]) -> f64 {
               %m = reduce_max %x axes=[1]
               %mk = reshape %m shape=[2,1]
               %d = sub %x, %mk
               %e = exp %d
               %s = reduce_sum %e axes=[1]
               %l = log %s
               %y = add %l, %m
               %sk = reshape %s shape=[2,1]
               %p = div %e, %sk
               %w = const [[0.5,1,1.5],[2,-1,0.25]] : f64[2,3]
               %pw = mul %p, %w
               %ys = reduce_sum %y axes=[0]
               %ps = reduce_sum %pw axes=[0,1]
               %z = add %ys, %ps
               return %z
             }",
        ),
        case("pattern:logsumexp", &[&[3, 4]], SMALL, |_, p| {
            p[0].logsumexp(1)
        }),
        case("pattern:logsumexp", &[&[4, 3]], SMALL, |_, p| {
            p[0].logsumexp(0)
        }),
        case("pattern:log_softmax", &[&[3, 4]], SMALL, |_, p| {
            p[0].log_softmax(1)
        }),
        case(
            "pattern:cross_entropy",
            &[&[3, 4], &[3, 4]],
            SMALL,
            |_, p| p[0].cross_entropy(p[1].sigmoid()),
        ),
        case("pattern:softmax", &[&[3, 4]], SMALL, |_, p| p[0].softmax(1)),
    ];
    // After `cse` the log-sum-exp and the softmax share their max, exp and
    // sum.
    let mut shared = case("pattern:lse+softmax", &[&[3, 4]], SMALL, |_, p| {
        p[0].logsumexp(1).reshape([3, 1]) + p[0].softmax(1)
    });
    shared.g = run(&shared.g, "cse");
    v.push(shared);
    v
}

fn recognised(g: &Graph) -> usize {
    g.node_ids()
        .into_iter()
        .filter(|&n| LogSumExp::recognise(g, n).is_some())
        .count()
}

#[test]
fn gradgrad_unary_ops() {
    check_all(&unary_cases(), 100);
}

#[test]
fn gradgrad_binary_ops() {
    check_all(&binary_cases(), 200);
}

#[test]
fn gradgrad_select_and_comparisons() {
    check_all(&select_cases(), 300);
}

#[test]
fn gradgrad_shape_ops_and_reductions() {
    check_all(&shape_cases(), 400);
}

#[test]
fn gradgrad_matmul_cast_and_calls() {
    check_all(&other_cases(), 500);
}

/// The loops on the interpreter: the JIT does not compile loops on this
/// branch yet (switch to `check_all` when it does).
#[test]
fn gradgrad_loops() {
    // Both engines: the JIT compiles loops natively.
    check_all(&loop_cases(), 700);
}

#[test]
fn gradgrad_recognised_composites() {
    let cases = pattern_cases();
    for c in &cases {
        // Each case really contains the composite the passes recognise
        // (the hand-written softmax is the control without one).
        let want = usize::from(c.op != "pattern:softmax");
        assert_eq!(recognised(&c.g), want, "{}", c.op);
    }
    check_all(&cases, 600);
}

/// The example by hand: for `f = logsumexp(x)`, `H v = p ⊙ v − p
/// ⟨p, v⟩` with `p = softmax(x)`.
#[test]
fn log_sum_exp_hvp_is_the_softmax_jacobian() {
    let c = &pattern_cases()[0];
    let x = [0.3, -1.2, 2.0, 0.7, 2.0]; // a tie at the maximum
    let v = [1.0, -0.5, 0.25, 2.0, -1.0];
    let mx = x.iter().fold(f64::NEG_INFINITY, |m: f64, a| m.max(*a));
    let e: Vec<f64> = x.iter().map(|a| (a - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|a| a / s).collect();
    let pv: f64 = p.iter().zip(&v).map(|(a, b)| a * b).sum();
    let want: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a * b - a * pv).collect();
    let xs = [Tensor::from_f64([5], x.to_vec()).unwrap()];
    let vs = [Tensor::from_f64([5], v.to_vec()).unwrap()];
    for engine in Engine::ALL {
        let h = hvps(&c.g, &xs, &vs, engine);
        for got in [&h.fwd_over_rev, &h.rev_over_fwd, &h.rev_over_rev] {
            assert!(
                rel_err(&got[0], &want, 0.0) < 1e-14,
                "{engine}: {got:?} vs {want:?}"
            );
        }
    }
}

/// The op names of docs/ir.md §13: headings, the first cell of the rows of
/// tables headed `| op |`, and the code spans before the colon of a paragraph that opens with its
/// syntax (`lt`, `le`, …: two operands; `reduce_sum %x axes=A` …:).
fn documented_ops() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ir.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find("\n## 13.").expect("section 13");
    let end = doc[start..].find("\n## 14.").expect("section 14") + start;
    let is_name = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let mut names = BTreeSet::new();
    // Inside a table whose first column is `op`.
    let mut op_table = false;
    for line in doc[start..end].lines() {
        op_table = line.starts_with('|') && (op_table || line.starts_with("| op |"));
        let spans: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        let take: &[&str] = if line.starts_with('#') {
            &spans
        } else if let Some(syntax) = line.strip_prefix('`').and_then(|l| l.split_once("`:")) {
            // The spans of `syntax.0`: every other piece, from the first.
            let n = syntax.0.split('`').count().div_ceil(2);
            &spans[..n]
        } else if op_table && line.starts_with("| `") {
            &spans[..1]
        } else {
            &[]
        };
        for s in take {
            let w = s.split_whitespace().next().unwrap_or("");
            if is_name(w) {
                names.insert(w.to_string());
            }
        }
    }
    names
}

#[test]
fn every_op_has_a_gradgrad_case() {
    let doc = documented_ops();
    let code: BTreeSet<String> = Op::all_names().iter().map(|s| s.to_string()).collect();
    // The table parse finds the ops and nothing else.
    let mut with_param = code.clone();
    with_param.insert("param".into());
    assert_eq!(doc, with_param, "docs/ir.md §13 against Op::all_names()");
    let covered: BTreeSet<&str> = [
        unary_cases(),
        binary_cases(),
        select_cases(),
        shape_cases(),
        other_cases(),
        loop_cases(),
    ]
    .iter()
    .flatten()
    .map(|c| c.op)
    .collect();
    // Leaves have no rule to differentiate twice (every case has both), and
    // neither have ops whose derivative is identically zero (`iota`, and the
    // boolean ops, whose values carry no derivative).
    let leaves = ["param", "const", "iota", "and", "or", "not"];
    let missing: Vec<&String> = doc
        .iter()
        .filter(|n| !covered.contains(n.as_str()) && !leaves.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "ops without a gradgrad case: {missing:?}"
    );
}
