//! The interpreter runs `scan`, `while` and `cond` (issue 12): values
//! derived by hand, scans against their hand-unrolled programs bit for
//! bit, the untaken branch having no effect, nesting to any depth on the
//! explicit frame stack, and the working-memory and depth limits counting
//! loops. Programs are built with the Graph API (`Graph::add_multi`,
//! `BodyRef::new`), bodies with `GraphBuilder`.

mod common;

use adjoint_interp::{eval, eval_node, eval_with, EvalOptions};
use adjoint_ir::{
    BinaryOp, BodyRef, CompareOp, DType, Graph, GraphBuilder, LogicalOp, NodeId, Op, Tensor,
    TensorType, Value,
};
use common::{eval_f64, f64s, s64, t64};

/// A body `@name` with parameters `params`, whose outputs `f` builds.
fn body(
    name: &str,
    params: &[TensorType],
    f: impl for<'b> FnOnce(&'b GraphBuilder, &[Value<'b>]) -> Vec<Value<'b>>,
) -> BodyRef {
    let b = GraphBuilder::new(name);
    let ps: Vec<Value<'_>> = params
        .iter()
        .enumerate()
        .map(|(i, t)| b.param(&format!("p{i}"), t.clone()))
        .collect();
    let outs = f(&b, &ps);
    BodyRef::new(b.build(&outs).unwrap())
}

/// `@main` with parameters of types `params` and one multi-result node `op`
/// on them; its outputs are all the op's results.
fn main_with(op: Op, params: &[TensorType]) -> Graph {
    let mut g = Graph::new("main");
    let ps: Vec<NodeId> = params
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_param(format!("a{i}"), t.clone()).unwrap())
        .collect();
    let r = g.add_multi(op, &ps).unwrap();
    g.set_outputs(r);
    g
}

fn scan(b: &BodyRef, carry: usize, xs: usize, length: usize, reverse: bool) -> Op {
    Op::Scan {
        body: b.clone(),
        carry,
        xs,
        length,
        reverse,
    }
}

/// `(c, x) -> (c + x, c + x)`: a cumulative sum.
fn cumsum() -> BodyRef {
    body("cumsum", &[f64s(&[]), f64s(&[])], |_, p| {
        let c = p[0] + p[1];
        vec![c, c]
    })
}

#[test]
fn scan_cumulative_sum_forward() {
    let g = main_with(scan(&cumsum(), 1, 1, 4, false), &[f64s(&[]), f64s(&[4])]);
    let out = eval_f64(&g, &[s64(10.0), t64(&[4], &[1.0, 2.0, 3.0, 4.0])]);
    assert_eq!(out, vec![vec![20.0], vec![11.0, 13.0, 16.0, 20.0]]);
}

#[test]
fn scan_reverse_stores_each_y_at_the_index_it_read() {
    // Iterations read xs[3], xs[2], xs[1], xs[0] in that order; the y of
    // the iteration that read xs[t] goes to ys[t].
    let g = main_with(scan(&cumsum(), 1, 1, 4, true), &[f64s(&[]), f64s(&[4])]);
    let out = eval_f64(&g, &[s64(10.0), t64(&[4], &[1.0, 2.0, 3.0, 4.0])]);
    assert_eq!(out, vec![vec![20.0], vec![20.0, 19.0, 17.0, 14.0]]);
}

#[test]
fn scan_without_xs_with_an_invariant_forward_and_reverse() {
    // (c, k) -> (c + k, c): ys[t] is the carry before the t-th run.
    let f = body("count", &[f64s(&[]), f64s(&[])], |_, p| {
        vec![p[0] + p[1], p[0]]
    });
    let types = [f64s(&[]), f64s(&[])];
    let inputs = [s64(1.0), s64(1.5)];
    let fwd = eval_f64(&main_with(scan(&f, 1, 0, 5, false), &types), &inputs);
    assert_eq!(fwd, vec![vec![8.5], vec![1.0, 2.5, 4.0, 5.5, 7.0]]);
    // Reverse: t = 4 runs first, so ys[4] is the initial carry.
    let rev = eval_f64(&main_with(scan(&f, 1, 0, 5, true), &types), &inputs);
    assert_eq!(rev, vec![vec![8.5], vec![7.0, 5.5, 4.0, 2.5, 1.0]]);
}

