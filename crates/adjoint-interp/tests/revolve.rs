//! `revolve` on the interpreter: hand-derived values, bit-for-bit equality
//! with "a scan storing every state, then a reverse scan of the body" for
//! many trip counts and snapshot budgets (masked too), the exact number of
//! `step` runs (the Revolve optimum), the measured working memory, and
//! errors in its functions.

mod common;

use adjoint_interp::{eval, eval_with, eval_with_stats, EvalOptions};
use adjoint_ir::revolve::forward_steps;
use adjoint_ir::{parse_module, BinaryOp, BodyRef, Graph, Module, NodeId, Op, Tensor, TensorType};
use common::{boolt, f64t, s64};

fn module(text: &str) -> Module {
    parse_module(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn main_of(m: &Module) -> &Graph {
    m.main_func().unwrap()
}

/// The program of crates/adjoint-ir/tests/revolve_op.rs: the states are
/// `s_{t+1} = s_t * x_t * w`; from `b = b0`, for `t = n-1 … 0`,
/// `b = b * x_t + s_t` and `y_t = b * s_t`.
const TEXT: &str = include_str!("../../adjoint-ir/tests/programs/revolve.adj");

/// `s_{t+1} = 2 s_t`, `b = b + s_t`, over the leading `true`s of a mask.
const MASKED: &str = include_str!("../../adjoint-ir/tests/programs/revolve_masked.adj");

#[test]
fn the_ir_tests_programs_give_their_hand_derived_values() {
    // s = 1, 4, 24, 48, 48 for x = 2, 3, 1, 0.5, 2 and w = 2; then
    // t=4: b = 0·2 + 48 = 48, y = 48·48 = 2304; t=3: b = 48·0.5 + 48 = 72,
    // y = 72·48 = 3456; t=2: b = 72·1 + 24 = 96, y = 96·24 = 2304;
    // t=1: b = 96·3 + 4 = 292, y = 292·4 = 1168; t=0: b = 292·2 + 1 = 585,
    // y = 585·1 = 585.
    let xs = f64t([5], &[2.0, 3.0, 1.0, 0.5, 2.0]);
    for s in 1..=6 {
        let m = module(&TEXT.replace("snapshots=2", &format!("snapshots={s}")));
        let out = eval(main_of(&m), &[s64(1.0), s64(0.0), xs.clone(), s64(2.0)]).unwrap();
        assert_eq!(out[0].as_f64().unwrap(), &[585.0], "snapshots={s}");
        assert_eq!(
            out[1].as_f64().unwrap(),
            &[585.0, 1168.0, 2304.0, 3456.0, 2304.0],
            "snapshots={s}"
        );
    }
    // Masked: s = 1, 2, 4, 8; b = b0 + s_0 + … + s_{n-1}.
    let m = module(MASKED);
    for (mask, want) in [
        ([false; 4], 0.5),
        ([true, false, true, true], 1.5),
        ([true, true, true, false], 7.5),
        ([true; 4], 15.5),
    ] {
        let out = eval(main_of(&m), &[boolt([4], &mask), s64(1.0), s64(0.5)]).unwrap();
        assert_eq!(out[0].as_f64().unwrap(), &[want], "{mask:?}");
    }
}

/// Two states (`s`, `u`), one carry, two stacked outputs, an invariant, a
/// transcendental step: `revolve` over `n` trips of `xs: f64[n]`.
fn revolve_text(n: usize, snapshots: usize, masked: bool) -> String {
    let (mask_param, mask_arg, mask_attr) = if masked {
        (format!("%m: bool[{n}], "), "%m, ", " masked=true")
    } else {
        (String::new(), "", "")
    };
    format!(
        "\
func @fwd(%s: f64, %u: f64, %x: f64, %w: f64) -> (f64, f64) {{
  %a = mul %s, %x : f64
  %b = sin %a : f64
  %s2 = add %b, %u : f64
  %c = mul %u, %w : f64
  %u2 = add %c, %x : f64
  return %s2, %u2
}}

func @bwd(%b: f64, %s: f64, %u: f64, %x: f64, %w: f64) -> (f64, f64, f64) {{
  %c = cos %s : f64
  %p = mul %b, %c : f64
  %q = mul %u, %x : f64
  %b2 = add %p, %q : f64
  %y = mul %b2, %s : f64
  %z = sub %u, %w : f64
  return %b2, %y, %z
}}

func @main({mask_param}%s0: f64, %u0: f64, %b0: f64, %xs: f64[{n}], %w: f64) -> (f64, f64[{n}], f64[{n}]) {{
  %b, %ys, %zs = revolve {mask_arg}%s0, %u0, %b0, %xs, %w body=@bwd step=@fwd state=2 carry=1 xs=1 snapshots={snapshots}{mask_attr} : (f64, f64[{n}], f64[{n}])
  return %b, %ys, %zs
}}
"
    )
}

