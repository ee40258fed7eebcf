//! Reverse mode (`grad`/`vjp`) through `scan`, `cond` and bounded `while`:
//! hand-derived values, central finite differences of the interpreter, the
//! residuals the forward body stacks, and the errors.

mod loop_cases;

use adjoint_ir::{BodyRef, DType, Graph, GraphBuilder, NodeId, Op, Tensor};
use adjoint_passes::{emit, PassManager};
use loop_cases::*;

/// The gradient of scalar output 0 w.r.t. every parameter in `wrt`, from
/// the `grad` pass and the interpreter. Also checks that the primal output
/// is bit-identical.
fn grads(g: &Graph, inputs: &[Tensor], wrt: &[&str]) -> Vec<Vec<f64>> {
    let h = run(g, &format!("grad{{wrt={}}}", wrt.join(",")));
    // Rule 17: the transformed function gets no new parameters and one
    // `<p>_grad` output per `wrt` parameter; the bodies' cotangent
    // parameters stay inside the generated functions.
    assert_eq!(h.param_names(), g.param_names());
    assert_eq!(h.outputs().len(), g.outputs().len() + wrt.len());
    for (i, w) in wrt.iter().enumerate() {
        let o = h.outputs()[g.outputs().len() + i];
        assert_eq!(h[o].name.as_deref(), Some(format!("{w}_grad").as_str()));
    }
    let before = eval(g, inputs);
    let out = eval(&h, inputs);
    assert_eq!(
        before[0]
            .to_f64_vec()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        out[0]
            .to_f64_vec()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        "the primal result changed"
    );
    out[g.outputs().len()..]
        .iter()
        .map(|t| t.to_f64_vec())
        .collect()
}

/// Checks the `grad` pass against finite differences for every float
/// parameter.
fn gradcheck_all(g: &Graph, inputs: &[Tensor], tol: f64) -> Vec<Vec<f64>> {
    let names: Vec<String> = g
        .params()
        .iter()
        .filter(|&&p| g.ty(p).dtype.is_float())
        .map(|&p| g[p].name.clone().unwrap())
        .collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let got = grads(g, inputs, &refs);
    // The batched pull of the Jacobian pass (one row here) agrees.
    let jac = run(g, &format!("jacobian{{mode=rev,wrt={}}}", refs.join(",")));
    let out = eval(&jac, inputs);
    for (k, want) in got.iter().enumerate() {
        close(&out[1 + k].to_f64_vec(), want, 1e-12, "jacobian{mode=rev}");
    }
    let mut k = 0;
    for (i, &p) in g.params().iter().enumerate() {
        if !g.ty(p).dtype.is_float() {
            continue;
        }
        close(&got[k], &fd(g, inputs, i), tol, &names[k]);
        k += 1;
    }
    got
}

/// The inputs of [`affine_scan`]: `c0 = 1`, `xs = [2, 3, 4]`, `a = 0.5`.
fn affine_inputs() -> [Tensor; 3] {
    [
        Tensor::scalar_f64(1.0),
        t64(&[3], &[2.0, 3.0, 4.0]),
        Tensor::scalar_f64(0.5),
    ]
}

#[test]
fn scan_with_xs_and_an_invariant_matches_hand_derived_values() {
    let g = affine_scan(false, 3);
    let inputs = affine_inputs();
    assert_eq!(eval(&g, &inputs)[0].to_f64_vec(), vec![44.0]);
    // c1 = 2.5, c2 = 8, c3 = 32.5; ys = [1, 2.5, 8].
    let got = gradcheck_all(&g, &inputs, 1e-6);
    assert_eq!(got[0], vec![33.0]);
    assert_eq!(got[1], vec![16.0, 12.5, 8.0]);
    // The invariant's gradient, accumulated in the backward carry.
    assert_eq!(got[2], vec![22.0]);
}

#[test]
fn reverse_scan_gradients_match_finite_differences() {
    let g = affine_scan(true, 3);
    let inputs = affine_inputs();
    // Steps on x[2], x[1], x[0]: c = 4.5, 14, 28.5; ys = [14, 4.5, 1].
    assert_eq!(eval(&g, &inputs)[0].to_f64_vec(), vec![48.0]);
    let got = gradcheck_all(&g, &inputs, 1e-6);
    // d c_N / d c0 = 4*3*2 = 24, plus ys: 1 + 4 + 12.
    assert_eq!(got[0], vec![41.0]);
}