#[test]
fn scan_with_xs_of_rank_two_and_invariants() {
    // (c: f64[2], x: f64[2], k: f64[], m: f64[2]) -> (c + x*k, c*m + x)
    let f = body(
        "step",
        &[f64s(&[2]), f64s(&[2]), f64s(&[]), f64s(&[2])],
        |_, p| vec![p[0] + p[1] * p[2], p[0] * p[3] + p[1]],
    );
    let g = main_with(
        scan(&f, 1, 1, 3, false),
        &[f64s(&[2]), f64s(&[3, 2]), f64s(&[]), f64s(&[2])],
    );
    let out = eval_f64(
        &g,
        &[
            t64(&[2], &[1.0, -1.0]),
            t64(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            s64(2.0),
            t64(&[2], &[10.0, 100.0]),
        ],
    );
    // c: [1,-1] -> [3,3] -> [9,11] -> [19,23]
    // ys: [1*10+1, -1*100+2], [3*10+3, 3*100+4], [9*10+5, 11*100+6]
    assert_eq!(
        out,
        vec![
            vec![19.0, 23.0],
            vec![11.0, -98.0, 33.0, 304.0, 95.0, 1106.0]
        ]
    );
}

#[test]
fn scan_with_no_carry_is_a_map() {
    let f = body("m", &[f64s(&[])], |_, p| vec![p[0].sin(), p[0] * p[0]]);
    let g = main_with(scan(&f, 0, 1, 3, false), &[f64s(&[3])]);
    let xs = [0.5, -1.25, 3.0];
    let out = eval_f64(&g, &[t64(&[3], &xs)]);
    assert_eq!(out[0], xs.map(f64::sin).to_vec());
    assert_eq!(out[1], xs.map(|x| x * x).to_vec());
}

#[test]
fn scans_of_length_zero_give_the_inits_and_empty_stacks() {
    let f = body("s", &[f64s(&[2]), f64s(&[3])], |_, p| {
        vec![p[0] * 2.0, p[1].sum()]
    });
    let g = main_with(scan(&f, 1, 1, 0, false), &[f64s(&[2]), f64s(&[0, 3])]);
    let xs = Tensor::from_f64([0, 3], vec![]).unwrap();
    let out = eval(&g, &[t64(&[2], &[1.0, -0.0]), xs]).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![1.0, -0.0]);
    assert!(out[0].to_f64_vec()[1].is_sign_negative());
    assert_eq!(out[1].ty(), f64s(&[0]));
    // Without xs, and in reverse.
    let f = body("z", &[f64s(&[])], |_, p| {
        vec![p[0] + 1.0, p[0].broadcast_to([2])]
    });
    let g = main_with(scan(&f, 1, 0, 0, true), &[f64s(&[])]);
    let out = eval(&g, &[s64(7.0)]).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![7.0]);
    assert_eq!(out[1].ty(), f64s(&[0, 2]));
}

#[test]
fn scans_of_length_one_run_the_body_once() {
    for reverse in [false, true] {
        let g = main_with(scan(&cumsum(), 1, 1, 1, reverse), &[f64s(&[]), f64s(&[1])]);
        let out = eval_f64(&g, &[s64(0.25), t64(&[1], &[0.5])]);
        assert_eq!(out, vec![vec![0.75], vec![0.75]]);
    }
}

/// A step function usable both as a body and inline in an unrolled
/// program: `(c, x, k) -> (c', y)`.
type Step = for<'b> fn(Value<'b>, Value<'b>, Value<'b>) -> (Value<'b>, Value<'b>);

const STEPS: [Step; 4] = [
    |c, x, k| (c * k + x, c + x),
    |c, x, k| (c.sin() * x + (-c).exp() * k, (c + x).tanh()),
    |c, x, k| {
        let n = (c * c + 1.0).ln() + x.cos() * k.sigmoid();
        (n, n.sqrt() / (x.abs() + 0.5))
    },
    |c, x, k| (c.pow(k) - x.relu(), c.maximum(x) * k),
];

/// The scan of `step` over `xs: dt[n, 3]` with a carry `dt[3]` and an
/// invariant `dt[]`, and the same program unrolled by hand.
fn scan_and_unrolled(step: Step, dt: DType, n: usize, reverse: bool) -> (Graph, Graph) {
    let ty = |d: &[usize]| TensorType::new(dt, d.to_vec());
    let b = GraphBuilder::new("step");
    let (c, x, k) = (
        b.param("c", ty(&[3])),
        b.param("x", ty(&[3])),
        b.param("k", ty(&[])),
    );
    let (c2, y) = step(c, x, k.broadcast_to([3]));
    let f = BodyRef::new(b.build(&[c2, y]).unwrap());
    let looped = main_with(
        scan(&f, 1, 1, n, reverse),
        &[ty(&[3]), ty(&[n, 3]), ty(&[])],
    );

    let b = GraphBuilder::new("main");
    let (mut c, xs, k) = (
        b.param("a0", ty(&[3])),
        b.param("a1", ty(&[n, 3])),
        b.param("a2", ty(&[])),
    );
    let mut ys = vec![None; n];
    for i in 0..n {
        let t = if reverse { n - 1 - i } else { i };
        let x = xs.slice(&[t, 0], &[t + 1, 3]).reshape([3]);
        let (c2, y) = step(c, x, k.broadcast_to([3]));
        c = c2;
        ys[t] = Some(y.reshape([1, 3]));
    }
    let ys: Vec<Value<'_>> = ys.into_iter().map(Option::unwrap).collect();
    let unrolled = b.build(&[c, b.concat(&ys, 0)]).unwrap();
    (looped, unrolled)
}

