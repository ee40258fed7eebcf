//! Recovering the parameters of the Lorenz system from a noisy trajectory.
//!
//! - Model: dx/dt = σ(y − x), dy/dt = x(ρ − z) − y, dz/dt = xy − βz from
//!   (1, 1, 1), integrated by classic RK4 steps of `dt` as one `scan` (the
//!   step is the loop body, compiled once, not unrolled).
//! - Data: the trajectory at σ = 10, ρ = 28, β = 8/3, plus deterministic
//!   uniform noise.
//! - Fit: Levenberg–Marquardt (damped Gauss–Newton) on the squared error,
//!   from σ = 8, ρ = 25, β = 2. The `jacobian{mode=fwd}` pass gives the
//!   trajectory's Jacobian with respect to (σ, ρ, β) through the scan; the
//!   3×3 normal equations are solved on the host.
//! - Output: the loss per iteration, the recovered parameters (checked to
//!   be within 1% of the truth: the example fails otherwise), and
//!   `lorenz_fit.png` with the observed, initial and fitted trajectories
//!   and the loss.
//!
//! Run with `cargo run --release --example lorenz_fit`.

#[path = "common/jit.rs"]
mod jit;
#[path = "common/plot.rs"]
mod plot;
#[path = "common/rng.rs"]
mod rng;

use adjoint::ir::{DType, Error, Graph, GraphBuilder, Result, ScanOpts, Tensor, TensorType, Value};
use adjoint::jit::CompiledFn;
use adjoint::passes::PassManager;
use plot::{Labels, Series, YScale};
use plotters::prelude::*;
use rng::Rng;
use std::path::Path;
use std::time::Instant;

/// The parameters that made the data.
pub const TRUTH: [f64; 3] = [10.0, 28.0, 8.0 / 3.0];
/// Where the fit starts.
pub const START: [f64; 3] = [8.0, 25.0, 2.0];
/// The largest relative error of a recovered parameter that counts as
/// recovered.
pub const TOLERANCE: f64 = 0.01;

/// The sizes of one run.
pub struct Config {
    /// RK4 steps (observations per coordinate).
    pub steps: usize,
    /// The step size.
    pub dt: f64,
    /// The observation noise: uniform in ±`noise`.
    pub noise: f64,
    /// The most Levenberg–Marquardt iterations.
    pub max_iters: usize,
}

impl Config {
    /// The full example: 400 steps to t = 4.
    pub fn full() -> Config {
        Config {
            steps: 400,
            dt: 0.01,
            noise: 0.5,
            max_iters: 30,
        }
    }

    /// A short run for the tests: 80 steps.
    pub fn quick() -> Config {
        Config {
            steps: 80,
            ..Config::full()
        }
    }
}

/// What a run found.
pub struct Fit {
    /// The recovered (σ, ρ, β).
    pub theta: [f64; 3],
    /// The mean squared error after each iteration (index 0: at the start).
    pub losses: Vec<f64>,
}

/// The Lorenz vector field.
fn lorenz<'c>([x, y, z]: [Value<'c>; 3], [s, r, b]: [Value<'c>; 3]) -> [Value<'c>; 3] {
    [s * (y - x), x * (r - z) - y, x * y - b * z]
}

