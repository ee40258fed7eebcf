//! Loops and conditionals: `scan` and `while` become `stablehlo.while`
//! (with an `i64` trip counter in the state), `cond` becomes
//! `stablehlo.if`, `revolve` a pair of `stablehlo.while` (see
//! [`crate::revolve`]). Bodies are emitted inline into the regions.

use crate::emit::Emitter;
use crate::types::ty;
use adjoint_ir::{Graph, NodeId, Op, Result, TensorType};

pub(crate) const I64: &str = "tensor<i64>";

/// The names of an op's `n` results: `%r` for one, `%r#0 …` for more.
pub(crate) fn results(r: &str, n: usize) -> Vec<String> {
    if n == 1 {
        vec![r.to_string()]
    } else {
        (0..n).map(|i| format!("{r}#{i}")).collect()
    }
}

/// `%r` or `%r:n`.
pub(crate) fn lhs(r: &str, n: usize) -> String {
    if n == 1 {
        r.to_string()
    } else {
        format!("{r}:{n}")
    }
}

/// Opens a block with fresh arguments of the given types; returns them.
pub(crate) fn block(em: &mut Emitter, tys: &[String]) -> Vec<String> {
    let names: Vec<String> = tys.iter().map(|_| em.fresh()).collect();
    let sig: Vec<String> = names
        .iter()
        .zip(tys)
        .map(|(n, t)| format!("{n}: {t}"))
        .collect();
    em.line(&format!("^bb0({}):", sig.join(", ")));
    em.push();
    names
}

/// Closes a block with `stablehlo.return`.
pub(crate) fn ret(em: &mut Emitter, vals: &[String], tys: &[String]) {
    em.line(&format!(
        "\"stablehlo.return\"({}) : ({}) -> ()",
        vals.join(", "),
        tys.join(", ")
    ));
    em.pop();
}

/// `a < b` on `i64` scalars.
pub(crate) fn lt(em: &mut Emitter, a: &str, b: &str) -> String {
    em.raw(
        "compare",
        &[(a, I64), (b, I64)],
        "comparison_direction = #stablehlo<comparison_direction LT>, compare_type = #stablehlo<comparison_type SIGNED>",
        "tensor<i1>",
    )
}

/// `i + 1` on an `i64` scalar.
pub(crate) fn incr(em: &mut Emitter, i: &str) -> String {
    let one = em.index_const(1);
    em.raw("add", &[(i, I64), (&one, I64)], "", I64)
}

/// Row `idx` of the stacked `buf: t[N, …]`, as a `t[…]`: `dynamic_slice`
/// then `reshape`. `zero` is an `i64` zero for the other start indices.
pub(crate) fn read_row(
    em: &mut Emitter,
    buf: &str,
    t: &TensorType,
    idx: &str,
    zero: &str,
) -> String {
    let dims = t.shape.dims();
    let mut sizes = vec![1];
    sizes.extend(&dims[1..]);
    let bty = ty(t);
    let mut sargs = vec![(buf, bty.as_str()), (idx, I64)];
    sargs.extend(std::iter::repeat_n((zero, I64), dims.len() - 1));
    let one_t = TensorType::new(t.dtype, sizes.clone());
    let s = em.raw(
        "dynamic_slice",
        &sargs,
        &format!("slice_sizes = {}", crate::types::arr(&sizes)),
        &ty(&one_t),
    );
    let el = TensorType::new(t.dtype, dims[1..].to_vec());
    em.op("reshape", &[(&s, &one_t)], "", &el)
}

/// `buf: t[N, …]` with row `idx` replaced by `val: t[…]`: `reshape` then
/// `dynamic_update_slice`.
pub(crate) fn write_row(
    em: &mut Emitter,
    buf: &str,
    t: &TensorType,
    val: &str,
    idx: &str,
    zero: &str,
) -> String {
    let dims = t.shape.dims();
    let mut one = vec![1];
    one.extend(&dims[1..]);
    let one_t = TensorType::new(t.dtype, one);
    let yt = TensorType::new(t.dtype, dims[1..].to_vec());
    let y1 = em.op("reshape", &[(val, &yt)], "", &one_t);
    let bty = ty(t);
    let oty = ty(&one_t);
    let mut uargs = vec![(buf, bty.as_str()), (y1.as_str(), oty.as_str()), (idx, I64)];
    uargs.extend(std::iter::repeat_n((zero, I64), dims.len() - 1));
    em.raw("dynamic_update_slice", &uargs, "", &bty)
}

