//! The closed set of primitive ops. Every rule table in adjoint (type
//! inference, interpretation, differentiation, lowering) is an exhaustive
//! `match` on [`Op`], so adding an op makes the compiler name every rule that
//! is still missing.

use crate::op_table::{Head, OpClass, Operands, OPS};
use crate::{BodyRef, CustomOp, DType, Shape, Tensor};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The block length of the `reduce_sum` accumulation order.
///
/// For each result element, the reduced elements are taken in row-major
/// order of the reduced index space and cut into consecutive blocks of
/// `REDUCE_SUM_BLOCK` elements (the last block may be shorter). Within a
/// block, element `k` (counted from the block's start) is added into
/// partial sum `k mod 4`; the partials start at `+0.0` and the block's sum
/// is `(p0 + p1) + (p2 + p3)`. The block sums are then added left to right:
/// `((b0 + b1) + b2) + ...`. A reduction of at most one block is the
/// four-partial sum alone; an empty sum is `+0.0`.
///
/// The order depends on the length alone, never on a thread count: a
/// compiler may vectorise inside a block (four lanes) and sum blocks on
/// different threads, and still match bit for bit.
pub const REDUCE_SUM_BLOCK: usize = 8192;

/// Elementwise unary float ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// `e^x`
    Exp,
    /// natural logarithm
    Log,
    /// square root
    Sqrt,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// hyperbolic tangent
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
}

impl UnaryOp {
    /// Every unary op.
    pub const ALL: [UnaryOp; 10] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
    ];

    /// The op's name in the text IR (from the op table).
    pub fn name(self) -> &'static str {
        crate::op_table::unary_name(self)
    }

    /// Whether this op needs a transcendental function (no exact
    /// instruction exists for it).
    pub fn is_transcendental(self) -> bool {
        matches!(
            self,
            UnaryOp::Exp
                | UnaryOp::Log
                | UnaryOp::Sin
                | UnaryOp::Cos
                | UnaryOp::Tanh
                | UnaryOp::Sigmoid
        )
    }
}

/// Elementwise binary float ops; operands have identical types in the IR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
    /// elementwise maximum (NaN-propagating)
    Max,
    /// elementwise minimum (NaN-propagating)
    Min,
}

impl BinaryOp {
    /// Every binary op.
    pub const ALL: [BinaryOp; 7] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
    ];

    /// The op's name in the text IR (from the op table).
    pub fn name(self) -> &'static str {
        crate::op_table::binary_name(self)
    }

    /// Whether `op(a, b) == op(b, a)`.
    pub fn is_commutative(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min
        )
    }
}

/// Elementwise comparisons of floats, producing `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompareOp {
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
    /// `a == b`
    Eq,
}

impl CompareOp {
    /// Every comparison.
    pub const ALL: [CompareOp; 5] = [
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Eq,
    ];

    /// The op's name in the text IR (from the op table).
    pub fn name(self) -> &'static str {
        crate::op_table::compare_name(self)
    }

    /// Evaluates the comparison on two floats (IEEE: any NaN compares
    /// false).
    pub fn eval(self, a: f64, b: f64) -> bool {
        match self {
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Eq => a == b,
        }
    }
}

/// Elementwise boolean ops on `bool` operands, producing `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogicalOp {
    /// `a and b` (two operands, implicit broadcasting)
    And,
    /// `a or b` (two operands, implicit broadcasting)
    Or,
    /// `not a` (one operand)
    Not,
}

impl LogicalOp {
    /// Every boolean op.
    pub const ALL: [LogicalOp; 3] = [LogicalOp::And, LogicalOp::Or, LogicalOp::Not];

    /// The op's name in the text IR (from the op table).
    pub fn name(self) -> &'static str {
        crate::op_table::logical_name(self)
    }

    /// Evaluates the op (`b` is ignored by `not`).
    pub fn eval(self, a: bool, b: bool) -> bool {
        match self {
            LogicalOp::And => a && b,
            LogicalOp::Or => a || b,
            LogicalOp::Not => !a,
        }
    }
}

/// A shared reference to a user-defined [`CustomOp`]. Two references are
/// equal (and hash equal) only when they point at the same definition.
#[derive(Clone)]
pub struct CustomRef(pub Arc<CustomOp>);

/// `CustomRef(@name)`: the name only, as a deep chain of custom ops would
/// otherwise print (and recurse) all the way down.
impl std::fmt::Debug for CustomRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomRef(@{})", self.0.name)
    }
}

impl PartialEq for CustomRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CustomRef {}

impl Hash for CustomRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}

impl std::ops::Deref for CustomRef {
    type Target = CustomOp;
    fn deref(&self) -> &CustomOp {
        &self.0
    }
}

