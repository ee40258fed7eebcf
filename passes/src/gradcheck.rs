//! Gradient checking: reverse mode (`grad`) and forward mode (`jvp`)
//! against central finite differences, in `f64`.
//!
//! The function is first promoted to `f64` ([`promote_f64`]) whatever its
//! dtype, so the finite differences are meaningful. A non-scalar output `y`
//! is reduced to the scalar `⟨u, y⟩` with fixed pseudo-random weights `u`,
//! so every element of the Jacobian contributes.
//!
//! For each element `x_j` of each checked input the step is
//! `h = cbrt(ε)·max(1, |x_j|)` (`ε` the f64 machine epsilon; this balances
//! the O(h²) truncation error of the central difference against the
//! O(ε/h) rounding error), and the derivative is
//! `(f(x + h) − f(x − h)) / ((x + h) − (x − h))`, dividing by the step
//! actually taken.
//!
//! Per input, the report gives the largest absolute difference between the
//! AD derivative and the finite difference, and the normwise relative
//! error `max|ad − fd| / max(max|fd|, max|ad|)`. An input passes when the
//! relative error is at most `rtol` or the absolute error at most `atol`.

use crate::contract;
use crate::forward::Jvp;
use crate::nested::try_with_bodies;
use crate::reverse::Grad;
use crate::Pass;
use adjoint_ir::{
    BodyRef, CustomOp, CustomRef, DType, Error, Graph, NodeId, Op, Result, Tensor, TensorType,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What to check and how strictly.
#[derive(Clone, Debug)]
pub struct GradCheckOptions {
    /// The output to differentiate (needed when there are several).
    pub of: Option<usize>,
    /// The inputs to check, by name (default: every float parameter).
    pub wrt: Option<Vec<String>>,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Whether to check forward mode too (one `jvp` evaluation per input
    /// element).
    pub forward: bool,
}

impl Default for GradCheckOptions {
    fn default() -> Self {
        GradCheckOptions {
            of: None,
            wrt: None,
            rtol: 1e-6,
            atol: 1e-9,
            forward: true,
        }
    }
}

/// The result for one input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputCheck {
    /// The parameter's name.
    pub name: String,
    /// Its number of elements.
    pub numel: usize,
    /// Largest |reverse − fd|.
    pub reverse_abs: f64,
    /// Normwise relative error of reverse mode.
    pub reverse_rel: f64,
    /// Largest |forward − fd| (0 if forward mode was not checked).
    pub forward_abs: f64,
    /// Normwise relative error of forward mode.
    pub forward_rel: f64,
    /// Largest |fd|, for scale.
    pub fd_max: f64,
    /// Whether both modes are within tolerance.
    pub pass: bool,
}

/// The result of a gradient check.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    /// One entry per checked input, in `wrt` order.
    pub inputs: Vec<InputCheck>,
    /// Whether every input passed.
    pub pass: bool,
}

impl GradCheckReport {
    /// The largest relative error over all inputs and both modes.
    pub fn max_rel(&self) -> f64 {
        self.inputs
            .iter()
            .map(|i| i.reverse_rel.max(i.forward_rel))
            .fold(0.0, f64::max)
    }
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<12} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11}  result",
            "input", "numel", "rev abs", "rev rel", "fwd abs", "fwd rel", "max|fd|"
        )?;
        for i in &self.inputs {
            writeln!(
                f,
                "{:<12} {:>6} {:>11.3e} {:>11.3e} {:>11.3e} {:>11.3e} {:>11.3e}  {}",
                i.name,
                i.numel,
                i.reverse_abs,
                i.reverse_rel,
                i.forward_abs,
                i.forward_rel,
                i.fd_max,
                if i.pass { "ok" } else { "FAIL" }
            )?;
        }
        write!(f, "{}", if self.pass { "PASS" } else { "FAIL" })
    }
}

fn f64_type(t: &TensorType) -> TensorType {
    if t.dtype == DType::F32 {
        t.with_dtype(DType::F64)
    } else {
        t.clone()
    }
}

fn f64_tensor(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        DType::F32 => Tensor::from_f64(t.shape().clone(), t.to_f64_vec()),
        _ => Ok(t.clone()),
    }
}

