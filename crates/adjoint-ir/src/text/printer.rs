//! The printer: canonical text of a graph or module.
//!
//! Statements come in [`Graph::topo_order`] (ties by node index), every
//! result type is written, and names are made unique and valid, so the
//! output always parses back (with [`parse_module`](super::parse_module)) to
//! the same graph, and printing that gives the same bytes. The printer never
//! fails: even a malformed graph (a cycle, a dangling output) prints as
//! something readable.

use super::lexer::{is_name_char, is_valid_name};
use crate::{AttrValue, BodyRef, CustomOp, Graph, Item, Module, NodeId, Op, Tensor, TensorData};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

/// Prints a function, preceded by every custom op it calls (their body and
/// rule functions and `custom` declarations, each once), so the text is a
/// complete module.
///
/// ```
/// use adjoint_ir::{GraphBuilder, TensorType, print_graph};
/// let b = GraphBuilder::new("f");
/// let x = b.param("x", TensorType::f64([3]));
/// let g = b.build(&[x.exp().sum()]).unwrap();
/// assert_eq!(print_graph(&g), "\
/// func @f(%x: f64[3]) -> f64 {
///   %1 = exp %x : f64[3]
///   %2 = reduce_sum %1 axes=[0] : f64
///   return %2
/// }
/// ");
/// ```
pub fn print_graph(g: &Graph) -> String {
    let mut p = ModulePrinter::default();
    p.func(g);
    p.finish()
}

/// Prints a whole module: its items in order, separated by blank lines.
/// Functions and custom ops that the items need but the module does not
/// hold earlier are printed first, so the text always parses.
pub fn print_module(m: &Module) -> String {
    let mut p = ModulePrinter::default();
    for item in &m.items {
        match item {
            Item::Func(g) => {
                p.func(g);
            }
            Item::Custom(c) => {
                p.custom(c);
            }
        }
    }
    p.finish()
}

#[derive(Default)]
struct ModulePrinter {
    /// Printed items, in order.
    items: Vec<String>,
    /// Printed function name -> the text after `func @name`.
    funcs: HashMap<String, String>,
    /// Printed custom ops (by address) and the names they were printed
    /// under.
    customs: HashMap<*const CustomOp, String>,
    /// The printed custom ops, which keeps the addresses above valid.
    printed: Vec<Arc<CustomOp>>,
    custom_names: HashSet<String>,
    /// Printed bodies (by address) and the names they were printed under.
    bodies: HashMap<*const Graph, String>,
    /// The printed bodies, which keeps the addresses above valid.
    printed_bodies: Vec<BodyRef>,
}

/// Something a printed function needs printed before it.
#[derive(Clone)]
enum Dep {
    /// A custom op it calls.
    Custom(Arc<CustomOp>),
    /// A function it runs as a body.
    Body(BodyRef),
}

impl Dep {
    /// The address that identifies it.
    fn key(&self) -> usize {
        match self {
            Dep::Custom(c) => Arc::as_ptr(c) as usize,
            Dep::Body(b) => Arc::as_ptr(&b.0) as usize,
        }
    }
}

/// What `g`'s nodes need, in node order: the custom op a `call` calls, the
/// functions a loop or conditional runs (in attribute order).
fn deps_of(g: &Graph) -> Vec<Dep> {
    let mut out = Vec::new();
    for n in g.petgraph().node_weights() {
        match &n.op {
            Op::Call(c) => out.push(Dep::Custom(c.0.clone())),
            op => out.extend(op.bodies().into_iter().cloned().map(Dep::Body)),
        }
    }
    out
}

/// `name` with every character that may not appear in a name replaced by
/// `_` (`_` if empty).
fn sanitize(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    name.chars()
        .map(|c| if is_name_char(c) { c } else { '_' })
        .collect()
}

