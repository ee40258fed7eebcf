//! Reverse mode: the `grad` and `vjp` passes, and [`backpropagate`], the
//! library function they share with the Jacobian pass.
//!
//! The adjoint subgraph is appended to the same graph and reuses primal
//! values. Only nodes on a path from a differentiated parameter to a
//! differentiated output get adjoints. Cotangents are symbolic zeros until
//! something nonzero flows in; fan-out cotangents are summed.
//!
//! Loops and conditionals (`scan`, `cond`, bounded `while`) are handled by
//! [`crate::loop_vjp`]: the cotangents of a multi-result node's
//! projections are gathered when the node is reached.
//!
//! Recognised composites ([`crate::composite`], the stable log-sum-exp)
//! are differentiated as a whole.

use crate::budget::{self, Budget};
use crate::composite::LogSumExp;
use crate::contract::{self, Rule};
use crate::errors::at_node;
use crate::lin::Lin;
use crate::registry::{OptionSpec, PassType};
use crate::{emit, loop_vjp, rules, Pass, PassOptions, PassStats};
use adjoint_ir::{Error, Graph, NodeId, Op, Result};
use std::collections::{HashMap, HashSet};

/// Pulls cotangents back from `seeds` (`(value, cotangent)` pairs; the
/// cotangent has shape `batch ++ shape(value)`) to the parameters (or any
/// nodes) `wrt`, appending the adjoint nodes to `g`. Returns one cotangent
/// per `wrt` entry, [`Lin::Zero`] when none reaches it.
///
/// `wrt` may name any nodes, not only parameters. Each is treated as an
/// independent input: cotangents stop there and do not flow on into its
/// operands (so with `wrt = [x, h]`, `h = f(x)`, the cotangent of `x`
/// counts only the paths that avoid `h`), which is what preaccumulating one
/// factor of a chain between two cut points needs.
///
/// Calls of custom ops must have a `vjp` rule (see
/// [`contract::prepare_calls`]), and with a nonempty `batch` there must be
/// no calls at all.
pub fn backpropagate(
    g: &mut Graph,
    seeds: &[(NodeId, NodeId)],
    wrt: &[NodeId],
    batch: &[usize],
) -> Result<Vec<Lin>> {
    let from: Vec<NodeId> = seeds.iter().map(|s| s.0).collect();
    let down = g.descendants(wrt);
    let up = g.ancestors(&from);
    let relevant: HashSet<NodeId> = down.intersection(&up).copied().collect();
    let order: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|n| relevant.contains(n))
        .collect();
    backpropagate_in_order(g, seeds, wrt, batch, &order)
}

/// [`backpropagate`] given the nodes that get cotangents: `order` holds, in
/// topological order, the nodes on a path from a `wrt` node to a seed
/// (both included). The Jacobian pass, which knows these regions from its
/// cut points, uses this to work in time proportional to the region rather
/// than to the whole graph.
pub fn backpropagate_in_order(
    g: &mut Graph,
    seeds: &[(NodeId, NodeId)],
    wrt: &[NodeId],
    batch: &[usize],
    order: &[NodeId],
) -> Result<Vec<Lin>> {
    let relevant: HashSet<NodeId> = order.iter().copied().collect();
    let wrt_set: HashSet<NodeId> = wrt.iter().copied().collect();
    let mut cts: HashMap<NodeId, Lin> = HashMap::new();
    for &(v, c) in seeds {
        if !relevant.contains(&v) || !g.ty(v).dtype.is_float() {
            continue;
        }
        let cur = cts.get(&v).copied().unwrap_or(Lin::Zero);
        let s = cur.add(g, Lin::Val(c))?;
        cts.insert(v, s);
    }
    for &n in order.iter().rev() {
        if wrt_set.contains(&n) {
            // Cotangents stop at the differentiated values.
            continue;
        }
        if matches!(g[n].op, Op::Project { .. }) {
            // A result of a multi-result node keeps its cotangent until
            // the node itself is reached.
            continue;
        }
        if g[n].op.is_multi_result() {
            let per_result: Vec<Lin> = g
                .projections(n)
                .into_iter()
                .map(|p| p.and_then(|p| cts.get(&p).copied()).unwrap_or(Lin::Zero))
                .collect();
            if per_result.iter().all(|c| c.is_zero()) {
                continue;
            }
            let ops = g.operands(n);
            let needs: Vec<bool> = ops.iter().map(|o| relevant.contains(o)).collect();
            let contribs = loop_vjp::vjp(g, n, &per_result, batch, &needs)
                .map_err(|e| at_node(e.context(format!("vjp of {}", g[n].op.name())), g, n))?;
            accumulate(g, &mut cts, &ops, contribs)?;
            continue;
        }
        let Some(Lin::Val(ct)) = cts.get(&n).copied() else {
            continue;
        };
        if let Some(lse) =
            LogSumExp::recognise(g, n).filter(|l| !l.inner.iter().any(|i| wrt_set.contains(i)))
        {
            if relevant.contains(&lse.x) {
                let c = lse.vjp(g, ct, batch)?;
                let cur = cts.get(&lse.x).copied().unwrap_or(Lin::Zero);
                let s = cur.add(g, Lin::Val(c))?;
                cts.insert(lse.x, s);
                continue;
            }
        }
        let ops = g.operands(n);
        let needs: Vec<bool> = ops.iter().map(|o| relevant.contains(o)).collect();
        let contribs = rules::vjp(g, n, ct, batch, &needs).map_err(|e| {
            let e = e.context(format!("vjp of {} = {}", g.display_name(n), g[n].op.name()));
            at_node(e, g, n)
        })?;
        accumulate(g, &mut cts, &ops, contribs)?;
    }
    Ok(wrt
        .iter()
        .map(|w| cts.get(w).copied().unwrap_or(Lin::Zero))
        .collect())
}

