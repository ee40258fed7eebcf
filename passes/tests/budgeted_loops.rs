//! Reverse mode through loops under a memory budget (`snapshots=S`,
//! `memory=BYTES`): the primal loop is kept and the backward sweep is one
//! `revolve`. Checked here: the IR without a budget is unchanged, the
//! options' checks, the memory model on a hand-computed case, the
//! schedule notes in the dump, and (on the engines) gradients against
//! finite differences and bit for bit against the unbudgeted gradient,
//! with the step counts the engines measure.

mod loop_cases;

use adjoint_ir::revolve::forward_steps;
use adjoint_ir::{print_graph, Graph, Op};
use adjoint_passes::{PassFilter, PassManager, Registry};
use loop_cases::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The nodes of `g` (bodies included, recursively) whose op is `want`.
fn count_ops(g: &Graph, want: &str) -> usize {
    g.node_ids()
        .into_iter()
        .map(|n| {
            let op = &g[n].op;
            usize::from(op.name() == want)
                + op.bodies()
                    .iter()
                    .map(|b| count_ops(b.graph(), want))
                    .sum::<usize>()
        })
        .sum()
}

/// The `#` notes the pass writes into an after-dump.
fn notes(g: &Graph, pipeline: &str) -> Vec<String> {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let mut pm = PassManager::parse(pipeline).unwrap();
    pm.print_after(PassFilter::All)
        .dump_to(Box::new(sink.clone()));
    pm.run(&mut g.clone())
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"));
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .filter(|l| l.starts_with("# revolve"))
        .map(|l| l.to_string())
        .collect()
}

/// The printed `grad` of a reverse scan and of a bounded while before
/// the budget options existed (the integration branch at cc0ef1f).
const GOLDEN_REVERSE_SCAN: &str = "\
func @step(%c: f64, %x: f64, %k: f64) -> (f64, f64) {
  %3 = mul %c, %x : f64
  %4 = add %3, %k : f64
  return %4, %c
}

func @step_bwd(%c_ct: f64, %k_acc: f64, %y0_ct: f64, %c_res: f64, %x: f64) -> (f64, f64, f64) {
  %5 = mul %c_ct, %x : f64
  %6 = mul %c_ct, %c_res : f64
  %7 = add %y0_ct, %5 : f64
  %8 = add %k_acc, %c_ct : f64
  return %7, %8, %6
}

func @f(%c0: f64, %xs: f64[3], %k: f64) -> (f64, f64, f64[3], f64) {
  %4, %5 = scan %c0, %xs, %k body=@step carry=1 xs=1 reverse=true : (f64, f64[3])
  %6 = reduce_sum %5 axes=[0] : f64
  %7 = add %4, %6 : f64
  %8 = const 1 : f64
  %9 = reshape %8 shape=[1] : f64[1]
  %10 = broadcast %9 shape=[3] : f64[3]
  %11 = const 0 : f64
  %c0_grad, %k_grad, %xs_grad = scan %8, %11, %10, %5, %xs body=@step_bwd carry=2 xs=3 : (f64, f64, f64[3])
  return %7, %c0_grad, %xs_grad, %k_grad
}
";

const GOLDEN_WHILE_TAIL: &str = "\
func @f(%c0: f64, %w: f64, %x: f64, %lim: f64) -> (f64, f64, f64, f64, f64) {
  %6 = const 1 : f64
  %7 = const true : bool
  %cN, %4_1, %8, %9 = scan %c0, %7, %w, %x, %lim body=@grow_trip_fwd carry=2 xs=0 length=3 : (f64, bool, f64[3], bool[3])
  %10 = const 0 : f64
  %11 = const 0 : f64
  %12 = const 0 : f64
  %c0_grad, %w_grad, %x_grad, %lim_grad = scan %6, %10, %11, %12, %8, %9, %w, %x, %lim body=@grow_trip_bwd carry=4 xs=2 reverse=true : (f64, f64, f64, f64)
  return %cN, %c0_grad, %w_grad, %x_grad, %lim_grad
}
";

