//! W12_rnn_long_grad_memory: time against working memory for each memory
//! budget of issue 14, as the Markdown rows of docs/performance.md and a
//! plot.
//!
//! ```sh
//! cargo bench --bench w12_memory                       # every budget of w12::BUDGETS
//! W12_BUDGETS=none,snapshots=10 cargo bench --bench w12_memory
//! W12_RUNS=15 W12_PLOT=docs/img/w12_memory.png cargo bench --bench w12_memory
//! W12_PEERS='JAX=30731592@279;JAX checkpoint=10251528@366' W12_PLOT=... # peers on the plot too
//! ```
//!
//! For each budget: compile the gradient, check it equals the first
//! budget's bit for bit, take the working memory and body evaluations the
//! engine reports for one call; then `W12_RUNS` rounds (default 9), each
//! timing one call of every budget in turn, and the median per budget.
//! Criterion's figures for the peer table come from `benches/workloads.rs`
//! (`W12_rnn_long_grad_memory/*`).

#[path = "../examples/common/plot.rs"]
mod plot;
#[path = "common/rnn.rs"]
mod rnn;
#[path = "common/w12.rs"]
mod w12;

use plot::{Labels, Series, YScale};
use plotters::prelude::*;
use std::time::Instant;

/// One measured budget.
struct Row {
    budget: w12::Budget,
    cost: w12::Cost,
    median_s: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `30731588` as `29.31 MiB`, `16384` as `16.0 KiB` (the budgets' binary units).
fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn main() {
    let runs: usize = std::env::var("W12_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9)
        .max(1);
    let ins = rnn::W12.inputs();
    let mut reference = w12::Reference::default();
    let mut compiled = Vec::new();
    for budget in w12::budgets() {
        let f = match w12::compiled(&budget) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: skipped, {}: {e}", budget.label, budget.pipeline());
                continue;
            }
        };
        let (mut cost, measured) = w12::measure(&f, &ins).unwrap();
        cost.differs = reference.check(&budget.label, &measured);
        let mut g = ins.zero_grads();
        rnn::call(&f, &ins, None, &mut g); // warm-up
        assert!(
            w12::difference(&measured, &g).is_none(),
            "{}: a plain call's gradient differs from the measured call's",
            budget.label
        );
        compiled.push((budget, f, cost, g));
    }
    // Round robin: each round times one call of every budget, so a change
    // in the machine's load touches all of them alike.
    let mut times = vec![Vec::with_capacity(runs); compiled.len()];
    for _ in 0..runs {
        for ((_, f, _, g), t) in compiled.iter_mut().zip(&mut times) {
            let start = Instant::now();
            rnn::call(f, &ins, None, g);
            t.push(start.elapsed().as_secs_f64());
        }
    }
    let rows: Vec<Row> = compiled
        .into_iter()
        .zip(times)
        .map(|((budget, _, cost, _), t)| Row {
            budget,
            cost,
            median_s: median(t),
        })
        .collect();
    for row in &rows {
        eprintln!(
            "{}: {} working memory, {:.1} ms, body evaluations {:?}",
            row.budget.label,
            bytes(row.cost.working_bytes),
            row.median_s * 1e3,
            row.cost.body_evals
        );
    }
    if rows.is_empty() {
        eprintln!("no budget could be compiled");
        std::process::exit(1);
    }
    print_table(&rows, runs);
    let costs: Vec<_> = rows
        .iter()
        .map(|r| (r.budget.clone(), r.cost.clone()))
        .collect();
    if let Err(e) = w12::write_memory(&costs) {
        eprintln!("could not write memory.json: {e}");
    }
    if let Ok(path) = std::env::var("W12_PLOT") {
        match plot_rows(&rows, &path) {
            Ok(()) => eprintln!("wrote {path}"),
            Err(e) => {
                eprintln!("could not draw {path}: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// The Markdown table: budget, working memory, median time, time against
/// the unbudgeted gradient, and the evaluations of each body.
fn print_table(rows: &[Row], runs: usize) {
    let none = rows
        .iter()
        .find(|r| r.budget.label == "none")
        .map(|r| r.median_s);
    println!(
        "| budget | working memory (bytes) | time (median of {runs}) | time / none | body evaluations | gradient |"
    );
    println!("|---|---:|---:|---:|---|---|");
    for r in rows {
        let ratio = none.map_or("—".into(), |n| format!("{:.2}×", r.median_s / n));
        let evals = r
            .cost
            .body_evals
            .iter()
            .map(|(k, v)| format!("`{k}` {}", thousands(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        let label = if r.budget.option.is_empty() {
            "none".to_string()
        } else {
            format!("`{}`", r.budget.option)
        };
        let same = match r.cost.differs {
            None => "bit for bit".to_string(),
            Some(d) => format!("differs ({d:.1e} relative)"),
        };
        println!(
            "| {label} | {} ({}) | {:.1} ms | {ratio} | {} | {same} |",
            thousands(r.cost.working_bytes),
            bytes(r.cost.working_bytes),
            r.median_s * 1e3,
            if evals.is_empty() { "—" } else { &evals }
        );
    }
    if let Some(r) = rows.iter().find(|r| r.budget.option == "snapshots=10") {
        let want = adjoint::ir::revolve::forward_steps(rnn::W12.seq as u64, 10);
        let got: Vec<String> = r
            .cost
            .body_evals
            .iter()
            .filter(|(k, _)| k.ends_with("_step"))
            .map(|(k, v)| format!("`{k}` {}", thousands(*v)))
            .collect();
        println!(
            "\nsnapshots=10: t({}, 10) = {} forward steps expected; measured {}",
            rnn::W12.seq,
            thousands(want),
            if got.is_empty() {
                "no step body".to_string()
            } else {
                got.join(", ")
            }
        );
    }
}

/// `57624` as `57,624`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Peer points for the plot from `W12_PEERS`: `label=BYTES@MS` entries
/// separated by `;` (for example `JAX=30731592@279;JAX checkpoint=10251528@366`,
/// from a run of benches/peers/run.sh --only W12).
fn peer_points() -> Vec<(String, (f64, f64))> {
    let spec = std::env::var("W12_PEERS").unwrap_or_default();
    spec.split(';')
        .filter_map(|e| {
            let (label, fig) = e.split_once('=')?;
            let (b, ms) = fig.split_once('@')?;
            let b: f64 = b.trim().parse().ok()?;
            let ms: f64 = ms.trim().parse().ok()?;
            Some((label.trim().to_string(), (ms, b / 1024.0)))
        })
        .collect()
}

/// Working memory (log scale) against time: the budgets as a line (in
/// order of memory), the unbudgeted gradient and any peers as dots.
fn plot_rows(rows: &[Row], path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let point = |r: &Row| (r.median_s * 1e3, r.cost.working_bytes as f64 / 1024.0);
    let mut budgeted: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| !r.budget.option.is_empty())
        .map(point)
        .collect();
    budgeted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let none: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.budget.option.is_empty())
        .map(point)
        .collect();
    let blue = RGBColor(70, 110, 190);
    let mut series = vec![
        Series::line("", budgeted.clone(), blue, 2),
        Series::dots("adjoint, memory= / snapshots= budgets", budgeted, blue, 5),
        Series::dots("adjoint, no budget", none, RGBColor(40, 40, 40), 6),
    ];
    let colors = [
        RGBColor(220, 110, 40),
        RGBColor(200, 60, 120),
        RGBColor(60, 160, 90),
    ];
    for (i, (label, p)) in peer_points().into_iter().enumerate() {
        series.push(Series::dots(&label, vec![p], colors[i % colors.len()], 6));
    }
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    plot::line_chart(
        &root,
        &Labels {
            title: "W12: working memory against time per gradient",
            x: "time per gradient (ms, median)",
            y: "working memory (KiB)",
        },
        &series,
        YScale::Log,
    )?;
    root.present()?;
    Ok(())
}
