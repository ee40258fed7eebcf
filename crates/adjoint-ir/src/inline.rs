//! Inlining, an IR-level expansion: copies a graph into another with its
//! parameters bound to given values, and expands `call`s of custom ops into
//! their bodies. The `inline` pass (adjoint-passes) and the JIT (which
//! lowers no calls) both use it; the AD passes splice custom derivative
//! rules in with [`inline_graph`].

use crate::{CustomOp, Error, Graph, NodeId, Op, Result};
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

/// The single output of an inlined custom-op graph (`which`: `body`,
/// `jvp rule`, ...), or an error naming the op when it has several.
pub fn first_output(op: &str, which: &str, outs: Vec<NodeId>) -> Result<NodeId> {
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
///
/// ```
/// use adjoint_ir::{inline_calls_where, parse_module, Op};
/// let m = parse_module(
///     "func @sq_body(%x: f64) -> f64 {\n  %y = mul %x, %x\n  return %y\n}\n\
///      custom @sq = @sq_body\n\
///      func @f(%a: f64) -> f64 {\n  %b = call @sq %a\n  return %b\n}\n",
/// )
/// .unwrap();
/// let mut g = m.func("f").unwrap().clone();
/// assert_eq!(inline_calls_where(&mut g, |_| true).unwrap(), (1, 1));
/// assert!(g.node_ids().iter().all(|&n| !matches!(g[n].op, Op::Call(_))));
/// ```
pub fn inline_calls_where(
    g: &mut Graph,
    pred: impl Fn(&CustomOp) -> bool,
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
