//! Forward mode: the `jvp` pass, and [`push_forward`], the library function
//! it shares with the Jacobian pass.

use crate::composite::LogSumExp;
use crate::contract::{self, Rule};
use crate::errors::at_node;
use crate::lin::Lin;
use crate::registry::{OptionSpec, PassType};
use crate::{loop_jvp, rules, Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, NodeId, Op, Result, TensorType};
use std::collections::{HashMap, HashSet};

/// Pushes tangents forward from `seeds` (`(value, tangent)` pairs; the
/// tangent has shape `batch ++ shape(value)`) to `outputs`, appending the
/// tangent nodes to `g`. Returns one tangent per output, [`Lin::Zero`] when
/// none reaches it. Only nodes on a path from a seed to an output get
/// tangents.
///
/// Seeds may be any nodes, not only parameters. Each seed's tangent is
/// taken as given (it is not recomputed from its operands), so seeding an
/// interior value pushes directions from that cut point on.
///
/// Calls of custom ops must have a `jvp` rule (see
/// [`contract::prepare_calls`]), and with a nonempty `batch` there must be
/// no calls at all.
pub fn push_forward(
    g: &mut Graph,
    seeds: &[(NodeId, NodeId)],
    outputs: &[NodeId],
    batch: &[usize],
) -> Result<Vec<Lin>> {
    let from: Vec<NodeId> = seeds.iter().map(|s| s.0).collect();
    let down = g.descendants(&from);
    let up = g.ancestors(outputs);
    let relevant: HashSet<NodeId> = down.intersection(&up).copied().collect();
    let order: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|n| relevant.contains(n))
        .collect();
    push_forward_in_order(g, seeds, outputs, batch, &order)
}

/// [`push_forward`] given the nodes that get tangents: `order` holds, in
/// topological order, the nodes on a path from a seed to an output (seeds
/// and outputs included). The Jacobian pass, which knows these regions
/// from its cut points, uses this to work in time proportional to the
/// region rather than to the whole graph.
pub fn push_forward_in_order(
    g: &mut Graph,
    seeds: &[(NodeId, NodeId)],
    outputs: &[NodeId],
    batch: &[usize],
    order: &[NodeId],
) -> Result<Vec<Lin>> {
    // Nodes inside a recognised composite whose tangent only the composite
    // would read get none: the composite's rule replaces them. Inner nodes
    // read from outside (say by a previous gradient) keep theirs, and so do
    // the inner nodes those are computed from.
    let relevant: HashSet<NodeId> = order.iter().copied().collect();
    let mut skip: HashSet<NodeId> = HashSet::new();
    for &n in order {
        let Some(lse) = LogSumExp::recognise(g, n) else {
            continue;
        };
        if lse.inner.iter().any(|i| seeds.iter().any(|s| s.0 == *i)) {
            continue;
        }
        skip.extend(lse.private_inner(g, n, |i| outputs.contains(&i), |u| relevant.contains(&u)));
    }
    let mut tans: HashMap<NodeId, Lin> = HashMap::new();
    // The tangents of the results of multi-result nodes (scan, while,
    // cond), by result index; their projections read them.
    let mut results: HashMap<NodeId, Vec<Lin>> = HashMap::new();
    for &(v, t) in seeds {
        if g.ty(v).dtype.is_float() {
            tans.insert(v, Lin::Val(t));
        }
    }
    for &n in order {
        if tans.contains_key(&n) || skip.contains(&n) {
            continue;
        }
        if let Some(lse) = LogSumExp::recognise(g, n)
            .filter(|l| !l.inner.iter().any(|i| seeds.iter().any(|s| s.0 == *i)))
        {
            // The composite's tangent comes from x alone (nothing through
            // the max); if x carries none, the shift path is ignored too.
            if let Some(Lin::Val(t)) = tans.get(&lse.x).copied() {
                let r = lse.jvp(g, t, batch)?;
                tans.insert(n, Lin::Val(r));
            }
            continue;
        }
        if let Op::Project { index } = g[n].op {
            // A result of a multi-result node: its tangent, if any, was
            // recorded per result when the node was differentiated.
            let src = g.operands(n)[0];
            if let Some(t) = results.get(&src).and_then(|r| r.get(index)).copied() {
                if !t.is_zero() {
                    tans.insert(n, t);
                }
            }
            continue;
        }
        let ts: Vec<Lin> = g
            .operands(n)
            .iter()
            .map(|o| tans.get(o).copied().unwrap_or(Lin::Zero))
            .collect();
        if g[n].op.is_multi_result() {
            let r = loop_jvp::jvp_multi(g, n, &ts, batch).map_err(|e| {
                at_node(
                    e.context(format!("jvp of {}", loop_jvp::describe(g, n))),
                    g,
                    n,
                )
            })?;
            results.insert(n, r);
            continue;
        }
        let t = rules::jvp(g, n, &ts, batch).map_err(|e| {
            let e = e.context(format!("jvp of {} = {}", g.display_name(n), g[n].op.name()));
            at_node(e, g, n)
        })?;
        if !t.is_zero() {
            tans.insert(n, t);
        }
    }
    Ok(outputs
        .iter()
        .map(|o| tans.get(o).copied().unwrap_or(Lin::Zero))
        .collect())
}

/// `jvp{wrt=...}`: adds a tangent parameter `<name>_dot` per `wrt`
/// parameter (after the existing parameters; `<name>_dot2`, … if taken)
/// and appends the tangent of each output, named `<output>_dot` (made
/// unique) when the output is named and its tangent is a new value.
#[derive(Clone, Debug, Default)]
pub struct Jvp {
    /// Parameter names; `None` means every float parameter.
    pub wrt: Option<Vec<String>>,
}

impl Pass for Jvp {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let before = g.len();
        contract::prepare_calls(g, Rule::Jvp)?;
        let wrt = contract::resolve_wrt("jvp", g, self.wrt.as_deref())?;
        let mut seeds = Vec::with_capacity(wrt.len());
        for &p in &wrt {
            let base = format!("{}_dot", g[p].name.clone().unwrap_or_default());
            let ty = g.ty(p).clone();
            let t = contract::add_fresh_param(g, &base, ty)?;
            seeds.push((p, t));
        }
        let outs = g.outputs().to_vec();
        let tans = push_forward(g, &seeds, &outs, &[])?;
        for (i, (&o, &t)) in outs.iter().zip(&tans).enumerate() {
            let ty: TensorType = g.ty(o).clone();
            let v = t.materialize(g, &ty)?;
            let name = g.output_name(i).map(str::to_string).or(g[o].name.clone());
            g.push_output(v);
            if let Some(n) = name {
                contract::name_appended_output(g, g.outputs().len() - 1, &format!("{n}_dot"));
            }
        }
        Ok(PassStats {
            added: g.len().saturating_sub(before),
            removed: before.saturating_sub(g.len()),
            changed: true,
            notes: vec![format!(
                "jvp: tangents of {} output(s) along {}",
                outs.len(),
                seeds
                    .iter()
                    .map(|&(_, t)| g.display_name(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        })
    }
}

impl PassType for Jvp {
    const NAME: &'static str = "jvp";
    const SUMMARY: &'static str =
        "forward mode: add a tangent parameter per wrt parameter, append the tangent of each output";
    const OPTIONS: &'static [OptionSpec] = &[OptionSpec {
        name: "wrt",
        help: "parameters to push tangents from (default: all float parameters)",
    }];
    fn from_options(o: &PassOptions) -> Result<Self> {
        Ok(Jvp {
            wrt: contract::wrt_option("jvp", o)?,
        })
    }
}
