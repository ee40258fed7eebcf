//! One-call derivatives: [`value_and_grad`], [`jacobian`] and [`hessian`]
//! run the usual pipelines (`grad`, `jacobian`, then `simplify,cse,dce`)
//! on a copy of a graph, compile the result, and return a [`Diff`] whose
//! outputs come back named and grouped: the differentiated value, the
//! auxiliary outputs, the derivatives by parameter.
//!
//! They add no AD logic of their own: each is a [`Pipeline`] of the
//! existing passes, and [`Diff::graph`] is exactly what the string form
//! (for example `grad{wrt=w,b,of=0},simplify,cse,dce`) produces.

use adjoint_ir::{Error, Graph, Result};
use adjoint_jit::{bind_by_name, compile, CompiledFn, JitOptions, Named};
use adjoint_passes::contract::resolve_wrt;
use adjoint_passes::Pipeline;
use std::ops::Range;

/// A graph with derivative outputs, compiled, whose outputs are grouped:
/// output 0 is the differentiated value, then the auxiliary outputs, then
/// one derivative per parameter.
#[derive(Debug)]
pub struct Diff {
    graph: Graph,
    f: CompiledFn,
    aux: Range<usize>,
    derivs: Range<usize>,
    /// The parameter each derivative output belongs to.
    wrt: Vec<String>,
}

/// The outputs of one call of a [`Diff`].
#[derive(Clone, Debug, PartialEq)]
pub struct DiffOut {
    /// The differentiated output's elements (one for a gradient or a
    /// Hessian, whose output is a scalar).
    pub value: Vec<f64>,
    /// The auxiliary outputs (the function's other outputs), by name.
    pub aux: Named<Vec<f64>>,
    /// The derivatives by parameter name, row-major: gradients (the
    /// parameter's shape), Jacobians (the output's shape, then the
    /// parameter's) or Hessians (the parameter's shape twice).
    pub grad: Named<Vec<f64>>,
}

impl Diff {
    /// Calls the compiled function on `f64` inputs bound by name (any
    /// order; a missing, unknown or repeated name is an error listing the
    /// inputs) and returns its outputs grouped.
    pub fn call(&self, inputs: &[(&str, &[f64])]) -> Result<DiffOut> {
        let ins = bind_by_name(self.f.name(), self.f.input_names(), inputs)?;
        let mut outs = self.f.eval_f64(&ins)?;
        let grads = outs.split_off(self.derivs.start);
        let aux = outs.split_off(self.aux.start);
        let value = outs.pop().unwrap_or_default();
        let aux_names = self.f.output_names()[self.aux.clone()].to_vec();
        Ok(DiffOut {
            value,
            aux: Named::new(aux_names, aux)?,
            grad: Named::new(self.wrt.clone(), grads)?,
        })
    }

    /// The compiled function (positional and named calls, output names and
    /// types).
    pub fn function(&self) -> &CompiledFn {
        &self.f
    }

    /// The graph after the passes, as compiled.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The positions of the auxiliary outputs.
    pub fn aux_outputs(&self) -> Range<usize> {
        self.aux.clone()
    }

    /// The positions of the derivative outputs.
    pub fn derivative_outputs(&self) -> Range<usize> {
        self.derivs.clone()
    }

    /// The parameters the derivatives are taken with respect to, in the
    /// order of the derivative outputs.
    pub fn wrt(&self) -> &[String] {
        &self.wrt
    }
}

/// The `wrt` parameters' names (every float parameter when `wrt` is
/// empty), checked as the passes check them.
fn wrt_names(what: &str, g: &Graph, wrt: &[&str]) -> Result<Vec<String>> {
    let given: Vec<String> = wrt.iter().map(|s| s.to_string()).collect();
    let ids = resolve_wrt(what, g, (!wrt.is_empty()).then_some(&given[..]))?;
    Ok(ids
        .into_iter()
        .map(|p| g[p].name.clone().unwrap_or_default())
        .collect())
}