fn bits(t: &Tensor) -> Vec<u64> {
    match t.dtype() {
        DType::F32 => t
            .as_f32()
            .unwrap()
            .iter()
            .map(|v| v.to_bits() as u64)
            .collect(),
        _ => t.as_f64().unwrap().iter().map(|v| v.to_bits()).collect(),
    }
}

#[test]
fn a_scan_and_its_hand_unrolled_program_agree_bit_for_bit() {
    let n = 6;
    let c0 = [0.3, -1.7, 2.5];
    let xs: Vec<f64> = (0..n * 3)
        .map(|i| ((i * 7) % 11) as f64 / 3.0 - 1.4)
        .collect();
    for (s, step) in STEPS.iter().enumerate() {
        for dt in [DType::F64, DType::F32] {
            for reverse in [false, true] {
                let (looped, unrolled) = scan_and_unrolled(*step, dt, n, reverse);
                let ty = |d: &[usize]| TensorType::new(dt, d.to_vec());
                let inputs = [
                    Tensor::from_f64_as(&ty(&[3]), &c0).unwrap(),
                    Tensor::from_f64_as(&ty(&[n, 3]), &xs).unwrap(),
                    Tensor::from_f64_as(&ty(&[]), &[0.8]).unwrap(),
                ];
                let a = eval(&looped, &inputs).unwrap();
                let b = eval(&unrolled, &inputs).unwrap();
                for (ra, rb) in a.iter().zip(&b) {
                    assert_eq!(ra.ty(), rb.ty());
                    assert_eq!(bits(ra), bits(rb), "step {s}, {dt:?}, reverse={reverse}");
                }
            }
        }
    }
}

/// `while i < n: (i, x) = (i + 1, x * 2)` with an invariant `n`.
fn doubling(max_trips: Option<usize>) -> Graph {
    let s = [f64s(&[]), f64s(&[]), f64s(&[])];
    let cond = body("below", &s, |_, p| vec![p[0].lt(p[2])]);
    let step = body("double", &s, |_, p| vec![p[0] + 1.0, p[1] * 2.0]);
    let op = Op::While {
        cond,
        body: step,
        carry: 2,
        max_trips,
    };
    main_with(op, &s)
}

#[test]
fn while_runs_until_the_predicate_is_false_or_the_bound_is_hit() {
    let at = |n: f64| [s64(0.0), s64(1.0), s64(n)];
    // No bound: 5 trips.
    assert_eq!(
        eval_f64(&doubling(None), &at(5.0)),
        vec![vec![5.0], vec![32.0]]
    );
    // Bound not hit: the predicate ends the loop after 5 trips.
    assert_eq!(
        eval_f64(&doubling(Some(9)), &at(5.0)),
        vec![vec![5.0], vec![32.0]]
    );
    // Bound exactly the trip count.
    assert_eq!(
        eval_f64(&doubling(Some(5)), &at(5.0)),
        vec![vec![5.0], vec![32.0]]
    );
    // Bound hit: the loop ends after 3 trips, no error.
    assert_eq!(
        eval_f64(&doubling(Some(3)), &at(5.0)),
        vec![vec![3.0], vec![8.0]]
    );
    // max_trips = 0 gives the inits, although the predicate is true.
    assert_eq!(
        eval_f64(&doubling(Some(0)), &at(5.0)),
        vec![vec![0.0], vec![1.0]]
    );
    // A predicate already false gives the inits.
    assert_eq!(
        eval_f64(&doubling(None), &at(0.0)),
        vec![vec![0.0], vec![1.0]]
    );
    assert_eq!(
        eval_f64(&doubling(Some(4)), &at(-3.0)),
        vec![vec![0.0], vec![1.0]]
    );
}

