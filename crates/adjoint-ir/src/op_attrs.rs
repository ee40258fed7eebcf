//! Attribute values, and the one conversion between an [`Op`] and its
//! attributes ([`Op::attrs`], [`Op::from_attrs`]), by the names and kinds
//! of the op table ([`crate::op_table`]).

use crate::op_table::{row, AttrKind};
use crate::{check_shape, BinaryOp, BodyRef, CompareOp, CustomRef, DType, Error, ErrorKind, Op};
use crate::{LogicalOp, Result, Shape, TensorType, UnaryOp};
use std::fmt;

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
            Op::Revolve {
                body,
                step,
                state,
                carry,
                xs,
                length,
                snapshots,
                masked,
            } => vec![
                Some(Func(body.clone())),
                Some(Func(step.clone())),
                Some(Usize(*state)),
                Some(Usize(*carry)),
                Some(Usize(*xs)),
                (*xs == 0 && !*masked).then_some(Usize(*length)),
                Some(Usize(*snapshots)),
                masked.then_some(AttrValue::Bool(true)),
            ],
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
        if let Some(u) = UnaryOp::ALL.into_iter().find(|u| u.name() == r.name) {
            return Ok(Op::Unary(u));
        }
        if let Some(b) = BinaryOp::ALL.into_iter().find(|b| b.name() == r.name) {
            return Ok(Op::Binary(b));
        }
        if let Some(c) = CompareOp::ALL.into_iter().find(|c| c.name() == r.name) {
            return Ok(Op::Compare(c));
        }
        if let Some(l) = LogicalOp::ALL.into_iter().find(|l| l.name() == r.name) {
            return Ok(Op::Logical(l));
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
            "revolve" => Op::Revolve {
                body: a.func("body")?,
                step: a.func("step")?,
                state: a.usize("state")?,
                carry: a.usize("carry")?,
                xs: a.usize("xs")?,
                length: match a.usize_opt("length")? {
                    Some(n) => n,
                    None => return Err(a.missing("length", AttrKind::Usize)),
                },
                snapshots: a.usize("snapshots")?,
                masked: a.bool_opt("masked")?.unwrap_or(false),
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