/// The same computation without checkpointing: a scan storing every
/// state, then a reverse scan of the body over the stored states.
fn reference_text(n: usize) -> String {
    format!(
        "\
func @store(%s: f64, %u: f64, %x: f64, %w: f64) -> (f64, f64, f64, f64) {{
  %a = mul %s, %x : f64
  %b = sin %a : f64
  %s2 = add %b, %u : f64
  %c = mul %u, %w : f64
  %u2 = add %c, %x : f64
  return %s2, %u2, %s, %u
}}

func @bwd(%b: f64, %s: f64, %u: f64, %x: f64, %w: f64) -> (f64, f64, f64) {{
  %c = cos %s : f64
  %p = mul %b, %c : f64
  %q = mul %u, %x : f64
  %b2 = add %p, %q : f64
  %y = mul %b2, %s : f64
  %z = sub %u, %w : f64
  return %b2, %y, %z
}}

func @main(%s0: f64, %u0: f64, %b0: f64, %xs: f64[{n}], %w: f64) -> (f64, f64[{n}], f64[{n}]) {{
  %sn, %un, %ss, %us = scan %s0, %u0, %xs, %w body=@store carry=2 xs=1 length={n} : (f64, f64, f64[{n}], f64[{n}])
  %b, %ys, %zs = scan %b0, %ss, %us, %xs, %w body=@bwd carry=1 xs=3 reverse=true length={n} : (f64, f64[{n}], f64[{n}])
  return %b, %ys, %zs
}}
"
    )
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_f64_vec().iter().map(|v| v.to_bits()).collect()
}

fn xs(n: usize) -> Tensor {
    Tensor::from_f64([n], (0..n).map(|i| 0.3 + 0.17 * i as f64).collect()).unwrap()
}

/// The inputs after the mask: `s0, u0, b0, xs, w`.
fn inputs(n: usize) -> Vec<Tensor> {
    vec![s64(0.7), s64(-0.4), s64(1.25), xs(n), s64(0.93)]
}

/// Evaluates the revolve program, checks the step and body counts, and
/// returns the outputs.
fn run_revolve(n: usize, s: usize, mask: Option<&[bool]>) -> Vec<Tensor> {
    let m = module(&revolve_text(n, s, mask.is_some()));
    let mut ins = inputs(n);
    if let Some(mask) = mask {
        ins.insert(0, Tensor::from_bool([n], mask.to_vec()).unwrap());
    }
    let (out, stats) = eval_with_stats(main_of(&m), &ins, &EvalOptions::default()).unwrap();
    let trips = mask.map_or(n, |m| m.iter().take_while(|&&b| b).count());
    let steps = stats.body_evals.get("fwd").copied().unwrap_or(0);
    assert_eq!(
        steps,
        forward_steps(trips as u64, s as u64),
        "step runs, n={trips} S={s}"
    );
    let bodies = stats.body_evals.get("bwd").copied().unwrap_or(0);
    assert_eq!(bodies, trips as u64, "body runs, n={trips} S={s}");
    out
}

#[test]
fn revolve_equals_storing_every_state_bit_for_bit_and_steps_the_optimal_number_of_times() {
    let mut cases: Vec<(usize, usize)> = Vec::new();
    for n in 0..=9 {
        for s in 1..=n + 2 {
            cases.push((n, s));
        }
    }
    cases.extend([(40, 1), (40, 2), (40, 3), (40, 5), (40, 40), (57, 4)]);
    for (n, s) in cases {
        let want = eval(main_of(&module(&reference_text(n))), &inputs(n)).unwrap();
        let got = run_revolve(n, s, None);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.ty(), w.ty(), "output {i}, n={n} S={s}");
            assert_eq!(bits(g), bits(w), "output {i}, n={n} S={s}");
        }
    }
}

