//! Forward mode through `scan`, `while` and `cond`: the JVP rules of the
//! multi-result ops, which [`crate::forward::push_forward`] calls.
//!
//! A loop's tangent is computed by the loop itself: the loop node is
//! rewritten in place into one loop that runs a body extended with
//! tangents (as JAX's `_scan_jvp`, `_while_loop_jvp` and `_cond_jvp` do),
//! so the primal work is not duplicated. The extended loop's primal results
//! are the same computation as before (bit for bit); the existing
//! projections keep their ids and are re-indexed, and the tangent results
//! get new projections.
//!
//! - **Extended bodies** are new functions named `<body>_jvp` (the printer
//!   adds `_2`, `_3` on a clash). Each group of parameters (carries, scanned
//!   inputs, invariants) is followed by the tangents of the members of the
//!   group whose tangent is nonzero, named `<param>_dot` (made unique); the
//!   outputs are grouped the same way (carries then their tangents, ys then
//!   theirs). The body is a copy of the primal one, differentiated with
//!   [`crate::forward::push_forward`] with the same batch prefix, so bodies
//!   that contain loops are handled recursively.
//! - **Symbolic zeros across iterations.** A carry's tangent is carried
//!   only if it is nonzero on entry or the body makes it nonzero from the
//!   nonzero inputs: a fixpoint over "which carry-out tangents are nonzero
//!   given these nonzero carry-in tangents", which only grows. Stacked ys
//!   whose tangent is zero stay symbolic zeros outside, and the tangent of
//!   a scanned input, invariant or branch operand that no extended body
//!   reads is not passed.
//! - **Batching.** With a batch prefix `B` (the Jacobian pass), a scanned
//!   input's tangent `B ++ [N] ++ S` is transposed to `[N] ++ B ++ S` so the
//!   loop scans its leading axis, and a stacked tangent `[N] ++ B ++ S` is
//!   transposed back to `B ++ [N] ++ S`.
//! - **`while`** (rule 6): the condition, extended to take and ignore the
//!   tangent carries, reads only primal values, so the trips that run are
//!   those of the primal loop and the derivative is that of those trips
//!   with the trip count held fixed. `max_trips` is kept.
//! - **`cond`** (rule 10): both branches are extended with the same nonzero
//!   operand tangents; a result tangent nonzero in either branch is
//!   returned by both (explicit zeros in the other). Only the taken branch
//!   runs, so nothing of the other branch (a NaN, say) leaks in.
//! - `bool` values carry no tangent (rule 11), and a value that only steers
//!   (a predicate, a trip count) contributes none (rule 12).

use crate::contract::{self, Rule};
use crate::emit::{self, prefixed};
use crate::forward::push_forward;
use crate::inline::inline_graph;
use crate::lin::Lin;
use adjoint_ir::{infer_types, BodyRef, Error, Graph, NodeId, Op, Result, TensorType};
use std::collections::HashSet;
use std::ops::Range;

/// Consecutive ranges of the given sizes, from 0.
fn ranges(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut start = 0;
    sizes
        .iter()
        .map(|&n| {
            start += n;
            start - n..start
        })
        .collect()
}

/// The type of a tangent of a value of type `ty` under the batch prefix.
fn tangent_ty(ty: &TensorType, batch: &[usize]) -> TensorType {
    TensorType::new(ty.dtype, prefixed(batch, &ty.shape))
}

/// A body being extended with tangents: the new function with its
/// parameters laid out, the values of the primal body's outputs in it and
/// their tangents.
struct Extended {
    g: Graph,
    primal: Vec<NodeId>,
    tans: Vec<Lin>,
    /// The tangent parameter of each primal parameter (`None` if zero).
    tangent_params: Vec<Option<NodeId>>,
}