/// A scan of length 1 and a longer one with a nonlinear body.
#[test]
fn scans_of_length_one_and_nonlinear_bodies() {
    for n in [1, 4] {
        let s = f64t(&[2]);
        let step = body(
            "cell",
            &[("h", s.clone()), ("x", s.clone()), ("w", s.clone())],
            |_, p| {
                let h = (p[0] * p[2] + p[1]).tanh();
                vec![h, (h * p[1]).sin()]
            },
        );
        let mut g = Graph::new("f");
        let h0 = g.add_param("h0", s.clone()).unwrap();
        let xs = g.add_param("xs", f64t(&[n, 2])).unwrap();
        let w = g.add_param("w", s).unwrap();
        let r = g
            .add_multi(scan(&step, 1, 1, n, false), &[h0, xs, w])
            .unwrap();
        let a = total(&mut g, r[0]);
        let b = total(&mut g, r[1]);
        let l = emit::mul(&mut g, a, b).unwrap();
        g.set_outputs(vec![l]);
        let xv: Vec<f64> = (0..2 * n).map(|i| 0.3 * (i as f64 + 1.0).sin()).collect();
        let inputs = [
            t64(&[2], &[0.2, -0.4]),
            t64(&[n, 2], &xv),
            t64(&[2], &[0.9, 1.3]),
        ];
        gradcheck_all(&g, &inputs, 1e-6);
    }
}

#[test]
fn a_pure_map_carry_zero() {
    let s = f64t(&[]);
    let f = body("f", &[("x", s.clone()), ("k", s.clone())], |_, p| {
        vec![p[0] * p[1]]
    });
    let mut g = Graph::new("map");
    let xs = g.add_param("xs", f64t(&[3])).unwrap();
    let k = g.add_param("k", s).unwrap();
    let r = g.add_multi(scan(&f, 0, 1, 3, false), &[xs, k]).unwrap();
    let l = total(&mut g, r[0]);
    g.set_outputs(vec![l]);
    let inputs = [t64(&[3], &[1.0, 2.0, 4.0]), Tensor::scalar_f64(3.0)];
    let got = gradcheck_all(&g, &inputs, 1e-6);
    assert_eq!(got[0], vec![3.0, 3.0, 3.0]);
    assert_eq!(got[1], vec![7.0]);
}

/// Rule 9: inits pass through, xs get empty tensors, invariants zeros.
#[test]
fn zero_length_scan_gradients() {
    let s = f64t(&[2]);
    let step = body(
        "step",
        &[("c", s.clone()), ("x", s.clone()), ("k", s.clone())],
        |_, p| vec![p[0] * p[1] * p[2]],
    );
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s.clone()).unwrap();
    let xs = g.add_param("xs", f64t(&[0, 2])).unwrap();
    let k = g.add_param("k", s).unwrap();
    let r = g
        .add_multi(scan(&step, 1, 1, 0, false), &[c0, xs, k])
        .unwrap();
    let sq = emit::mul(&mut g, r[0], r[0]).unwrap();
    let l = total(&mut g, sq);
    g.set_outputs(vec![l]);
    let h = run(&g, "grad");
    let inputs = [
        t64(&[2], &[1.5, -2.0]),
        t64(&[0, 2], &[]),
        t64(&[2], &[3.0, 4.0]),
    ];
    let out = eval(&h, &inputs);
    assert_eq!(out[1].to_f64_vec(), vec![3.0, -4.0]);
    assert_eq!(out[2].shape().dims(), &[0, 2]);
    assert_eq!(out[3].to_f64_vec(), vec![0.0, 0.0]);
}

/// The forward body of `grad` through `(c, x) -> c * sin(x)`.
fn forward_body_of(g: &Graph, wrt: &str) -> Graph {
    let h = run(g, &format!("grad{{wrt={wrt}}}"));
    let fwd: Vec<Graph> = h
        .node_ids()
        .into_iter()
        .filter_map(|n| match &h[n].op {
            Op::Scan { body, .. } if body.name().ends_with("_fwd") => Some(body.graph().clone()),
            _ => None,
        })
        .collect();
    assert_eq!(fwd.len(), 1, "one forward scan");
    fwd[0].clone()
}

