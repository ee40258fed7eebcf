//! The parser: text to [`Module`], with line:column errors. Never panics.
//!
//! A recursive-descent parser over the tokens of the [lexer], read on
//! demand with two tokens of lookahead (constant literals are read by
//! [`super::literal`] in bounded memory). Every
//! function is built through [`Graph::add`] / [`Graph::add_broadcasting`],
//! so type inference runs statement by statement and its errors are located
//! at the statement; after its closing `}` each function is [`verify`]d.
//!
//! Resource limits keep hostile input cheap and panic-free: the text is at
//! most [`MAX_INPUT_BYTES`](crate::MAX_INPUT_BYTES), integers in
//! attributes and shapes are at most 2^31, a shape's nonzero dimensions
//! multiply to at most 2^31, constants have at most 2^24 elements (counted
//! while the literal is read, so an oversized literal stops there), and list
//! literals nest at most [`MAX_DEPTH`] deep.
//!
//! [lexer]: super::lexer

use super::lexer::{Lexer, Tok, Token};
use super::literal;
use crate::check_shape;
use crate::{
    verify, BinaryOp, CompareOp, CustomOp, CustomRef, DType, Error, Graph, Item, Loc, Module,
    NodeId, Op, Result, Shape, TensorType, UnaryOp, MAX_INPUT_BYTES,
};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

pub use crate::limits::{MAX_CONST_ELEMS, MAX_EXTENT};
/// The deepest nesting of `[` in a constant literal.
pub const MAX_DEPTH: usize = 64;

/// Parses IR text into a module and verifies every function.
///
/// ```
/// let m = adjoint_ir::parse_module("func @sq(%x: f64) -> f64 {\n  %y = mul %x, %x\n  return %y\n}\n").unwrap();
/// assert_eq!(m.func("sq").unwrap().params().len(), 1);
/// let e = adjoint_ir::parse_module("func @f() -> f64 {\n  return %y\n}").unwrap_err();
/// assert_eq!(e.to_string(), "2:10: parse error: use of undefined value %y in @f");
/// ```
pub fn parse_module(src: &str) -> Result<Module> {
    if src.len() > MAX_INPUT_BYTES {
        return Err(Error::parse(
            Loc { line: 1, col: 1 },
            format!(
                "the input is {} bytes, more than the limit of 2^30 bytes (1 GiB) for IR text",
                src.len()
            ),
        ));
    }
    let mut p = Parser {
        lx: Lexer::new(src),
        buf: VecDeque::with_capacity(LOOKAHEAD),
        lex_err: None,
        funcs: HashMap::new(),
        customs: HashMap::new(),
    };
    p.fill();
    let r = p.module();
    // A lexical error comes first, wherever it is: the one the parser ran
    // into, else (on the error path only) one in the rest of the input.
    if let Some(e) = p.lex_err {
        return Err(e);
    }
    if r.is_err() {
        let mut lx = p.lx;
        loop {
            match lx.next_token() {
                Err(e) => return Err(e),
                Ok(t) if t.tok == Tok::Eof => break,
                Ok(_) => {}
            }
        }
    }
    r
}

/// Tokens of lookahead the parser keeps.
const LOOKAHEAD: usize = 2;

/// A parsed attribute value.
#[derive(Clone, Debug)]
enum AttrVal {
    Int(u64),
    List(Vec<u64>),
    Name(String),
}

impl AttrVal {
    fn kind(&self) -> &'static str {
        match self {
            AttrVal::Int(_) => "an integer",
            AttrVal::List(_) => "a list",
            AttrVal::Name(_) => "a name",
        }
    }
}

/// The values of one function being parsed: name to node and definition
/// site.
type Scope = HashMap<String, (NodeId, Loc)>;

struct Parser<'a> {
    /// The lexer, just after the buffered tokens.
    lx: Lexer<'a>,
    /// The next [`LOOKAHEAD`] tokens, each with a lexer just before it.
    buf: VecDeque<(Token<'a>, Lexer<'a>)>,
    /// The lexical error the lexer stopped at, if any (the parser then
    /// sees the end of the input there).
    lex_err: Option<Error>,
    funcs: HashMap<String, (Graph, Loc)>,
    customs: HashMap<String, (Arc<CustomOp>, Loc)>,
}

