//! The verifier: checks arity, dtypes, shapes, operand positions,
//! parameters, outputs, acyclicity and the limits of docs/ir.md §12 (through
//! [`infer_type`]), and names the offending node. It runs by default after
//! parsing and after every pass.

use crate::{infer_type, infer_types, Error, Graph, NodeId, Op, Result, TensorType};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Checks that `g` is well formed. The error names the function and the
/// offending node (`%name` or `%N`) and its op.
///
/// ```
/// use adjoint_ir::{Graph, Op, UnaryOp, TensorType, verify};
/// let mut g = Graph::new("f");
/// let x = g.add_param("x", TensorType::f64([3])).unwrap();
/// // A node whose recorded type is wrong: the verifier names it.
/// let bad = g.add_unchecked(Op::Unary(UnaryOp::Exp), TensorType::f64([4]), &[x]);
/// g.set_outputs(vec![bad]);
/// let e = verify(&g).unwrap_err();
/// assert!(e.message.contains("exp") && e.message.contains("f64[4]"));
/// ```
pub fn verify(g: &Graph) -> Result<()> {
    // The function, then every body it runs (each once, however often it is
    // used), on a worklist: bodies nest to any depth without recursion.
    let mut seen: HashSet<*const Graph> = HashSet::new();
    let mut work: Vec<&Graph> = vec![g];
    while let Some(h) = work.pop() {
        verify_one(h)?;
        for id in h.node_ids() {
            for b in h[id].op.bodies() {
                if seen.insert(std::sync::Arc::as_ptr(&b.0)) {
                    work.push(b.graph());
                }
            }
        }
    }
    Ok(())
}

/// Checks one function, not the bodies it runs.
pub(crate) fn verify_one(g: &Graph) -> Result<()> {
    let f = g.name();
    // Parameters.
    for (i, &p) in g.params().iter().enumerate() {
        let node = g
            .get(p)
            .ok_or_else(|| Error::verify(format!("@{f}: parameter {i} ({p}) was removed")))?;
        match node.op {
            Op::Param { index } if index == i => {}
            _ => {
                return Err(Error::verify(format!(
                    "@{f}: parameter {i} is node {} ({}), not `param` with index {i}",
                    g.display_name(p),
                    node.op.name()
                )))
            }
        }
        if node.name.is_none() {
            return Err(Error::verify(format!("@{f}: parameter {i} has no name")));
        }
    }
    // Names are unique.
    let mut names = HashSet::new();
    for id in g.node_ids() {
        if let Some(n) = &g[id].name {
            if !names.insert(n.as_str()) {
                return Err(Error::verify(format!(
                    "@{f}: the name %{n} is used by more than one value"
                )));
            }
        }
    }
    // Each node: params are listed, operand positions are 0..n, types agree.
    // A multi-result node's result types are inferred once (its bodies'
    // signatures checked once), for the node and all its projections.
    let mut results: HashMap<NodeId, Vec<TensorType>> = HashMap::new();
    for id in g.node_ids() {
        let node = &g[id];
        let who = || format!("@{f}: {} = {}", g.display_name(id), node.op.name());
        crate::limits::check_type(&node.ty)
            .map_err(|m| Error::verify(format!("{}: {m}", who())))?;
        if let Op::Param { index } = node.op {
            if g.params().get(index) != Some(&id) {
                return Err(Error::verify(format!(
                    "{}: param index {index} does not match the parameter list",
                    who()
                )));
            }
            continue;
        }
        let mut edges = g.operand_edges(id);
        edges.sort_unstable_by_key(|&(p, _)| p);
        for (k, &(p, _)) in edges.iter().enumerate() {
            if p as usize != k {
                return Err(Error::verify(format!(
                    "{}: operand positions are not 0..{} (found position {p})",
                    who(),
                    edges.len()
                )));
            }
        }
        let tys: Vec<&TensorType> = edges.iter().map(|&(_, o)| g.ty(o)).collect();
        let want = match node.op {
            Op::Project { index } => {
                let src = edges[0].1;
                if !g[src].op.is_multi_result() {
                    return Err(Error::verify(format!(
                        "{}: reads result {index} of {} ({}), which has one result",
                        who(),
                        g.display_name(src),
                        g[src].op.name()
                    )));
                }
                let all = match results.entry(src) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(
                        g.result_types(src)
                            .map_err(|err| Error::verify(format!("{}: {}", who(), err.message)))?,
                    ),
                };
                all.get(index).cloned().ok_or_else(|| {
                    Error::verify(format!(
                        "{}: result {index} of {} ({}), which has {} results",
                        who(),
                        g.display_name(src),
                        g[src].op.name(),
                        all.len()
                    ))
                })?
            }
            _ if node.op.is_multi_result() => {
                let r = infer_types(&node.op, &tys)
                    .map_err(|e| Error::verify(format!("{}: {}", who(), e.message)))?;
                let first = r[0].clone();
                results.insert(id, r);
                first
            }
            _ => infer_type(&node.op, &tys)
                .map_err(|e| Error::verify(format!("{}: {}", who(), e.message)))?,
        };
        if node.op.is_multi_result() {
            let mut taken = HashSet::new();
            for u in g.users(id) {
                match g[u].op {
                    Op::Project { index } if taken.insert(index) => {}
                    Op::Project { index } => {
                        return Err(Error::verify(format!(
                            "{}: result {index} is read by more than one projection",
                            who()
                        )))
                    }
                    _ => {
                        return Err(Error::verify(format!(
                            "{}: has several results, but {} ({}) uses the node itself",
                            who(),
                            g.display_name(u),
                            g[u].op.name()
                        )))
                    }
                }
            }
        }
        if want != node.ty {
            return Err(Error::verify(format!(
                "{}: recorded type {} but the operands give {want}",
                who(),
                node.ty
            )));
        }
    }
    // Outputs exist and are values.
    for (i, &o) in g.outputs().iter().enumerate() {
        if !g.contains(o) {
            return Err(Error::verify(format!(
                "@{f}: output {i} refers to a removed node {o}"
            )));
        }
        if g[o].op.is_multi_result() {
            return Err(Error::verify(format!(
                "@{f}: output {i} is the {} node {} itself, not one of its results",
                g[o].op.name(),
                g.display_name(o)
            )));
        }
    }
    // Acyclic.
    g.topo_order()?;
    Ok(())
}
