//! Reverse mode through a loop under a memory budget (`grad{snapshots=S}`,
//! `grad{memory=BYTES}`; see docs/passes.md, "Reverse mode under a memory
//! budget").
//!
//! The primal `scan` stays as it is (no residual is stored), and the
//! backward sweep is one [`Op::Revolve`] over the scan's carries:
//!
//! - **states**: all the carries of the scan, `s_0` its initial carries;
//! - **step** `@<body>_step`: the primal body with its `ys` dropped (its
//!   parameters: the states, the slices of every scanned input of the
//!   revolve, the invariants), so that the engines' `body_evals` count of
//!   `<body>_step` is the schedule's number of forward steps;
//! - **body** `@<body>_bwd`: the body's VJP ([`crate::loop_vjp`]'s
//!   [`BodyAdjoint`]) with every primal value it reads recomputed from the
//!   state `s_t` (residuals inside one step are recomputed, not stored);
//! - **carries**: the carry cotangents and the accumulated invariant
//!   cotangents; **xs**: the primal scanned inputs, then the `ys`
//!   cotangents; **ys**: the scanned inputs' cotangents;
//! - a `reverse=true` scan consumes `xs[N−1−t]` at step `t`, so its scanned
//!   inputs and `ys` cotangents are reversed along the leading axis for
//!   the revolve and its `ys` reversed back ([`flip_leading`]);
//! - a bounded `while`, rewritten as a trip scan, also returns its
//!   active-trip mask ([`add_trip_mask`]), and the revolve is
//!   `masked=true`: the schedule covers the trips that ran, counted at run
//!   time.
//!
//! The snapshots come from [`crate::budget`]; each loop adds a note with
//! its schedule.

use crate::budget::{self, Limit, LoopCost};
use crate::emit;
use crate::lin::Lin;
use crate::loop_vjp::{add_param_named, base_name, copy_into, result_names, BodyAdjoint};
use adjoint_ir::revolve::forward_steps;
use adjoint_ir::{BodyRef, DType, Error, Graph, NodeId, Op, Result, Shape, TensorType};
use std::collections::HashMap;

/// Adds the active-trip flag as a `ys` output of the trip scan `n` (made
/// by [`crate::loop_vjp::bounded_while_as_scan`]): result `carry` of the
/// scan (its last carry is the flag), a `bool[max_trips]` whose leading
/// `true`s are the trips that ran.
pub(crate) fn add_trip_mask(g: &mut Graph, n: NodeId) -> Result<()> {
    let Op::Scan {
        body,
        carry,
        xs,
        length,
        reverse,
    } = g[n].op.clone()
    else {
        return Err(Error::pass("internal: add_trip_mask on a non-scan"));
    };
    let mut b = body.graph().clone();
    let mut outs = b.outputs().to_vec();
    outs.push(outs[carry - 1]);
    b.set_outputs(outs);
    g[n].op = Op::Scan {
        body: BodyRef::new(b),
        carry,
        xs,
        length,
        reverse,
    };
    Ok(())
}

/// `x` reversed along its leading axis, by data movement only (bit for
/// bit): padded to a power of two `P = 2^a` rows, reshaped to `a` axes of
/// two, each of which is swapped (two slices and a concat), and the
/// padding sliced off.
pub(crate) fn flip_leading(g: &mut Graph, x: NodeId) -> Result<NodeId> {
    let dims = g.ty(x).shape.dims().to_vec();
    let n = dims[0];
    if n <= 1 {
        return Ok(x);
    }
    let r = dims.len();
    let p = n.next_power_of_two();
    let a = p.trailing_zeros() as usize;
    let mut v = x;
    if p > n {
        let mut hi = vec![0; r];
        hi[0] = p - n;
        v = g.add(Op::Pad { lo: vec![0; r], hi }, &[v])?;
    }
    let mut bits: Vec<usize> = vec![2; a];
    bits.extend_from_slice(&dims[1..]);
    v = emit::reshape(g, v, &Shape::from(bits.clone()))?;
    for axis in 0..a {
        let half = |g: &mut Graph, lo: usize| {
            let mut start = vec![0; bits.len()];
            let mut end = bits.clone();
            start[axis] = lo;
            end[axis] = lo + 1;
            let stride = vec![1; bits.len()];
            g.add(Op::Slice { start, end, stride }, &[v])
        };
        let first = half(g, 0)?;
        let second = half(g, 1)?;
        v = g.add(Op::Concat { axis }, &[second, first])?;
    }
    let mut full = vec![p];
    full.extend_from_slice(&dims[1..]);
    v = emit::reshape(g, v, &Shape::from(full.clone()))?;
    if p > n {
        let mut start = vec![0; r];
        start[0] = p - n;
        v = g.add(
            Op::Slice {
                start,
                end: full,
                stride: vec![1; r],
            },
            &[v],
        )?;
    }
    Ok(v)
}

