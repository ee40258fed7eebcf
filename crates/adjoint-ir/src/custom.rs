//! User-defined composite ops with their own derivative rules, and modules
//! (the contents of one IR file).

use crate::{verify, Error, Graph, Op, Result, TensorType};
use std::sync::Arc;

/// A composite op: a body built from primitives, plus optional VJP and JVP
/// rules, also built from primitives. The AD passes use the rules instead of
/// differentiating the body; everything else inlines the body.
///
/// Signatures, for a body with parameters `x_1 … x_n` and one output `y`:
/// - `vjp(x_1 … x_n, y, ct) -> (ct_x_1 … ct_x_n)`: `ct` has `y`'s type, and
///   each `ct_x_i` has `x_i`'s type.
/// - `jvp(x_1 … x_n, y, t_1 … t_n) -> t_y`: each `t_i` has `x_i`'s type and
///   `t_y` has `y`'s type.
///
/// Both rules get the primal output `y`, so a rule like the sigmoid's
/// `σ(x)(1 − σ(x))` reuses the forward value.
#[derive(Clone, Debug)]
pub struct CustomOp {
    /// The op's name, used as `call @name` in text.
    pub name: String,
    /// The primal computation.
    pub body: Graph,
    /// The reverse-mode rule, if given.
    pub vjp: Option<Graph>,
    /// The forward-mode rule, if given.
    pub jvp: Option<Graph>,
}

impl CustomOp {
    /// Checks the body and rule signatures and builds the op.
    pub fn new(
        name: impl Into<String>,
        body: Graph,
        vjp: Option<Graph>,
        jvp: Option<Graph>,
    ) -> Result<Arc<CustomOp>> {
        let name = name.into();
        verify(&body).map_err(|e| e.context(format!("custom @{name} body")))?;
        if body.outputs().len() != 1 {
            return Err(Error::type_error(format!(
                "custom @{name}: the body must have exactly one output, it has {}",
                body.outputs().len()
            )));
        }
        let xs = body.param_types();
        let y = body.output_types()[0].clone();
        if let Some(v) = &vjp {
            verify(v).map_err(|e| e.context(format!("custom @{name} vjp")))?;
            let mut want_params = xs.clone();
            want_params.push(y.clone());
            want_params.push(y.clone());
            check_sig(&name, "vjp", v, &want_params, &xs)?;
        }
        if let Some(j) = &jvp {
            verify(j).map_err(|e| e.context(format!("custom @{name} jvp")))?;
            let mut want_params = xs.clone();
            want_params.push(y.clone());
            want_params.extend(xs.iter().cloned());
            check_sig(&name, "jvp", j, &want_params, std::slice::from_ref(&y))?;
        }
        Ok(Arc::new(CustomOp {
            name,
            body,
            vjp,
            jvp,
        }))
    }

    /// The type of the op's one result.
    pub fn output_type(&self) -> &TensorType {
        self.body.ty(self.body.outputs()[0])
    }
}

/// Dropping a custom op drops the custom ops its graphs call without
/// recursion: a chain of thousands of nested custom ops would otherwise
/// take a dozen stack frames per level and overflow the thread's stack.
/// The ops whose last owner this is are taken out of their graphs onto a
/// work list, and each is emptied the same way before it is dropped.
impl Drop for CustomOp {
    fn drop(&mut self) {
        fn take_calls(g: &mut Graph, out: &mut Vec<Arc<CustomOp>>) {
            for id in g.node_ids() {
                if matches!(g[id].op, Op::Call(_)) {
                    let op = std::mem::replace(&mut g[id].op, Op::Param { index: 0 });
                    if let Op::Call(c) = op {
                        out.push(c.0);
                    }
                }
            }
        }
        fn take_all(c: &mut CustomOp, out: &mut Vec<Arc<CustomOp>>) {
            take_calls(&mut c.body, out);
            c.vjp
                .iter_mut()
                .chain(c.jvp.iter_mut())
                .for_each(|g| take_calls(g, out));
        }
        let mut pending = Vec::new();
        take_all(self, &mut pending);
        while let Some(c) = pending.pop() {
            // Only the last owner empties it; the others just let go.
            if let Ok(mut inner) = Arc::try_unwrap(c) {
                take_all(&mut inner, &mut pending);
            }
        }
    }
}