/// A primitive op. Each graph node holds one op and has exactly one result.
/// Operands are the node's incoming edges, ordered by position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// The `index`-th function parameter. No operands.
    Param {
        /// Position in the function's parameter list.
        index: usize,
    },
    /// A constant (scalar, splat or dense literal). No operands.
    Const(Tensor),
    /// An elementwise unary float op. One operand.
    Unary(UnaryOp),
    /// An elementwise binary float op. Two operands of identical type.
    Binary(BinaryOp),
    /// An elementwise comparison. Two float operands of identical type;
    /// result `bool` of the same shape.
    Compare(CompareOp),
    /// `select %cond, %a, %b`: `cond ? a : b` elementwise. `cond` is `bool`;
    /// all three have the same shape.
    Select,
    /// Numpy broadcast of the operand to `shape`.
    Broadcast {
        /// The result shape.
        shape: Shape,
    },
    /// Reinterprets the row-major elements with a new shape of equal size.
    Reshape {
        /// The result shape.
        shape: Shape,
    },
    /// Permutes axes: result axis `i` is operand axis `perm[i]`.
    Transpose {
        /// A permutation of `0..rank`.
        perm: Vec<usize>,
    },
    /// Strided slice: per axis, `start <= end <= dim`, `stride >= 1`.
    Slice {
        /// Start index per axis.
        start: Vec<usize>,
        /// End index (exclusive) per axis.
        end: Vec<usize>,
        /// Stride per axis.
        stride: Vec<usize>,
    },
    /// Zero padding: `lo[i]` zeros before and `hi[i]` after axis `i`.
    Pad {
        /// Padding before, per axis.
        lo: Vec<usize>,
        /// Padding after, per axis.
        hi: Vec<usize>,
    },
    /// Concatenation of one or more operands along `axis`.
    Concat {
        /// The axis joined along.
        axis: usize,
    },
    /// Sum over the listed axes, which are removed, in the order of
    /// [`REDUCE_SUM_BLOCK`]'s documentation.
    ReduceSum {
        /// Distinct axes, in any order.
        axes: Vec<usize>,
    },
    /// Maximum over the listed axes, which are removed.
    ReduceMax {
        /// Distinct axes, in any order.
        axes: Vec<usize>,
    },
    /// Matrix product with numpy `matmul` semantics.
    MatMul,
    /// Conversion between `f32` and `f64` (and from `bool` to a float).
    Cast {
        /// The result dtype.
        to: DType,
    },
    /// A call of a user-defined composite op with its own derivative rules.
    Call(CustomRef),
    /// `iota shape=S axis=k`: the element at index `(i_0, …)` is `i_k`, as a
    /// float of the node's dtype (f32 or f64). No operands.
    Iota {
        /// The result shape.
        shape: Shape,
        /// The axis whose index is the value.
        axis: usize,
        /// The result dtype (`f32` or `f64`), from the statement's type.
        dtype: DType,
    },
    /// Elementwise `and`, `or` (two `bool` operands of one shape) and `not`
    /// (one `bool` operand).
    Logical(LogicalOp),
    /// JAX's `lax.scan`. Operands: `carry` initial carries, then `xs`
    /// scanned inputs (all with leading dimension `length`), then loop
    /// invariants (the rest). Results: the final carries, then each of the
    /// body's extra outputs stacked along a new leading axis of `length`.
    /// A multi-result op: see [`Op::is_multi_result`].
    Scan {
        /// The step function `(carries, x slices, invariants) -> (carries, ys)`.
        body: BodyRef,
        /// The number of carries.
        carry: usize,
        /// The number of scanned inputs.
        xs: usize,
        /// The trip count (the scanned inputs' leading dimension when
        /// `xs > 0`).
        length: usize,
        /// Whether iteration runs from `length - 1` down to 0.
        reverse: bool,
    },
    /// JAX's `lax.while_loop`, with an optional bound. Operands: `carry`
    /// initial carries, then loop invariants. Results: the final carries.
    While {
        /// The predicate `(carries, invariants) -> bool[]`.
        cond: BodyRef,
        /// The step `(carries, invariants) -> carries`.
        body: BodyRef,
        /// The number of carries (at least 1).
        carry: usize,
        /// At most this many runs of the body, when given.
        max_trips: Option<usize>,
    },
    /// JAX's `lax.cond`. Operands: the predicate (`bool[]`), then the branch
    /// operands. Results: the chosen branch's outputs.
    Cond {
        /// The branch run when the predicate is true.
        then: BodyRef,
        /// The branch run when the predicate is false.
        els: BodyRef,
    },
    /// A reverse scan over the states of a forward recurrence, holding at
    /// most `snapshots` states at once: the checkpointed reverse sweep of
    /// reverse mode through a loop (see docs/ir.md, "revolve", and
    /// [`crate::revolve`]). Operands: the mask `bool[length]` when
    /// `masked`, then `state` initial states `s_0`, then `carry` initial
    /// carries, then `xs` scanned inputs (leading dimension `length`), then
    /// invariants. With `n` the trip count (`length`, or the number of
    /// leading `true`s of the mask), the states are `s_{t+1} = step(s_t,
    /// x_t, inv)` and the carries run `(b, y_t) = body(b, s_t, x_t, inv)`
    /// for `t = n-1` down to `0`. Results: the final carries, then the
    /// `ys` stacked along a new leading axis of `length` (rows `t >= n`
    /// are zero). The engines evaluate `step` exactly
    /// [`crate::revolve::forward_steps`]`(n, snapshots)` times.
    Revolve {
        /// The reverse step `(carries, states, x slices, invariants) ->
        /// (carries, ys)`.
        body: BodyRef,
        /// The forward step `(states, x slices, invariants) -> states`.
        step: BodyRef,
        /// The number of states (at least 1).
        state: usize,
        /// The number of carries.
        carry: usize,
        /// The number of scanned inputs.
        xs: usize,
        /// The trip count bound (the scanned inputs' leading dimension).
        length: usize,
        /// The most states held at once, `s_0` included (at least 1).
        snapshots: usize,
        /// Whether operand 0 is a `bool[length]` mask whose leading
        /// `true`s give the trip count.
        masked: bool,
    },
    /// Result `index` of a multi-result node (its one operand). Internal:
    /// the text form binds one name per result instead
    /// (`%a, %b = scan ...`).
    Project {
        /// The result's position.
        index: usize,
    },
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exact(usize),
    /// This many or more.
    AtLeast(usize),
}

