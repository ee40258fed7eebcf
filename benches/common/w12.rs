//! W12_rnn_long_grad_memory (../shared/workloads.md): the W9 cell over
//! 10,000 steps, its gradient with respect to every weight under each
//! memory budget of issue 14, and what each costs in working memory.
//! Shared by `benches/workloads.rs` (criterion times) and
//! `benches/w12_memory.rs` (the time-against-memory table and plot).

// Each bench uses a part of this module.
#![allow(dead_code)]

use crate::rnn::{self, Inputs, W12};
use adjoint::ir::{Graph, Result};
use adjoint::jit::{compile, CompiledFn, JitOptions};
use adjoint::passes::PassManager;
use std::path::PathBuf;

/// The workload id (criterion's group; each budget is one function in it).
pub const ID: &str = "W12_rnn_long_grad_memory";

/// One way of running reverse mode: a name for ids and tables, and the
/// options it adds to `grad`.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The criterion function name and table label: `none`,
    /// `memory_128KB`, `snapshots_10`.
    pub label: String,
    /// The options added to `grad{wrt=…}`, e.g. `memory=131072`; empty for
    /// none.
    pub option: String,
}

impl Budget {
    /// Parses `none`, `snapshots=S` or `memory=N[KB|MB]` (1 KB = 1024 bytes).
    pub fn parse(spec: &str) -> Option<Budget> {
        let spec = spec.trim();
        if spec == "none" {
            return Some(Budget {
                label: "none".into(),
                option: String::new(),
            });
        }
        let (key, value) = spec.split_once('=')?;
        match key {
            "snapshots" => {
                let s: u64 = value.parse().ok()?;
                Some(Budget {
                    label: format!("snapshots_{s}"),
                    option: format!("snapshots={s}"),
                })
            }
            "memory" => {
                let (digits, unit) = match value {
                    v if v.ends_with("KB") => (&v[..v.len() - 2], 1024),
                    v if v.ends_with("MB") => (&v[..v.len() - 2], 1024 * 1024),
                    v => (v, 1),
                };
                let bytes = digits.parse::<u64>().ok()? * unit;
                Some(Budget {
                    label: format!("memory_{value}"),
                    option: format!("memory={bytes}"),
                })
            }
            _ => None,
        }
    }

    /// The pass pipeline that differentiates the loss under this budget.
    pub fn pipeline(&self) -> String {
        if self.option.is_empty() {
            format!("grad{{wrt={}}}", rnn::WRT)
        } else {
            format!("grad{{wrt={},{}}}", rnn::WRT, self.option)
        }
    }
}

/// The budgets of issue 14's table: none, `memory=` 16 KB to 1 MB, and
/// `snapshots=10`.
pub const BUDGETS: &[&str] = &[
    "none",
    "memory=16KB",
    "memory=32KB",
    "memory=64KB",
    "memory=128KB",
    "memory=256KB",
    "memory=1MB",
    "snapshots=10",
];

/// The budgets to measure: `W12_BUDGETS` (comma-separated specs, as
/// [`Budget::parse`] reads them) if set, else [`BUDGETS`].
pub fn budgets() -> Vec<Budget> {
    let specs = std::env::var("W12_BUDGETS").unwrap_or_else(|_| BUDGETS.join(","));
    specs
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| Budget::parse(s).unwrap_or_else(|| panic!("W12: bad budget {s:?}")))
        .collect()
}

/// The gradient program of W12 under `budget`: outputs `∂wx, ∂wh, ∂b, ∂wo`.
/// An error when the pipeline does not accept the budget's options.
pub fn gradient(budget: &Budget) -> Result<Graph> {
    let mut g = W12.loss();
    PassManager::parse(&budget.pipeline())?.run(&mut g)?;
    let outs = g.outputs()[1..].to_vec();
    g.set_outputs(outs);
    PassManager::parse("simplify,cse,dce")?.run(&mut g)?;
    Ok(g)
}

/// [`gradient`], compiled by the JIT.
pub fn compiled(budget: &Budget) -> Result<CompiledFn> {
    compile(&gradient(budget)?, &JitOptions::default())
}

/// What one call cost in memory, as the JIT reports it.
#[derive(Clone, Debug, Default)]
pub struct Cost {
    /// Peak working memory in bytes.
    pub working_bytes: u64,
    /// Evaluations per loop body, recomputations included (empty when the
    /// engine does not report them).
    pub body_evals: Vec<(String, u64)>,
}

/// Calls `f` once into `g` and returns its cost.
///
/// The figure is the JIT's arena: every intermediate of the call,
/// including the scan's stacked residuals (the arena is planned at compile
/// time, so this is its peak).
pub fn measure(f: &CompiledFn, ins: &Inputs, g: &mut [Vec<f32>; 4]) -> Cost {
    rnn::call(f, ins, None, g);
    Cost {
        working_bytes: f.arena_bytes() as u64,
        body_evals: Vec::new(),
    }
}

/// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else the target directory of the running bench binary
/// (`<target>/<profile>/deps/<bench>`), as benches/peers/criterion_results.py
/// reads it.
pub fn criterion_root() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// Writes the measured memory per budget beside criterion's results for
/// W12 (`<criterion root>/W12_rnn_long_grad_memory/memory.json`), where the
/// peer table reads it.
pub fn write_memory(costs: &[(Budget, Cost)]) -> std::io::Result<PathBuf> {
    let dir = criterion_root().join(ID);
    std::fs::create_dir_all(&dir)?;
    let entries: Vec<String> = costs
        .iter()
        .map(|(b, c)| {
            let evals: Vec<String> = c
                .body_evals
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            format!(
                "  \"{}\": {{\"working_bytes\": {}, \"body_evals\": {{{}}}}}",
                b.label,
                c.working_bytes,
                evals.join(", ")
            )
        })
        .collect();
    let path = dir.join("memory.json");
    std::fs::write(&path, format!("{{\n{}\n}}\n", entries.join(",\n")))?;
    Ok(path)
}
