//! micrograd's demo, done as a compiler would do it: a two-moons
//! classifier trained with a JIT-compiled loss-and-gradient function.
//!
//! - Data: two interleaved half-moons with Gaussian noise, generated
//!   deterministically in code, split into train and held-out sets.
//! - Model: an MLP 2-32-32-2 with tanh hidden layers, softmax cross-entropy.
//! - Gradient: `grad{wrt=...},simplify,cse,dce` on the loss graph, compiled
//!   once by Cranelift; Adam runs on the host.
//! - Output: a progress bar with loss and accuracy, the held-out accuracy,
//!   training throughput, and `train_mlp.png` with the loss curve and the
//!   decision boundary.
//!
//! Run with `cargo run --release --example train_mlp`.

#[path = "common/plot.rs"]
mod plot;
#[path = "common/rng.rs"]
mod rng;

use adjoint::ir::{GraphBuilder, Result, Tensor, TensorType, Value};
use adjoint::jit::{compile, CompiledFn, JitOptions};
use adjoint::passes::PassManager;
use indicatif::{ProgressBar, ProgressStyle};
use plot::{Labels, Series, YScale};
use plotters::prelude::*;
use rng::Rng;
use std::time::Instant;

const HIDDEN: usize = 32;
const BATCH: usize = 200;
const STEPS: usize = 1500;
const GRID: usize = 120;

/// `n` points of two moons with noise `sd`: (x, y) pairs and labels 0/1.
fn two_moons(n: usize, sd: f64, rng: &mut Rng) -> (Vec<[f32; 2]>, Vec<usize>) {
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for i in 0..n {
        let label = i % 2;
        let t = std::f64::consts::PI * rng.next_f64();
        let (x, y) = if label == 0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        };
        xs.push([
            (x + sd * rng.normal()) as f32,
            (y + sd * rng.normal()) as f32,
        ]);
        ys.push(label);
    }
    (xs, ys)
}

/// Parameter shapes, in order: w1, b1, w2, b2, w3, b3.
fn param_types() -> Vec<(&'static str, TensorType)> {
    vec![
        ("w1", TensorType::f32([2, HIDDEN])),
        ("b1", TensorType::f32([HIDDEN])),
        ("w2", TensorType::f32([HIDDEN, HIDDEN])),
        ("b2", TensorType::f32([HIDDEN])),
        ("w3", TensorType::f32([HIDDEN, 2])),
        ("b3", TensorType::f32([2])),
    ]
}