impl Arity {
    /// Whether `n` operands are acceptable.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exact(k) => write!(f, "{k}"),
            Arity::AtLeast(k) => write!(f, "at least {k}"),
        }
    }
}

impl Op {
    /// The op's mnemonic in the text IR (`call` for custom ops), from the
    /// op table.
    pub fn name(&self) -> &'static str {
        self.row().name
    }

    /// How many operands the op takes (the op table's rule; a call takes
    /// its custom op's parameters).
    pub fn arity(&self) -> Arity {
        match (self.row().operands, self) {
            (Operands::Fixed(a), _) => a,
            (Operands::CalleeParams, Op::Call(c)) => Arity::Exact(c.body.params().len()),
            (Operands::Counted, Op::Scan { carry, xs, .. }) => Arity::AtLeast(carry + xs),
            (Operands::Counted, Op::While { carry, .. }) => Arity::AtLeast(*carry),
            (
                Operands::Counted,
                Op::Revolve {
                    state,
                    carry,
                    xs,
                    masked,
                    ..
                },
            ) => Arity::AtLeast(usize::from(*masked) + state + carry + xs),
            (Operands::Counted, Op::Cond { .. }) => Arity::AtLeast(1),
            (Operands::CalleeParams | Operands::Counted, _) => Arity::AtLeast(0),
        }
    }

    /// Whether the op is elementwise: each result element depends only on
    /// the operand elements at the same index (operands share the result's
    /// shape).
    pub fn is_elementwise(&self) -> bool {
        self.class() == OpClass::Elementwise
    }

    /// Whether implicit numpy broadcasting applies to the op's operands in
    /// the builder and the parser (arithmetic, comparisons and `select`).
    pub fn broadcasts_implicitly(&self) -> bool {
        self.row().broadcasts
    }

    /// Whether the op has several results (`scan`, `while`, `cond`): its node
    /// is read only through [`Op::Project`] nodes, one per used result, and
    /// the node's own `ty` is a placeholder (the type of result 0).
    pub fn is_multi_result(&self) -> bool {
        self.class() == OpClass::Control
    }

    /// The functions the op runs, in print order (body, cond, then, else).
    pub fn bodies(&self) -> Vec<&BodyRef> {
        match self {
            Op::Scan { body, .. } => vec![body],
            Op::While { cond, body, .. } => vec![body, cond],
            Op::Revolve { body, step, .. } => vec![body, step],
            Op::Cond { then, els } => vec![then, els],
            _ => Vec::new(),
        }
    }

    /// Whether the op runs bodies (`scan`, `while`, `cond`).
    pub fn has_bodies(&self) -> bool {
        self.is_multi_result()
    }

    /// Whether the op is a leaf (`param` or `const`).
    pub fn is_leaf(&self) -> bool {
        self.class() == OpClass::Leaf
    }

    /// Whether the op is a shape op that a backend lowers as index
    /// arithmetic (class [`OpClass::View`]).
    pub fn is_view(&self) -> bool {
        self.class() == OpClass::View
    }

    /// Whether the op is a reduction (class [`OpClass::Reduction`]).
    pub fn is_reduction(&self) -> bool {
        self.class() == OpClass::Reduction
    }

    /// Every op mnemonic accepted as a statement in the text IR, for error
    /// messages: the op table's rows in order, without `param` and the
    /// internal `project`.
    pub fn all_names() -> Vec<&'static str> {
        OPS.iter()
            .filter(|r| !matches!(r.head, Head::Header | Head::Internal))
            .map(|r| r.name)
            .collect()
    }
}
