//! Higher-order derivatives by composing passes: HVPs both ways,
//! `jvp,jvp`, `vjp,jvp`, and a grad of a grad reduced to a scalar.
mod common;

use adjoint_ir::{BinaryOp, Graph, GraphBuilder, Op, Tensor, TensorType};
use adjoint_passes::emit;
use common::{eval, rosenbrock, run, Rng};

/// A smooth test function with mixed second derivatives:
/// `sum(sin(x) * x^2) + sum(x[:-1] * x[1:]) + log(1 + sum(x^2))`.
fn smooth(n: usize) -> Graph {
    let b = GraphBuilder::new("smooth");
    let x = b.param("x", TensorType::f64([n]));
    let t1 = (x.sin() * x * x).sum();
    let t2 = (x.slice(&[0], &[n - 1]) * x.slice(&[1], &[n])).sum();
    let t3 = (1.0 + (x * x).sum()).ln();
    b.build(&[t1 + t2 + t3]).unwrap()
}

fn vec_t(v: &[f64]) -> Tensor {
    Tensor::from_f64([v.len()], v.to_vec()).unwrap()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    let s = a.iter().chain(b).fold(0.0f64, |m, x| m.max(x.abs()));
    d / s
}

/// Central differences of the gradient along `v`.
fn fd_hvp(grad: &Graph, x: &[f64], v: &[f64]) -> Vec<f64> {
    let h = f64::EPSILON.cbrt();
    let xp: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let xm: Vec<f64> = x.iter().zip(v).map(|(a, b)| a - h * b).collect();
    let gp = eval(grad, &[vec_t(&xp)])[1].to_f64_vec();
    let gm = eval(grad, &[vec_t(&xm)])[1].to_f64_vec();
    gp.iter()
        .zip(&gm)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect()
}

fn point(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut r = Rng(seed);
    let x = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
    let v = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
    (x, v)
}

#[test]
fn hvp_forward_over_reverse_and_reverse_over_forward() {
    for (g, seed) in [(rosenbrock(7), 1), (smooth(6), 2)] {
        let n = g.ty(g.params()[0]).numel();
        let (x, v) = point(n, seed);
        let grad = run(&g, "grad");
        let fd = fd_hvp(&grad, &x, &v);
        // grad, then jvp: outputs [f, g, df, dg]; dg = H v.
        let fwd_rev = run(&g, "grad,jvp{wrt=x},simplify,cse,dce");
        assert_eq!(fwd_rev.param_names(), ["x", "x_dot"]);
        let a = eval(&fwd_rev, &[vec_t(&x), vec_t(&v)])[3].to_f64_vec();
        // jvp, then grad of the tangent output: outputs [f, df, d(df)/dx].
        let rev_fwd = run(&g, "jvp{wrt=x},grad{of=1,wrt=x},simplify,cse,dce");
        let b = eval(&rev_fwd, &[vec_t(&x), vec_t(&v)])[2].to_f64_vec();
        assert!(rel(&a, &fd) < 1e-6, "@{}: {a:?} vs fd {fd:?}", g.name());
        assert!(rel(&b, &fd) < 1e-6, "@{}: {b:?} vs fd {fd:?}", g.name());
        assert!(rel(&a, &b) < 1e-12, "@{}: {a:?} vs {b:?}", g.name());
        println!(
            "hvp @{}: fwd-over-rev vs fd {:.2e}, rev-over-fwd vs fd {:.2e}, between {:.2e}",
            g.name(),
            rel(&a, &fd),
            rel(&b, &fd),
            rel(&a, &b)
        );
    }
}

#[test]
fn jvp_of_jvp_gives_second_directional_derivatives() {
    let g = smooth(5);
    let h = run(&g, "jvp,jvp");
    // The second jvp differentiates w.r.t. x and x_dot; x_dot is taken.
    assert_eq!(h.param_names(), ["x", "x_dot", "x_dot2", "x_dot_dot"]);
    assert_eq!(h.outputs().len(), 4);
    let (x, v) = point(5, 3);
    let (_, w) = point(5, 4);
    let zero = vec![0.0; 5];
    // With x_dot = v, x_dot2 = w and x_dot_dot = 0, output 3 = w^T H v.
    let out = eval(&h, &[vec_t(&x), vec_t(&v), vec_t(&w), vec_t(&zero)]);
    let whv = out[3].scalar_value().unwrap();
    let hv = eval(&run(&g, "grad,jvp{wrt=x}"), &[vec_t(&x), vec_t(&v)])[3].to_f64_vec();
    let want: f64 = hv.iter().zip(&w).map(|(a, b)| a * b).sum();
    assert!(((whv - want) / want).abs() < 1e-12, "{whv} vs {want}");
    // And with x_dot_dot = u, the first-order term grad.u is added.
    let (_, u) = point(5, 5);
    let out = eval(&h, &[vec_t(&x), vec_t(&v), vec_t(&w), vec_t(&u)]);
    let gr = eval(&run(&g, "grad"), &[vec_t(&x)])[1].to_f64_vec();
    let gu: f64 = gr.iter().zip(&u).map(|(a, b)| a * b).sum();
    let got = out[3].scalar_value().unwrap();
    assert!(((got - (want + gu)) / (want + gu)).abs() < 1e-12);
}

