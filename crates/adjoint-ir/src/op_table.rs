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
//! `row_of`, its attributes in [`Op::attrs`] / [`Op::from_attrs`], and
//! its meaning.

use crate::{check_shape, Arity, BinaryOp, BodyRef, CompareOp, CustomRef, DType, Error, Op};
use crate::{ErrorKind, LogicalOp, Result, Shape, TensorType, UnaryOp};
use std::fmt;

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
pub static OPS: [&OpRow; 44] = [
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

/// An attribute's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    /// A list of non-negative integers (kinds [`AttrKind::Shape`],
    /// [`AttrKind::AxisList`], [`AttrKind::UsizeList`]).
    List(Vec<usize>),
    /// A non-negative integer.
    Usize(usize),
    /// A boolean.
    Bool(bool),
    /// A dtype.
    DType(DType),
    /// A function (a body), printed `@name`.
    Func(BodyRef),
}

impl AttrValue {
    /// Whether the value is of `kind`.
    pub fn is(&self, kind: AttrKind) -> bool {
        matches!(
            (self, kind),
            (
                AttrValue::List(_),
                AttrKind::Shape | AttrKind::AxisList | AttrKind::UsizeList
            ) | (AttrValue::Usize(_), AttrKind::Usize)
                | (AttrValue::Bool(_), AttrKind::Bool)
                | (AttrValue::DType(_), AttrKind::DType)
                | (AttrValue::Func(_), AttrKind::Func)
        )
    }
}

/// The value as the text IR writes it: `[0,1]`, `3`, `true`, `f32`.
impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::List(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            AttrValue::Usize(v) => write!(f, "{v}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::DType(d) => write!(f, "{d}"),
            AttrValue::Func(b) => write!(f, "@{}", b.name()),
        }
    }
}

/// The attributes of one op being built, looked up by name.
struct Given<'a> {
    op: &'static str,
    attrs: &'a [(&'a str, AttrValue)],
}

