//! Reverse mode through the control-flow ops: `scan`, `cond` and bounded
//! `while` (see docs/passes.md, "Reverse mode through loops").
//!
//! [`crate::reverse::backpropagate`] keeps one cotangent per value; the
//! results of a multi-result node are its [`Op::Project`] nodes. When the
//! loop node itself is reached it gathers one cotangent per result and calls
//! [`vjp`], which returns one cotangent per operand.
//!
//! - **`scan`.** The body's VJP graph (a copy of the body, backpropagated
//!   from cotangent parameters for the carried-out values and the `ys`) is
//!   split by partial evaluation: nodes that do not depend on a cotangent
//!   are primal. The primal values the adjoint nodes read are the
//!   *residuals*. The scanned slices `x[t]`, the invariants and the values
//!   computed only from invariants and constants are not stored (the
//!   backward body reads `xs`, takes the invariants, and recomputes the
//!   rest); every other residual becomes an extra `y` of the forward body
//!   `@<body>_fwd`, which replaces the primal body in place (the primal
//!   results are unchanged and computed once). A scan in the opposite
//!   direction then runs `@<body>_bwd`: its carries are the carry
//!   cotangents and the accumulated invariant cotangents, its scanned
//!   inputs the `ys` cotangents, the residual stacks and the `xs` it reads,
//!   and its `ys` are the `xs` cotangents.
//! - **Symbolic zeros across iterations.** Two fixpoints over the body
//!   decide which carries can have a nonzero tangent (forward activity) and
//!   which can have a nonzero cotangent; only carries with both are carried
//!   by the backward scan.
//! - **`cond`.** A `cond` on the same predicate whose branches are the
//!   branches' VJPs (`@<branch>_vjp`, recomputing the branch's primal), so
//!   only the taken branch's derivative runs.
//! - **`while` with `max_trips=N`** is first rewritten, in place, as a
//!   `scan` of length N whose body `@<body>_trip` runs
//!   `cond(active, @body, @<body>_skip)`, with `active = cond(running,
//!   @cond, @<cond>_stopped)` and a `bool` "still running" carry. Results
//!   are bit-identical; an inactive trip costs two `cond`s. Reverse mode
//!   then goes through the scan and the conds. **Without `max_trips`**,
//!   reverse mode is an error when a nonzero tangent flows through.
//! - **Under a memory budget** (`snapshots=`/`memory=` on `grad`, `vjp`
//!   and `jacobian`, [`crate::budget`]) nothing is stored: the backward
//!   sweep of a `scan` (and of a bounded `while`'s trip scan, which then
//!   also returns its active-trip mask) is one `revolve` that recomputes
//!   the states by binomial checkpointing (`loop_vjp_budget.rs`).
//!   The body is differentiated the same way (`loop_vjp_body.rs`); loops in
//!   the body are budgeted out of the loop's budget.

use crate::budget;
use crate::contract;
use crate::dce::remove_dead;
use crate::emit::prefixed;
use crate::errors::node_err;
use crate::lin::Lin;
pub(crate) use crate::loop_vjp_body::BodyAdjoint;
use crate::reverse::backpropagate;
use adjoint_ir::{BodyRef, Error, Graph, NodeId, Op, Result, Tensor, TensorType};
use std::collections::{HashMap, HashSet};

/// `ty` with the batch prefix `batch` on its shape.
pub(crate) fn batched(batch: &[usize], ty: &TensorType) -> TensorType {
    TensorType::new(ty.dtype, prefixed(batch, &ty.shape))
}

