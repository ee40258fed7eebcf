//! The emitter: numbered SSA values with `loc` names, the generic-form op
//! writer, and the walk over one graph that dispatches each op to its
//! lowering; the module around the entry function.

use crate::consts::dense;
use crate::types::{arr, ty};
use adjoint_ir::{
    inline_calls_where, DType, Error, Graph, NodeId, Op, Tensor, TensorData, TensorType,
};
use std::collections::HashMap;

/// The module writer: a counter for SSA names shared by every region (MLIR
/// rejects a name defined twice in nested scopes), and the text so far.
pub(crate) struct Emitter {
    next: usize,
    pub(crate) out: String,
    indent: usize,
    /// The `loc("…")` of the node being lowered.
    loc: String,
}

impl Emitter {
    /// The `loc("…")` of the node being lowered.
    pub(crate) fn loc(&self) -> String {
        self.loc.clone()
    }

    /// A fresh SSA name.
    pub(crate) fn fresh(&mut self) -> String {
        let n = format!("%{}", self.next);
        self.next += 1;
        n
    }

    /// Writes one line at the current indentation.
    pub(crate) fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Opens a nested region (`({` … ), one level deeper.
    pub(crate) fn push(&mut self) {
        self.indent += 1;
    }

    /// Closes the nested region opened by [`Emitter::push`].
    pub(crate) fn pop(&mut self) {
        self.indent -= 1;
    }

    /// Emits a one-result op in generic form and returns its name:
    /// `%n = "stablehlo.OP"(args) {attrs} : (arg types) -> result loc(…)`.
    pub(crate) fn op(
        &mut self,
        name: &str,
        args: &[(&str, &TensorType)],
        attrs: &str,
        result: &TensorType,
    ) -> String {
        let r = self.fresh();
        let names: Vec<&str> = args.iter().map(|a| a.0).collect();
        let tys: Vec<String> = args.iter().map(|a| ty(a.1)).collect();
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" {{{attrs}}}")
        };
        let text = format!(
            "{r} = \"stablehlo.{name}\"({}){attrs} : ({}) -> {} {}",
            names.join(", "),
            tys.join(", "),
            ty(result),
            self.loc
        );
        self.line(&text);
        r
    }

    /// Emits a one-result op whose types are given as MLIR text (for the
    /// `i64` loop counters, which have no adjoint dtype).
    pub(crate) fn raw(
        &mut self,
        name: &str,
        args: &[(&str, &str)],
        attrs: &str,
        result: &str,
    ) -> String {
        let r = self.fresh();
        let names: Vec<&str> = args.iter().map(|a| a.0).collect();
        let tys: Vec<&str> = args.iter().map(|a| a.1).collect();
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" {{{attrs}}}")
        };
        let text = format!(
            "{r} = \"stablehlo.{name}\"({}){attrs} : ({}) -> {result} {}",
            names.join(", "),
            tys.join(", "),
            self.loc
        );
        self.line(&text);
        r
    }

    /// Emits a constant of type `t` holding `t`'s elements.
    pub(crate) fn constant(&mut self, t: &Tensor) -> String {
        let attr = format!("value = {} : {}", dense(t), ty(&t.ty()));
        self.op("constant", &[], &attr, &t.ty())
    }

    /// A splat constant `v` of type `t` (float or, for `v != 0`, `true`).
    pub(crate) fn splat(&mut self, t: &TensorType, v: f64) -> String {
        let c = match t.dtype {
            DType::Bool => {
                Tensor::new(t.shape.clone(), TensorData::Bool(vec![v != 0.0; t.numel()]))
            }
            _ => Ok(Tensor::full(t, v)),
        };
        let c = c.expect("a splat of a valid type");
        self.constant(&c)
    }

    /// A scalar `i64` constant.
    pub(crate) fn index_const(&mut self, v: usize) -> String {
        let r = self.fresh();
        let text = format!(
            "{r} = \"stablehlo.constant\"() {{value = dense<{v}> : tensor<i64>}} : () -> tensor<i64> {}",
            self.loc
        );
        self.line(&text);
        r
    }

    /// Emits `g`'s nodes with `args` bound to its parameters and returns the
    /// names of its outputs. Custom calls are inlined first.
    pub(crate) fn graph(&mut self, g: &Graph, args: &[String]) -> adjoint_ir::Result<Vec<String>> {
        let mut owned;
        let g = if g.node_ids().iter().any(|&n| matches!(g[n].op, Op::Call(_))) {
            owned = g.clone();
            inline_calls_where(&mut owned, |_| true)?;
            &owned
        } else {
            g
        };
        let mut vals: HashMap<NodeId, Vec<String>> = HashMap::new();
        let saved = self.loc.clone();
        for id in g.topo_order()? {
            let node = &g[id];
            let name = if node.op.is_multi_result() {
                // The results' names (the node itself is unnamed).
                let names: Vec<String> = g
                    .projections(id)
                    .iter()
                    .flatten()
                    .map(|&p| g.display_name(p).trim_start_matches('%').to_string())
                    .collect();
                names.join(", ")
            } else {
                g.display_name(id).trim_start_matches('%').to_string()
            };
            self.loc = format!("loc(\"{}\")", escape(&name));
            let ops: Vec<String> = g
                .operands(id)
                .iter()
                .map(|o| vals[o].first().cloned().unwrap_or_default())
                .collect();
            let out = match &node.op {
                Op::Param { index } => vec![args[*index].clone()],
                Op::Project { index } => {
                    let src = g.operands(id)[0];
                    vec![vals[&src][*index].clone()]
                }
                Op::Scan { .. } | Op::While { .. } | Op::Cond { .. } | Op::Revolve { .. } => {
                    crate::control::lower(self, g, id, &ops)?
                }
                _ => vec![self.node(g, id, &ops)?],
            };
            vals.insert(id, out);
        }
        self.loc = saved;
        Ok(g.outputs().iter().map(|o| vals[o][0].clone()).collect())
    }

    /// Lowers one single-result node.
    fn node(&mut self, g: &Graph, id: NodeId, ops: &[String]) -> adjoint_ir::Result<String> {
        let node = &g[id];
        let opnd_tys: Vec<TensorType> = g.operands(id).iter().map(|&o| g[o].ty.clone()).collect();
        let args: Vec<(&str, &TensorType)> = ops
            .iter()
            .map(|s| s.as_str())
            .zip(opnd_tys.iter())
            .collect();
        let res = &node.ty;
        Ok(match &node.op {
            Op::Const(t) => self.constant(t),
            Op::Unary(u) => crate::elementwise::unary(self, *u, args[0], res),
            Op::Binary(b) => crate::elementwise::binary(self, *b, args[0], args[1], res),
            Op::Compare(c) => crate::elementwise::compare(self, *c, args[0], args[1], res),
            Op::Logical(l) => crate::elementwise::logical(self, *l, &args, res),
            Op::Select => self.op("select", &args, "", res),
            Op::Cast { .. } => self.op("convert", &args, "", res),
            Op::Broadcast { .. } => crate::shape_ops::broadcast(self, args[0], res),
            Op::Reshape { .. } => self.op("reshape", &args, "", res),
            Op::Transpose { perm } => self.op(
                "transpose",
                &args,
                &format!("permutation = {}", arr(perm)),
                res,
            ),
            Op::Slice { start, end, stride } => {
                crate::shape_ops::slice(self, args[0], start, end, stride, res)
            }
            Op::Pad { lo, hi } => crate::shape_ops::pad(self, args[0], lo, hi, res),
            Op::Concat { axis } => self.op(
                "concatenate",
                &args,
                &format!("dimension = {axis} : i64"),
                res,
            ),
            Op::Iota { axis, .. } => crate::shape_ops::iota(self, *axis, res),
            Op::ReduceSum { axes } => crate::reduce::reduce(self, "add", 0.0, args[0], axes, res),
            Op::ReduceMax { axes } => {
                crate::reduce::reduce(self, "maximum", f64::NEG_INFINITY, args[0], axes, res)
            }
            Op::MatMul => crate::matmul::matmul(self, args[0], args[1], res),
            other => {
                return Err(Error::new(
                    adjoint_ir::ErrorKind::Verify,
                    format!(
                        "export to StableHLO: op `{}` (result {}) has no StableHLO mapping",
                        other.name(),
                        res
                    ),
                ))
            }
        })
    }
}

