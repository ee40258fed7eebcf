//! Graphviz DOT export.

use crate::text::{attrs_text, tensor_literal, value_names};
use crate::{AttrValue, BodyRef, Graph, NodeId, Op};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// Longest constant literal shown in a label before it is elided.
const MAX_LITERAL: usize = 32;

/// Escapes `s` for a double-quoted DOT string (a newline becomes `\n`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The graph in Graphviz DOT: one node per op labelled with its value name,
/// op, key attributes and result type; parameters (blue, `param i`) and
/// outputs (green `return i` nodes) are marked; edges run from operand to
/// user in operand order, labelled with the operand position when an op has
/// more than one operand. Names are the ones [`print_graph`] uses.
///
/// A `scan`, `while` or `cond` is one node whose label lists its result
/// names (its projections are not drawn: their users' edges start at the
/// loop node). Each function it runs is drawn once as a cluster
/// `subgraph cluster_K` labelled `@name`, holding a `bK` entry node and the
/// body's own nodes (ids prefixed `bK_`, bodies of bodies as further
/// clusters), with a dashed edge from the loop node to `bK` labelled with
/// the attribute (`body`, `cond`, `then`, `else`).
///
/// [`print_graph`]: crate::print_graph
///
/// ```
/// use adjoint_ir::{parse_module, to_dot};
/// let m = parse_module("func @f(%x: f64, %y: f64) -> f64 {\n  %s = sub %x, %y\n  return %s\n}").unwrap();
/// let dot = to_dot(m.func("f").unwrap());
/// assert!(dot.starts_with("digraph \"f\" {"));
/// assert!(dot.contains("n2 [label=\"%s = sub\\nf64\"];"));
/// assert!(dot.contains("n0 -> n2 [label=\"0\"];\n  n1 -> n2 [label=\"1\"];"));
/// ```
pub fn to_dot(g: &Graph) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", escape(g.name()));
    s.push_str("  node [shape=box, fontname=\"monospace\"];\n");
    let mut bodies = Bodies::default();
    let links = graph_dot(g, "", "  ", &mut s, &mut bodies);
    // Each body once, as a cluster (bodies of bodies as further clusters),
    // after the graph that first runs it.
    let mut pending = links;
    let mut k = 0;
    while k < bodies.order.len() {
        let b = bodies.order[k].clone();
        let prefix = format!("b{k}_");
        let _ = writeln!(s, "  subgraph cluster_{k} {{");
        let _ = writeln!(
            s,
            "    label=\"{}\";\n    style=dashed;",
            escape(&format!("@{}", b.name()))
        );
        let _ = writeln!(
            s,
            "    b{k} [label=\"{}\", shape=component];",
            escape(&format!("@{}", b.name()))
        );
        pending.extend(graph_dot(&b, &prefix, "    ", &mut s, &mut bodies));
        s.push_str("  }\n");
        k += 1;
    }
    for (from, attr, b) in pending {
        let _ = writeln!(
            s,
            "  {from} -> b{} [style=dashed, label=\"{attr}\"];",
            bodies.index(&b)
        );
    }
    s.push_str("}\n");
    s
}

/// The bodies met while drawing, numbered in order of discovery.
#[derive(Default)]
struct Bodies {
    order: Vec<BodyRef>,
    index: HashMap<*const Graph, usize>,
}

impl Bodies {
    /// The cluster number of `b`, numbering it if it is new.
    fn index(&mut self, b: &BodyRef) -> usize {
        let key = Arc::as_ptr(&b.0);
        if let Some(&k) = self.index.get(&key) {
            return k;
        }
        let k = self.order.len();
        self.order.push(b.clone());
        self.index.insert(key, k);
        k
    }
}