#[test]
fn a_masked_revolve_stops_at_the_first_false_and_zeroes_the_rows_after() {
    let n = 7;
    let masks: Vec<Vec<bool>> = vec![
        vec![false; n],
        vec![true, true, true, false, true, true, true],
        vec![true, false, false, false, false, false, false],
        vec![true; n],
    ];
    for mask in &masks {
        let trips = mask.iter().take_while(|&&b| b).count();
        // The reference: the unmasked computation over the first `trips`
        // scanned inputs.
        let mut ins = inputs(trips);
        ins[3] = Tensor::from_f64([trips], xs(n).to_f64_vec()[..trips].to_vec()).unwrap();
        let want = eval(main_of(&module(&reference_text(trips))), &ins).unwrap();
        for s in [1, 2, 3, n] {
            let got = run_revolve(n, s, Some(mask));
            assert_eq!(bits(&got[0]), bits(&want[0]), "carry, {mask:?} S={s}");
            for j in 1..3 {
                let g = bits(&got[j]);
                assert_eq!(g.len(), n);
                assert_eq!(g[..trips], bits(&want[j])[..], "ys {j}, {mask:?} S={s}");
                assert!(g[trips..].iter().all(|&b| b == 0), "rows t >= n are +0");
            }
        }
    }
}

/// `state: f64[w]` revolved `n` times with `snapshots`, no scanned inputs.
fn wide(n: usize, w: usize, snapshots: usize) -> String {
    format!(
        "\
func @fwd(%s: f64[{w}]) -> f64[{w}] {{
  %y = sin %s : f64[{w}]
  return %y
}}

func @bwd(%b: f64[{w}], %s: f64[{w}]) -> f64[{w}] {{
  %y = add %b, %s : f64[{w}]
  return %y
}}

func @main(%s0: f64[{w}], %b0: f64[{w}]) -> f64[{w}] {{
  %b = revolve %s0, %b0 body=@bwd step=@fwd state=1 carry=1 xs=0 snapshots={snapshots} length={n} : f64[{w}]
  return %b
}}
"
    )
}

#[test]
fn working_memory_holds_at_most_the_snapshots_and_is_checked_up_front() {
    // State f64[1000] = 8000 bytes, n = 20 trips. With S < n snapshots
    // (s_0, an input, among them) the peak is while a step runs from a
    // current state that is not a snapshot: the carry b0 is an input, so
    // the interpreter holds the S - 1 snapshots above s_0, the state being
    // stepped, the new state, and later the body's carry result next to
    // the previous carry: (S - 1) + 1 + 1 + 1 = S + 2 arrays (the last
    // saved state is then the current one). With S >= n every state
    // s_1 … s_{n-1} is computed once and kept (the current one shared
    // with its snapshot), and the body's result sits next to the carry:
    // (n - 1) + 2 = n + 1 arrays.
    let (n, w) = (20, 1000);
    let ins = [
        Tensor::from_f64([w], vec![0.5; w]).unwrap(),
        Tensor::from_f64([w], vec![0.0; w]).unwrap(),
    ];
    for s in [1, 2, 3, 5, 20, 30] {
        let m = module(&wide(n, w, s));
        let (_, stats) = eval_with_stats(main_of(&m), &ins, &EvalOptions::default()).unwrap();
        let arrays = if s < n { s + 2 } else { n + 1 } as u64;
        assert_eq!(stats.working_bytes, arrays * 8000, "S={s}");
        assert_eq!(
            stats.body_evals.get("fwd").copied().unwrap_or(0),
            forward_steps(n as u64, s as u64)
        );
        // The up-front check counts the snapshots: a budget below the
        // measured peak is refused before anything runs.
        let tight = EvalOptions {
            max_working_bytes: stats.working_bytes - 1,
            ..EvalOptions::default()
        };
        let e = eval_with(main_of(&m), &ins, &tight).unwrap_err();
        assert!(
            e.message.contains("revolve") && e.message.contains("max_working_bytes"),
            "{e}"
        );
    }
}