/// The VJP of the multi-result node `n` (`scan`, `while` or `cond`): given
/// one cotangent per result (shape `batch ++ result shape`, or
/// [`Lin::Zero`]), the cotangent of each operand. Operands with
/// `needs[i] == false` get [`Lin::Zero`]. Cotangents of non-float results
/// are ignored (rule 11).
pub fn vjp(
    g: &mut Graph,
    n: NodeId,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
) -> Result<Vec<Lin>> {
    let ops = g.operands(n);
    let needs: Vec<bool> = ops
        .iter()
        .enumerate()
        .map(|(i, &o)| needs.get(i).copied().unwrap_or(false) && g.ty(o).dtype.is_float())
        .collect();
    let tys = g.result_types(n)?;
    let cts: Vec<Lin> = tys
        .iter()
        .enumerate()
        .map(|(i, t)| match cts.get(i) {
            Some(&c) if t.dtype.is_float() => c,
            _ => Lin::Zero,
        })
        .collect();
    let zeros = vec![Lin::Zero; ops.len()];
    if cts.iter().all(|c| c.is_zero()) || !needs.iter().any(|&b| b) {
        return Ok(zeros);
    }
    match &g[n].op {
        Op::Scan { .. } => scan_vjp(g, n, &cts, batch, &needs, None),
        Op::Cond { .. } => cond_vjp(g, n, &cts, batch, &needs),
        Op::While { .. } => while_vjp(g, n, &cts, batch, &needs),
        op => Err(Error::pass(format!(
            "internal: {} is not a multi-result op",
            op.name()
        ))),
    }
}

/// The forward-activity fixpoint of a loop body whose first `k` parameters
/// and outputs are the carries: which carries can have a nonzero tangent,
/// given which parameters are active from outside (`active_in`, one per
/// body parameter; the carry entries are the inits'). Returns the carry
/// activity and the set of body nodes that depend on an active parameter.
fn carry_activity(body: &Graph, k: usize, active_in: &[bool]) -> (Vec<bool>, HashSet<NodeId>) {
    let params = body.params();
    let outs = body.outputs();
    let mut act: Vec<bool> = (0..k).map(|j| active_in[j]).collect();
    loop {
        let roots: Vec<NodeId> = (0..params.len())
            .filter(|&i| if i < k { act[i] } else { active_in[i] })
            .map(|i| params[i])
            .collect();
        let down = body.descendants(&roots);
        let mut changed = false;
        for j in 0..k {
            if !act[j] && body.ty(outs[j]).dtype.is_float() && down.contains(&outs[j]) {
                act[j] = true;
                changed = true;
            }
        }
        if !changed {
            return (act, down);
        }
    }
}

/// A fresh parameter name in `dst` derived from `base`.
pub(crate) fn add_param_named(dst: &mut Graph, base: &str, ty: TensorType) -> Result<NodeId> {
    let base = if base.is_empty() { "v" } else { base };
    contract::add_fresh_param(dst, base, ty)
}

/// The text name of `v` in `g` without the `%`, or `fallback`.
pub(crate) fn base_name(g: &Graph, v: NodeId, fallback: &str) -> String {
    g[v].name.clone().unwrap_or_else(|| fallback.to_string())
}

/// Copies into `dst` the nodes of `src` that `roots` depend on, stopping at
/// the nodes already in `map` (their copies). Names are kept when
/// `keep_names` (the caller guarantees they cannot clash). Reaching an
/// unmapped parameter is an internal error.
pub(crate) fn copy_into(
    src: &Graph,
    dst: &mut Graph,
    map: &mut HashMap<NodeId, NodeId>,
    roots: &[NodeId],
    keep_names: bool,
) -> Result<()> {
    let mut need: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(v) = stack.pop() {
        if map.contains_key(&v) || !need.insert(v) {
            continue;
        }
        if matches!(src[v].op, Op::Param { .. }) {
            return Err(Error::pass(format!(
                "internal: splitting @{}: parameter {} is not available",
                src.name(),
                src.display_name(v)
            )));
        }
        stack.extend(src.operands(v));
    }
    for id in src.topo_order()? {
        if !need.contains(&id) {
            continue;
        }
        let node = &src[id];
        let ops: Vec<NodeId> = src.operands(id).iter().map(|o| map[o]).collect();
        let new = dst.add_unchecked(node.op.clone(), node.ty.clone(), &ops);
        if keep_names {
            dst[new].name = node.name.clone();
        }
        map.insert(id, new);
    }
    Ok(())
}