#[test]
fn vjp_then_jvp() {
    let g = smooth(4);
    let h = run(&g, "vjp,jvp,simplify,cse,dce");
    assert_eq!(h.param_names(), ["x", "cot0", "x_dot", "cot0_dot"]);
    // outputs: f, x_cot, df, d(x_cot) = cot0 * H v + cot0_dot * grad.
    let (x, v) = point(4, 6);
    let c = 1.75;
    let cd = -0.5;
    let out = eval(
        &h,
        &[
            vec_t(&x),
            Tensor::scalar_f64(c),
            vec_t(&v),
            Tensor::scalar_f64(cd),
        ],
    );
    let hv = eval(&run(&g, "grad,jvp{wrt=x}"), &[vec_t(&x), vec_t(&v)])[3].to_f64_vec();
    let gr = eval(&run(&g, "grad"), &[vec_t(&x)])[1].to_f64_vec();
    let want: Vec<f64> = hv.iter().zip(&gr).map(|(h, g)| c * h + cd * g).collect();
    assert!(rel(&out[3].to_f64_vec(), &want) < 1e-12);
    // x_cot itself is cot0 * grad.
    let xc: Vec<f64> = gr.iter().map(|g| c * g).collect();
    assert!(rel(&out[1].to_f64_vec(), &xc) < 1e-15);
}

#[test]
fn grad_of_grad_reduced_to_a_scalar() {
    // s(x) = |grad f(x)|^2; grad s = 2 H grad f.
    let g = smooth(5);
    let mut h = run(&g, "grad");
    let gr = h.outputs()[1];
    let sq = h.add(Op::Binary(BinaryOp::Mul), &[gr, gr]).unwrap();
    let s = emit::reduce_sum(&mut h, sq, vec![0]).unwrap();
    h.push_output(s);
    let h2 = {
        let mut h2 = h.clone();
        adjoint_passes::PassManager::parse("grad{of=2},simplify,cse,dce")
            .unwrap()
            .run(&mut h2)
            .unwrap();
        h2
    };
    assert_eq!(h2.outputs().len(), 4);
    let (x, _) = point(5, 7);
    let gx = eval(&h, &[vec_t(&x)])[1].to_f64_vec();
    let out = eval(&h2, &[vec_t(&x)]);
    let hvp = eval(&run(&g, "grad,jvp{wrt=x}"), &[vec_t(&x), vec_t(&gx)])[3].to_f64_vec();
    let want: Vec<f64> = hvp.iter().map(|v| 2.0 * v).collect();
    assert!(rel(&out[3].to_f64_vec(), &want) < 1e-12);
    // Without of=K the two... three outputs are an error.
    let e = adjoint_passes::PassManager::parse("grad")
        .unwrap()
        .run(&mut h.clone())
        .unwrap_err();
    assert!(e.message.contains("of=K"), "{e}");
}

#[test]
fn third_order_through_grad_grad_grad() {
    // f(x) = x^4 (scalar): f' = 4x^3, f'' = 12x^2, f''' = 24x.
    let b = GraphBuilder::new("quartic");
    let x = b.param("x", TensorType::f64([]));
    let g = b.build(&[x * x * x * x]).unwrap();
    let h = run(&g, "grad,grad{of=1},grad{of=2},simplify,cse,dce");
    let out = eval(&h, &[Tensor::scalar_f64(1.5)]);
    let v: Vec<f64> = out.iter().map(|t| t.scalar_value().unwrap()).collect();
    assert_eq!(
        v,
        vec![
            1.5f64.powi(4),
            4.0 * 1.5f64.powi(3),
            12.0 * 1.5 * 1.5,
            24.0 * 1.5
        ]
    );
}

/// The log-sum-exp written from primitives (issue 11, item 1).
fn lse_text() -> Graph {
    let m = adjoint_ir::parse_module(
        "func @lse(%x: f64[4]) -> f64 {
           %m = reduce_max %x axes=[0]
           %d = sub %x, %m
           %e = exp %d
           %s = reduce_sum %e axes=[0]
           %l = log %s
           %y = add %l, %m
           return %y
         }",
    )
    .unwrap();
    m.func("lse").unwrap().clone()
}