#[test]
fn newton_on_x_equals_cos_a_x_converges_to_w10s_fixed_point() {
    // Carries (x, dx, trips); invariant a. While |dx| >= 1e-14:
    // x' = x - (x - cos(a x)) / (1 + a sin(a x)).
    let s = [f64s(&[]), f64s(&[]), f64s(&[]), f64s(&[])];
    let cond = body("unconverged", &s, |_, p| {
        vec![p[1].abs().ge(p[1].lit(1e-14))]
    });
    let step = body("newton", &s, |_, p| {
        let (x, a) = (p[0], p[3]);
        let ax = a * x;
        let x2 = x - (x - ax.cos()) / (1.0 + a * ax.sin());
        vec![x2, x2 - x, p[2] + 1.0]
    });
    let op = Op::While {
        cond,
        body: step,
        carry: 3,
        max_trips: Some(50),
    };
    let g = main_with(op, &s);
    let out = eval_f64(&g, &[s64(1.0), s64(1.0), s64(0.0), s64(0.7)]);
    let (x, dx, trips) = (out[0][0], out[1][0], out[2][0]);
    assert!((x - 0.8342699518670651).abs() < 1e-15, "{x}");
    assert!(dx.abs() < 1e-14, "{dx}");
    assert!((1.0..=50.0).contains(&trips), "{trips}");
    // The fixed point: x = cos(0.7 x).
    assert!((x - (0.7 * x).cos()).abs() < 1e-15);
}

/// `cond pred, a, b then=@t else=@e` with the given branches.
fn cond_graph(then: BodyRef, els: BodyRef) -> Graph {
    main_with(
        Op::Cond { then, els },
        &[TensorType::bool([]), f64s(&[]), f64s(&[])],
    )
}

fn pred(b: bool) -> Tensor {
    Tensor::from_bool([], vec![b]).unwrap()
}

#[test]
fn cond_runs_the_chosen_branch() {
    let s = [f64s(&[]), f64s(&[])];
    let t = body("t", &s, |_, p| vec![p[0] * p[1], p[0]]);
    let e = body("e", &s, |_, p| vec![p[0] - p[1], p[1]]);
    let g = cond_graph(t, e);
    assert_eq!(
        eval_f64(&g, &[pred(true), s64(3.0), s64(4.0)]),
        vec![vec![12.0], vec![3.0]]
    );
    assert_eq!(
        eval_f64(&g, &[pred(false), s64(3.0), s64(4.0)]),
        vec![vec![-1.0], vec![4.0]]
    );
}

#[test]
fn a_nan_in_the_untaken_branch_has_no_effect() {
    let s = [f64s(&[]), f64s(&[])];
    // log(-1) is NaN; 0 * NaN would still be NaN under select-style masking.
    let t = body("logs", &s, |_, p| vec![p[0].ln() * 0.0 + p[1]]);
    let e = body("plain", &s, |_, p| vec![p[1] + 1.0]);
    let g = cond_graph(t.clone(), e.clone());
    let y = eval_f64(&g, &[pred(false), s64(-1.0), s64(2.0)]);
    assert_eq!(y, vec![vec![3.0]]);
    // The NaN is real when that branch is taken.
    assert!(eval_f64(&g, &[pred(true), s64(-1.0), s64(2.0)])[0][0].is_nan());
    // And with the branches swapped.
    let g = cond_graph(e, t);
    assert_eq!(
        eval_f64(&g, &[pred(true), s64(-1.0), s64(2.0)]),
        vec![vec![3.0]]
    );
}

/// `@broken(a, b) -> a + [1, 2]`, with the constant's recorded type lying
/// (`f64[]`): only evaluation finds out. Built unchecked.
fn broken_branch() -> BodyRef {
    let mut g = Graph::new("broken");
    let a = g.add_param("a", f64s(&[])).unwrap();
    g.add_param("b", f64s(&[])).unwrap();
    let bad = g.add_unchecked(Op::Const(t64(&[2], &[1.0, 2.0])), f64s(&[]), &[]);
    let y = g.add_unchecked(Op::Binary(BinaryOp::Add), f64s(&[]), &[a, bad]);
    g.set_outputs(vec![y]);
    BodyRef::new(g)
}

#[test]
fn an_error_in_the_untaken_branch_has_no_effect() {
    let ok = body("ok", &[f64s(&[]), f64s(&[])], |_, p| vec![p[0] + p[1]]);
    let g = cond_graph(ok, broken_branch());
    assert_eq!(
        eval_f64(&g, &[pred(true), s64(1.0), s64(2.0)]),
        vec![vec![3.0]]
    );
    let e = eval(&g, &[pred(false), s64(1.0), s64(2.0)]).unwrap_err();
    assert!(
        e.message
            .contains("= cond then=@ok else=@broken: else=@broken"),
        "{e}"
    );
    assert!(e.message.contains("the constant has type f64[2]"), "{e}");
}