/// Adds each operand's cotangent contribution to its running sum.
fn accumulate(
    g: &mut Graph,
    cts: &mut HashMap<NodeId, Lin>,
    ops: &[NodeId],
    contribs: Vec<Lin>,
) -> Result<()> {
    for (&o, c) in ops.iter().zip(contribs) {
        if c.is_zero() {
            continue;
        }
        let cur = cts.get(&o).copied().unwrap_or(Lin::Zero);
        let s = cur.add(g, c)?;
        cts.insert(o, s);
    }
    Ok(())
}

/// Appends, for each `wrt` parameter, its cotangent (explicit zeros if
/// identically zero) as a new output named `<param><suffix>`.
fn append_cotangents(g: &mut Graph, wrt: &[NodeId], cts: &[Lin], suffix: &str) -> Result<()> {
    for (&p, &c) in wrt.iter().zip(cts) {
        let ty = g.ty(p).clone();
        let v = c.materialize(g, &ty)?;
        if g.ty(v) != &ty {
            return Err(Error::pass(format!(
                "internal: cotangent of {} has type {}, expected {ty}",
                g.display_name(p),
                g.ty(v)
            )));
        }
        let base = format!("{}{suffix}", g[p].name.clone().unwrap_or_default());
        g.push_output(v);
        contract::name_appended_output(g, g.outputs().len() - 1, &base);
    }
    Ok(())
}

/// `grad{wrt=..., of=K}`: appends the gradient of scalar output `K` with
/// respect to each `wrt` parameter.
#[derive(Clone, Debug, Default)]
pub struct Grad {
    /// Parameter names; `None` means every float parameter.
    pub wrt: Option<Vec<String>>,
    /// The output to differentiate; needed when there are several.
    pub of: Option<usize>,
    /// Reverse loops under this memory budget ([`crate::budget`]).
    pub budget: Budget,
    /// Recompute cheap elementwise residuals in the backward part instead
    /// of storing them ([`crate::remat`]).
    pub remat: bool,
}

impl Pass for Grad {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let before = g.len();
        contract::prepare_calls(g, Rule::Vjp)?;
        let k = contract::select_output("grad", g, self.of)?;
        let wrt = contract::resolve_wrt("grad", g, self.wrt.as_deref())?;
        let y = g.outputs()[k];
        let ty = g.ty(y).clone();
        if !ty.dtype.is_float() || ty.numel() != 1 {
            return Err(Error::pass(format!(
                "grad: output {k} of @{} is {ty}; grad needs a scalar float output (use vjp for others)",
                g.name()
            )));
        }
        let forward: HashSet<NodeId> = g.node_ids().into_iter().collect();
        let kept: HashSet<NodeId> = g.outputs().iter().copied().collect();
        let seed = emit::full(g, &ty, 1.0)?;
        let (cts, schedules) =
            budget::with_budget(&self.budget, || backpropagate(g, &[(y, seed)], &wrt, &[]))?;
        if g.use_count(seed) == 0 && !cts.contains(&Lin::Val(seed)) {
            // Nothing reached: drop the unused seed (and its broadcast).
            remove_dead_chain(g, seed)?;
        }
        append_cotangents(g, &wrt, &cts, "_grad")?;
        let mut notes = vec![format!(
            "grad: d(output {k})/d({})",
            wrt.iter()
                .map(|&p| g.display_name(p))
                .collect::<Vec<_>>()
                .join(", ")
        )];
        notes.extend(schedules);
        if self.remat {
            let r = crate::remat::rematerialise(g, &forward, &kept)?;
            notes.push(format!(
                "remat: residuals {} -> {} bytes, {} node(s) recomputed",
                r.stored_before,
                r.stored_after,
                r.recomputed.len()
            ));
        }
        Ok(PassStats {
            added: g.len().saturating_sub(before),
            removed: before.saturating_sub(g.len()),
            changed: true,
            notes,
        })
    }
}