/// Checks the output count against `has_aux` (as JAX does: without
/// auxiliary outputs the function returns exactly its value).
fn check_outputs(what: &str, g: &Graph, has_aux: bool) -> Result<()> {
    let n = g.outputs().len();
    if n == 0 || (!has_aux && n > 1) {
        return Err(Error::input(format!(
            "{what}: @{} has {n} outputs; it needs one (the value){}",
            g.name(),
            if n > 1 {
                ", or pass has_aux = true to return the others as auxiliary outputs"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Renames output `i` to `name` (made fresh), unless it is a parameter or
/// also another output.
fn rename_output(g: &mut Graph, i: usize, name: &str) {
    let o = g.outputs()[i];
    if g.params().contains(&o) || g.outputs().iter().filter(|&&x| x == o).count() > 1 {
        return;
    }
    g[o].name = None;
    let n = g.fresh_name(name);
    g[o].name = Some(n);
}

fn finish(g: Graph, aux: Range<usize>, wrt: Vec<String>) -> Result<Diff> {
    let derivs = aux.end..g.outputs().len();
    let f = compile(&g, &JitOptions::default())?;
    Ok(Diff {
        graph: g,
        f,
        aux,
        derivs,
        wrt,
    })
}

/// `value_and_grad(f, argnums, has_aux)` of JAX: compiles `g` with the
/// gradient of its output 0 with respect to the parameters `wrt` (every
/// float parameter when empty). Output 0 must be a float scalar; with
/// `has_aux` the other outputs are returned alongside, undifferentiated.
/// Gradients are named `<p>_grad` in the compiled function.
///
/// ```
/// use adjoint::ir::{GraphBuilder, TensorType};
/// // loss(w, b) = (w·x + b)², with x fixed at [1, 2]; aux: the prediction.
/// let g = GraphBuilder::new("loss");
/// let w = g.param("w", TensorType::f64([2]));
/// let b = g.param("b", TensorType::f64([]));
/// let x = g.constant(adjoint::ir::Tensor::from_f64([2], vec![1.0, 2.0])?);
/// let pred = (w * x).sum() + b;
/// let graph = g.build(&[pred * pred, pred])?;
///
/// let vg = adjoint::value_and_grad(&graph, &["w", "b"], true)?;
/// let out = vg.call(&[("w", &[0.5, -1.0][..]), ("b", &[2.0][..])])?;
/// // pred = 0.5 - 2 + 2 = 0.5; loss = 0.25; dloss/dpred = 1.
/// assert_eq!(out.value, [0.25]);
/// assert_eq!(out.aux.values()[0], [0.5]);
/// assert_eq!(out.grad["w"], [1.0, 2.0]);
/// assert_eq!(out.grad["b"], [1.0]);
/// # Ok::<(), adjoint::ir::Error>(())
/// ```
pub fn value_and_grad(g: &Graph, wrt: &[&str], has_aux: bool) -> Result<Diff> {
    check_outputs("value_and_grad", g, has_aux)?;
    let names = wrt_names("value_and_grad", g, wrt)?;
    let mut g = g.clone();
    let n = g.outputs().len();
    Pipeline::new()
        .grad()
        .wrt(&names)
        .of(0)
        .cleanup()
        .run(&mut g)?;
    finish(g, 1..n, names)
}

/// `jacfwd`/`jacrev` of JAX: compiles `g` with the Jacobian of its output
/// `of` (0 when `g` has one output) with respect to the parameters `wrt`
/// (every float parameter when empty), the `jacobian` pass choosing the
/// cheapest mode. Each Jacobian has the output's shape followed by the
/// parameter's, and is named `<p>_jac` in the compiled function; the
/// other outputs are the auxiliary ones.
///
/// ```
/// use adjoint::ir::parse_module;
/// let m = parse_module("func @f(%x: f64[2]) -> f64[2] {
///     %y = mul %x, %x
///     return %y
///   }")?;
/// let j = adjoint::jacobian(m.func("f").unwrap(), &[], None)?;
/// let out = j.call(&[("x", &[3.0, 4.0][..])])?;
/// assert_eq!(out.grad["x"], [6.0, 0.0, 0.0, 8.0]); // diag(2x)
/// # Ok::<(), adjoint::ir::Error>(())
/// ```
pub fn jacobian(g: &Graph, wrt: &[&str], of: Option<usize>) -> Result<Diff> {
    let names = wrt_names("jacobian", g, wrt)?;
    let mut g = move_to_front(g, "jacobian", of)?;
    let n = g.outputs().len();
    Pipeline::new()
        .jacobian()
        .wrt(&names)
        .of(0)
        .cleanup()
        .run(&mut g)?;
    finish(g, 1..n, names)
}

/// `hessian` of JAX: compiles `g` with the Hessian of its output `of` (0
/// when `g` has one output), a float scalar, with respect to the parameter
/// `wrt`: the Jacobian of the gradient (`grad` then `jacobian`), shaped as
/// the parameter's shape twice and named `<p>_hess`. The other outputs are
/// the auxiliary ones.
///
/// ```
/// use adjoint::ir::parse_module;
/// // f(x) = x0² x1: H = [[2 x1, 2 x0], [2 x0, 0]].
/// let m = parse_module("func @f(%x: f64[2]) -> f64 {
///     %s = mul %x, %x
///     %a = slice %s start=[0] end=[1]
///     %b = slice %x start=[1] end=[2]
///     %p = mul %a, %b
///     %y = reduce_sum %p axes=[0]
///     return %y
///   }")?;
/// let h = adjoint::hessian(m.func("f").unwrap(), "x", None)?;
/// let out = h.call(&[("x", &[3.0, 5.0][..])])?;
/// assert_eq!(out.value, [45.0]);
/// assert_eq!(out.grad["x"], [10.0, 6.0, 6.0, 0.0]);
/// # Ok::<(), adjoint::ir::Error>(())
/// ```
pub fn hessian(g: &Graph, wrt: &str, of: Option<usize>) -> Result<Diff> {
    let names = wrt_names("hessian", g, &[wrt])?;
    let mut g = move_to_front(g, "hessian", of)?;
    let n = g.outputs().len();
    // The gradient is output n; its Jacobian is output n + 1.
    Pipeline::new()
        .grad()
        .wrt(&names)
        .of(0)
        .jacobian()
        .wrt(&names)
        .of(n)
        .run(&mut g)?;
    rename_output(&mut g, n + 1, &format!("{wrt}_hess"));
    // Drop the gradient output: the Hessian alone is the derivative.
    let mut outs = g.outputs().to_vec();
    outs.remove(n);
    g.set_outputs(outs);
    Pipeline::new().cleanup().run(&mut g)?;
    finish(g, 1..n, names)
}

/// A copy of `g` whose output `of` (checked as the passes check it) comes
/// first, the others following in order.
fn move_to_front(g: &Graph, what: &str, of: Option<usize>) -> Result<Graph> {
    let k = adjoint_passes::contract::select_output(what, g, of)?;
    let mut g = g.clone();
    let mut outs = g.outputs().to_vec();
    let y = outs.remove(k);
    outs.insert(0, y);
    g.set_outputs(outs);
    Ok(g)
}