/// Only what the backward body needs is stacked: the scanned slice `x` and
/// values of the invariants alone are never stored.
#[test]
fn the_forward_body_stacks_only_the_needed_residuals() {
    let s = f64t(&[]);
    let step = body(
        "step",
        &[("c", s.clone()), ("x", s.clone()), ("k", s.clone())],
        |_, p| vec![p[0] * p[1].sin() * p[2].exp()],
    );
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s.clone()).unwrap();
    let xs = g.add_param("xs", f64t(&[4])).unwrap();
    let k = g.add_param("k", s).unwrap();
    let r = g
        .add_multi(scan(&step, 1, 1, 4, false), &[c0, xs, k])
        .unwrap();
    g.set_outputs(vec![r[0]]);
    let residuals = |f: &Graph| -> Vec<NodeId> { f.outputs()[1..].to_vec() };
    // d/dc0 needs the per-step factor sin(x)*exp(k) (one stack).
    let f = forward_body_of(&g, "c0");
    let res = residuals(&f);
    assert_eq!(res.len(), 1, "{}", adjoint_ir::print_graph(&f));
    let x = f.params()[1];
    assert!(!res.contains(&x), "x[t] is read from xs, never stacked");
    for &v in &res {
        // Not a value of the invariant alone (exp(k) is recomputed).
        assert!(!f
            .ancestors(&[v])
            .iter()
            .all(|&a| a != f.params()[0] && a != x));
    }
    // d/dxs also needs c and cos(x): still no stack of x itself.
    let f = forward_body_of(&g, "xs");
    assert!(!residuals(&f).contains(&f.params()[1]));
    let inputs = [
        Tensor::scalar_f64(1.1),
        t64(&[4], &[0.1, 0.7, -0.3, 1.2]),
        Tensor::scalar_f64(0.2),
    ];
    gradcheck_all(&g, &inputs, 1e-6);
}

#[test]
fn nested_scans() {
    gradcheck_all(&nested_scan_graph(), &nested_inputs(), 1e-6);
}

#[test]
fn bounded_while_with_the_bound_hit_and_not_hit() {
    let inputs = |lim: f64| {
        [
            Tensor::scalar_f64(1.0),
            Tensor::scalar_f64(2.0),
            Tensor::scalar_f64(0.5),
            Tensor::scalar_f64(lim),
        ]
    };
    // Not hit: c = 1, 2.5, 5.5, 11.5 stops at 11.5 >= 10 after 3 trips.
    let g = growth_while(Some(8));
    let got = gradcheck_all(&g, &inputs(10.0), 1e-6);
    // c3 = ((c0 w + x) w + x) w + x: d/dc0 = w^3 = 8; d/dx = w^2 + w + 1 = 7;
    // d/dw = 3 c0 w^2 + 2 x w + x = 12 + 2 + 0.5; the limit only steers.
    assert_eq!(got, vec![vec![8.0], vec![14.5], vec![7.0], vec![0.0]]);
    // Hit: 2 trips only (c = 5.5).
    let g = growth_while(Some(2));
    assert_eq!(eval(&g, &inputs(10.0))[0].to_f64_vec(), vec![5.5]);
    let got = gradcheck_all(&g, &inputs(10.0), 1e-6);
    // c2 = (c0 w + x) w + x: d/dc0 = w^2, d/dw = 2 c0 w + x, d/dx = w + 1.
    assert_eq!(got, vec![vec![4.0], vec![4.5], vec![3.0], vec![0.0]]);
    // max_trips=0 (rule 7): the result is the init.
    let g = growth_while(Some(0));
    let got = gradcheck_all(&g, &inputs(10.0), 1e-6);
    assert_eq!(got, vec![vec![1.0], vec![0.0], vec![0.0], vec![0.0]]);
}

