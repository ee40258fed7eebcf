//! The Jacobian-chain pass: auto, fwd and rev agree with each other to
//! 1e-12 (relative to the Jacobian's largest entry) and with central finite
//! differences, on chains and non-chains, for parameters of rank 0–2 and
//! outputs of rank 0–2; Hessians from `grad,jacobian{of=1}`; the auto mode's
//! choice on the hourglass chain; option errors.

use adjoint_interp::eval;
use adjoint_ir::{print_graph, verify, Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint_passes::bracketing::{Mode, Plan};
use adjoint_passes::jacobian::predict;
use adjoint_passes::PassManager;

/// `W[r][c] = sin(7r + 3c) / sqrt(n)`, deterministic and well scaled.
fn weight(m: usize, n: usize, seed: usize) -> Tensor {
    let data = (0..m * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            ((r * 7 + c * 3 + seed * 11) as f64).sin() / (n as f64).sqrt()
        })
        .collect();
    Tensor::from_f64([m, n], data).unwrap()
}

fn linspace(n: usize, lo: f64, hi: f64) -> Vec<f64> {
    if n == 1 {
        return vec![lo];
    }
    (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect()
}

/// `x -> tanh(W_k … tanh(W_1 x))` with `x: f64[widths[0]]`.
fn tanh_chain(widths: &[usize]) -> Graph {
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([widths[0]]));
    let mut h = x;
    for (i, w) in widths.windows(2).enumerate() {
        let wv = b.constant(weight(w[1], w[0], i));
        h = wv.matmul(h).tanh();
    }
    b.build(&[h]).unwrap()
}

fn run(g: &Graph, pipeline: &str) -> (Graph, Vec<String>) {
    let mut g = g.clone();
    let report = PassManager::parse(pipeline).unwrap().run(&mut g).unwrap();
    verify(&g).unwrap();
    let notes = report
        .passes
        .iter()
        .flat_map(|p| p.stats.notes.clone())
        .collect();
    (g, notes)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, x| a.max(x.abs()))
}

/// `max|a - b| <= tol · max(max|a|, 1e-300)`.
fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
    let scale = max_abs(&av).max(max_abs(&bv)).max(1e-300);
    let err = av
        .iter()
        .zip(&bv)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        err <= tol * scale,
        "{what}: max abs error {err:e} > {tol:e} × {scale:e}\n{av:?}\n{bv:?}"
    );
}

/// The Jacobian of output `of` of `g` with respect to parameter `p` by
/// central differences, shape `out.shape ++ param.shape`.
fn finite_jacobian(g: &Graph, inputs: &[Tensor], of: usize, p: usize) -> Tensor {
    let y0 = &eval(g, inputs).unwrap()[of];
    let x0 = inputs[p].to_f64_vec();
    let m = y0.len();
    let n = x0.len();
    let mut jac = vec![0.0; m * n];
    for j in 0..n {
        let h = 1e-6 * x0[j].abs().max(1.0);
        let at = |d: f64| {
            let mut xs = x0.clone();
            xs[j] += d;
            let mut ins = inputs.to_vec();
            ins[p] = Tensor::from_f64(inputs[p].shape().clone(), xs).unwrap();
            eval(g, &ins).unwrap()[of].to_f64_vec()
        };
        let (fp, fm) = (at(h), at(-h));
        for i in 0..m {
            jac[i * n + j] = (fp[i] - fm[i]) / (2.0 * h);
        }
    }
    let mut shape = y0.shape().dims().to_vec();
    shape.extend_from_slice(inputs[p].shape().dims());
    Tensor::from_f64(shape, jac).unwrap()
}

