//! Rosenbrock minimised by Newton-CG, with Hessian-vector products from the
//! pipeline `grad,jvp{wrt=x}` (forward-over-reverse), compiled once.
//!
//! Each Newton step solves `H p = -g` by conjugate gradients, where every
//! `H v` is one call of the compiled function; a backtracking line search
//! keeps the step a descent step. The minimum is (1, …, 1).
//!
//! Run with `cargo run --release --example newton`.

use adjoint::ir::{Error, GraphBuilder, Result, Tensor, TensorType, Value};
use adjoint::jit::{compile, CompiledFn, JitOptions};
use adjoint::passes::PassManager;

const N: usize = 100;

/// sum(100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)
fn rosenbrock(x: Value<'_>) -> Value<'_> {
    let n = x.shape().dims()[0];
    let hi = x.slice(&[1], &[n]);
    let lo = x.slice(&[0], &[n - 1]);
    let d = hi - lo * lo;
    let e = 1.0 - lo;
    (100.0 * d * d + e * e).sum()
}

struct Problem {
    /// (x, v) -> (f, grad, df·v, H v)
    hvp: CompiledFn,
}

impl Problem {
    fn eval(&self, x: &[f64], v: &[f64]) -> Result<(f64, Vec<f64>, Vec<f64>)> {
        let t = |d: &[f64]| Tensor::from_f64([N], d.to_vec());
        let out = self.hvp.run(&[t(x)?, t(v)?])?;
        let f = out[0].scalar_value().unwrap_or(f64::NAN);
        Ok((f, out[1].to_f64_vec(), out[3].to_f64_vec()))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Truncated CG for H p = -g; stops at negative curvature.
fn newton_direction(p: &Problem, x: &[f64], g: &[f64]) -> Result<(Vec<f64>, usize)> {
    let mut d = vec![0.0; N];
    let mut r: Vec<f64> = g.iter().map(|v| -v).collect();
    let mut s = r.clone();
    let gnorm = dot(g, g).sqrt();
    let tol = (0.5f64).min(gnorm.sqrt()) * gnorm;
    let mut rr = dot(&r, &r);
    for k in 0..(2 * N) {
        let (_, _, hs) = p.eval(x, &s)?;
        let curv = dot(&s, &hs);
        if curv <= 0.0 {
            if k == 0 {
                return Ok((r, k + 1));
            }
            return Ok((d, k + 1));
        }
        let alpha = rr / curv;
        for i in 0..N {
            d[i] += alpha * s[i];
            r[i] -= alpha * hs[i];
        }
        let rr_new = dot(&r, &r);
        if rr_new.sqrt() <= tol {
            return Ok((d, k + 1));
        }
        let beta = rr_new / rr;
        rr = rr_new;
        for i in 0..N {
            s[i] = r[i] + beta * s[i];
        }
    }
    Ok((d, 2 * N))
}

fn main() -> Result<()> {
    let b = GraphBuilder::new("rosen");
    let x = b.param("x", TensorType::f64([N]));
    let mut g = b.build(&[rosenbrock(x)])?;
    PassManager::parse("grad,jvp{wrt=x},simplify,cse,dce")?.run(&mut g)?;
    let p = Problem {
        hvp: compile(&g, &JitOptions::default())?,
    };

    // The classic hard start: (-1.2, 1, -1.2, 1, ...).
    let mut x: Vec<f64> = (0..N)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect();
    let zero = vec![0.0; N];
    println!("Newton-CG on the {N}-dimensional Rosenbrock function (every 25th iteration shown)");
    println!("iter  f(x)                    |grad|        CG its  step");
    let t0 = std::time::Instant::now();
    for it in 0..2000 {
        let (f, grad, _) = p.eval(&x, &zero)?;
        let gn = dot(&grad, &grad).sqrt();
        if gn < 1e-10 {
            println!("{it:4}  {f:<22.15e}  {gn:.3e}  converged");
            break;
        }
        let (d, cg) = newton_direction(&p, &x, &grad)?;
        // Backtracking (Armijo) line search.
        let slope = dot(&grad, &d);
        let mut t = 1.0;
        let mut xn: Vec<f64>;
        loop {
            xn = x.iter().zip(&d).map(|(a, b)| a + t * b).collect();
            let (fnew, _, _) = p.eval(&xn, &zero)?;
            if fnew <= f + 1e-4 * t * slope || t < 1e-12 {
                break;
            }
            t *= 0.5;
        }
        if it < 10 || it % 25 == 0 || gn < 1e-3 {
            println!("{it:4}  {f:<22.15e}  {gn:.3e}  {cg:6}  {t}");
        }
        x = xn;
    }
    println!("time: {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    let err = x.iter().map(|v| (v - 1.0).abs()).fold(0.0, f64::max);
    println!(
        "final point: x[0..4] = {:?} …, max |x_i - 1| = {err:.2e}",
        &x[..4]
    );
    if err > 1e-8 {
        return Err(Error::eval(format!(
            "Newton-CG did not reach (1, …, 1) to 1e-8 (max error {err:.2e})"
        )));
    }
    Ok(())
}