/// `base`, or `base_2`, `base_3`, ... : the first that `taken` rejects not.
fn fresh(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_string();
    }
    (2u64..)
        .map(|k| format!("{base}_{k}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_string())
}

impl ModulePrinter {
    fn finish(self) -> String {
        self.items.join("\n")
    }

    fn custom_name(&self, c: &Arc<CustomOp>) -> Option<&str> {
        self.customs.get(&Arc::as_ptr(c)).map(String::as_str)
    }

    /// Whether `d` is printed already.
    fn printed(&self, d: &Dep) -> bool {
        match d {
            Dep::Custom(c) => self.custom_name(c).is_some(),
            Dep::Body(b) => self.bodies.contains_key(&Arc::as_ptr(&b.0)),
        }
    }

    /// Prints every custom op that `g` calls and every function it runs as
    /// a body (`body=`, `cond=`, `then=`, `else=`), directly or through
    /// other custom ops and bodies, that is not printed yet: each once (by
    /// address), after everything it needs. The walk uses an explicit
    /// stack and expands each op and body once, so printing is linear in
    /// the module and safe at any nesting depth (each function printed here
    /// finds its own needs printed already).
    fn deps(&mut self, g: &Graph) {
        struct Frame {
            deps: Vec<Dep>,
            next: usize,
            owner: Option<Dep>,
        }
        let mut expanded: HashSet<usize> = HashSet::new();
        let mut stack = vec![Frame {
            deps: deps_of(g),
            next: 0,
            owner: None,
        }];
        while let Some(top) = stack.last_mut() {
            if let Some(d) = top.deps.get(top.next).cloned() {
                top.next += 1;
                if self.printed(&d) || !expanded.insert(d.key()) {
                    continue;
                }
                let deps = match &d {
                    Dep::Custom(c) => crate::custom::graphs_of(c).flat_map(deps_of).collect(),
                    Dep::Body(b) => deps_of(b),
                };
                stack.push(Frame {
                    deps,
                    next: 0,
                    owner: Some(d),
                });
            } else if let Some(Frame { owner: Some(d), .. }) = stack.pop() {
                match d {
                    Dep::Custom(c) => {
                        self.custom(&c);
                    }
                    Dep::Body(b) => {
                        self.body(&b);
                    }
                }
            }
        }
    }

    /// Prints the body `b` if it is not printed yet (with what it needs)
    /// and returns the name it was printed under.
    fn body(&mut self, b: &BodyRef) -> String {
        if let Some(n) = self.bodies.get(&Arc::as_ptr(&b.0)) {
            return n.clone();
        }
        let name = self.func(b);
        self.bodies.insert(Arc::as_ptr(&b.0), name.clone());
        self.printed_bodies.push(b.clone());
        name
    }

    /// The name the body `b` was printed under.
    fn body_name(&self, b: &BodyRef) -> String {
        self.bodies
            .get(&Arc::as_ptr(&b.0))
            .cloned()
            .unwrap_or_else(|| sanitize(b.name()))
    }

    /// Prints `g` (after the custom ops it calls) unless an identical
    /// function of the same name is already printed, and returns the name
    /// it was printed under.
    fn func(&mut self, g: &Graph) -> String {
        self.deps(g);
        let rest = self.func_rest(g);
        let base = sanitize(g.name());
        let mut k = 1u64;
        loop {
            let name = if k == 1 {
                base.clone()
            } else {
                format!("{base}_{k}")
            };
            match self.funcs.get(&name) {
                Some(text) if *text == rest => return name,
                Some(_) => k += 1,
                None => {
                    self.items.push(format!("func @{name}{rest}"));
                    self.funcs.insert(name.clone(), rest);
                    return name;
                }
            }
        }
    }

    /// Prints the custom op `c` if needed (with its functions) and returns
    /// the name it was printed under.
    fn custom(&mut self, c: &Arc<CustomOp>) -> String {
        if let Some(n) = self.custom_name(c) {
            return n.to_string();
        }
        let body = self.func(&c.body);
        let vjp = c.vjp.as_ref().map(|g| self.func(g));
        let jvp = c.jvp.as_ref().map(|g| self.func(g));
        let name = fresh(&sanitize(&c.name), |n| self.custom_names.contains(n));
        let mut line = format!("custom @{name} = @{body}");
        if let Some(v) = vjp {
            let _ = write!(line, " vjp=@{v}");
        }
        if let Some(j) = jvp {
            let _ = write!(line, " jvp=@{j}");
        }
        line.push('\n');
        self.items.push(line);
        self.custom_names.insert(name.clone());
        self.customs.insert(Arc::as_ptr(c), name.clone());
        self.printed.push(c.clone());
        name
    }

    /// The text of `g` after `func @name`: signature and body.
    fn func_rest(&self, g: &Graph) -> String {
        let order = g.topo_order().unwrap_or_else(|_| g.node_ids());
        let names = value_names(g, &order);
        let name_of = |id: NodeId| -> String {
            match names.get(&id) {
                Some(n) => format!("%{n}"),
                None => id.to_string(),
            }
        };
        let mut taken: HashSet<String> = names.values().cloned().collect();
        let mut s = String::from("(");
        for (i, &p) in g.params().iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let ty = g.get(p).map(|n| n.ty.to_string()).unwrap_or_default();
            let _ = write!(s, "{}: {ty}", name_of(p));
        }
        s.push_str(") -> ");
        // An output whose own name differs from its value's printed name
        // is written `%name: type` (docs/ir.md §5); otherwise the type alone.
        let out_tys: Vec<String> = g
            .outputs()
            .iter()
            .enumerate()
            .map(|(i, &o)| {
                let ty = g.get(o).map(|n| n.ty.to_string()).unwrap_or_default();
                match g.output_name(i) {
                    Some(n) if name_of(o) != format!("%{n}") => format!("%{n}: {ty}"),
                    _ => ty,
                }
            })
            .collect();
        let named = (0..out_tys.len()).any(|i| out_tys[i].starts_with('%'));
        if out_tys.len() == 1 && !named {
            s.push_str(&out_tys[0]);
        } else {
            let _ = write!(s, "({})", out_tys.join(", "));
        }
        s.push_str(" {\n");
        for &id in &order {
            let Some(node) = g.get(id) else { continue };
            if matches!(node.op, Op::Param { .. }) {
                continue;
            }
            let multi = node.op.is_multi_result();
            if matches!(node.op, Op::Project { .. })
                && g.operands(id)
                    .first()
                    .and_then(|&p| g.get(p))
                    .is_some_and(|p| p.op.is_multi_result())
            {
                // Printed as a result of its producer's statement.
                continue;
            }
            let ty = if multi {
                // One name per result: its projection's, or a fresh one.
                let projs = g.projections(id);
                let lhs: Vec<String> = projs
                    .iter()
                    .enumerate()
                    .map(|(i, p)| match p {
                        Some(p) => name_of(*p),
                        None => {
                            let base =
                                format!("{}_{i}", names.get(&id).map_or("r", String::as_str));
                            let n = fresh(&base, |c| taken.contains(c));
                            taken.insert(n.clone());
                            format!("%{n}")
                        }
                    })
                    .collect();
                let _ = write!(s, "  {} = ", lhs.join(", "));
                let tys: Vec<String> = match g.result_types(id) {
                    Ok(tys) => tys.iter().map(ToString::to_string).collect(),
                    Err(_) => projs
                        .iter()
                        .map(|p| {
                            p.and_then(|p| g.get(p))
                                .map_or_else(|| node.ty.to_string(), |n| n.ty.to_string())
                        })
                        .collect(),
                };
                if tys.len() == 1 {
                    tys[0].clone()
                } else {
                    format!("({})", tys.join(", "))
                }
            } else {
                let _ = write!(s, "  {} = ", name_of(id));
                node.ty.to_string()
            };
            s.push_str(&self.op_text(&node.op));
            let operands: Vec<String> = g.operands(id).into_iter().map(name_of).collect();
            if !operands.is_empty() {
                s.push(' ');
                s.push_str(&operands.join(", "));
            }
            attrs_text(&node.op, &mut s, &|b| self.body_name(b));
            if let Some(r) = g.region(id) {
                let _ = write!(s, " region={r}");
            }
            let _ = writeln!(s, " : {ty}");
        }
        s.push_str("  return");
        for (i, &o) in g.outputs().iter().enumerate() {
            s.push_str(if i == 0 { " " } else { ", " });
            s.push_str(&name_of(o));
        }
        s.push_str("\n}\n");
        s
    }

    /// The op mnemonic, with a const's literal and a call's `@callee`.
    fn op_text(&self, op: &Op) -> String {
        match op {
            Op::Const(t) => format!("const {}", tensor_literal(t)),
            Op::Call(c) => format!(
                "call @{}",
                self.custom_name(&c.0)
                    .map_or_else(|| sanitize(&c.name), str::to_string)
            ),
            other => other.name().to_string(),
        }
    }
}

