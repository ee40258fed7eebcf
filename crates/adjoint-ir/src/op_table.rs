//! The op table: one row per op mnemonic with everything that is syntax or
//! a static classification — the name, how many operands it takes, its
//! attributes (names, kinds, whether required, print order), its class and
//! whether implicit broadcasting applies.
//!
//! The parser, the printer, the DOT export, the arity checks and the
//! passes' classifications read this table (through [`Op::row`],
//! [`Op::class`], [`Op::attrs`] and [`Op::from_attrs`]). What an op *means*
//! — its type rule, interpreter, derivative and lowering — stays in the
//! exhaustive matches of those modules, so the compiler still names every
//! rule a new op is missing.
//!
//! Adding an op is one row here (listed in [`OPS`]), its arm in
//! `row_of`, its attributes in [`Op::attrs`] / [`Op::from_attrs`]
//! (`op_attrs.rs`), and its meaning.

pub use crate::op_attrs::AttrValue;
use crate::{Arity, BinaryOp, CompareOp, LogicalOp, Op, UnaryOp};

/// What kind of op a row describes; the passes and backends classify ops
/// through this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// No operands: `param` and `const`.
    Leaf,
    /// Each result element depends only on the operand elements at the
    /// same index (operands share the result's shape).
    Elementwise,
    /// A shape op that a backend lowers as index arithmetic (broadcast,
    /// reshape, transpose, slice).
    View,
    /// A reduction over axes, which are removed.
    Reduction,
    /// A contraction (`matmul`).
    Contraction,
    /// A shape op that moves data into a new layout (`pad`, `concat`).
    Structural,
    /// A call of a user-defined custom op.
    Call,
    /// An op without operands that computes its values from its attributes
    /// (`iota`).
    Generator,
    /// Structured control flow running bodies, with several results
    /// (`scan`, `while`, `cond`).
    Control,
    /// One result of a multi-result node (`Project`, internal).
    Projection,
}

/// The kind of an attribute's value, which fixes how it is written and
/// read in the text IR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrKind {
    /// A shape, `[2,3]` (validated as a shape).
    Shape,
    /// A list of axes, `[0,1]`.
    AxisList,
    /// A list of non-negative integers, `[0,1]`.
    UsizeList,
    /// A non-negative integer, `0`.
    Usize,
    /// `true` or `false`.
    Bool,
    /// A dtype, `f32`.
    DType,
    /// A function defined earlier in the file, `@f` (a body).
    Func,
}

impl AttrKind {
    /// An example value, as shown in "needs the attribute" messages.
    pub fn example(self) -> &'static str {
        match self {
            AttrKind::Shape | AttrKind::AxisList | AttrKind::UsizeList => "[0]",
            AttrKind::Usize => "0",
            AttrKind::Bool => "true",
            AttrKind::DType => "f32",
            AttrKind::Func => "@f",
        }
    }

    /// What a value of this kind looks like, for "must be" messages:
    /// ``a list like `axes=[0,1]` ``.
    pub fn expected(self, name: &str) -> String {
        match self {
            AttrKind::Shape | AttrKind::AxisList | AttrKind::UsizeList => {
                format!("a list like `{name}=[0,1]`")
            }
            AttrKind::Usize => format!("an integer like `{name}=0`"),
            AttrKind::Bool => format!("a boolean like `{name}=true`"),
            AttrKind::DType => format!("a dtype like `{name}=f32`"),
            AttrKind::Func => format!("a function like `{name}=@f`"),
        }
    }
}

/// One attribute an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrSpec {
    /// The attribute's name in the text IR.
    pub name: &'static str,
    /// The kind of its value.
    pub kind: AttrKind,
    /// Whether the attribute must be given.
    pub required: bool,
}

const fn req(name: &'static str, kind: AttrKind) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: AttrKind) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        required: false,
    }
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operands {
    /// A fixed rule.
    Fixed(Arity),
    /// As many as the called custom op's body has parameters.
    CalleeParams,
    /// At least the operands the op's counts name: `carry + xs` for `scan`,
    /// `carry` for `while`, the predicate for `cond` (the rest are the
    /// bodies' further parameters, checked by type inference).
    Counted,
}

/// How a statement of the op begins after its mnemonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// Operands follow directly.
    Plain,
    /// A constant literal follows (`const`); the type is required.
    Literal,
    /// The callee `@name` follows (`call`).
    Callee,
    /// Not a statement: declared in the function header (`param`).
    Header,
    /// Operands follow; the result type is required and gives the dtype
    /// (`iota`).
    Typed,
    /// No text syntax: an internal op (`Project`).
    Internal,
}

/// One op mnemonic's row in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpRow {
    /// The mnemonic in the text IR.
    pub name: &'static str,
    /// How many operands it takes.
    pub operands: Operands,
    /// Its attributes (besides the fusion attribute `region`), in print
    /// order.
    pub attrs: &'static [AttrSpec],
    /// Its class.
    pub class: OpClass,
    /// Whether implicit numpy broadcasting applies to its operands in the
    /// builder and the parser.
    pub broadcasts: bool,
    /// How its statement begins.
    pub head: Head,
}

