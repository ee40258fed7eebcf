//! The builder API: value handles with operator overloading, and composite
//! ops built from primitives.
//!
//! Error policy (as in ndarray): every op has a checked `try_*` form that
//! returns [`Result`]; the operator overloads and the unprefixed methods
//! call the checked form and panic with the same message on error. The
//! panicking forms are `#[track_caller]`, so the panic points at the line
//! that misused the builder, not at this file.
//!
//! A [`Value`] belongs to the builder that made it. Combining it with
//! values of another builder, naming it or returning it through another
//! builder is an error that says so ([`GraphBuilder::try_op`],
//! [`GraphBuilder::try_name`], [`GraphBuilder::build`]) — except in the
//! builder of a loop body or branch, where a value of an enclosing builder
//! becomes a loop invariant (closure conversion, see
//! [`GraphBuilder::scan`]).

use crate::{
    BinaryOp, CompareOp, CustomOp, CustomRef, DType, Error, Graph, LogicalOp, NodeId, Op, Result,
    Shape, Tensor, TensorType, UnaryOp,
};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// Builds one function. Values are handles borrowed from the builder.
///
/// ```
/// use adjoint_ir::{GraphBuilder, TensorType};
/// let b = GraphBuilder::new("layer");
/// let x = b.param("x", TensorType::f32([4, 3]));
/// let w = b.param("w", TensorType::f32([3, 2]));
/// let bias = b.param("b", TensorType::f32([2]));
/// let h = (x.matmul(w) + bias).tanh();   // bias is broadcast to [4,2]
/// let g = b.build(&[h.sum()]).unwrap();
/// assert_eq!(g.output_types()[0], TensorType::f32([]));
/// // Shape errors name the op and both shapes.
/// let e = x.try_add(w).unwrap_err();
/// assert!(e.message.contains("add") && e.message.contains("f32[4,3]") && e.message.contains("f32[3,2]"));
/// ```
#[derive(Debug)]
pub struct GraphBuilder {
    pub(crate) g: RefCell<Graph>,
    /// The addresses of the enclosing builders, nearest first (empty for a
    /// top-level builder). Values of these builders are captured.
    pub(crate) ancestors: Vec<usize>,
    /// The values of enclosing builders this builder captured as
    /// parameters, in order of first use.
    pub(crate) captures: RefCell<Vec<crate::builder_capture::Capture>>,
    /// The number of loops and conditionals built so far (names bodies).
    pub(crate) loops: Cell<usize>,
}

/// A handle to a value in a [`GraphBuilder`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Value<'b> {
    b: &'b GraphBuilder,
    id: NodeId,
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.ty())
    }
}

#[track_caller]
pub(crate) fn ok<T>(r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{}", e.message),
    }
}

impl GraphBuilder {
    /// A builder for a function named `name`.
    pub fn new(name: impl Into<String>) -> GraphBuilder {
        GraphBuilder::nested(name, Vec::new())
    }

    /// A builder named `name` inside the builders at `ancestors`.
    pub(crate) fn nested(name: impl Into<String>, ancestors: Vec<usize>) -> GraphBuilder {
        GraphBuilder {
            g: RefCell::new(Graph::new(name)),
            ancestors,
            captures: RefCell::new(Vec::new()),
            loops: Cell::new(0),
        }
    }

