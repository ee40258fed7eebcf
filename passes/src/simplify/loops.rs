//! The loop rewrites of `simplify`, all exact (the same ops run on the same
//! values, or none run where the loop ran none):
//!
//! - a `cond` whose predicate is a constant becomes the chosen branch,
//!   inlined (the other branch is dropped, as it would never run);
//! - a `scan` of length 0 becomes its inits and, for each stacked output,
//!   an empty constant (`[0, …]`);
//! - a `scan` of length 1 becomes its body, inlined once: it reads each
//!   scanned input `xs: T[1, S…]` reshaped to `T[S…]`, and each output `y`
//!   is reshaped to `[1, …]`;
//! - a `while` with `max_trips=0`, or whose condition returns the constant
//!   `false`, becomes its inits.

use crate::body_edit::{loop_nodes, replace_results};
use crate::inline::inline_graph;
use adjoint_ir::{Graph, NodeId, Op, Result, Shape, Tensor};

/// Whether the function `f` returns the constant `false`.
fn is_const_false(f: &Graph) -> bool {
    f.outputs()
        .first()
        .is_some_and(|&o| matches!(&f[o].op, Op::Const(t) if t.as_bool() == Some(&[false][..])))
}

/// The values that replace the results of loop `id`, if it simplifies.
fn replacement(g: &mut Graph, id: NodeId) -> Result<Option<Vec<NodeId>>> {
    let operands = g.operands(id);
    match g[id].op.clone() {
        Op::Cond { then, els } => {
            let pred = match &g[operands[0]].op {
                Op::Const(t) => t.as_bool().and_then(|b| b.first().copied()),
                _ => None,
            };
            let Some(p) = pred else { return Ok(None) };
            let branch = if p { then } else { els };
            inline_graph(g, &branch, &operands[1..]).map(Some)
        }
        Op::While {
            cond,
            carry,
            max_trips,
            ..
        } if max_trips == Some(0) || is_const_false(&cond) => Ok(Some(operands[..carry].to_vec())),
        Op::Scan {
            carry, length: 0, ..
        } => {
            let tys = g.result_types(id)?;
            let mut vals = operands[..carry].to_vec();
            for ty in &tys[carry..] {
                vals.push(g.constant(Tensor::zeros(ty)));
            }
            Ok(Some(vals))
        }
        Op::Scan {
            body,
            carry,
            xs,
            length: 1,
            ..
        } => {
            let mut args = operands[..carry].to_vec();
            for &x in &operands[carry..carry + xs] {
                let shape = Shape::from(g.ty(x).shape.dims()[1..].to_vec());
                args.push(g.add(Op::Reshape { shape }, &[x])?);
            }
            args.extend_from_slice(&operands[carry + xs..]);
            let outs = inline_graph(g, &body, &args)?;
            let mut vals = outs[..carry].to_vec();
            for &y in &outs[carry..] {
                let mut dims = vec![1];
                dims.extend_from_slice(g.ty(y).shape.dims());
                vals.push(g.add(
                    Op::Reshape {
                        shape: Shape::from(dims),
                    },
                    &[y],
                )?);
            }
            Ok(Some(vals))
        }
        _ => Ok(None),
    }
}

/// Applies the loop rewrites to the loops of `g` (not inside its bodies);
/// returns the nodes added and the ops of the nodes removed.
pub fn rewrite_loops(g: &mut Graph) -> Result<(usize, Vec<&'static str>)> {
    if !crate::body_edit::has_loops(g) {
        return Ok((0, Vec::new()));
    }
    let start = g.len();
    let mut gone = Vec::new();
    for id in g.topo_order()? {
        if !g[id].op.is_multi_result() {
            continue;
        }
        if let Some(vals) = replacement(g, id)? {
            replace_results(g, id, &vals);
            gone.extend(loop_nodes(g, id));
        }
    }
    let removed: Vec<&'static str> = g.remove_nodes(&gone)?.iter().map(|n| n.op.name()).collect();
    Ok(((g.len() + removed.len()).saturating_sub(start), removed))
}