#[test]
fn without_a_budget_the_ir_is_unchanged() {
    assert_eq!(
        print_graph(&run(&affine_scan(true, 3), "grad")),
        GOLDEN_REVERSE_SCAN
    );
    let w = print_graph(&run(&growth_while(Some(3)), "grad"));
    assert!(w.ends_with(GOLDEN_WHILE_TAIL), "{w}");
    for g in [
        affine_scan(false, 4),
        nested_scan_graph(),
        while_in_scan_graph(),
    ] {
        for p in ["grad", "vjp", "jacobian{mode=rev}"] {
            assert_eq!(count_ops(&run(&g, p), "revolve"), 0, "{p}");
        }
    }
}

#[test]
fn a_budgeted_loop_keeps_its_primal_and_reverses_with_one_revolve() {
    let g = affine_scan(false, 6);
    let h = run(&g, "grad{snapshots=2}");
    let text = print_graph(&h);
    // No residual is stored: the primal scan still runs @step.
    assert!(!text.contains("_fwd"), "{text}");
    assert!(text.contains("body=@step carry=1 xs=1 :"), "{text}");
    assert_eq!(count_ops(&h, "revolve"), 1);
    assert_eq!(count_ops(&h, "scan"), 1);
    let r = h
        .node_ids()
        .into_iter()
        .find(|&n| matches!(h[n].op, Op::Revolve { .. }))
        .unwrap();
    let Op::Revolve {
        step,
        body,
        snapshots,
        state,
        masked,
        ..
    } = &h[r].op
    else {
        unreachable!()
    };
    assert_eq!(step.name(), "step_step");
    assert_eq!(body.name(), "step_bwd");
    assert_eq!((*snapshots, *state, *masked), (2, 1, false));
    // Nested: the inner scan's reversal inside @outer_bwd is budgeted too.
    let h = run(&nested_scan_graph(), "grad{snapshots=2}");
    assert_eq!(count_ops(&h, "revolve"), 2);
    // A bounded while: a masked revolve over the trip scan.
    let h = run(&growth_while(Some(6)), "grad{snapshots=2}");
    let text = print_graph(&h);
    assert!(text.contains("step=@grow_trip_step"), "{text}");
    assert!(text.contains("masked=true"), "{text}");
    // vjp and the reverse sweeps of jacobian take the options too.
    // (jacobian: one reverse sweep per wrt parameter.)
    for (p, n) in [
        ("vjp{snapshots=2}", 1),
        ("jacobian{mode=rev,memory=1MiB}", 3),
    ] {
        assert_eq!(count_ops(&run(&g, p), "revolve"), n, "{p}");
    }
}

#[test]
fn options_are_checked() {
    for (p, want) in [
        ("grad{snapshots=0}", "option `snapshots` must be at least 1"),
        ("vjp{memory=0}", "option `memory` must be at least 1 byte"),
        ("grad{memory=12TB}", "K, KB, KiB = 1024 bytes"),
        (
            "jacobian{memory=lots}",
            "option `memory` must be a byte count",
        ),
        (
            "grad{snapshots=4,memory=1MB}",
            "options `snapshots` and `memory` exclude each other",
        ),
        (
            "grad{snapshots=-2}",
            "option `snapshots` must be a non-negative integer",
        ),
    ] {
        let e = PassManager::parse(p).map(|_| ()).unwrap_err();
        assert!(e.message.contains(want), "{p}: {e}");
    }
    let r = Registry::builtin();
    for pass in ["grad", "vjp", "jacobian"] {
        let opts = r.get(pass).unwrap().options;
        for o in ["snapshots", "memory"] {
            assert!(opts.iter().any(|s| s.name == o), "{pass} has no {o}");
        }
    }
}

