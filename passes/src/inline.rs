//! Inlining: copies a graph into another with its parameters bound to
//! given values. The `inline` pass expands every `call` of a custom op into
//! the op's body; the AD passes use the same helper to splice custom
//! derivative rules into the graph.

use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Error, Graph, NodeId, Op, Result};
use std::collections::HashMap;

/// Copies the nodes of `body` into `g`, binding `body`'s parameters to
/// `args` (in order), and returns the values of `body`'s outputs in `g`.
/// Copied nodes lose their text names (they could collide).
pub fn inline_graph(g: &mut Graph, body: &Graph, args: &[NodeId]) -> Result<Vec<NodeId>> {
    if args.len() != body.params().len() {
        return Err(Error::pass(format!(
            "inlining @{}: expected {} arguments, got {}",
            body.name(),
            body.params().len(),
            args.len()
        )));
    }
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    for (&p, &a) in body.params().iter().zip(args) {
        if g.ty(a) != body.ty(p) {
            return Err(Error::pass(format!(
                "inlining @{}: argument {} must be {}, got {}",
                body.name(),
                body.display_name(p),
                body.ty(p),
                g.ty(a)
            )));
        }
        map.insert(p, a);
    }
    for id in body.topo_order()? {
        if map.contains_key(&id) {
            continue;
        }
        let node = &body[id];
        let ops: Vec<NodeId> = body.operands(id).iter().map(|o| map[o]).collect();
        let new = g.add_unchecked(node.op.clone(), node.ty.clone(), &ops);
        map.insert(id, new);
    }
    Ok(body.outputs().iter().map(|o| map[o]).collect())
}

/// The single output of an inlined custom-op graph.
pub(crate) fn first_output(op: &str, which: &str, outs: Vec<NodeId>) -> Result<NodeId> {
    match outs.as_slice() {
        [o] => Ok(*o),
        _ => Err(Error::pass(format!(
            "custom @{op}: the {which} must have exactly one output, it has {}",
            outs.len()
        ))),
    }
}

/// Replaces the `call` node `id` by a copy of its op's body. Returns the
/// number of nodes added.
pub fn inline_call(g: &mut Graph, id: NodeId) -> Result<usize> {
    let c = match &g[id].op {
        Op::Call(c) => c.clone(),
        other => {
            return Err(Error::pass(format!(
                "inline: {} is `{}`, not a call",
                g.display_name(id),
                other.name()
            )))
        }
    };
    let before = g.len();
    let args = g.operands(id);
    let out = first_output(&c.name, "body", inline_graph(g, &c.body, &args)?)?;
    let added = g.len() - before;
    let name = g[id].name.take();
    g.replace_all_uses(id, out);
    g.remove_node(id)?;
    if let Some(n) = name {
        if g[out].name.is_none() && !g.params().contains(&out) {
            g[out].name = Some(n);
        }
    }
    Ok(added)
}

/// Inlines every `call` for which `pred` holds, repeatedly (bodies may call
/// other custom ops). Returns the nodes added and calls removed.
pub fn inline_calls_where(
    g: &mut Graph,
    pred: impl Fn(&adjoint_ir::CustomOp) -> bool,
) -> Result<(usize, usize)> {
    let (mut added, mut removed) = (0, 0);
    loop {
        let calls: Vec<NodeId> = g
            .node_ids()
            .into_iter()
            .filter(|&n| matches!(&g[n].op, Op::Call(c) if pred(c)))
            .collect();
        if calls.is_empty() {
            return Ok((added, removed));
        }
        for c in calls {
            added += inline_call(g, c)?;
            removed += 1;
        }
    }
}

/// The `inline` pass: expands every `call` into the custom op's body, in
/// the function and in every body it runs.
#[derive(Clone, Debug, Default)]
pub struct Inline;

impl Pass for Inline {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (mut added, mut removed) = (0, 0);
        crate::nested::run_nested(g, crate::nested::Order::BottomUp, |h| {
            let (a, r) = inline_calls_where(h, |_| true)?;
            added += a;
            removed += r;
            Ok(r > 0)
        })?;
        Ok(PassStats {
            added,
            removed,
            changed: removed > 0,
            notes: if removed > 0 {
                vec![format!("inline: expanded {removed} call(s)")]
            } else {
                vec![]
            },
        })
    }
}

impl PassType for Inline {
    const NAME: &'static str = "inline";
    const SUMMARY: &'static str = "expand every `call` of a custom op into its body";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Inline)
    }
}
