//! The checks of loop and conditional statements (`scan`, `while`,
//! `cond`) that need the text: counts against operands, where a type error
//! belongs, declared result types.

use super::attrs::{funcs_label, Attrs};
use crate::op_table::AttrValue;
use crate::{DType, Error, Graph, Loc, NodeId, Op, Result, Shape, TensorType};

/// `body=@f`, `body=@f cond=@p`, `then=@t else=@e`: the functions an op
/// runs, for messages.
pub(super) fn bodies_label(op: &Op) -> String {
    funcs_label(&op.attrs())
}

/// `s` unless `n` is 1.
pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Checks a loop statement's `carry`/`xs` counts against its operands (an
/// error at the count's attribute), and fills a scan's `length` from its
/// scanned inputs when it is not given (an error at the op when there are
/// none).
pub(super) fn loop_counts(
    op: &str,
    a: &mut Attrs,
    g: &Graph,
    ids: &[NodeId],
    op_loc: Loc,
) -> Result<()> {
    let n = ids.len();
    let fns = a.bodies_label();
    let carry = a.usize("carry");
    if let Some((k, l)) = carry {
        if k > n {
            return Err(Error::parse(
                l,
                format!(
                    "{op}: carry={k} is more than the {n} operand{} ({fns})",
                    plural(n)
                ),
            ));
        }
    }
    if op != "scan" && op != "revolve" {
        return Ok(());
    }
    // Operands before the scanned inputs: a scan's carries; a revolve's
    // mask, states and carries.
    let before = if op == "scan" {
        carry.map_or(0, |(k, _)| k)
    } else {
        let masked = matches!(a.get("masked"), Some((AttrValue::Bool(true), _)));
        let state = a.usize("state").map_or(0, |(k, _)| k);
        usize::from(masked) + state + carry.map_or(0, |(k, _)| k)
    };
    let Some((m, xs_loc)) = a.usize("xs") else {
        return Ok(());
    };
    if before + m > n {
        return Err(Error::parse(
            xs_loc,
            if op == "scan" {
                format!(
                    "{op}: carry={before} and xs={m} need {} operands, there are {n} ({fns})",
                    before + m
                )
            } else {
                format!(
                    "{op}: the mask, states, carries and xs={m} need {} operands, there are \
                     {n} ({fns})",
                    before + m
                )
            },
        ));
    }
    if a.get("length").is_none() {
        let masked = matches!(a.get("masked"), Some((AttrValue::Bool(true), _)));
        let from = if m > 0 {
            Some(before)
        } else if op == "revolve" && masked && n > 0 {
            Some(0)
        } else {
            None
        };
        let Some(from) = from else {
            return Err(Error::parse(
                op_loc,
                format!("{op} needs the attribute `length` when xs=0 ({fns}), e.g. `length=1`"),
            ));
        };
        let length = g.ty(ids[from]).shape.dims().first().copied().unwrap_or(0);
        a.vals.push(("length", AttrValue::Usize(length)));
        a.locs.push(op_loc);
    }
    Ok(())
}

/// Where a type error of the loop statement `op` belongs: the scanned
/// input whose leading dimension is wrong, the predicate that is not a
/// scalar `bool`, or the attribute naming the function whose signature
/// does not fit.
pub(super) fn loop_error_loc(
    op: &Op,
    tys: &[TensorType],
    operands: &[(NodeId, Loc)],
    a: &Attrs,
    op_loc: Loc,
) -> Loc {
    let at = |name: &str| a.get(name).map_or(op_loc, |(_, l)| l);
    let operand = |i: usize| operands.get(i).map_or(op_loc, |&(_, l)| l);
    let bool_scalar = TensorType::new(DType::Bool, Shape::scalar());
    match op {
        Op::Scan {
            carry, xs, length, ..
        } => {
            for i in *carry..carry + xs {
                if tys.get(i).and_then(|t| t.shape.dims().first()) != Some(length) {
                    return operand(i);
                }
            }
            at("body")
        }
        Op::Revolve {
            state,
            carry,
            xs,
            length,
            masked,
            ..
        } => {
            let first = usize::from(*masked) + state + carry;
            let mask = TensorType::new(DType::Bool, Shape::from(vec![*length]));
            if *masked && tys.first() != Some(&mask) {
                return operand(0);
            }
            for i in first..first + xs {
                if tys.get(i).and_then(|t| t.shape.dims().first()) != Some(length) {
                    return operand(i);
                }
            }
            at("body")
        }
        Op::While { cond, .. } => {
            if cond.param_types() != tys || cond.output_types() != [bool_scalar] {
                at("cond")
            } else {
                at("body")
            }
        }
        Op::Cond { then, .. } => {
            if tys.first() != Some(&bool_scalar) {
                operand(0)
            } else if then.param_types() != tys[1..] {
                at("then")
            } else {
                at("else")
            }
        }
        _ => op_loc,
    }
}

/// Checks a multi-result statement's declared types against its results.
pub(super) fn check_declared(
    op: &Op,
    g: &Graph,
    projs: &[NodeId],
    declared: &[(TensorType, Loc)],
) -> Result<()> {
    let name = op.name();
    if declared.len() != projs.len() {
        return Err(Error::parse(
            declared[0].1,
            format!(
                "{name} has {} result{}, but {} type{} declared ({})",
                projs.len(),
                plural(projs.len()),
                declared.len(),
                if declared.len() == 1 { " is" } else { "s are" },
                bodies_label(op)
            ),
        ));
    }
    for (i, (&p, (want, l))) in projs.iter().zip(declared).enumerate() {
        let ty = g.ty(p);
        if want != ty {
            return Err(Error::type_error(format!(
                "{name}: declared type {want} for result {i}, but the operands give {ty} ({})",
                bodies_label(op)
            ))
            .at(*l));
        }
    }
    Ok(())
}
