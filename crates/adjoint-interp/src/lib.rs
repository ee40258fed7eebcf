//! # adjoint-interp
//!
//! The reference interpreter. It evaluates every op of the IR in `f32` and
//! `f64` (and `bool` where the op allows it) the plainest way, and is the
//! oracle that every other engine (the Cranelift JIT, the AD passes' tests)
//! is compared against.
//!
//! ```
//! use adjoint_ir::{GraphBuilder, Tensor, TensorType};
//! let b = GraphBuilder::new("f");
//! let x1 = b.param("x1", TensorType::f64([]));
//! let x2 = b.param("x2", TensorType::f64([]));
//! let g = b.build(&[x1 * x2 + x1.sin()]).unwrap();
//! let out = adjoint_interp::eval(&g, &[Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)]).unwrap();
//! assert_eq!(out[0].as_f64().unwrap(), &[14.909297426825681]);
//! ```
//!
//! ## Numeric conventions
//!
//! These are the contract (docs/ir.md §14): another engine must reproduce
//! them **bit for bit** for every op but `matmul`, the transcendental
//! functions included when it computes them in the same math mode
//! ([`eval_with`], [`adjoint_ir::math::MathMode`]: libm, this crate's
//! default, or the polynomials of [`adjoint_ir::math`], the JIT's default).
//! `matmul` is specified by a dot-product error bound.
//!
//! - **Own dtype.** Every op computes in its own dtype: `f32` ops use `f32`
//!   arithmetic and the `f32` libm functions (`f32::exp`, `f32::sin`, …,
//!   which are the platform's `expf`, `sinf`, …); `f64` ops use `f64`.
//!   Nothing is computed in a wider type and rounded back.
//! - **IEEE-754.** `1/0 = inf`, `0/0 = NaN`, `log 0 = -inf`,
//!   `sqrt(-1) = NaN`, and overflow gives `inf`.
//! - **Unary ops.** `neg` flips the sign bit and `abs` clears it.
//!   `sigmoid(x) = 1 / (1 + exp(-x))`, computed in the dtype.
//!   `relu(x) = max(x, +0.0)` with the `max` below, so `relu(NaN) = NaN` and
//!   `relu(-0.0) = +0.0`. `sqrt` is the correctly rounded square root;
//!   `exp`, `log`, `sin`, `cos`, `tanh` are the std functions (`ln` for
//!   `log`) in the default math mode, and [`adjoint_ir::math`]'s
//!   polynomials in the `Poly` mode.
//! - **Binary ops.** `add sub mul div` are the IEEE operations; `pow` is
//!   `powf` (or [`adjoint_ir::math::pow`] in the `Poly` mode). `max` and `min` propagate NaN (if either operand is NaN the
//!   result is a NaN; its payload is unspecified, so compare NaN results
//!   with `is_nan`) and order `-0.0 < +0.0`, so `max(-0.0, +0.0) = +0.0` and
//!   `min(-0.0, +0.0) = -0.0`. This is Cranelift's `fmax`/`fmin`, and not
//!   Rust's `f64::max`, which ignores a NaN operand. See [`scalar::fmax`].
//! - **Comparisons** are IEEE: any comparison with a NaN is false, and
//!   `-0.0 == +0.0`. `select(c, a, b)` is `c ? a : b`, for any branch dtype.
//! - **`reduce_sum`.** For each result element, the reduced elements are
//!   taken in row-major order of the reduced index space (the reduced axes
//!   sorted ascending, whatever order `axes` lists them in), numbered
//!   `k = 0..n`, and cut into blocks of
//!   [`REDUCE_SUM_BLOCK`](adjoint_ir::REDUCE_SUM_BLOCK) = 8192 elements
//!   (the last may be shorter). Within a block, element `k` (counted from
//!   the block's start) is added into partial sum `k mod 4`; the four
//!   partials start at `+0.0` and are each accumulated in sequence; the
//!   block's sum is `(p0 + p1) + (p2 + p3)`. The block sums are added left
//!   to right, `((b0 + b1) + b2) + ...`. A sum of at most 8192 elements is
//!   thus the four-partial sum alone. This order lets a JIT vectorise a
//!   reduction four lanes wide and sum blocks on several threads, and still
//!   match bit for bit whatever the thread count. An empty sum is `+0.0`.
//!   See [`reduce_sum_order`].
//! - **`reduce_max`** folds the NaN-propagating `max` over the reduced
//!   elements starting from `-inf`; an empty maximum is `-inf`. See
//!   [`reduce_max_order`].
//! - **`matmul`** has numpy semantics: 2-D, batched with broadcast leading
//!   axes, a 1-D left operand promoted to `[1,k]` and a 1-D right operand
//!   to `[k,1]`, with the promoted axis removed from the result. Each dot
//!   product is accumulated in sequence over `k`, starting from `+0.0`, with
//!   a separate multiply and add (no fused multiply-add). An empty (`k = 0`)
//!   product is `+0.0`.
//! - **`cast`.** `f64 -> f32` rounds to nearest, ties to even (Rust `as`);
//!   `f32 -> f64` is exact; `bool -> float` gives `0` or `1`; a cast to the
//!   operand's own dtype is the identity.
//! - **Shape ops** work on every dtype, `bool` included: `broadcast` follows
//!   numpy rules (trailing axes aligned); `reshape` keeps the row-major
//!   order; `transpose` makes result axis `i` operand axis `perm[i]`;
//!   `slice` takes `start, start+stride, … < end` on each axis; `pad` fills
//!   with zeros (`false` for `bool`); `concat` joins one or more operands
//!   along an axis.
//! - **Empty shapes.** Axes of length 0 work everywhere and give empty
//!   results; reductions over an empty axis give `+0.0` (sum) or `-inf`
//!   (max).
//!
//! ## Evaluation
//!
//! [`eval`] checks the inputs against the parameters, then evaluates the
//! nodes that the outputs depend on in the graph's `topo_order`, checking
//! each node's recorded type against its operands (so a malformed graph is
//! an error, never a panic), and frees each intermediate after its last use.
//! [`eval_node`] evaluates a single op; `call` evaluates the custom op's body
//! (its derivative rules are for the AD passes only).
//!
//! ## Loops and conditionals
//!
//! `scan`, `while` and `cond` run their functions (`body=@f`, `cond=@p`,
//! `then=@t`, `else=@e`) with exactly the semantics of docs/ir.md (those
//! of JAX's `lax.scan`, `lax.while_loop` and `lax.cond`):
//!
//! - **`scan`**: `c = init`; for `t` in `0..N` (in `N-1 … 0` order with
//!   `reverse=true`), `(c, y) = f(c, xs[t], k)` and `ys[t] = y`, so `ys[t]`
//!   is always the result of the iteration that read `xs[t]`. With `N = 0`
//!   the results are the inits and empty stacks `[0, …]`. Each stacked
//!   output `[N, …]` is allocated once, before the first iteration, and
//!   filled slice by slice; each slice `xs[t]` is a copy.
//! - **`while`**: `c = init`; as long as fewer than `max_trips` body runs
//!   have happened (when the bound is given) and `p(c, k)` is true,
//!   `c = f(c, k)`. Reaching the bound ends the loop (not an error; the
//!   predicate is not evaluated again), so `max_trips=0` gives the inits;
//!   a predicate that is false at once gives the inits too. **A `while`
//!   without `max_trips` whose predicate never becomes false runs
//!   forever**: that is the program's meaning, as in JAX, and the
//!   interpreter does not invent a limit. Give `max_trips` to bound it.
//! - **`cond`**: only the branch the predicate chooses is evaluated: a NaN,
//!   an error or the memory of the other branch has no effect.
//! - **`revolve`** (the checkpointed reverse scan that reverse mode emits
//!   under a memory budget): with `n` trips (the length, or the leading
//!   `true`s of the mask), `s_{t+1} = step(s_t, x_t, k)`, and from
//!   `b = b0`, for `t = n-1 … 0`, `(b, y_t) = body(b, s_t, x_t, k)`. The
//!   interpreter follows [`adjoint_ir::revolve::Schedule`] action by
//!   action: it holds at most `snapshots` states (`s_0`, the operand, is
//!   shared, not copied) and runs `step` exactly
//!   [`forward_steps`](adjoint_ir::revolve::forward_steps)`(n, snapshots)`
//!   times. The stacked outputs are allocated once, zero-filled, so rows
//!   `t >= n` are `+0` (or `false`). The results do not depend on
//!   `snapshots`, bit for bit.
//!
//! A multi-result node's value is a tuple of reference-counted tensors;
//! each `project` node shares its result without copying, and the tuple
//! is freed after the last projection. Running a body is a frame on the
//! same explicit heap stack as a `call` (the loop's state waits in the
//! frame that contains it), so bodies nest to any depth, loops in
//! conditionals in loops, without recursion; one function may serve any
//! number of loops. An error inside a body names each enclosing loop, the
//! function and the iteration (`@f: %c, %ys = scan body=@step: body=@step
//! (iteration t=3): @step: %z = …`). [`eval_node`] evaluates single-result
//! ops only: a `scan`, `while` or `cond` is an error naming the op (a
//! single tensor cannot hold several results).
//!
//! ## Limits: nesting and working memory
//!
//! Before evaluating anything, [`eval_with`] computes from the types alone
//! two things and checks them against its [`EvalOptions`]:
//!
//! - **Nesting of calls and bodies.** A `call`, and each run of a loop's or
//!   conditional's function, pushes a frame onto an explicit stack on the
//!   heap; nothing recurses, so a chain of thousands of custom ops, or of
//!   loops nested in loop bodies, evaluates on any thread stack. The
//!   nesting (calls and bodies counted alike; both branches of a `cond`
//!   count) may be at most [`EvalOptions::max_call_depth`]
//!   ([`DEFAULT_MAX_CALL_DEPTH`] = 65,536 by default); a deeper program is
//!   an error naming the call or loop.
//! - **Working memory.** The peak bytes held at once by the values the
//!   evaluation computes (each from its op to its last use, the outputs to
//!   the end) and by the kernels' scratch buffers; the inputs and the
//!   constants are the caller's and are not counted. A `call` needs its
//!   body's peak; a `scan` its results (carries and stacked outputs), one
//!   slice of each scanned input and one body peak; a `while` (whose trip
//!   count is unknown, but each trip frees the last one's memory) its
//!   carries plus the larger of its predicate's and its body's peaks; a
//!   `revolve` its results, one slice of each scanned input,
//!   `min(snapshots, length)` states (the snapshots above `s_0` and the
//!   current state) and the larger of its step's and its body's peaks. A
//!   `cond` needs its results; the branch that is taken is checked when it
//!   is chosen, before it runs, against the budget less what the enclosing
//!   frames hold, so the untaken branch costs nothing. A program whose
//!   peak exceeds [`EvalOptions::max_working_bytes`] (by default half the
//!   physical memory, see [`default_max_working_bytes`]) is an error naming
//!   the node where the peak is reached, its result types and the bytes,
//!   and nothing is allocated: on Linux, which overcommits memory, that is
//!   the difference between a clear error and the process being killed.
//!
//! Every buffer is also allocated fallibly (`try_reserve`): an allocation
//! the allocator refuses within the budget is an error naming the op and
//! the byte size, never an abort.
//!
//! ## Measurements
//!
//! [`eval_with_stats`] also returns what the call cost, measured as it
//! ran ([`RunStats`], reported by `adjoint run --stats`): the peak bytes of
//! the tensors the interpreter held and the number of runs of each loop's
//! or conditional's function.
#![warn(missing_docs)]