fn located<T>(r: Result<T>, loc: Loc) -> Result<T> {
    r.map_err(|e| e.at(loc))
}

impl<'a> Parser<'a> {
    // ----- token access -------------------------------------------------

    /// Reads tokens until [`LOOKAHEAD`] are buffered. At a lexical error
    /// the error is kept (and reported by [`parse_module`]) and the parser
    /// sees the end of the input.
    fn fill(&mut self) {
        while self.buf.len() < LOOKAHEAD {
            let before = self.lx.clone();
            let t = match self.lx.next_token() {
                Ok(t) => t,
                Err(e) => {
                    let loc = e.loc.unwrap_or(Loc { line: 1, col: 1 });
                    self.lex_err.get_or_insert(e);
                    self.lx = before.clone();
                    Token { tok: Tok::Eof, loc }
                }
            };
            self.buf.push_back((t, before));
        }
    }

    fn tok_at(&self, k: usize) -> &Token<'a> {
        // `fill` keeps LOOKAHEAD tokens buffered, so the buffer is never
        // empty.
        let i = k.min(self.buf.len().saturating_sub(1));
        &self.buf[i].0
    }

    /// A lexer just before the next token.
    fn checkpoint(&self) -> Lexer<'a> {
        self.buf
            .front()
            .map_or_else(|| self.lx.clone(), |(_, l)| l.clone())
    }

    /// Continues from `lx`, dropping the buffered tokens.
    fn resume(&mut self, lx: Lexer<'a>) {
        self.lx = lx;
        self.buf.clear();
        self.fill();
    }

    fn peek(&self) -> &Tok<'a> {
        &self.tok_at(0).tok
    }

    fn loc(&self) -> Loc {
        self.tok_at(0).loc
    }

    fn bump(&mut self) -> Token<'a> {
        let t = self.tok_at(0).clone();
        if t.tok != Tok::Eof {
            self.buf.pop_front();
            self.fill();
        }
        t
    }

    fn err_expected(&self, what: &str) -> Error {
        Error::parse(
            self.loc(),
            format!("expected {what}, found {}", self.peek()),
        )
    }

    fn expect(&mut self, tok: Tok<'a>, what: &str) -> Result<Loc> {
        if *self.peek() == tok {
            Ok(self.bump().loc)
        } else {
            Err(self.err_expected(what))
        }
    }

    fn eat(&mut self, tok: &Tok<'a>) -> bool {
        if self.peek() == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_global(&mut self, what: &str) -> Result<(String, Loc)> {
        match self.peek().clone() {
            Tok::Global(s) => Ok((s.to_string(), self.bump().loc)),
            _ => Err(self.err_expected(what)),
        }
    }

    fn expect_value(&mut self, what: &str) -> Result<(String, Loc)> {
        match self.peek().clone() {
            Tok::Value(s) => Ok((s.to_string(), self.bump().loc)),
            _ => Err(self.err_expected(what)),
        }
    }

    // ----- module level ---------------------------------------------------

    fn module(&mut self) -> Result<Module> {
        let mut m = Module::default();
        loop {
            match self.peek() {
                Tok::Eof => return Ok(m),
                Tok::Ident(w) if *w == "func" => {
                    let g = self.func()?;
                    m.items.push(Item::Func(g));
                }
                Tok::Ident(w) if *w == "custom" => {
                    let c = self.custom()?;
                    m.items.push(Item::Custom(c));
                }
                _ => return Err(self.err_expected("`func` or `custom`")),
            }
        }
    }

    fn custom(&mut self) -> Result<Arc<CustomOp>> {
        let start = self.bump().loc; // `custom`
        let (name, name_loc) = self.expect_global("a custom op name `@name`")?;
        if let Some((_, first)) = self.customs.get(&name) {
            return Err(Error::parse(
                name_loc,
                format!("redefinition of custom op @{name} (first declared at {first})"),
            ));
        }
        self.expect(Tok::Eq, "`=` and the body function")?;
        let body = self.func_ref("the body function `@name`")?;
        let (mut vjp, mut jvp) = (None, None);
        while let Tok::Ident(w) = self.peek().clone() {
            if !matches!(self.tok_at(1).tok, Tok::Eq) {
                break;
            }
            let loc = self.bump().loc;
            self.bump(); // `=`
            let slot = match w {
                "vjp" => &mut vjp,
                "jvp" => &mut jvp,
                _ => {
                    return Err(Error::parse(
                        loc,
                        format!("unknown custom op attribute `{w}`; expected `vjp` or `jvp`"),
                    ))
                }
            };
            if slot.is_some() {
                return Err(Error::parse(loc, format!("attribute `{w}` given twice")));
            }
            *slot = Some(self.func_ref(&format!("the {w} rule function `@name`"))?);
        }
        let c = located(CustomOp::new(name.clone(), body, vjp, jvp), start)?;
        self.customs.insert(name, (c.clone(), name_loc));
        Ok(c)
    }

    /// `@name` of a function defined earlier; returns a copy of it.
    fn func_ref(&mut self, what: &str) -> Result<Graph> {
        let (name, loc) = self.expect_global(what)?;
        match self.funcs.get(&name) {
            Some((g, _)) => Ok(g.clone()),
            None => Err(Error::parse(
                loc,
                format!(
                    "unknown function @{name} (a custom op refers to functions defined before it)"
                ),
            )),
        }
    }

    // ----- functions ------------------------------------------------------

    fn func(&mut self) -> Result<Graph> {
        let func_loc = self.bump().loc; // `func`
        let (name, name_loc) = self.expect_global("a function name `@name`")?;
        if let Some((_, first)) = self.funcs.get(&name) {
            return Err(Error::parse(
                name_loc,
                format!("redefinition of function @{name} (first defined at {first})"),
            ));
        }
        let mut g = Graph::new(name.clone());
        let mut scope: Scope = HashMap::new();
        self.expect(Tok::LParen, "`(` and the parameter list")?;
        if !self.eat(&Tok::RParen) {
            loop {
                let (p, ploc) = self.expect_value("a parameter `%name: type`")?;
                self.expect(Tok::Colon, "`:` and the parameter's type")?;
                let ty = self.ty()?;
                if let Some((_, first)) = scope.get(&p) {
                    return Err(Error::parse(
                        ploc,
                        format!("redefinition of %{p} in @{name} (first defined at {first})"),
                    ));
                }
                let id = located(g.add_param(p.clone(), ty), ploc)?;
                scope.insert(p, (id, ploc));
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(Tok::RParen, "`,` or `)` after a parameter")?;
                break;
            }
        }
        self.expect(Tok::Arrow, "`->` and the result types")?;
        let results = self.result_types()?;
        self.expect(Tok::LBrace, "`{` and the function body")?;
        loop {
            match self.peek() {
                Tok::Value(_) => self.statement(&mut g, &mut scope)?,
                Tok::Ident(w) if *w == "return" => {
                    self.ret(&mut g, &scope, &results)?;
                    self.expect(Tok::RBrace, "`}` after `return`")?;
                    break;
                }
                Tok::RBrace => {
                    return Err(Error::parse(
                        self.loc(),
                        format!("@{name} ends without `return`"),
                    ))
                }
                _ => {
                    return Err(self.err_expected("a statement `%name = op ...` or `return`"));
                }
            }
        }
        located(verify(&g), func_loc)?;
        self.funcs.insert(name, (g.clone(), name_loc));
        Ok(g)
    }

    fn result_types(&mut self) -> Result<Vec<TensorType>> {
        if !self.eat(&Tok::LParen) {
            return Ok(vec![self.ty()?]);
        }
        let mut tys = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(tys);
        }
        loop {
            tys.push(self.ty()?);
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(Tok::RParen, "`,` or `)` in the result types")?;
            return Ok(tys);
        }
    }

    fn ret(&mut self, g: &mut Graph, scope: &Scope, results: &[TensorType]) -> Result<()> {
        let loc = self.bump().loc; // `return`
        let mut outs = Vec::new();
        if matches!(self.peek(), Tok::Value(_)) {
            loop {
                let (v, vloc) = self.expect_value("a value `%name` to return")?;
                let id = self.lookup(g, scope, &v, vloc)?;
                outs.push((id, v, vloc));
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        if outs.len() != results.len() {
            return Err(Error::parse(
                loc,
                format!(
                    "@{} declares {} result(s), but `return` gives {}",
                    g.name(),
                    results.len(),
                    outs.len()
                ),
            ));
        }
        for (i, ((id, v, vloc), want)) in outs.iter().zip(results).enumerate() {
            let found = g.ty(*id);
            if found != want {
                return Err(Error::parse(
                    *vloc,
                    format!(
                        "return: result {i} of @{} is declared {want}, but %{v} has type {found}",
                        g.name()
                    ),
                ));
            }
        }
        g.set_outputs(outs.into_iter().map(|(id, _, _)| id).collect());
        Ok(())
    }

    /// The node a value name refers to. For an unknown name, the error
    /// says whether it is defined later in the function.
    fn lookup(&self, g: &Graph, scope: &Scope, v: &str, loc: Loc) -> Result<NodeId> {
        if let Some(&(id, _)) = scope.get(v) {
            return Ok(id);
        }
        // The rest of the function, lexed again from here (an error path).
        let mut lx = self.checkpoint();
        let mut rest = std::iter::from_fn(move || match lx.next_token() {
            Ok(t) if t.tok != Tok::Eof => Some(t),
            _ => None,
        })
        .take_while(|t| !matches!(&t.tok, Tok::Ident(w) if *w == "func" || *w == "custom"));
        let mut later = None;
        let mut prev: Option<Token> = rest.next();
        for t in rest {
            if let Some(p) = &prev {
                if matches!(&p.tok, Tok::Value(n) if *n == v) && t.tok == Tok::Eq {
                    later = Some(p.loc);
                    break;
                }
            }
            prev = Some(t);
        }
        let f = g.name();
        Err(match later {
            Some(def) => Error::parse(
                loc,
                format!("use of %{v} before its definition at {def} in @{f} (values must be defined before they are used)"),
            ),
            None => Error::parse(
                loc,
                format!(
                    "use of undefined value %{v} in @{f}{}",
                    did_you_mean(v, scope.keys().map(String::as_str), "%")
                ),
            ),
        })
    }

    // ----- statements -----------------------------------------------------

    fn statement(&mut self, g: &mut Graph, scope: &mut Scope) -> Result<()> {
        let (name, stmt_loc) = self.expect_value("a statement `%name = op ...`")?;
        if let Some((_, first)) = scope.get(&name) {
            return Err(Error::parse(
                stmt_loc,
                format!(
                    "redefinition of %{name} in @{} (first defined at {first})",
                    g.name()
                ),
            ));
        }
        self.expect(Tok::Eq, "`=` after the value name")?;
        let op_loc = self.loc();
        let op_name = match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                s
            }
            _ => return Err(self.err_expected("an op name")),
        };
        let id = if op_name == "const" {
            let mut lx = self.checkpoint();
            let lit = literal::scan(&mut lx)?;
            self.resume(lx);
            let attrs = self.attrs()?;
            let region = take_attrs(op_name, attrs, &[])?.region;
            if *self.peek() != Tok::Colon {
                return Err(self
                    .err_expected("`:` and the constant's type (a const must declare its type)"));
            }
            self.bump();
            let ty_loc = self.loc();
            let ty = self.ty()?;
            let t = literal::literal_tensor(&lit, &ty, ty_loc)?;
            let id = g.constant(t);
            g.set_region(id, region);
            id
        } else {
            let base = self.op_head(op_name, op_loc)?;
            let operands = self.operands(g, scope)?;
            let attrs = self.attrs()?;
            let declared = if self.eat(&Tok::Colon) {
                let l = self.loc();
                Some((self.ty()?, l))
            } else {
                None
            };
            let taken = take_attrs(op_name, attrs, attr_names(&base))?;
            let op = build_op(base, &taken, op_loc)?;
            if !op.arity().accepts(operands.len()) {
                let s = if op.arity() == crate::Arity::Exact(1) {
                    ""
                } else {
                    "s"
                };
                return Err(Error::parse(
                    op_loc,
                    format!(
                        "{} expects {} operand{s}, found {}",
                        op_label(&op),
                        op.arity(),
                        operands.len()
                    ),
                ));
            }
            let id = if op.broadcasts_implicitly() {
                g.add_broadcasting(op, &operands)
            } else {
                g.add(op, &operands)
            };
            let id = located(id, stmt_loc)?;
            let ty = g.ty(id).clone();
            check_shape(&ty.shape)
                .map_err(|m| Error::type_error(format!("{op_name}: result {m}")).at(stmt_loc))?;
            if let Some((want, l)) = declared {
                if want != ty {
                    return Err(Error::type_error(format!(
                        "{op_name}: declared type {want}, but the operands give {ty}"
                    ))
                    .at(l));
                }
            }
            g.set_region(id, taken.region);
            id
        };
        g[id].name = Some(name.clone());
        scope.insert(name, (id, stmt_loc));
        Ok(())
    }

    /// The op named `name` with default attributes; `call` reads its
    /// `@callee`.
    fn op_head(&mut self, name: &str, loc: Loc) -> Result<Op> {
        if let Some(u) = UnaryOp::ALL.into_iter().find(|u| u.name() == name) {
            return Ok(Op::Unary(u));
        }
        if let Some(b) = BinaryOp::ALL.into_iter().find(|b| b.name() == name) {
            return Ok(Op::Binary(b));
        }
        if let Some(c) = CompareOp::ALL.into_iter().find(|c| c.name() == name) {
            return Ok(Op::Compare(c));
        }
        Ok(match name {
            "select" => Op::Select,
            "matmul" => Op::MatMul,
            "broadcast" => Op::Broadcast {
                shape: Shape::scalar(),
            },
            "reshape" => Op::Reshape {
                shape: Shape::scalar(),
            },
            "transpose" => Op::Transpose { perm: vec![] },
            "slice" => Op::Slice {
                start: vec![],
                end: vec![],
                stride: vec![],
            },
            "pad" => Op::Pad {
                lo: vec![],
                hi: vec![],
            },
            "concat" => Op::Concat { axis: 0 },
            "reduce_sum" => Op::ReduceSum { axes: vec![] },
            "reduce_max" => Op::ReduceMax { axes: vec![] },
            "cast" => Op::Cast { to: DType::F64 },
            "call" => {
                let (c, cloc) = self.expect_global("the custom op to call, `@name`")?;
                match self.customs.get(&c) {
                    Some((op, _)) => Op::Call(CustomRef(op.clone())),
                    None => {
                        return Err(Error::parse(
                            cloc,
                            format!(
                                "unknown custom op @{c} (declare it with `custom @{c} = @body` before calling it)"
                            ),
                        ))
                    }
                }
            }
            "param" => {
                return Err(Error::parse(
                    loc,
                    "`param` is not a statement: parameters are declared in the function header",
                ))
            }
            _ => {
                return Err(Error::parse(
                    loc,
                    format!(
                        "unknown op `{name}`{}; expected one of: {}",
                        did_you_mean(name, Op::all_names(), ""),
                        Op::all_names().join(", ")
                    ),
                ))
            }
        })
    }

    /// Comma-separated `%name`s. A `%name` followed by `=` starts the next
    /// statement, so it is not taken as an operand.
    fn operands(&mut self, g: &Graph, scope: &Scope) -> Result<Vec<NodeId>> {
        let mut out = Vec::new();
        if !matches!(self.peek(), Tok::Value(_)) || matches!(self.tok_at(1).tok, Tok::Eq) {
            return Ok(out);
        }
        loop {
            let (v, loc) = self.expect_value("an operand `%name`")?;
            out.push(self.lookup(g, scope, &v, loc)?);
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// `name=value` pairs, in order.
    fn attrs(&mut self) -> Result<Vec<(String, AttrVal, Loc)>> {
        let mut out: Vec<(String, AttrVal, Loc)> = Vec::new();
        while let Tok::Ident(name) = self.peek().clone() {
            if !matches!(self.tok_at(1).tok, Tok::Eq) {
                break;
            }
            let loc = self.bump().loc;
            self.bump(); // `=`
            if out.iter().any(|(n, _, _)| *n == name) {
                return Err(Error::parse(loc, format!("attribute `{name}` given twice")));
            }
            let val = match self.peek().clone() {
                Tok::LBracket => {
                    self.bump();
                    let mut v = Vec::new();
                    if !self.eat(&Tok::RBracket) {
                        loop {
                            v.push(self.uint()?);
                            if self.eat(&Tok::Comma) {
                                continue;
                            }
                            self.expect(Tok::RBracket, "`,` or `]` in the list")?;
                            break;
                        }
                    }
                    AttrVal::List(v)
                }
                Tok::Number(_) | Tok::Minus => AttrVal::Int(self.uint()?),
                Tok::Ident(s) => {
                    self.bump();
                    AttrVal::Name(s.to_string())
                }
                _ => return Err(self.err_expected(&format!("a value for attribute `{name}`"))),
            };
            out.push((name.to_string(), val, loc));
        }
        Ok(out)
    }

    /// A non-negative integer of at most [`MAX_EXTENT`].
    fn uint(&mut self) -> Result<u64> {
        let loc = self.loc();
        match self.peek().clone() {
            Tok::Number(s) => {
                if !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::parse(
                        loc,
                        format!("expected a non-negative integer, found `{s}`"),
                    ));
                }
                self.bump();
                match s.parse::<u64>() {
                    Ok(v) if v <= MAX_EXTENT => Ok(v),
                    _ => Err(Error::parse(
                        loc,
                        format!("integer {s} is too large (the limit is 2^31 = {MAX_EXTENT})"),
                    )),
                }
            }
            Tok::Minus => Err(Error::parse(
                loc,
                "expected a non-negative integer, found `-`",
            )),
            _ => Err(self.err_expected("a non-negative integer")),
        }
    }

    /// `f64`, `f32[3]`, `bool[2,3]`, `f64[]`.
    fn ty(&mut self) -> Result<TensorType> {
        let loc = self.loc();
        let dtype = match self.peek() {
            Tok::Ident(s) => DType::from_name(s),
            _ => None,
        }
        .ok_or_else(|| self.err_expected("a type (`f32`, `f64` or `bool`, with `[dims]`)"))?;
        self.bump();
        let mut dims = Vec::new();
        if self.eat(&Tok::LBracket) && !self.eat(&Tok::RBracket) {
            loop {
                dims.push(self.uint()? as usize);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(Tok::RBracket, "`,` or `]` in the shape")?;
                break;
            }
        }
        let shape = Shape(dims);
        check_shape(&shape).map_err(|m| Error::parse(loc, m))?;
        Ok(TensorType::new(dtype, shape))
    }
}

