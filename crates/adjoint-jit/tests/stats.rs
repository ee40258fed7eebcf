//! `CompiledFn::run_with_stats`: the body evaluations the running code
//! counted (equal to the interpreter's, and hand-derived for scans, whiles with and without their bound,
//! conditionals, nested loops, and `revolve`, whose step runs exactly
//! `forward_steps(n, S)` times), and the working memory the call used.

use adjoint_interp::EvalOptions;
use adjoint_ir::revolve::forward_steps;
use adjoint_ir::{parse_module, Graph, RunStats, Shape, Tensor, TensorData};
use adjoint_jit::{compile, CompiledFn, JitOptions};
use std::collections::BTreeMap;

fn main_of(text: &str) -> Graph {
    let m = parse_module(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    m.func("main").unwrap().clone()
}

fn scalar(v: f64) -> Tensor {
    Tensor::from_f64([], vec![v]).unwrap()
}

fn vector(v: Vec<f64>) -> Tensor {
    Tensor::from_f64([v.len()], v).unwrap()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

fn stats_of(g: &Graph, ins: &[Tensor]) -> (Vec<Tensor>, RunStats) {
    let f = compile(g, &JitOptions::default()).unwrap();
    let (outs, st) = f.run_with_stats(ins).unwrap();
    // The same call without measuring gives the same results.
    let plain = f.run(ins).unwrap();
    assert_eq!(outs, plain);
    // The interpreter counts the same evaluations.
    let (_, interp) = adjoint_interp::eval_with_stats(g, ins, &EvalOptions::default()).unwrap();
    assert_eq!(st.body_evals, interp.body_evals, "@{}", g.name());
    (outs, st)
}

const LOOPS: &str = "\
func @step(%c: f64, %x: f64) -> (f64, f64) {
  %n = add %c, %x
  return %n, %n
}

func @small(%x: f64, %limit: f64) -> bool {
  %p = lt %x, %limit
  return %p
}

func @double(%x: f64, %limit: f64) -> f64 {
  %y = add %x, %x
  return %y
}

func @pos(%x: f64) -> f64 {
  %y = sqrt %x
  return %y
}

func @negpart(%x: f64) -> f64 {
  %y = neg %x
  return %y
}

func @main(%c0: f64, %xs: f64[7], %limit: f64) -> (f64, f64[7], f64, f64) {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1 : (f64, f64[7])
  %r = while %c0, %limit cond=@small body=@double carry=1 max_trips=BOUND : f64
  %zero = const 0 : f64
  %p = ge %c, %zero
  %s = cond %p, %c then=@pos else=@negpart : f64
  return %c, %ys, %r, %s
}
";

#[test]
fn scans_whiles_and_conds_count_every_body_call() {
    // c0 = 1: the while doubles 1 -> 128 in 7 trips, testing its predicate
    // 8 times (the last says stop); the scan runs 7 trips; the sum of the
    // xs is positive, so `cond` runs `then` once.
    let xs = vector(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    let g = main_of(&LOOPS.replace("BOUND", "64"));
    let (outs, st) = stats_of(&g, &[scalar(1.0), xs.clone(), scalar(100.0)]);
    assert_eq!(outs[2].to_f64_vec(), vec![128.0]);
    assert_eq!(
        st.body_evals,
        counts(&[("step", 7), ("small", 8), ("double", 7), ("pos", 1)])
    );
    // The bound hit after 3 trips: the predicate ran before each trip only
    // (the bound ends the loop without testing it).
    let g = main_of(&LOOPS.replace("BOUND", "3"));
    let neg = vector(vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0]);
    let (outs, st) = stats_of(&g, &[scalar(1.0), neg, scalar(100.0)]);
    assert_eq!(outs[2].to_f64_vec(), vec![8.0]);
    assert_eq!(
        st.body_evals,
        counts(&[("step", 7), ("small", 3), ("double", 3), ("negpart", 1)])
    );
}

#[test]
fn nested_loops_count_the_inner_body_per_outer_trip() {
    let text = "\
func @inner(%c: f64, %k: f64) -> f64 {
  %n = mul %c, %k
  return %n
}

func @outer(%c: f64, %x: f64) -> (f64, f64) {
  %m = scan %c, %x body=@inner carry=1 xs=0 length=3 : f64
  return %m, %m
}

func @main(%c0: f64, %xs: f64[4]) -> (f64, f64[4]) {
  %c, %ys = scan %c0, %xs body=@outer carry=1 xs=1 : (f64, f64[4])
  return %c, %ys
}
";
    let g = main_of(text);
    let (outs, st) = stats_of(&g, &[scalar(1.0), vector(vec![2.0, 1.0, 0.5, 2.0])]);
    // c ends at 2^3 · 1 · 0.5^3 · 2^3 = 8.
    assert_eq!(outs[0].to_f64_vec(), vec![8.0]);
    assert_eq!(st.body_evals, counts(&[("outer", 4), ("inner", 12)]));
}