/// A copy of `g` computing in `f64` wherever it computed in `f32`:
/// parameter and constant types, `cast` targets, the custom ops it calls
/// (bodies and rules) and the bodies, conditions and branches of its loops
/// and conditionals (nested to any depth) are promoted.
pub fn promote_f64(g: &Graph) -> Result<Graph> {
    // Every function `g` reaches is promoted callee first, so promoting a
    // function finds everything it uses already promoted and never
    // recurses: thousands of nested custom ops or loop bodies need no
    // stack.
    let mut done = Promoted::default();
    for f in function_deps(g) {
        match f {
            Fun::Custom(c) => {
                let body = promote(&c.body, &done)?;
                let vjp = c.vjp.as_ref().map(|r| promote(r, &done)).transpose()?;
                let jvp = c.jvp.as_ref().map(|r| promote(r, &done)).transpose()?;
                let p = CustomOp::new(c.name.clone(), body, vjp, jvp)?;
                done.customs.insert(Arc::as_ptr(&c), p);
            }
            Fun::Body(b) => {
                let p = BodyRef::new(promote(&b, &done)?);
                done.bodies.insert(Arc::as_ptr(&b.0), p);
            }
        }
    }
    promote(g, &done)
}

/// A function that a graph uses: a custom op (its body and rules) or the
/// body, condition or branch of a loop or conditional.
enum Fun {
    Custom(Arc<CustomOp>),
    Body(BodyRef),
}

impl Fun {
    fn key(&self) -> *const () {
        match self {
            Fun::Custom(c) => Arc::as_ptr(c) as *const (),
            Fun::Body(b) => Arc::as_ptr(&b.0) as *const (),
        }
    }

    fn graphs(&self) -> Vec<&Graph> {
        match self {
            Fun::Custom(c) => std::iter::once(&c.body)
                .chain(c.vjp.as_ref())
                .chain(c.jvp.as_ref())
                .collect(),
            Fun::Body(b) => vec![b.graph()],
        }
    }
}

/// The functions the nodes of `g` use directly, in node order.
fn uses(g: &Graph) -> Vec<Fun> {
    let mut out = Vec::new();
    for id in g.node_ids() {
        match &g[id].op {
            Op::Call(c) => out.push(Fun::Custom(c.0.clone())),
            op => out.extend(op.bodies().into_iter().cloned().map(Fun::Body)),
        }
    }
    out
}

/// Every function `g` uses, directly or through other functions, each
/// once, callees before callers (an explicit-stack depth-first walk).
fn function_deps(g: &Graph) -> Vec<Fun> {
    let mut out = Vec::new();
    let mut seen: HashSet<*const ()> = HashSet::new();
    // (function, its uses, next use to visit)
    let mut stack: Vec<(Option<Fun>, Vec<Fun>, usize)> = vec![(None, uses(g), 0)];
    while let Some((_, calls, next)) = stack.last_mut() {
        if let Some(f) = calls.get(*next) {
            *next += 1;
            if seen.insert(f.key()) {
                let f = match f {
                    Fun::Custom(c) => Fun::Custom(c.clone()),
                    Fun::Body(b) => Fun::Body(b.clone()),
                };
                let inner = f.graphs().into_iter().flat_map(uses).collect();
                stack.push((Some(f), inner, 0));
            }
        } else if let Some((Some(f), _, _)) = stack.pop() {
            out.push(f);
        }
    }
    out
}

/// The promoted copies of the functions done so far, by the original's
/// address.
#[derive(Default)]
struct Promoted {
    customs: HashMap<*const CustomOp, Arc<CustomOp>>,
    bodies: HashMap<*const Graph, BodyRef>,
}

impl Promoted {
    fn body(&self, b: &BodyRef) -> Result<BodyRef> {
        self.bodies
            .get(&Arc::as_ptr(&b.0))
            .cloned()
            .ok_or_else(|| Error::pass(format!("gradcheck: body @{} was not promoted", b.name())))
    }

