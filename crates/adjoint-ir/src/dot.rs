//! Graphviz DOT export.

use crate::text::{attrs_text, tensor_literal, value_names};
use crate::{Graph, NodeId, Op};
use std::fmt::Write;

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
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids());
    let names = value_names(g, &order);
    let name = |id: NodeId| {
        names
            .get(&id)
            .map_or_else(|| id.to_string(), |n| format!("%{n}"))
    };
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", escape(g.name()));
    s.push_str("  node [shape=box, fontname=\"monospace\"];\n");
    for &id in &order {
        let Some(node) = g.get(id) else { continue };
        let n = id.index();
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
                attrs_text(op, &mut head);
                if let Some(r) = g.region(id) {
                    let _ = write!(head, " region={r}");
                }
                format!("{} = {head}\n{}", name(id), node.ty)
            }
        };
        let style = if matches!(node.op, Op::Param { .. }) {
            ", shape=invhouse, style=filled, fillcolor=\"lightblue\""
        } else {
            ""
        };
        let _ = writeln!(s, "  n{n} [label=\"{}\"{style}];", escape(&label));
    }
    for &id in &order {
        let operands = g.operands(id);
        for (pos, o) in operands.iter().enumerate() {
            if operands.len() > 1 {
                let _ = writeln!(s, "  n{} -> n{} [label=\"{pos}\"];", o.index(), id.index());
            } else {
                let _ = writeln!(s, "  n{} -> n{};", o.index(), id.index());
            }
        }
    }
    for (i, &o) in g.outputs().iter().enumerate() {
        let ty = g.get(o).map(|n| n.ty.to_string()).unwrap_or_default();
        let _ = writeln!(
            s,
            "  out{i} [label=\"{}\", shape=house, style=filled, fillcolor=\"palegreen\"];",
            escape(&format!("return {i}\n{ty}"))
        );
        let _ = writeln!(s, "  n{} -> out{i};", o.index());
    }
    s.push_str("}\n");
    s
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