/// The rewrite of a bounded while as a scan: an inactive trip runs only the
/// two `cond`s of the trip body (the predicate and the body are branches).
#[test]
fn the_bounded_while_runs_as_a_scan_of_conds() {
    let g = growth_while(Some(8));
    let h = run(&g, "grad{wrt=c0}");
    let trip = h
        .node_ids()
        .into_iter()
        .find_map(|n| match &h[n].op {
            Op::Scan { body, length, .. } if !body.name().ends_with("_bwd") => {
                assert_eq!(*length, 8);
                Some(body.clone())
            }
            _ => None,
        })
        .expect("the while became a scan");
    for n in trip.node_ids() {
        assert!(
            matches!(
                trip[n].op,
                Op::Param { .. } | Op::Cond { .. } | Op::Project { .. }
            ),
            "{}",
            adjoint_ir::print_graph(trip.graph())
        );
    }
}

#[test]
fn an_unbounded_while_is_an_error_only_when_a_tangent_flows() {
    let g = growth_while(None);
    let mut h = g.clone();
    let e = PassManager::parse("grad{wrt=w}")
        .unwrap()
        .run(&mut h)
        .unwrap_err();
    for want in ["while %cN", "@grow", "@f", "max_trips", "scan"] {
        assert!(e.message.contains(want), "{want}: {e}");
    }
    // The limit only steers: its derivative is an explicit zero, and no
    // error is raised.
    let inputs = [
        Tensor::scalar_f64(1.0),
        Tensor::scalar_f64(2.0),
        Tensor::scalar_f64(0.5),
        Tensor::scalar_f64(10.0),
    ];
    assert_eq!(grads(&g, &inputs, &["lim"]), vec![vec![0.0]]);

    // Inside a cond branch, the error names the user's functions.
    let s = f64t(&[]);
    let params = [("c", s.clone()), ("x", s.clone())];
    let p = body("small", &params, |_, p| vec![p[0].lt(p[1])]);
    let f = body("twice", &params, |_, p| vec![p[0] * p[0].lit(2.0)]);
    let b = GraphBuilder::new("branch");
    let c = b.param("c", s.clone());
    let x = b.param("x", s.clone());
    let mut bg = b.graph();
    let op = Op::While {
        cond: p,
        body: f,
        carry: 1,
        max_trips: None,
    };
    let r = bg.add_multi(op, &[c.id(), x.id()]).unwrap();
    bg[r[0]].name = Some("grown".into());
    bg.set_outputs(r);
    let br = BodyRef::new(bg);
    let other = body("other", &params, |_, p| vec![p[0] + p[1]]);
    let mut g = Graph::new("top");
    let pr = g.add_param("p", bool_scalar()).unwrap();
    let c0 = g.add_param("c0", s.clone()).unwrap();
    let x = g.add_param("x", s).unwrap();
    let r = g
        .add_multi(
            Op::Cond {
                then: br,
                els: other,
            },
            &[pr, c0, x],
        )
        .unwrap();
    g.set_outputs(r);
    let e = PassManager::parse("grad{wrt=c0}")
        .unwrap()
        .run(&mut g)
        .unwrap_err();
    for want in [
        "while %grown",
        "@twice",
        "@small",
        "in @branch",
        "max_trips",
    ] {
        assert!(e.message.contains(want), "{want}: {e}");
    }
}

#[test]
fn a_while_inside_a_scan() {
    gradcheck_all(&while_in_scan_graph(), &while_in_scan_inputs(), 1e-6);
}

#[test]
fn cond_takes_the_taken_branchs_derivative() {
    let g = cond_graph();
    let ins = cond_inputs;
    // then: l = x^1.5 y: d/dx = 1.5 sqrt(x) y, d/dy = x sqrt(x).
    let got = gradcheck_all(&g, &ins(true, 4.0), 1e-6);
    assert_eq!(got, vec![vec![1.5 * 2.0 * 1.5], vec![8.0]]);
    // else: l = (sin x + y) y^2; at x = -1, sqrt'(x) is NaN in the other branch.
    let got = gradcheck_all(&g, &ins(false, -1.0), 1e-6);
    assert_eq!(got[0], vec![(-1.0f64).cos() * 2.25]);
    assert!(got.iter().flatten().all(|v| v.is_finite()));
}