#[test]
fn memory_gives_the_hand_computed_snapshots() {
    // affine_scan, T = 100: the state is c (8 bytes). The fixed cost is
    // 2·8 (state and step output) + 2·16 (backward carries c_ct, k_acc,
    // in and out) + 100·8 (the xs cotangent stack) + 32 (the backward
    // body's four f64 values, more than the step's two) = 880 bytes.
    let g = affine_scan(false, 100);
    let s_of = |p: &str| -> String {
        let n = notes(&g, p);
        assert_eq!(n.len(), 1, "{n:?}");
        n[0].clone()
    };
    let n = s_of("grad{memory=1000}");
    assert!(n.contains(" S=15 "), "{n}"); // (1000 - 880) / 8
    assert!(
        n.contains("state_bytes=8 snapshot_bytes=120 predicted_bytes=1000"),
        "{n}"
    );
    assert!(s_of("grad{memory=888}").contains(" S=1 "));
    // More snapshots than steps are never used.
    assert!(s_of("grad{memory=1MiB}").contains(" S=100 "));
    let mut h = g.clone();
    let e = PassManager::parse("grad{memory=887}")
        .unwrap()
        .run(&mut h)
        .unwrap_err();
    for want in [
        "memory=887",
        "scan",
        "body=@step",
        "8 bytes",
        "880 more",
        "at least 888 bytes",
    ] {
        assert!(e.message.contains(want), "{want}: {e}");
    }
}

#[test]
fn the_dump_shows_each_loops_schedule() {
    let n = notes(&affine_scan(false, 10_000), "grad{snapshots=10}");
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        n[0].starts_with("# revolve %")
            && n[0].contains(
                "scan body=@step T=10000 S=10 forward_steps=57624 state_bytes=8 snapshot_bytes=80"
            ),
        "{}",
        n[0]
    );
    assert_eq!(forward_steps(10_000, 10), 57_624);
    // Nested loops: one line each, the inner one first.
    let n = notes(&nested_scan_graph(), "grad{snapshots=2}");
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(
        n[0].contains("body=@inner T=3 S=2 forward_steps=2"),
        "{}",
        n[0]
    );
    assert!(
        n[1].contains("body=@outer T=2 S=2 forward_steps=1"),
        "{}",
        n[1]
    );
    // A while: the bound, and the steps at most.
    let n = notes(&growth_while(Some(6)), "grad{snapshots=2}");
    assert!(
        n[0].contains("while body=@grow_trip T<=6 S=2 forward_steps<=8"),
        "{}",
        n[0]
    );
}

