//! Shared by the gradgrad tests: Hessian-vector products of a scalar
//! function computed three ways by composing the AD passes, each compared
//! with central differences of the compiled gradient on one engine.
//!
//! For `f: (p_1, …, p_k) → scalar`, a point `x` and a direction `v` (one
//! tensor per parameter):
//! - forward-over-reverse: `grad,jvp`, the tangents of the gradient outputs;
//! - reverse-over-forward: `jvp,grad{of=1,wrt=p…}`, the gradient of the
//!   directional derivative `⟨∇f, v⟩`;
//! - reverse-over-reverse: `grad,vjp{wrt=p…}` with the cotangent of `f`
//!   zero and that of each gradient output `v_i`;
//! - the reference: `(∇f(x + h v) − ∇f(x − h v)) / 2h`, `h = cbrt(ε)`,
//!   with `∇f` the compiled `grad` graph on the same engine (and again with
//!   `h/2`, to tell when a kink lies within a step).
#![allow(dead_code)]

use adjoint::ir::{Graph, Tensor};
use adjoint::Engine;

/// The `common` helpers of the pass tests (`Rng`, `run`, `random_graph`).
#[path = "../../passes/tests/common/mod.rs"]
pub mod common;

/// Normwise relative error `max|a − b| / max(max|a|, max|b|)`, with
/// `abs_floor` as the absolute error below which two vectors count as
/// equal (0 when both are zero). NaN counts as an infinite error.
pub fn rel_err(a: &[f64], b: &[f64], abs_floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let d = a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        let d = (x - y).abs();
        m.max(if d.is_nan() { f64::INFINITY } else { d })
    });
    if d <= abs_floor {
        return 0.0;
    }
    let s = a.iter().chain(b).fold(0.0f64, |m, x| m.max(x.abs()));
    d / s
}

/// The three AD Hessian-vector products and the finite difference, one
/// flat vector per parameter each.
#[derive(Debug)]
pub struct Hvps {
    /// `grad,jvp`.
    pub fwd_over_rev: Vec<Vec<f64>>,
    /// `jvp,grad{of=1}`.
    pub rev_over_fwd: Vec<Vec<f64>>,
    /// `grad,vjp`.
    pub rev_over_rev: Vec<Vec<f64>>,
    /// Central differences of the compiled gradient along `v`.
    pub fd: Vec<Vec<f64>>,
    /// The same with half the step.
    pub fd_half: Vec<Vec<f64>>,
}

fn flat(ts: &[Tensor]) -> Vec<Vec<f64>> {
    ts.iter().map(|t| t.to_f64_vec()).collect()
}

fn concat(v: &[Vec<f64>]) -> Vec<f64> {
    v.iter().flatten().copied().collect()
}

impl Hvps {
    /// The worst normwise relative error of each AD product against the
    /// finite difference (all parameters together).
    pub fn vs_fd(&self) -> f64 {
        let fd = concat(&self.fd);
        [&self.fwd_over_rev, &self.rev_over_fwd, &self.rev_over_rev]
            .iter()
            .map(|h| rel_err(&concat(h), &fd, 1e-9))
            .fold(0.0, f64::max)
    }

    /// The worst normwise relative difference between the AD products.
    pub fn between(&self) -> f64 {
        let a = concat(&self.fwd_over_rev);
        let b = concat(&self.rev_over_fwd);
        let c = concat(&self.rev_over_rev);
        rel_err(&a, &b, 1e-13)
            .max(rel_err(&a, &c, 1e-13))
            .max(rel_err(&b, &c, 1e-13))
    }

    /// Whether the two finite differences disagree (by more than 1e-5
    /// relative): a kink lies within a step of the point, and the
    /// differences measure it rather than the Hessian.
    pub fn straddles_a_kink(&self) -> bool {
        rel_err(&concat(&self.fd), &concat(&self.fd_half), 1e-9) > 1e-5
    }

    /// The largest entry of the finite difference.
    pub fn fd_max(&self) -> f64 {
        concat(&self.fd).iter().fold(0.0f64, |m, x| m.max(x.abs()))
    }
}

/// The gradient and the three second-order graphs of one function,
/// prepared (compiled, for the JIT) on one engine.
pub struct Prepared {
    engine: Engine,
    k: usize,
    grad: adjoint::Prepared,
    fwd_over_rev: adjoint::Prepared,
    rev_over_fwd: adjoint::Prepared,
    rev_over_rev: adjoint::Prepared,
}

