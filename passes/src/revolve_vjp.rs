//! Reverse mode through a `revolve` (reverse over a budgeted reverse, as
//! in `grad{snapshots=S},jacobian{of=1,mode=rev}`).
//!
//! A `revolve` is rewritten, in place, as the pair of scans it is equal
//! to (docs/ir.md, `revolve`), bit for bit: a new forward scan
//! `@<step>_states` that returns every state `s_t` stacked, and the
//! revolve node itself becomes the reverse scan of its body over those
//! states. The existing scan VJP then differentiates both; so the outer
//! reverse sweep stores what a scan's reverse sweep stores, or, when the
//! outer pass has a budget of its own, checkpoints these two scans again.
//!
//! With a mask, the forward scan also carries a `running` flag
//! (`active_t = running ∧ mask_t`): an inactive trip keeps its state
//! (`@<step>_hold`) and the reverse scan skips it (`@<body>_skip`, which
//! returns the carries unchanged and zero outputs), so the trips past the
//! trip count neither run nor contribute.

use crate::emit;
use crate::lin::Lin;
use crate::loop_vjp::{g_cond, scan_vjp};
use adjoint_ir::inline::inline_graph;
use adjoint_ir::{BodyRef, DType, Error, Graph, LogicalOp, NodeId, Op, Result, Shape, TensorType};

/// A new function named `name` with the parameters of `like`, plus extra
/// `bool[]` parameters inserted before parameter `at` (named `extra`).
fn with_params(
    name: String,
    like: &Graph,
    at: usize,
    extra: &[&str],
) -> Result<(Graph, Vec<NodeId>, Vec<NodeId>)> {
    let mut f = Graph::new(name);
    let flag = TensorType::new(DType::Bool, Shape::scalar());
    let (mut ps, mut flags) = (Vec::new(), Vec::new());
    for (i, &p) in like.params().iter().enumerate() {
        if i == at {
            for e in extra {
                let nm = f.fresh_name(e);
                flags.push(f.add_param(nm, flag.clone())?);
            }
        }
        let nm = like[p].name.clone().unwrap_or_else(|| format!("p{i}"));
        let nm = f.fresh_name(&nm);
        ps.push(f.add_param(nm, like.ty(p).clone())?);
    }
    if at >= like.params().len() {
        for e in extra {
            let nm = f.fresh_name(e);
            flags.push(f.add_param(nm, flag.clone())?);
        }
    }
    Ok((f, ps, flags))
}