    /// `op` with its custom op or bodies replaced by their promoted copies.
    fn op(&self, op: &Op) -> Result<Op> {
        Ok(match op {
            Op::Const(t) => Op::Const(f64_tensor(t)?),
            Op::Cast { to: DType::F32 } => Op::Cast { to: DType::F64 },
            Op::Call(c) => {
                let p = self.customs.get(&Arc::as_ptr(&c.0)).ok_or_else(|| {
                    Error::pass(format!("gradcheck: custom @{} was not promoted", c.name))
                })?;
                Op::Call(CustomRef(p.clone()))
            }
            op if op.has_bodies() => try_with_bodies(op, |b| self.body(b))?,
            Op::Iota { shape, axis, .. } => Op::Iota {
                shape: shape.clone(),
                axis: *axis,
                dtype: DType::F64,
            },
            other => other.clone(),
        })
    }
}

fn promote(g: &Graph, done: &Promoted) -> Result<Graph> {
    let mut h = Graph::new(g.name());
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    for &p in g.params() {
        let n = h.add_param(g[p].name.clone().unwrap_or_default(), f64_type(g.ty(p)))?;
        h.set_loc(n, g.loc(p));
        map.insert(p, n);
    }
    // The result types of each promoted multi-result node, for its
    // projections.
    let mut results: HashMap<NodeId, Vec<TensorType>> = HashMap::new();
    for id in g.topo_order()? {
        if map.contains_key(&id) {
            continue;
        }
        let ops: Vec<NodeId> = g.operands(id).iter().map(|o| map[o]).collect();
        let op = done.op(&g[id].op)?;
        let n = if op.is_multi_result() {
            let tys: Vec<&TensorType> = ops.iter().map(|&o| h.ty(o)).collect();
            let rs = adjoint_ir::infer_types(&op, &tys)?;
            let n = h.add_unchecked(op, rs[0].clone(), &ops);
            results.insert(n, rs);
            n
        } else if let Op::Project { index } = op {
            let ty = results
                .get(&ops[0])
                .and_then(|rs| rs.get(index))
                .cloned()
                .ok_or_else(|| Error::pass("gradcheck: a projection of a single-result node"))?;
            h.add_unchecked(op, ty, &ops)
        } else {
            h.add(op, &ops)?
        };
        h[n].name = g[id].name.clone();
        h.set_loc(n, g.loc(id));
        map.insert(id, n);
    }
    h.set_outputs(g.outputs().iter().map(|o| map[o]).collect());
    Ok(h)
}