/// The bits of every output.
fn bits(ts: &[adjoint_ir::Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Runs `grad` with each budget in `budgets` on the interpreter: the
/// outputs equal the unbudgeted gradient's bit for bit, and `step` (the
/// name of a `@<body>_step`) ran `want_steps(S)` times. The unbudgeted
/// gradient is checked against finite differences. Returns it.
fn check_budgets(
    g: &Graph,
    inputs: &[adjoint_ir::Tensor],
    budgets: &[&str],
    step: &str,
    want_steps: impl Fn(&str, u64) -> u64,
) -> Vec<Vec<f64>> {
    let plain = run(g, "grad");
    let want = eval(&plain, inputs);
    let mut k = 0;
    for (i, &p) in g.params().iter().enumerate() {
        if g.ty(p).dtype.is_float() {
            close(
                &want[1 + k].to_f64_vec(),
                &fd(g, inputs, i),
                1e-6,
                &format!("d/d{}", g.display_name(p)),
            );
            k += 1;
        }
    }
    for b in budgets {
        let p = format!("grad{{{b}}}");
        let h = run(g, &p);
        // Nothing is stored for the backward sweep.
        assert!(!print_graph(&h).contains("_fwd"), "{p}");
        let (got, stats) =
            adjoint_interp::eval_with_stats(&h, inputs, &adjoint_interp::EvalOptions::default())
                .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(bits(&got), bits(&want), "{p}: not bit-identical");
        let s = notes(g, &p)
            .last()
            .and_then(|n| n.split(" S=").nth(1))
            .and_then(|t| t.split(' ').next())
            .map(|t| t.parse::<u64>().unwrap())
            .unwrap();
        assert_eq!(
            stats.body_evals.get(step).copied().unwrap_or(0),
            want_steps(b, s),
            "{p}: runs of @{step} ({:?})",
            stats.body_evals
        );
        // vjp and the reverse sweep of jacobian agree bit for bit too.
        for (q, plain_q) in [
            (format!("vjp{{{b}}}"), "vjp"),
            (format!("jacobian{{mode=rev,{b}}}"), "jacobian{mode=rev}"),
        ] {
            let mut ins = inputs.to_vec();
            if plain_q == "vjp" {
                ins.push(adjoint_ir::Tensor::scalar_f64(1.5));
            }
            assert_eq!(
                bits(&eval(&run(g, &q), &ins)),
                bits(&eval(&run(g, plain_q), &ins)),
                "{q}"
            );
        }
    }
    want[1..].iter().map(|t| t.to_f64_vec()).collect()
}

/// Two carries, a scanned input, two invariants and a `y`:
/// `(h, u, x, w, b) -> (tanh(h·w + u·x + b), 0.9·u + sin h, h·u)`,
/// `f = h_T + u_T + Σ y`.
fn two_carries(t: usize, reverse: bool) -> Graph {
    let s = f64t(&[]);
    let cell = body(
        "cell",
        &[
            ("h", s.clone()),
            ("u", s.clone()),
            ("x", s.clone()),
            ("w", s.clone()),
            ("b", s.clone()),
        ],
        |_, p| {
            let (h, u, x, w, b) = (p[0], p[1], p[2], p[3], p[4]);
            vec![(h * w + u * x + b).tanh(), u * u.lit(0.9) + h.sin(), h * u]
        },
    );
    let mut g = Graph::new("f");
    let h0 = g.add_param("h0", s.clone()).unwrap();
    let u0 = g.add_param("u0", s.clone()).unwrap();
    let xs = g.add_param("xs", f64t(&[t])).unwrap();
    let w = g.add_param("w", s.clone()).unwrap();
    let b = g.add_param("b", s).unwrap();
    let r = g
        .add_multi(scan(&cell, 2, 1, t, reverse), &[h0, u0, xs, w, b])
        .unwrap();
    let ys = total(&mut g, r[2]);
    let a = add(&mut g, r[0], r[1]);
    let l = add(&mut g, a, ys);
    g.set_outputs(vec![l]);
    g
}

fn two_carries_inputs(t: usize) -> Vec<adjoint_ir::Tensor> {
    let xs: Vec<f64> = (0..t).map(|i| ((i * 7 % 11) as f64 - 5.0) / 7.0).collect();
    vec![
        adjoint_ir::Tensor::scalar_f64(0.3),
        adjoint_ir::Tensor::scalar_f64(-0.2),
        t64(&[t], &xs),
        adjoint_ir::Tensor::scalar_f64(0.8),
        adjoint_ir::Tensor::scalar_f64(0.1),
    ]
}

fn steps(t: u64) -> impl Fn(&str, u64) -> u64 {
    move |_, s| forward_steps(t, s)
}

#[test]
fn budgeted_scans_match_the_stored_gradient_bit_for_bit() {
    for reverse in [false, true] {
        for t in [0, 1, 2, 7, 13] {
            let g = two_carries(t, reverse);
            check_budgets(
                &g,
                &two_carries_inputs(t),
                &[
                    "snapshots=1",
                    "snapshots=2",
                    "snapshots=3",
                    "snapshots=20",
                    "memory=1KB",
                ],
                "cell_step",
                steps(t as u64),
            );
        }
    }
    // Lorenz RK4 (vector state, invariants, no scanned input).
    let g = lorenz(20);
    check_budgets(
        &g,
        &lorenz_inputs(),
        &["snapshots=1", "snapshots=4", "memory=64KiB"],
        "rk4_step",
        steps(20),
    );
}

#[test]
fn nested_budgeted_scans() {
    // The outer scan runs backwards over 2 rows; its body holds a scan of 3.
    let g = nested_scan_graph();
    check_budgets(
        &g,
        &nested_inputs(),
        &["snapshots=1", "snapshots=2"],
        "outer_step",
        steps(2),
    );
    // The inner reversal runs once per outer backward step.
    check_budgets(
        &g,
        &nested_inputs(),
        &["snapshots=1", "snapshots=2"],
        "inner_step",
        |b, _| {
            let s: u64 = b.trim_start_matches("snapshots=").parse().unwrap();
            2 * forward_steps(3, s)
        },
    );
    // A bounded while inside a scan body, under one byte budget.
    check_budgets(
        &while_in_scan_graph(),
        &while_in_scan_inputs(),
        &["snapshots=2", "memory=4KB"],
        "outer_step",
        steps(3),
    );
}

#[test]
fn budgeted_while_with_the_bound_hit_and_not_hit() {
    let inputs = |lim: f64| {
        [
            adjoint_ir::Tensor::scalar_f64(1.0),
            adjoint_ir::Tensor::scalar_f64(2.0),
            adjoint_ir::Tensor::scalar_f64(0.5),
            adjoint_ir::Tensor::scalar_f64(lim),
        ]
    };
    let budgets = ["snapshots=1", "snapshots=2", "memory=2KB"];
    // Not hit: 3 trips of 8; only the 3 that ran are reversed.
    let got = check_budgets(
        &growth_while(Some(8)),
        &inputs(10.0),
        &budgets,
        "grow_trip_step",
        steps(3),
    );
    assert_eq!(got, vec![vec![8.0], vec![14.5], vec![7.0], vec![0.0]]);
    // Hit: 2 trips.
    let got = check_budgets(
        &growth_while(Some(2)),
        &inputs(10.0),
        &budgets,
        "grow_trip_step",
        steps(2),
    );
    assert_eq!(got, vec![vec![4.0], vec![4.5], vec![3.0], vec![0.0]]);
    // No trip at all.
    let got = check_budgets(
        &growth_while(Some(8)),
        &inputs(0.5),
        &budgets,
        "grow_trip_step",
        steps(0),
    );
    assert_eq!(got, vec![vec![1.0], vec![0.0], vec![0.0], vec![0.0]]);
}
/// Measured, not predicted: the interpreter's peak working memory of the
/// budgeted gradient stays within the budget plus the primal program's
/// own peak (its stacked `ys`), and below the stored-residual gradient's.
#[test]
fn measured_working_memory_stays_within_the_budget() {
    let t = 2000;
    let g = two_carries(t, false);
    let inputs = two_carries_inputs(t);
    let measure = |h: &Graph| {
        adjoint_interp::eval_with_stats(h, &inputs, &adjoint_interp::EvalOptions::default())
            .unwrap()
            .1
            .working_bytes
    };
    let primal = measure(&g);
    let stored = measure(&run(&g, "grad"));
    for budget in [20 * 1024u64, 40 * 1024] {
        let used = measure(&run(&g, &format!("grad{{memory={budget}}}")));
        assert!(used <= budget + primal, "{used} > {budget} + {primal}");
        assert!(used < stored, "{used} >= {stored}");
    }
}

/// A `carry=0` scan (a map) has no state to checkpoint: under a budget its
/// backward scan recomputes each step from the slices and stores nothing.
#[test]
fn a_budgeted_map_recomputes_each_step() {
    let s = f64t(&[]);
    let f = body("f", &[("x", s.clone()), ("k", s.clone())], |_, p| {
        vec![(p[0] * p[1]).sin()]
    });
    for reverse in [false, true] {
        let mut g = Graph::new("map");
        let xs = g.add_param("xs", f64t(&[3])).unwrap();
        let k = g.add_param("k", s.clone()).unwrap();
        let r = g.add_multi(scan(&f, 0, 1, 3, reverse), &[xs, k]).unwrap();
        let l = total(&mut g, r[0]);
        g.set_outputs(vec![l]);
        let inputs = [
            t64(&[3], &[1.0, 2.0, 4.0]),
            adjoint_ir::Tensor::scalar_f64(0.3),
        ];
        check_budgets(
            &g,
            &inputs,
            &["snapshots=1", "memory=1KB"],
            "f_step",
            |_, _| 0,
        );
        let h = run(&g, "grad{snapshots=1}");
        assert_eq!(count_ops(&h, "revolve"), 0);
        assert!(!print_graph(&h).contains("_fwd"));
    }
}