/// Unique valid names for every node: kept names first (params, then the
/// printing order), then fresh ones for unnamed nodes (the output name of
/// an output, else `N` from the node index) and for names that were
/// invalid or duplicated.
pub(crate) fn value_names(g: &Graph, order: &[NodeId]) -> HashMap<NodeId, String> {
    let mut seq: Vec<NodeId> = g.params().to_vec();
    seq.extend(
        order
            .iter()
            .copied()
            .filter(|&id| g.get(id).is_some_and(|n| !matches!(n.op, Op::Param { .. }))),
    );
    let mut taken: HashSet<String> = HashSet::new();
    let mut names: HashMap<NodeId, String> = HashMap::new();
    for &id in &seq {
        if let Some(n) = g.get(id).and_then(|n| n.name.as_deref()) {
            if is_valid_name(n) && !names.contains_key(&id) && taken.insert(n.to_string()) {
                names.insert(id, n.to_string());
            }
        }
    }
    // An unnamed value returned under an output name is printed under it.
    let mut out_name: HashMap<NodeId, &str> = HashMap::new();
    for (i, &o) in g.outputs().iter().enumerate() {
        if let Some(n) = g.output_name(i) {
            out_name.entry(o).or_insert(n);
        }
    }
    for &id in &seq {
        if names.contains_key(&id) {
            continue;
        }
        let base = match g.get(id).and_then(|n| n.name.as_deref()) {
            Some(n) => sanitize(n),
            None => match out_name.get(&id) {
                Some(n) if !g.params().contains(&id) => n.to_string(),
                _ => id.index().to_string(),
            },
        };
        let n = fresh(&base, |c| taken.contains(c));
        taken.insert(n.clone());
        names.insert(id, n);
    }
    names
}