/// Runs `jacobian{mode=M}` (plus the given options) for M = auto, fwd, rev,
/// checks the contract (original outputs untouched, one Jacobian per wrt
/// parameter with the right type), that the three agree to 1e-12 and with
/// finite differences to `fd_tol`. Returns the auto mode's notes.
fn check_modes(g: &Graph, inputs: &[Tensor], of: usize, wrt: &[usize], fd_tol: f64) -> Vec<String> {
    let names: Vec<String> = wrt.iter().map(|&p| g.param_names()[p].clone()).collect();
    let base = eval(g, inputs).unwrap();
    let nout = g.outputs().len();
    let mut results = Vec::new();
    let mut auto_notes = Vec::new();
    for mode in ["auto", "fwd", "rev"] {
        let pipeline = format!("jacobian{{wrt={}, of={of}, mode={mode}}}", names.join(","));
        let (jg, notes) = run(g, &pipeline);
        assert_eq!(jg.params().len(), g.params().len(), "{mode}: params");
        assert_eq!(jg.outputs().len(), nout + wrt.len(), "{mode}: outputs");
        let out = eval(&jg, inputs).unwrap();
        for i in 0..nout {
            assert_eq!(out[i], base[i], "{mode}: original output {i} changed");
        }
        for (k, &p) in wrt.iter().enumerate() {
            let mut want = g.ty(g.outputs()[of]).shape.dims().to_vec();
            want.extend_from_slice(g.ty(g.params()[p]).shape.dims());
            let j = &out[nout + k];
            assert_eq!(j.shape().dims(), &want[..], "{mode}: Jacobian shape");
            assert_eq!(j.dtype(), g.ty(g.outputs()[of]).dtype, "{mode}: dtype");
        }
        if mode == "auto" {
            auto_notes = notes;
        }
        results.push(out[nout..].to_vec());
    }
    for (k, &p) in wrt.iter().enumerate() {
        let fd = finite_jacobian(g, inputs, of, p);
        assert_close(&results[1][k], &results[0][k], 1e-12, "fwd vs auto");
        assert_close(&results[2][k], &results[0][k], 1e-12, "rev vs auto");
        assert_close(&fd, &results[0][k], fd_tol, "finite differences vs auto");
    }
    auto_notes
}

fn vec_input(n: usize) -> Tensor {
    Tensor::from_f64([n], linspace(n, -1.0, 1.0)).unwrap()
}

#[test]
fn tanh_chains_agree_across_modes_and_with_finite_differences() {
    for widths in [
        &[6, 2, 6, 2, 6][..],
        &[2, 6, 6, 2, 6, 2],
        &[10, 5, 4, 3, 2],
        &[3, 3],
        &[1, 4, 1],
    ] {
        let g = tanh_chain(widths);
        let notes = check_modes(&g, &[vec_input(widths[0])], 0, &[0], 1e-7);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("jacobian auto d"), "{}", notes[0]);
        assert!(notes[0].contains("fwd ") && notes[0].contains("rev "));
    }
}

#[test]
fn chain_decomposition_of_a_tanh_chain_has_one_stage_per_op() {
    let g = tanh_chain(&[6, 2, 6, 2, 6]);
    let p = predict(&g, g.params()[0], g.outputs()[0]).unwrap();
    let chain = p.chain.unwrap();
    // matmul, tanh, matmul, tanh, ...: 8 stages, tanh stages diagonal.
    assert_eq!(chain.stages.len(), 8);
    for (i, s) in chain.stages.iter().enumerate() {
        assert_eq!(s.diagonal, i % 2 == 1, "stage {i}");
    }
    // |E| of the first matmul is 2·6, of the first tanh 2.
    assert_eq!(chain.stages[0].cost, 12);
    assert_eq!(chain.stages[1].cost, 2);
    let total: u128 = 12 + 2 + 12 + 6 + 12 + 2 + 12 + 6;
    assert_eq!(p.fwd, 6 * total);
    assert_eq!(p.rev, 6 * total);
    let s = p.solution.unwrap();
    assert!(s.optimal < p.fwd.min(p.rev), "{}", s.bracketing());
}