#[test]
fn hvp_through_the_recognised_log_sum_exp() {
    // f = logsumexp(x): H v = p ⊙ v − p ⟨p, v⟩ with p = softmax(x). The
    // gradient `grad` builds is `e / s` from the composite's own forward
    // nodes, so their tangents must survive the second transform.
    let g = lse_text();
    let x = [0.5, -1.0, 2.0, 1.25];
    let v = [1.0, 2.0, -0.5, 0.75];
    let e: Vec<f64> = x.iter().map(|a| (a - 2.0f64).exp()).collect();
    let s: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|a| a / s).collect();
    let pv: f64 = p.iter().zip(&v).map(|(a, b)| a * b).sum();
    let want: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a * b - a * pv).collect();
    let fwd_rev = run(&g, "grad,jvp{wrt=x}");
    let a = eval(&fwd_rev, &[vec_t(&x), vec_t(&v)])[3].to_f64_vec();
    let rev_fwd = run(&g, "jvp{wrt=x},grad{of=1,wrt=x}");
    let b = eval(&rev_fwd, &[vec_t(&x), vec_t(&v)])[2].to_f64_vec();
    for got in [&a, &b] {
        assert!(rel(got, &want) < 1e-14, "{got:?} vs {want:?}");
    }
    // Reverse over reverse, the same.
    let rr = run(&g, "grad,vjp{wrt=x}");
    let c = eval(&rr, &[vec_t(&x), Tensor::scalar_f64(0.0), vec_t(&v)])[2].to_f64_vec();
    assert!(rel(&c, &want) < 1e-14, "{c:?} vs {want:?}");
}

#[test]
fn forward_mode_through_a_log_sum_exp_sharing_its_exponentials() {
    // After cse, logsumexp and softmax share the max, exp(x − m) and the
    // sum: the tangents of exp(x − m) (read by the softmax) need those of
    // x − m and of the max, though only the composite reads those.
    let b = GraphBuilder::new("lse_softmax");
    let x = b.param("x", TensorType::f64([3, 4]));
    let y = x.logsumexp(1).reshape([3, 1]) + x.softmax(1);
    let g = run(&b.build(&[y]).unwrap(), "cse");
    let mut r = Rng(77);
    let xs = [r.tensor(&TensorType::f64([3, 4]), -2.0, 2.0)];
    let rep = adjoint_passes::gradcheck::gradcheck(&g, &xs, &Default::default()).unwrap();
    assert!(rep.pass && rep.max_rel() < 1e-8, "{rep}");
}

#[test]
fn hessian_of_log_sum_exp_by_the_jacobian_pass() {
    // H = diag(p) − p pᵀ, in every mode of the batched transforms.
    let g = lse_text();
    let x = [0.5, -1.0, 2.0, 1.25];
    let e: Vec<f64> = x.iter().map(|a| (a - 2.0f64).exp()).collect();
    let s: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|a| a / s).collect();
    let want: Vec<f64> = (0..16)
        .map(|k| {
            let (i, j) = (k / 4, k % 4);
            f64::from(u8::from(i == j)) * p[i] - p[i] * p[j]
        })
        .collect();
    for mode in ["fwd", "rev", "auto"] {
        let h = run(&g, &format!("grad,jacobian{{of=1,mode={mode}}}"));
        let got = eval(&h, &[vec_t(&x)])[2].to_f64_vec();
        assert!(rel(&got, &want) < 1e-14, "{mode}: {got:?} vs {want:?}");
    }
}

#[test]
fn gradcheck_of_the_gradient_of_every_recognised_pattern() {
    // PyTorch's gradgradcheck: the gradient graph itself gradchecked (both
    // modes, element by element), for every builder form of the composite.
    let b = GraphBuilder::new("patterns");
    let x = b.param("x", TensorType::f64([3, 4]));
    let l = b.param("l", TensorType::f64([3, 4]));
    let y = x.logsumexp(1).sum() + x.log_softmax(1).sin().sum() + x.cross_entropy(l.sigmoid());
    let g = b.build(&[y]).unwrap();
    for g in [lse_text(), g] {
        let grad = run(&g, "grad");
        let mut r = Rng(88);
        let xs: Vec<Tensor> = g
            .param_types()
            .iter()
            .map(|t| r.tensor(t, -2.0, 2.0))
            .collect();
        for k in 1..grad.outputs().len() {
            let opts = adjoint_passes::gradcheck::GradCheckOptions {
                of: Some(k),
                ..Default::default()
            };
            let rep = adjoint_passes::gradcheck::gradcheck(&grad, &xs, &opts).unwrap();
            assert!(rep.pass, "@{} output {k}:\n{rep}", g.name());
        }
    }
}