/// Lowers a `scan`, `while`, `revolve` or `cond` node; returns one name per
/// result.
pub(crate) fn lower(
    em: &mut Emitter,
    g: &Graph,
    id: NodeId,
    ops: &[String],
) -> Result<Vec<String>> {
    let in_tys: Vec<TensorType> = g.operands(id).iter().map(|&o| g[o].ty.clone()).collect();
    let out_tys = g.result_types(id)?;
    match &g[id].op {
        Op::Scan {
            body,
            carry,
            xs,
            length,
            reverse,
        } => scan(
            em,
            body.graph(),
            *carry,
            *xs,
            *length,
            *reverse,
            ops,
            &in_tys,
            &out_tys,
        ),
        Op::While {
            cond,
            body,
            carry,
            max_trips,
        } => while_loop(
            em,
            cond.graph(),
            body.graph(),
            *carry,
            *max_trips,
            ops,
            &in_tys,
        ),
        Op::Cond { then, els } => {
            let n = out_tys.len();
            let otys: Vec<String> = out_tys.iter().map(ty).collect();
            let r = em.fresh();
            let loc = em.loc();
            em.line(&format!(
                "{} = \"stablehlo.if\"({}) ({{",
                lhs(&r, n),
                ops[0]
            ));
            em.push();
            let outs = em.graph(then.graph(), &ops[1..])?;
            ret(em, &outs, &otys);
            em.line("}, {");
            em.push();
            let outs = em.graph(els.graph(), &ops[1..])?;
            ret(em, &outs, &otys);
            em.line(&format!(
                "}}) : (tensor<i1>) -> ({}) {loc}",
                otys.join(", ")
            ));
            Ok(results(&r, n))
        }
        Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            masked,
            ..
        } => crate::revolve::lower(
            em,
            &crate::revolve::Revolve {
                step: step.graph(),
                body: body.graph(),
                state: *state,
                carry: *carry,
                xs: *xs,
                length: *length,
                masked: *masked,
            },
            ops,
            &in_tys,
            &out_tys,
        ),
        op => Err(adjoint_ir::Error::new(
            adjoint_ir::ErrorKind::Verify,
            format!(
                "export to StableHLO: internal: {} is not a loop or conditional",
                op.name()
            ),
        )),
    }
}

