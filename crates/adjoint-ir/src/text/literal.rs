//! Constant literals (`const [[1, 2], [3, 4]] : f64[2,2]`), read in bounded
//! memory.
//!
//! The type comes after the literal, so a literal is read twice from the
//! text, never held as tokens or as a tree: [`scan`] checks its syntax,
//! counts its numbers and lists (stopping with an error at the first one
//! past [`MAX_CONST_ELEMS`]) and records each list's length; then, once the
//! type is known, [`literal_tensor`] checks the nesting against the shape
//! and converts the numbers straight into the tensor's storage. Memory is
//! the tensor plus four bytes per list, and time is linear in the text.

use super::lexer::{Lexer, Tok, Token};
use super::parser::MAX_DEPTH;
use crate::{DType, Error, Loc, Result, Tensor, TensorData, TensorType, MAX_CONST_ELEMS};

/// One scalar of a literal.
#[derive(Clone, Debug)]
pub(super) enum Leaf<'a> {
    /// A number (`neg` if preceded by `-`), `inf` or `nan` as written.
    Num { text: &'a str, neg: bool, loc: Loc },
    /// `true` or `false`.
    Bool(bool, Loc),
}

impl Leaf<'_> {
    fn loc(&self) -> Loc {
        match self {
            Leaf::Num { loc, .. } | Leaf::Bool(_, loc) => *loc,
        }
    }
}

/// A literal whose syntax has been checked, before its type is known.
pub(super) enum Scanned<'a> {
    /// A scalar: a splat of any shape.
    Scalar(Leaf<'a>),
    /// A `[...]` list.
    List {
        /// A lexer at the opening `[`.
        start: Lexer<'a>,
        /// Where the `[` is.
        loc: Loc,
        /// The number of entries of each list, in the order the lists open.
        lens: Vec<u32>,
        /// The number of scalars.
        leaves: usize,
    },
}

const WHAT_LITERAL: &str = "a literal (a number, `inf`, `nan`, `true`, `false` or a `[...]` list)";

fn expected(what: &str, t: &Token<'_>) -> Error {
    Error::parse(t.loc, format!("expected {what}, found {}", t.tok))
}

/// The scalar starting with token `t` (reading the number after a `-`).
fn leaf<'a>(t: Token<'a>, lx: &mut Lexer<'a>) -> Result<Leaf<'a>> {
    let loc = t.loc;
    match t.tok {
        Tok::Minus => {
            let n = lx.next_token()?;
            match n.tok {
                Tok::Number(text) => Ok(Leaf::Num {
                    text,
                    neg: true,
                    loc,
                }),
                Tok::Ident(w) if w == "inf" || w == "nan" => Ok(Leaf::Num {
                    text: w,
                    neg: true,
                    loc,
                }),
                _ => Err(expected("a number, `inf` or `nan` after `-`", &n)),
            }
        }
        Tok::Number(text) => Ok(Leaf::Num {
            text,
            neg: false,
            loc,
        }),
        Tok::Ident(w) if w == "inf" || w == "nan" => Ok(Leaf::Num {
            text: w,
            neg: false,
            loc,
        }),
        Tok::Ident(w) if w == "true" || w == "false" => Ok(Leaf::Bool(w == "true", loc)),
        _ => Err(expected(WHAT_LITERAL, &t)),
    }
}

fn limit_error(loc: Loc, what: &str) -> Error {
    Error::parse(
        loc,
        format!(
            "const: the literal has more than 2^24 {what}, the limit for a constant \
             (use a scalar literal for a splat of any size)"
        ),
    )
}