#[test]
fn a_branch_over_the_memory_budget_runs_only_if_taken() {
    // The else branch broadcasts to 2^31 f64 (16 GiB) and sums.
    let s = [f64s(&[]), f64s(&[])];
    let small = body("small", &s, |_, p| vec![p[0] * p[1]]);
    let huge = body("huge", &s, |_, p| {
        vec![p[0].broadcast_to([1usize << 31]).sum()]
    });
    let g = cond_graph(small, huge);
    let opts = EvalOptions {
        max_working_bytes: 1 << 20,
        ..EvalOptions::default()
    };
    let y = eval_with(&g, &[pred(true), s64(3.0), s64(4.0)], &opts).unwrap();
    assert_eq!(y[0].to_f64_vec(), vec![12.0]);
    let e = eval_with(&g, &[pred(false), s64(3.0), s64(4.0)], &opts).unwrap_err();
    assert!(
        e.message
            .contains("= cond then=@small else=@huge: else=@huge"),
        "{e}"
    );
    // The broadcast (16 GiB), the sum's scratch copy (16 GiB) and its result.
    let peak = (16u64 << 31) + 8;
    assert!(
        e.message.contains(&format!("needs up to {peak} bytes")),
        "{e}"
    );
    assert!(e.message.contains("max_working_bytes"), "{e}");
}

/// `@outer(acc, x, k)`: `v = while v < k: v = cond(v < 4, v*2, v+3)` from
/// `v = x`; returns `(acc + v, v)`. The limit `k` is an invariant of the
/// scan, the while and the branches.
fn nested_body() -> BodyRef {
    let s2 = [f64s(&[]), f64s(&[])];
    let twice = body("twice", &s2, |_, p| vec![p[0] * 2.0]);
    let plus3 = body("plus3", &s2, |_, p| vec![p[0] + 3.0]);
    let below = body("below", &s2, |_, p| vec![p[0].lt(p[1])]);
    // @grow(v, k) = cond(v < 4, v, k then=@twice else=@plus3)
    let mut grow = Graph::new("grow");
    let v = grow.add_param("v", f64s(&[])).unwrap();
    let k = grow.add_param("k", f64s(&[])).unwrap();
    let four = grow.constant(s64(4.0));
    let small = grow.add(Op::Compare(CompareOp::Lt), &[v, four]).unwrap();
    let op = Op::Cond {
        then: twice,
        els: plus3,
    };
    let r = grow.add_multi(op, &[small, v, k]).unwrap();
    grow.set_outputs(r);
    // @outer(acc, x, k) = (acc + v, v) where v = while ...
    let mut outer = Graph::new("outer");
    let acc = outer.add_param("acc", f64s(&[])).unwrap();
    let x = outer.add_param("x", f64s(&[])).unwrap();
    let k = outer.add_param("k", f64s(&[])).unwrap();
    let op = Op::While {
        cond: below,
        body: BodyRef::new(grow),
        carry: 1,
        max_trips: None,
    };
    let v = outer.add_multi(op, &[x, k]).unwrap()[0];
    let sum = outer.add(Op::Binary(BinaryOp::Add), &[acc, v]).unwrap();
    outer.set_outputs(vec![sum, v]);
    BodyRef::new(outer)
}

#[test]
fn nested_scan_while_cond() {
    let g = main_with(
        scan(&nested_body(), 1, 1, 3, false),
        &[f64s(&[]), f64s(&[3]), f64s(&[])],
    );
    let out = eval_f64(&g, &[s64(0.0), t64(&[3], &[1.0, 2.0, 3.0]), s64(10.0)]);
    // 1 -> 2 -> 4 -> 7 -> 10; 2 -> 4 -> 7 -> 10; 3 -> 6 -> 9 -> 12.
    assert_eq!(out, vec![vec![32.0], vec![10.0, 10.0, 12.0]]);
}

/// The stack of a test thread, and of many a user's thread: 2 MiB.
const SMALL_STACK: usize = 2 << 20;

/// Runs `f` on a thread with a stack of `bytes`.
fn on_stack<T: Send + 'static>(bytes: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `@main(c)` running `n` nested scans of length 1: `@b0(c) = c + 1` and
/// `@bi(c) = scan(c body=@b(i-1) length=1) + 1`, so the result is `c + n`
/// and the bodies nest `n` deep. Built iteratively with the Graph API.
fn nested_scans(n: usize) -> Graph {
    let one = |g: &mut Graph, c: NodeId| {
        let k = g.constant(s64(1.0));
        g.add(Op::Binary(BinaryOp::Add), &[c, k]).unwrap()
    };
    let mut f: Option<BodyRef> = None;
    for i in 0..n {
        let mut g = Graph::new(if i + 1 == n {
            "main".to_string()
        } else {
            format!("b{i}")
        });
        let c = g.add_param("c", f64s(&[])).unwrap();
        let c = match &f {
            None => c,
            Some(inner) => g.add_multi(scan(inner, 1, 0, 1, false), &[c]).unwrap()[0],
        };
        let y = one(&mut g, c);
        g.set_outputs(vec![y]);
        if i + 1 == n {
            return g;
        }
        f = Some(BodyRef::new(g));
    }
    unreachable!("n >= 1")
}

