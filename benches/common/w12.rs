//! W12_rnn_long_grad_memory (../shared/workloads.md): the W9 cell over
//! 10,000 steps, its gradient with respect to every weight under each
//! memory budget of issue 14, and what each costs in working memory.
//! Shared by `benches/workloads.rs` (criterion times) and
//! `benches/w12_memory.rs` (the time-against-memory table and plot).

// Each bench uses a part of this module.
#![allow(dead_code)]

use crate::rnn::{self, Inputs, W12};
use adjoint::ir::{Graph, Result, Tensor, TensorData};
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
    /// Parses `none`, `snapshots=S` or `memory=BYTES` (BYTES as `grad`
    /// reads it: `131072`, `128KB`, `1MB`, with 1 KB = 1024 bytes).
    pub fn parse(spec: &str) -> Option<Budget> {
        let spec = spec.trim();
        if spec == "none" {
            return Some(Budget {
                label: "none".into(),
                option: String::new(),
            });
        }
        let (key, value) = spec.split_once('=')?;
        let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric());
        (ok && (key == "snapshots" || key == "memory")).then(|| Budget {
            label: format!("{key}_{value}"),
            option: spec.to_string(),
        })
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

/// The budgets of issue 14's table: none, `memory=` 16 KB to 1 MB, then
/// 2, 4 and 8 MB (the smallest budgets `grad` accepts for W12: the pass's
/// model asks 1,463,424 bytes for one snapshot), 1 GB (unbounded in
/// effect: every carry fits, S = T, and only the residuals inside a step
/// are recomputed), and `snapshots=10`.
pub const BUDGETS: &[&str] = &[
    "none",
    "memory=16KB",
    "memory=32KB",
    "memory=64KB",
    "memory=128KB",
    "memory=256KB",
    "memory=1MB",
    "memory=2MB",
    "memory=4MB",
    "memory=8MB",
    "memory=1GB",
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

/// What one call cost, as the JIT measured it while the call ran
/// ([`CompiledFn::run_with_stats`]).
#[derive(Clone, Debug, Default)]
pub struct Cost {
    /// Peak working memory in bytes: the call's arena (every intermediate,
    /// residual stacks, `revolve` snapshots and work buffers, the bodies'
    /// arenas) and the heap the `revolve` driver held; not the inputs and
    /// outputs.
    pub working_bytes: u64,
    /// Evaluations per body, recomputations included.
    pub body_evals: Vec<(String, u64)>,
    /// `None` when the gradient equals the reference gradient (the first
    /// budget's) bit for bit, else the largest relative difference.
    pub differs: Option<f64>,
}

/// The first budget's gradient, which every other budget's must equal bit
/// for bit (recomputation is deterministic).
#[derive(Default)]
pub struct Reference(Option<[Vec<f32>; 4]>);

impl Reference {
    /// The first call becomes the reference (it must be finite and not all
    /// zero); later ones are compared with it: `None` when equal bit for
    /// bit, else the largest relative difference (and a warning).
    pub fn check(&mut self, label: &str, g: &[Vec<f32>; 4]) -> Option<f64> {
        let Some(r) = &self.0 else {
            assert!(
                g.iter().flatten().all(|v| v.is_finite()) && g[3].iter().any(|&v| v != 0.0),
                "W12 {label}: the gradients are not finite or all zero"
            );
            self.0 = Some(g.clone());
            return None;
        };
        let d = difference(r, g);
        if let Some(d) = d {
            eprintln!(
                "W12 {label}: WARNING: the gradient differs from the first budget's \
                 (largest relative difference {d:.3e}); it should be equal bit for bit"
            );
        }
        d
    }
}

/// Calls `f` once, measured, and returns its cost and gradients.
pub fn measure(f: &CompiledFn, ins: &Inputs) -> Result<(Cost, [Vec<f32>; 4])> {
    let shapes = [
        vec![W12.seq, W12.batch, W12.n_in],
        vec![W12.batch, W12.n_out],
        vec![W12.n_in, W12.hidden],
        vec![W12.hidden, W12.hidden],
        vec![W12.hidden],
        vec![W12.hidden, W12.n_out],
    ];
    let [wx, wh, b, wo] = &ins.w;
    let data = [&ins.xs, &ins.y, wx, wh, b, wo];
    let tensors = shapes
        .into_iter()
        .zip(data)
        .map(|(s, d)| Tensor::from_f32(s, d.clone()))
        .collect::<Result<Vec<_>>>()?;
    let (outs, stats) = f.run_with_stats(&tensors)?;
    let mut grads = ins.zero_grads();
    for (g, t) in grads.iter_mut().zip(&outs) {
        match t.data() {
            TensorData::F32(v) => g.copy_from_slice(v),
            _ => unreachable!("W12's gradients are f32"),
        }
    }
    let cost = Cost {
        working_bytes: stats.working_bytes,
        body_evals: stats.body_evals.into_iter().collect(),
        differs: None,
    };
    Ok((cost, grads))
}

/// `None` when `a` and `b` are equal bit for bit, else the largest
/// difference relative to the largest magnitude of `a`, per gradient.
pub fn difference(a: &[Vec<f32>; 4], b: &[Vec<f32>; 4]) -> Option<f64> {
    let same = a
        .iter()
        .flatten()
        .map(|v| v.to_bits())
        .eq(b.iter().flatten().map(|v| v.to_bits()));
    if same {
        return None;
    }
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let scale = x.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs()));
            let diff = x.iter().zip(y).fold(0f64, |m, (&p, &q)| {
                m.max((f64::from(p) - f64::from(q)).abs())
            });
            if scale > 0.0 {
                diff / scale
            } else {
                diff
            }
        })
        .fold(0f64, f64::max);
    Some(if worst == 0.0 {
        f64::MIN_POSITIVE
    } else {
        worst
    })
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
                "  \"{}\": {{\"working_bytes\": {}, \"body_evals\": {{{}}}, \"bit_identical\": {}}}",
                b.label,
                c.working_bytes,
                evals.join(", "),
                c.differs.is_none()
            )
        })
        .collect();
    let path = dir.join("memory.json");
    std::fs::write(&path, format!("{{\n{}\n}}\n", entries.join(",\n")))?;
    Ok(path)
}