/// The VJP of the `revolve` node `n` (see the module docs): one cotangent
/// per operand.
pub(crate) fn vjp(
    g: &mut Graph,
    n: NodeId,
    cts: &[Lin],
    batch: &[usize],
    needs: &[bool],
) -> Result<Vec<Lin>> {
    let Op::Revolve {
        body,
        step,
        state: k,
        carry: c,
        xs: m,
        length,
        masked,
        ..
    } = g[n].op.clone()
    else {
        return Err(Error::pass("internal: revolve_vjp on a non-revolve"));
    };
    let ops = g.operands(n);
    let pm = usize::from(masked);
    let p = ops.len() - pm - k - c - m;
    let (states, carries) = (&ops[pm..pm + k], &ops[pm + k..pm + k + c]);
    let rest = &ops[pm + k + c..];

    // The forward scan: (s…, [running]) carried; ([mask_t], x…) scanned;
    // outputs (s'…, [active], s…, [active]).
    let fwd = if masked {
        let (mut f, ps, flags) = with_params(
            format!("{}_states", step.name()),
            &step,
            k,
            &["running", "mask_t"],
        )?;
        let (running, mask_t) = (flags[0], flags[1]);
        let active = f.add(Op::Logical(LogicalOp::And), &[running, mask_t])?;
        // `@<step>_hold`: the states unchanged.
        let (mut hold, hp, _) = with_params(format!("{}_hold", step.name()), &step, 0, &[])?;
        hold.set_outputs(hp[..k].to_vec());
        let mut args = vec![active];
        args.extend(&ps);
        let next = g_cond(&mut f, &step, hold, &args)?;
        let mut outs = next;
        outs.push(active);
        outs.extend(&ps[..k]);
        outs.push(active);
        f.set_outputs(outs);
        f
    } else {
        let (mut f, ps, _) = with_params(format!("{}_states", step.name()), &step, 0, &[])?;
        let mut outs = inline_graph(&mut f, &step, &ps)?;
        outs.extend(&ps[..k]);
        f.set_outputs(outs);
        f
    };
    // The flags sit between the states and the scanned inputs, so the
    // parameters read (carries s…, running; scanned mask_t, x…; inv…).
    let mut a_ops: Vec<NodeId> = states.to_vec();
    if masked {
        let t = g.constant(adjoint_ir::Tensor::from_bool([], vec![true])?);
        a_ops.push(t);
        a_ops.push(ops[0]);
    }
    a_ops.extend(rest);
    let a = g.add_multi(
        Op::Scan {
            body: BodyRef::new(fwd),
            carry: k + pm,
            xs: m + pm,
            length,
            reverse: false,
        },
        &a_ops,
    )?;
    // a = (s_final…, [running], stacked s…, [stacked active]).
    let stacked_s: Vec<NodeId> = a[k + pm..k + pm + k].to_vec();

    // The reverse scan over the stored states, in place of the revolve.
    let bwd = if masked {
        let (mut f, ps, flags) =
            with_params(format!("{}_active", body.name()), &body, c, &["active_t"])?;
        // `@<body>_skip`: the carries unchanged, zero outputs.
        let (mut skip, sp, _) = with_params(format!("{}_skip", body.name()), &body, 0, &[])?;
        let mut outs = sp[..c].to_vec();
        for &o in &body.outputs()[c..] {
            let ty = body.ty(o).clone();
            outs.push(emit::zeros(&mut skip, &ty)?);
        }
        skip.set_outputs(outs);
        let mut args = vec![flags[0]];
        args.extend(&ps);
        let outs = g_cond(&mut f, &body, skip, &args)?;
        f.set_outputs(outs);
        BodyRef::new(f)
    } else {
        body.clone()
    };
    let mut b_ops: Vec<NodeId> = carries.to_vec();
    if masked {
        b_ops.push(a[k + pm + k]);
    }
    b_ops.extend(&stacked_s);
    b_ops.extend(rest);
    let new_op = Op::Scan {
        body: bwd,
        carry: c,
        xs: pm + k + m,
        length,
        reverse: true,
    };
    // Rewrite in place: the projections keep reading results (carries,
    // then ys) at the same indices.
    g[n].op = new_op;
    for (i, &o) in b_ops.iter().enumerate() {
        if i < ops.len() {
            g.set_operand(n, i, o);
        }
    }
    if b_ops.len() != ops.len() {
        return Err(Error::pass(format!(
            "internal: revolve_vjp: {} operands for the reverse scan, the revolve had {}",
            b_ops.len(),
            ops.len()
        )));
    }
    g.result_types(n)
        .map_err(|e| e.context("internal: rewriting a revolve as scans"))?;

    // VJP of the reverse scan: operands (b0…, [active], s…, x…, inv…).
    let float = |g: &Graph, v: NodeId| g.ty(v).dtype.is_float();
    let mut needs_b: Vec<bool> = needs[pm + k..pm + k + c].to_vec();
    if masked {
        needs_b.push(false);
    }
    let state_needed = needs[pm..].iter().any(|&b| b);
    needs_b.extend(stacked_s.iter().map(|&s| state_needed && float(g, s)));
    needs_b.extend_from_slice(&needs[pm + k + c..]);
    let r_b = scan_vjp(g, n, cts, batch, &needs_b, None)?;

    // VJP of the forward scan: operands (s0…, [running, mask], x…, inv…);
    // only the stacked states have a cotangent.
    let a_node = g.operands(a[0])[0];
    let count = g.result_count(a_node);
    let mut cts_a = vec![Lin::Zero; count];
    for i in 0..k {
        cts_a[k + pm + i] = r_b[c + pm + i];
    }
    let mut needs_a: Vec<bool> = needs[pm..pm + k].to_vec();
    if masked {
        needs_a.extend([false, false]);
    }
    needs_a.extend_from_slice(&needs[pm + k + c..]);
    let r_a = scan_vjp(g, a_node, &cts_a, batch, &needs_a, None)?;

    // Back to the revolve's operands: ([mask], s0…, b0…, x…, inv…).
    let mut out = vec![Lin::Zero; pm];
    out.extend_from_slice(&r_a[..k]);
    out.extend_from_slice(&r_b[..c]);
    for j in 0..m + p {
        let from_a = r_a[k + 2 * pm + j];
        let from_b = r_b[c + pm + k + j];
        out.push(from_a.add(g, from_b)?);
    }
    Ok(out)
}