fn logits<'b>(x: Value<'b>, p: &[Value<'b>]) -> Value<'b> {
    let h1 = (x.matmul(p[0]) + p[1]).tanh();
    let h2 = (h1.matmul(p[2]) + p[3]).tanh();
    h2.matmul(p[4]) + p[5]
}

/// `(params..., x, labels) -> (loss, dloss/dparams...)`, compiled.
fn compile_step() -> Result<CompiledFn> {
    let b = GraphBuilder::new("step");
    let params: Vec<Value> = param_types()
        .into_iter()
        .map(|(n, t)| b.param(n, t))
        .collect();
    let x = b.param("x", TensorType::f32([BATCH, 2]));
    let y = b.param("labels", TensorType::f32([BATCH, 2]));
    let loss = logits(x, &params).cross_entropy(y);
    let mut g = b.build(&[loss])?;
    PassManager::parse("grad{wrt=w1,b1,w2,b2,w3,b3},simplify,cse,dce")?.run(&mut g)?;
    compile(&g, &JitOptions::default())
}

/// `(params..., x) -> predicted class scores`, compiled for `n` points.
fn compile_predict(n: usize) -> Result<CompiledFn> {
    let b = GraphBuilder::new("predict");
    let params: Vec<Value> = param_types()
        .into_iter()
        .map(|(n, t)| b.param(n, t))
        .collect();
    let x = b.param("x", TensorType::f32([n, 2]));
    let g = b.build(&[logits(x, &params)])?;
    compile(&g, &JitOptions::default())
}

fn points_tensor(xs: &[[f32; 2]]) -> Tensor {
    let data = xs.iter().flat_map(|p| p.iter().copied()).collect();
    Tensor::from_f32([xs.len(), 2], data).expect("shape matches")
}

fn predict(f: &CompiledFn, params: &[Tensor], xs: &[[f32; 2]]) -> Result<Vec<usize>> {
    let mut inputs = params.to_vec();
    inputs.push(points_tensor(xs));
    let out = f.run(&inputs)?;
    let s = out[0].as_f32().expect("f32 logits");
    Ok(s.chunks(2).map(|c| usize::from(c[1] > c[0])).collect())
}

fn accuracy(pred: &[usize], ys: &[usize]) -> f64 {
    pred.iter().zip(ys).filter(|(a, b)| a == b).count() as f64 / ys.len() as f64
}

fn main() -> Result<()> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (train_x, train_y) = two_moons(1000, 0.1, &mut rng);
    let (test_x, test_y) = two_moons(400, 0.1, &mut rng);

    let t0 = Instant::now();
    let step = compile_step()?;
    let predict_train = compile_predict(train_x.len())?;
    let predict_test = compile_predict(test_x.len())?;
    let predict_grid = compile_predict(GRID * GRID)?;
    println!(
        "compiled loss+gradient and 3 predictors in {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );

    // Glorot-style deterministic initialisation.
    let mut params: Vec<Tensor> = param_types()
        .iter()
        .map(|(name, ty)| {
            let fan_in = ty.shape.dims()[0] as f64;
            let scale = if name.starts_with('w') {
                (1.0 / fan_in).sqrt()
            } else {
                0.0
            };
            let v: Vec<f64> = (0..ty.numel()).map(|_| scale * rng.normal()).collect();
            Tensor::from_f64_as(ty, &v).expect("shape matches")
        })
        .collect();
    let mut m: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut v = m.clone();
    let (lr, beta1, beta2, eps) = (0.01f32, 0.9f32, 0.999f32, 1e-8f32);

    let bar = ProgressBar::new(STEPS as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}").expect("valid template"),
    );
    let mut losses = Vec::with_capacity(STEPS);
    let mut order: Vec<usize> = (0..train_x.len()).collect();
    let t_train = Instant::now();
    for it in 0..STEPS {
        let start = (it * BATCH) % train_x.len();
        if start == 0 {
            // Shuffle each epoch (Fisher-Yates, deterministic).
            for i in (1..order.len()).rev() {
                let j = (rng.next_f64() * (i + 1) as f64) as usize;
                order.swap(i, j.min(i));
            }
        }
        let idx = &order[start..start + BATCH];
        let xb: Vec<[f32; 2]> = idx.iter().map(|&i| train_x[i]).collect();
        let mut yb = vec![0f32; BATCH * 2];
        for (r, &i) in idx.iter().enumerate() {
            yb[r * 2 + train_y[i]] = 1.0;
        }
        let mut inputs = params.clone();
        inputs.push(points_tensor(&xb));
        inputs.push(Tensor::from_f32([BATCH, 2], yb).expect("shape matches"));
        let out = step.run(&inputs)?;
        let loss = out[0].scalar_value().unwrap_or(f64::NAN);
        losses.push(loss);
        let t = (it + 1) as i32;
        for (k, p) in params.iter_mut().enumerate() {
            let grad = out[k + 1].as_f32().expect("f32 gradient");
            let w: Vec<f32> = p.as_f32().expect("f32 param").to_vec();
            let mut nw = w.clone();
            for i in 0..w.len() {
                m[k][i] = beta1 * m[k][i] + (1.0 - beta1) * grad[i];
                v[k][i] = beta2 * v[k][i] + (1.0 - beta2) * grad[i] * grad[i];
                let mh = m[k][i] / (1.0 - beta1.powi(t));
                let vh = v[k][i] / (1.0 - beta2.powi(t));
                nw[i] = w[i] - lr * mh / (vh.sqrt() + eps);
            }
            *p = Tensor::from_f32(p.shape().clone(), nw).expect("shape matches");
        }
        if it % 50 == 0 || it + 1 == STEPS {
            let acc = accuracy(&predict(&predict_train, &params, &train_x)?, &train_y);
            bar.set_message(format!("loss {loss:.4}  train acc {:.1}%", acc * 100.0));
        }
        bar.inc(1);
    }
    bar.finish();
    let secs = t_train.elapsed().as_secs_f64();

    let test_acc = accuracy(&predict(&predict_test, &params, &test_x)?, &test_y);
    println!(
        "held-out accuracy: {:.2}% on {} points",
        test_acc * 100.0,
        test_x.len()
    );
    println!(
        "training throughput: {:.0} steps/s ({} steps of batch {BATCH}, {:.2} s, including Adam on the host)",
        STEPS as f64 / secs,
        STEPS,
        secs
    );

    // The decision boundary on a grid, and the loss curve.
    let (x0, x1, y0, y1) = (-1.5f32, 2.5f32, -1.0f32, 1.5f32);
    let grid: Vec<[f32; 2]> = (0..GRID * GRID)
        .map(|k| {
            let (i, j) = (k % GRID, k / GRID);
            [
                x0 + (x1 - x0) * i as f32 / (GRID - 1) as f32,
                y0 + (y1 - y0) * j as f32 / (GRID - 1) as f32,
            ]
        })
        .collect();
    let classes = predict(&predict_grid, &params, &grid)?;
    plot(
        "train_mlp.png",
        &losses,
        &grid,
        &classes,
        &test_x,
        &test_y,
        (x0, x1, y0, y1),
    )
    .map_err(|e| adjoint::ir::Error::input(format!("writing train_mlp.png: {e}")))?;
    println!(
        "wrote train_mlp.png (left: log of the minibatch loss per step, with a moving average; \
         right: the decision boundary and the held-out points)"
    );
    if test_acc < 0.99 {
        return Err(adjoint::ir::Error::eval(format!(
            "held-out accuracy {:.2}% is below 99%",
            test_acc * 100.0
        )));
    }
    Ok(())
}

