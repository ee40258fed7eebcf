//! Shape ops: `broadcast` (numpy's right-aligned dims made explicit),
//! strided `slice`, zero `pad` and `iota`.

use crate::elementwise::Arg;
use crate::emit::{arr, Emitter};
use adjoint_ir::TensorType;

/// `broadcast_in_dim` of `x` to `res`, operand axes aligned to the right of
/// the result's (numpy); size-1 axes expand.
pub(crate) fn broadcast(em: &mut Emitter, x: Arg, res: &TensorType) -> String {
    let (r, big) = (x.1.shape.rank(), res.shape.rank());
    let dims: Vec<usize> = (big - r..big).collect();
    em.op(
        "broadcast_in_dim",
        &[x],
        &format!("broadcast_dimensions = {}", arr(&dims)),
        res,
    )
}

/// A strided slice (`end` exclusive, as in StableHLO's `limit_indices`).
pub(crate) fn slice(
    em: &mut Emitter,
    x: Arg,
    start: &[usize],
    end: &[usize],
    stride: &[usize],
    res: &TensorType,
) -> String {
    let attrs = format!(
        "start_indices = {}, limit_indices = {}, strides = {}",
        arr(start),
        arr(end),
        arr(stride)
    );
    em.op("slice", &[x], &attrs, res)
}

/// Zero padding, with the zero as an explicit scalar operand.
pub(crate) fn pad(
    em: &mut Emitter,
    x: Arg,
    lo: &[usize],
    hi: &[usize],
    res: &TensorType,
) -> String {
    let st = TensorType::scalar(res.dtype);
    let zero = em.splat(&st, 0.0);
    let attrs = format!(
        "edge_padding_low = {}, edge_padding_high = {}, interior_padding = {}",
        arr(lo),
        arr(hi),
        arr(&vec![0; lo.len()])
    );
    em.op("pad", &[x, (&zero, &st)], &attrs, res)
}

/// `iota` along `axis` as `i64`, converted to the float result type.
pub(crate) fn iota(em: &mut Emitter, axis: usize, res: &TensorType) -> String {
    let r = em.fresh();
    let dims: String = res.shape.dims().iter().map(|d| format!("{d}x")).collect();
    let ity = format!("tensor<{dims}i64>");
    let text = format!(
        "{r} = \"stablehlo.iota\"() {{iota_dimension = {axis} : i64}} : () -> {ity} {}",
        em.loc()
    );
    em.line(&text);
    let c = em.fresh();
    let text = format!(
        "{c} = \"stablehlo.convert\"({r}) : ({ity}) -> {} {}",
        crate::emit::ty(res),
        em.loc()
    );
    em.line(&text);
    c
}