/// Starts the function `name` with the parameters of `body`, where each
/// group (consecutive, of the sizes `groups`, covering every parameter) is
/// followed by a tangent parameter `<param>_dot` for each of its members
/// `i` with `nz[i]`. Returns the function, the primal parameters (in `body`'s order)
/// and the tangent parameter of each member (`None` where `nz` is false).
fn with_params(
    body: &Graph,
    name: &str,
    groups: &[usize],
    nz: &[bool],
    batch: &[usize],
) -> Result<(Graph, Vec<NodeId>, Vec<Option<NodeId>>)> {
    let names = body.param_names();
    let tys = body.param_types();
    let mut taken: HashSet<String> = names.iter().cloned().collect();
    let mut g = Graph::new(name);
    let mut primal = Vec::with_capacity(names.len());
    let mut tangent = vec![None; names.len()];
    for r in ranges(groups) {
        for i in r.clone() {
            primal.push(g.add_param(names[i].clone(), tys[i].clone())?);
        }
        for i in r.clone().filter(|&i| nz[i]) {
            let base = format!("{}_dot", names[i]);
            // `base`, else `base2`, `base3`, … (as Graph::fresh_name, but
            // against every parameter name, some not added yet).
            let fresh = std::iter::once(base.clone())
                .chain((2..).map(|k| format!("{base}{k}")))
                .find(|n| !taken.contains(n))
                .expect("some suffix is free");
            taken.insert(fresh.clone());
            tangent[i] = Some(g.add_param(fresh, tangent_ty(&tys[i], batch))?);
        }
    }
    Ok((g, primal, tangent))
}

/// Extends `body` with tangents for its parameters `i` with `nz[i]` (see
/// [`with_params`] for the layout) and pushes them forward to its outputs.
fn extend(body: &Graph, groups: &[usize], nz: &[bool], batch: &[usize]) -> Result<Extended> {
    let name = format!("{}_jvp", body.name());
    let (mut g, primal, tangent) = with_params(body, &name, groups, nz, batch)?;
    let outs = inline_graph(&mut g, body, &primal)?;
    g.set_outputs(outs);
    // Calls inside bodies get the treatment the transforms give the
    // function itself: inlined when they lack a jvp rule, and always with a
    // batch (custom rules are unbatched).
    let rule = if batch.is_empty() {
        Rule::Jvp
    } else {
        Rule::None
    };
    contract::prepare_calls(&mut g, rule)?;
    let outs = g.outputs().to_vec();
    let seeds: Vec<(NodeId, NodeId)> = primal
        .iter()
        .zip(&tangent)
        .filter_map(|(&p, t)| t.map(|t| (p, t)))
        .collect();
    let tans = push_forward(&mut g, &seeds, &outs, batch)
        .map_err(|e| e.context(format!("jvp of the body @{}", body.name())))?;
    Ok(Extended {
        g,
        primal: outs,
        tans,
        tangent_params: tangent,
    })
}

impl Extended {
    /// Sets the outputs: for each group (of the sizes `groups`, over the
    /// primal outputs), the primal outputs, then the tangents of the
    /// members `j` with `keep[j]` (zeros where the tangent is symbolically
    /// zero).
    fn finish(mut self, groups: &[usize], keep: &[bool], batch: &[usize]) -> Result<Graph> {
        let mut outs = Vec::new();
        for r in ranges(groups) {
            outs.extend_from_slice(&self.primal[r.clone()]);
            for j in r.clone().filter(|&j| keep[j]) {
                let ty = tangent_ty(self.g.ty(self.primal[j]), batch);
                outs.push(self.tans[j].materialize(&mut self.g, &ty)?);
            }
        }
        self.g.set_outputs(outs);
        Ok(self.g)
    }
}

/// Whether operand `i`'s tangent is carried: nonzero and of a float type
/// (`bool` values carry no derivative).
fn nonzero(g: &Graph, ops: &[NodeId], ts: &[Lin]) -> Vec<bool> {
    ops.iter()
        .zip(ts)
        .map(|(&o, t)| !t.is_zero() && g.ty(o).dtype.is_float())
        .collect()
}

