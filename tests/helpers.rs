//! The one-call helpers (issue 15): derivatives against central finite
//! differences, named outputs against positional ones, and the typed and
//! string pipelines against each other.

use adjoint::ir::{parse_module, print_graph, Graph};
use adjoint::{hessian, jacobian, run_pipeline, value_and_grad, Pipeline};

const LOGREG: &str = "func @loss(%w: f64[3], %b: f64, %x: f64[4,3], %t: f64[4]) -> (f64, f64[4]) {
   %z0 = matmul %x, %w
   %z = add %z0, %b
   %e = neg %z
   %ex = exp %e
   %one = const 1.0 : f64
   %d = add %ex, %one
   %p = div %one, %d
   %lp = log %p
   %q = sub %one, %p
   %lq = log %q
   %a = mul %t, %lp
   %nt = sub %one, %t
   %c = mul %nt, %lq
   %s = add %a, %c
   %sum = reduce_sum %s axes=[0]
   %l = neg %sum
   return %l, %p
 }";

fn func(src: &str) -> Graph {
    parse_module(src).unwrap().main_func().unwrap().clone()
}

const W: [f64; 3] = [0.3, -0.2, 0.5];
const B: [f64; 1] = [0.1];
const X: [f64; 12] = [
    1.0, 0.5, -1.0, 0.2, -0.3, 0.8, -1.5, 1.0, 0.0, 0.4, 0.4, -0.6,
];
const T: [f64; 4] = [1.0, 0.0, 1.0, 0.0];

