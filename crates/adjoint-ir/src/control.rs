//! The type rules of the control-flow ops `scan`, `while`, `revolve` and
//! `cond`: their
//! body signatures and result types. [`crate::infer_types`] calls these;
//! this is the one statement of them.

use crate::{BodyRef, DType, Error, Op, Result, Shape, TensorType};

fn list(tys: &[TensorType]) -> String {
    tys.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn err(op: &Op, msg: impl std::fmt::Display) -> Error {
    Error::type_error(format!("{}: {msg}", op.name()))
}

/// Checks that `f` takes exactly `params` and, when `outputs` is given,
/// returns exactly `outputs`. `role` names the attribute (`body`, `cond`,
/// `then`, `else`).
fn check_sig(
    op: &Op,
    role: &str,
    f: &BodyRef,
    params: &[TensorType],
    outputs: Option<&[TensorType]>,
) -> Result<()> {
    let have = f.param_types();
    if have != params {
        return Err(err(
            op,
            format!(
                "{role}=@{} must take ({}) to match the operands, it takes ({})",
                f.name(),
                list(params),
                list(&have)
            ),
        ));
    }
    if let Some(want) = outputs {
        let got = f.output_types();
        if got != want {
            return Err(err(
                op,
                format!(
                    "{role}=@{} must return ({}), it returns ({})",
                    f.name(),
                    list(want),
                    list(&got)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `f`'s first `k` outputs are the carry types `carries`.
fn check_carries(op: &Op, f: &BodyRef, carries: &[TensorType]) -> Result<()> {
    let got = f.output_types();
    if got.len() < carries.len() {
        return Err(err(
            op,
            format!(
                "body=@{} returns {} values, fewer than the {} carries ({})",
                f.name(),
                got.len(),
                carries.len(),
                list(carries)
            ),
        ));
    }
    for (i, (g, c)) in got.iter().zip(carries).enumerate() {
        if g != c {
            return Err(err(
                op,
                format!(
                    "body=@{} changes the type of carry {i} from {c} to {g}",
                    f.name()
                ),
            ));
        }
    }
    Ok(())
}

/// The slice types `x[t]` of scanned inputs of types `tys`, each with
/// leading dimension `length`.
fn slices(op: &Op, tys: &[&TensorType], length: usize) -> Result<Vec<TensorType>> {
    let mut out = Vec::with_capacity(tys.len());
    for (i, t) in tys.iter().enumerate() {
        let d = t.shape.dims();
        if d.is_empty() {
            return Err(err(
                op,
                format!("scanned input {i} ({t}) has no leading axis to scan over"),
            ));
        }
        if d[0] != length {
            return Err(err(
                op,
                format!(
                    "scanned input {i} ({t}) has leading dimension {}, but the {}'s length is {length}",
                    d[0],
                    op.name()
                ),
            ));
        }
        out.push(TensorType::new(t.dtype, Shape::from(d[1..].to_vec())));
    }
    Ok(out)
}

/// `carries` followed by each of `ys` stacked along a new leading axis of
/// `length`: the results of a scan-like op.
fn stacked(mut carries: Vec<TensorType>, ys: &[TensorType], length: usize) -> Vec<TensorType> {
    for y in ys {
        let mut d = vec![length];
        d.extend_from_slice(y.shape.dims());
        carries.push(TensorType::new(y.dtype, Shape::from(d)));
    }
    carries
}

fn owned(tys: &[&TensorType]) -> Vec<TensorType> {
    tys.iter().map(|&t| t.clone()).collect()
}

/// The result types of a `scan`, `while`, `revolve` or `cond` on operands of types
/// `tys`, after checking the body signatures. Errors name the op and the
/// function.
pub(crate) fn result_types(op: &Op, tys: &[&TensorType]) -> Result<Vec<TensorType>> {
    match op {
        Op::Scan {
            body,
            carry,
            xs,
            length,
            ..
        } => {
            let (k, m) = (*carry, *xs);
            if k + m > tys.len() {
                return Err(err(
                    op,
                    format!(
                        "carry={k} and xs={m} need {} operands, there are {}",
                        k + m,
                        tys.len()
                    ),
                ));
            }
            let carries = owned(&tys[..k]);
            let mut params = carries.clone();
            params.extend(slices(op, &tys[k..k + m], *length)?);
            params.extend(owned(&tys[k + m..]));
            check_sig(op, "body", body, &params, None)?;
            check_carries(op, body, &carries)?;
            let outs = body.output_types();
            if outs.is_empty() {
                return Err(err(
                    op,
                    format!(
                        "body=@{} has no carries and no outputs (a scan needs at least one result)",
                        body.name()
                    ),
                ));
            }
            Ok(stacked(carries, &outs[k..], *length))
        }
        Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            snapshots,
            masked,
        } => {
            let (p, k, c, m) = (usize::from(*masked), *state, *carry, *xs);
            let need = p + k + c + m;
            if need > tys.len() {
                return Err(err(
                    op,
                    format!(
                        "{}state={k}, carry={c} and xs={m} need {need} operands, there are {}",
                        if *masked { "the mask, " } else { "" },
                        tys.len()
                    ),
                ));
            }
            if k == 0 {
                return Err(err(op, "needs at least one state (state=0)"));
            }
            if *snapshots == 0 {
                return Err(err(
                    op,
                    "snapshots=0: at least one snapshot (the initial state) is needed",
                ));
            }
            if *masked {
                let want = TensorType::new(DType::Bool, Shape::from(vec![*length]));
                if *tys[0] != want {
                    return Err(err(
                        op,
                        format!("the mask must be {want}, it is {}", tys[0]),
                    ));
                }
            }
            let states = owned(&tys[p..p + k]);
            let carries = owned(&tys[p + k..p + k + c]);
            let x = slices(op, &tys[p + k + c..need], *length)?;
            let inv = owned(&tys[need..]);
            let step_params: Vec<TensorType> =
                states.iter().chain(&x).chain(&inv).cloned().collect();
            check_sig(op, "step", step, &step_params, Some(&states))?;
            let body_params: Vec<TensorType> = carries
                .iter()
                .chain(&states)
                .chain(&x)
                .chain(&inv)
                .cloned()
                .collect();
            check_sig(op, "body", body, &body_params, None)?;
            check_carries(op, body, &carries)?;
            let outs = body.output_types();
            if outs.is_empty() {
                return Err(err(
                    op,
                    format!(
                        "body=@{} has no carries and no outputs (a revolve needs at least one result)",
                        body.name()
                    ),
                ));
            }
            Ok(stacked(carries, &outs[c..], *length))
        }
        Op::While {
            cond, body, carry, ..
        } => {
            let k = *carry;
            if k == 0 {
                return Err(err(op, "needs at least one carry (carry=0)"));
            }
            if k > tys.len() {
                return Err(err(
                    op,
                    format!("carry={k} needs {k} operands, there are {}", tys.len()),
                ));
            }
            let params = owned(tys);
            let carries = owned(&tys[..k]);
            check_sig(
                op,
                "cond",
                cond,
                &params,
                Some(&[TensorType::new(DType::Bool, Shape::scalar())]),
            )?;
            check_sig(op, "body", body, &params, None)?;
            check_carries(op, body, &carries)?;
            if body.outputs().len() != k {
                return Err(err(
                    op,
                    format!(
                        "body=@{} must return exactly the {k} carries ({}), it returns ({})",
                        body.name(),
                        list(&carries),
                        list(&body.output_types())
                    ),
                ));
            }
            Ok(carries)
        }
        Op::Cond { then, els } => {
            let pred_ty = TensorType::new(DType::Bool, Shape::scalar());
            match tys.first() {
                Some(&t) if *t == pred_ty => {}
                Some(&t) => {
                    return Err(err(op, format!("the predicate must be bool[], it is {t}")))
                }
                None => return Err(err(op, "needs a predicate operand")),
            }
            let params = owned(&tys[1..]);
            check_sig(op, "then", then, &params, None)?;
            check_sig(op, "else", els, &params, None)?;
            let (t, e) = (then.output_types(), els.output_types());
            if t != e {
                return Err(err(
                    op,
                    format!(
                        "the branches return different types: then=@{} returns ({}), else=@{} returns ({})",
                        then.name(),
                        list(&t),
                        els.name(),
                        list(&e)
                    ),
                ));
            }
            if t.is_empty() {
                return Err(err(
                    op,
                    format!(
                        "the branches @{} and @{} return nothing",
                        then.name(),
                        els.name()
                    ),
                ));
            }
            Ok(t)
        }
        _ => Err(err(op, "not a control-flow op")),
    }
}
