//! `revolve` (the checkpointed reverse scan) as the semantically equal pair
//! of loops: a forward `stablehlo.while` that runs `step` and stores every
//! state `s_t` in a `[N, …]` buffer with `dynamic_update_slice`, then a
//! reverse `stablehlo.while` that runs `body` for `t = n-1` down to `0` on
//! the stored states. The snapshot budget is not carried over: the engines
//! keep all `n` states (docs/export.md).

use crate::control::{block, incr, lhs, lt, read_row, results, ret, write_row, I64};
use crate::emit::Emitter;
use crate::types::ty;
use adjoint_ir::{Graph, Result, TensorType};

/// The attributes of one `revolve` node that the lowering needs.
pub(crate) struct Revolve<'g> {
    /// The forward step `(states, x slices, invariants) -> states`.
    pub(crate) step: &'g Graph,
    /// The reverse step `(carries, states, x slices, invariants) ->
    /// (carries, ys)`.
    pub(crate) body: &'g Graph,
    pub(crate) state: usize,
    pub(crate) carry: usize,
    pub(crate) xs: usize,
    pub(crate) length: usize,
    pub(crate) masked: bool,
}

/// `t` with a leading axis of `n`.
fn stacked(t: &TensorType, n: usize) -> TensorType {
    let mut d = vec![n];
    d.extend(t.shape.dims());
    TensorType::new(t.dtype, d)
}

