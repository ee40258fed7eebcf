//! The contract shared by every transform pass (`grad`, `vjp`, `jvp` and
//! the Jacobian pass): which parameters are differentiated (`wrt`), which
//! output (`of`), how new parameters are named, and how custom ops without
//! the needed rule are handled.
//!
//! - Without `wrt`, every floating-point parameter, in declaration order
//!   (`bool` parameters carry no derivative and are skipped). A listed
//!   `wrt` keeps the order given; listing a `bool` parameter, an unknown
//!   name or a name twice is an error.
//! - Transforms never remove or reorder parameters or outputs; they only
//!   append.

use crate::inline::inline_calls_where;
use crate::PassOptions;
use adjoint_ir::{Error, Graph, NodeId, Result, TensorType};

/// The `wrt` option's names, or `None` (all parameters).
pub fn wrt_option(pass: &str, opts: &PassOptions) -> Result<Option<Vec<String>>> {
    match opts.get("wrt") {
        None => Ok(None),
        Some(v) => {
            for (i, n) in v.iter().enumerate() {
                if v[..i].contains(n) {
                    return Err(Error::input(format!(
                        "{pass}: parameter `{n}` is listed twice in wrt"
                    )));
                }
            }
            Ok(Some(v.to_vec()))
        }
    }
}

/// Resolves `wrt` names to parameter nodes (see the module docs).
pub fn resolve_wrt(pass: &str, g: &Graph, wrt: Option<&[String]>) -> Result<Vec<NodeId>> {
    match wrt {
        None => Ok(g
            .params()
            .iter()
            .copied()
            .filter(|&p| g.ty(p).dtype.is_float())
            .collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                let p = g.param_by_name(n).ok_or_else(|| {
                    Error::pass(format!(
                        "{pass}: @{} has no parameter `{n}`; its parameters are: {}",
                        g.name(),
                        g.param_names().join(", ")
                    ))
                })?;
                if !g.ty(p).dtype.is_float() {
                    return Err(Error::pass(format!(
                        "{pass}: parameter `{n}` of @{} is {} and has no derivative",
                        g.name(),
                        g.ty(p)
                    )));
                }
                Ok(p)
            })
            .collect(),
    }
}

/// The output to differentiate: output `of`, or the only output. Errors if
/// there are several outputs and no `of`, or `of` is out of range.
pub fn select_output(pass: &str, g: &Graph, of: Option<usize>) -> Result<usize> {
    let n = g.outputs().len();
    match of {
        Some(k) if k < n => Ok(k),
        Some(k) => Err(Error::pass(format!(
            "{pass}: of={k} but @{} has {n} output(s)",
            g.name()
        ))),
        None if n == 1 => Ok(0),
        None => Err(Error::pass(format!(
            "{pass}: @{} has {n} outputs; say which one to differentiate with of=K (0-based)",
            g.name()
        ))),
    }
}

/// A fresh value name: `base`, else `base2`, `base3`, …
pub fn fresh(g: &Graph, base: &str) -> String {
    g.fresh_name(base)
}

/// Adds a parameter with a fresh name derived from `base`.
pub fn add_fresh_param(g: &mut Graph, base: &str, ty: TensorType) -> Result<NodeId> {
    let name = fresh(g, base);
    g.add_param(name, ty)
}

/// Names an appended derivative output `base` (fresh) if the value has no
/// name yet and is not a parameter, so dumps read `return %y, %x_grad`.
pub fn name_output(g: &mut Graph, id: NodeId, base: &str) {
    if g[id].name.is_none() && !g.params().contains(&id) {
        let n = fresh(g, base);
        g[id].name = Some(n);
    }
}

/// Which custom-op rule a transform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Reverse mode: the op's `vjp`.
    Vjp,
    /// Forward mode: the op's `jvp`.
    Jvp,
    /// Batched transforms: custom rules are unbatched, inline every call.
    None,
}

/// Inlines the calls of custom ops that lack the rule the transform needs,
/// so their bodies are differentiated instead. Returns the nodes added.
pub fn prepare_calls(g: &mut Graph, rule: Rule) -> Result<usize> {
    let (added, _) = inline_calls_where(g, |c| match rule {
        Rule::Vjp => c.vjp.is_none(),
        Rule::Jvp => c.jvp.is_none(),
        Rule::None => true,
    })?;
    Ok(added)
}
