//! Checking a program against [`EvalOptions`] before evaluating it: the
//! nesting of custom-op calls and loop bodies and the peak working memory,
//! both computed by the schedule from the types alone (a `cond` branch's
//! peak is checked when the branch is chosen, see `frames.rs`). The errors
//! name the node, its op and the bytes or the depth.

use crate::memory::{scratch_bytes, type_bytes};
use crate::options::EvalOptions;
use crate::schedule::{self, Schedules};
use adjoint_ir::{Error, Graph, Op, Result, TensorType};

/// The `@f: %v = op` (or `= call @name`) description of node `id` of `g`;
/// a multi-result node is named by its projections
/// (`@f: %c, %ys = scan body=@step`, `_` for a result no node reads).
pub(crate) fn describe(g: &Graph, id: adjoint_ir::NodeId) -> String {
    let node = &g[id];
    match &node.op {
        Op::Call(c) => format!("@{}: {} = call @{}", g.name(), g.display_name(id), c.name),
        op if op.is_multi_result() => {
            let names: Vec<String> = g
                .projections(id)
                .into_iter()
                .map(|p| p.map_or_else(|| "_".to_string(), |p| g.display_name(p)))
                .collect();
            let fs: Vec<String> = op
                .bodies()
                .into_iter()
                .zip(attr_names(op))
                .map(|(b, a)| format!("{a}=@{}", b.name()))
                .collect();
            format!(
                "@{}: {} = {} {}",
                g.name(),
                names.join(", "),
                op.name(),
                fs.join(" ")
            )
        }
        op => format!("@{}: {} = {}", g.name(), g.display_name(id), op.name()),
    }
}

/// The attribute names of [`Op::bodies`], in the same order.
fn attr_names(op: &Op) -> &'static [&'static str] {
    match op {
        Op::Scan { .. } => &["body"],
        Op::While { .. } => &["body", "cond"],
        Op::Revolve { .. } => &["body", "step"],
        Op::Cond { .. } => &["then", "else"],
        _ => &[],
    }
}

/// The error for `needs` bytes on top of `held`, over the budget.
fn over_budget(what: String, needs: String, held: u64, opts: &EvalOptions) -> Error {
    let held = if held > 0 {
        format!(", with {held} bytes held by earlier values")
    } else {
        String::new()
    };
    Error::eval(format!(
        "{what}: {needs}{held}; that is over the interpreter's working-memory limit of {} \
         bytes (EvalOptions::max_working_bytes)",
        opts.max_working_bytes
    ))
}

/// The error for a function (`what`, e.g. `then=@t`) whose peak `peak`
/// does not fit in `budget` on top of the `held` bytes of the frames below
/// it: checked when a `cond` branch is chosen, before it runs.
pub(crate) fn over_budget_at(what: String, peak: u64, held: u64, budget: u64) -> Error {
    let held = if held > 0 {
        format!(", with {held} bytes held by earlier values")
    } else {
        String::new()
    };
    Error::eval(format!(
        "{what}: evaluating it needs up to {peak} bytes of working memory{held}; that is over \
         the interpreter's working-memory limit of {budget} bytes (EvalOptions::max_working_bytes)"
    ))
}

/// What a loop node needs at its peak: its results, and its bodies.
fn loop_needs(g: &Graph, id: adjoint_ir::NodeId, needs: u64) -> String {
    let tys = g
        .result_types(id)
        .map(|t| {
            t.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let r = g
        .result_types(id)
        .map(|t| t.iter().map(type_bytes).fold(0u64, u64::saturating_add))
        .unwrap_or(0);
    format!(
        "its results ({tys}) need {r} bytes of working memory, and running it up to {needs} \
         bytes in all"
    )
}

/// What a non-call node needs: its result, and its scratch if any.
fn result_needs(ty: &TensorType, scratch: u64) -> String {
    let r = type_bytes(ty);
    if scratch > 0 {
        format!(
            "its result {ty} needs {r} bytes of working memory and its kernel {scratch} bytes of \
             scratch"
        )
    } else {
        format!("its result {ty} needs {r} bytes of working memory")
    }
}

/// Checks `g` (whose schedule is in `all`), evaluated `base_depth` calls
/// deep, against `opts`.
pub(crate) fn check(
    g: &Graph,
    all: &Schedules,
    opts: &EvalOptions,
    base_depth: usize,
) -> Result<()> {
    let s = schedule::of(all, g)?;
    let depth = s.depth.saturating_add(base_depth);
    if depth > opts.max_call_depth {
        let at = s
            .deepest
            .map_or_else(|| format!("@{}", g.name()), |id| describe(g, id));
        return Err(Error::eval(format!(
            "{at}: custom-op calls and loop bodies nest {depth} deep here, over the interpreter's limit of {} \
             (EvalOptions::max_call_depth)",
            opts.max_call_depth
        )));
    }
    let end = s.end_live.saturating_add(s.output_copies);
    if s.peak.max(end) <= opts.max_working_bytes {
        return Ok(());
    }
    match s.peak_at {
        Some(p) if s.peak >= end => {
            let node = &g[p.node];
            let needs = match &node.op {
                Op::Call(_) => format!(
                    "evaluating the body needs up to {} bytes of working memory",
                    p.needs
                ),
                op if op.is_multi_result() => loop_needs(g, p.node, p.needs),
                _ => result_needs(&node.ty, p.needs.saturating_sub(type_bytes(&node.ty))),
            };
            Err(over_budget(describe(g, p.node), needs, p.held, opts))
        }
        _ => Err(over_budget(
            format!("@{}", g.name()),
            format!(
                "copying the outputs for the caller needs {} bytes",
                s.output_copies
            ),
            s.end_live,
            opts,
        )),
    }
}

/// Checks one op of result type `ty` on operands of types `operands`
/// against the working-memory budget (a `call` is checked by [`check`];
/// loops are not evaluated one op at a time).
pub(crate) fn check_op(
    op: &Op,
    operands: &[&TensorType],
    ty: &TensorType,
    opts: &EvalOptions,
) -> Result<()> {
    let scratch = scratch_bytes(op, operands, ty);
    let needs = type_bytes(ty).saturating_add(scratch);
    if needs <= opts.max_working_bytes {
        return Ok(());
    }
    Err(over_budget(
        op.name().to_string(),
        result_needs(ty, scratch),
        0,
        opts,
    ))
}