#[test]
fn ten_thousand_nested_scans_evaluate_on_a_2mib_stack_and_the_depth_limit_counts_them() {
    // 10,001 functions: @main runs a scan of @b9999, which runs one of
    // @b9998, ...: bodies nest 10,000 deep.
    let g = nested_scans(10_001);
    let g = std::sync::Arc::new(g);
    let h = g.clone();
    let (y, refused) = on_stack(SMALL_STACK, move || {
        let y = eval(&h, &[s64(0.5)]).unwrap()[0].to_f64_vec();
        let at = |max_call_depth| EvalOptions {
            max_call_depth,
            ..EvalOptions::default()
        };
        assert!(eval_with(&h, &[s64(0.5)], &at(10_000)).is_ok());
        let e = eval_with(&h, &[s64(0.5)], &at(9_999)).unwrap_err();
        (y, e.message)
    });
    assert_eq!(y, vec![10_001.5]);
    assert!(
        refused.contains("@main: %2 = scan body=@b9999"),
        "{refused}"
    );
    assert!(refused.contains("nest 10000 deep"), "{refused}");
    assert!(refused.contains("limit of 9999"), "{refused}");
    // Dropping the chain of bodies recurses once per level in adjoint-ir
    // (BodyRef has no iterative drop, unlike CustomOp): drop it on a big
    // stack so that this test exercises the interpreter only.
    on_stack(256 << 20, move || drop(g));
}

#[test]
fn f32_and_f64_carries_compute_in_their_own_dtype() {
    // (c32: f32, c64: f64, x: f32) -> (c32 + x*0.1, c64 + f64(x)*0.1, c32)
    let f = body(
        "mixed",
        &[TensorType::f32([]), f64s(&[]), TensorType::f32([])],
        |_, p| {
            let x = p[2];
            vec![p[0] + x * 0.1, p[1] + x.cast(DType::F64) * 0.1, p[0]]
        },
    );
    let g = main_with(
        scan(&f, 2, 1, 5, false),
        &[TensorType::f32([]), f64s(&[]), TensorType::f32([5])],
    );
    let xs = [1.5f32, -2.25, 3.0, 0.7, 1e-3];
    let out = eval(
        &g,
        &[
            Tensor::scalar_f32(0.3),
            s64(0.3),
            Tensor::from_f32([5], xs.to_vec()).unwrap(),
        ],
    )
    .unwrap();
    let (mut c32, mut c64, mut ys) = (0.3f32, 0.3f64, vec![]);
    for x in xs {
        ys.push(c32);
        c32 += x * 0.1f32;
        c64 += f64::from(x) * 0.1;
    }
    assert_eq!(out[0].as_f32().unwrap()[0].to_bits(), c32.to_bits());
    assert_eq!(out[1].as_f64().unwrap()[0].to_bits(), c64.to_bits());
    assert_eq!(out[2].as_f32().unwrap(), ys.as_slice());
}

#[test]
fn bool_carries_and_stacked_bool_outputs() {
    // (b) -> (not b, not b), five times from false.
    let f = body("flip", &[TensorType::bool([])], |b, p| {
        let n = b.op(Op::Logical(LogicalOp::Not), &[p[0]]);
        vec![n, n]
    });
    let g = main_with(scan(&f, 1, 0, 5, false), &[TensorType::bool([])]);
    let out = eval(&g, &[pred(false)]).unwrap();
    assert_eq!(out[0].as_bool().unwrap(), &[true]);
    assert_eq!(out[1].as_bool().unwrap(), &[true, false, true, false, true]);
}

#[test]
fn one_function_serves_several_loops_and_runs_itself() {
    let f = cumsum();
    let mut g = Graph::new("main");
    let c = g.add_param("c", f64s(&[])).unwrap();
    let xs = g.add_param("xs", f64s(&[3])).unwrap();
    let a = g.add_multi(scan(&f, 1, 1, 3, false), &[c, xs]).unwrap();
    let b = g.add_multi(scan(&f, 1, 1, 3, true), &[a[0], a[1]]).unwrap();
    g.set_outputs(vec![b[0], b[1], a[1]]);
    let out = eval_f64(&g, &[s64(1.0), t64(&[3], &[1.0, 2.0, 3.0])]);
    // a: c = 7, ys = [2, 4, 7]; b from 7 in reverse over [2, 4, 7]:
    // t=2: 14, t=1: 18, t=0: 20.
    assert_eq!(
        out,
        vec![vec![20.0], vec![20.0, 18.0, 14.0], vec![2.0, 4.0, 7.0]]
    );
    assert_eq!(
        eval_f64(&f, &[s64(1.0), s64(2.0)]),
        vec![vec![3.0], vec![3.0]]
    );
}