/// A `cond` inside a scan body, with f32 and f64 carries.
#[test]
fn f32_and_f64_carries_through_a_scan_with_a_cond() {
    let params = [("a", f32t(&[2])), ("b", f64t(&[])), ("x", f64t(&[]))];
    let up = body("up", &params, |_, p| {
        vec![
            p[0] * p[0].lit(1.25),
            p[1] * p[2] + p[0].sum().cast(DType::F64),
        ]
    });
    let down = body("down", &params, |_, p| vec![p[0].sin(), p[1] - p[2] * p[2]]);
    let b = GraphBuilder::new("step");
    let a = b.param("a", f32t(&[2]));
    let bb = b.param("b", f64t(&[]));
    let x = b.param("x", f64t(&[]));
    let pr = x.gt(x.lit(0.0));
    let mut sg = b.graph();
    let r = sg
        .add_multi(
            Op::Cond {
                then: up,
                els: down,
            },
            &[pr.id(), a.id(), bb.id(), x.id()],
        )
        .unwrap();
    sg.set_outputs(r);
    let step = BodyRef::new(sg);
    let mut g = Graph::new("f");
    let a0 = g.add_param("a0", f32t(&[2])).unwrap();
    let b0 = g.add_param("b0", f64t(&[])).unwrap();
    let xs = g.add_param("xs", f64t(&[4])).unwrap();
    let r = g
        .add_multi(scan(&step, 2, 1, 4, false), &[a0, b0, xs])
        .unwrap();
    let s = total(&mut g, r[0]);
    let s = emit::cast(&mut g, s, DType::F64).unwrap();
    let l = add(&mut g, s, r[1]);
    g.set_outputs(vec![l]);
    let inputs = [
        Tensor::from_f32(vec![2], vec![0.5, -0.25]).unwrap(),
        Tensor::scalar_f64(0.3),
        t64(&[4], &[0.5, -0.2, 0.8, -1.0]),
    ];
    // f64 parts to 1e-6; the f32 carry only to f32 accuracy.
    let got = grads(&g, &inputs, &["a0", "b0", "xs"]);
    close(&got[1], &fd(&g, &inputs, 1), 1e-6, "b0");
    close(&got[2], &fd(&g, &inputs, 2), 1e-6, "xs");
    close(&got[0], &fd(&g, &inputs, 0), 1e-2, "a0");
}

/// Rule 11: a bool result's cotangent parameter is accepted and ignored.
#[test]
fn a_bool_cotangent_is_ignored() {
    let s = f64t(&[]);
    let step = body("step", &[("c", s.clone()), ("x", s.clone())], |_, p| {
        vec![p[0] * p[1], p[0].gt(p[1])]
    });
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s).unwrap();
    let xs = g.add_param("xs", f64t(&[3])).unwrap();
    let r = g.add_multi(scan(&step, 1, 1, 3, false), &[c0, xs]).unwrap();
    g.set_outputs(vec![r[0], r[1]]);
    let h = run(&g, "vjp{wrt=c0}");
    // Rule 17: only one `cot<i>` per output is added.
    assert_eq!(h.param_names(), ["c0", "xs", "cot0", "cot1"]);
    let inputs = [
        Tensor::scalar_f64(2.0),
        t64(&[3], &[1.0, 2.0, 3.0]),
        Tensor::scalar_f64(1.0),
        Tensor::from_bool([3], vec![true, false, true]).unwrap(),
    ];
    let out = eval(&h, &inputs);
    assert_eq!(out[2].to_f64_vec(), vec![6.0]);
}

#[test]
fn lorenz_rk4_gradient_matches_finite_differences() {
    let g = lorenz(50);
    gradcheck_all(&g, &lorenz_inputs(), 1e-5);
}

/// The W8 reference values at T = 1000.
#[test]
fn lorenz_rk4_w8_values_at_t1000() {
    let g = lorenz(1000);
    let h = run(&g, "grad{wrt=theta,x0}");
    let out = eval(&h, &lorenz_inputs());
    close(&out[0].to_f64_vec(), &[1019.94373821745], 1e-12, "loss");
    close(
        &out[1].to_f64_vec(),
        &[-2.7039, 15.1507, 331.9405],
        1e-4,
        "grad theta",
    );
    close(
        &out[2].to_f64_vec(),
        &[-21.0357, -18.2361, 39.6906],
        1e-4,
        "grad x0",
    );
}