#[test]
fn hourglass_auto_is_strictly_cheaper_than_both_pure_modes() {
    let g = tanh_chain(&[80, 4, 80, 4, 80]);
    let p = predict(&g, g.params()[0], g.outputs()[0]).unwrap();
    let s = p.solution.clone().unwrap();
    assert!(
        s.optimal * 2 < p.fwd.min(p.rev),
        "{} cost {} vs fwd {} rev {}",
        s.bracketing(),
        s.optimal,
        p.fwd,
        p.rev
    );
    // Not a pure mode: the plan mixes modes (or multiplies dense pieces).
    let (_, modes) = s.plan.render();
    assert!(
        modes.iter().any(|m| *m != modes[0]) || modes.contains(&Mode::Dense),
        "{}",
        s.bracketing()
    );
    let notes = check_modes(&g, &[vec_input(80)], 0, &[0], 1e-7);
    let note = &notes[0];
    assert!(
        note.contains(&s.bracketing()) && note.contains("cost") && note.contains("fwd"),
        "{note}"
    );
    // The note reports the DP's cost and both pure costs in e-notation.
    assert!(
        note.contains(&format!("{:.1e}", s.optimal as f64)),
        "{note}"
    );
    assert!(
        note.contains(&format!("fwd {:.1e}", p.fwd as f64)),
        "{note}"
    );
    assert!(
        note.contains(&format!("rev {:.1e}", p.rev as f64)),
        "{note}"
    );
}