/// Lowers a `revolve` node with operands `ops` (`[mask,] states, carries,
/// xs, invariants`, of types `in_tys`); returns the names of its results
/// (the final carries, then the stacked ys).
pub(crate) fn lower(
    em: &mut Emitter,
    r: &Revolve,
    ops: &[String],
    in_tys: &[TensorType],
    out_tys: &[TensorType],
) -> Result<Vec<String>> {
    let (k, c, m) = (r.state, r.carry, r.xs);
    let m0 = usize::from(r.masked);
    let s_ops = &ops[m0..m0 + k];
    let b_ops = &ops[m0 + k..m0 + k + c];
    let x_ops = &ops[m0 + k + c..m0 + k + c + m];
    let k_ops = &ops[m0 + k + c + m..];
    let s_tys = &in_tys[m0..m0 + k];
    let x_tys = &in_tys[m0 + k + c..m0 + k + c + m];
    let k_tys = &in_tys[m0 + k + c + m..];
    let b_tys = &out_tys[..c];
    let ys_tys = &out_tys[c..];
    let p = k_ops.len();
    if r.length == 0 {
        // No trips: the carries are the inits, the ys are empty (a loop
        // would need row slices of an axis of 0, which StableHLO rejects).
        let mut out: Vec<String> = b_ops.to_vec();
        for t in ys_tys {
            out.push(em.splat(t, 0.0));
        }
        return Ok(out);
    }
    let buf_tys: Vec<TensorType> = s_tys.iter().map(|t| stacked(t, r.length)).collect();
    let loc = em.loc();

    // Forward: (i, states, state buffers, xs, invariants[, mask]); while
    // i < N (and mask[i]): buffers[i] = s; s = step(s, xs[i], k). The final
    // i is the trip count n.
    let mut init = vec![em.index_const(0)];
    init.extend(s_ops.iter().cloned());
    for t in &buf_tys {
        init.push(em.splat(t, 0.0));
    }
    init.extend(x_ops.iter().cloned());
    init.extend(k_ops.iter().cloned());
    let mut tys: Vec<String> = vec![I64.to_string()];
    tys.extend(s_tys.iter().map(ty));
    tys.extend(buf_tys.iter().map(ty));
    tys.extend(x_tys.iter().map(ty));
    tys.extend(k_tys.iter().map(ty));
    if r.masked {
        init.push(ops[0].clone());
        tys.push(ty(&in_tys[0]));
    }
    let n1 = tys.len();
    let fwd = em.fresh();
    em.line(&format!(
        "{} = \"stablehlo.while\"({}) ({{",
        lhs(&fwd, n1),
        init.join(", ")
    ));
    em.push();
    let a = block(em, &tys);
    let len = em.index_const(r.length);
    let mut go = lt(em, &a[0], &len);
    if r.masked {
        // dynamic_slice clamps i = N to N-1; `i < N` is false there.
        let zero = em.index_const(0);
        let live = read_row(em, &a[n1 - 1], &in_tys[0], &a[0], &zero);
        go = em.raw(
            "and",
            &[(&go, "tensor<i1>"), (&live, "tensor<i1>")],
            "",
            "tensor<i1>",
        );
    }
    ret(em, &[go], &["tensor<i1>".to_string()]);
    em.line("}, {");
    let a = block(em, &tys);
    let zero = em.index_const(0);
    let (i, s, bufs) = (&a[0], &a[1..1 + k], &a[1 + k..1 + 2 * k]);
    let xs_in = &a[1 + 2 * k..1 + 2 * k + m];
    let ks_in = &a[1 + 2 * k + m..1 + 2 * k + m + p];
    let mut stored = Vec::new();
    for (j, t) in buf_tys.iter().enumerate() {
        stored.push(write_row(em, &bufs[j], t, &s[j], i, &zero));
    }
    let mut args: Vec<String> = s.to_vec();
    for (j, t) in x_tys.iter().enumerate() {
        args.push(read_row(em, &xs_in[j], t, i, &zero));
    }
    args.extend(ks_in.iter().cloned());
    let next_s = em.graph(r.step, &args)?;
    let mut next = vec![incr(em, i)];
    next.extend(next_s[..k].iter().cloned());
    next.extend(stored);
    next.extend(a[1 + 2 * k..].iter().cloned());
    ret(em, &next, &tys);
    em.line(&format!(
        "}}) : ({}) -> ({}) {loc}",
        tys.join(", "),
        tys.join(", ")
    ));
    let f = results(&fwd, n1);
    let trips = f[0].clone();
    let buffers = f[1 + k..1 + 2 * k].to_vec();

    // Reverse: (j, carries, state buffers, xs, invariants, ys buffers, n);
    // while j < n: t = n-1-j; (b, y) = body(b, buffers[t], xs[t], k);
    // ys[t] = y.
    let mut init = vec![em.index_const(0)];
    init.extend(b_ops.iter().cloned());
    init.extend(buffers);
    init.extend(x_ops.iter().cloned());
    init.extend(k_ops.iter().cloned());
    for t in ys_tys {
        init.push(em.splat(t, 0.0));
    }
    init.push(trips);
    let mut tys: Vec<String> = vec![I64.to_string()];
    tys.extend(b_tys.iter().map(ty));
    tys.extend(buf_tys.iter().map(ty));
    tys.extend(x_tys.iter().map(ty));
    tys.extend(k_tys.iter().map(ty));
    tys.extend(ys_tys.iter().map(ty));
    tys.push(I64.to_string());
    let n2 = tys.len();
    let rev = em.fresh();
    em.line(&format!(
        "{} = \"stablehlo.while\"({}) ({{",
        lhs(&rev, n2),
        init.join(", ")
    ));
    em.push();
    let a = block(em, &tys);
    let go = lt(em, &a[0], &a[n2 - 1]);
    ret(em, &[go], &["tensor<i1>".to_string()]);
    em.line("}, {");
    let a = block(em, &tys);
    let zero = em.index_const(0);
    let one = em.index_const(1);
    let last = em.raw("subtract", &[(&a[n2 - 1], I64), (&one, I64)], "", I64);
    let t_idx = em.raw("subtract", &[(&last, I64), (&a[0], I64)], "", I64);
    let b = &a[1..1 + c];
    let bufs = &a[1 + c..1 + c + k];
    let xs_in = &a[1 + c + k..1 + c + k + m];
    let ks_in = &a[1 + c + k + m..1 + c + k + m + p];
    let ys_in = &a[1 + c + k + m + p..n2 - 1];
    let mut args: Vec<String> = b.to_vec();
    for (j, t) in buf_tys.iter().enumerate() {
        args.push(read_row(em, &bufs[j], t, &t_idx, &zero));
    }
    for (j, t) in x_tys.iter().enumerate() {
        args.push(read_row(em, &xs_in[j], t, &t_idx, &zero));
    }
    args.extend(ks_in.iter().cloned());
    let outs = em.graph(r.body, &args)?;
    let mut next = vec![incr(em, &a[0])];
    next.extend(outs[..c].iter().cloned());
    next.extend(a[1 + c..1 + c + k + m + p].iter().cloned());
    for (j, t) in ys_tys.iter().enumerate() {
        next.push(write_row(em, &ys_in[j], t, &outs[c + j], &t_idx, &zero));
    }
    next.push(a[n2 - 1].clone());
    ret(em, &next, &tys);
    em.line(&format!(
        "}}) : ({}) -> ({}) {loc}",
        tys.join(", "),
        tys.join(", ")
    ));
    let all = results(&rev, n2);
    let mut out: Vec<String> = all[1..1 + c].to_vec();
    out.extend(all[1 + c + k + m + p..n2 - 1].iter().cloned());
    Ok(out)
}