use adjoint_ir::{infer_type, CustomRef, Error, Graph, Op, Result, RunStats, Tensor, TensorType};

// The two dispatch macros are textually scoped: they are visible in the
// modules declared below them.

/// Runs `$body` with the type alias `$T` bound to the element type of
/// `$dtype` (`f32`, `f64` or `bool`).
macro_rules! with_elem {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            adjoint_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            adjoint_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            adjoint_ir::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Runs `$body` with the type alias `$T` bound to the float element type of
/// `$dtype`; returns an error naming `$what` for `bool`.
macro_rules! with_float {
    ($dtype:expr, $what:expr, $T:ident => $body:expr) => {
        match $dtype {
            adjoint_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            adjoint_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            adjoint_ir::DType::Bool => {
                return Err(adjoint_ir::Error::eval(format!(
                    "{}: expects float operands, got bool",
                    $what
                )))
            }
        }
    };
}

mod elementwise;
mod frames;
mod limits;
mod loops;
mod math_mode;
mod matmul;
mod memory;
mod meter;
mod options;
mod reduce;
mod revolve;
pub mod scalar;
mod schedule;
mod shape_ops;
mod strided;

use frames::Val;
pub use options::{
    default_max_working_bytes, EvalOptions, DEFAULT_MAX_CALL_DEPTH, FALLBACK_MAX_WORKING_BYTES,
};
pub use reduce::{reduce_max_order, reduce_sum_order};

/// The elements of `t` as a slice of `T`, or an error if `t` holds another
/// dtype.
pub(crate) fn elems<T: scalar::Elem>(t: &Tensor) -> Result<&[T]> {
    T::slice(t.data())
        .ok_or_else(|| Error::eval(format!("expected a {} tensor, got {}", T::DTYPE, t.ty())))
}

/// Evaluates `g` on `inputs`, one per parameter in order, and returns its
/// outputs in order (a value returned twice is returned twice), with the
/// default [`EvalOptions`].
///
/// The number of inputs and each input's dtype and shape must match the
/// parameters; the error names the parameter and both types. Only the nodes
/// the outputs depend on are evaluated.
pub fn eval(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    eval_with(g, inputs, &EvalOptions::default())
}

/// [`eval`] with explicit options. Before evaluating anything, the peak
/// working memory and the nesting of custom-op calls are computed from the
/// types and checked against `opts`: a program over either limit is an
/// error naming the node, and nothing is allocated.
pub fn eval_with(g: &Graph, inputs: &[Tensor], opts: &EvalOptions) -> Result<Vec<Tensor>> {
    eval_with_stats(g, inputs, opts).map(|(outs, _)| outs)
}

/// [`eval_with`], and what the evaluation cost, measured as it ran (not
/// predicted from the types):
///
/// - [`RunStats::working_bytes`]: the most bytes held at once by the
///   tensors the interpreter creates: the values it computes (each from
///   the moment its kernel allocates it until its last use; the outputs to
///   the end), the kernels' scratch buffers (a reduction's rearranged
///   operand, `matmul`'s transposed right matrix and batch offsets), loop
///   carries, the slices of scanned inputs, stacked outputs (from their
///   allocation, before the first iteration), `revolve`'s snapshots and
///   current state, and the copies made when an input, a constant or a
///   repeated value is returned as an output. A value shared by several
///   frames or results counts once. The caller's inputs and the program's
///   constants are not counted; nor are the interpreter's bookkeeping
///   (schedules, frames) and the small index vectors of shape ops.
/// - [`RunStats::body_evals`]: for each function run by a `scan` (`body`),
///   a `while` (`cond` and `body`, each run counted), a `cond` (the taken
///   branch) or a `revolve` (`step` and `body`, recomputations included),
///   by function name, the number of runs; a function serving several
///   loops sums them. Custom-op calls are not counted.
///
/// ```
/// use adjoint_interp::{eval_with_stats, EvalOptions};
/// use adjoint_ir::{GraphBuilder, Tensor, TensorType};
/// let b = GraphBuilder::new("f");
/// let x = b.param("x", TensorType::f64([1000]));
/// let g = b.build(&[x.sin().cos()]).unwrap();
/// let x = Tensor::from_f64([1000], vec![0.5; 1000]).unwrap();
/// let (_, stats) = eval_with_stats(&g, &[x], &EvalOptions::default()).unwrap();
/// // `sin x` is held while `cos` computes its result: 2 × 8000 bytes.
/// assert_eq!(stats.working_bytes, 16_000);
/// ```
pub fn eval_with_stats(
    g: &Graph,
    inputs: &[Tensor],
    opts: &EvalOptions,
) -> Result<(Vec<Tensor>, RunStats)> {
    let _mode = math_mode::enter(opts.math);
    let session = meter::Session::start();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    check_inputs(g, &refs)?;
    let all = schedule::build(g)?;
    limits::check(g, &all, opts, 0)?;
    let outs = frames::run(
        g,
        inputs.iter().map(Val::Borrowed).collect(),
        &all,
        opts.max_working_bytes,
    )?;
    // The copies handed over count until the call returns.
    let mut copies = Vec::new();
    let mut result = Vec::with_capacity(outs.len());
    for (i, v) in outs.into_iter().enumerate() {
        if v.copies() {
            copies.push(meter::Ticket::new(meter::tensor_bytes(v.get())));
        }
        result.push(v.into_tensor(&format!("@{}: output {i}", g.name()))?);
    }
    let stats = session.stats();
    drop(copies);
    Ok((result, stats))
}

fn types_list(tys: impl Iterator<Item = String>) -> String {
    tys.collect::<Vec<_>>().join(", ")
}

/// Checks `inputs` against the parameters of `g`: their number, dtypes and
/// shapes.
pub(crate) fn check_inputs(g: &Graph, inputs: &[&Tensor]) -> Result<()> {
    let params = g.params();
    if inputs.len() != params.len() {
        let want = types_list(params.iter().map(|&p| match g.get(p) {
            Some(node) => format!("{}: {}", g.display_name(p), node.ty),
            None => format!("{p}: (removed)"),
        }));
        let got = types_list(inputs.iter().map(|t| t.ty().to_string()));
        return Err(Error::eval(format!(
            "@{} takes {} inputs ({want}), got {} ({got})",
            g.name(),
            params.len(),
            inputs.len()
        )));
    }
    for (i, (&p, t)) in params.iter().zip(inputs).enumerate() {
        let node = g.get(p).ok_or_else(|| {
            Error::eval(format!("@{}: parameter {i} ({p}) does not exist", g.name()))
        })?;
        let got = t.ty();
        if got != node.ty {
            return Err(Error::eval(format!(
                "@{}: parameter {} (input {i}) expects {}, got {got}",
                g.name(),
                g.display_name(p),
                node.ty
            )));
        }
    }
    Ok(())
}

/// Evaluates one op on `operands`, giving a value of type `ty` (used by
/// constant folding), with the default [`EvalOptions`]. The operand types
/// must give `ty` under the op's type rule; otherwise, and for `param`
/// (which has no value outside a function evaluation), this is an error.
///
/// ```
/// use adjoint_ir::{BinaryOp, Op, Tensor, TensorType};
/// let a = Tensor::from_f32([2], vec![1.0, -0.0]).unwrap();
/// let b = Tensor::from_f32([2], vec![f32::NAN, 0.0]).unwrap();
/// let m = adjoint_interp::eval_node(&Op::Binary(BinaryOp::Max), &TensorType::f32([2]), &[&a, &b]).unwrap();
/// let m = m.as_f32().unwrap();
/// assert!(m[0].is_nan() && m[1].is_sign_positive());
/// ```
pub fn eval_node(op: &Op, ty: &TensorType, operands: &[&Tensor]) -> Result<Tensor> {
    eval_node_with(op, ty, operands, &EvalOptions::default())
}

/// [`eval_node`] with explicit options: the op's result and scratch (for a
/// `call`, its body's peak) must fit in `opts.max_working_bytes`, checked
/// before anything is allocated.
pub fn eval_node_with(
    op: &Op,
    ty: &TensorType,
    operands: &[&Tensor],
    opts: &EvalOptions,
) -> Result<Tensor> {
    let _mode = math_mode::enter(opts.math);
    match op {
        Op::Param { index } => Err(Error::eval(format!(
            "param: parameter {index} has no value outside the evaluation of its function"
        ))),
        Op::Call(c) => {
            check_node_types(op, ty, operands)?;
            call(c, operands, opts).map_err(|e| e.context(format!("call @{}", c.name)))
        }
        Op::Project { index } => Err(Error::eval(format!(
            "project: result {index} of a multi-result node has no value outside the \
             evaluation of its function"
        ))),
        op if op.is_multi_result() => Err(Error::eval(format!(
            "{}: has several results, which eval_node cannot return as one tensor; evaluate the \
             function that contains it with eval",
            op.name()
        ))),
        op => {
            check_node_types(op, ty, operands)?;
            let tys: Vec<TensorType> = operands.iter().map(|t| t.ty()).collect();
            let ty_refs: Vec<&TensorType> = tys.iter().collect();
            limits::check_op(op, &ty_refs, ty, opts)?;
            eval_op(op, ty, operands)
        }
    }
}

/// Evaluates a primitive op (not `param` or `call`) on operands that
/// [`check_node_types`] has accepted.
pub(crate) fn eval_op(op: &Op, ty: &TensorType, operands: &[&Tensor]) -> Result<Tensor> {
    let o = operands;
    match op {
        Op::Param { .. } | Op::Call(_) => Err(Error::eval(format!(
            "{}: not a primitive op (internal)",
            op.name()
        ))),
        Op::Const(t) => memory::try_clone(t, "const"),
        Op::Unary(u) => elementwise::unary(*u, o[0], ty),
        Op::Binary(b) => elementwise::binary(*b, o[0], o[1], ty),
        Op::Compare(c) => elementwise::compare(*c, o[0], o[1], ty),
        Op::Select => elementwise::select(o[0], o[1], o[2], ty),
        Op::Broadcast { .. } => shape_ops::broadcast(o[0], ty),
        Op::Reshape { .. } => shape_ops::reshape(o[0], ty),
        Op::Transpose { perm } => shape_ops::transpose(o[0], perm, ty),
        Op::Slice { start, stride, .. } => shape_ops::slice(o[0], start, stride, ty),
        Op::Pad { lo, .. } => shape_ops::pad(o[0], lo, ty),
        Op::Concat { axis } => shape_ops::concat(o, *axis, ty),
        Op::ReduceSum { axes } => reduce::reduce_sum(o[0], axes, ty),
        Op::ReduceMax { axes } => reduce::reduce_max(o[0], axes, ty),
        Op::MatMul => matmul::matmul(o[0], o[1], ty),
        Op::Cast { .. } => elementwise::cast(o[0], ty),
        Op::Iota { axis, .. } => elementwise::iota(*axis, ty),
        Op::Logical(l) => elementwise::logical(*l, o, ty),
        Op::Scan { .. }
        | Op::While { .. }
        | Op::Revolve { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => Err(Error::eval(format!(
            "{}: not a primitive op: loops run on the frame stack (internal)",
            op.name()
        ))),
    }
}

/// Checks that `operands` give a value of type `ty` under `op`'s type rule,
/// so that the kernels can rely on consistent shapes and dtypes.
pub(crate) fn check_node_types(op: &Op, ty: &TensorType, operands: &[&Tensor]) -> Result<()> {
    let tys: Vec<TensorType> = operands.iter().map(|t| t.ty()).collect();
    let ty_refs: Vec<&TensorType> = tys.iter().collect();
    let inferred = infer_type(op, &ty_refs)?;
    if inferred != *ty {
        return Err(Error::eval(format!(
            "{}: operands ({}) give {inferred}, but the result type is {ty}",
            op.name(),
            types_list(tys.iter().map(|t| t.to_string()))
        )));
    }
    Ok(())
}

/// A custom op evaluates its body on the operands, on the explicit stack
/// of [`frames`], after the body has been checked against `opts`.
fn call(c: &CustomRef, args: &[&Tensor], opts: &EvalOptions) -> Result<Tensor> {
    check_inputs(&c.body, args)?;
    let all = schedule::build(&c.body)?;
    limits::check(&c.body, &all, opts, 1)?;
    let mut outs = frames::run(
        &c.body,
        args.iter().map(|&t| Val::Borrowed(t)).collect(),
        &all,
        opts.max_working_bytes,
    )?;
    match (outs.pop(), outs.is_empty()) {
        (Some(y), true) => y.into_tensor("call"),
        _ => Err(Error::eval("the body must have exactly one output")),
    }
}