#[test]
fn notes_appear_in_dumps_as_comments() {
    let g = tanh_chain(&[6, 2, 6]);
    let mut h = g.clone();
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    struct W(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut pm = PassManager::parse("jacobian").unwrap();
    pm.print_after(adjoint_passes::PassFilter::All);
    pm.dump_to(Box::new(W(buf.clone())));
    pm.run(&mut h).unwrap();
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(text.contains("# jacobian auto d"), "{text}");
    assert!(text.contains("%x_jac"), "{text}");
}

/// A diamond: two paths from `u = W0 x` to their product, then a chain.
fn diamond() -> Graph {
    let b = GraphBuilder::new("diamond");
    let x = b.param("x", TensorType::f64([5]));
    let u = b.constant(weight(4, 5, 0)).matmul(x);
    let left = u.sin();
    let right = b.constant(weight(4, 4, 1)).matmul(u).cos();
    let v = left * right;
    let y = b.constant(weight(3, 4, 2)).matmul(v).tanh();
    b.build(&[y]).unwrap()
}

#[test]
fn diamond_agrees_and_its_cut_points_skip_the_two_paths() {
    let g = diamond();
    check_modes(&g, &[vec_input(5)], 0, &[0], 1e-7);
    let p = predict(&g, g.params()[0], g.outputs()[0]).unwrap();
    let c = p.chain.unwrap();
    // x -> u (matmul) -> v (the diamond) -> W2 v (matmul) -> y (tanh).
    assert_eq!(c.stages.len(), 4);
    let diamond_stage = &c.stages[1];
    assert!(!diamond_stage.diagonal, "the diamond has a dense branch");
    // sin(4) + matmul 4x4 + cos(4) + mul with two live operands (8).
    assert_eq!(diamond_stage.cost, 4 + 16 + 4 + 8);
}

#[test]
fn a_value_used_twice_has_no_inner_cut_point() {
    // y = W tanh(x) + x * sin(x): every path starts at x and meets at the add.
    let b = GraphBuilder::new("twice");
    let x = b.param("x", TensorType::f64([4]));
    let y = b.constant(weight(4, 4, 3)).matmul(x.tanh()) + x * x.sin();
    let g = b.build(&[y]).unwrap();
    let notes = check_modes(&g, &[vec_input(4)], 0, &[0], 1e-7);
    assert!(notes[0].contains("no cut point splits"), "{}", notes[0]);
    let p = predict(&g, g.params()[0], g.outputs()[0]).unwrap();
    assert_eq!(p.chain.unwrap().stages.len(), 1);
}

#[test]
fn elementwise_program_is_preaccumulated_from_one_direction() {
    let b = GraphBuilder::new("ew");
    let x = b.param("x", TensorType::f64([2, 3]));
    // x used twice, then elementwise: adjacent diagonal stages merge into
    // one stage whose Jacobian is preaccumulated from one direction.
    let y = (x.sin() * x.exp()).tanh() * x;
    let g = b.build(&[y]).unwrap();
    let notes = check_modes(
        &g,
        &[Tensor::from_f64([2, 3], linspace(6, -0.7, 0.9)).unwrap()],
        0,
        &[0],
        1e-7,
    );
    assert!(notes[0].contains("diagonal"), "{}", notes[0]);
}

#[test]
fn matrix_output_matrix_parameter() {
    // Y = tanh(A X) + X-independent bias: f64[4,2] of X: f64[3,2].
    let b = GraphBuilder::new("mat");
    let xm = b.param("X", TensorType::f64([3, 2]));
    let a = b.constant(weight(4, 3, 4));
    let y = (a.matmul(xm) + b.scalar(0.25, adjoint_ir::DType::F64)).tanh();
    let g = b.build(&[y]).unwrap();
    check_modes(
        &g,
        &[Tensor::from_f64([3, 2], linspace(6, -1.0, 1.2)).unwrap()],
        0,
        &[0],
        1e-7,
    );
}

#[test]
fn scalar_output_and_scalar_parameter() {
    let b = GraphBuilder::new("s");
    let x = b.param("x", TensorType::f64([3, 2]));
    let s = b.param("s", TensorType::f64([]));
    let v = b.param("v", TensorType::f64([2]));
    // scalar output of a matrix, a scalar and a vector parameter
    let y = ((x.matmul(v) * s).tanh()).sum() + s * s;
    // vector output of the scalar parameter
    let z = (v * s).sin();
    let g = b.build(&[y, z]).unwrap();
    let inputs = [
        Tensor::from_f64([3, 2], linspace(6, -1.0, 1.0)).unwrap(),
        Tensor::scalar_f64(0.7),
        Tensor::from_f64([2], vec![0.3, -0.8]).unwrap(),
    ];
    check_modes(&g, &inputs, 0, &[0, 1, 2], 1e-7);
    check_modes(&g, &inputs, 1, &[1, 2, 0], 1e-7);
}

#[test]
fn zero_jacobians_are_explicit_and_identity_is_exact() {
    let b = GraphBuilder::new("z");
    let x = b.param("x", TensorType::f64([3]));
    let w = b.param("w", TensorType::f64([2]));
    let mask = x.gt(x.lit(0.0)); // bool: no derivative through the mask
    let y = mask
        .select(x.lit(1.0) + x * 0.0 + 2.0, x.lit(0.0) * 1.0)
        .sum()
        + w.sum() * 0.0;
    let g2 = b.build(&[y, x]).unwrap();
    let inputs = [
        Tensor::from_f64([3], vec![-1.0, 0.5, 2.0]).unwrap(),
        Tensor::from_f64([2], vec![1.0, 2.0]).unwrap(),
    ];
    // Output 1 is the parameter x itself: the identity; w does not reach it.
    let (jg, notes) = run(&g2, "jacobian{of=1}");
    let out = eval(&jg, &inputs).unwrap();
    assert_eq!(
        out[2].to_f64_vec(),
        vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    );
    assert_eq!(out[3].shape().dims(), &[3, 2]);
    assert_eq!(out[3].to_f64_vec(), vec![0.0; 6]);
    assert!(notes[0].contains("identity"), "{notes:?}");
    assert!(notes[1].contains("identically zero"), "{notes:?}");
    let _ = print_graph(&jg);
}

#[test]
fn several_wrt_parameters_each_get_a_chain() {
    let b = GraphBuilder::new("two");
    let x = b.param("x", TensorType::f64([4]));
    let w = b.param("W", TensorType::f64([3, 4]));
    let y = b.constant(weight(2, 3, 5)).matmul(w.matmul(x).tanh()).sin();
    let g = b.build(&[y]).unwrap();
    let inputs = [vec_input(4), weight(3, 4, 6)];
    let notes = check_modes(&g, &inputs, 0, &[0, 1], 1e-7);
    assert_eq!(notes.len(), 2);
    assert!(
        notes[0].contains("d%") && notes[0].contains("/d%x"),
        "{notes:?}"
    );
    assert!(notes[1].contains("/d%W"), "{notes:?}");
    // Listing order is kept.
    let (jg, _) = run(&g, "jacobian{wrt=W,x}");
    assert_eq!(jg.ty(jg.outputs()[1]).shape.dims(), &[2, 3, 4]);
    assert_eq!(jg.ty(jg.outputs()[2]).shape.dims(), &[2, 4]);
}

fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let head = x.slice(&[0], &[n - 1]);
    let tail = x.slice(&[1], &[n]);
    let d = tail - head * head;
    let f = (d * d * 100.0 + (head.lit(1.0) - head) * (head.lit(1.0) - head)).sum();
    b.build(&[f]).unwrap()
}