/// Writes the nodes and edges of `g` with ids prefixed by `prefix`, and
/// returns the links from its loop and conditional nodes to the bodies
/// they run: (node id, attribute, body).
fn graph_dot(
    g: &Graph,
    prefix: &str,
    indent: &str,
    s: &mut String,
    bodies: &mut Bodies,
) -> Vec<(String, &'static str, BodyRef)> {
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids());
    let names = value_names(g, &order);
    let name = |id: NodeId| {
        names
            .get(&id)
            .map_or_else(|| id.to_string(), |n| format!("%{n}"))
    };
    // A result of a multi-result node is drawn as that node.
    let producer = |id: NodeId| -> NodeId {
        match g.get(id).map(|n| &n.op) {
            Some(Op::Project { .. }) => match g.operands(id).first() {
                Some(&p) if g.get(p).is_some_and(|n| n.op.is_multi_result()) => p,
                _ => id,
            },
            _ => id,
        }
    };
    let drawn = |id: NodeId| format!("{prefix}n{}", producer(id).index());
    let mut links = Vec::new();
    for &id in &order {
        let Some(node) = g.get(id) else { continue };
        if producer(id) != id {
            continue;
        }
        let label = match &node.op {
            Op::Param { index } => format!("param {index}: {}\n{}", name(id), node.ty),
            op => {
                let mut head = match op {
                    Op::Const(t) => {
                        let lit = tensor_literal(t);
                        if lit.chars().count() <= MAX_LITERAL {
                            format!("const {lit}")
                        } else {
                            "const …".to_string()
                        }
                    }
                    Op::Call(c) => format!("call @{}", c.name),
                    other => other.name().to_string(),
                };
                attrs_text(op, &mut head, &|b| b.name().to_string());
                if let Some(r) = g.region(id) {
                    let _ = write!(head, " region={r}");
                }
                if op.is_multi_result() {
                    let results: Vec<String> = g
                        .projections(id)
                        .iter()
                        .enumerate()
                        .map(|(i, p)| p.map_or_else(|| format!("_{i}"), name))
                        .collect();
                    let tys: Vec<String> = g
                        .result_types(id)
                        .map(|t| t.iter().map(ToString::to_string).collect())
                        .unwrap_or_else(|_| vec![node.ty.to_string()]);
                    for (attr, v) in op.attrs() {
                        if let AttrValue::Func(b) = v {
                            bodies.index(&b);
                            links.push((drawn(id), attr, b));
                        }
                    }
                    format!("{} = {head}\n({})", results.join(", "), tys.join(", "))
                } else {
                    format!("{} = {head}\n{}", name(id), node.ty)
                }
            }
        };
        let style = if matches!(node.op, Op::Param { .. }) {
            ", shape=invhouse, style=filled, fillcolor=\"lightblue\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{indent}{} [label=\"{}\"{style}];",
            drawn(id),
            escape(&label)
        );
    }
    for &id in &order {
        if producer(id) != id {
            continue;
        }
        let operands = g.operands(id);
        for (pos, &o) in operands.iter().enumerate() {
            if operands.len() > 1 {
                let _ = writeln!(
                    s,
                    "{indent}{} -> {} [label=\"{pos}\"];",
                    drawn(o),
                    drawn(id)
                );
            } else {
                let _ = writeln!(s, "{indent}{} -> {};", drawn(o), drawn(id));
            }
        }
    }
    for (i, &o) in g.outputs().iter().enumerate() {
        let ty = g.get(o).map(|n| n.ty.to_string()).unwrap_or_default();
        // An output name of its own (docs/ir.md §5) is shown after the index.
        let own = g
            .output_name(i)
            .map(|n| format!(" %{n}"))
            .filter(|n| n[1..] != g.display_name(o))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{indent}{prefix}out{i} [label=\"{}\", shape=house, style=filled, fillcolor=\"palegreen\"];",
            escape(&format!("return {i}{own}\n{ty}"))
        );
        let _ = writeln!(s, "{indent}{} -> {prefix}out{i};", drawn(o));
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_module, Graph, TensorType, UnaryOp};

    #[test]
    fn dot_golden_with_broadcast_and_outputs() {
        let m = parse_module(
            "func @layer(%x: f32[2,3], %b: f32[3]) -> (f32, f32[2,3]) {
  %z = add %x, %b region=1
  %c = const [[1,2,3],[4,5,6]] : f32[2,3]
  %w = mul %z, %c
  %s = reduce_sum %w axes=[0,1]
  return %s, %z
}",
        )
        .unwrap();
        assert_eq!(
            to_dot(m.func("layer").unwrap()),
            r#"digraph "layer" {
  node [shape=box, fontname="monospace"];
  n0 [label="param 0: %x\nf32[2,3]", shape=invhouse, style=filled, fillcolor="lightblue"];
  n1 [label="param 1: %b\nf32[3]", shape=invhouse, style=filled, fillcolor="lightblue"];
  n2 [label="%2 = broadcast shape=[2,3]\nf32[2,3]"];
  n3 [label="%z = add region=1\nf32[2,3]"];
  n4 [label="%c = const [[1,2,3],[4,5,6]]\nf32[2,3]"];
  n5 [label="%w = mul\nf32[2,3]"];
  n6 [label="%s = reduce_sum axes=[0,1]\nf32"];
  n1 -> n2;
  n0 -> n3 [label="0"];
  n2 -> n3 [label="1"];
  n3 -> n5 [label="0"];
  n4 -> n5 [label="1"];
  n5 -> n6;
  out0 [label="return 0\nf32", shape=house, style=filled, fillcolor="palegreen"];
  n6 -> out0;
  out1 [label="return 1\nf32[2,3]", shape=house, style=filled, fillcolor="palegreen"];
  n3 -> out1;
}
"#
        );
    }

    #[test]
    fn dot_escapes_quotes_and_elides_big_constants() {
        let mut g = Graph::new("a\"b\\c");
        let x = g.add_param("x", TensorType::f64([100])).unwrap();
        let c =
            g.constant(crate::Tensor::from_f64([100], (0..100).map(f64::from).collect()).unwrap());
        let y = g.add(Op::Unary(UnaryOp::Exp), &[x]).unwrap();
        g.set_name_of(y, "q\"uote").unwrap();
        g.set_outputs(vec![y, c]);
        let dot = to_dot(&g);
        assert!(dot.starts_with("digraph \"a\\\"b\\\\c\" {\n"), "{dot}");
        assert!(
            dot.contains("n1 [label=\"%1 = const …\\nf64[100]\"];"),
            "{dot}"
        );
        // Names are those of the printer: invalid characters become `_`.
        assert!(
            dot.contains("n2 [label=\"%q_uote = exp\\nf64[100]\"];"),
            "{dot}"
        );
        assert!(dot.contains("n0 -> n2;"), "{dot}");
    }
}