/// A revolve of `n` steps over a state of `d` elements with `s` snapshots
/// (masked with `bool[n]` when `masked`).
fn revolve_text(n: usize, d: usize, s: usize, masked: bool) -> String {
    let (mask_param, mask_op, mask_attr) = if masked {
        (format!("%m: bool[{n}], "), "%m, ", " masked=true")
    } else {
        (String::new(), "", "")
    };
    format!(
        "\
func @fwd(%s: f64[{d}], %x: f64) -> f64[{d}] {{
  %a = sin %s
  %y = mul %a, %x
  return %y
}}

func @bwd(%b: f64[{d}], %s: f64[{d}], %x: f64) -> (f64[{d}], f64) {{
  %p = mul %b, %x
  %q = add %p, %s
  %y = reduce_sum %q axes=[0]
  return %q, %y
}}

func @main({mask_param}%s0: f64[{d}], %b0: f64[{d}], %xs: f64[{n}]) -> (f64[{d}], f64[{n}]) {{
  %b, %ys = revolve {mask_op}%s0, %b0, %xs body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots={s}{mask_attr} : (f64[{d}], f64[{n}])
  return %b, %ys
}}
"
    )
}

/// The same reversal storing every state.
fn stored_text(n: usize, d: usize) -> String {
    format!(
        "\
func @keep(%s: f64[{d}], %x: f64) -> (f64[{d}], f64[{d}]) {{
  %a = sin %s
  %y = mul %a, %x
  return %y, %s
}}

func @bwd(%b: f64[{d}], %s: f64[{d}], %x: f64) -> (f64[{d}], f64) {{
  %p = mul %b, %x
  %q = add %p, %s
  %y = reduce_sum %q axes=[0]
  return %q, %y
}}

func @main(%s0: f64[{d}], %b0: f64[{d}], %xs: f64[{n}]) -> (f64[{d}], f64[{n}]) {{
  %f, %st = scan %s0, %xs body=@keep carry=1 xs=1 : (f64[{d}], f64[{n}, {d}])
  %b, %ys = scan %b0, %st, %xs body=@bwd carry=1 xs=2 reverse=true : (f64[{d}], f64[{n}])
  return %b, %ys
}}
"
    )
}

fn revolve_inputs(n: usize, d: usize) -> Vec<Tensor> {
    vec![
        vector((0..d).map(|i| 0.1 * i as f64).collect()),
        vector(vec![1.0; d]),
        vector((0..n).map(|i| 0.9 + 0.001 * i as f64).collect()),
    ]
}