/// The edit distance between `a` and `b` (for "did you mean" hints).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// ` (did you mean `x`?)` for the closest candidate within a small edit
/// distance, else nothing.
fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    sigil: &str,
) -> String {
    let n = name.chars().count();
    if n > 64 {
        return String::new();
    }
    let limit = match n {
        0..=2 => return String::new(),
        3..=4 => 1,
        _ => 2,
    };
    candidates
        .into_iter()
        .filter(|c| c.chars().count() <= 64)
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| format!(" (did you mean `{sigil}{c}`?)"))
        .unwrap_or_default()
}

/// The op's name for messages: `call @name` for custom ops.
fn op_label(op: &Op) -> String {
    match op {
        Op::Call(c) => format!("call @{}", c.name),
        other => other.name().to_string(),
    }
}

/// The attributes an op takes (besides `region`), with whether each is
/// required.
fn attr_names(op: &Op) -> &'static [(&'static str, bool)] {
    match op {
        Op::Broadcast { .. } | Op::Reshape { .. } => &[("shape", true)],
        Op::Transpose { .. } => &[("perm", true)],
        Op::Slice { .. } => &[("start", true), ("end", true), ("stride", false)],
        Op::Pad { .. } => &[("lo", true), ("hi", true)],
        Op::Concat { .. } => &[("axis", true)],
        Op::ReduceSum { .. } | Op::ReduceMax { .. } => &[("axes", true)],
        Op::Cast { .. } => &[("to", true)],
        Op::Param { .. }
        | Op::Const(_)
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::MatMul
        | Op::Call(_)
        | Op::Iota { .. }
        | Op::Logical(_)
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => &[],
    }
}