#[test]
fn errors_in_a_body_name_the_loop_the_function_and_the_iteration() {
    let broken = broken_branch();
    let g = main_with(scan(&broken, 0, 1, 3, true), &[f64s(&[3]), f64s(&[])]);
    let e = eval(&g, &[t64(&[3], &[1.0, 2.0, 3.0]), s64(0.0)]).unwrap_err();
    assert!(
        e.message.starts_with(
            "@main: %3 = scan body=@broken: body=@broken (iteration t=2): @broken: %2 = const:"
        ),
        "{e}"
    );
    let s = [f64s(&[]), f64s(&[])];
    let cond = body("always", &s, |_, p| vec![p[0].eq_(p[0])]);
    let op = Op::While {
        cond,
        body: broken,
        carry: 1,
        max_trips: Some(3),
    };
    let g = main_with(op, &s);
    let e = eval(&g, &[s64(1.0), s64(2.0)]).unwrap_err();
    assert!(
        e.message
            .contains("= while body=@broken cond=@always: body=@broken (after 0 trips)"),
        "{e}"
    );
}

#[test]
fn eval_node_of_a_multi_result_op_is_an_error_naming_it() {
    let op = scan(&cumsum(), 1, 1, 2, false);
    let (c, xs) = (s64(0.0), t64(&[2], &[1.0, 2.0]));
    let e = eval_node(&op, &f64s(&[]), &[&c, &xs]).unwrap_err();
    assert!(e.message.starts_with("scan:"), "{e}");
    assert!(e.message.contains("several results"), "{e}");
    let e = eval_node(&Op::Project { index: 0 }, &f64s(&[]), &[&c]).unwrap_err();
    assert!(e.message.starts_with("project:"), "{e}");
}

fn budget(max_working_bytes: u64) -> EvalOptions {
    EvalOptions {
        max_working_bytes,
        ..EvalOptions::default()
    }
}

#[test]
fn a_huge_stacked_output_is_refused_before_allocating() {
    // A map of length 2^31 whose one output is f64[]: 16 GiB of ys.
    let f = body("twice", &[f64s(&[])], |_, p| vec![p[0] * 2.0]);
    let g = main_with(scan(&f, 0, 0, 1 << 31, false), &[f64s(&[])]);
    let e = eval_with(&g, &[s64(1.0)], &budget(1 << 30)).unwrap_err();
    assert!(
        e.message.starts_with("@main: %2 = scan body=@twice:"),
        "{e}"
    );
    assert!(
        e.message
            .contains("its results (f64[2147483648]) need 17179869184 bytes"),
        "{e}"
    );
    assert!(e.message.contains("max_working_bytes"), "{e}");
}

#[test]
fn a_scan_needs_its_results_its_slices_and_one_body_peak() {
    // (c: f64[4], x: f64[4]) -> (c + x, c * x): the body's peak is 64
    // bytes. The scan holds its results (32 + 96) and one slice of xs (32).
    let f = body("step", &[f64s(&[4]), f64s(&[4])], |_, p| {
        vec![p[0] + p[1], p[0] * p[1]]
    });
    let g = main_with(scan(&f, 1, 1, 3, false), &[f64s(&[4]), f64s(&[3, 4])]);
    let inputs = [t64(&[4], &[1.0, 2.0, 3.0, 4.0]), t64(&[3, 4], &[0.5; 12])];
    let out = eval_with(&g, &inputs, &budget(224)).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![2.5, 3.5, 4.5, 5.5]);
    let e = eval_with(&g, &inputs, &budget(223)).unwrap_err();
    assert!(
        e.message.starts_with("@main: %3, %4 = scan body=@step:"),
        "{e}"
    );
    assert!(e.message.contains("up to 224 bytes"), "{e}");
}