    /// Declares the next parameter. Errors if the name is taken.
    pub fn try_param(&self, name: &str, ty: TensorType) -> Result<Value<'_>> {
        crate::limits::check_type(&ty)
            .map_err(|m| Error::type_error(format!("param %{name}: {m}")))?;
        let id = self.g.borrow_mut().add_param(name, ty)?;
        Ok(self.wrap(id))
    }

    /// Declares the next parameter; panics if the name is taken.
    #[track_caller]
    pub fn param(&self, name: &str, ty: TensorType) -> Value<'_> {
        ok(self.try_param(name, ty))
    }

    /// A constant tensor. A constant past the limits of docs/ir.md §12
    /// (more than 2^24 elements) is reported by [`GraphBuilder::build`];
    /// [`GraphBuilder::try_constant`] reports it here.
    pub fn constant(&self, t: Tensor) -> Value<'_> {
        let id = self.g.borrow_mut().constant(t);
        self.wrap(id)
    }

    /// A constant tensor; an error if it is past the limits of
    /// docs/ir.md §12 (more than 2^24 elements).
    pub fn try_constant(&self, t: Tensor) -> Result<Value<'_>> {
        let ty = t.ty();
        let op = Op::Const(t);
        crate::limits::check_op(&op).map_err(|m| Error::type_error(format!("const: {m}")))?;
        let id = self.g.borrow_mut().add_unchecked(op, ty, &[]);
        Ok(self.wrap(id))
    }

    /// A scalar constant of `dtype` (which must be a float).
    pub fn scalar(&self, v: f64, dtype: DType) -> Value<'_> {
        self.constant(Tensor::full(&TensorType::scalar(dtype), v))
    }

    /// A constant of type `ty` filled with `v`; an error, before anything
    /// is allocated, if `ty` is past the limits of docs/ir.md §12 (more
    /// than 2^24 elements).
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let e = b.try_full(&TensorType::f64([65536, 65536]), 1.0).unwrap_err();
    /// assert!(e.message.contains("f64[65536,65536]"));
    /// ```
    pub fn try_full(&self, ty: &TensorType, v: f64) -> Result<Value<'_>> {
        let what = |m: String| Error::type_error(format!("const: {m}"));
        crate::limits::check_type(ty).map_err(what)?;
        if ty.numel() as u64 > crate::MAX_CONST_ELEMS {
            return Err(what(format!(
                "{ty} has {} elements, more than the limit of 2^24 for a constant",
                ty.numel()
            )));
        }
        Ok(self.constant(Tensor::full(ty, v)))
    }

    /// A constant of type `ty` filled with `v`; panics if `ty` is past the
    /// limits (see [`GraphBuilder::try_full`]).
    #[track_caller]
    pub fn full(&self, ty: &TensorType, v: f64) -> Value<'_> {
        ok(self.try_full(ty, v))
    }

    /// Applies `op` to `operands`, with implicit numpy broadcasting for
    /// arithmetic, comparisons, `select` and `and`/`or`.
    pub fn try_op(&self, op: Op, operands: &[Value<'_>]) -> Result<Value<'_>> {
        let ids = operands
            .iter()
            .enumerate()
            .map(|(i, v)| {
                self.local(v, || match &op {
                    Op::Call(c) => format!("call @{}: operand {i}", c.name),
                    other => format!("{}: operand {i}", other.name()),
                })
            })
            .collect::<Result<Vec<NodeId>>>()?;
        let id = self.g.borrow_mut().add_broadcasting(op, &ids)?;
        Ok(self.wrap(id))
    }

    /// [`GraphBuilder::try_op`], panicking on error.
    #[track_caller]
    pub fn op(&self, op: Op, operands: &[Value<'_>]) -> Value<'_> {
        ok(self.try_op(op, operands))
    }

    /// Calls a custom op.
    pub fn try_call(&self, op: &Arc<CustomOp>, args: &[Value<'_>]) -> Result<Value<'_>> {
        self.try_op(Op::Call(CustomRef(op.clone())), args)
    }

    /// Calls a custom op, panicking on error.
    #[track_caller]
    pub fn call(&self, op: &Arc<CustomOp>, args: &[Value<'_>]) -> Value<'_> {
        ok(self.try_call(op, args))
    }

    /// Concatenates values along `axis`.
    pub fn try_concat<'a>(&'a self, parts: &[Value<'a>], axis: usize) -> Result<Value<'a>> {
        self.try_op(Op::Concat { axis }, parts)
    }

    /// Concatenates values along `axis`, panicking on error.
    #[track_caller]
    pub fn concat<'a>(&'a self, parts: &[Value<'a>], axis: usize) -> Value<'a> {
        ok(self.try_concat(parts, axis))
    }

    /// Gives a value a text name (`%name`).
    pub fn try_name(&self, v: Value<'_>, name: &str) -> Result<()> {
        self.check_owner(&v, || format!("naming %{name}: the value"))?;
        self.g.borrow_mut().set_name_of(v.id, name)
    }

    /// Finishes the function with `outputs`, and verifies it.
    pub fn build(&self, outputs: &[Value<'_>]) -> Result<Graph> {
        let ids = outputs
            .iter()
            .enumerate()
            .map(|(i, v)| self.local(v, || format!("output {i}")))
            .collect::<Result<Vec<NodeId>>>()?;
        self.build_ids(ids)
    }

    /// Finishes the function with the outputs `ids` (nodes of this
    /// builder), and verifies it.
    pub(crate) fn build_ids(&self, ids: Vec<NodeId>) -> Result<Graph> {
        let mut g = self.g.borrow().clone();
        g.set_outputs(ids);
        crate::verify(&g)?;
        Ok(g)
    }

    /// A snapshot of the graph built so far (without outputs).
    pub fn graph(&self) -> Graph {
        self.g.borrow().clone()
    }

    /// An error unless `v` was made by this builder; `what` names the use.
    pub(crate) fn check_owner(&self, v: &Value<'_>, what: impl FnOnce() -> String) -> Result<()> {
        if std::ptr::eq(v.b, self) {
            return Ok(());
        }
        let (mine, theirs) = (self.g.borrow(), v.b.g.borrow());
        Err(Error::type_error(format!(
            "{} ({}: {}) belongs to another GraphBuilder (of @{}), not to this one (of @{}); \
             values cannot be shared between builders",
            what(),
            theirs.display_name(v.id),
            theirs.ty(v.id),
            theirs.name(),
            mine.name()
        )))
    }

    pub(crate) fn wrap(&self, id: NodeId) -> Value<'_> {
        Value { b: self, id }
    }
}

/// The builder an op on `vs` goes to: the innermost one among the
/// operands' builders (a loop body's rather than its enclosing function's),
/// or the first operand's when there are several at that depth (then the
/// others are reported as foreign).
fn innermost<'b>(vs: &[Value<'b>]) -> &'b GraphBuilder {
    let mut best = vs[0].b;
    for v in &vs[1..] {
        if v.b.ancestors.len() > best.ancestors.len() {
            best = v.b;
        }
    }
    best
}

macro_rules! unary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        $(
            #[doc = concat!("Elementwise `", stringify!($name), "`.")]
            #[track_caller]
            pub fn $name(self) -> Value<'b> {
                self.b.op(Op::Unary(UnaryOp::$op), &[self])
            }
        )*
    };
}

macro_rules! binary_methods {
    ($($try_name:ident, $name:ident => $op:expr),* $(,)?) => {
        $(
            #[doc = concat!("Checked `", stringify!($name), "` with numpy broadcasting.")]
            pub fn $try_name(self, rhs: Value<'b>) -> Result<Value<'b>> {
                innermost(&[self, rhs]).try_op($op, &[self, rhs])
            }
            #[doc = concat!("`", stringify!($name), "` with numpy broadcasting; panics on a shape error.")]
            #[track_caller]
            pub fn $name(self, rhs: Value<'b>) -> Value<'b> {
                ok(self.$try_name(rhs))
            }
        )*
    };
}

impl<'b> Value<'b> {
    /// The node id.
    pub fn id(self) -> NodeId {
        self.id
    }

    /// The builder this value belongs to.
    pub fn builder(self) -> &'b GraphBuilder {
        self.b
    }

    /// The value's type.
    pub fn ty(self) -> TensorType {
        self.b.g.borrow().ty(self.id).clone()
    }

    /// The value's shape.
    pub fn shape(self) -> Shape {
        self.ty().shape
    }

    /// The value's dtype.
    pub fn dtype(self) -> DType {
        self.ty().dtype
    }

    /// A scalar constant of this value's dtype.
    pub fn lit(self, v: f64) -> Value<'b> {
        self.b.scalar(v, self.dtype())
    }

    unary_methods! {
        neg_ => Neg, abs => Abs, exp => Exp, ln => Log, sqrt => Sqrt, sin => Sin,
        cos => Cos, tanh => Tanh, sigmoid => Sigmoid, relu => Relu,
    }

    /// Natural logarithm (same as [`Value::ln`]).
    #[track_caller]
    pub fn log(self) -> Value<'b> {
        self.ln()
    }

    binary_methods! {
        try_add, add_ => Op::Binary(BinaryOp::Add),
        try_sub, sub_ => Op::Binary(BinaryOp::Sub),
        try_mul, mul_ => Op::Binary(BinaryOp::Mul),
        try_div, div_ => Op::Binary(BinaryOp::Div),
        try_pow, pow => Op::Binary(BinaryOp::Pow),
        try_maximum, maximum => Op::Binary(BinaryOp::Max),
        try_minimum, minimum => Op::Binary(BinaryOp::Min),
        try_lt, lt => Op::Compare(CompareOp::Lt),
        try_le, le => Op::Compare(CompareOp::Le),
        try_gt, gt => Op::Compare(CompareOp::Gt),
        try_ge, ge => Op::Compare(CompareOp::Ge),
        try_eq, eq_ => Op::Compare(CompareOp::Eq),
        try_matmul, matmul => Op::MatMul,
        try_and, and => Op::Logical(LogicalOp::And),
        try_or, or => Op::Logical(LogicalOp::Or),
    }

    /// Checked elementwise boolean `not`.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([3]));
    /// let y = b.param("y", TensorType::f64([]));
    /// // and/or broadcast like the comparisons: bool[3] and bool[] -> bool[3].
    /// let inside = x.gt(x.lit(0.0)).and(x.lt(y));
    /// assert_eq!(inside.try_not().unwrap().ty(), TensorType::bool([3]));
    /// assert!(x.try_not().unwrap_err().message.contains("bool"));
    /// ```
    pub fn try_not(self) -> Result<Value<'b>> {
        self.b.try_op(Op::Logical(LogicalOp::Not), &[self])
    }

    /// Elementwise boolean `not`; panics unless the value is `bool`. Also
    /// available as the `!` operator.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // it is implemented too
    pub fn not(self) -> Value<'b> {
        ok(self.try_not())
    }

    /// `self ^ p` for a scalar exponent.
    #[track_caller]
    pub fn powf(self, p: f64) -> Value<'b> {
        self.pow(self.lit(p))
    }

    /// `cond ? a : b` elementwise (self is the condition), with broadcasting.
    pub fn try_select(self, a: Value<'b>, b: Value<'b>) -> Result<Value<'b>> {
        innermost(&[self, a, b]).try_op(Op::Select, &[self, a, b])
    }

    /// `cond ? a : b`, panicking on error.
    #[track_caller]
    pub fn select(self, a: Value<'b>, b: Value<'b>) -> Value<'b> {
        ok(self.try_select(a, b))
    }

    /// Broadcasts to `shape` (numpy rules).
    pub fn try_broadcast_to(self, shape: impl Into<Shape>) -> Result<Value<'b>> {
        let shape = shape.into();
        if self.shape() == shape {
            return Ok(self);
        }
        self.b.try_op(Op::Broadcast { shape }, &[self])
    }

    /// Broadcasts to `shape`, panicking on error.
    #[track_caller]
    pub fn broadcast_to(self, shape: impl Into<Shape>) -> Value<'b> {
        ok(self.try_broadcast_to(shape))
    }

    /// Reshapes to `shape` (same element count).
    pub fn try_reshape(self, shape: impl Into<Shape>) -> Result<Value<'b>> {
        self.b.try_op(
            Op::Reshape {
                shape: shape.into(),
            },
            &[self],
        )
    }

    /// Reshapes, panicking on error.
    #[track_caller]
    pub fn reshape(self, shape: impl Into<Shape>) -> Value<'b> {
        ok(self.try_reshape(shape))
    }

    /// Permutes axes.
    pub fn try_transpose(self, perm: &[usize]) -> Result<Value<'b>> {
        self.b.try_op(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[self],
        )
    }

    /// Permutes axes, panicking on error.
    #[track_caller]
    pub fn transpose(self, perm: &[usize]) -> Value<'b> {
        ok(self.try_transpose(perm))
    }

    /// Swaps the last two axes (matrix transpose).
    #[track_caller]
    pub fn t(self) -> Value<'b> {
        let r = self.shape().rank();
        let mut perm: Vec<usize> = (0..r).collect();
        if r >= 2 {
            perm.swap(r - 2, r - 1);
        }
        self.transpose(&perm)
    }

    /// Strided slice.
    pub fn try_slice(self, start: &[usize], end: &[usize], stride: &[usize]) -> Result<Value<'b>> {
        self.b.try_op(
            Op::Slice {
                start: start.to_vec(),
                end: end.to_vec(),
                stride: stride.to_vec(),
            },
            &[self],
        )
    }

    /// Slice with unit stride, panicking on error.
    #[track_caller]
    pub fn slice(self, start: &[usize], end: &[usize]) -> Value<'b> {
        ok(self.try_slice(start, end, &vec![1; start.len()]))
    }

    /// Zero padding.
    pub fn try_pad(self, lo: &[usize], hi: &[usize]) -> Result<Value<'b>> {
        self.b.try_op(
            Op::Pad {
                lo: lo.to_vec(),
                hi: hi.to_vec(),
            },
            &[self],
        )
    }

    /// Zero padding, panicking on error.
    #[track_caller]
    pub fn pad(self, lo: &[usize], hi: &[usize]) -> Value<'b> {
        ok(self.try_pad(lo, hi))
    }

    /// Converts to another float dtype.
    pub fn try_cast(self, to: DType) -> Result<Value<'b>> {
        if self.dtype() == to {
            return Ok(self);
        }
        self.b.try_op(Op::Cast { to }, &[self])
    }

    /// Converts, panicking on error.
    #[track_caller]
    pub fn cast(self, to: DType) -> Value<'b> {
        ok(self.try_cast(to))
    }

    /// Sum over `axes` (removed).
    pub fn try_sum_axes(self, axes: &[usize]) -> Result<Value<'b>> {
        if axes.is_empty() {
            return Ok(self);
        }
        self.b.try_op(
            Op::ReduceSum {
                axes: axes.to_vec(),
            },
            &[self],
        )
    }

    /// Sum over `axes`, panicking on error.
    #[track_caller]
    pub fn sum_axes(self, axes: &[usize]) -> Value<'b> {
        ok(self.try_sum_axes(axes))
    }

    /// Sum of all elements (a scalar).
    #[track_caller]
    pub fn sum(self) -> Value<'b> {
        let axes: Vec<usize> = (0..self.shape().rank()).collect();
        self.sum_axes(&axes)
    }

    /// Maximum over `axes` (removed).
    pub fn try_max_axes(self, axes: &[usize]) -> Result<Value<'b>> {
        if axes.is_empty() {
            return Ok(self);
        }
        self.b.try_op(
            Op::ReduceMax {
                axes: axes.to_vec(),
            },
            &[self],
        )
    }

    /// Maximum over `axes`, panicking on error.
    #[track_caller]
    pub fn max_axes(self, axes: &[usize]) -> Value<'b> {
        ok(self.try_max_axes(axes))
    }

    /// Maximum of all elements.
    #[track_caller]
    pub fn max_all(self) -> Value<'b> {
        let axes: Vec<usize> = (0..self.shape().rank()).collect();
        self.max_axes(&axes)
    }

    /// Mean over `axes` (removed).
    pub fn try_mean_axes(self, axes: &[usize]) -> Result<Value<'b>> {
        let dims = self.shape();
        for &a in axes {
            if a >= dims.rank() {
                return Err(Error::type_error(format!(
                    "mean: axis {a} out of range for {}",
                    self.ty()
                )));
            }
        }
        let count: usize = axes.iter().map(|&a| dims.0[a]).product();
        let s = self.try_sum_axes(axes)?;
        s.try_div(self.lit(count as f64))
    }

    /// Mean over `axes`, panicking on error.
    #[track_caller]
    pub fn mean_axes(self, axes: &[usize]) -> Value<'b> {
        ok(self.try_mean_axes(axes))
    }

    /// Mean of all elements.
    #[track_caller]
    pub fn mean(self) -> Value<'b> {
        let axes: Vec<usize> = (0..self.shape().rank()).collect();
        self.mean_axes(&axes)
    }

    /// Inner product of two vectors of equal length.
    pub fn try_dot(self, rhs: Value<'b>) -> Result<Value<'b>> {
        let (a, b) = (self.ty(), rhs.ty());
        if a.shape.rank() != 1 || b.shape.rank() != 1 {
            return Err(Error::type_error(format!(
                "dot: expects two vectors, got {a} and {b}"
            )));
        }
        self.try_matmul(rhs)
    }

    /// Inner product, panicking on error.
    #[track_caller]
    pub fn dot(self, rhs: Value<'b>) -> Value<'b> {
        ok(self.try_dot(rhs))
    }

    /// Outer product of two vectors: `[m] x [n] -> [m, n]`.
    pub fn try_outer(self, rhs: Value<'b>) -> Result<Value<'b>> {
        let (a, b) = (self.ty(), rhs.ty());
        if a.shape.rank() != 1 || b.shape.rank() != 1 {
            return Err(Error::type_error(format!(
                "outer: expects two vectors, got {a} and {b}"
            )));
        }
        let (m, n) = (a.shape.0[0], b.shape.0[0]);
        self.try_reshape([m, 1])?.try_mul(rhs.try_reshape([1, n])?)
    }

    /// Outer product, panicking on error.
    #[track_caller]
    pub fn outer(self, rhs: Value<'b>) -> Value<'b> {
        ok(self.try_outer(rhs))
    }

    fn check_axis(self, what: &str, axis: usize) -> Result<()> {
        if axis >= self.shape().rank() {
            return Err(Error::type_error(format!(
                "{what}: axis {axis} out of range for {}",
                self.ty()
            )));
        }
        Ok(())
    }

    /// `x - logsumexp(x)` over `axis` (kept), computed stably.
    pub fn try_log_softmax(self, axis: usize) -> Result<Value<'b>> {
        let lse = self.try_logsumexp(axis)?;
        self.try_sub(lse.try_reshape(keepdim(&self.shape(), axis))?)
    }

    /// Stable log-softmax, panicking on error.
    #[track_caller]
    pub fn log_softmax(self, axis: usize) -> Value<'b> {
        ok(self.try_log_softmax(axis))
    }

    /// `exp(x) / sum(exp(x))` over `axis` (kept), computed stably.
    pub fn try_softmax(self, axis: usize) -> Result<Value<'b>> {
        self.check_axis("softmax", axis)?;
        let m = self.try_max_axes(&[axis])?;
        let e = self
            .try_sub(m.try_reshape(keepdim(&self.shape(), axis))?)?
            .exp();
        let s = e.try_sum_axes(&[axis])?;
        e.try_div(s.try_reshape(keepdim(&self.shape(), axis))?)
    }

    /// Stable softmax, panicking on error.
    #[track_caller]
    pub fn softmax(self, axis: usize) -> Value<'b> {
        ok(self.try_softmax(axis))
    }

    /// Mean squared error `mean((self - target)^2)`, a scalar.
    pub fn try_mse(self, target: Value<'b>) -> Result<Value<'b>> {
        if self.shape() != target.shape() {
            return Err(Error::type_error(format!(
                "mse: prediction {} and target {} differ in shape",
                self.ty(),
                target.ty()
            )));
        }
        let d = self.try_sub(target)?;
        Ok(d.try_mul(d)?.mean())
    }

    /// Mean squared error, panicking on error.
    #[track_caller]
    pub fn mse(self, target: Value<'b>) -> Value<'b> {
        ok(self.try_mse(target))
    }

    /// Softmax cross-entropy of logits `[batch, classes]` (self) against
    /// one-hot or probability labels of the same shape, averaged over the
    /// batch: `-mean_b sum_c labels * log_softmax(logits)`.
    pub fn try_cross_entropy(self, labels: Value<'b>) -> Result<Value<'b>> {
        let (l, y) = (self.ty(), labels.ty());
        if l.shape.rank() != 2 || l.shape != y.shape {
            return Err(Error::type_error(format!(
                "cross_entropy: expects logits and labels of one shape [batch, classes], got {l} and {y}"
            )));
        }
        let lp = self.try_log_softmax(1)?;
        let per = labels.try_mul(lp)?.try_sum_axes(&[1])?;
        Ok(per.mean().neg_())
    }

    /// Softmax cross-entropy, panicking on error.
    #[track_caller]
    pub fn cross_entropy(self, labels: Value<'b>) -> Value<'b> {
        ok(self.try_cross_entropy(labels))
    }
}

fn keepdim(shape: &Shape, axis: usize) -> Vec<usize> {
    let mut d = shape.0.clone();
    d[axis] = 1;
    d
}

macro_rules! overload {
    ($trait:ident, $method:ident, $try:ident) => {
        impl<'b> std::ops::$trait<Value<'b>> for Value<'b> {
            type Output = Value<'b>;
            #[track_caller]
            fn $method(self, rhs: Value<'b>) -> Value<'b> {
                ok(self.$try(rhs))
            }
        }
        impl<'b> std::ops::$trait<f64> for Value<'b> {
            type Output = Value<'b>;
            #[track_caller]
            fn $method(self, rhs: f64) -> Value<'b> {
                ok(self.$try(self.lit(rhs)))
            }
        }
        impl<'b> std::ops::$trait<Value<'b>> for f64 {
            type Output = Value<'b>;
            #[track_caller]
            fn $method(self, rhs: Value<'b>) -> Value<'b> {
                ok(rhs.lit(self).$try(rhs))
            }
        }
    };
}

overload!(Add, add, try_add);
overload!(Sub, sub, try_sub);
overload!(Mul, mul, try_mul);
overload!(Div, div, try_div);

impl<'b> std::ops::Neg for Value<'b> {
    type Output = Value<'b>;
    #[track_caller]
    fn neg(self) -> Value<'b> {
        self.neg_()
    }
}

impl<'b> std::ops::Not for Value<'b> {
    type Output = Value<'b>;
    #[track_caller]
    fn not(self) -> Value<'b> {
        Value::not(self)
    }
}
