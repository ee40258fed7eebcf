//! Inlining of custom-op calls: the JIT lowers primitives only, so every
//! `call @op` is replaced by a copy of the op's body before lowering.

use adjoint_ir::{Error, Graph, NodeId, Op, Result};
use std::collections::HashMap;

/// The deepest nesting of custom-op calls that [`inline_calls`] expands
/// (a guard against recursive definitions, which the IR cannot express but
/// a hand-built graph could).
pub const MAX_INLINE_DEPTH: usize = 64;

/// Replaces every `call` node of `g` by a copy of the callee's body, and the
/// calls in those bodies in turn, until no call remains. Returns the number
/// of calls inlined.
pub fn inline_calls(g: &mut Graph) -> Result<usize> {
    let mut count = 0;
    for _ in 0..MAX_INLINE_DEPTH {
        let calls: Vec<NodeId> = g
            .node_ids()
            .into_iter()
            .filter(|&id| matches!(g[id].op, Op::Call(_)))
            .collect();
        if calls.is_empty() {
            return Ok(count);
        }
        for call in calls {
            inline_one(g, call)?;
            count += 1;
        }
    }
    Err(Error::jit(format!(
        "call: custom ops nested more than {MAX_INLINE_DEPTH} deep in @{}",
        g.name()
    )))
}

fn inline_one(g: &mut Graph, call: NodeId) -> Result<()> {
    let Op::Call(c) = g[call].op.clone() else {
        return Ok(());
    };
    let body = &c.body;
    let args = g.operands(call);
    if args.len() != body.params().len() {
        return Err(Error::jit(format!(
            "call @{}: {} arguments for {} parameters",
            c.name,
            args.len(),
            body.params().len()
        )));
    }
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    for (&p, &a) in body.params().iter().zip(&args) {
        map.insert(p, a);
    }
    for id in body.topo_order()? {
        if map.contains_key(&id) {
            continue;
        }
        let node = &body[id];
        if matches!(node.op, Op::Param { .. }) {
            return Err(Error::jit(format!(
                "call @{}: body parameter {} is not in the parameter list",
                c.name,
                body.display_name(id)
            )));
        }
        let ops: Vec<NodeId> = body.operands(id).iter().map(|o| map[o]).collect();
        let new = g.add_unchecked(node.op.clone(), node.ty.clone(), &ops);
        map.insert(id, new);
    }
    let out = body
        .outputs()
        .first()
        .copied()
        .ok_or_else(|| Error::jit(format!("call @{}: the body has no output", c.name)))?;
    g.replace_all_uses(call, map[&out]);
    g.remove_node(call)?;
    Ok(())
}