/// The attributes of one statement, checked against what the op takes.
struct Attrs {
    vals: HashMap<String, (AttrVal, Loc)>,
    region: Option<u32>,
}

impl Attrs {
    fn list(&self, name: &str, op: &str) -> Result<Option<Vec<usize>>> {
        match self.vals.get(name) {
            None => Ok(None),
            Some((AttrVal::List(v), _)) => Ok(Some(v.iter().map(|&x| x as usize).collect())),
            Some((other, loc)) => Err(Error::parse(
                *loc,
                format!(
                    "{op}: attribute `{name}` must be a list like `{name}=[0,1]`, found {}",
                    other.kind()
                ),
            )),
        }
    }

    fn int(&self, name: &str, op: &str) -> Result<Option<usize>> {
        match self.vals.get(name) {
            None => Ok(None),
            Some((AttrVal::Int(v), _)) => Ok(Some(*v as usize)),
            Some((other, loc)) => Err(Error::parse(
                *loc,
                format!(
                    "{op}: attribute `{name}` must be an integer like `{name}=0`, found {}",
                    other.kind()
                ),
            )),
        }
    }
}

fn take_attrs(
    op: &str,
    attrs: Vec<(String, AttrVal, Loc)>,
    allowed: &[(&str, bool)],
) -> Result<Attrs> {
    let mut out = Attrs {
        vals: HashMap::new(),
        region: None,
    };
    let expected = || {
        let mut names: Vec<String> = allowed.iter().map(|(n, _)| format!("`{n}`")).collect();
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
        } else if allowed.iter().any(|(n, _)| *n == name) {
            out.vals.insert(name, (val, loc));
        } else {
            let hint = did_you_mean(&name, allowed.iter().map(|(n, _)| *n).chain(["region"]), "");
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

/// Fills the op's attributes; errors for missing ones.
fn build_op(base: Op, a: &Attrs, loc: Loc) -> Result<Op> {
    let name = base.name();
    let missing = |attr: &str, example: &str| {
        Error::parse(
            loc,
            format!("{name} needs the attribute `{attr}`, e.g. `{attr}={example}`"),
        )
    };
    let list = |attr: &str| -> Result<Vec<usize>> {
        a.list(attr, name)?.ok_or_else(|| missing(attr, "[0]"))
    };
    Ok(match base {
        Op::Iota { .. }
        | Op::Logical(_)
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => {
            return Err(Error::parse(loc, format!("{name}: no text syntax yet")))
        }
        Op::Broadcast { .. } => {
            let shape = Shape(list("shape")?);
            check_shape(&shape).map_err(|m| Error::parse(loc, format!("{name}: {m}")))?;
            Op::Broadcast { shape }
        }
        Op::Reshape { .. } => {
            let shape = Shape(list("shape")?);
            check_shape(&shape).map_err(|m| Error::parse(loc, format!("{name}: {m}")))?;
            Op::Reshape { shape }
        }
        Op::Transpose { .. } => Op::Transpose {
            perm: list("perm")?,
        },
        Op::Slice { .. } => {
            let start = list("start")?;
            let end = list("end")?;
            let stride = a
                .list("stride", name)?
                .unwrap_or_else(|| vec![1; start.len()]);
            Op::Slice { start, end, stride }
        }
        Op::Pad { .. } => Op::Pad {
            lo: list("lo")?,
            hi: list("hi")?,
        },
        Op::Concat { .. } => Op::Concat {
            axis: a.int("axis", name)?.ok_or_else(|| missing("axis", "0"))?,
        },
        Op::ReduceSum { .. } => Op::ReduceSum {
            axes: list("axes")?,
        },
        Op::ReduceMax { .. } => Op::ReduceMax {
            axes: list("axes")?,
        },
        Op::Cast { .. } => {
            let to = match a.vals.get("to") {
                None => return Err(missing("to", "f32")),
                Some((AttrVal::Name(n), l)) => match DType::from_name(n) {
                    Some(d) => d,
                    None => {
                        return Err(Error::parse(
                            *l,
                            format!(
                            "cast: expected a dtype (`f32`, `f64` or `bool`) for `to`, found `{n}`"
                        ),
                        ))
                    }
                },
                Some((other, l)) => {
                    return Err(Error::parse(
                        *l,
                        format!(
                            "cast: attribute `to` must be a dtype like `to=f32`, found {}",
                            other.kind()
                        ),
                    ))
                }
            };
            Op::Cast { to }
        }
        other @ (Op::Param { .. }
        | Op::Const(_)
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::MatMul
        | Op::Call(_)) => other,
    })
}
