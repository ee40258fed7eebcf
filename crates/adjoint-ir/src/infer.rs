//! Type inference: the result type of every op from its operand types. This
//! is the single statement of each op's dtype and shape rule; the builder,
//! the parser and the verifier all call it.

use crate::{DType, Error, Op, Result, Shape, TensorType};

fn fmt_types(tys: &[&TensorType]) -> String {
    tys.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn err(op: &Op, tys: &[&TensorType], msg: impl std::fmt::Display) -> Error {
    Error::type_error(format!(
        "{}: {msg} (operands: {})",
        op.name(),
        fmt_types(tys)
    ))
}

fn check_axes(op: &Op, tys: &[&TensorType], axes: &[usize], rank: usize) -> Result<()> {
    let mut seen = vec![false; rank];
    for &a in axes {
        if a >= rank {
            return Err(err(
                op,
                tys,
                format!("axis {a} out of range for rank {rank}"),
            ));
        }
        if seen[a] {
            return Err(err(op, tys, format!("axis {a} listed twice")));
        }
        seen[a] = true;
    }
    Ok(())
}

fn float_operand(op: &Op, tys: &[&TensorType], t: &TensorType) -> Result<()> {
    if t.dtype.is_float() {
        Ok(())
    } else {
        Err(err(
            op,
            tys,
            format!("expects float operands, got {}", t.dtype),
        ))
    }
}

/// The result shape of numpy `matmul` on operands of shapes `a` and `b`, or
/// an explanation of why they do not multiply.
pub fn matmul_shape(a: &Shape, b: &Shape) -> std::result::Result<Shape, String> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err("operands must have rank at least 1".into());
    }
    // Promote 1-D operands as numpy does.
    let a2: Vec<usize> = if a.rank() == 1 {
        vec![1, a.0[0]]
    } else {
        a.0.clone()
    };
    let b2: Vec<usize> = if b.rank() == 1 {
        vec![b.0[0], 1]
    } else {
        b.0.clone()
    };
    let (m, k1) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k1 != k2 {
        return Err(format!("contracted dimensions differ ({k1} vs {k2})"));
    }
    let batch_a = Shape(a2[..a2.len() - 2].to_vec());
    let batch_b = Shape(b2[..b2.len() - 2].to_vec());
    let batch = Shape::broadcast(&batch_a, &batch_b)
        .ok_or_else(|| format!("batch dimensions {batch_a} and {batch_b} do not broadcast"))?;
    let mut out = batch.0;
    if a.rank() > 1 {
        out.push(m);
    }
    if b.rank() > 1 {
        out.push(n);
    }
    Ok(Shape(out))
}

/// The result type of `op` applied to operands of types `operands`.
///
/// `param` has no inferable type (its type is declared), so it is an error
/// here.
///
/// ```
/// use adjoint_ir::{infer_type, Op, BinaryOp, TensorType};
/// let a = TensorType::f64([2, 3]);
/// assert_eq!(infer_type(&Op::Binary(BinaryOp::Add), &[&a, &a]).unwrap(), a);
/// let b = TensorType::f64([3]);
/// let e = infer_type(&Op::Binary(BinaryOp::Add), &[&a, &b]).unwrap_err();
/// assert!(e.message.contains("add") && e.message.contains("f64[2,3]") && e.message.contains("f64[3]"));
/// ```
///
/// Every limit of docs/ir.md §12 that applies to one op is checked here:
/// its attribute integers, a constant's element count, and the result type
/// (no dimension product over 2^31), so no op can be built with a type that
/// the text format would reject.
///
/// ```
/// use adjoint_ir::{infer_type, Op, TensorType};
/// let x = TensorType::f64([65536]);
/// let op = Op::Broadcast { shape: [65536, 65536].into() };
/// let e = infer_type(&op, &[&x]).unwrap_err();
/// assert!(e.message.contains("[65536,65536]") && e.message.contains("2^31"));
/// ```
pub fn infer_type(op: &Op, operands: &[&TensorType]) -> Result<TensorType> {
    if op.is_multi_result() {
        return Ok(infer_types(op, operands)?.swap_remove(0));
    }
    crate::limits::check_op(op).map_err(|m| err(op, operands, m))?;
    let ty = infer_unchecked(op, operands)?;
    crate::limits::check_type(&ty).map_err(|m| err(op, operands, format!("result {m}")))?;
    Ok(ty)
}

