//! An Elman recurrent network trained to continue sine waves.
//!
//! - Task: each sequence is `sin(ω t + φ)` with its own frequency ω and
//!   phase φ; at every step the network reads the current value and
//!   predicts the next one, so it must infer ω from what it has seen.
//!   Training and held-out sequences are drawn independently
//!   (deterministically, in code).
//! - Model: `h_t = tanh(x_t Wx + h_{t-1} Wh + b)`, `y_t = h_t Wy + c`, f32,
//!   run over the sequence as one `scan` (the cell is the loop body).
//! - Gradient: `grad{wrt=wx,wh,b,wy,c}` through the scan (a forward scan
//!   that stacks the residuals, then the transposed body backwards); Adam
//!   runs on the host.
//! - Output: the training loss as it goes, the held-out error against two
//!   baselines (predicting 0, and repeating the current value), and
//!   `rnn.png` with the loss curves and a held-out sequence. The example
//!   fails unless the network beats both baselines by a wide margin.
//!
//! Run with `cargo run --release --example rnn`.

#[path = "common/jit.rs"]
mod jit;
#[path = "common/plot.rs"]
mod plot;
#[path = "common/rng.rs"]
mod rng;

use adjoint::ir::{Error, Graph, GraphBuilder, Result, Tensor, TensorType};
use adjoint::jit::CompiledFn;
use adjoint::passes::PassManager;
use plot::{Labels, Series, YScale};
use plotters::prelude::*;
use rng::Rng;
use std::path::Path;
use std::time::Instant;

/// The sizes of one run.
pub struct Config {
    /// Hidden units.
    pub hidden: usize,
    /// Steps per sequence.
    pub seq_len: usize,
    /// Sequences per minibatch.
    pub batch: usize,
    /// Training sequences (a multiple of `batch`).
    pub train: usize,
    /// Held-out sequences.
    pub held_out: usize,
    /// Adam steps.
    pub steps: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The held-out error must be at most this fraction of the better
    /// baseline's.
    pub must_beat: f64,
}

impl Config {
    /// The full example.
    pub fn full() -> Config {
        Config {
            hidden: 24,
            seq_len: 40,
            batch: 32,
            train: 512,
            held_out: 256,
            steps: 800,
            lr: 0.01,
            must_beat: 0.1,
        }
    }

    /// A short run for the tests.
    pub fn quick() -> Config {
        Config {
            hidden: 8,
            seq_len: 20,
            batch: 16,
            train: 64,
            held_out: 32,
            steps: 60,
            lr: 0.02,
            must_beat: 0.5,
        }
    }
}

/// What a run found.
pub struct Trained {
    /// The minibatch loss at each step.
    pub train_losses: Vec<f64>,
    /// (step, held-out mean squared error), at the start and along the way.
    pub held_out: Vec<(usize, f64)>,
    /// The better baseline's held-out error.
    pub baseline: f64,
}

/// Parameter names and types, in order.
fn param_types(cfg: &Config) -> Vec<(&'static str, TensorType)> {
    let h = cfg.hidden;
    vec![
        ("wx", TensorType::f32([1, h])),
        ("wh", TensorType::f32([h, h])),
        ("b", TensorType::f32([h])),
        ("wy", TensorType::f32([h, 1])),
        ("c", TensorType::f32([1])),
    ]
}

/// `(params..., xs: f32[T, B, 1], targets: f32[T, B, 1]) -> (loss, preds)`:
/// the cell is the body of one `scan` over the sequence.
fn model(cfg: &Config, batch: usize) -> Result<Graph> {
    let b = GraphBuilder::new("rnn");
    let p: Vec<_> = param_types(cfg)
        .into_iter()
        .map(|(n, t)| b.param(n, t))
        .collect();
    let seq = TensorType::f32([cfg.seq_len, batch, 1]);
    let xs = b.param("xs", seq.clone());
    let targets = b.param("targets", seq);
    let h0 = b.full(&TensorType::f32([batch, cfg.hidden]), 0.0);
    let (_, ys) = b.try_scan(&[h0], &[xs], |_, h, x| {
        let h = (x[0].try_matmul(p[0])? + h[0].try_matmul(p[1])? + p[2]).tanh();
        let y = h.try_matmul(p[3])? + p[4];
        Ok((vec![h], vec![y]))
    })?;
    let loss = ys[0].try_mse(targets)?;
    b.build(&[loss, ys[0]])
}