/// Reads one literal from `lx` (which ends just after it), checking its
/// syntax and the limits: at most [`MAX_DEPTH`] nested lists, and at most
/// [`MAX_CONST_ELEMS`] numbers and as many lists. Iterative, and holds one
/// token at a time.
pub(super) fn scan<'a>(lx: &mut Lexer<'a>) -> Result<Scanned<'a>> {
    let start = lx.clone();
    let first = lx.next_token()?;
    if first.tok != Tok::LBracket {
        return Ok(Scanned::Scalar(leaf(first, lx)?));
    }
    let loc = first.loc;
    // `open[k]` is the index in `lens` of the k-th enclosing open list.
    let mut open: Vec<usize> = vec![0];
    let mut lens: Vec<u32> = vec![0];
    let mut leaves = 0usize;
    let mut just_opened = true;
    loop {
        // An entry, or `]` right after `[`.
        let t = lx.next_token()?;
        let top = *open.last().unwrap_or(&0);
        match t.tok {
            Tok::RBracket if just_opened => {
                open.pop();
            }
            Tok::LBracket => {
                if open.len() >= MAX_DEPTH {
                    return Err(Error::parse(
                        t.loc,
                        format!("list literal nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                if lens.len() as u64 >= MAX_CONST_ELEMS {
                    return Err(limit_error(t.loc, "lists"));
                }
                lens[top] += 1;
                open.push(lens.len());
                lens.push(0);
                just_opened = true;
                continue;
            }
            _ => {
                let l = t.loc;
                leaf(t, lx)?;
                if leaves as u64 >= MAX_CONST_ELEMS {
                    return Err(limit_error(l, "numbers"));
                }
                leaves += 1;
                lens[top] += 1;
            }
        }
        // After an entry: `,` and the next entry, or `]` closing lists.
        loop {
            if open.is_empty() {
                return Ok(Scanned::List {
                    start,
                    loc,
                    lens,
                    leaves,
                });
            }
            let t = lx.next_token()?;
            match t.tok {
                Tok::Comma => break,
                Tok::RBracket => {
                    open.pop();
                }
                _ => return Err(expected("`,` or `]` in the list literal", &t)),
            }
        }
        just_opened = false;
    }
}

/// The tensor a scanned literal denotes at type `ty`: a splat for a scalar
/// literal, else a dense literal whose nesting matches the shape.
pub(super) fn literal_tensor(lit: &Scanned<'_>, ty: &TensorType, ty_loc: Loc) -> Result<Tensor> {
    // `ty` passed check_shape, so numel cannot overflow.
    let numel = ty.numel() as u64;
    if numel > MAX_CONST_ELEMS {
        return Err(Error::parse(
            ty_loc,
            format!("const: {ty} has {numel} elements, more than the limit of 2^24 for a constant"),
        ));
    }
    let n = ty.numel();
    let data = match lit {
        Scanned::Scalar(l) => match ty.dtype {
            DType::F64 => TensorData::F64(vec![float_leaf(l, DType::F64, parse_f64)?; n]),
            DType::F32 => TensorData::F32(vec![float_leaf(l, DType::F32, parse_f32)?; n]),
            DType::Bool => TensorData::Bool(vec![bool_leaf(l)?; n]),
        },
        Scanned::List {
            start,
            loc,
            lens,
            leaves,
        } => {
            let dims = ty.shape.dims();
            if dims.is_empty() {
                return Err(Error::parse(
                    *loc,
                    format!("const: a list literal needs a tensor type, but the type is {ty}"),
                ));
            }
            // First the nesting, everywhere; then the numbers.
            let mut lx = start.clone();
            let mut next_list = 0;
            check_nesting(&mut lx, lens, &mut next_list, dims, 0, ty)?;
            let cap = (*leaves).min(n);
            match ty.dtype {
                DType::F64 => TensorData::F64(convert(start, cap, |l| {
                    float_leaf(l, DType::F64, parse_f64)
                })?),
                DType::F32 => TensorData::F32(convert(start, cap, |l| {
                    float_leaf(l, DType::F32, parse_f32)
                })?),
                DType::Bool => TensorData::Bool(convert(start, cap, bool_leaf)?),
            }
        }
    };
    Tensor::new(ty.shape.clone(), data).map_err(|e| e.at(ty_loc))
}

fn parse_f64(s: &str) -> Option<f64> {
    s.parse().ok()
}

fn parse_f32(s: &str) -> Option<f32> {
    s.parse().ok()
}

/// Checks that the list starting at `lx` nests as `dims` require, list by
/// list in the order they open (so the first mismatch in the text is
/// reported). `lens` are the list lengths from [`scan`]; recursion is at
/// most [`MAX_DEPTH`] deep, which [`scan`] checked.
fn check_nesting(
    lx: &mut Lexer<'_>,
    lens: &[u32],
    next_list: &mut usize,
    dims: &[usize],
    depth: usize,
    ty: &TensorType,
) -> Result<()> {
    let t = lx.next_token()?;
    match (&t.tok, dims.get(depth)) {
        (Tok::LBracket, Some(&d)) => {
            let len = lens.get(*next_list).copied().unwrap_or(0) as usize;
            *next_list += 1;
            if len != d {
                return Err(Error::parse(
                    t.loc,
                    format!(
                        "const: the literal does not match {ty}: axis {depth} needs {d} entries, found {len}"
                    ),
                ));
            }
            for k in 0..len {
                if k > 0 {
                    lx.next_token()?; // `,`
                }
                check_nesting(lx, lens, next_list, dims, depth + 1, ty)?;
            }
            lx.next_token()?; // `]`
            Ok(())
        }
        (Tok::LBracket, None) => Err(Error::parse(
            t.loc,
            format!(
                "const: the literal does not match {ty}: nested deeper than the rank {}",
                dims.len()
            ),
        )),
        (_, Some(_)) => Err(Error::parse(
            t.loc,
            format!(
                "const: the literal does not match {ty}: expected a list at depth {depth}, found a scalar"
            ),
        )),
        (_, None) => leaf(t, lx).map(drop),
    }
}

/// The scalars of the list starting at `start`, in order, converted by
/// `f`. Reads up to the list's closing `]`.
fn convert<'a, T>(
    start: &Lexer<'a>,
    cap: usize,
    f: impl Fn(&Leaf<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut lx = start.clone();
    let mut out = Vec::with_capacity(cap);
    let mut depth = 0usize;
    loop {
        let t = lx.next_token()?;
        match t.tok {
            Tok::LBracket => depth += 1,
            Tok::RBracket => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(out);
                }
            }
            Tok::Comma => {}
            Tok::Eof => return Ok(out),
            _ => out.push(f(&leaf(t, &mut lx)?)?),
        }
    }
}

fn bool_leaf(l: &Leaf<'_>) -> Result<bool> {
    match l {
        Leaf::Bool(b, _) => Ok(*b),
        other => Err(Error::parse(
            other.loc(),
            "expected `true` or `false` for a bool constant".to_string(),
        )),
    }
}

/// A float element from a literal leaf, in `dtype` directly (so an `f32`
/// literal is rounded once).
fn float_leaf<T: std::ops::Neg<Output = T> + Copy + Into<f64>>(
    lit: &Leaf<'_>,
    dtype: DType,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T> {
    match lit {
        Leaf::Num { text, neg, loc } => {
            let v = parse(text)
                .ok_or_else(|| Error::parse(*loc, format!("invalid {dtype} literal `{text}`")))?;
            let x: f64 = v.into();
            if x.is_infinite() && *text != "inf" {
                return Err(Error::parse(
                    *loc,
                    format!("literal {text} is out of range for {dtype}"),
                ));
            }
            Ok(if *neg { -v } else { v })
        }
        Leaf::Bool(b, loc) => Err(Error::parse(
            *loc,
            format!("expected a {dtype} literal, found `{b}` (bool constants need a bool type)"),
        )),
    }
}