/// The Hessian from `grad,jacobian{of=1}` in every mode: symmetric, equal
/// across modes, and equal to finite differences of the gradient.
fn check_hessian(g: &Graph, inputs: &[Tensor], p: usize) {
    let name = g.param_names()[p].clone();
    let (gg, _) = run(g, &format!("grad{{wrt={name}}}"));
    let n = inputs[p].len();
    let mut hs = Vec::new();
    for mode in ["auto", "fwd", "rev"] {
        let (hg, notes) = run(
            g,
            &format!("grad{{wrt={name}}},jacobian{{of=1,wrt={name},mode={mode}}}"),
        );
        assert_eq!(hg.outputs().len(), 3, "{notes:?}");
        let h = eval(&hg, inputs).unwrap()[2].clone();
        let hv = h.to_f64_vec();
        let scale = max_abs(&hv);
        for i in 0..n {
            for j in 0..n {
                assert!(
                    (hv[i * n + j] - hv[j * n + i]).abs() <= 1e-12 * scale,
                    "{mode}: H[{i},{j}] = {} vs H[{j},{i}] = {}",
                    hv[i * n + j],
                    hv[j * n + i]
                );
            }
        }
        hs.push(h);
    }
    assert_close(&hs[1], &hs[0], 1e-12, "hessian fwd vs auto");
    assert_close(&hs[2], &hs[0], 1e-12, "hessian rev vs auto");
    let fd = finite_jacobian(&gg, inputs, 1, p);
    assert_close(
        &fd,
        &hs[0],
        1e-6,
        "hessian vs finite differences of the gradient",
    );
}

#[test]
fn rosenbrock_hessian_is_symmetric_and_matches_finite_differences() {
    let g = rosenbrock(5);
    let x = Tensor::from_f64([5], linspace(5, -1.0, 1.0)).unwrap();
    check_hessian(&g, std::slice::from_ref(&x), 0);
    // Hand-derived: H[0][0] = 1200 x0² - 400 x1 + 2, H[0][1] = -400 x0.
    let (hg, _) = run(&g, "grad,jacobian{of=1}");
    let h = eval(&hg, std::slice::from_ref(&x)).unwrap()[2].to_f64_vec();
    let xv = x.to_f64_vec();
    let h00 = 1200.0 * xv[0] * xv[0] - 400.0 * xv[1] + 2.0;
    assert!((h[0] - h00).abs() <= 1e-9 * h00.abs(), "{} vs {h00}", h[0]);
    assert!((h[1] + 400.0 * xv[0]).abs() <= 1e-9 * 400.0);
    assert_eq!(h[2], 0.0);
}

