//! The attributes of a statement: their raw text values, read by the
//! kinds of the op table (`adjoint_ir::op_table`), with locations for
//! errors.

use super::hint::did_you_mean;
use crate::op_table::{AttrKind, AttrSpec, AttrValue};
use crate::{BodyRef, DType, Error, Loc, Result};

/// A parsed attribute value.
#[derive(Clone, Debug)]
pub(super) enum AttrVal {
    Int(u64),
    List(Vec<u64>),
    Name(String),
    /// `@name`, with the location of that token.
    Global(String, Loc),
}

impl AttrVal {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            AttrVal::Int(_) => "an integer",
            AttrVal::List(_) => "a list",
            AttrVal::Name(_) => "a name",
            AttrVal::Global(..) => "a function name",
        }
    }
}

/// The attributes of one statement, checked against what the op takes and
/// read by their kinds.
pub(super) struct Attrs {
    pub(super) vals: Vec<(&'static str, AttrValue)>,
    /// The location of each attribute in `vals` (its name).
    pub(super) locs: Vec<Loc>,
    pub(super) region: Option<u32>,
}

impl Attrs {
    pub(super) fn get(&self, name: &str) -> Option<(&AttrValue, Loc)> {
        self.vals
            .iter()
            .zip(&self.locs)
            .find(|((n, _), _)| *n == name)
            .map(|((_, v), l)| (v, *l))
    }

    pub(super) fn usize(&self, name: &str) -> Option<(usize, Loc)> {
        match self.get(name) {
            Some((AttrValue::Usize(v), l)) => Some((*v, l)),
            _ => None,
        }
    }

    /// `body=@f`, `then=@t else=@e`, …: the functions named, for messages.
    pub(super) fn bodies_label(&self) -> String {
        funcs_label(&self.vals)
    }
}

/// `body=@f cond=@p`: the function-valued attributes among `vals`, for
/// messages.
pub(super) fn funcs_label(vals: &[(&'static str, AttrValue)]) -> String {
    vals.iter()
        .filter(|(_, v)| matches!(v, AttrValue::Func(_)))
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks the attributes of a statement of `op` against `allowed` (plus
/// `region`) and reads their values by kind; `body_ref` resolves a
/// function (`attribute name, @name, its location`).
pub(super) fn take_attrs(
    op: &str,
    attrs: Vec<(String, AttrVal, Loc)>,
    allowed: &'static [AttrSpec],
    mut body_ref: impl FnMut(&str, &str, Loc) -> Result<BodyRef>,
) -> Result<Attrs> {
    let mut out = Attrs {
        vals: Vec::new(),
        locs: Vec::new(),
        region: None,
    };
    let expected = || {
        let mut names: Vec<String> = allowed.iter().map(|a| format!("`{}`", a.name)).collect();
        names.push("`region`".into());
        names.join(", ")
    };
    for (name, val, loc) in attrs {
        if name == "region" {
            match val {
                AttrVal::Int(r) if r <= u64::from(u32::MAX) => out.region = Some(r as u32),
                other => {
                    return Err(Error::parse(
                        loc,
                        format!(
                            "{op}: attribute `region` must be an integer like `region=0`, found {}",
                            other.kind()
                        ),
                    ))
                }
            }
        } else if let Some(spec) = allowed.iter().find(|a| a.name == name) {
            let v = match (spec.kind, val) {
                (AttrKind::Func, AttrVal::Global(f, floc)) => {
                    AttrValue::Func(body_ref(&name, &f, floc)?)
                }
                (kind, val) => attr_value(op, &name, kind, val, loc)?,
            };
            out.vals.push((spec.name, v));
            out.locs.push(loc);
        } else {
            let hint = did_you_mean(&name, allowed.iter().map(|a| a.name).chain(["region"]), "");
            return Err(Error::parse(
                loc,
                format!(
                    "{op} has no attribute `{name}`{hint}; expected one of: {}",
                    expected()
                ),
            ));
        }
    }
    Ok(out)
}

/// Reads a raw attribute value as the op table's `kind` says.
fn attr_value(op: &str, name: &str, kind: AttrKind, val: AttrVal, loc: Loc) -> Result<AttrValue> {
    let parsed = match (kind, &val) {
        (AttrKind::Shape | AttrKind::AxisList | AttrKind::UsizeList, AttrVal::List(v)) => {
            Some(AttrValue::List(v.iter().map(|&x| x as usize).collect()))
        }
        (AttrKind::Usize, AttrVal::Int(v)) => Some(AttrValue::Usize(*v as usize)),
        (AttrKind::Bool, AttrVal::Name(n)) => match n.as_str() {
            "true" | "false" => Some(AttrValue::Bool(n == "true")),
            _ => {
                return Err(Error::parse(
                    loc,
                    format!("{op}: expected `true` or `false` for `{name}`, found `{n}`"),
                ))
            }
        },
        (AttrKind::DType, AttrVal::Name(n)) => match DType::from_name(n) {
            Some(d) => Some(AttrValue::DType(d)),
            None => {
                return Err(Error::parse(
                    loc,
                    format!(
                        "{op}: expected a dtype (`f32`, `f64` or `bool`) for `{name}`, found `{n}`"
                    ),
                ))
            }
        },
        // A function is resolved by the parser (`Parser::body_ref`).
        _ => None,
    };
    parsed.ok_or_else(|| {
        Error::parse(
            loc,
            format!(
                "{op}: attribute `{name}` must be {}, found {}",
                kind.expected(name),
                val.kind()
            ),
        )
    })
}