/// Central differences of output 0 of `g`, with respect to input `which`.
fn fd(g: &Graph, ins: &[Vec<f64>], which: usize) -> Vec<f64> {
    let f = adjoint::jit::compile(g, &Default::default()).unwrap();
    let eval = |ins: &[Vec<f64>]| {
        let refs: Vec<&[f64]> = ins.iter().map(|v| &v[..]).collect();
        f.eval_f64(&refs).unwrap()[0].clone()
    };
    let h = 1e-6;
    (0..ins[which].len())
        .flat_map(|i| {
            let (mut up, mut dn) = (ins.to_vec(), ins.to_vec());
            up[which][i] += h;
            dn[which][i] -= h;
            let (a, b) = (eval(&up), eval(&dn));
            a.into_iter()
                .zip(b)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn value_and_grad_with_aux_matches_finite_differences_and_positional_outputs() {
    let g = func(LOGREG);
    let vg = value_and_grad(&g, &["w", "b"], true).unwrap();
    let out = vg
        .call(&[("x", &X[..]), ("t", &T[..]), ("b", &B[..]), ("w", &W[..])])
        .unwrap();
    let ins = vec![W.to_vec(), B.to_vec(), X.to_vec(), T.to_vec()];
    close(&out.grad["w"], &fd(&g, &ins, 0), 1e-7);
    close(&out.grad["b"], &fd(&g, &ins, 1), 1e-7);
    // Named, grouped and positional outputs agree bit for bit.
    let f = vg.function();
    assert_eq!(f.output_names(), ["l", "p", "w_grad", "b_grad"]);
    assert_eq!(vg.aux_outputs(), 1..2);
    assert_eq!(vg.derivative_outputs(), 2..4);
    let pos = f.eval_f64(&[&W, &B, &X, &T]).unwrap();
    assert_eq!(out.value, pos[0]);
    assert_eq!(out.aux["p"], pos[1]);
    assert_eq!(out.grad["w"], pos[2]);
    assert_eq!(out.grad["b"], pos[3]);
    let named = f
        .call_named(&[("w", &W[..]), ("b", &B[..]), ("x", &X[..]), ("t", &T[..])])
        .unwrap();
    assert_eq!(named["w_grad"], pos[2]);
    assert_eq!(named.names(), f.output_names());
    // The helper's graph is the string pipeline's.
    let mut h = g.clone();
    run_pipeline(&mut h, "grad{wrt=w,b,of=0},simplify,cse,dce").unwrap();
    assert_eq!(print_graph(vg.graph()), print_graph(&h));
}

#[test]
fn value_and_grad_without_aux_needs_one_output() {
    let e = value_and_grad(&func(LOGREG), &["w"], false).unwrap_err();
    assert!(
        e.message.contains("has 2 outputs") && e.message.contains("has_aux"),
        "{e}"
    );
    let e = value_and_grad(&func(LOGREG), &["v"], true).unwrap_err();
    assert!(e.message.contains("`v`") || e.message.contains("%v"), "{e}");
}

#[test]
fn named_calls_reject_missing_extra_and_misspelt_names() {
    let vg = value_and_grad(&func(LOGREG), &[], true).unwrap();
    assert_eq!(vg.wrt(), ["w", "b", "x", "t"]);
    let f = vg.function();
    let e = f
        .call_named(&[("w", &W[..]), ("b", &B[..]), ("x", &X[..])])
        .unwrap_err();
    assert!(
        e.message
            .contains("missing input `t`; the inputs are: w, b, x, t"),
        "{e}"
    );
    let e = f
        .call_named(&[("w", &W[..]), ("b", &B[..]), ("x", &X[..]), ("tt", &T[..])])
        .unwrap_err();
    assert!(
        e.message
            .contains("no input named `tt`; the inputs are: w, b, x, t"),
        "{e}"
    );
    let e = f
        .call_named(&[
            ("w", &W[..]),
            ("w", &W[..]),
            ("b", &B[..]),
            ("x", &X[..]),
            ("t", &T[..]),
        ])
        .unwrap_err();
    assert!(e.message.contains("input `w` is given twice"), "{e}");
    let out = vg
        .call(&[("w", &W[..]), ("b", &B[..]), ("x", &X[..]), ("t", &T[..])])
        .unwrap();
    assert!(out.grad.get("nope").is_none());
    let e = out.grad.try_get("nope").unwrap_err();
    assert!(e.message.contains("the outputs are: w, b, x, t"), "{e}");
}

const SPRING: &str = "func @f(%x: f64[3], %k: f64) -> f64[2] {
   %a = slice %x start=[0] end=[2]
   %b = slice %x start=[1] end=[3]
   %d = sub %b, %a
   %s = sin %d
   %y = mul %s, %k
   return %y
 }";

#[test]
fn jacobian_matches_finite_differences() {
    let g = func(SPRING);
    let x = [0.1, 0.7, -0.4];
    let j = jacobian(&g, &["x", "k"], None).unwrap();
    let out = j.call(&[("x", &x[..]), ("k", &[2.0][..])]).unwrap();
    assert_eq!(j.function().output_names(), ["y", "x_jac", "k_jac"]);
    // fd gives d/dx_i of every output: transpose to the Jacobian's
    // (output, parameter) layout.
    let ins = vec![x.to_vec(), vec![2.0]];
    let fx = fd(&g, &ins, 0);
    let want_x: Vec<f64> = (0..2)
        .flat_map(|o| (0..3).map(move |i| (o, i)))
        .map(|(o, i)| fx[i * 2 + o])
        .collect();
    close(&out.grad["x"], &want_x, 1e-7);
    close(&out.grad["k"], &fd(&g, &ins, 1), 1e-7);
}

#[test]
fn hessian_matches_finite_differences_of_the_gradient() {
    let g = func(LOGREG);
    let h = hessian(&g, "w", Some(0)).unwrap();
    assert_eq!(h.function().output_names(), ["l", "p", "w_hess"]);
    let out = h
        .call(&[("w", &W[..]), ("b", &B[..]), ("x", &X[..]), ("t", &T[..])])
        .unwrap();
    // The Hessian against central differences of the gradient.
    let mut gg = g.clone();
    Pipeline::new()
        .grad()
        .wrt(["w"])
        .of(0)
        .run(&mut gg)
        .unwrap();
    let mut outs = gg.outputs().to_vec();
    outs.swap(0, 2); // the gradient first
    gg.set_outputs(outs);
    let ins = vec![W.to_vec(), B.to_vec(), X.to_vec(), T.to_vec()];
    close(&out.grad["w"], &fd(&gg, &ins, 0), 1e-6);
    // Symmetric, as a Hessian is.
    let hw = &out.grad["w"];
    for i in 0..3 {
        for j in 0..3 {
            assert!((hw[i * 3 + j] - hw[j * 3 + i]).abs() <= 1e-12);
        }
    }
}