/// `@name(a: f64, b: f64) -> f64` adding a malformed constant (its value
/// is `f64[2]`, its node says `f64`): an error when it runs, not before.
fn broken(name: &str, params: usize) -> BodyRef {
    let mut g = Graph::new(name);
    let a = g.add_param("a", TensorType::f64([])).unwrap();
    for i in 1..params {
        g.add_param(format!("p{i}"), TensorType::f64([])).unwrap();
    }
    let bad = g.add_unchecked(Op::Const(f64t([2], &[1.0, 2.0])), TensorType::f64([]), &[]);
    let y = g.add_unchecked(Op::Binary(BinaryOp::Add), TensorType::f64([]), &[a, bad]);
    g.set_outputs(vec![y]);
    BodyRef::new(g)
}

/// A revolve of `n` trips of `s -> step(s, k)`, `b -> body(b, s, k)`.
fn revolve_graph(step: BodyRef, body: BodyRef, n: usize) -> Graph {
    let op = Op::Revolve {
        body,
        step,
        state: 1,
        carry: 1,
        xs: 0,
        length: n,
        snapshots: 2,
        masked: false,
    };
    let mut g = Graph::new("main");
    let ps: Vec<NodeId> = (0..3)
        .map(|i| g.add_param(format!("a{i}"), TensorType::f64([])).unwrap())
        .collect();
    let r = g.add_multi(op, &ps).unwrap();
    g.set_outputs(r);
    g
}

#[test]
fn an_error_in_a_step_or_body_names_the_revolve_the_function_and_the_trip() {
    let ok_step = {
        let mut g = Graph::new("ok_step");
        let a = g.add_param("a", TensorType::f64([])).unwrap();
        g.add_param("k", TensorType::f64([])).unwrap();
        g.set_outputs(vec![a]);
        BodyRef::new(g)
    };
    let ins = [s64(1.0), s64(0.0), s64(2.0)];
    // The first action advances from s_0 toward s_2 (the split of 4 trips
    // with 2 snapshots): the step from s_0 fails.
    let g = revolve_graph(broken("bad_step", 2), broken("bwd", 3), 4);
    let e = eval(&g, &ins).unwrap_err();
    assert!(
        e.message.contains(
            "= revolve body=@bwd step=@bad_step: step=@bad_step (iteration t=0): @bad_step: %2 = const:"
        ),
        "{e}"
    );
    // The first reverse step is t = n - 1.
    let g = revolve_graph(ok_step, broken("bad_body", 3), 4);
    let e = eval(&g, &ins).unwrap_err();
    assert!(
        e.message
            .contains("body=@bad_body (iteration t=3): @bad_body: %3 = const:"),
        "{e}"
    );
}

#[test]
fn a_revolve_nested_in_a_scan_runs_its_schedule_on_every_trip() {
    // Each trip: s_0 = x, s_{t+1} = sin s_t over 10 steps, and from
    // b = c, b = b + s_t for t = 9 … 0; the scan carries b.
    let text = "\
func @fwd(%s: f64) -> f64 {
  %y = sin %s : f64
  return %y
}

func @bwd(%b: f64, %s: f64) -> f64 {
  %y = add %b, %s : f64
  return %y
}

func @outer(%c: f64, %x: f64) -> (f64, f64) {
  %b = revolve %x, %c body=@bwd step=@fwd state=1 carry=1 xs=0 snapshots=3 length=10 : f64
  return %b, %b
}

func @main(%c0: f64, %xs: f64[3]) -> (f64, f64[3]) {
  %c, %ys = scan %c0, %xs body=@outer carry=1 xs=1 : (f64, f64[3])
  return %c, %ys
}
";
    let xs = [0.3, -1.2, 2.5];
    let mut c = 0.25f64;
    let mut want = Vec::new();
    for &x in &xs {
        let mut s = vec![x];
        for t in 0..9 {
            s.push(f64::sin(s[t]));
        }
        for st in s.iter().rev() {
            c += st;
        }
        want.push(c);
    }
    let m = module(text);
    let (out, stats) = eval_with_stats(
        main_of(&m),
        &[s64(0.25), f64t([3], &xs)],
        &EvalOptions::default(),
    )
    .unwrap();
    assert_eq!(bits(&out[0]), vec![c.to_bits()]);
    let want_bits: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits(&out[1]), want_bits);
    let runs = |f: &str| stats.body_evals.get(f).copied().unwrap_or(0);
    assert_eq!(runs("outer"), 3);
    assert_eq!(runs("fwd"), 3 * forward_steps(10, 3));
    assert_eq!(runs("bwd"), 30);
}
