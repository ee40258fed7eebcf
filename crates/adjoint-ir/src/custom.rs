//! User-defined composite ops with their own derivative rules, and modules
//! (the contents of one IR file).

use crate::{verify, Error, Graph, Op, Result, TensorType};
use std::collections::HashSet;
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

    /// The default function of `adjoint run`, `opt`, `dot` and `check`:
    /// the first function in file order that no `custom` declaration uses
    /// (as its body or a rule) and that no `body=`, `cond=`, `then=`,
    /// `else=` or `step=` attribute anywhere in the module names (bodies of bodies and
    /// bodies inside custom ops' functions included). Falls back to the
    /// first function.
    pub fn main_func(&self) -> Option<&Graph> {
        let mut helpers: HashSet<&str> = HashSet::new();
        let mut seen: HashSet<*const Graph> = HashSet::new();
        let mut work: Vec<&Graph> = self.funcs().collect();
        for c in self.customs() {
            for g in graphs_of(c) {
                helpers.insert(g.name());
                work.push(g);
            }
        }
        while let Some(g) = work.pop() {
            if !seen.insert(g as *const Graph) {
                continue;
            }
            for n in g.petgraph().node_weights() {
                for b in n.op.bodies() {
                    helpers.insert(b.name());
                    work.push(b.graph());
                }
            }
        }
        self.funcs()
            .find(|g| !helpers.contains(g.name()))
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

/// The custom ops that the nodes of `g` call, in node order (with
/// repeats).
pub(crate) fn calls_in(g: &Graph) -> impl Iterator<Item = &Arc<CustomOp>> + '_ {
    g.petgraph().node_weights().filter_map(|n| match &n.op {
        Op::Call(c) => Some(&c.0),
        _ => None,
    })
}

/// The functions of a custom op: its body, then its rules.
pub(crate) fn graphs_of(c: &CustomOp) -> impl Iterator<Item = &Graph> {
    std::iter::once(&c.body)
        .chain(c.vjp.as_ref())
        .chain(c.jvp.as_ref())
}

/// Walks the custom ops that `g` calls, directly or through other custom
/// ops' bodies and rules, depth first, and calls `emit` on each after
/// everything it calls, skipping those for which `done` is true (checked
/// when an op is reached, and again before it is emitted). Each op is
/// expanded at most once, and the walk uses an explicit stack, so it is
/// linear in the total size of the functions and safe at any nesting
/// depth.
pub(crate) fn walk_customs(
    g: &Graph,
    mut done: impl FnMut(&Arc<CustomOp>) -> bool,
    mut emit: impl FnMut(&Arc<CustomOp>),
) {
    struct Frame {
        calls: Vec<Arc<CustomOp>>,
        next: usize,
        owner: Option<Arc<CustomOp>>,
    }
    let mut expanded: HashSet<*const CustomOp> = HashSet::new();
    let mut stack = vec![Frame {
        calls: calls_in(g).cloned().collect(),
        next: 0,
        owner: None,
    }];
    while let Some(top) = stack.last_mut() {
        if let Some(c) = top.calls.get(top.next).cloned() {
            top.next += 1;
            if done(&c) || !expanded.insert(Arc::as_ptr(&c)) {
                continue;
            }
            let calls = graphs_of(&c).flat_map(calls_in).cloned().collect();
            stack.push(Frame {
                calls,
                next: 0,
                owner: Some(c),
            });
        } else if let Some(Frame { owner: Some(c), .. }) = stack.pop() {
            if !done(&c) {
                emit(&c);
            }
        }
    }
}

/// Every custom op that `g` calls, directly or through other custom ops'
/// bodies and rules, each once, callees before callers. Linear in the
/// total size of the functions involved, and safe at any nesting depth.
pub fn custom_deps(g: &Graph) -> Vec<Arc<CustomOp>> {
    let emitted = std::cell::RefCell::new(HashSet::<*const CustomOp>::new());
    let mut out = Vec::new();
    walk_customs(
        g,
        |c| emitted.borrow().contains(&Arc::as_ptr(c)),
        |c| {
            emitted.borrow_mut().insert(Arc::as_ptr(c));
            out.push(c.clone());
        },
    );
    out
}

impl Drop for CustomOp {
    /// Drops a chain of custom ops (each body calling the previous op)
    /// without recursing once per level: the functions of every op that
    /// this drop frees are emptied into a work list first.
    fn drop(&mut self) {
        let mut work: Vec<Graph> = vec![std::mem::take(&mut self.body)];
        work.extend(self.vjp.take());
        work.extend(self.jvp.take());
        crate::body::drop_iteratively(work);
    }
}
