//! Budgeted reverse mode through loops on the JIT (docs/passes.md,
//! "Reverse mode under a memory budget"): `grad{snapshots=S}` and
//! `grad{memory=BYTES}` give the unbudgeted gradient bit for bit, the JIT
//! runs each `@<body>_step` exactly t(T, S) times (as its own counters
//! measure), and the JIT agrees bit for bit with the interpreter in its
//! math mode. The interpreter's side is `passes/tests/budgeted_loops.rs`.

#[path = "../passes/tests/loop_cases/mod.rs"]
mod loop_cases;

use adjoint_interp::{eval_with, EvalOptions};
use adjoint_ir::revolve::forward_steps;
use adjoint_ir::{Graph, RunStats, Tensor};
use adjoint_jit::{compile, JitOptions};
use loop_cases::*;

fn bits(ts: &[Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn jit(g: &Graph, inputs: &[Tensor]) -> (Vec<Tensor>, RunStats) {
    let f = compile(g, &JitOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    f.run_with_stats(inputs).unwrap_or_else(|e| panic!("{e}"))
}

/// `grad` with each budget: bit for bit the unbudgeted JIT gradient and
/// the interpreter's (in the JIT's math mode), and `@step` ran
/// `steps(S)` times on the JIT.
fn check(
    g: &Graph,
    inputs: &[Tensor],
    budgets: &[(&str, usize)],
    step: &str,
    steps: impl Fn(u64) -> u64,
) {
    let (want, _) = jit(&run(g, "grad"), inputs);
    let opts = EvalOptions {
        math: JitOptions::default().math_mode(),
        ..EvalOptions::default()
    };
    for &(b, s) in budgets {
        let h = run(g, &format!("grad{{{b}}}"));
        let (got, stats) = jit(&h, inputs);
        assert_eq!(bits(&got), bits(&want), "{b}: JIT budgeted vs unbudgeted");
        let interp = eval_with(&h, inputs, &opts).unwrap();
        assert_eq!(bits(&got), bits(&interp), "{b}: JIT vs interpreter");
        assert_eq!(
            stats.body_evals.get(step).copied().unwrap_or(0),
            steps(s as u64),
            "{b}: runs of @{step}: {:?}",
            stats.body_evals
        );
    }
}

#[test]
fn budgeted_scans_on_the_jit() {
    for reverse in [false, true] {
        let g = affine_scan(reverse, 9);
        let inputs = [
            Tensor::scalar_f64(0.9),
            t64(&[9], &[0.5, -1.0, 1.5, 0.25, -0.75, 1.0, 0.5, -0.5, 2.0]),
            Tensor::scalar_f64(0.3),
        ];
        check(
            &g,
            &inputs,
            &[("snapshots=1", 1), ("snapshots=3", 3), ("snapshots=9", 9)],
            "step_step",
            |s| forward_steps(9, s),
        );
    }
    check(
        &lorenz(30),
        &lorenz_inputs(),
        &[("snapshots=2", 2), ("snapshots=5", 5)],
        "rk4_step",
        |s| forward_steps(30, s),
    );
}

#[test]
fn nested_budgeted_scans_on_the_jit() {
    check(
        &nested_scan_graph(),
        &nested_inputs(),
        &[("snapshots=1", 1), ("snapshots=2", 2)],
        "inner_step",
        |s| 2 * forward_steps(3, s),
    );
    check(
        &while_in_scan_graph(),
        &while_in_scan_inputs(),
        &[("snapshots=2", 2)],
        "outer_step",
        |s| forward_steps(3, s),
    );
}

#[test]
fn budgeted_while_on_the_jit() {
    let inputs = [
        Tensor::scalar_f64(1.0),
        Tensor::scalar_f64(2.0),
        Tensor::scalar_f64(0.5),
        Tensor::scalar_f64(10.0),
    ];
    // Not hit (3 trips of 8), and hit (2 of 2).
    for (bound, trips) in [(8, 3), (2, 2)] {
        check(
            &growth_while(Some(bound)),
            &inputs,
            &[("snapshots=1", 1), ("snapshots=2", 2)],
            "grow_trip_step",
            |s| forward_steps(trips, s),
        );
    }
}