const fn mk(name: &'static str, n: Arity, class: OpClass) -> OpRow {
    OpRow {
        name,
        operands: Operands::Fixed(n),
        attrs: &[],
        class,
        broadcasts: false,
        head: Head::Plain,
    }
}

const fn with_attrs(mut r: OpRow, attrs: &'static [AttrSpec]) -> OpRow {
    r.attrs = attrs;
    r
}

const fn broadcasting(mut r: OpRow) -> OpRow {
    r.broadcasts = true;
    r
}

const fn unary(name: &'static str) -> OpRow {
    mk(name, Arity::Exact(1), OpClass::Elementwise)
}

const fn binary(name: &'static str) -> OpRow {
    broadcasting(mk(name, Arity::Exact(2), OpClass::Elementwise))
}

use AttrKind as K;
use OpClass as C;

const PARAM: OpRow = OpRow {
    head: Head::Header,
    ..mk("param", Arity::Exact(0), C::Leaf)
};
const CONST: OpRow = OpRow {
    head: Head::Literal,
    ..mk("const", Arity::Exact(0), C::Leaf)
};
/// The rows of [`UnaryOp`], indexed by the enum's discriminant.
const UNARY: [OpRow; UnaryOp::ALL.len()] = [
    unary("neg"),
    unary("abs"),
    unary("exp"),
    unary("log"),
    unary("sqrt"),
    unary("sin"),
    unary("cos"),
    unary("tanh"),
    unary("sigmoid"),
    unary("relu"),
];
/// The rows of [`BinaryOp`], indexed by the enum's discriminant.
const BINARY: [OpRow; BinaryOp::ALL.len()] = [
    binary("add"),
    binary("sub"),
    binary("mul"),
    binary("div"),
    binary("pow"),
    binary("max"),
    binary("min"),
];
/// The rows of [`CompareOp`], indexed by the enum's discriminant.
const COMPARE: [OpRow; CompareOp::ALL.len()] = [
    binary("lt"),
    binary("le"),
    binary("gt"),
    binary("ge"),
    binary("eq"),
];
const SELECT: OpRow = broadcasting(mk("select", Arity::Exact(3), C::Elementwise));
const BROADCAST: OpRow = with_attrs(
    mk("broadcast", Arity::Exact(1), C::View),
    &[req("shape", K::Shape)],
);
const RESHAPE: OpRow = with_attrs(
    mk("reshape", Arity::Exact(1), C::View),
    &[req("shape", K::Shape)],
);
const TRANSPOSE: OpRow = with_attrs(
    mk("transpose", Arity::Exact(1), C::View),
    &[req("perm", K::AxisList)],
);
const SLICE: OpRow = with_attrs(
    mk("slice", Arity::Exact(1), C::View),
    &[
        req("start", K::UsizeList),
        req("end", K::UsizeList),
        opt("stride", K::UsizeList),
    ],
);
const PAD: OpRow = with_attrs(
    mk("pad", Arity::Exact(1), C::Structural),
    &[req("lo", K::UsizeList), req("hi", K::UsizeList)],
);
const CONCAT: OpRow = with_attrs(
    mk("concat", Arity::AtLeast(1), C::Structural),
    &[req("axis", K::Usize)],
);
const REDUCE_SUM: OpRow = with_attrs(
    mk("reduce_sum", Arity::Exact(1), C::Reduction),
    &[req("axes", K::AxisList)],
);
const REDUCE_MAX: OpRow = with_attrs(
    mk("reduce_max", Arity::Exact(1), C::Reduction),
    &[req("axes", K::AxisList)],
);
const MATMUL: OpRow = mk("matmul", Arity::Exact(2), C::Contraction);
const CAST: OpRow = with_attrs(
    mk("cast", Arity::Exact(1), C::Elementwise),
    &[req("to", K::DType)],
);
const CALL: OpRow = OpRow {
    operands: Operands::CalleeParams,
    head: Head::Callee,
    ..mk("call", Arity::AtLeast(0), C::Call)
};
const IOTA: OpRow = OpRow {
    head: Head::Typed,
    attrs: &[req("shape", K::Shape), req("axis", K::Usize)],
    ..mk("iota", Arity::Exact(0), C::Generator)
};
/// The rows of [`LogicalOp`], indexed by the enum's discriminant.
const LOGICAL: [OpRow; LogicalOp::ALL.len()] = [binary("and"), binary("or"), unary("not")];
const SCAN: OpRow = OpRow {
    operands: Operands::Counted,
    attrs: &[
        req("body", K::Func),
        req("carry", K::Usize),
        req("xs", K::Usize),
        opt("length", K::Usize),
        opt("reverse", K::Bool),
    ],
    ..mk("scan", Arity::AtLeast(0), C::Control)
};
const WHILE: OpRow = OpRow {
    operands: Operands::Counted,
    attrs: &[
        req("body", K::Func),
        req("cond", K::Func),
        req("carry", K::Usize),
        opt("max_trips", K::Usize),
    ],
    ..mk("while", Arity::AtLeast(1), C::Control)
};
const REVOLVE: OpRow = OpRow {
    operands: Operands::Counted,
    attrs: &[
        req("body", K::Func),
        req("step", K::Func),
        req("state", K::Usize),
        req("carry", K::Usize),
        req("xs", K::Usize),
        opt("length", K::Usize),
        req("snapshots", K::Usize),
        opt("masked", K::Bool),
    ],
    ..mk("revolve", Arity::AtLeast(1), C::Control)
};
const COND: OpRow = OpRow {
    operands: Operands::Counted,
    attrs: &[req("then", K::Func), req("else", K::Func)],
    ..mk("cond", Arity::AtLeast(1), C::Control)
};
const PROJECT: OpRow = OpRow {
    head: Head::Internal,
    ..mk("project", Arity::Exact(1), C::Projection)
};

