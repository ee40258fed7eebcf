//! The resource limits of the IR (docs/ir.md §12), in one place.
//!
//! They hold for every graph, however it was made: the parser checks them
//! while it reads, [`infer_type`](crate::infer_type) checks the result type
//! of every op (so a pass that would build an oversized type gets an error
//! before anything is allocated), and the [`verify`](crate::verify)er checks
//! every node, which the pass manager runs after every pass. So printed IR
//! always parses back.

use crate::{Op, Shape, TensorType};

/// The largest integer in an attribute or a dimension, and the largest
/// product of a shape's nonzero dimensions: 2^31.
pub const MAX_EXTENT: u64 = 1 << 31;
/// The largest number of elements in a constant (dense or splat): 2^24.
pub const MAX_CONST_ELEMS: u64 = 1 << 24;
/// The largest IR text [`parse_module`](crate::parse_module) reads: 2^30
/// bytes (1 GiB). Larger input is an error before any of it is read.
pub const MAX_INPUT_BYTES: usize = 1 << 30;

/// Checks that every dimension of `shape` is at most [`MAX_EXTENT`] and
/// that its nonzero dimensions multiply to at most [`MAX_EXTENT`], so no
/// element count, stride or byte size computed from it can overflow. The
/// error is a sentence naming the shape.
pub fn check_shape(shape: &Shape) -> std::result::Result<(), String> {
    let mut p: u64 = 1;
    for &d in shape.dims() {
        if d == 0 {
            continue;
        }
        p = u64::try_from(d)
            .ok()
            .and_then(|d| d.checked_mul(p))
            .filter(|&p| p <= MAX_EXTENT)
            .ok_or_else(|| {
                format!("shape {shape} is too large: its dimensions multiply to more than 2^31")
            })?;
    }
    Ok(())
}

/// [`check_shape`] for a type, naming the type.
pub(crate) fn check_type(ty: &TensorType) -> std::result::Result<(), String> {
    check_shape(&ty.shape)
        .map_err(|_| format!("type {ty} is too large: its dimensions multiply to more than 2^31"))
}

/// Checks the limits that depend on the op alone: every integer in its
/// attributes is at most [`MAX_EXTENT`], and a constant has at most
/// [`MAX_CONST_ELEMS`] elements.
pub(crate) fn check_op(op: &Op) -> std::result::Result<(), String> {
    let too_big = |v: usize| u64::try_from(v).map_or(true, |v| v > MAX_EXTENT);
    let lists: Vec<&[usize]> = match op {
        Op::Broadcast { shape } | Op::Reshape { shape } => vec![shape.dims()],
        Op::Transpose { perm } => vec![perm],
        Op::Slice { start, end, stride } => vec![start, end, stride],
        Op::Pad { lo, hi } => vec![lo, hi],
        Op::Concat { axis } => vec![std::slice::from_ref(axis)],
        Op::ReduceSum { axes } | Op::ReduceMax { axes } => vec![axes],
        Op::Const(t) => {
            let ty = t.ty();
            check_type(&ty)?;
            let n = ty.numel() as u64;
            if n > MAX_CONST_ELEMS {
                return Err(format!(
                    "{ty} has {n} elements, more than the limit of 2^24 for a constant"
                ));
            }
            vec![]
        }
        Op::Iota { shape, axis, .. } => {
            check_shape(shape)?;
            vec![shape.dims(), std::slice::from_ref(axis)]
        }
        Op::Scan {
            carry, xs, length, ..
        } => vec![
            std::slice::from_ref(carry),
            std::slice::from_ref(xs),
            std::slice::from_ref(length),
        ],
        Op::While {
            carry, max_trips, ..
        } => vec![std::slice::from_ref(carry), max_trips.as_slice()],
        Op::Revolve {
            state,
            carry,
            xs,
            length,
            snapshots,
            ..
        } => vec![
            std::slice::from_ref(state),
            std::slice::from_ref(carry),
            std::slice::from_ref(xs),
            std::slice::from_ref(length),
            std::slice::from_ref(snapshots),
        ],
        Op::Project { index } => vec![std::slice::from_ref(index)],
        Op::Cond { .. } | Op::Logical(_) => vec![],
        Op::Param { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::MatMul
        | Op::Cast { .. }
        | Op::Call(_) => vec![],
    };
    for l in lists {
        if let Some(&v) = l.iter().find(|&&v| too_big(v)) {
            return Err(format!(
                "attribute value {v} is too large (the limit is 2^31 = {MAX_EXTENT})"
            ));
        }
    }
    if let Op::Broadcast { shape } | Op::Reshape { shape } = op {
        check_shape(shape)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_at_and_past_the_limit() {
        assert!(check_shape(&Shape::new([1 << 31])).is_ok());
        assert!(check_shape(&Shape::new([1 << 16, 1 << 15])).is_ok());
        let e = check_shape(&Shape::new([65536, 65536])).unwrap_err();
        assert!(e.contains("[65536,65536]") && e.contains("2^31"), "{e}");
        // Zero dimensions are left out of the product; the others count.
        assert!(check_shape(&Shape::new([0, 1 << 31, 1])).is_ok());
        assert!(check_shape(&Shape::new([0, 1 << 31, 2])).is_err());
        assert!(check_shape(&Shape::new([usize::MAX, 2])).is_err());
    }
}
