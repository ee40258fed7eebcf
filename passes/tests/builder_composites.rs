//! The builder's stable composites (`log1p`, `expm1`, `softplus`,
//! `logsumexp` over axes, `binary_cross_entropy_with_logits`, `var`,
//! `clip`, `where_`): values against hand-derived ones and `std`, including
//! extreme inputs; gradients against finite differences, first and second
//! order; and no NaN gradient from a `select` guard.
mod common;

use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint_passes::gradcheck::{gradcheck, GradCheckOptions};
use common::{eval, op_counts, run, Rng};

fn vec_t(v: &[f64]) -> Tensor {
    Tensor::from_f64([v.len()], v.to_vec()).unwrap()
}

/// `f` applied elementwise to a vector parameter of length `n`.
fn unary(name: &str, n: usize, f: impl for<'b> Fn(Value<'b>) -> Value<'b>) -> Graph {
    let b = GraphBuilder::new(name);
    let x = b.param("x", TensorType::f64([n]));
    b.build(&[f(x)]).unwrap()
}

/// `f` at each of `xs` (interpreter).
fn values(g: &Graph, xs: &[f64]) -> Vec<f64> {
    eval(g, &[vec_t(xs)])[0].to_f64_vec()
}

/// `d/dx sum(f(x))` at each of `xs`, from the `grad` pass.
fn derivs(name: &str, f: impl for<'b> Fn(Value<'b>) -> Value<'b>, xs: &[f64]) -> Vec<f64> {
    let g = unary(name, xs.len(), |x| f(x).sum());
    let d = run(&g, "grad,simplify,cse,dce");
    eval(&d, &[vec_t(xs)])[1].to_f64_vec()
}