/// Fixed pseudo-random weights in [0.5, 1.5) (SplitMix64), so a projection
/// never cancels by accident.
fn weights(n: usize) -> Vec<f64> {
    let mut s: u64 = 0x5EED_0FAD_u64;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            0.5 + (z >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// `g` reduced to one scalar output: output `of`, projected on fixed
/// weights if it is not a scalar.
fn scalarize(g: &Graph, of: Option<usize>) -> Result<Graph> {
    let mut h = g.clone();
    let k = contract::select_output("gradcheck", &h, of)?;
    let y = h.outputs()[k];
    let ty = h.ty(y).clone();
    if !ty.dtype.is_float() {
        return Err(Error::input(format!(
            "gradcheck: output {k} is {ty}, not a float"
        )));
    }
    let s = if ty.numel() == 1 && ty.shape.is_scalar() {
        y
    } else {
        let u = h.constant(Tensor::from_f64(ty.shape.clone(), weights(ty.numel()))?);
        let m = h.add(Op::Binary(adjoint_ir::BinaryOp::Mul), &[y, u])?;
        let axes: Vec<usize> = (0..ty.shape.rank()).collect();
        crate::emit::reduce_sum(&mut h, m, axes)?
    };
    h.set_outputs(vec![s]);
    Ok(h)
}

fn eval_scalar(g: &Graph, inputs: &[Tensor], k: usize) -> Result<f64> {
    let out = adjoint_interp::eval(g, inputs)?;
    out[k]
        .scalar_value()
        .ok_or_else(|| Error::eval("gradcheck: expected a scalar"))
}

/// Checks reverse and forward mode of `g` at `inputs` against central
/// finite differences. See the module docs.
pub fn gradcheck(g: &Graph, inputs: &[Tensor], opts: &GradCheckOptions) -> Result<GradCheckReport> {
    let g64 = promote_f64(g)?;
    let xs: Vec<Tensor> = inputs.iter().map(f64_tensor).collect::<Result<_>>()?;
    if xs.len() != g64.params().len() {
        return Err(Error::input(format!(
            "gradcheck: @{} takes {} inputs, got {}",
            g.name(),
            g64.params().len(),
            xs.len()
        )));
    }
    let h = scalarize(&g64, opts.of)?;
    let wrt = contract::resolve_wrt("gradcheck", &h, opts.wrt.as_deref())?;
    let wrt_names: Vec<String> = wrt
        .iter()
        .map(|&p| h[p].name.clone().unwrap_or_default())
        .collect();
    // Reverse mode: one evaluation gives every gradient.
    let mut hr = h.clone();
    Grad {
        wrt: Some(wrt_names.clone()),
        of: Some(0),
        ..Grad::default()
    }
    .run(&mut hr)?;
    let rev = adjoint_interp::eval(&hr, &xs)?;
    // Forward mode: one tangent parameter per wrt input.
    let mut hf = h.clone();
    if opts.forward {
        Jvp {
            wrt: Some(wrt_names.clone()),
        }
        .run(&mut hf)?;
    }
    let mut report = GradCheckReport {
        inputs: Vec::new(),
        pass: true,
    };
    for (wi, &p) in wrt.iter().enumerate() {
        let pi = h
            .params()
            .iter()
            .position(|&q| q == p)
            .expect("wrt is a param");
        let n = xs[pi].len();
        let grad = rev[1 + wi].to_f64_vec();
        let mut fd = vec![0.0; n];
        let mut fwd = vec![0.0; n];
        for j in 0..n {
            let mut v = xs[pi].to_f64_vec();
            let x0 = v[j];
            let step = f64::EPSILON.cbrt() * x0.abs().max(1.0);
            let (xp, xm) = (x0 + step, x0 - step);
            let ty = xs[pi].ty();
            v[j] = xp;
            let mut args = xs.clone();
            args[pi] = Tensor::from_f64_as(&ty, &v)?;
            let fp = eval_scalar(&h, &args, 0)?;
            v[j] = xm;
            args[pi] = Tensor::from_f64_as(&ty, &v)?;
            let fm = eval_scalar(&h, &args, 0)?;
            fd[j] = (fp - fm) / (xp - xm);
            if opts.forward {
                let mut fargs = xs.clone();
                for (wk, &q) in wrt.iter().enumerate() {
                    let t = h.ty(q).clone();
                    let mut z = vec![0.0; t.numel()];
                    if wk == wi {
                        z[j] = 1.0;
                    }
                    fargs.push(Tensor::from_f64_as(&t, &z)?);
                }
                fwd[j] = eval_scalar(&hf, &fargs, 1)?;
            }
        }
        let fd_max = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let errs = |ad: &[f64]| {
            let abs = ad.iter().zip(&fd).fold(0.0f64, |m, (a, b)| {
                let d = (a - b).abs();
                // A NaN anywhere is a failure, not something to skip.
                m.max(if d.is_nan() { f64::INFINITY } else { d })
            });
            let scale = ad.iter().fold(fd_max, |m, v| m.max(v.abs()));
            let rel = if abs == 0.0 { 0.0 } else { abs / scale };
            (abs, rel)
        };
        let (ra, rr) = errs(&grad);
        let (fa, fr) = if opts.forward { errs(&fwd) } else { (0.0, 0.0) };
        let ok = |a: f64, r: f64| a <= opts.atol || r <= opts.rtol;
        let pass = ok(ra, rr) && ok(fa, fr);
        report.pass &= pass;
        report.inputs.push(InputCheck {
            name: h[p].name.clone().unwrap_or_default(),
            numel: n,
            reverse_abs: ra,
            reverse_rel: rr,
            forward_abs: fa,
            forward_rel: fr,
            fd_max,
            pass,
        });
    }
    Ok(report)
}