impl Given<'_> {
    fn get(&self, name: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn missing(&self, name: &str, kind: AttrKind) -> Error {
        Error::new(
            ErrorKind::Parse,
            format!(
                "{} needs the attribute `{name}`, e.g. `{name}={}`",
                self.op,
                kind.example()
            ),
        )
    }

    fn wrong(&self, name: &str, kind: AttrKind) -> Error {
        Error::new(
            ErrorKind::Parse,
            format!(
                "{}: attribute `{name}` must be {}",
                self.op,
                kind.expected(name)
            ),
        )
    }

    fn list_opt(&self, name: &str) -> Result<Option<Vec<usize>>> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::List(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.wrong(name, AttrKind::UsizeList)),
        }
    }

    fn list(&self, name: &str) -> Result<Vec<usize>> {
        self.list_opt(name)?
            .ok_or_else(|| self.missing(name, AttrKind::UsizeList))
    }

    fn shape(&self, name: &str) -> Result<Shape> {
        let shape = Shape(self.list(name)?);
        check_shape(&shape)
            .map_err(|m| Error::new(ErrorKind::Parse, format!("{}: {m}", self.op)))?;
        Ok(shape)
    }

    fn usize(&self, name: &str) -> Result<usize> {
        match self.get(name) {
            None => Err(self.missing(name, AttrKind::Usize)),
            Some(AttrValue::Usize(v)) => Ok(*v),
            Some(_) => Err(self.wrong(name, AttrKind::Usize)),
        }
    }

    fn usize_opt(&self, name: &str) -> Result<Option<usize>> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Usize(v)) => Ok(Some(*v)),
            Some(_) => Err(self.wrong(name, AttrKind::Usize)),
        }
    }

    fn bool_opt(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Bool(v)) => Ok(Some(*v)),
            Some(_) => Err(self.wrong(name, AttrKind::Bool)),
        }
    }

    fn func(&self, name: &str) -> Result<BodyRef> {
        match self.get(name) {
            None => Err(self.missing(name, AttrKind::Func)),
            Some(AttrValue::Func(b)) => Ok(b.clone()),
            Some(_) => Err(self.wrong(name, AttrKind::Func)),
        }
    }

    fn dtype(&self, name: &str) -> Result<DType> {
        match self.get(name) {
            None => Err(self.missing(name, AttrKind::DType)),
            Some(AttrValue::DType(d)) => Ok(*d),
            Some(_) => Err(self.wrong(name, AttrKind::DType)),
        }
    }
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

    /// The op's attributes that its text form writes, in print order, by
    /// the names of its row (an attribute at its default, such as a slice's
    /// unit `stride`, is left out). `region` is not an op attribute.
    ///
    /// ```
    /// use adjoint_ir::{AttrValue, Op};
    /// let op = Op::Slice { start: vec![1], end: vec![3], stride: vec![1] };
    /// assert_eq!(op.attrs(), vec![("start", AttrValue::List(vec![1])), ("end", AttrValue::List(vec![3]))]);
    /// assert_eq!(Op::from_attrs("slice", None, None, &op.attrs()).unwrap(), op);
    /// ```
    pub fn attrs(&self) -> Vec<(&'static str, AttrValue)> {
        use AttrValue::{Func, List, Usize};
        let values: Vec<Option<AttrValue>> = match self {
            Op::Broadcast { shape } | Op::Reshape { shape } => vec![Some(List(shape.0.clone()))],
            Op::Transpose { perm } => vec![Some(List(perm.clone()))],
            Op::Slice { start, end, stride } => {
                let unit = stride.len() == start.len() && stride.iter().all(|&x| x == 1);
                vec![
                    Some(List(start.clone())),
                    Some(List(end.clone())),
                    (!unit).then(|| List(stride.clone())),
                ]
            }
            Op::Pad { lo, hi } => vec![Some(List(lo.clone())), Some(List(hi.clone()))],
            Op::Concat { axis } => vec![Some(Usize(*axis))],
            Op::ReduceSum { axes } | Op::ReduceMax { axes } => vec![Some(List(axes.clone()))],
            Op::Cast { to } => vec![Some(AttrValue::DType(*to))],
            Op::Iota { shape, axis, .. } => vec![Some(List(shape.0.clone())), Some(Usize(*axis))],
            Op::Scan {
                body,
                carry,
                xs,
                length,
                reverse,
            } => vec![
                Some(Func(body.clone())),
                Some(Usize(*carry)),
                Some(Usize(*xs)),
                (*xs == 0).then_some(Usize(*length)),
                reverse.then_some(AttrValue::Bool(true)),
            ],
            Op::While {
                cond,
                body,
                carry,
                max_trips,
            } => vec![
                Some(Func(body.clone())),
                Some(Func(cond.clone())),
                Some(Usize(*carry)),
                max_trips.map(Usize),
            ],
            Op::Cond { then, els } => vec![Some(Func(then.clone())), Some(Func(els.clone()))],
            Op::Logical(_) | Op::Project { .. } => vec![],
            Op::Param { .. }
            | Op::Const(_)
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::MatMul
            | Op::Call(_) => vec![],
        };
        self.row()
            .attrs
            .iter()
            .zip(values)
            .filter_map(|(spec, v)| v.map(|v| (spec.name, v)))
            .collect()
    }

    /// The op named `name` with the given attributes (the inverse of
    /// [`Op::attrs`]); `callee` is the custom op a `call` calls, and `ty`
    /// the statement's declared result type (which gives `iota` its
    /// dtype). Errors (without a location) for an unknown op, a missing
    /// required attribute, or a value of the wrong kind. Attribute names
    /// are not checked here: the parser rejects unknown ones with their
    /// location. `param`, `const` and `project` are not built from
    /// attributes.
    pub fn from_attrs(
        name: &str,
        callee: Option<CustomRef>,
        ty: Option<&TensorType>,
        attrs: &[(&str, AttrValue)],
    ) -> Result<Op> {
        let Some(r) = row(name) else {
            return Err(Error::new(ErrorKind::Parse, format!("unknown op `{name}`")));
        };
        let a = Given { op: r.name, attrs };
        if let Some(i) = UNARY.iter().position(|u| u.name == r.name) {
            return Ok(Op::Unary(UnaryOp::ALL[i]));
        }
        if let Some(i) = BINARY.iter().position(|b| b.name == r.name) {
            return Ok(Op::Binary(BinaryOp::ALL[i]));
        }
        if let Some(i) = COMPARE.iter().position(|c| c.name == r.name) {
            return Ok(Op::Compare(CompareOp::ALL[i]));
        }
        if let Some(i) = LOGICAL.iter().position(|l| l.name == r.name) {
            return Ok(Op::Logical(LogicalOp::ALL[i]));
        }
        Ok(match r.name {
            "select" => Op::Select,
            "matmul" => Op::MatMul,
            "broadcast" => Op::Broadcast {
                shape: a.shape("shape")?,
            },
            "reshape" => Op::Reshape {
                shape: a.shape("shape")?,
            },
            "transpose" => Op::Transpose {
                perm: a.list("perm")?,
            },
            "slice" => {
                let start = a.list("start")?;
                let end = a.list("end")?;
                let stride = a
                    .list_opt("stride")?
                    .unwrap_or_else(|| vec![1; start.len()]);
                Op::Slice { start, end, stride }
            }
            "pad" => Op::Pad {
                lo: a.list("lo")?,
                hi: a.list("hi")?,
            },
            "concat" => Op::Concat {
                axis: a.usize("axis")?,
            },
            "reduce_sum" => Op::ReduceSum {
                axes: a.list("axes")?,
            },
            "reduce_max" => Op::ReduceMax {
                axes: a.list("axes")?,
            },
            "cast" => Op::Cast { to: a.dtype("to")? },
            "call" => match callee {
                Some(c) => Op::Call(c),
                None => {
                    return Err(Error::new(
                        ErrorKind::Parse,
                        "call needs the custom op to call, `call @name`",
                    ))
                }
            },
            "iota" => Op::Iota {
                shape: a.shape("shape")?,
                axis: a.usize("axis")?,
                dtype: match ty {
                    Some(t) => t.dtype,
                    None => {
                        return Err(Error::new(
                            ErrorKind::Parse,
                            "iota must declare its type (`: f64[...]`), which gives its dtype",
                        ))
                    }
                },
            },
            "scan" => {
                let xs = a.usize("xs")?;
                let length = match a.usize_opt("length")? {
                    Some(n) => n,
                    None if xs == 0 => return Err(a.missing("length", AttrKind::Usize)),
                    None => {
                        return Err(Error::new(
                            ErrorKind::Parse,
                            "scan: `length` is stored always: give it when building a scan \
                             from attributes (the parser takes it from the scanned inputs)",
                        ))
                    }
                };
                Op::Scan {
                    body: a.func("body")?,
                    carry: a.usize("carry")?,
                    xs,
                    length,
                    reverse: a.bool_opt("reverse")?.unwrap_or(false),
                }
            }
            "while" => Op::While {
                cond: a.func("cond")?,
                body: a.func("body")?,
                carry: a.usize("carry")?,
                max_trips: a.usize_opt("max_trips")?,
            },
            "cond" => Op::Cond {
                then: a.func("then")?,
                els: a.func("else")?,
            },
            // `param`, `const` and `project`: not built from attributes.
            other => {
                return Err(Error::new(
                    ErrorKind::Parse,
                    format!("{other} is not built from attributes"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_enum_ops_match_their_variants() {
        for u in UnaryOp::ALL {
            assert_eq!(row_of(&Op::Unary(u)).name, u.name());
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