/// Appends ` attr=value` for each attribute of `op` (not `region`), as
/// the op table lists them; a function is written `@` and the name
/// `body_name` gives it.
pub(crate) fn attrs_text(op: &Op, s: &mut String, body_name: &dyn Fn(&BodyRef) -> String) {
    for (name, value) in op.attrs() {
        match value {
            AttrValue::Func(b) => {
                let _ = write!(s, " {name}=@{}", body_name(&b));
            }
            v => {
                let _ = write!(s, " {name}={v}");
            }
        }
    }
}

/// Whether a magnitude prints in exponent form (`1e-7`, `1.5e300`).
fn use_exponent(abs: f64) -> bool {
    abs != 0.0 && !(1e-5..1e16).contains(&abs)
}

/// The shortest text that parses back to exactly `v` as an `f64`.
pub(crate) fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if use_exponent(v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The shortest text that parses back to exactly `v` as an `f32` (so an
/// `f32` 0.1 prints as `0.1`).
pub(crate) fn fmt_f32(v: f32) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if use_exponent(f64::from(v.abs())) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn element(d: &TensorData, i: usize) -> String {
    match d {
        TensorData::F32(v) => v.get(i).map_or_else(String::new, |&x| fmt_f32(x)),
        TensorData::F64(v) => v.get(i).map_or_else(String::new, |&x| fmt_f64(x)),
        TensorData::Bool(v) => v.get(i).map_or_else(String::new, |x| x.to_string()),
    }
}

/// A constant's literal: one scalar for a splat (every element bitwise
/// equal), else nested lists following the shape.
pub(crate) fn tensor_literal(t: &Tensor) -> String {
    let d = t.data();
    if !t.is_empty() && t.splat_value().is_some() {
        return element(d, 0);
    }
    let dims = t.shape().dims();
    let mut s = String::new();
    let mut next = 0usize;
    nested(d, dims, &mut next, &mut s);
    s
}

fn nested(d: &TensorData, dims: &[usize], next: &mut usize, s: &mut String) {
    match dims.split_first() {
        None => {
            s.push_str(&element(d, *next));
            *next += 1;
        }
        Some((&n, rest)) => {
            s.push('[');
            for i in 0..n {
                if i > 0 {
                    s.push(',');
                }
                nested(d, rest, next, s);
            }
            s.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_shortest_and_round_trip() {
        assert_eq!(fmt_f32(0.1), "0.1");
        assert_eq!(fmt_f64(0.1), "0.1");
        assert_eq!(fmt_f64(2.5), "2.5");
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(-0.0), "-0");
        assert_eq!(fmt_f64(1e300), "1e300");
        assert_eq!(fmt_f64(-1.5e-7), "-1.5e-7");
        assert_eq!(fmt_f64(123456.0), "123456");
        assert_eq!(fmt_f64(f64::NAN), "nan");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_f32(f32::MAX), "3.4028235e38");
        assert_eq!(fmt_f64(f64::MIN_POSITIVE / 4.0), "5.562684646268003e-309");
        for v in [
            0.1f64,
            1.0 / 3.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e16,
            9.999_999_999_999_998e15,
            1e-5,
            -123.456,
        ] {
            assert_eq!(fmt_f64(v).parse::<f64>().unwrap().to_bits(), v.to_bits());
        }
        for v in [
            0.1f32,
            1.0 / 3.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            16777217.0,
        ] {
            assert_eq!(fmt_f32(v).parse::<f32>().unwrap().to_bits(), v.to_bits());
        }
    }

    #[test]
    fn names_are_sanitized_and_fresh() {
        assert_eq!(sanitize("x.grad"), "x_grad");
        assert_eq!(sanitize(""), "_");
        assert_eq!(fresh("a", |n| n == "a" || n == "a_2"), "a_3");
    }
}