fn remove_dead_chain(g: &mut Graph, mut n: NodeId) -> Result<()> {
    loop {
        if g.use_count(n) != 0 || g.params().contains(&n) {
            return Ok(());
        }
        let ops = g.operands(n);
        g.remove_node(n)?;
        match ops.as_slice() {
            [o] => n = *o,
            _ => return Ok(()),
        }
    }
}

impl PassType for Grad {
    const NAME: &'static str = "grad";
    const SUMMARY: &'static str =
        "reverse mode: append the gradient of a scalar output w.r.t. each wrt parameter";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec {
            name: "wrt",
            help: "parameters to differentiate, in output order (default: all float parameters)",
        },
        OptionSpec {
            name: "of",
            help: "0-based index of the output to differentiate (required with several outputs)",
        },
        budget::SNAPSHOTS_OPTION,
        budget::MEMORY_OPTION,
        OptionSpec {
            name: "remat",
            help: "true: recompute cheap elementwise residuals in the backward part, storing the fewest bytes (a minimum cut); false (default): store every residual",
        },
    ];
    fn from_options(o: &PassOptions) -> Result<Self> {
        let remat = match o.get_one("grad", "remat")? {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(Error::input(format!(
                    "grad: option `remat` must be `true` or `false`, got `{v}`"
                )))
            }
        };
        Ok(Grad {
            wrt: contract::wrt_option("grad", o)?,
            of: o.get_usize("grad", "of")?,
            budget: Budget::from_options("grad", o)?,
            remat,
        })
    }
}

/// `vjp{wrt=...}`: adds one cotangent parameter per output (`cot0`, `cot1`,
/// …, after the existing parameters) and appends, for each `wrt`
/// parameter, the vector-Jacobian product.
#[derive(Clone, Debug, Default)]
pub struct Vjp {
    /// Parameter names; `None` means every float parameter.
    pub wrt: Option<Vec<String>>,
    /// Reverse loops under this memory budget ([`crate::budget`]).
    pub budget: Budget,
}

fn fresh_cot(g: &Graph, i: usize) -> String {
    let base = format!("cot{i}");
    if g.value_by_name(&base).is_none() {
        return base;
    }
    (2..)
        .map(|j| format!("cot{i}_{j}"))
        .find(|n| g.value_by_name(n).is_none())
        .expect("some suffix is free")
}

impl Pass for Vjp {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let before = g.len();
        contract::prepare_calls(g, Rule::Vjp)?;
        let wrt = contract::resolve_wrt("vjp", g, self.wrt.as_deref())?;
        let outs = g.outputs().to_vec();
        let mut seeds = Vec::with_capacity(outs.len());
        for (i, &o) in outs.iter().enumerate() {
            let ty = g.ty(o).clone();
            let name = fresh_cot(g, i);
            let c = g.add_param(name, ty)?;
            seeds.push((o, c));
        }
        let (cts, schedules) =
            budget::with_budget(&self.budget, || backpropagate(g, &seeds, &wrt, &[]))?;
        append_cotangents(g, &wrt, &cts, "_cot")?;
        Ok(PassStats {
            added: g.len().saturating_sub(before),
            removed: 0,
            changed: true,
            notes: std::iter::once(format!(
                "vjp: {} cotangent parameter(s), w.r.t. {}",
                outs.len(),
                wrt.iter()
                    .map(|&p| g.display_name(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .chain(schedules)
            .collect(),
        })
    }
}

impl PassType for Vjp {
    const NAME: &'static str = "vjp";
    const SUMMARY: &'static str =
        "reverse mode: add a cotangent parameter per output, append the vector-Jacobian product per wrt parameter";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec {
            name: "wrt",
            help: "parameters to differentiate, in output order (default: all float parameters)",
        },
        budget::SNAPSHOTS_OPTION,
        budget::MEMORY_OPTION,
    ];
    fn from_options(o: &PassOptions) -> Result<Self> {
        Ok(Vjp {
            wrt: contract::wrt_option("vjp", o)?,
            budget: Budget::from_options("vjp", o)?,
        })
    }
}