#[test]
fn mlp_loss_hessian_is_symmetric_and_matches_finite_differences() {
    let b = GraphBuilder::new("mlp");
    let w1 = b.param("W1", TensorType::f64([3, 4]));
    let w2 = b.param("W2", TensorType::f64([2, 3]));
    let x = b.constant(Tensor::from_f64([4], vec![0.5, -1.0, 0.25, 2.0]).unwrap());
    let t = b.constant(Tensor::from_f64([2], vec![0.1, -0.3]).unwrap());
    let out = w2.matmul(w1.matmul(x).tanh());
    let loss: Value = ((out - t) * (out - t)).sum();
    let g = b.build(&[loss]).unwrap();
    let inputs = [weight(3, 4, 7), weight(2, 3, 8)];
    check_hessian(&g, &inputs, 0);
    check_hessian(&g, &inputs, 1);
}

#[test]
fn a_funnel_chain_reduces_to_one_adjoint_sweep() {
    // The second hand case in spirit ([1000 -> 50 -> 5 -> 1] scaled
    // down): the optimum is pure reverse mode, and auto emits exactly that.
    let g = tanh_chain(&[40, 10, 3, 1]);
    let p = predict(&g, g.params()[0], g.outputs()[0]).unwrap();
    let s = p.solution.clone().unwrap();
    assert_eq!(s.optimal, p.rev);
    assert!(p.rev < p.fwd);
    let (_, modes) = s.plan.render();
    assert!(
        modes.iter().all(|m| *m == Mode::Adjoint),
        "{}",
        s.bracketing()
    );
    assert!(matches!(s.plan, Plan::Adjoint { first: 0, .. }));
    let notes = check_modes(&g, &[vec_input(40)], 0, &[0], 1e-7);
    assert!(
        notes[0].contains("within 1% of pure rev: using rev"),
        "{}",
        notes[0]
    );
    // The emitted graph is then exactly the rev graph.
    let (auto, _) = run(&g, "jacobian");
    let (rev, _) = run(&g, "jacobian{mode=rev}");
    assert_eq!(print_graph(&auto), print_graph(&rev));
}

#[test]
fn option_errors_are_clear() {
    let g = tanh_chain(&[3, 2]);
    let e = PassManager::parse("jacobian{mode=sideways}").err().unwrap();
    assert!(
        e.message.contains("unknown mode `sideways`") && e.message.contains("auto, fwd, rev"),
        "{e}"
    );
    let e = PassManager::parse("jacobian{bogus=1}").err().unwrap();
    assert!(e.message.contains("valid options: wrt, of, mode"), "{e}");
    let mut h = g.clone();
    let e = PassManager::parse("jacobian{wrt=y}")
        .unwrap()
        .run(&mut h)
        .unwrap_err();
    assert!(
        e.message.contains("no parameter `y`") && e.message.contains("x"),
        "{e}"
    );
    let b = GraphBuilder::new("two");
    let x = b.param("x", TensorType::f64([2]));
    let g2 = b.build(&[x.sin(), x.cos()]).unwrap();
    let mut h = g2.clone();
    let e = PassManager::parse("jacobian")
        .unwrap()
        .run(&mut h)
        .unwrap_err();
    assert!(e.message.contains("of=K"), "{e}");
    let mut h = g2.clone();
    let e = PassManager::parse("jacobian{of=5}")
        .unwrap()
        .run(&mut h)
        .unwrap_err();
    assert!(e.message.contains("of=5"), "{e}");
}