/// The tangent of operand `i` as a node of the batched type (zeros for a
/// symbolic zero).
fn operand_tangent(
    g: &mut Graph,
    ops: &[NodeId],
    ts: &[Lin],
    i: usize,
    batch: &[usize],
) -> Result<NodeId> {
    let ty = tangent_ty(g.ty(ops[i]), batch);
    ts[i].materialize(g, &ty)
}

/// The tangent of operand `i`, transposed from `B ++ [N] ++ S` to
/// `[N] ++ B ++ S` when it is a scanned input (`scanned`), so the loop
/// scans its leading axis.
fn scanned_tangent(
    g: &mut Graph,
    ops: &[NodeId],
    ts: &[Lin],
    i: usize,
    batch: &[usize],
    scanned: bool,
) -> Result<NodeId> {
    let t = operand_tangent(g, ops, ts, i, batch)?;
    if !scanned {
        return Ok(t);
    }
    let bk = batch.len();
    let r = g.ty(t).shape.rank();
    let perm = std::iter::once(bk).chain(0..bk).chain(bk + 1..r).collect();
    emit::transpose(g, t, perm)
}

/// The fixpoint over carries: starting from the carries whose tangent is
/// nonzero on entry (`nz[..k]`), adds the carries the body makes nonzero
/// until nothing changes. Returns the extended body of the last round.
fn carry_fixpoint(
    body: &Graph,
    groups: &[usize],
    nz: &mut [bool],
    k: usize,
    batch: &[usize],
) -> Result<Extended> {
    loop {
        let ext = extend(body, groups, nz, batch)?;
        let mut grew = false;
        for (i, z) in nz[..k].iter_mut().enumerate() {
            if !*z && !ext.tans[i].is_zero() && body.ty(body.params()[i]).dtype.is_float() {
                *z = true;
                grew = true;
            }
        }
        if !grew {
            return Ok(ext);
        }
    }
}

/// Drops the tangents of the parameters `from..` (scanned inputs,
/// invariants, branch operands: not carries, whose tangents must go round
/// the loop) that no extended body in `exts` reads, as for an invariant
/// that only steers. Returns whether any was dropped (the bodies must then
/// be extended again).
fn drop_unread(exts: &[&Extended], nz: &mut [bool], from: usize) -> bool {
    let mut dropped = false;
    for (i, z) in nz.iter_mut().enumerate().skip(from) {
        // Read by a node, or itself the tangent of an output.
        let read = exts.iter().any(|e| {
            e.tangent_params[i]
                .is_some_and(|t| e.g.use_count(t) > 0 || e.tans.contains(&Lin::Val(t)))
        });
        if *z && !read {
            *z = false;
            dropped = true;
        }
    }
    dropped
}

/// Rewrites the multi-result node `n` in place into `op` on `operands`,
/// after checking their types; each existing projection of result `i` is
/// re-indexed to `remap[i]`. Node ids (the loop's and its projections')
/// are kept, so orders computed before stay valid.
fn rewrite(g: &mut Graph, n: NodeId, op: Op, operands: &[NodeId], remap: &[usize]) -> Result<()> {
    let tys: Vec<&TensorType> = operands.iter().map(|&o| g.ty(o)).collect();
    let results = infer_types(&op, &tys)?;
    let projections: Vec<(NodeId, usize)> = g
        .users(n)
        .into_iter()
        .filter_map(|u| match g[u].op {
            Op::Project { index } => Some((u, index)),
            _ => None,
        })
        .collect();
    g[n].op = op;
    g[n].ty = results[0].clone();
    for (pos, &o) in operands.iter().enumerate() {
        g.set_operand(n, pos, o);
    }
    for (p, index) in projections {
        let new = *remap.get(index).ok_or_else(|| {
            Error::pass(format!(
                "jvp: projection {} reads result {index} of a {} with {} results",
                g.display_name(p),
                g[n].op.name(),
                remap.len()
            ))
        })?;
        g[p].op = Op::Project { index: new };
    }
    Ok(())
}

