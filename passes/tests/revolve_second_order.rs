//! Second order through budgeted loops: forward over reverse
//! (`grad{snapshots=S},jvp`) through the `revolve` that a budgeted gradient
//! emits, against the same derivative without a budget (bit for bit) and
//! against central differences of the gradient; and reverse over a
//! budgeted reverse (the revolve rewritten as its pair of scans).

mod loop_cases;

use adjoint_ir::{Graph, Op, Tensor};
use loop_cases::*;

fn revolves(g: &Graph) -> usize {
    g.node_ids()
        .into_iter()
        .filter(|&n| matches!(g[n].op, Op::Revolve { .. }))
        .count()
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// The HVP in direction `v` of parameter `pi` through the gradient under
/// `budget` equals the one without, bit for bit, and central differences
/// of the (unbudgeted) gradient.
fn budgeted_hvp_check(g: &Graph, inputs: &[Tensor], pi: usize, v: &[f64], budget: &str) {
    let x = g[g.params()[pi]].name.clone().unwrap();
    let vt = Tensor::from_f64_as(&inputs[pi].ty(), v).unwrap();
    let mut ins = inputs.to_vec();
    ins.push(vt);
    let budgeted = run(g, &format!("grad{{wrt={x},{budget}}},jvp{{wrt={x}}}"));
    assert!(
        revolves(&budgeted) >= 1,
        "{budget}: no revolve in\n{}",
        adjoint_ir::print_graph(&budgeted)
    );
    let plain = run(g, &format!("grad{{wrt={x}}},jvp{{wrt={x}}}"));
    let (b, p) = (eval(&budgeted, &ins), eval(&plain, &ins));
    assert_eq!(bits(&b), bits(&p), "{budget}: budgeted HVP differs");
    let gg = run(g, &format!("grad{{wrt={x}}}"));
    let base = inputs[pi].to_f64_vec();
    let at = |h: f64| {
        let mut ins = inputs.to_vec();
        let q: Vec<f64> = base.iter().zip(v).map(|(a, b)| a + h * b).collect();
        ins[pi] = Tensor::from_f64_as(&inputs[pi].ty(), &q).unwrap();
        eval(&gg, &ins)[1].to_f64_vec()
    };
    let h = 1e-5;
    let fd: Vec<f64> = at(h)
        .iter()
        .zip(at(-h))
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    close(
        &b[3].to_f64_vec(),
        &fd,
        1e-6,
        "budgeted HVP vs finite differences",
    );
}

#[test]
fn forward_over_budgeted_reverse_through_scans() {
    for rev in [false, true] {
        let g = affine_scan(rev, 5);
        let ins = [
            Tensor::scalar_f64(1.0),
            t64(&[5], &[2.0, 3.0, 4.0, -1.0, 0.5]),
            Tensor::scalar_f64(0.5),
        ];
        for budget in ["snapshots=1", "snapshots=2", "snapshots=5"] {
            budgeted_hvp_check(&g, &ins, 1, &[0.3, -1.0, 0.7, 0.1, 2.0], budget);
            budgeted_hvp_check(&g, &ins, 0, &[1.0], budget);
        }
    }
    // The RK4 Lorenz scan (θ and x0).
    for budget in ["snapshots=3", "memory=4KB"] {
        budgeted_hvp_check(&lorenz(20), &lorenz_inputs(), 1, &[0.5, -0.25, 1.0], budget);
        budgeted_hvp_check(&lorenz(20), &lorenz_inputs(), 0, &[1.0, 0.5, -2.0], budget);
    }
}

#[test]
fn forward_over_budgeted_reverse_through_nested_and_while_loops() {
    budgeted_hvp_check(
        &nested_scan_graph(),
        &nested_inputs(),
        0,
        &[1.0],
        "snapshots=2",
    );
    budgeted_hvp_check(
        &while_in_scan_graph(),
        &while_in_scan_inputs(),
        1,
        &[0.5, -1.0, 2.0],
        "snapshots=2",
    );
    // A bounded while whose bound is hit (8 trips) and not hit.
    for bound in [3, 8] {
        let g = growth_while(Some(bound));
        let ins = [
            Tensor::scalar_f64(1.0),
            Tensor::scalar_f64(2.0),
            Tensor::scalar_f64(0.5),
            Tensor::scalar_f64(10.0),
        ];
        budgeted_hvp_check(&g, &ins, 0, &[1.0], "snapshots=2");
        budgeted_hvp_check(&g, &ins, 2, &[1.0], "snapshots=1");
    }
}

/// Reverse over a budgeted reverse: the outer reverse sweep runs through
/// the `revolve` (rewritten as its pair of scans): the Hessian block
/// `grad{S},jacobian{of=1,mode=rev}` equals the one without a budget and
/// central differences of the gradient, with and without an outer budget.
fn budgeted_hessian_check(g: &Graph, inputs: &[Tensor], budget: &str) {
    let plain = run(g, "grad,jacobian{of=1,mode=rev}");
    let first = run(g, &format!("grad{{{budget}}}"));
    assert!(revolves(&first) >= 1, "{budget}: no revolve");
    for pipeline in [
        format!("grad{{{budget}}},jacobian{{of=1,mode=rev}}"),
        format!("grad{{{budget}}},jacobian{{of=1,mode=rev,{budget}}}"),
    ] {
        let h = run(g, &pipeline);
        let (a, b) = (eval(&h, inputs), eval(&plain, inputs));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            close(&x.to_f64_vec(), &y.to_f64_vec(), 1e-12, &pipeline);
        }
    }
    // Against central differences of the gradient (first parameter).
    let gg = run(g, "grad");
    let h = run(g, &format!("grad{{{budget}}},jacobian{{of=1,mode=rev}}"));
    let out = eval(&h, inputs);
    let np = g
        .params()
        .iter()
        .filter(|&&p| g.ty(p).dtype.is_float())
        .count();
    let jac = out[1 + np].to_f64_vec();
    let base = inputs[0].to_f64_vec();
    let n = base.len();
    for j in 0..n {
        let step = 1e-5 * base[j].abs().max(1.0);
        let at = |d: f64| {
            let mut v = base.clone();
            v[j] += d;
            let mut ins = inputs.to_vec();
            ins[0] = Tensor::from_f64_as(&inputs[0].ty(), &v).unwrap();
            eval(&gg, &ins)[1].to_f64_vec()
        };
        let (p, m) = (at(step), at(-step));
        for i in 0..p.len() {
            let fd = (p[i] - m[i]) / (2.0 * step);
            let got = jac[i * n + j];
            assert!(
                (got - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                "{budget}: [{i},{j}] {got} vs {fd}"
            );
        }
    }
}

#[test]
fn reverse_over_budgeted_reverse_through_every_loop_form() {
    let ins = [
        Tensor::scalar_f64(1.0),
        t64(&[4], &[2.0, 3.0, 4.0, -0.5]),
        Tensor::scalar_f64(0.5),
    ];
    for rev in [false, true] {
        budgeted_hessian_check(&affine_scan(rev, 4), &ins, "snapshots=2");
    }
    budgeted_hessian_check(&lorenz(12), &lorenz_inputs(), "snapshots=3");
    budgeted_hessian_check(&nested_scan_graph(), &nested_inputs(), "snapshots=2");
    for bound in [3, 8] {
        let ins = [
            Tensor::scalar_f64(1.0),
            Tensor::scalar_f64(2.0),
            Tensor::scalar_f64(0.5),
            Tensor::scalar_f64(10.0),
        ];
        budgeted_hessian_check(&growth_while(Some(bound)), &ins, "snapshots=2");
    }
}