fn ulps(a: f64, b: f64) -> u64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        return 0;
    }
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 {
            i64::MIN as i128 - i as i128
        } else {
            i as i128
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// Points spread over many magnitudes, both signs.
fn magnitudes(lo_exp: i32, hi_exp: i32) -> Vec<f64> {
    let mut v = Vec::new();
    for e in lo_exp..=hi_exp {
        for m in [1.0, 3.7, 7.3] {
            let x = m * 10f64.powi(e);
            v.push(x);
            v.push(-x);
        }
    }
    v
}

#[test]
fn log1p_is_accurate_near_zero_and_exact_at_the_edges() {
    let xs: Vec<f64> = magnitudes(-300, 3)
        .into_iter()
        .filter(|&x| x > -1.0)
        .chain([-0.5, -0.999_999, -1.0 + 1e-12, 1.5, 1e300, f64::MAX])
        .collect();
    let g = unary("log1p", xs.len(), |x| x.log1p());
    let got = values(&g, &xs);
    for (x, y) in xs.iter().zip(&got) {
        assert!(
            ulps(*y, x.ln_1p()) <= 2,
            "log1p({x:e}) = {y:e}, std {:e}",
            x.ln_1p()
        );
    }
    // Tiny arguments come back exactly; the specials as documented.
    let sp = [
        1e-300,
        -0.0,
        0.0,
        -1.0,
        f64::INFINITY,
        -2.0,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let want = [
        1e-300,
        -0.0,
        0.0,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NAN,
        f64::NAN,
        f64::NAN,
    ];
    let got = values(&unary("log1p", sp.len(), |x| x.log1p()), &sp);
    for ((x, y), w) in sp.iter().zip(&got).zip(&want) {
        assert!(same(*y, *w), "log1p({x}) = {y}, want {w}");
    }
    // The derivative 1/(1+x) is accurate too, and the guards leave no NaN.
    let xs = [
        1e-300,
        1e-15,
        1e-10,
        -1e-10,
        0.0,
        -0.0,
        0.5,
        10.0,
        -0.9,
        1e300,
        f64::MAX,
    ];
    let d = derivs("log1p", |x| x.log1p(), &xs);
    for (x, dx) in xs.iter().zip(&d) {
        let want = 1.0 / (1.0 + x);
        assert!(
            ulps(*dx, want) <= 2,
            "log1p'({x:e}) = {dx:e}, want {want:e}"
        );
    }
    let d = derivs("log1p", |x| x.log1p(), &[-1.0, f64::INFINITY]);
    assert_eq!(d, [f64::INFINITY, 0.0]);
}

#[test]
fn expm1_is_accurate_near_zero_and_exact_at_the_edges() {
    let xs: Vec<f64> = magnitudes(-300, 2)
        .into_iter()
        .filter(|x| x.abs() < 700.0)
        .chain([0.49, -0.49, 0.5, -0.5, 0.51, 1.0, -1.0, 709.0, -745.0])
        .collect();
    let g = unary("expm1", xs.len(), |x| x.expm1());
    let got = values(&g, &xs);
    for (x, y) in xs.iter().zip(&got) {
        assert!(
            ulps(*y, x.exp_m1()) <= 3,
            "expm1({x:e}) = {y:e}, std {:e}",
            x.exp_m1()
        );
    }
    let sp = [
        1e-300,
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1000.0,
    ];
    let want = [
        1e-300,
        -0.0,
        0.0,
        f64::INFINITY,
        -1.0,
        f64::NAN,
        f64::INFINITY,
    ];
    let got = values(&unary("expm1", sp.len(), |x| x.expm1()), &sp);
    for ((x, y), w) in sp.iter().zip(&got).zip(&want) {
        assert!(same(*y, *w), "expm1({x}) = {y}, want {w}");
    }
    // d/dx = e^x, also where the tanh branch is not taken (no NaN from it).
    let xs = [
        1e-300, 1e-10, 0.0, 0.3, -0.3, 0.5, 5.0, 40.0, 700.0, -40.0, -1000.0,
    ];
    let d = derivs("expm1", |x| x.expm1(), &xs);
    for (x, dx) in xs.iter().zip(&d) {
        assert!(
            ulps(*dx, x.exp()) <= 4,
            "expm1'({x:e}) = {dx:e}, want {:e}",
            x.exp()
        );
    }
    assert_eq!(
        derivs("expm1", |x| x.expm1(), &[f64::NEG_INFINITY, 1000.0]),
        [0.0, f64::INFINITY]
    );
}

#[test]
fn softplus_never_overflows_and_its_derivative_is_the_sigmoid() {
    let xs = [
        1000.0,
        -1000.0,
        -40.0,
        0.0,
        1.0,
        -1.0,
        30.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let got = values(&unary("softplus", xs.len(), |x| x.softplus()), &xs);
    let want = [
        1000.0,
        0.0,
        (-40f64).exp().ln_1p(),
        std::f64::consts::LN_2,
        1f64.exp().ln_1p(),
        (-1f64).exp().ln_1p(),
        30.0 + (-30f64).exp().ln_1p(),
        f64::INFINITY,
        0.0,
    ];
    for ((x, y), w) in xs.iter().zip(&got).zip(&want) {
        assert!(ulps(*y, *w) <= 2, "softplus({x}) = {y:e}, want {w:e}");
    }
    assert!(values(&unary("softplus", 1, |x| x.softplus()), &[f64::NAN])[0].is_nan());
    // The derivative is sigmoid(x), 1/2 at the kink of max/min, and neither
    // 0 nor 1 turns into NaN at the extremes.
    let xs = [0.0, 1.0, -1.0, 3.0, -20.0, 1000.0, -1000.0];
    let d = derivs("softplus", |x| x.softplus(), &xs);
    for (x, dx) in xs.iter().zip(&d) {
        let want = 1.0 / (1.0 + (-x).exp());
        assert!(
            (dx - want).abs() <= 4.0 * f64::EPSILON * want,
            "softplus'({x}) = {dx:e}, want {want:e}"
        );
    }
}

#[test]
fn logsumexp_over_several_axes_and_rows_of_infinities() {
    let b = GraphBuilder::new("lse");
    let x = b.param("x", TensorType::f64([2, 3, 2]));
    let g = b
        .build(&[x.logsumexp([0, 2]), x.logsumexp(1), x.logsumexp([0, 1, 2])])
        .unwrap();
    let v: Vec<f64> = (0..12).map(|i| (i as f64) * 0.7 - 3.0).collect();
    let out = eval(&g, &[Tensor::from_f64([2, 3, 2], v.clone()).unwrap()]);
    let at = |i: usize, j: usize, k: usize| v[i * 6 + j * 2 + k];
    let lse = |xs: Vec<f64>| xs.iter().map(|x| x.exp()).sum::<f64>().ln();
    let want02: Vec<f64> = (0..3)
        .map(|j| lse(vec![at(0, j, 0), at(0, j, 1), at(1, j, 0), at(1, j, 1)]))
        .collect();
    let want1: Vec<f64> = (0..4)
        .map(|ik| lse((0..3).map(|j| at(ik / 2, j, ik % 2)).collect()))
        .collect();
    let all = lse(v.clone());
    for (got, want) in [
        (out[0].to_f64_vec(), want02),
        (out[1].to_f64_vec(), want1),
        (out[2].to_f64_vec(), vec![all]),
    ] {
        for (a, w) in got.iter().zip(&want) {
            assert!((a - w).abs() <= 4.0 * f64::EPSILON * w.abs(), "{a} vs {w}");
        }
    }
    // Large values do not overflow; rows of infinities are not NaN.
    let inf = f64::INFINITY;
    let g = unary("lse", 2, |x| x.logsumexp(0));
    assert_eq!(
        values(&g, &[1000.0, 1000.0])[0],
        1000.0 + std::f64::consts::LN_2
    );
    assert_eq!(values(&g, &[-inf, -inf])[0], -inf);
    assert_eq!(values(&g, &[inf, 1.0])[0], inf);
    assert_eq!(values(&g, &[-inf, 2.0])[0], 2.0);
    assert!(values(&g, &[f64::NAN, 2.0])[0].is_nan());
    // The gradient is the softmax, also next to a −inf entry.
    let d = derivs("lse", |x| x.logsumexp(0), &[-inf, 2.0, 2.0]);
    assert_eq!(d, [0.0, 0.5, 0.5]);
}

#[test]
fn logsumexp_gradient_is_the_softmax_and_nothing_goes_through_the_max() {
    // The AD passes recognise the guarded composite: the cleaned-up
    // gradient is e / s from the forward values, with no argmax mask
    // (which would need `eq` comparisons against the max).
    let b = GraphBuilder::new("lse");
    let x = b.param("x", TensorType::f64([3, 4]));
    let g = b.build(&[x.logsumexp(1).sum()]).unwrap();
    // Neither mode builds the mask, even before clean-up.
    for p in ["grad", "jvp"] {
        let d = run(&g, p);
        assert_eq!(
            op_counts(&d).get("eq"),
            None,
            "{p}: {}",
            adjoint_ir::print_graph(&d)
        );
    }
    let d = run(&g, "grad,simplify,cse,dce");
    let ops = op_counts(&d);
    assert_eq!(ops.get("reduce_max"), Some(&1));
    assert_eq!(ops.get("exp"), Some(&1));
    assert_eq!(ops.get("div"), Some(&1), "{}", adjoint_ir::print_graph(&d));
}

#[test]
fn binary_cross_entropy_with_logits_at_large_logits() {
    let b = GraphBuilder::new("bce");
    let z = b.param("z", TensorType::f64([4]));
    let y = b.param("y", TensorType::f64([4]));
    let g = b.build(&[z.binary_cross_entropy_with_logits(y)]).unwrap();
    let loss = |zs: &[f64], ys: &[f64]| eval(&g, &[vec_t(zs), vec_t(ys)])[0].to_f64_vec()[0];
    // Confidently right: 0; confidently wrong: |z| (averaged over 4).
    assert_eq!(
        loss(&[1000.0, -1000.0, 800.0, -800.0], &[1.0, 0.0, 1.0, 0.0]),
        0.0
    );
    assert_eq!(
        loss(&[1000.0, -1000.0, 1000.0, -1000.0], &[0.0, 1.0, 0.0, 1.0]),
        1000.0
    );
    // Hand-derived at moderate logits: −mean(y log σ + (1−y) log(1−σ)).
    let (zs, ys) = ([0.3, -1.2, 2.0, 0.0], [1.0, 0.0, 0.25, 0.5]);
    let s = |z: f64| 1.0 / (1.0 + (-z).exp());
    let want: f64 = zs
        .iter()
        .zip(&ys)
        .map(|(&z, &y)| -(y * s(z).ln() + (1.0 - y) * (1.0 - s(z)).ln()))
        .sum::<f64>()
        / 4.0;
    assert!(
        (loss(&zs, &ys) - want).abs() < 1e-15,
        "{} vs {want}",
        loss(&zs, &ys)
    );
    // d/dz = (σ(z) − y)/4, finite at huge logits.
    let d = run(&g, "grad{wrt=z},simplify,cse,dce");
    let zs = [1000.0, -1000.0, 0.3, 0.0];
    let ys = [0.0, 0.0, 1.0, 0.5];
    let got = eval(&d, &[vec_t(&zs), vec_t(&ys)])[1].to_f64_vec();
    for ((z, y), dz) in zs.iter().zip(&ys).zip(&got) {
        let want = (s(*z) - y) / 4.0;
        assert!((dz - want).abs() <= 1e-16, "d/dz at {z}: {dz} vs {want}");
    }
}

#[test]
fn var_clip_and_where_values() {
    let b = GraphBuilder::new("misc");
    let x = b.param("x", TensorType::f64([2, 3]));
    let g = b
        .build(&[
            x.var(),
            x.var_axes(1),
            x.var_axes([0]),
            x.clip(-1.0, 2.0),
            b.where_(x.gt(x.lit(0.0)), x, x * 10.0),
        ])
        .unwrap();
    let v = [1.0, -2.0, 3.5, 0.5, 4.0, -1.0];
    let out = eval(&g, &[Tensor::from_f64([2, 3], v.to_vec()).unwrap()]);
    let var = |xs: &[f64]| {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64
    };
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-14);
    assert!(close(&out[0].to_f64_vec(), &[var(&v)]));
    assert!(close(&out[1].to_f64_vec(), &[var(&v[..3]), var(&v[3..])]));
    let cols: Vec<f64> = (0..3).map(|j| var(&[v[j], v[3 + j]])).collect();
    assert!(close(&out[2].to_f64_vec(), &cols));
    assert_eq!(out[3].to_f64_vec(), [1.0, -1.0, 2.0, 0.5, 2.0, -1.0]);
    assert_eq!(out[4].to_f64_vec(), [1.0, -20.0, 3.5, 0.5, 4.0, -10.0]);
}

/// Gradchecks every output of `g` at `xs`, then (second order) every
/// gradient output of `grad g` — PyTorch's gradgradcheck.
fn check_two_orders(g: &Graph, xs: &[Tensor]) {
    for k in 0..g.outputs().len() {
        let opts = GradCheckOptions {
            of: Some(k),
            ..Default::default()
        };
        let rep = gradcheck(g, xs, &opts).unwrap();
        assert!(rep.pass, "@{} output {k}:\n{rep}", g.name());
        let d = run(g, &format!("grad{{of={k}}},simplify,cse,dce"));
        for j in 1..d.outputs().len() {
            let opts = GradCheckOptions {
                of: Some(j),
                ..Default::default()
            };
            let rep = gradcheck(&d, xs, &opts).unwrap();
            assert!(
                rep.pass,
                "second order, @{} output {k}, gradient {j}:\n{rep}",
                g.name()
            );
        }
    }
}

#[test]
fn composites_pass_gradcheck_to_second_order() {
    let b = GraphBuilder::new("composites");
    let x = b.param("x", TensorType::f64([2, 3]));
    let y = b.param("y", TensorType::f64([2, 3]));
    let outs = [
        x.log1p().sum(),
        x.expm1().sum(),
        (x * 3.0).expm1().sum(), // both branches of expm1
        x.softplus().sum(),
        (x * 30.0).softplus().sum(),
        x.logsumexp([0, 1]),
        x.logsumexp(1).sum(),
        x.binary_cross_entropy_with_logits(y.sigmoid()),
        x.var(),
        (x.var_axes(0) * y.at(0)).sum(),
        x.clip(-0.3, 0.4).sum(),
        b.where_(x.gt(y), x * x, y.sin()).sum(),
    ];
    let g = b.build(&outs).unwrap();
    let mut r = Rng(15);
    // x in (-0.9, 0.9): log1p's domain, both expm1 branches once scaled,
    // and away from clip's bounds with this seed.
    let xs: Vec<Tensor> = g
        .param_types()
        .iter()
        .map(|t| r.tensor(t, -0.9, 0.9))
        .collect();
    let v = xs[0].to_f64_vec();
    assert!(v
        .iter()
        .all(|&a| (a + 0.3).abs() > 1e-3 && (a - 0.4).abs() > 1e-3));
    check_two_orders(&g, &xs);
}

#[test]
fn f32_composites_are_accurate_too() {
    // The same formulas in f32, against f64 references rounded to f32.
    let xs: Vec<f64> = magnitudes(-40, 1)
        .into_iter()
        .filter(|&x| x > -1.0)
        .map(|x| f64::from(x as f32))
        .collect();
    let b = GraphBuilder::new("f32");
    let x = b.param("x", TensorType::f32([xs.len()]));
    let g = b.build(&[x.log1p(), x.expm1(), x.softplus()]).unwrap();
    let out = eval(
        &g,
        &[Tensor::from_f64_as(&TensorType::f32([xs.len()]), &xs).unwrap()],
    );
    let refs: [fn(f64) -> f64; 3] = [f64::ln_1p, f64::exp_m1, |x| x.exp().ln_1p()];
    for (k, f) in refs.iter().enumerate() {
        let got = out[k].to_f64_vec();
        for (x, y) in xs.iter().zip(&got) {
            let want = f(*x) as f32;
            let d = (*y as f32).to_bits().abs_diff(want.to_bits());
            assert!(d <= 3, "output {k} at {x:e}: {y:e} vs {want:e} ({d} ulps)");
        }
    }
}

#[test]
fn hessian_of_the_guarded_logsumexp_in_every_jacobian_mode() {
    // H = diag(p) − p pᵀ with p = softmax(x), through the recognised
    // composite with its guard, in the batched transforms too.
    let g = unary("lse", 4, |x| x.logsumexp(0));
    let x = [0.5, -1.0, 2.0, 1.25];
    let e: Vec<f64> = x.iter().map(|a| (a - 2.0f64).exp()).collect();
    let s: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|a| a / s).collect();
    for mode in ["fwd", "rev", "auto"] {
        let h = run(&g, &format!("grad,jacobian{{of=1,mode={mode}}}"));
        let got = eval(&h, &[vec_t(&x)])[2].to_f64_vec();
        for (k, v) in got.iter().enumerate() {
            let (i, j) = (k / 4, k % 4);
            let want = f64::from(u8::from(i == j)) * p[i] - p[i] * p[j];
            assert!(
                (v - want).abs() < 1e-15,
                "{mode} H[{i},{j}] = {v}, want {want}"
            );
        }
    }
}