/// `n` sequences of `len + 1` samples of `sin(ω t + φ)`: inputs are the
/// first `len`, targets the last `len`, both laid out `[len, n, 1]`.
fn waves(n: usize, len: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let mut xs = vec![0.0; len * n];
    let mut ys = vec![0.0; len * n];
    for i in 0..n {
        let (w, phi) = (
            rng.uniform(0.15, 0.6),
            rng.uniform(0.0, std::f64::consts::TAU),
        );
        for t in 0..len {
            xs[t * n + i] = (w * t as f64 + phi).sin();
            ys[t * n + i] = (w * (t + 1) as f64 + phi).sin();
        }
    }
    (xs, ys)
}

/// Columns `lo..hi` of a `[len, n, 1]` layout.
fn columns(data: &[f64], n: usize, lo: usize, hi: usize) -> Vec<f64> {
    data.chunks(n)
        .flat_map(|row| row[lo..hi].iter().copied())
        .collect()
}

fn seq_tensor(cfg: &Config, batch: usize, data: &[f64]) -> Result<Tensor> {
    Tensor::from_f64_as(&TensorType::f32([cfg.seq_len, batch, 1]), data)
}

/// Runs `prep` on `params` and the sequences `xs`, `ys` of `batch` columns.
fn evaluate(
    prep: &CompiledFn,
    cfg: &Config,
    batch: usize,
    params: &[Tensor],
    xs: &[f64],
    ys: &[f64],
) -> Result<Vec<Tensor>> {
    let mut inputs = params.to_vec();
    inputs.push(seq_tensor(cfg, batch, xs)?);
    inputs.push(seq_tensor(cfg, batch, ys)?);
    prep.run(&inputs)
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

/// Trains with `cfg` and writes the plot to `png`.
pub fn run(cfg: &Config, png: &Path) -> Result<Trained> {
    let mut rng = Rng(0x5eed_0000_7777_0042);
    let (train_x, train_y) = waves(cfg.train, cfg.seq_len, &mut rng);
    let (test_x, test_y) = waves(cfg.held_out, cfg.seq_len, &mut rng);

    let t0 = Instant::now();
    let mut step_graph = model(cfg, cfg.batch)?;
    PassManager::parse("grad{of=0,wrt=wx,wh,b,wy,c},simplify,cse,dce")?.run(&mut step_graph)?;
    let step = jit::compile_reporting("loss and gradient", &step_graph)?;
    let eval = jit::compile_reporting("held-out loss", &model(cfg, cfg.held_out)?)?;
    println!(
        "Elman RNN, {} hidden units, sequences of {}; differentiated and compiled in {:.1} ms",
        cfg.hidden,
        cfg.seq_len,
        t0.elapsed().as_secs_f64() * 1e3
    );

    // Deterministic Glorot-style initialisation.
    let types = param_types(cfg);
    let mut params: Vec<Vec<f64>> = types
        .iter()
        .map(|(name, ty)| {
            let scale = match *name {
                "wx" | "wy" => 1.0 / (ty.shape.dims()[0] as f64).sqrt(),
                "wh" => 0.5 / (cfg.hidden as f64).sqrt(),
                _ => 0.0,
            };
            (0..ty.numel()).map(|_| scale * rng.normal()).collect()
        })
        .collect();
    let to_tensors = |params: &[Vec<f64>]| -> Result<Vec<Tensor>> {
        types
            .iter()
            .zip(params)
            .map(|((_, ty), v)| Tensor::from_f64_as(ty, v))
            .collect()
    };
    let held_out_loss = |params: &[Vec<f64>]| -> Result<(f64, Vec<f64>)> {
        let out = evaluate(
            &eval,
            cfg,
            cfg.held_out,
            &to_tensors(params)?,
            &test_x,
            &test_y,
        )?;
        Ok((out[0].to_f64_vec()[0], out[1].to_f64_vec()))
    };

    let baseline = mse(&vec![0.0; test_y.len()], &test_y).min(mse(&test_x, &test_y));
    let (first, _) = held_out_loss(&params)?;
    println!(
        "held-out error before training {first:.5}; baselines: predict 0 {:.5}, repeat the current value {:.5}",
        mse(&vec![0.0; test_y.len()], &test_y),
        mse(&test_x, &test_y)
    );

    let mut m: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut v = m.clone();
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let mut train_losses = Vec::with_capacity(cfg.steps);
    let mut held_out = vec![(0, first)];
    let report_every = (cfg.steps / 8).max(1);
    let eval_every = (cfg.steps / 40).max(1);
    let t_train = Instant::now();
    let batches = cfg.train / cfg.batch;
    for it in 0..cfg.steps {
        let k = it % batches;
        let xb = columns(&train_x, cfg.train, k * cfg.batch, (k + 1) * cfg.batch);
        let yb = columns(&train_y, cfg.train, k * cfg.batch, (k + 1) * cfg.batch);
        let out = evaluate(&step, cfg, cfg.batch, &to_tensors(&params)?, &xb, &yb)?;
        let loss = out[0].to_f64_vec()[0];
        train_losses.push(loss);
        let t = (it + 1) as i32;
        for (j, p) in params.iter_mut().enumerate() {
            let g = out[2 + j].to_f64_vec();
            for i in 0..p.len() {
                m[j][i] = beta1 * m[j][i] + (1.0 - beta1) * g[i];
                v[j][i] = beta2 * v[j][i] + (1.0 - beta2) * g[i] * g[i];
                let mh = m[j][i] / (1.0 - beta1.powi(t));
                let vh = v[j][i] / (1.0 - beta2.powi(t));
                p[i] -= cfg.lr * mh / (vh.sqrt() + eps);
            }
        }
        let (report, last_step) = ((it + 1) % report_every == 0, it + 1 == cfg.steps);
        if (it + 1) % eval_every == 0 || report || last_step {
            let (h, _) = held_out_loss(&params)?;
            held_out.push((it + 1, h));
            if report || last_step {
                println!("step {:4}: train loss {loss:.5}  held-out {h:.5}", it + 1);
            }
        }
    }
    let secs = t_train.elapsed().as_secs_f64();
    let (last, preds) = held_out_loss(&params)?;
    println!(
        "held-out error {last:.5} on {} sequences ({:.1}% of the better baseline's); {} steps in {:.2} s",
        cfg.held_out,
        100.0 * last / baseline,
        cfg.steps,
        secs
    );

    plot_training(
        png,
        cfg,
        &train_losses,
        &held_out,
        baseline,
        &test_x,
        &test_y,
        &preds,
    )
    .map_err(|e| Error::input(format!("writing {}: {e}", png.display())))?;
    println!("wrote {}", png.display());

    if !(last < first && last <= cfg.must_beat * baseline) {
        return Err(Error::eval(format!(
            "training did not help enough: held-out error {last:.5} (before {first:.5}; \
             required at most {:.5}, {} × the baseline)",
            cfg.must_beat * baseline,
            cfg.must_beat
        )));
    }
    Ok(Trained {
        train_losses,
        held_out,
        baseline,
    })
}

#[allow(clippy::too_many_arguments)]
fn plot_training(
    png: &Path,
    cfg: &Config,
    train_losses: &[f64],
    held_out: &[(usize, f64)],
    baseline: f64,
    test_x: &[f64],
    test_y: &[f64],
    preds: &[f64],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(png, (1300, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(680);
    let steps = train_losses.len() as f64;
    plot::line_chart(
        &left,
        &Labels {
            title: "Elman RNN: mean squared error",
            x: "Adam step",
            y: "loss (log scale)",
        },
        &[
            Series::line(
                "training minibatch",
                train_losses
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| ((i + 1) as f64, l))
                    .collect(),
                RGBColor(150, 170, 230),
                1,
            ),
            Series::line(
                "held-out",
                held_out.iter().map(|&(s, l)| (s as f64, l)).collect(),
                RGBColor(200, 40, 40),
                2,
            ),
            Series::line(
                "best baseline",
                vec![(0.0, baseline), (steps, baseline)],
                RGBColor(120, 120, 120),
                1,
            ),
        ],
        YScale::Log,
    )?;
    // One held-out sequence: column 0 of the [T, n, 1] layout.
    let n = cfg.held_out;
    let col = |d: &[f64], shift: usize| -> Vec<(f64, f64)> {
        d.iter()
            .step_by(n)
            .enumerate()
            .map(|(t, &v)| ((t + shift) as f64, v))
            .collect()
    };
    plot::line_chart(
        &right,
        &Labels {
            title: "A held-out sequence: next value",
            x: "time step t",
            y: "sin(ωt + φ)",
        },
        &[
            Series::dots("input x(t)", col(test_x, 0), RGBColor(120, 120, 120), 3),
            Series::line("target x(t+1)", col(test_y, 1), RGBColor(40, 40, 40), 1),
            Series::line("prediction", col(preds, 1), RGBColor(30, 80, 200), 2),
        ],
        YScale::Linear,
    )?;
    root.present()?;
    Ok(())
}

fn main() {
    if let Err(e) = run(&Config::full(), Path::new("rnn.png")) {
        eprintln!("rnn: {e}");
        std::process::exit(1);
    }
}