fn bytes(ty: &TensorType) -> u64 {
    ty.size_bytes() as u64
}

/// The budgeted VJP of scan `n` (see the module docs): `adj` is its body
/// differentiated, `l` its budget, `mask` the index of the active-trip
/// mask result for the scan of a bounded while.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_vjp(
    g: &mut Graph,
    n: NodeId,
    adj: BodyAdjoint,
    l: Limit,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
    mask: Option<usize>,
) -> Result<Vec<Lin>> {
    let ops = g.operands(n);
    let np = ops.len();
    let (k, m, length, reverse) = (adj.k, adj.m, adj.length, adj.reverse);
    let body = adj.body.clone();
    let gv = &adj.gv;
    let bparams = &adj.bparams;
    if k == 0 {
        return map_vjp(g, n, &adj, cts, batch, needs);
    }
    let ct_y_tys: Vec<TensorType> = adj.ct_y.iter().map(|&(_, c)| gv.ty(c).clone()).collect();

    // `@<body>_step`: the primal body without its ys, taking the
    // revolve's x slices (the ys cotangents unused).
    let mut step = Graph::new(format!("{}_step", body.name()));
    let mut smap = HashMap::new();
    for &p in &bparams[..k + m] {
        let q = step.add_param(base_name(&body, p, "p"), body.ty(p).clone())?;
        smap.insert(p, q);
    }
    for ty in &ct_y_tys {
        add_param_named(&mut step, "y_ct", ty.clone())?;
    }
    for &p in &bparams[k + m..] {
        let q = add_param_named(&mut step, &base_name(&body, p, "p"), body.ty(p).clone())?;
        smap.insert(p, q);
    }
    let souts = body.outputs()[..k].to_vec();
    copy_into(body.graph(), &mut step, &mut smap, &souts, true)?;
    step.set_outputs(souts.iter().map(|o| smap[o]).collect());

    // `@<body>_bwd`: (carries, states, x slices, invariants), every
    // primal value recomputed from the state.
    let mut bwd = Graph::new(format!("{}_bwd", body.name()));
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let accs = adj.add_carry_params(&mut bwd, &mut map, batch)?;
    for &p in &bparams[..k + m] {
        let q = add_param_named(&mut bwd, &base_name(gv, p, "p"), gv.ty(p).clone())?;
        map.insert(p, q);
    }
    adj.add_ct_y_params(&mut bwd, &mut map)?;
    for &p in &bparams[k + m..] {
        let q = add_param_named(&mut bwd, &base_name(gv, p, "p"), gv.ty(p).clone())?;
        map.insert(p, q);
    }
    adj.finish_bwd(&mut bwd, &mut map, &accs, batch)?;

    // The operands: [mask] states, carries, xs (primal, then ys
    // cotangents; reversed for a reverse scan), invariants.
    let mut operands = Vec::new();
    if let Some(mi) = mask {
        let ty = TensorType::new(DType::Bool, Shape::from(vec![length]));
        let p = match g.projections(n).get(mi) {
            Some(Some(p)) => *p,
            _ => g.add_unchecked(Op::Project { index: mi }, ty, &[n]),
        };
        operands.push(p);
    }
    operands.extend_from_slice(&ops[..k]);
    let (carries, ct_stacks) = adj.init_operands(g, &ops, cts, batch)?;
    let carry_b = carries.len();
    let carry_bytes: u64 = carries.iter().map(|&c| bytes(g.ty(c))).sum();
    operands.extend(carries);
    let mut xs: Vec<NodeId> = ops[k..k + m].to_vec();
    xs.extend(ct_stacks);
    let mut flipped_bytes = 0;
    if reverse {
        for x in xs.iter_mut() {
            *x = flip_leading(g, *x)?;
            flipped_bytes += bytes(g.ty(*x));
        }
    }
    let xs_b = xs.len();
    operands.extend(xs);
    operands.extend_from_slice(&ops[k + m..]);

    // The budget.
    let state_bytes: u64 = ops[..k].iter().map(|&s| bytes(g.ty(s))).sum();
    let xs_ct_bytes: u64 = adj
        .xs_idx
        .iter()
        .map(|&i| bytes(g.ty(ops[i])) * batch.iter().product::<usize>() as u64)
        .sum();
    let fixed = 2 * state_bytes
        + 2 * carry_bytes
        + xs_ct_bytes * if reverse { 2 } else { 1 }
        + flipped_bytes
        + budget::body_bytes(&bwd).max(budget::body_bytes(&step));
    let kind = if mask.is_some() { "while" } else { "scan" };
    let cost = LoopCost {
        what: format!(
            "{kind} {} (body=@{}) in @{}",
            result_names(g, n),
            body.name(),
            g.name()
        ),
        length,
        state_bytes,
        fixed_bytes: fixed,
        has_loops: budget::has_loops(body.graph()),
    };
    let snapshots = budget::snapshots(l, &cost)?;
    let held = snapshots.min(length.max(1)) as u64;
    budget::note(format!(
        "revolve {}: {kind} body=@{} T{}{length} S={snapshots} forward_steps{}{} state_bytes={state_bytes} snapshot_bytes={} predicted_bytes={}",
        result_names(g, n),
        body.name(),
        if mask.is_some() { "<=" } else { "=" },
        if mask.is_some() { "<=" } else { "=" },
        forward_steps(length as u64, snapshots as u64),
        held * state_bytes,
        fixed + held * state_bytes,
    ));

    let results = g
        .add_multi(
            Op::Revolve {
                body: BodyRef::new(bwd),
                step: BodyRef::new(step),
                state: k,
                carry: carry_b,
                xs: xs_b,
                length,
                snapshots,
                masked: mask.is_some(),
            },
            &operands,
        )
        .map_err(|e| {
            e.context(format!(
                "internal: checkpointed reversal of @{}",
                body.name()
            ))
        })?;
    adj.operand_cotangents(g, &results, needs, np, batch, |g, s| {
        if reverse {
            flip_leading(g, s)
        } else {
            Ok(s)
        }
    })
}