/// Batched cotangents (the Jacobian pass's reverse mode pulls every row at
/// once): the `ys` cotangents and the `xs` cotangents carry the batch axes
/// in front of the scan axis.
#[test]
fn jacobian_rev_through_a_scan_with_xs_and_ys() {
    let s = f64t(&[2]);
    let step = body(
        "cell",
        &[("h", s.clone()), ("x", s.clone()), ("w", s.clone())],
        |_, p| {
            let h = (p[0] * p[2] + p[1]).tanh();
            vec![h, h * p[1]]
        },
    );
    let mut g = Graph::new("f");
    let h0 = g.add_param("h0", s.clone()).unwrap();
    let xs = g.add_param("xs", f64t(&[3, 2])).unwrap();
    let w = g.add_param("w", s).unwrap();
    let r = g
        .add_multi(scan(&step, 1, 1, 3, true), &[h0, xs, w])
        .unwrap();
    let l = emit::mul(&mut g, r[1], r[1]).unwrap();
    g.set_outputs(vec![l]);
    let h = run(&g, "jacobian{mode=rev}");
    let inputs = [
        t64(&[2], &[0.2, -0.4]),
        t64(&[3, 2], &[0.1, 0.5, -0.2, 0.9, 0.3, -0.6]),
        t64(&[2], &[0.9, 1.3]),
    ];
    let out = eval(&h, &inputs);
    let y0 = eval(&g, &inputs)[0].to_f64_vec();
    for p in 0..3 {
        let jac = out[1 + p].to_f64_vec();
        let base = inputs[p].to_f64_vec();
        let n = base.len();
        for j in 0..n {
            let at = |d: f64| {
                let mut v = base.clone();
                v[j] += d;
                let mut ins = inputs.to_vec();
                ins[p] = Tensor::from_f64_as(&inputs[p].ty(), &v).unwrap();
                eval(&g, &ins)[0].to_f64_vec()
            };
            let (a, b) = (at(1e-6), at(-1e-6));
            for i in 0..y0.len() {
                let fd = (a[i] - b[i]) / 2e-6;
                assert!(
                    (jac[i * n + j] - fd).abs() < 1e-6,
                    "param {p} [{i},{j}]: {} vs {fd}",
                    jac[i * n + j]
                );
            }
        }
    }
}

/// The carry count of the backward scan in `h` (the scan whose body is a
/// `_bwd`).
fn backward_carries(h: &Graph) -> usize {
    h.node_ids()
        .into_iter()
        .find_map(|n| match &h[n].op {
            Op::Scan { body, carry, .. } if body.name().ends_with("_bwd") => Some(*carry),
            _ => None,
        })
        .expect("a backward scan")
}

/// Symbolic zeros across iterations: a carry whose cotangent stays zero
/// (nothing downstream reads it) and a carry without a tangent (a counter
/// from a constant) are not carried by the backward scan.
#[test]
fn carries_with_zero_cotangent_or_no_tangent_are_not_carried() {
    let s = f64t(&[]);
    let step = body(
        "step",
        &[
            ("a", s.clone()),
            ("b", s.clone()),
            ("n", s.clone()),
            ("x", s.clone()),
        ],
        |_, p| {
            vec![
                p[0] * p[3] + p[2],
                p[1] * p[1].lit(2.0),
                p[2] + p[2].lit(1.0),
            ]
        },
    );
    let mut g = Graph::new("f");
    let a0 = g.add_param("a0", s.clone()).unwrap();
    let b0 = g.add_param("b0", s.clone()).unwrap();
    let xs = g.add_param("xs", f64t(&[3])).unwrap();
    let n0 = emit::scalar(&mut g, DType::F64, 0.0);
    let r = g
        .add_multi(scan(&step, 3, 1, 3, false), &[a0, b0, n0, xs])
        .unwrap();
    g.set_outputs(vec![r[0]]);
    let h = run(&g, "grad");
    // Only a's cotangent: b's stays zero, the counter n has no tangent.
    assert_eq!(backward_carries(&h), 1);
    let inputs = [
        Tensor::scalar_f64(1.5),
        Tensor::scalar_f64(0.7),
        t64(&[3], &[2.0, -1.0, 0.5]),
    ];
    // a3 = ((a0 x0 + 0) x1 + 1) x2 + 2: d/da0 = x0 x1 x2 = -1.
    let got = gradcheck_all(&g, &inputs, 1e-6);
    assert_eq!(got[0], vec![-1.0]);
    assert_eq!(got[1], vec![0.0]);
}