/// A new projection of result `index` of the (rewritten) node `n`.
fn project(g: &mut Graph, n: NodeId, index: usize) -> Result<NodeId> {
    let ty = g
        .result_types(n)?
        .get(index)
        .cloned()
        .ok_or_else(|| Error::pass(format!("jvp: {} has no result {index}", g[n].op.name())))?;
    Ok(g.add_unchecked(Op::Project { index }, ty, &[n]))
}

/// The tangent of each primal result: for those whose `nonzero` flag is
/// set, a new projection of `n`'s results `first`, `first + 1`, … in turn;
/// `Lin::Zero` for the others.
fn project_tangents(g: &mut Graph, n: NodeId, first: usize, nonzero: &[bool]) -> Result<Vec<Lin>> {
    let mut out = Vec::with_capacity(nonzero.len());
    let mut next = first;
    for &nz in nonzero {
        out.push(if nz {
            next += 1;
            Lin::Val(project(g, n, next - 1)?)
        } else {
            Lin::Zero
        });
    }
    Ok(out)
}

/// `%a, %b = scan body=@f`: a multi-result node named by its results and
/// its functions, for error messages.
pub fn describe(g: &Graph, n: NodeId) -> String {
    let names: Vec<String> = g
        .projections(n)
        .iter()
        .enumerate()
        .map(|(i, p)| p.map_or_else(|| format!("<result {i}>"), |p| g.display_name(p)))
        .collect();
    let op = &g[n].op;
    // Op::bodies lists them in print order: body, cond, then, else.
    let roles: &[&str] = match op {
        Op::While { .. } => &["body", "cond"],
        Op::Cond { .. } => &["then", "else"],
        Op::Revolve { .. } => &["body", "step"],
        _ => &["body"],
    };
    let fns: Vec<String> = roles
        .iter()
        .zip(op.bodies())
        .map(|(r, b)| format!("{r}=@{}", b.name()))
        .collect();
    format!("{} = {} {}", names.join(", "), op.name(), fns.join(" "))
}

/// The tangents of the results of the multi-result node `n` (`scan`,
/// `while` or `cond`), given its operands' tangents `ts` (shape
/// `batch ++ operand shape`, or [`Lin::Zero`]). When a tangent reaches a
/// result, `n` is rewritten in place into one loop computing both its
/// primal results (unchanged) and the tangents (see the module docs), and
/// its projections are re-indexed: the returned tangents are indexed by the
/// result indices of `n` after the call, which its projections read
/// (entries past the end, such as the tangent results themselves, are
/// zero).
pub fn jvp_multi(g: &mut Graph, n: NodeId, ts: &[Lin], batch: &[usize]) -> Result<Vec<Lin>> {
    let op = g[n].op.clone();
    let count = g.result_count(n);
    let ops = g.operands(n);
    let nz = nonzero(g, &ops, ts);
    if !nz.iter().any(|&b| b) {
        return Ok(vec![Lin::Zero; count]);
    }
    match op {
        Op::Scan {
            body,
            carry,
            xs,
            length,
            reverse,
        } => scan(
            g,
            n,
            &ops,
            ts,
            nz,
            batch,
            (&body, carry, xs, length, reverse),
        ),
        Op::While {
            cond,
            body,
            carry,
            max_trips,
        } => while_loop(g, n, &ops, ts, nz, batch, (&cond, &body, carry, max_trips)),
        Op::Cond { then, els } => cond(g, n, &ops, ts, nz, batch, (&then, &els)),
        Op::Revolve { .. } => revolve(g, n, &op, &ops, ts, nz, batch),
        other => Err(Error::pass(format!(
            "jvp: {} is not a multi-result op",
            other.name()
        ))),
    }
}