/// Every row, in the order of [`Op::all_names`] (`param` first, which is
/// not a statement).
pub static OPS: [&OpRow; 45] = [
    &PARAM,
    &CONST,
    &UNARY[0],
    &UNARY[1],
    &UNARY[2],
    &UNARY[3],
    &UNARY[4],
    &UNARY[5],
    &UNARY[6],
    &UNARY[7],
    &UNARY[8],
    &UNARY[9],
    &BINARY[0],
    &BINARY[1],
    &BINARY[2],
    &BINARY[3],
    &BINARY[4],
    &BINARY[5],
    &BINARY[6],
    &COMPARE[0],
    &COMPARE[1],
    &COMPARE[2],
    &COMPARE[3],
    &COMPARE[4],
    &SELECT,
    &BROADCAST,
    &RESHAPE,
    &TRANSPOSE,
    &SLICE,
    &PAD,
    &CONCAT,
    &REDUCE_SUM,
    &REDUCE_MAX,
    &MATMUL,
    &CAST,
    &CALL,
    &IOTA,
    &LOGICAL[0],
    &LOGICAL[1],
    &LOGICAL[2],
    &SCAN,
    &WHILE,
    &COND,
    &REVOLVE,
    &PROJECT,
];

/// The row of the mnemonic `name`, if it is an op.
pub fn row(name: &str) -> Option<&'static OpRow> {
    OPS.iter().copied().find(|r| r.name == name)
}

/// The row of `op`.
pub(crate) fn row_of(op: &Op) -> &'static OpRow {
    match op {
        Op::Param { .. } => &PARAM,
        Op::Const(_) => &CONST,
        Op::Unary(u) => &UNARY[*u as usize],
        Op::Binary(b) => &BINARY[*b as usize],
        Op::Compare(c) => &COMPARE[*c as usize],
        Op::Select => &SELECT,
        Op::Broadcast { .. } => &BROADCAST,
        Op::Reshape { .. } => &RESHAPE,
        Op::Transpose { .. } => &TRANSPOSE,
        Op::Slice { .. } => &SLICE,
        Op::Pad { .. } => &PAD,
        Op::Concat { .. } => &CONCAT,
        Op::ReduceSum { .. } => &REDUCE_SUM,
        Op::ReduceMax { .. } => &REDUCE_MAX,
        Op::MatMul => &MATMUL,
        Op::Cast { .. } => &CAST,
        Op::Call(_) => &CALL,
        Op::Iota { .. } => &IOTA,
        Op::Logical(l) => &LOGICAL[*l as usize],
        Op::Scan { .. } => &SCAN,
        Op::While { .. } => &WHILE,
        Op::Cond { .. } => &COND,
        Op::Revolve { .. } => &REVOLVE,
        Op::Project { .. } => &PROJECT,
    }
}

pub(crate) fn unary_name(u: UnaryOp) -> &'static str {
    UNARY[u as usize].name
}

pub(crate) fn binary_name(b: BinaryOp) -> &'static str {
    BINARY[b as usize].name
}

pub(crate) fn compare_name(c: CompareOp) -> &'static str {
    COMPARE[c as usize].name
}

pub(crate) fn logical_name(l: LogicalOp) -> &'static str {
    LOGICAL[l as usize].name
}

impl Op {
    /// The op's row in the op table.
    pub fn row(&self) -> &'static OpRow {
        row_of(self)
    }

    /// The op's class.
    pub fn class(&self) -> OpClass {
        self.row().class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_rows_are_indexed_by_discriminant_in_all_order() {
        // `row_of` indexes the unary/binary/compare/logical rows by the
        // variant's discriminant: `ALL` must list the variants in that order.
        for (i, u) in UnaryOp::ALL.into_iter().enumerate() {
            assert_eq!(u as usize, i);
        }
        for (i, b) in BinaryOp::ALL.into_iter().enumerate() {
            assert_eq!(b as usize, i);
        }
        for (i, c) in CompareOp::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i);
        }
        for (i, l) in LogicalOp::ALL.into_iter().enumerate() {
            assert_eq!(l as usize, i);
        }
        for (i, r) in OPS.iter().enumerate() {
            assert!(
                OPS[..i].iter().all(|q| q.name != r.name),
                "{} listed twice",
                r.name
            );
        }
    }
}