/// Escapes a name for a `loc("…")` string.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The whole module for `g`.
pub(crate) fn module(g: &Graph) -> adjoint_ir::Result<String> {
    let mut em = Emitter {
        next: 0,
        out: String::new(),
        indent: 0,
        loc: String::new(),
    };
    em.line(&format!("module @{} {{", sanitize(g.name())));
    em.push();
    let params = g.params().to_vec();
    let mut sig = Vec::new();
    let mut args = Vec::new();
    for (i, &p) in params.iter().enumerate() {
        let a = format!("%arg{i}");
        sig.push(format!(
            "{a}: {} loc(\"{}\")",
            ty(&g[p].ty),
            escape(g.display_name(p).trim_start_matches('%'))
        ));
        args.push(a);
    }
    let outs: Vec<String> = g.output_types().iter().map(ty).collect();
    em.line(&format!(
        "func.func public @main({}) -> ({}) {{",
        sig.join(", "),
        outs.join(", ")
    ));
    em.push();
    let res = em.graph(g, &args)?;
    em.line(&format!(
        "func.return {} : {}",
        res.join(", "),
        outs.join(", ")
    ));
    em.pop();
    em.line("}");
    em.pop();
    em.line("}");
    Ok(em.out)
}

/// A symbol name MLIR accepts without quoting.
fn sanitize(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() || t.starts_with(|c: char| c.is_ascii_digit()) {
        format!("m_{t}")
    } else {
        t
    }
}