/// A copy of the function `b` to differentiate, as the `grad` and `vjp`
/// passes prepare theirs ([`contract::prepare_calls`]): calls of custom ops
/// without a `vjp` rule are inlined, and under a batch (whose custom rules
/// are not batched) every call is. Inlining keeps parameters and outputs.
pub(crate) fn vjp_copy(b: &BodyRef, batch: &[usize]) -> Result<Graph> {
    let mut gv: Graph = b.graph().clone();
    let rule = if batch.is_empty() {
        contract::Rule::Vjp
    } else {
        contract::Rule::None
    };
    contract::prepare_calls(&mut gv, rule)?;
    Ok(gv)
}

/// The VJP of a `scan` (see the module docs). With a budget
/// ([`budget::current`]) the backward sweep is a `revolve`
/// (`loop_vjp_budget.rs`); `mask`, for the scan of a bounded
/// `while`, is the index of the `ys` result holding the active-trip mask.
fn scan_vjp(
    g: &mut Graph,
    n: NodeId,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
    mask: Option<usize>,
) -> Result<Vec<Lin>> {
    let Op::Scan {
        body,
        carry: k,
        xs: m,
        length,
        reverse,
    } = g[n].op.clone()
    else {
        return Err(Error::pass("internal: scan_vjp on a non-scan"));
    };
    let ops = g.operands(n);
    let np = ops.len();
    let q = body.outputs().len() - k;
    let bparams = body.params().to_vec();
    let bouts = body.outputs().to_vec();

    // Forward activity, then the nonzero-cotangent fixpoint.
    let (active_c, down) = carry_activity(&body, k, needs);
    let y_nz: Vec<bool> = (0..q)
        .map(|i| !cts[k + i].is_zero() && down.contains(&bouts[k + i]))
        .collect();
    let mut nz: Vec<bool> = (0..k).map(|j| active_c[j] && !cts[j].is_zero()).collect();
    loop {
        let seeds: Vec<NodeId> = (0..k)
            .filter(|&j| nz[j])
            .map(|j| bouts[j])
            .chain((0..q).filter(|&i| y_nz[i]).map(|i| bouts[k + i]))
            .collect();
        let up = body.ancestors(&seeds);
        let mut changed = false;
        for j in 0..k {
            if active_c[j] && !nz[j] && up.contains(&bparams[j]) {
                nz[j] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let wants_init = (0..k).any(|j| nz[j] && needs[j]);
    if !wants_init && !(k..np).any(|i| needs[i]) {
        return Ok(vec![Lin::Zero; np]);
    }

    // The body's VJP graph: the body plus cotangent parameters and adjoint
    // nodes.
    let mut gv = vjp_copy(&body, batch)?;
    // The same parameters; outputs that were calls are now their bodies.
    let gouts = gv.outputs().to_vec();
    let mut seeds = Vec::new();
    let mut ct_c = Vec::new(); // (carry index, cotangent parameter)
    let mut ct_y = Vec::new(); // (y index, cotangent parameter)
    for j in (0..k).filter(|&j| nz[j]) {
        let ty = batched(batch, body.ty(bparams[j]));
        let base = format!("{}_ct", base_name(&body, bparams[j], "c"));
        let c = add_param_named(&mut gv, &base, ty)?;
        seeds.push((gouts[j], c));
        ct_c.push((j, c));
    }
    for i in (0..q).filter(|&i| y_nz[i]) {
        let ty = batched(batch, body.ty(bouts[k + i]));
        let c = add_param_named(&mut gv, &format!("y{i}_ct"), ty)?;
        seeds.push((gouts[k + i], c));
        ct_y.push((i, c));
    }
    let wrt_idx: Vec<usize> = (0..k)
        .filter(|&j| nz[j])
        .chain((k..np).filter(|&i| needs[i]))
        .collect();
    let wrt: Vec<NodeId> = wrt_idx.iter().map(|&i| bparams[i]).collect();
    let limit = budget::current();
    let res = {
        // Loops in the body are budgeted out of this loop's budget.
        let _inner =
            budget::scoped(limit.map(|l| budget::inner_limit(l, budget::has_loops(body.graph()))));
        backpropagate(&mut gv, &seeds, &wrt, batch)
    }
    .map_err(|e| e.context(format!("reverse mode through scan body @{}", body.name())))?;
    let ct_of: HashMap<usize, Lin> = wrt_idx.iter().copied().zip(res).collect();

    let ct_params: Vec<NodeId> = seeds.iter().map(|s| s.1).collect();
    let carry_outs: Vec<Lin> = ct_c.iter().map(|&(j, _)| ct_of[&j]).collect();
    // Scanned inputs and invariants that no cotangent reaches in the body
    // get none (and no accumulator or stack).
    let reached = |i: &usize| needs[*i] && !ct_of[i].is_zero();
    let inv_idx: Vec<usize> = (k + m..np).filter(reached).collect();
    let xs_idx: Vec<usize> = (k..k + m).filter(reached).collect();
    let inv_outs: Vec<Lin> = inv_idx.iter().map(|i| ct_of[i]).collect();
    let xs_outs: Vec<Lin> = xs_idx.iter().map(|i| ct_of[i]).collect();
    if ct_c.is_empty() && inv_idx.is_empty() && xs_idx.is_empty() {
        return Ok(vec![Lin::Zero; np]);
    }
    let roots: Vec<NodeId> = carry_outs
        .iter()
        .chain(&inv_outs)
        .chain(&xs_outs)
        .filter_map(|l| l.node())
        .collect();
    let adj = BodyAdjoint {
        body: body.clone(),
        k,
        m,
        length,
        reverse,
        gv,
        bparams: bparams.clone(),
        ct_c,
        ct_y,
        inv_idx,
        xs_idx,
        carry_outs,
        inv_outs,
        xs_outs,
        roots,
    };
    if let Some(l) = limit {
        return crate::loop_vjp_budget::scan_vjp(g, n, adj, l, cts, batch, needs, mask);
    }
    let BodyAdjoint { gv, roots, .. } = &adj;

    // Partial evaluation: adjoint nodes depend on a cotangent parameter;
    // primal nodes that depend on a carry or a scanned slice vary per step.
    let adjoint = gv.descendants(&ct_params);
    let varying = gv.descendants(&bparams[..k + m]);
    let pindex: HashMap<NodeId, usize> = bparams.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let mut residual_set: HashSet<NodeId> = HashSet::new();
    let mut need_param: HashSet<usize> = HashSet::new();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut stack = roots.clone();
    let ct_param_set: HashSet<NodeId> = ct_params.iter().copied().collect();
    while let Some(v) = stack.pop() {
        if !seen.insert(v) || ct_param_set.contains(&v) {
            continue;
        }
        if let Some(&i) = pindex.get(&v) {
            if i < k {
                residual_set.insert(v);
            } else {
                need_param.insert(i);
            }
            continue;
        }
        if !adjoint.contains(&v) && varying.contains(&v) {
            residual_set.insert(v);
            continue;
        }
        stack.extend(gv.operands(v));
    }
    let residuals: Vec<NodeId> = gv
        .topo_order()?
        .into_iter()
        .filter(|v| residual_set.contains(v))
        .collect();

    // The forward body: the primal plus the residuals as extra ys. A
    // residual that already is one of the body's ys reuses its stack.
    let mut stack_of: Vec<Option<usize>> = residuals
        .iter()
        .map(|v| (0..q).find(|&i| gouts[k + i] == *v).map(|i| k + i))
        .collect();
    let extra: Vec<NodeId> = residuals
        .iter()
        .zip(&stack_of)
        .filter(|(_, s)| s.is_none())
        .map(|(&v, _)| v)
        .collect();
    if !extra.is_empty() {
        let mut fwd = Graph::new(format!("{}_fwd", body.name()));
        let mut map = HashMap::new();
        for &p in &bparams {
            let np = fwd.add_param(base_name(gv, p, "p"), gv.ty(p).clone())?;
            map.insert(p, np);
        }
        let outs: Vec<NodeId> = gouts.iter().chain(&extra).copied().collect();
        copy_into(gv, &mut fwd, &mut map, &outs, true)?;
        fwd.set_outputs(outs.iter().map(|o| map[o]).collect());
        g[n].op = Op::Scan {
            body: BodyRef::new(fwd),
            carry: k,
            xs: m,
            length,
            reverse,
        };
    }
    for (next, s) in (k + q..).zip(stack_of.iter_mut().filter(|s| s.is_none())) {
        *s = Some(next);
    }
    let existing = g.projections(n);
    let mut res_stacks = Vec::with_capacity(residuals.len());
    for (&v, s) in residuals.iter().zip(&stack_of) {
        let index = s.expect("assigned");
        if let Some(Some(p)) = existing.get(index) {
            res_stacks.push(*p);
            continue;
        }
        let t = gv.ty(v);
        let mut d = vec![length];
        d.extend_from_slice(t.shape.dims());
        let ty = TensorType::new(t.dtype, d);
        res_stacks.push(g.add_unchecked(Op::Project { index }, ty, &[n]));
    }

    // The backward body.
    let mut bwd = Graph::new(format!("{}_bwd", body.name()));
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let accs = adj.add_carry_params(&mut bwd, &mut map, batch)?;
    adj.add_ct_y_params(&mut bwd, &mut map)?;
    for &v in &residuals {
        let base = format!("{}_res", base_name(gv, v, "r"));
        let p = add_param_named(&mut bwd, &base, gv.ty(v).clone())?;
        map.insert(v, p);
    }
    let mut need_xs: Vec<usize> = need_param.iter().copied().filter(|&i| i < k + m).collect();
    need_xs.sort_unstable();
    let mut need_inv: Vec<usize> = need_param.iter().copied().filter(|&i| i >= k + m).collect();
    need_inv.sort_unstable();
    for &i in need_xs.iter().chain(&need_inv) {
        let p = add_param_named(
            &mut bwd,
            &base_name(gv, bparams[i], "p"),
            gv.ty(bparams[i]).clone(),
        )?;
        map.insert(bparams[i], p);
    }
    adj.finish_bwd(&mut bwd, &mut map, &accs, batch)?;

    // The backward scan, in the opposite direction.
    let (mut operands, ct_stacks) = adj.init_operands(g, &ops, cts, batch)?;
    let carry_b = operands.len();
    operands.extend(&ct_stacks);
    operands.extend(&res_stacks);
    operands.extend(need_xs.iter().map(|&i| ops[i]));
    let xs_b = ct_stacks.len() + res_stacks.len() + need_xs.len();
    operands.extend(need_inv.iter().map(|&i| ops[i]));
    let results = g
        .add_multi(
            Op::Scan {
                body: BodyRef::new(bwd),
                carry: carry_b,
                xs: xs_b,
                length,
                reverse: !reverse,
            },
            &operands,
        )
        .map_err(|e| e.context(format!("internal: backward scan of @{}", body.name())))?;
    adj.operand_cotangents(g, &results, needs, np, batch, |_, s| Ok(s))
}

/// The VJP of one branch of a `cond`: parameters the branch's operands
/// then one cotangent per result in `nzq`; outputs the cotangent of each
/// operand in `active` (indices among the branch parameters), explicit
/// zeros where the branch does not use it.
fn branch_vjp(b: &BodyRef, active: &[usize], nzq: &[usize], batch: &[usize]) -> Result<Graph> {
    let mut gv = vjp_copy(b, batch)?;
    let outs = gv.outputs().to_vec();
    let params = b.params().to_vec();
    let mut seeds = Vec::new();
    for &q in nzq {
        let ty = batched(batch, b.ty(outs[q]));
        let c = add_param_named(&mut gv, &format!("r{q}_ct"), ty)?;
        seeds.push((outs[q], c));
    }
    let wrt: Vec<NodeId> = active.iter().map(|&i| params[i]).collect();
    let cts = backpropagate(&mut gv, &seeds, &wrt, batch)
        .map_err(|e| e.context(format!("reverse mode through branch @{}", b.name())))?;
    let mut new_outs = Vec::new();
    for (&w, c) in wrt.iter().zip(cts) {
        let ty = batched(batch, b.ty(w));
        new_outs.push(c.materialize(&mut gv, &ty)?);
    }
    gv.set_outputs(new_outs);
    remove_dead(&mut gv)?;
    // Named after backpropagation, so that errors name the user's branch.
    gv.set_name(format!("{}_vjp", b.name()));
    Ok(gv)
}

/// The VJP of a `cond`: the same predicate chooses between the branches'
/// VJPs (rule 10: no masking, only the taken branch's derivative runs).
fn cond_vjp(
    g: &mut Graph,
    n: NodeId,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
) -> Result<Vec<Lin>> {
    let Op::Cond { then, els } = g[n].op.clone() else {
        return Err(Error::pass("internal: cond_vjp on a non-cond"));
    };
    let ops = g.operands(n);
    let active: Vec<usize> = (1..ops.len()).filter(|&i| needs[i]).collect();
    let nzq: Vec<usize> = (0..cts.len()).filter(|&q| !cts[q].is_zero()).collect();
    let branch_active: Vec<usize> = active.iter().map(|i| i - 1).collect();
    let tv = branch_vjp(&then, &branch_active, &nzq, batch)?;
    let ev = branch_vjp(&els, &branch_active, &nzq, batch)?;
    let mut operands = ops.clone();
    operands.extend(nzq.iter().map(|&q| cts[q].node().expect("nonzero")));
    let results = g.add_multi(
        Op::Cond {
            then: BodyRef::new(tv),
            els: BodyRef::new(ev),
        },
        &operands,
    )?;
    let mut out = vec![Lin::Zero; ops.len()];
    for (r, &i) in active.iter().enumerate() {
        out[i] = Lin::Val(results[r]);
    }
    Ok(out)
}

/// The names of the results of `n`, for messages: `%a, %b`.
pub(crate) fn result_names(g: &Graph, n: NodeId) -> String {
    let names: Vec<String> = g
        .projections(n)
        .into_iter()
        .flatten()
        .map(|p| g.display_name(p))
        .collect();
    if names.is_empty() {
        g.display_name(n)
    } else {
        names.join(", ")
    }
}

/// The VJP of a `while`: zeros when no nonzero tangent flows through
/// (rules 5 and 12); an error without `max_trips`; otherwise the rewrite
/// as a scan ([`bounded_while_as_scan`]) and the scan's VJP.
fn while_vjp(
    g: &mut Graph,
    n: NodeId,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
) -> Result<Vec<Lin>> {
    let Op::While {
        cond,
        body,
        carry: k,
        max_trips,
    } = g[n].op.clone()
    else {
        return Err(Error::pass("internal: while_vjp on a non-while"));
    };
    let np = g.operands(n).len();
    let (active_c, _) = carry_activity(&body, k, needs);
    if !(0..k).any(|j| active_c[j] && !cts[j].is_zero()) {
        return Ok(vec![Lin::Zero; np]);
    }
    if max_trips.is_none() {
        let message = format!(
            "while {} (body=@{}, cond=@{}) in @{}: reverse mode needs a bound on the trip count; add max_trips=N to the while, or use scan",
            result_names(g, n),
            body.name(),
            cond.name(),
            g.name()
        );
        return Err(node_err(g, n, message));
    }
    bounded_while_as_scan(g, n)?;
    let mut cts2 = cts[..k].to_vec();
    cts2.push(Lin::Zero);
    let mut needs2 = needs[..k].to_vec();
    needs2.push(false);
    needs2.extend_from_slice(&needs[k..]);
    // Under a budget the trip scan also returns the active-trip mask, and
    // the checkpointed reversal covers only the trips that ran.
    let mask = match budget::current() {
        Some(_) => {
            crate::loop_vjp_budget::add_trip_mask(g, n)?;
            cts2.push(Lin::Zero);
            Some(k + 1)
        }
        None => None,
    };
    let mut r = scan_vjp(g, n, &cts2, batch, &needs2, mask)?;
    r.remove(k);
    Ok(r)
}

/// Rewrites the bounded `while` node `n` in place as a `scan` of length
/// `max_trips` with the same results (bit for bit): carries `(c…,
/// running)`, body `@<body>_trip`:
/// `active = cond(running, c…, k…) then=@cond else=@<cond>_stopped`,
/// `c' = cond(active, c…, k…) then=@body else=@<body>_skip`,
/// returning `(c'…, active)`. The projections of the while's results keep
/// their indices; the flag is result `carry`.
pub fn bounded_while_as_scan(g: &mut Graph, n: NodeId) -> Result<()> {
    let Op::While {
        cond,
        body,
        carry: k,
        max_trips: Some(trips),
    } = g[n].op.clone()
    else {
        return Err(Error::pass(
            "internal: bounded_while_as_scan needs a while with max_trips",
        ));
    };
    let ops = g.operands(n);
    let bool_ty = TensorType::new(adjoint_ir::DType::Bool, adjoint_ir::Shape::scalar());
    let sig = |name: String, like: &Graph| -> Result<(Graph, Vec<NodeId>)> {
        let mut f = Graph::new(name);
        let mut ps = Vec::new();
        for &p in like.params() {
            ps.push(f.add_param(base_name(like, p, "p"), like.ty(p).clone())?);
        }
        Ok((f, ps))
    };
    // `@<cond>_stopped`: false.
    let (mut stopped, _) = sig(format!("{}_stopped", cond.name()), &cond)?;
    let f = stopped.constant(Tensor::from_bool([], vec![false])?);
    stopped.set_outputs(vec![f]);
    // `@<body>_skip`: the carries unchanged.
    let (mut skip, ps) = sig(format!("{}_skip", body.name()), &body)?;
    skip.set_outputs(ps[..k].to_vec());
    // `@<body>_trip`.
    let (mut trip, ps) = sig(format!("{}_trip", body.name()), &body)?;
    let running = trip.add_param(trip.fresh_name("running"), bool_ty)?;
    let mut args = vec![running];
    args.extend(&ps);
    let active = g_cond(&mut trip, &cond, stopped, &args)?[0];
    args[0] = active;
    let mut outs = g_cond(&mut trip, &body, skip, &args)?;
    outs.push(active);
    trip.set_outputs(outs);
    // The trip body takes (carries, running, invariants): move `running`
    // after the carries.
    let mut order: Vec<NodeId> = ps[..k].to_vec();
    order.push(running);
    order.extend(&ps[k..]);
    let trip = reorder_params(trip, &order)?;

    let t = g.constant(Tensor::from_bool([], vec![true])?);
    let p = ops.len() - k;
    for i in (0..p).rev() {
        g.set_operand(n, k + 1 + i, ops[k + i]);
    }
    g.set_operand(n, k, t);
    g[n].op = Op::Scan {
        body: BodyRef::new(trip),
        carry: k + 1,
        xs: 0,
        length: trips,
        reverse: false,
    };
    g.result_types(n)
        .map_err(|e| e.context("internal: rewriting a bounded while as a scan"))?;
    Ok(())
}

/// Adds `cond(args[0], args[1..]) then=@then else=@els` to `g`.
fn g_cond(g: &mut Graph, then: &BodyRef, els: Graph, args: &[NodeId]) -> Result<Vec<NodeId>> {
    g.add_multi(
        Op::Cond {
            then: then.clone(),
            els: BodyRef::new(els),
        },
        args,
    )
}

/// `f` with its parameters in the order `order` (a permutation of them).
fn reorder_params(f: Graph, order: &[NodeId]) -> Result<Graph> {
    let mut h = Graph::new(f.name());
    let mut map = HashMap::new();
    for &p in order {
        let np = h.add_param(base_name(&f, p, "p"), f.ty(p).clone())?;
        map.insert(p, np);
    }
    let outs = f.outputs().to_vec();
    copy_into(&f, &mut h, &mut map, &outs, true)?;
    h.set_outputs(outs.iter().map(|o| map[o]).collect());
    Ok(h)
}