fn plot(
    path: &str,
    losses: &[f64],
    grid: &[[f32; 2]],
    classes: &[usize],
    xs: &[[f32; 2]],
    ys: &[usize],
    (x0, x1, y0, y1): (f32, f32, f32, f32),
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);

    // Loss curve (log scale on y): the raw minibatch losses, and a 50-step
    // moving average on top.
    let window = 50.min(losses.len()).max(1);
    plot::line_chart(
        &left,
        &Labels {
            title: "Training loss",
            x: "Adam step",
            y: "cross-entropy (log scale)",
        },
        &[
            Series::line(
                "minibatch",
                losses
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (i as f64, l))
                    .collect(),
                RGBColor(170, 190, 240),
                1,
            ),
            Series::line(
                &format!("{window}-step moving average"),
                (window..=losses.len())
                    .map(|end| {
                        let m = losses[end - window..end].iter().sum::<f64>() / window as f64;
                        ((end - 1) as f64, m)
                    })
                    .collect(),
                BLUE,
                2,
            ),
        ],
        YScale::Log,
    )?;

    // Decision boundary and held-out points.
    let mut d = ChartBuilder::on(&right)
        .caption("Decision boundary, held-out points", (plot::FONT, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    d.configure_mesh()
        .x_desc("x₁")
        .y_desc("x₂")
        .label_style((plot::FONT, 13))
        .axis_desc_style((plot::FONT, 15))
        .disable_mesh()
        .draw()?;
    // Cells slightly larger than the grid spacing, so no seams show.
    let (dx, dy) = (
        1.05 * (x1 - x0) / (GRID - 1) as f32,
        1.05 * (y1 - y0) / (GRID - 1) as f32,
    );
    d.draw_series(grid.iter().zip(classes).map(|(p, &k)| {
        let color = if k == 0 {
            RGBColor(255, 220, 200)
        } else {
            RGBColor(200, 220, 255)
        };
        Rectangle::new(
            [
                (p[0] - dx / 2.0, p[1] - dy / 2.0),
                (p[0] + dx / 2.0, p[1] + dy / 2.0),
            ],
            color.filled(),
        )
    }))?;
    for (class, color) in [(0, RED), (1, BLUE)] {
        d.draw_series(
            xs.iter()
                .zip(ys)
                .filter(|&(_, &k)| k == class)
                .map(|(p, _)| Circle::new((p[0], p[1]), 3, color.filled())),
        )?
        .label(format!("class {class}"))
        .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
    }
    d.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((plot::FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()?;
    root.present()?;
    Ok(())
}