/// `scan`: state `(i, carries, xs, invariants, stacked ys)`; the body reads
/// `xs[idx]` by `dynamic_slice` and writes `ys[idx]` by
/// `dynamic_update_slice`, where `idx` is `i` or `length - 1 - i`.
#[allow(clippy::too_many_arguments)]
fn scan(
    em: &mut Emitter,
    body: &Graph,
    carry: usize,
    xs: usize,
    length: usize,
    reverse: bool,
    ops: &[String],
    in_tys: &[TensorType],
    out_tys: &[TensorType],
) -> Result<Vec<String>> {
    let ys_tys = &out_tys[carry..];
    if length == 0 {
        // No trips: the carries are the inits and the ys are empty. (A loop
        // would need `dynamic_slice` sizes of 1 on an axis of 0, which
        // StableHLO rejects.)
        let mut out: Vec<String> = ops[..carry].to_vec();
        for t in ys_tys {
            out.push(em.splat(t, 0.0));
        }
        return Ok(out);
    }
    // Initial state.
    let i0 = em.index_const(0);
    let mut init = vec![i0];
    init.extend(ops.iter().cloned());
    for t in ys_tys {
        init.push(em.splat(t, 0.0));
    }
    let mut stys = vec![I64.to_string()];
    stys.extend(in_tys.iter().map(ty));
    stys.extend(ys_tys.iter().map(ty));
    let n = stys.len();
    let r = em.fresh();
    let loc = em.loc();
    em.line(&format!(
        "{} = \"stablehlo.while\"({}) ({{",
        lhs(&r, n),
        init.join(", ")
    ));
    em.push();
    let a = block(em, &stys);
    let len = em.index_const(length);
    let p = lt(em, &a[0], &len);
    ret(em, &[p], &["tensor<i1>".to_string()]);
    em.line("}, {");
    let a = block(em, &stys);
    let idx = if reverse {
        let last = em.index_const(length.saturating_sub(1));
        em.raw("subtract", &[(&last, I64), (&a[0], I64)], "", I64)
    } else {
        a[0].clone()
    };
    let zero = em.index_const(0);
    let nops = in_tys.len();
    let mut args: Vec<String> = a[1..1 + carry].to_vec();
    for k in 0..xs {
        let x = read_row(em, &a[1 + carry + k], &in_tys[carry + k], &idx, &zero);
        args.push(x);
    }
    args.extend(a[1 + carry + xs..1 + nops].iter().cloned());
    let outs = em.graph(body, &args)?;
    let mut next = vec![incr(em, &a[0])];
    next.extend(outs[..carry].iter().cloned());
    next.extend(a[1 + carry..1 + nops].iter().cloned());
    for (k, t) in ys_tys.iter().enumerate() {
        let buf = &a[1 + nops + k];
        next.push(write_row(em, buf, t, &outs[carry + k], &idx, &zero));
    }
    ret(em, &next, &stys);
    em.line(&format!(
        "}}) : ({}) -> ({}) {loc}",
        stys.join(", "),
        stys.join(", ")
    ));
    let all = results(&r, n);
    let mut out: Vec<String> = all[1..1 + carry].to_vec();
    out.extend(all[1 + nops..].iter().cloned());
    Ok(out)
}

/// `while`: state `(carries, invariants)`, with an `i64` trip counter in
/// front when `max_trips` bounds the loop (`and`ed into the condition).
fn while_loop(
    em: &mut Emitter,
    cond: &Graph,
    body: &Graph,
    carry: usize,
    max_trips: Option<usize>,
    ops: &[String],
    in_tys: &[TensorType],
) -> Result<Vec<String>> {
    let c0 = usize::from(max_trips.is_some());
    let mut init = Vec::new();
    let mut stys = Vec::new();
    if max_trips.is_some() {
        init.push(em.index_const(0));
        stys.push(I64.to_string());
    }
    init.extend(ops.iter().cloned());
    stys.extend(in_tys.iter().map(ty));
    let n = stys.len();
    let r = em.fresh();
    let loc = em.loc();
    em.line(&format!(
        "{} = \"stablehlo.while\"({}) ({{",
        lhs(&r, n),
        init.join(", ")
    ));
    em.push();
    let a = block(em, &stys);
    let mut p = em.graph(cond, &a[c0..])?[0].clone();
    if let Some(m) = max_trips {
        let bound = em.index_const(m);
        let under = lt(em, &a[0], &bound);
        p = em.raw(
            "and",
            &[(&p, "tensor<i1>"), (&under, "tensor<i1>")],
            "",
            "tensor<i1>",
        );
    }
    ret(em, &[p], &["tensor<i1>".to_string()]);
    em.line("}, {");
    let a = block(em, &stys);
    let outs = em.graph(body, &a[c0..])?;
    let mut next = Vec::new();
    if max_trips.is_some() {
        next.push(incr(em, &a[0]));
    }
    next.extend(outs[..carry].iter().cloned());
    next.extend(a[c0 + carry..].iter().cloned());
    ret(em, &next, &stys);
    em.line(&format!(
        "}}) : ({}) -> ({}) {loc}",
        stys.join(", "),
        stys.join(", ")
    ));
    Ok(results(&r, n)[c0..c0 + carry].to_vec())
}