/// One classic Runge–Kutta step of size `dt`.
fn rk4<'c>(u: [Value<'c>; 3], th: [Value<'c>; 3], dt: f64) -> [Value<'c>; 3] {
    let axpy = |a: f64, k: [Value<'c>; 3]| [0, 1, 2].map(|i| u[i] + k[i] * a);
    let k1 = lorenz(u, th);
    let k2 = lorenz(axpy(dt / 2.0, k1), th);
    let k3 = lorenz(axpy(dt / 2.0, k2), th);
    let k4 = lorenz(axpy(dt, k3), th);
    [0, 1, 2].map(|i| u[i] + (k1[i] + k2[i] * 2.0 + k3[i] * 2.0 + k4[i]) * (dt / 6.0))
}

/// `(sigma, rho, beta) -> trajectory: f64[steps, 3]`, the states after
/// each step, as a `scan` whose body is one RK4 step.
fn trajectory_graph(cfg: &Config) -> Result<Graph> {
    let b = GraphBuilder::new("lorenz");
    let th = ["sigma", "rho", "beta"].map(|n| b.param(n, TensorType::f64([])));
    let one = b.scalar(1.0, DType::F64);
    let opts = ScanOpts {
        reverse: false,
        length: Some(cfg.steps),
    };
    let (_, ys) = b.try_scan_with(opts, &[one, one, one], &[], |b, c, _| {
        let u = rk4([c[0], c[1], c[2]], th, cfg.dt);
        let state = b.try_concat(&u.map(|v| v.reshape([1])), 0)?;
        Ok((u.to_vec(), vec![state]))
    })?;
    b.build(&[ys[0]])
}

/// Deterministic uniform noise in [-1, 1).
fn noise(n: usize) -> Vec<f64> {
    let mut rng = Rng(0x4c6f_7265_6e7a_2121);
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn scalars(theta: &[f64; 3]) -> Vec<Tensor> {
    theta.iter().map(|&v| Tensor::scalar_f64(v)).collect()
}

/// Solves the 3×3 system `a x = b` by Gaussian elimination with partial
/// pivoting; `None` when it is singular.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let p = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[p][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, p);
        b.swap(col, p);
        let pivot = a[col];
        for r in col + 1..3 {
            let f = a[r][col] / pivot[col];
            for (x, p) in a[r].iter_mut().zip(pivot).skip(col) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for r in (0..3).rev() {
        let s: f64 = (r + 1..3).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

fn mse(traj: &[f64], obs: &[f64]) -> f64 {
    traj.iter()
        .zip(obs)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / obs.len() as f64
}

/// Runs the fit with `cfg` and writes the plot to `png`.
pub fn run(cfg: &Config, png: &Path) -> Result<Fit> {
    let model = trajectory_graph(cfg)?;
    let t0 = Instant::now();
    let mut with_jac = model.clone();
    PassManager::parse("jacobian{of=0,wrt=sigma,rho,beta,mode=fwd},simplify,cse,dce")?
        .run(&mut with_jac)?;
    let simulate = jit::compile_reporting("trajectory", &model)?;
    let linearise = jit::compile_reporting("trajectory and Jacobian", &with_jac)?;
    println!(
        "{} RK4 steps of dt = {} as one scan; differentiated and compiled in {:.1} ms",
        cfg.steps,
        cfg.dt,
        t0.elapsed().as_secs_f64() * 1e3
    );

    let truth = simulate.run(&scalars(&TRUTH))?[0].to_f64_vec();
    let obs: Vec<f64> = truth
        .iter()
        .zip(noise(truth.len()))
        .map(|(v, e)| v + cfg.noise * e)
        .collect();
    let initial = simulate.run(&scalars(&START))?[0].to_f64_vec();

    let t_fit = Instant::now();
    let (theta, losses) = levenberg_marquardt(&linearise, &simulate, &obs, cfg.max_iters)?;
    let fitted = simulate.run(&scalars(&theta))?[0].to_f64_vec();
    println!(
        "recovered σ = {:.4}, ρ = {:.4}, β = {:.4} (true 10, 28, 8/3 = {:.4}) in {} iterations, {:.1} ms",
        theta[0],
        theta[1],
        theta[2],
        TRUTH[2],
        losses.len() - 1,
        t_fit.elapsed().as_secs_f64() * 1e3
    );

    plot_fit(png, cfg, &obs, &initial, &fitted, &losses)
        .map_err(|e| Error::input(format!("writing {}: {e}", png.display())))?;
    println!("wrote {}", png.display());

    let worst = (0..3)
        .map(|i| ((theta[i] - TRUTH[i]) / TRUTH[i]).abs())
        .fold(0.0, f64::max);
    if worst.is_nan() || worst > TOLERANCE {
        return Err(Error::eval(format!(
            "the fit missed: a parameter is {:.2}% off (tolerance {:.0}%)",
            worst * 100.0,
            TOLERANCE * 100.0
        )));
    }
    println!(
        "all three within {:.2}% of the truth (tolerance {:.0}%)",
        worst * 100.0,
        TOLERANCE * 100.0
    );
    Ok(Fit { theta, losses })
}

/// Minimises the mean squared error between the trajectory and `obs`
/// from [`START`]; returns the parameters and the loss history.
fn levenberg_marquardt(
    linearise: &CompiledFn,
    simulate: &CompiledFn,
    obs: &[f64],
    max_iters: usize,
) -> Result<([f64; 3], Vec<f64>)> {
    let mut theta = START;
    let mut lambda = 1e-3;
    let mut losses = Vec::new();
    for it in 0..max_iters {
        let out = linearise.run(&scalars(&theta))?;
        let traj = out[0].to_f64_vec();
        let jac: Vec<Vec<f64>> = out[1..4].iter().map(Tensor::to_f64_vec).collect();
        let loss = mse(&traj, obs);
        if it == 0 {
            losses.push(loss);
            println!(
                "iteration  0: loss {loss:.6}  σ {:.4}  ρ {:.4}  β {:.4}",
                theta[0], theta[1], theta[2]
            );
        }
        // Normal equations of the residual r = traj - obs: (JᵀJ + λ diag) δ = -Jᵀr.
        let mut jtj = [[0.0; 3]; 3];
        let mut jtr = [0.0; 3];
        for n in 0..obs.len() {
            let r = traj[n] - obs[n];
            for i in 0..3 {
                jtr[i] += jac[i][n] * r;
                for j in 0..3 {
                    jtj[i][j] += jac[i][n] * jac[j][n];
                }
            }
        }
        let accepted = loop {
            let mut a = jtj;
            for (i, row) in a.iter_mut().enumerate() {
                row[i] += lambda * jtj[i][i];
            }
            let step = solve3(a, jtr.map(|v| -v))
                .ok_or_else(|| Error::eval("singular normal equations"))?;
            let cand = [0, 1, 2].map(|i| theta[i] + step[i]);
            let cand_loss = mse(&simulate.run(&scalars(&cand))?[0].to_f64_vec(), obs);
            if cand_loss <= loss {
                lambda = (lambda / 10.0).max(1e-12);
                break Some((cand, cand_loss));
            }
            lambda *= 10.0;
            if lambda > 1e10 {
                break None;
            }
        };
        let Some((cand, cand_loss)) = accepted else {
            break; // no step lowers the loss: converged
        };
        let change = (0..3)
            .map(|i| ((cand[i] - theta[i]) / theta[i]).abs())
            .fold(0.0, f64::max);
        theta = cand;
        losses.push(cand_loss);
        println!(
            "iteration {:2}: loss {cand_loss:.6}  σ {:.4}  ρ {:.4}  β {:.4}",
            it + 1,
            theta[0],
            theta[1],
            theta[2]
        );
        if change < 1e-8 || loss - cand_loss <= 1e-12 * loss {
            break; // converged
        }
    }
    Ok((theta, losses))
}

fn plot_fit(
    png: &Path,
    cfg: &Config,
    obs: &[f64],
    initial: &[f64],
    fitted: &[f64],
    losses: &[f64],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(png, (1400, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(800);
    let rows = left.split_evenly((3, 1));
    let coord = |data: &[f64], k: usize| -> Vec<(f64, f64)> {
        data.chunks(3)
            .enumerate()
            .map(|(t, s)| ((t + 1) as f64 * cfg.dt, s[k]))
            .collect()
    };
    for (k, (area, name)) in rows.iter().zip(["x", "y", "z"]).enumerate() {
        let title = format!("Lorenz system: {name}(t), observed and fitted");
        let series = [
            Series::dots(
                "observed (noisy)",
                coord(obs, k),
                RGBColor(120, 120, 120),
                2,
            ),
            Series::line(
                "initial guess σ=8 ρ=25 β=2",
                coord(initial, k),
                RGBColor(230, 150, 40),
                1,
            ),
            Series::line("fitted", coord(fitted, k), RGBColor(30, 80, 200), 2),
        ];
        plot::line_chart(
            area,
            &Labels {
                title: &title,
                x: "time t",
                y: name,
            },
            &series,
            YScale::Linear,
        )?;
    }
    let loss_points: Vec<(f64, f64)> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as f64, l))
        .collect();
    plot::line_chart(
        &right,
        &Labels {
            title: "Levenberg–Marquardt: loss per iteration",
            x: "iteration",
            y: "mean squared error (log scale)",
        },
        &[
            Series::line("loss", loss_points.clone(), RGBColor(200, 40, 40), 2),
            Series::dots("", loss_points, RGBColor(200, 40, 40), 4),
        ],
        YScale::Log,
    )?;
    root.present()?;
    Ok(())
}

fn main() {
    if let Err(e) = run(&Config::full(), Path::new("lorenz_fit.png")) {
        eprintln!("lorenz_fit: {e}");
        std::process::exit(1);
    }
}