#[test]
fn shape_ops_reductions_and_selects_in_every_mode() {
    // Every kind of op on the path, so the batched rules of each are used
    // by fwd (tangents), rev (cotangents) and auto (both, on stage ranges).
    let b = GraphBuilder::new("ops");
    let x = b.param("x", TensorType::f64([2, 3]));
    let t = x.transpose(&[1, 0]); // [3,2]
    let r = t.reshape([6]); // [6]
    let s = r.try_slice(&[1], &[6], &[2]).unwrap(); // [3]: 1,3,5
    let p = s.pad(&[1], &[2]); // [6]
    let c = b.concat(&[p, r.sin()], 0); // [12]
    let m = c.reshape([3, 4]);
    let red = m.sum_axes(&[1]); // [3]
    let mx = m.max_axes(&[0]); // [4]
    let o = red.reshape([3, 1]) * mx.reshape([1, 4]); // [3,4] by broadcasting
    let gated = o.gt(o.lit(0.1)).select(o.exp(), o * 0.5); // select on a mask
    let y = (gated.maximum(o.cos()) / (o * o + 1.0)).sqrt();
    let g = b.build(&[y]).unwrap();
    let inputs = [Tensor::from_f64([2, 3], vec![0.3, -0.7, 1.1, 0.45, -0.2, 0.9]).unwrap()];
    check_modes(&g, &inputs, 0, &[0], 1e-6);
    // A scalar output of the same program, and its Hessian.
    let b = GraphBuilder::new("ops_sum");
    let x = b.param("x", TensorType::f64([2, 3]));
    let z = (x.transpose(&[1, 0]).matmul(x).tanh() * x.sum_axes(&[0]).reshape([3, 1])).sum();
    let g = b.build(&[z]).unwrap();
    check_modes(&g, &inputs, 0, &[0], 1e-7);
    check_hessian(&g, &inputs, 0);
}

#[test]
fn mixed_dtypes_give_the_output_dtype() {
    use adjoint_ir::DType;
    // f32 parameter, f64 output: the Jacobian is f64.
    let b = GraphBuilder::new("mixed");
    let x = b.param("x", TensorType::f32([3]));
    let w = b.param("w", TensorType::f64([3]));
    let y = x.sin().cast(DType::F64) * w + w.cast(DType::F32).exp().cast(DType::F64);
    let z = (w * w).cast(DType::F32).tanh(); // f32 output of an f64 parameter
    let g = b.build(&[y, z]).unwrap();
    let xs = [0.2f32, -0.4, 1.3];
    let ws = [0.5, 1.5, -2.0];
    let inputs = [
        Tensor::from_f32([3], xs.to_vec()).unwrap(),
        Tensor::from_f64([3], ws.to_vec()).unwrap(),
    ];
    for mode in ["auto", "fwd", "rev"] {
        let (jg, _) = run(
            &g,
            &format!("jacobian{{of=0, mode={mode}}},jacobian{{of=1, wrt=w, mode={mode}}}"),
        );
        let out = eval(&jg, &inputs).unwrap();
        assert_eq!(out[2].dtype(), DType::F64, "{mode}");
        assert_eq!(out[3].dtype(), DType::F64, "{mode}");
        assert_eq!(out[4].dtype(), DType::F32, "{mode}");
        let (jx, jw, jz) = (
            out[2].to_f64_vec(),
            out[3].to_f64_vec(),
            out[4].to_f64_vec(),
        );
        for i in 0..3 {
            for j in 0..3 {
                let dx = if i == j {
                    (xs[i] as f64).cos() * ws[i]
                } else {
                    0.0
                };
                assert!((jx[i * 3 + j] - dx).abs() < 1e-6, "{mode} dy/dx[{i},{j}]");
                let dw = if i == j {
                    (xs[i] as f64).sin() + (ws[i] as f32).exp() as f64
                } else {
                    0.0
                };
                assert!((jw[i * 3 + j] - dw).abs() < 1e-5, "{mode} dy/dw[{i},{j}]");
                let t = (ws[i] * ws[i]).tanh();
                let dz = if i == j {
                    (1.0 - t * t) * 2.0 * ws[i]
                } else {
                    0.0
                };
                assert!((jz[i * 3 + j] - dz).abs() < 1e-5, "{mode} dz/dw[{i},{j}]");
            }
        }
    }
}