#[test]
fn a_while_needs_its_carries_and_the_larger_of_its_functions_peaks() {
    // Carries (i: f64[], x: f64[4]) = 40 bytes; the body's peak is 40
    // bytes (i + 1 and x + x), the predicate's 1.
    let s = [f64s(&[]), f64s(&[4]), f64s(&[])];
    let cond = body("below", &s, |_, p| vec![p[0].lt(p[2])]);
    let step = body("double", &s, |_, p| vec![p[0] + 1.0, p[1] + p[1]]);
    let op = Op::While {
        cond,
        body: step,
        carry: 2,
        max_trips: None,
    };
    let g = main_with(op, &s);
    let inputs = [s64(0.0), t64(&[4], &[1.0; 4]), s64(3.0)];
    let out = eval_with(&g, &inputs, &budget(80)).unwrap();
    assert_eq!(out[1].to_f64_vec(), vec![8.0; 4]);
    let e = eval_with(&g, &inputs, &budget(79)).unwrap_err();
    assert!(
        e.message.contains("= while body=@double cond=@below:"),
        "{e}"
    );
}

#[test]
fn a_branch_is_checked_against_the_budget_with_what_its_callers_hold() {
    // @main(pred, a: f64[4], b: f64[4]) = (cond(pred, a, b), a * b): the
    // product (32 bytes) is held while the branch runs. @t's peak is 72
    // bytes (a * b, its sum's scratch copy and the sum); @e's 8.
    let s = [f64s(&[4]), f64s(&[4])];
    let t = body("t", &s, |_, p| vec![(p[0] * p[1]).sum()]);
    let e = body("e", &s, |_, p| vec![p[0].max_all()]);
    let mut g = Graph::new("main");
    let pr = g.add_param("pred", TensorType::bool([])).unwrap();
    let a = g.add_param("a", f64s(&[4])).unwrap();
    let b = g.add_param("b", f64s(&[4])).unwrap();
    let p = g.add(Op::Binary(BinaryOp::Mul), &[a, b]).unwrap();
    let r = g
        .add_multi(Op::Cond { then: t, els: e }, &[pr, a, b])
        .unwrap();
    g.set_outputs(vec![r[0], p]);
    let x = t64(&[4], &[1.0, 2.0, 3.0, 4.0]);
    let inputs = |c| [pred(c), x.clone(), x.clone()];
    let out = eval_with(&g, &inputs(true), &budget(104)).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![30.0]);
    let err = eval_with(&g, &inputs(true), &budget(103)).unwrap_err();
    assert!(
        err.message.contains(
            "then=@t: evaluating it needs up to 72 bytes of working memory, with 32 bytes held"
        ),
        "{err}"
    );
    // The else branch fits.
    let out = eval_with(&g, &inputs(false), &budget(103)).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![4.0]);
}

#[test]
fn eval_node_of_a_call_whose_body_loops() {
    // Constant folding evaluates calls with eval_node: a custom op whose
    // body is a cumulative-sum scan, returning the final carry.
    let mut g = Graph::new("total");
    let xs = g.add_param("xs", f64s(&[4])).unwrap();
    let zero = g.constant(s64(0.0));
    let r = g
        .add_multi(scan(&cumsum(), 1, 1, 4, false), &[zero, xs])
        .unwrap();
    g.set_outputs(vec![r[0]]);
    let c = adjoint_ir::CustomOp::new("total", g, None, None).unwrap();
    let x = t64(&[4], &[1.0, 2.0, 3.0, 4.5]);
    let y = eval_node(&Op::Call(adjoint_ir::CustomRef(c)), &f64s(&[]), &[&x]).unwrap();
    assert_eq!(y.to_f64_vec(), vec![10.5]);
}

#[test]
fn misused_multi_result_nodes_are_errors_not_panics() {
    // A graph built unchecked that reads a scan's tuple directly, returns
    // it as an output, or projects a result it does not have.
    let build = |how: usize| {
        let mut g = Graph::new("main");
        let c = g.add_param("c", f64s(&[])).unwrap();
        let xs = g.add_param("xs", f64s(&[2])).unwrap();
        let r = g
            .add_multi(scan(&cumsum(), 1, 1, 2, false), &[c, xs])
            .unwrap();
        let node = g.operands(r[0])[0];
        let out = match how {
            0 => g.add_unchecked(Op::Unary(adjoint_ir::UnaryOp::Neg), f64s(&[]), &[node]),
            1 => node,
            2 => g.add_unchecked(Op::Project { index: 7 }, f64s(&[]), &[node]),
            _ => g.add_unchecked(Op::Project { index: 0 }, f64s(&[]), &[c]),
        };
        g.set_outputs(vec![out]);
        g
    };
    let inputs = [s64(0.0), t64(&[2], &[1.0, 2.0])];
    let expect = [
        "is read through projections only",
        "is a node with several results",
        "project: result 7",
        "has a single result",
    ];
    for (how, want) in expect.iter().enumerate() {
        let e = eval(&build(how), &inputs).unwrap_err();
        assert!(e.message.contains(want), "{how}: {e}");
    }
}
