//! Editing loops and their bodies: a body restricted to some of its
//! parameters and outputs, and a loop node replaced by one with other
//! operands and results. `dce` (pruning loop signatures), `licm` (adding
//! invariants) and `simplify` (replacing loops) share these.

use adjoint_ir::{infer_types, Error, Graph, NodeId, Op, Result, TensorType};
use std::collections::HashMap;

/// A copy of `body` with only the parameters `keep_params[i]` (in order,
/// names kept) and the outputs `keep_outputs[i]`, and only the nodes those
/// outputs depend on. Errors if a kept output depends on a dropped
/// parameter.
pub fn restrict(body: &Graph, keep_params: &[bool], keep_outputs: &[bool]) -> Result<Graph> {
    let outs: Vec<NodeId> = body
        .outputs()
        .iter()
        .zip(keep_outputs)
        .filter(|(_, &k)| k)
        .map(|(&o, _)| o)
        .collect();
    let live = body.ancestors(&outs);
    let mut h = Graph::new(body.name());
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    for (i, &p) in body.params().iter().enumerate() {
        if keep_params.get(i).copied().unwrap_or(true) {
            let name = body[p].name.clone().unwrap_or_else(|| format!("p{i}"));
            map.insert(p, h.add_param(name, body.ty(p).clone())?);
        } else if live.contains(&p) {
            return Err(Error::pass(format!(
                "@{}: parameter {} is dropped but still used",
                body.name(),
                body.display_name(p)
            )));
        }
    }
    for id in body.topo_order()? {
        if !live.contains(&id) || map.contains_key(&id) {
            continue;
        }
        let ops: Vec<NodeId> = body.operands(id).iter().map(|o| map[o]).collect();
        let n = h.add_unchecked(body[id].op.clone(), body[id].ty.clone(), &ops);
        h[n].name = body[id].name.clone();
        map.insert(id, n);
    }
    h.set_outputs(outs.iter().map(|o| map[o]).collect());
    Ok(h)
}

/// Replaces the multi-result node `old` by a new node for `op` on
/// `operands`, whose result `results[i]` (when `Some`) stands for `old`'s
/// result `i`: each projection of `old` is replaced by a projection of the
/// new node (keeping its name) or, for a result mapped to `None`, is left
/// to the caller, whose dead users it must remove with it. The old node and its projections are left without users
/// (the caller removes them). Returns the new node; its result types are
/// inferred, so a malformed rewrite is an error here.
pub fn replace_loop(
    g: &mut Graph,
    old: NodeId,
    op: Op,
    operands: &[NodeId],
    results: &[Option<usize>],
) -> Result<NodeId> {
    let tys: Vec<&TensorType> = operands.iter().map(|&o| g.ty(o)).collect();
    let rtys = infer_types(&op, &tys)?;
    let new = g.add_unchecked(op, rtys[0].clone(), operands);
    g.set_loc(new, g.loc(old));
    for (i, p) in g.projections(old).into_iter().enumerate() {
        let Some(p) = p else { continue };
        // The caller (dce) drops only results that nothing it keeps
        // reads: any users left are dead and go with the old node.
        if let Some(j) = results.get(i).copied().flatten() {
            let np = g.add_unchecked(Op::Project { index: j }, rtys[j].clone(), &[new]);
            let name = g[p].name.take();
            g.replace_all_uses(p, np);
            g[np].name = name;
            g.set_loc(np, g.loc(p));
        }
    }
    Ok(new)
}

/// Replaces every use of each projection of the multi-result node `old` by
/// `values[index]`, moving the projection's name to the value when that
/// has none (and is not a parameter). The node and its projections are
/// left without users.
pub fn replace_results(g: &mut Graph, old: NodeId, values: &[NodeId]) {
    for (i, p) in g.projections(old).into_iter().enumerate() {
        let (Some(p), Some(&v)) = (p, values.get(i)) else {
            continue;
        };
        let name = g[p].name.take();
        g.replace_all_uses(p, v);
        if g[v].name.is_none() && !g.params().contains(&v) {
            g[v].name = name;
        }
    }
}

/// The projections of `old` and `old` itself, for removal.
pub fn loop_nodes(g: &Graph, old: NodeId) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = g.projections(old).into_iter().flatten().collect();
    v.push(old);
    v
}

/// Whether `g` has a loop or conditional node (not looking into bodies).
pub fn has_loops(g: &Graph) -> bool {
    g.petgraph().node_weights().any(|n| n.op.is_multi_result())
}