/// Rule 5: `jacobian{mode=auto}` uses forward mode for a program with an
/// unbounded while (reverse mode would be the error above).
#[test]
fn jacobian_auto_goes_forward_through_an_unbounded_while() {
    let g = growth_while(None);
    let mut h = g.clone();
    let report = PassManager::parse("jacobian").unwrap().run(&mut h).unwrap();
    let notes = format!("{report:?}");
    assert!(
        notes.contains("forward only") && notes.contains("unbounded while"),
        "{notes}"
    );
    let inputs = [
        Tensor::scalar_f64(1.0),
        Tensor::scalar_f64(2.0),
        Tensor::scalar_f64(0.5),
        Tensor::scalar_f64(10.0),
    ];
    let out = eval(&h, &inputs);
    let got: Vec<f64> = out[1..].iter().flat_map(|t| t.to_f64_vec()).collect();
    assert_eq!(got, vec![8.0, 14.5, 7.0, 0.0]);
}

/// A custom sigmoid on `f64[2]`, with or without its own rules.
fn custom_sigmoid(with_rules: bool) -> std::sync::Arc<adjoint_ir::CustomOp> {
    let b = GraphBuilder::new("sig_body");
    let x = b.param("x", f64t(&[2]));
    let body = b.build(&[1.0 / (1.0 + (-x).exp())]).unwrap();
    let rule = |name: &str, vjp: bool| {
        let b = GraphBuilder::new(name);
        let _x = b.param("x", f64t(&[2]));
        let y = b.param("y", f64t(&[2]));
        let c = b.param(if vjp { "c" } else { "t" }, f64t(&[2]));
        b.build(&[c * (y * (1.0 - y))]).unwrap()
    };
    let (v, j) = if with_rules {
        (Some(rule("sig_vjp", true)), Some(rule("sig_jvp", false)))
    } else {
        (None, None)
    };
    let name = if with_rules { "sig" } else { "sig_plain" };
    adjoint_ir::CustomOp::new(name, body, v, j).unwrap()
}

/// Calls of custom ops in a scan body and a cond branch: the vjp rule is
/// used where there is one, the call is inlined where there is none, and
/// under a batch (the Jacobian pass) every call is inlined.
#[test]
fn custom_calls_inside_loop_bodies() {
    for with_rules in [true, false] {
        let op = custom_sigmoid(with_rules);
        let s = f64t(&[2]);
        let br = |name: &str, scale: f64| {
            let op = op.clone();
            body(name, &[("a", s.clone()), ("b", s.clone())], move |b, p| {
                vec![b.call(&op, &[p[0] * p[1]]) * p[0].lit(scale)]
            })
        };
        let (t, e) = (br("t", 2.0), br("e", -1.0));
        let bb = GraphBuilder::new("step");
        let c = bb.param("c", s.clone());
        let x = bb.param("x", s.clone());
        let pred = x.sum().gt(x.sum().lit(0.0));
        let y = bb.call(&op, &[c]);
        let mut sg = bb.graph();
        let r = sg
            .add_multi(Op::Cond { then: t, els: e }, &[pred.id(), c.id(), x.id()])
            .unwrap();
        let nc = emit::add(&mut sg, r[0], c.id()).unwrap();
        sg.set_outputs(vec![nc, y.id()]);
        let step = BodyRef::new(sg);
        let mut g = Graph::new("f");
        let c0 = g.add_param("c0", s.clone()).unwrap();
        let xs = g.add_param("xs", f64t(&[3, 2])).unwrap();
        let r = g.add_multi(scan(&step, 1, 1, 3, false), &[c0, xs]).unwrap();
        let a = total(&mut g, r[0]);
        let b = total(&mut g, r[1]);
        let l = emit::mul(&mut g, a, b).unwrap();
        g.set_outputs(vec![l]);
        let inputs = [
            t64(&[2], &[0.3, -0.2]),
            t64(&[3, 2], &[0.5, 0.1, -0.7, -0.4, 0.2, 0.9]),
        ];
        gradcheck_all(&g, &inputs, 1e-6);
    }
}