#[test]
fn revolve_runs_its_step_exactly_forward_steps_times() {
    for (n, s) in [
        (0, 3),
        (1, 1),
        (10, 1),
        (10, 2),
        (30, 3),
        (25, 25),
        (12, 40),
    ] {
        let g = main_of(&revolve_text(n, 4, s, false));
        let (_, st) = stats_of(&g, &revolve_inputs(n, 4));
        let mut want = BTreeMap::new();
        let steps = forward_steps(n as u64, s as u64);
        if steps > 0 {
            want.insert("fwd".to_string(), steps);
        }
        if n > 0 {
            want.insert("bwd".to_string(), n as u64);
        }
        assert_eq!(st.body_evals, want, "n={n} S={s}");
    }
    // Masked: the trip count is the number of leading trues.
    let (n, s) = (20, 3);
    let g = main_of(&revolve_text(n, 4, s, true));
    for trues in [0, 1, 7, 20] {
        let m: Vec<bool> = (0..n).map(|i| i < trues || i == trues + 1).collect();
        let mut ins = vec![Tensor::new(Shape::new(vec![n]), TensorData::Bool(m)).unwrap()];
        ins.extend(revolve_inputs(n, 4));
        let (_, st) = stats_of(&g, &ins);
        let fwd = forward_steps(trues as u64, s as u64);
        assert_eq!(st.body_evals.get("fwd").copied().unwrap_or(0), fwd);
        assert_eq!(st.body_evals.get("bwd").copied().unwrap_or(0), trues as u64);
    }
    // A forward scan then a reverse scan of the stored states: n each.
    let g = main_of(&stored_text(30, 4));
    let (_, st) = stats_of(&g, &revolve_inputs(30, 4));
    assert_eq!(st.body_evals, counts(&[("keep", 30), ("bwd", 30)]));
}

#[test]
fn revolve_working_memory_grows_with_snapshots_and_stays_below_storing_every_state() {
    // 200 steps of a 64-element (512-byte) state.
    let (n, d) = (200, 64);
    let ins = revolve_inputs(n, d);
    let stored = stats_of(&main_of(&stored_text(n, d)), &ins);
    let mut last = 0;
    for s in [1, 2, 4, 16, 64] {
        let (outs, st) = stats_of(&main_of(&revolve_text(n, d, s, false)), &ins);
        // The results do not depend on S, bit for bit.
        assert_eq!(outs, stored.0, "S={s}");
        assert!(st.working_bytes > last, "S={s}: {} bytes", st.working_bytes);
        // Each snapshot beyond s_0 is one 512-byte slot.
        if s > 1 {
            assert!(st.working_bytes - last >= 512, "S={s}");
        }
        assert!(
            st.working_bytes < stored.1.working_bytes,
            "S={s}: {} bytes, storing every state {}",
            st.working_bytes,
            stored.1.working_bytes
        );
        last = st.working_bytes;
    }
    // Storing 200 states of 512 bytes takes at least 100 KiB.
    assert!(stored.1.working_bytes >= (n * d * 8) as u64);
}

#[test]
fn working_bytes_is_the_arena_without_revolve() {
    let g = main_of(&stored_text(10, 4));
    let f = compile(&g, &JitOptions::default()).unwrap();
    let (_, st) = f.run_with_stats(&revolve_inputs(10, 4)).unwrap();
    assert_eq!(st.working_bytes, f.arena_bytes() as u64);
    assert_eq!(f.stats().arena_bytes, f.arena_bytes());
    assert!(f.arena_bytes() >= 10 * 4 * 8);
}

#[test]
fn concurrent_calls_count_separately() {
    let (n, s) = (40, 3);
    let g = main_of(&revolve_text(n, 4, s, false));
    let f: CompiledFn = compile(&g, &JitOptions::default()).unwrap();
    let ins = revolve_inputs(n, 4);
    let want = counts(&[
        ("fwd", forward_steps(n as u64, s as u64)),
        ("bwd", n as u64),
    ]);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for _ in 0..20 {
                    let (_, st) = f.run_with_stats(&ins).unwrap();
                    assert_eq!(st.body_evals, want);
                }
            });
        }
    });
}

#[test]
fn counting_can_be_compiled_out() {
    let g = main_of(&revolve_text(5, 4, 2, false));
    let opts = JitOptions {
        count_body_evals: false,
        ..Default::default()
    };
    let f = compile(&g, &opts).unwrap();
    let ins = revolve_inputs(5, 4);
    let e = f.run_with_stats(&ins).unwrap_err().to_string();
    assert!(e.contains("count_body_evals"), "{e}");
    // The results are the same either way.
    let counted = compile(&g, &JitOptions::default()).unwrap();
    assert_eq!(f.run(&ins).unwrap(), counted.run(&ins).unwrap());
}