/// The operands of a loop extended with tangents: each group (of the sizes
/// `groups`, over `ops`) followed by the tangents of its members with `nz`, made by
/// `tangent`.
fn extended_operands(
    g: &mut Graph,
    ops: &[NodeId],
    groups: &[usize],
    nz: &[bool],
    mut tangent: impl FnMut(&mut Graph, usize) -> Result<NodeId>,
) -> Result<Vec<NodeId>> {
    let mut out = Vec::new();
    for r in ranges(groups) {
        out.extend_from_slice(&ops[r.clone()]);
        for i in r.clone().filter(|&i| nz[i]) {
            out.push(tangent(g, i)?);
        }
    }
    Ok(out)
}

#[allow(clippy::type_complexity)]
fn scan(
    g: &mut Graph,
    n: NodeId,
    ops: &[NodeId],
    ts: &[Lin],
    mut nz: Vec<bool>,
    batch: &[usize],
    (body, k, m, length, reverse): (&BodyRef, usize, usize, usize, bool),
) -> Result<Vec<Lin>> {
    let p = ops.len() - k - m;
    let q = body.outputs().len() - k;
    let groups = [k, m, p];
    let mut ext = carry_fixpoint(body, &groups, &mut nz, k, batch)?;
    if drop_unread(&[&ext], &mut nz, k) {
        ext = extend(body, &groups, &nz, batch)?;
    }
    let nz_c: Vec<bool> = nz[..k].to_vec();
    let nz_y: Vec<bool> = (0..q).map(|j| !ext.tans[k + j].is_zero()).collect();
    let kt = nz_c.iter().filter(|&&b| b).count();
    let mt = nz[k..k + m].iter().filter(|&&b| b).count();
    if kt == 0 && !nz_y.iter().any(|&b| b) {
        return Ok(vec![Lin::Zero; k + q]);
    }
    let mut keep = nz_c.clone();
    keep.extend_from_slice(&nz_y);
    let new_body = ext.finish(&[k, q], &keep, batch)?;
    let bk = batch.len();
    let operands = extended_operands(g, ops, &groups, &nz, |g, i| {
        scanned_tangent(g, ops, ts, i, batch, (k..k + m).contains(&i))
    })?;
    let op = Op::Scan {
        body: BodyRef::new(new_body),
        carry: k + kt,
        xs: m + mt,
        length,
        reverse,
    };
    let remap: Vec<usize> = (0..k).chain((0..q).map(|j| k + kt + j)).collect();
    rewrite(g, n, op, &operands, &remap)?;
    let out = project_tangents(g, n, k, &nz_c)?;
    let first = k + nz_c.iter().filter(|&&c| c).count() + q;
    stacked_tangents(g, n, out, first, &nz_y, bk, &remap)
}

/// The tangents of a scan-like node `n` after its rewrite: `out` (the
/// carries' tangents) followed by the stacked outputs' tangents, new
/// projections of `n`'s results `first`, `first + 1`, … for the outputs
/// with `nz_y` (transposed from `[N] ++ B ++ S` back to `B ++ [N] ++ S`
/// under a batch prefix of rank `bk`), indexed by the rewritten node's
/// results through `remap`.
fn stacked_tangents(
    g: &mut Graph,
    n: NodeId,
    mut out: Vec<Lin>,
    first: usize,
    nz_y: &[bool],
    bk: usize,
    remap: &[usize],
) -> Result<Vec<Lin>> {
    let mut next = first;
    for &y in nz_y {
        out.push(if y {
            next += 1;
            let t = project(g, n, next - 1)?;
            let r = g.ty(t).shape.rank();
            let perm = (1..=bk)
                .chain(std::iter::once(0))
                .chain(bk + 1..r)
                .collect();
            Lin::Val(emit::transpose(g, t, perm)?)
        } else {
            Lin::Zero
        });
    }
    // Index by the rewritten node's results (the ys moved past the tangent
    // carries).
    let mut by_index = vec![Lin::Zero; remap.last().map_or(0, |&l| l + 1)];
    for (old, t) in out.into_iter().enumerate() {
        by_index[remap[old]] = t;
    }
    Ok(by_index)
}