/// The result types of `op` on operands of types `operands`: one type for a
/// single-result op, every result's type for `scan`, `while` and `cond`
/// (whose body signatures are checked here). The limits of
/// [`infer_type`] apply to every result.
pub fn infer_types(op: &Op, operands: &[&TensorType]) -> Result<Vec<TensorType>> {
    if !op.is_multi_result() {
        return Ok(vec![infer_type(op, operands)?]);
    }
    crate::limits::check_op(op).map_err(|m| err(op, operands, m))?;
    if !op.arity().accepts(operands.len()) {
        return Err(err(
            op,
            operands,
            format!("expects {} operands, got {}", op.arity(), operands.len()),
        ));
    }
    let tys = crate::control::result_types(op, operands)?;
    for (i, ty) in tys.iter().enumerate() {
        crate::limits::check_type(ty).map_err(|m| err(op, operands, format!("result {i} {m}")))?;
    }
    Ok(tys)
}

fn infer_unchecked(op: &Op, operands: &[&TensorType]) -> Result<TensorType> {
    let tys = operands;
    if !op.arity().accepts(tys.len()) {
        return Err(err(
            op,
            tys,
            format!("expects {} operands, got {}", op.arity(), tys.len()),
        ));
    }
    match op {
        Op::Param { .. } => Err(err(op, tys, "a parameter's type is declared, not inferred")),
        Op::Const(t) => Ok(t.ty()),
        Op::Unary(_) => {
            float_operand(op, tys, tys[0])?;
            Ok(tys[0].clone())
        }
        Op::Binary(_) | Op::Compare(_) => {
            float_operand(op, tys, tys[0])?;
            if tys[0].dtype != tys[1].dtype {
                return Err(err(op, tys, "operand dtypes differ (insert a cast)"));
            }
            if tys[0].shape != tys[1].shape {
                return Err(err(op, tys, "operand shapes differ"));
            }
            Ok(match op {
                Op::Compare(_) => tys[0].with_dtype(DType::Bool),
                _ => tys[0].clone(),
            })
        }
        Op::Select => {
            if tys[0].dtype != DType::Bool {
                return Err(err(op, tys, "condition must be bool"));
            }
            if tys[1].dtype != tys[2].dtype {
                return Err(err(op, tys, "branch dtypes differ"));
            }
            if tys[0].shape != tys[1].shape || tys[1].shape != tys[2].shape {
                return Err(err(op, tys, "operand shapes differ"));
            }
            Ok(tys[1].clone())
        }
        Op::Broadcast { shape } => {
            if !tys[0].shape.broadcasts_to(shape) {
                return Err(err(
                    op,
                    tys,
                    format!("shape {} does not broadcast to {shape}", tys[0].shape),
                ));
            }
            Ok(TensorType::new(tys[0].dtype, shape.clone()))
        }
        Op::Reshape { shape } => {
            if shape.checked_numel().is_none() || shape.numel() != tys[0].numel() {
                return Err(err(
                    op,
                    tys,
                    format!(
                        "cannot reshape {} elements to {shape} ({} elements)",
                        tys[0].numel(),
                        shape.numel()
                    ),
                ));
            }
            Ok(TensorType::new(tys[0].dtype, shape.clone()))
        }
        Op::Transpose { perm } => {
            let rank = tys[0].shape.rank();
            if perm.len() != rank {
                return Err(err(
                    op,
                    tys,
                    format!("perm {perm:?} has {} entries for rank {rank}", perm.len()),
                ));
            }
            check_axes(op, tys, perm, rank)?;
            let dims = perm.iter().map(|&p| tys[0].shape.0[p]).collect::<Vec<_>>();
            Ok(TensorType::new(tys[0].dtype, dims))
        }
        Op::Slice { start, end, stride } => {
            let dims = tys[0].shape.dims();
            let rank = dims.len();
            if start.len() != rank || end.len() != rank || stride.len() != rank {
                return Err(err(
                    op,
                    tys,
                    format!(
                        "start {start:?}, end {end:?} and stride {stride:?} need {rank} entries each"
                    ),
                ));
            }
            let mut out = Vec::with_capacity(rank);
            for i in 0..rank {
                if stride[i] == 0 {
                    return Err(err(op, tys, format!("stride on axis {i} is 0")));
                }
                if start[i] > end[i] || end[i] > dims[i] {
                    return Err(err(
                        op,
                        tys,
                        format!(
                            "axis {i}: need start <= end <= dim, got start {} end {} dim {}",
                            start[i], end[i], dims[i]
                        ),
                    ));
                }
                out.push((end[i] - start[i]).div_ceil(stride[i]));
            }
            Ok(TensorType::new(tys[0].dtype, out))
        }
        Op::Pad { lo, hi } => {
            let dims = tys[0].shape.dims();
            if lo.len() != dims.len() || hi.len() != dims.len() {
                return Err(err(
                    op,
                    tys,
                    format!("lo {lo:?} and hi {hi:?} need {} entries each", dims.len()),
                ));
            }
            let out = (0..dims.len())
                .map(|i| {
                    lo[i]
                        .checked_add(dims[i])
                        .and_then(|d| d.checked_add(hi[i]))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(op, tys, "the padded shape overflows"))?;
            Ok(TensorType::new(tys[0].dtype, out))
        }
        Op::Concat { axis } => {
            let first = tys[0];
            let rank = first.shape.rank();
            if *axis >= rank {
                return Err(err(
                    op,
                    tys,
                    format!("axis {axis} out of range for rank {rank}"),
                ));
            }
            let mut total = 0;
            for t in tys {
                if t.dtype != first.dtype {
                    return Err(err(op, tys, "operand dtypes differ"));
                }
                if t.shape.rank() != rank
                    || (0..rank).any(|i| i != *axis && t.shape.0[i] != first.shape.0[i])
                {
                    return Err(err(
                        op,
                        tys,
                        format!("operand shapes must agree except on axis {axis}"),
                    ));
                }
                total = usize::checked_add(total, t.shape.0[*axis])
                    .ok_or_else(|| err(op, tys, "the concatenated axis overflows"))?;
            }
            let mut dims = first.shape.0.clone();
            dims[*axis] = total;
            Ok(TensorType::new(first.dtype, dims))
        }
        Op::ReduceSum { axes } | Op::ReduceMax { axes } => {
            float_operand(op, tys, tys[0])?;
            let rank = tys[0].shape.rank();
            check_axes(op, tys, axes, rank)?;
            let dims = (0..rank)
                .filter(|i| !axes.contains(i))
                .map(|i| tys[0].shape.0[i])
                .collect::<Vec<_>>();
            Ok(TensorType::new(tys[0].dtype, dims))
        }
        Op::MatMul => {
            float_operand(op, tys, tys[0])?;
            if tys[0].dtype != tys[1].dtype {
                return Err(err(op, tys, "operand dtypes differ (insert a cast)"));
            }
            let shape = matmul_shape(&tys[0].shape, &tys[1].shape).map_err(|m| err(op, tys, m))?;
            Ok(TensorType::new(tys[0].dtype, shape))
        }
        Op::Cast { to } => {
            if !to.is_float() {
                return Err(err(op, tys, format!("cannot cast to {to}")));
            }
            Ok(tys[0].with_dtype(*to))
        }
        Op::Iota { shape, axis, dtype } => {
            if !dtype.is_float() {
                return Err(err(
                    op,
                    tys,
                    format!("the dtype must be f32 or f64, got {dtype}"),
                ));
            }
            if *axis >= shape.rank() {
                return Err(err(
                    op,
                    tys,
                    format!("axis {axis} out of range for rank {}", shape.rank()),
                ));
            }
            Ok(TensorType::new(*dtype, shape.clone()))
        }
        Op::Logical(_) => {
            for t in tys {
                if t.dtype != DType::Bool {
                    return Err(err(
                        op,
                        tys,
                        format!("expects bool operands, got {}", t.dtype),
                    ));
                }
            }
            if tys.iter().any(|t| t.shape != tys[0].shape) {
                return Err(err(op, tys, "operand shapes differ"));
            }
            Ok(tys[0].clone())
        }
        Op::Scan { .. } | Op::While { .. } | Op::Revolve { .. } | Op::Cond { .. } => {
            Ok(crate::control::result_types(op, tys)?.swap_remove(0))
        }
        Op::Project { index } => Err(err(
            op,
            tys,
            format!(
                "result {index} of a multi-result node: its type comes from the producer \
                 (use Graph::add_multi)"
            ),
        )),
        Op::Call(c) => {
            let params = c.body.params();
            for (i, (&p, t)) in params.iter().zip(tys).enumerate() {
                let want = &c.body[p].ty;
                if want != *t {
                    return Err(err(
                        op,
                        tys,
                        format!("@{} operand {i} must be {want}, got {t}", c.name),
                    ));
                }
            }
            Ok(c.output_type().clone())
        }
    }
}
