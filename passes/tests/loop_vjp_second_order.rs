//! Second order through loops: reverse over reverse
//! (`grad,jacobian{of=1,mode=rev}`) and forward over reverse against
//! reverse over forward (`grad,jvp` and `jvp,grad{of=1}`), each checked
//! against central differences of the gradient on the interpreter.

mod loop_cases;

use adjoint_ir::{Graph, Tensor};
use loop_cases::*;

/// Reverse over reverse: `grad,jacobian{of=1,mode=rev}` (the Jacobian of
/// the first gradient, a block of the Hessian) differentiates the backward
/// scans and conds again; checked against central differences of `grad`.
fn hessian_block_check(g: &Graph, inputs: &[Tensor], tol: f64) {
    let np = g
        .params()
        .iter()
        .filter(|&&p| g.ty(p).dtype.is_float())
        .count();
    let gg = run(g, "grad");
    let hh = run(g, "grad,jacobian{of=1,mode=rev}");
    let out = eval(&hh, inputs);
    let g1 = eval(&gg, inputs)[1].to_f64_vec();
    let mut q = 0;
    for (pi, &p) in g.params().iter().enumerate() {
        if !g.ty(p).dtype.is_float() {
            continue;
        }
        let jac = out[1 + np + q].to_f64_vec();
        q += 1;
        let base = inputs[pi].to_f64_vec();
        let n = base.len();
        for j in 0..n {
            let h = 1e-5 * base[j].abs().max(1.0);
            let at = |d: f64| {
                let mut v = base.clone();
                v[j] += d;
                let mut ins = inputs.to_vec();
                ins[pi] = Tensor::from_f64_as(&inputs[pi].ty(), &v).unwrap();
                eval(&gg, &ins)[1].to_f64_vec()
            };
            let (a, b) = (at(h), at(-h));
            for i in 0..g1.len() {
                let fd = (a[i] - b[i]) / (2.0 * h);
                let got = jac[i * n + j];
                assert!(
                    (got - fd).abs() <= tol * (1.0 + fd.abs()),
                    "d(grad 0)[{i}]/d(param {pi})[{j}]: {got} vs {fd}"
                );
            }
        }
    }
}

#[test]
fn second_order_reverse_over_reverse_through_every_loop_form() {
    // scan (reverse, xs, invariant)
    let g = affine_scan(true, 3);
    let ins = [
        Tensor::scalar_f64(1.0),
        t64(&[3], &[2.0, 3.0, 4.0]),
        Tensor::scalar_f64(0.5),
    ];
    hessian_block_check(&g, &ins, 1e-5);
    // scan with a nonlinear RK4 body
    hessian_block_check(&lorenz(20), &lorenz_inputs(), 1e-5);
    // bounded while
    let g = growth_while(Some(8));
    let ins = [
        Tensor::scalar_f64(1.0),
        Tensor::scalar_f64(2.0),
        Tensor::scalar_f64(0.5),
        Tensor::scalar_f64(10.0),
    ];
    hessian_block_check(&g, &ins, 1e-5);
    // nested
    hessian_block_check(&nested_scan_graph(), &nested_inputs(), 1e-5);
    hessian_block_check(&while_in_scan_graph(), &while_in_scan_inputs(), 1e-5);
    // cond, both branches
    hessian_block_check(&cond_graph(), &cond_inputs(true, 4.0), 1e-5);
    hessian_block_check(&cond_graph(), &cond_inputs(false, -1.0), 1e-5);
}

/// Forward over reverse equals reverse over forward (and central
/// differences of the gradient along `v`): `grad{wrt=x},jvp{wrt=x}` against
/// `jvp{wrt=x},grad{of=1,wrt=x}`, for parameter `x` = input `pi`.
fn hvp_check(g: &Graph, inputs: &[Tensor], pi: usize, v: &[f64]) {
    let x = g[g.params()[pi]].name.clone().unwrap();
    let vt = Tensor::from_f64_as(&inputs[pi].ty(), v).unwrap();
    let mut ins = inputs.to_vec();
    ins.push(vt);
    let fr = eval(&run(g, &format!("grad{{wrt={x}}},jvp{{wrt={x}}}")), &ins)[3].to_f64_vec();
    let rf = eval(
        &run(g, &format!("jvp{{wrt={x}}},grad{{of=1,wrt={x}}}")),
        &ins,
    )[2]
    .to_f64_vec();
    close(&fr, &rf, 1e-10, "grad,jvp vs jvp,grad");
    let gg = run(g, &format!("grad{{wrt={x}}}"));
    let base = inputs[pi].to_f64_vec();
    let at = |h: f64| {
        let mut ins = inputs.to_vec();
        let p: Vec<f64> = base.iter().zip(v).map(|(a, b)| a + h * b).collect();
        ins[pi] = Tensor::from_f64_as(&inputs[pi].ty(), &p).unwrap();
        eval(&gg, &ins)[1].to_f64_vec()
    };
    let h = 1e-5;
    let fd: Vec<f64> = at(h)
        .iter()
        .zip(at(-h))
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    close(&fr, &fd, 1e-6, "HVP vs finite differences");
}

#[test]
fn forward_over_reverse_equals_reverse_over_forward_through_every_loop_form() {
    // scan forward and reverse, with xs and an invariant
    for rev in [false, true] {
        let g = affine_scan(rev, 3);
        let ins = [
            Tensor::scalar_f64(1.0),
            t64(&[3], &[2.0, 3.0, 4.0]),
            Tensor::scalar_f64(0.5),
        ];
        hvp_check(&g, &ins, 1, &[0.3, -1.0, 0.7]);
        hvp_check(&g, &ins, 0, &[1.0]);
    }
    // RK4 scan (θ and x0)
    hvp_check(&lorenz(20), &lorenz_inputs(), 1, &[0.5, -0.25, 1.0]);
    hvp_check(&lorenz(20), &lorenz_inputs(), 0, &[1.0, 0.5, -0.5]);
    // bounded while, bound hit and not hit
    for trips in [2, 8] {
        let ins = [
            Tensor::scalar_f64(1.0),
            Tensor::scalar_f64(2.0),
            Tensor::scalar_f64(0.5),
            Tensor::scalar_f64(10.0),
        ];
        hvp_check(&growth_while(Some(trips)), &ins, 1, &[1.0]);
    }
    // nested: scan in scan, while in scan
    hvp_check(
        &nested_scan_graph(),
        &nested_inputs(),
        1,
        &[1.0, -0.5, 0.25, 0.5, 1.0, -1.0],
    );
    hvp_check(&nested_scan_graph(), &nested_inputs(), 0, &[1.0]);
    hvp_check(
        &while_in_scan_graph(),
        &while_in_scan_inputs(),
        1,
        &[0.5, 1.0, -0.5],
    );
    hvp_check(&while_in_scan_graph(), &while_in_scan_inputs(), 0, &[1.0]);
    // cond, both branches
    hvp_check(&cond_graph(), &cond_inputs(true, 4.0), 1, &[1.0]);
    hvp_check(&cond_graph(), &cond_inputs(false, -1.0), 1, &[1.0]);
}