#[test]
fn long_chains_are_coarsened_at_their_widest_cut_points() {
    use adjoint_passes::jacobian::MAX_STAGES;
    // 80 layers alternating widths 3 and 5: 160 stages before coarsening.
    let widths: Vec<usize> = (0..81).map(|i| if i % 2 == 0 { 3 } else { 5 }).collect();
    let g = tanh_chain(&widths);
    let full = adjoint_passes::cut_points::decompose(&g, g.params()[0], g.outputs()[0])
        .unwrap()
        .unwrap();
    assert_eq!(full.stages.len(), 160);
    let p = predict(&g, g.params()[0], g.outputs()[0]).unwrap();
    let c = p.chain.unwrap();
    assert_eq!(c.stages.len(), MAX_STAGES);
    // Costs are preserved, and every narrow (width 3) cut point survives.
    assert_eq!(c.total_cost(), full.total_cost());
    let narrow = full
        .cut_points()
        .iter()
        .filter(|&&n| g.ty(n).numel() == 3)
        .count();
    let kept = c
        .cut_points()
        .iter()
        .filter(|&&n| g.ty(n).numel() == 3)
        .count();
    assert_eq!(kept, narrow);
    check_modes(&g, &[vec_input(3)], 0, &[0], 1e-6);
}

#[test]
fn custom_ops_are_inlined_and_their_hessian_uses_the_custom_vjp() {
    use adjoint_ir::CustomOp;
    // A custom softplus-like op on vectors: body log(1 + exp(x)), VJP
    // ct·sigmoid(x) (from primitives), no JVP.
    let b = GraphBuilder::new("softplus_body");
    let x = b.param("x", TensorType::f64([3]));
    let body = b.build(&[(x.exp() + 1.0).log()]).unwrap();
    let b = GraphBuilder::new("softplus_vjp");
    let x = b.param("x", TensorType::f64([3]));
    let _y = b.param("y", TensorType::f64([3]));
    let ct = b.param("ct", TensorType::f64([3]));
    let vjp = b.build(&[ct * x.sigmoid()]).unwrap();
    let op = CustomOp::new("softplus", body, Some(vjp), None).unwrap();
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([3]));
    let h = b.call(&op, &[b.constant(weight(3, 3, 9)).matmul(x)]);
    let y = b.constant(weight(2, 3, 10)).matmul(h);
    let g = b.build(&[y]).unwrap();
    let x0 = Tensor::from_f64([3], vec![0.2, -0.5, 1.5]).unwrap();
    check_modes(&g, std::slice::from_ref(&x0), 0, &[0], 1e-7);
    // Hessian of a scalar loss through the custom VJP.
    let b = GraphBuilder::new("loss");
    let x = b.param("x", TensorType::f64([3]));
    let h = b.call(&op, &[b.constant(weight(3, 3, 9)).matmul(x)]);
    let g = b.build(&[(h * h).sum()]).unwrap();
    check_hessian(&g, &[x0], 0);
}

#[test]
fn jacobian_of_a_jacobian_matches_finite_differences() {
    // d/dx of J(x) = d tanh(W x)/dx: a [3,4,4] tensor, differentiating the
    // batched derivative graph the first pass emitted.
    let b = GraphBuilder::new("jj");
    let x = b.param("x", TensorType::f64([4]));
    let y = b.constant(weight(3, 4, 12)).matmul(x).tanh();
    let g = b.build(&[y]).unwrap();
    for first in ["auto", "fwd", "rev"] {
        let (jg, _) = run(&g, &format!("jacobian{{mode={first}}}"));
        let notes = check_modes(&jg, &[vec_input(4)], 1, &[0], 1e-6);
        assert_eq!(notes.len(), 1, "{first}");
    }
}