impl Prepared {
    /// Builds and prepares the graphs for `g` (one scalar `f64` output,
    /// `f64` parameters) on `engine`.
    pub fn new(g: &Graph, engine: Engine) -> Prepared {
        assert_eq!(g.outputs().len(), 1, "@{}: one scalar output", g.name());
        let wrt = g.param_names().join(",");
        let prep = |pipeline: &str| {
            engine
                .prepare(&common::run(g, pipeline))
                .unwrap_or_else(|e| panic!("{engine}: {pipeline} of @{}: {e}", g.name()))
        };
        Prepared {
            engine,
            k: g.params().len(),
            grad: prep("grad"),
            fwd_over_rev: prep("grad,jvp"),
            rev_over_fwd: prep(&format!("jvp,grad{{of=1,wrt={wrt}}}")),
            rev_over_rev: prep(&format!("grad,vjp{{wrt={wrt}}}")),
        }
    }

    fn run(&self, p: &adjoint::Prepared, args: &[Tensor]) -> Vec<Tensor> {
        p.run(args)
            .unwrap_or_else(|e| panic!("{}: {e}", self.engine))
    }

    /// The three Hessian-vector products at `xs` along `vs`, and the
    /// central differences of the gradient.
    pub fn at(&self, xs: &[Tensor], vs: &[Tensor]) -> Hvps {
        let k = self.k;
        assert_eq!(xs.len(), k);
        assert_eq!(vs.len(), k);
        let shifted = |h: f64| -> Vec<Vec<f64>> {
            let args: Vec<Tensor> = xs
                .iter()
                .zip(vs)
                .map(|(x, v)| {
                    let d: Vec<f64> = x
                        .to_f64_vec()
                        .iter()
                        .zip(v.to_f64_vec())
                        .map(|(a, b)| a + h * b)
                        .collect();
                    Tensor::from_f64_as(&x.ty(), &d).unwrap()
                })
                .collect();
            flat(&self.run(&self.grad, &args)[1..=k])
        };
        let central = |h: f64| -> Vec<Vec<f64>> {
            let (gp, gm) = (shifted(h), shifted(-h));
            gp.iter()
                .zip(&gm)
                .map(|(p, m)| p.iter().zip(m).map(|(a, b)| (a - b) / (2.0 * h)).collect())
                .collect()
        };
        let h = f64::EPSILON.cbrt();
        let (fd, fd_half) = (central(h), central(h / 2.0));

        let mut xv: Vec<Tensor> = xs.to_vec();
        xv.extend(vs.iter().cloned());
        // grad, then jvp: outputs [f, g_1..g_k, df, dg_1..dg_k].
        let fr = self.run(&self.fwd_over_rev, &xv);
        // jvp, then grad of the tangent: outputs [f, df, d(df)/dp_1..k].
        let rf = self.run(&self.rev_over_fwd, &xv);
        // grad, then vjp: parameters [p…, cot0, cot1..cotk], outputs
        // [f, g_1..g_k, p_cot…] with p_cot = cot0·∇f + H (cot1..cotk).
        let mut args: Vec<Tensor> = xs.to_vec();
        args.push(Tensor::scalar_f64(0.0));
        args.extend(vs.iter().cloned());
        let rr = self.run(&self.rev_over_rev, &args);
        Hvps {
            fwd_over_rev: flat(&fr[k + 2..2 * k + 2]),
            rev_over_fwd: flat(&rf[2..k + 2]),
            rev_over_rev: flat(&rr[k + 1..2 * k + 1]),
            fd,
            fd_half,
        }
    }
}

/// The three Hessian-vector products of `g` (one scalar `f64` output,
/// `f64` parameters) at `xs` along `vs`, and the central differences of
/// the gradient, all evaluated with `engine`.
pub fn hvps(g: &Graph, xs: &[Tensor], vs: &[Tensor], engine: Engine) -> Hvps {
    Prepared::new(g, engine).at(xs, vs)
}

/// Random inputs in `[lo, hi)` and directions in `[-1, 1)` for the
/// parameters of `g`.
pub fn point(g: &Graph, lo: f64, hi: f64, seed: u64) -> (Vec<Tensor>, Vec<Tensor>) {
    let mut r = common::Rng(seed);
    let tys = g.param_types();
    let xs = tys.iter().map(|t| r.tensor(t, lo, hi)).collect();
    let vs = tys.iter().map(|t| r.tensor(t, -1.0, 1.0)).collect();
    (xs, vs)
}