#[allow(clippy::type_complexity)]
fn while_loop(
    g: &mut Graph,
    n: NodeId,
    ops: &[NodeId],
    ts: &[Lin],
    mut nz: Vec<bool>,
    batch: &[usize],
    (cond, body, k, max_trips): (&BodyRef, &BodyRef, usize, Option<usize>),
) -> Result<Vec<Lin>> {
    let p = ops.len() - k;
    let groups = [k, p];
    let mut ext = carry_fixpoint(body, &groups, &mut nz, k, batch)?;
    if drop_unread(&[&ext], &mut nz, k) {
        ext = extend(body, &groups, &nz, batch)?;
    }
    let nz_c: Vec<bool> = nz[..k].to_vec();
    let kt = nz_c.iter().filter(|&&b| b).count();
    if kt == 0 {
        return Ok(vec![Lin::Zero; k]);
    }
    let new_body = ext.finish(&[k], &nz_c, batch)?;
    // The condition takes the tangents too, and ignores them.
    let name = format!("{}_jvp", cond.name());
    let (mut c, primal, _) = with_params(cond, &name, &groups, &nz, batch)?;
    let pred = inline_graph(&mut c, cond, &primal)?;
    c.set_outputs(pred);
    let operands = extended_operands(g, ops, &groups, &nz, |g, i| {
        operand_tangent(g, ops, ts, i, batch)
    })?;
    let op = Op::While {
        cond: BodyRef::new(c),
        body: BodyRef::new(new_body),
        carry: k + kt,
        max_trips,
    };
    let remap: Vec<usize> = (0..k).collect();
    rewrite(g, n, op, &operands, &remap)?;
    project_tangents(g, n, k, &nz_c)
}

#[allow(clippy::type_complexity)]
fn cond(
    g: &mut Graph,
    n: NodeId,
    ops: &[NodeId],
    ts: &[Lin],
    nz: Vec<bool>,
    batch: &[usize],
    (then, els): (&BodyRef, &BodyRef),
) -> Result<Vec<Lin>> {
    // Operand 0 is the predicate (bool: no tangent); the branches take the
    // rest.
    let p = ops.len() - 1;
    let groups = [p];
    let mut nzb = nz[1..].to_vec();
    let mut t = extend(then, &groups, &nzb, batch)?;
    let mut e = extend(els, &groups, &nzb, batch)?;
    if drop_unread(&[&t, &e], &mut nzb, 0) {
        t = extend(then, &groups, &nzb, batch)?;
        e = extend(els, &groups, &nzb, batch)?;
    }
    let nz: Vec<bool> = std::iter::once(false).chain(nzb).collect();
    let q = t.tans.len();
    let keep: Vec<bool> = (0..q)
        .map(|j| !t.tans[j].is_zero() || !e.tans[j].is_zero())
        .collect();
    if !keep.iter().any(|&b| b) {
        return Ok(vec![Lin::Zero; q]);
    }
    let then = t.finish(&[q], &keep, batch)?;
    let els = e.finish(&[q], &keep, batch)?;
    let operands = extended_operands(g, ops, &[1, p], &nz, |g, i| {
        operand_tangent(g, ops, ts, i, batch)
    })?;
    let op = Op::Cond {
        then: BodyRef::new(then),
        els: BodyRef::new(els),
    };
    let remap: Vec<usize> = (0..q).collect();
    rewrite(g, n, op, &operands, &remap)?;
    project_tangents(g, n, q, &keep)
}