/// A budgeted `carry=0` scan (a map): there is no state to checkpoint, so
/// the backward sweep is a scan in the opposite direction whose body
/// `@<body>_bwd` recomputes each step from its slices and invariants,
/// storing nothing.
fn map_vjp(
    g: &mut Graph,
    n: NodeId,
    adj: &BodyAdjoint,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
) -> Result<Vec<Lin>> {
    let ops = g.operands(n);
    let (m, length) = (adj.m, adj.length);
    let (gv, bparams, body) = (&adj.gv, &adj.bparams, &adj.body);
    let mut bwd = Graph::new(format!("{}_bwd", body.name()));
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let accs = adj.add_carry_params(&mut bwd, &mut map, batch)?;
    for &p in &bparams[..m] {
        let q = add_param_named(&mut bwd, &base_name(gv, p, "p"), gv.ty(p).clone())?;
        map.insert(p, q);
    }
    adj.add_ct_y_params(&mut bwd, &mut map)?;
    for &p in &bparams[m..] {
        let q = add_param_named(&mut bwd, &base_name(gv, p, "p"), gv.ty(p).clone())?;
        map.insert(p, q);
    }
    adj.finish_bwd(&mut bwd, &mut map, &accs, batch)?;
    let (mut operands, ct_stacks) = adj.init_operands(g, &ops, cts, batch)?;
    let carry_b = operands.len();
    operands.extend_from_slice(&ops[..m]);
    let xs_b = m + ct_stacks.len();
    operands.extend(ct_stacks);
    operands.extend_from_slice(&ops[m..]);
    budget::note(format!(
        "revolve {}: scan body=@{} T={length} S=0 forward_steps=0 (no carries: each step recomputed from its slices, nothing stored)",
        result_names(g, n),
        body.name(),
    ));
    let results = g
        .add_multi(
            Op::Scan {
                body: BodyRef::new(bwd),
                carry: carry_b,
                xs: xs_b,
                length,
                reverse: !adj.reverse,
            },
            &operands,
        )
        .map_err(|e| e.context(format!("internal: backward scan of @{}", body.name())))?;
    adj.operand_cotangents(g, &results, needs, ops.len(), batch, |_, s| Ok(s))
}