fn sig(tys: &[TensorType]) -> String {
    tys.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_sig(
    name: &str,
    which: &str,
    g: &Graph,
    params: &[TensorType],
    outputs: &[TensorType],
) -> Result<()> {
    let (gp, go) = (g.param_types(), g.output_types());
    if gp != params || go != outputs {
        return Err(Error::type_error(format!(
            "custom @{name}: the {which} rule @{} must have signature ({}) -> ({}), it has ({}) -> ({})",
            g.name(),
            sig(params),
            sig(outputs),
            sig(&gp),
            sig(&go)
        )));
    }
    Ok(())
}

/// One top-level item of a module, in source order.
#[derive(Clone, Debug)]
pub enum Item {
    /// `func @name(...) -> ... { ... }`
    Func(Graph),
    /// `custom @name = @body vjp=@rule jvp=@rule`
    Custom(Arc<CustomOp>),
}

/// The contents of one IR file: functions and custom-op declarations, in
/// order.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// The items, in source order.
    pub items: Vec<Item>,
}

impl Module {
    /// A module holding one function.
    pub fn from_graph(g: Graph) -> Module {
        Module {
            items: vec![Item::Func(g)],
        }
    }

    /// The functions, in order.
    pub fn funcs(&self) -> impl Iterator<Item = &Graph> {
        self.items.iter().filter_map(|i| match i {
            Item::Func(g) => Some(g),
            Item::Custom(_) => None,
        })
    }

    /// The function named `name` (without `@`).
    pub fn func(&self, name: &str) -> Option<&Graph> {
        self.funcs().find(|g| g.name() == name)
    }

    /// The function named `name`, mutably.
    pub fn func_mut(&mut self, name: &str) -> Option<&mut Graph> {
        self.items.iter_mut().find_map(|i| match i {
            Item::Func(g) if g.name() == name => Some(g),
            _ => None,
        })
    }

    /// The first function that no custom op uses as its body or a rule:
    /// the default entry point of `adjoint run`. Falls back to the first
    /// function.
    pub fn main_func(&self) -> Option<&Graph> {
        let helper = |name: &str| {
            self.items.iter().any(|i| match i {
                Item::Custom(c) => {
                    c.body.name() == name
                        || c.vjp.as_ref().is_some_and(|g| g.name() == name)
                        || c.jvp.as_ref().is_some_and(|g| g.name() == name)
                }
                Item::Func(_) => false,
            })
        };
        self.funcs()
            .find(|g| !helper(g.name()))
            .or_else(|| self.funcs().next())
    }

    /// The custom ops declared in the module, in order.
    pub fn customs(&self) -> impl Iterator<Item = &Arc<CustomOp>> {
        self.items.iter().filter_map(|i| match i {
            Item::Custom(c) => Some(c),
            Item::Func(_) => None,
        })
    }
}

/// Every custom op that `g` calls, directly or through other custom ops'
/// bodies and rules, each once, callees before callers.
///
/// The walk is a depth-first post-order (bodies, then VJP rules, then JVP
/// rules, in node order) on an explicit stack, so a chain of thousands of
/// nested custom ops needs no recursion, and takes time linear in the
/// graphs' sizes.
pub fn custom_deps(g: &Graph) -> Vec<Arc<CustomOp>> {
    enum Task<'a> {
        /// Scan `g`'s nodes from position `at` on.
        Scan(&'a Graph, Vec<crate::NodeId>, usize),
        /// Every graph of this op is done: list it.
        Finish(&'a Arc<CustomOp>),
    }
    let mut out: Vec<Arc<CustomOp>> = Vec::new();
    let mut seen: std::collections::HashSet<*const CustomOp> = std::collections::HashSet::new();
    let mut stack = vec![Task::Scan(g, g.node_ids(), 0)];
    while let Some(task) = stack.pop() {
        let (g, ids, mut at) = match task {
            Task::Finish(c) => {
                if seen.insert(Arc::as_ptr(c)) {
                    out.push(c.clone());
                }
                continue;
            }
            Task::Scan(g, ids, at) => (g, ids, at),
        };
        while let Some(&id) = ids.get(at) {
            at += 1;
            let Op::Call(c) = &g[id].op else { continue };
            if seen.contains(&Arc::as_ptr(&c.0)) {
                continue;
            }
            // Come back to the rest of `g` after `c`'s graphs and `c`.
            stack.push(Task::Scan(g, ids, at));
            stack.push(Task::Finish(&c.0));
            for r in [&c.jvp, &c.vjp].into_iter().flatten() {
                stack.push(Task::Scan(r, r.node_ids(), 0));
            }
            stack.push(Task::Scan(&c.body, c.body.node_ids(), 0));
            break;
        }
    }
    out
}