/// `revolve` (see the module docs): a `revolve` of the extended step and
/// body. The state tangents ride the forward recurrence (a fixpoint over
/// the step), the carry tangents the reverse sweep (a fixpoint over the
/// body, given the state tangents); `snapshots` is kept, so each snapshot
/// now holds a state and its tangent.
fn revolve(
    g: &mut Graph,
    n: NodeId,
    op: &Op,
    ops: &[NodeId],
    ts: &[Lin],
    nz: Vec<bool>,
    batch: &[usize],
) -> Result<Vec<Lin>> {
    let Op::Revolve {
        body,
        step,
        state: k,
        carry: c,
        xs: m,
        length,
        snapshots,
        masked,
    } = op.clone()
    else {
        return Err(Error::pass("jvp: not a revolve (internal)"));
    };
    // Operand layout: [mask] states carries xs invariants.
    let pm = usize::from(masked);
    let p = ops.len() - pm - k - c - m;
    let q = body.outputs().len() - c;
    let (s_r, b_r, x_r) = (pm..pm + k, pm + k..pm + k + c, pm + k + c..pm + k + c + m);
    let mut nz_s: Vec<bool> = nz[s_r.clone()].to_vec();
    let mut nz_b: Vec<bool> = nz[b_r.clone()].to_vec();
    let mut nz_xi: Vec<bool> = nz[x_r.start..].to_vec();
    let step_groups = [k, m, p];
    let body_groups = [c, k, m, p];
    let (ext_s, ext_b) = loop {
        // The states' tangents: a fixpoint over the step.
        let mut nzs: Vec<bool> = nz_s.iter().chain(&nz_xi).copied().collect();
        let ext_s = carry_fixpoint(&step, &step_groups, &mut nzs, k, batch)?;
        nz_s.copy_from_slice(&nzs[..k]);
        // The carries' tangents, given the states': a fixpoint over the body.
        let mut nzb: Vec<bool> = nz_b.iter().chain(&nz_s).chain(&nz_xi).copied().collect();
        let ext_b = carry_fixpoint(&body, &body_groups, &mut nzb, c, batch)?;
        nz_b.copy_from_slice(&nzb[..c]);
        // Scanned inputs and invariants whose tangent neither reads.
        let mut dropped = false;
        for (j, z) in nz_xi.iter_mut().enumerate() {
            let read = |e: &Extended, i: usize| {
                e.tangent_params[i]
                    .is_some_and(|t| e.g.use_count(t) > 0 || e.tans.contains(&Lin::Val(t)))
            };
            if *z && !read(&ext_s, k + j) && !read(&ext_b, c + k + j) {
                *z = false;
                dropped = true;
            }
        }
        if !dropped {
            break (ext_s, ext_b);
        }
    };
    let nz_y: Vec<bool> = (0..q).map(|j| !ext_b.tans[c + j].is_zero()).collect();
    let kb = nz_b.iter().filter(|&&b| b).count();
    if kb == 0 && !nz_y.iter().any(|&b| b) {
        return Ok(vec![Lin::Zero; c + q]);
    }
    let ks = nz_s.iter().filter(|&&b| b).count();
    let mt = nz_xi[..m].iter().filter(|&&b| b).count();
    let new_step = ext_s.finish(&[k], &nz_s, batch)?;
    let mut keep = nz_b.clone();
    keep.extend_from_slice(&nz_y);
    let new_body = ext_b.finish(&[c, q], &keep, batch)?;
    // Operands: [mask], then states, carries, xs and invariants, each group
    // followed by its members' nonzero tangents.
    let mut nz_ops = vec![false; pm];
    nz_ops.extend_from_slice(&nz_s);
    nz_ops.extend_from_slice(&nz_b);
    nz_ops.extend_from_slice(&nz_xi);
    let bk = batch.len();
    let operands = extended_operands(g, ops, &[pm, k, c, m, p], &nz_ops, |g, i| {
        scanned_tangent(g, ops, ts, i, batch, x_r.contains(&i))
    })?;
    let new_op = Op::Revolve {
        body: BodyRef::new(new_body),
        step: BodyRef::new(new_step),
        state: k + ks,
        carry: c + kb,
        xs: m + mt,
        length,
        snapshots,
        masked,
    };
    let remap: Vec<usize> = (0..c).chain((0..q).map(|j| c + kb + j)).collect();
    rewrite(g, n, new_op, &operands, &remap)?;
    let out = project_tangents(g, n, c, &nz_b)?;
    stacked_tangents(g, n, out, c + kb + q, &nz_y, bk, &remap)
}
