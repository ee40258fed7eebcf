//! The parser: text to [`Module`], with line:column errors. Never panics.
//!
//! A recursive-descent parser over the tokens of the [lexer], read on
//! demand with two tokens of lookahead (constant literals are read by
//! [`super::literal`] in bounded memory). Every
//! function is built through [`Graph::add`] / [`Graph::add_broadcasting`],
//! so type inference runs statement by statement and its errors are located
//! at the statement; after its closing `}` each function is [`verify`](crate::verify())d
//! (its bodies were checked at their own `}`).
//!
//! Each node gets the location of its statement ([`Graph::loc`]: the
//! statement's first result name, or a parameter's name), so that later
//! errors about a node, such as a pass's, can point at the text.
//!
//! Resource limits keep hostile input cheap and panic-free: the text is at
//! most [`MAX_INPUT_BYTES`](crate::MAX_INPUT_BYTES), integers in
//! attributes and shapes are at most 2^31, a shape's nonzero dimensions
//! multiply to at most 2^31, constants have at most 2^24 elements (counted
//! while the literal is read, so an oversized literal stops there), and list
//! literals nest at most [`MAX_DEPTH`] deep.
//!
//! [lexer]: super::lexer

use super::attrs::{take_attrs, AttrVal};
use super::hint::did_you_mean;
use super::lexer::{Lexer, Tok, Token};
use super::literal;
use super::loop_stmt::{bodies_label, check_declared, loop_counts, loop_error_loc, plural};
use crate::check_shape;
use crate::op_table::{self, Head, OpClass, OpRow};
use crate::{
    BodyRef, CustomOp, CustomRef, DType, Error, Graph, Item, Loc, Module, NodeId, Op, Result,
    Shape, TensorType, MAX_INPUT_BYTES,
};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// One entry of a signature's result list: the output name, if written
/// (with its location), and the type.
type ResultDecl = (Option<(String, Loc)>, TensorType);

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
        bodies: HashMap::new(),
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
    /// The functions used as bodies so far: one shared reference each.
    bodies: HashMap<String, BodyRef>,
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
                g.set_loc(id, Some(ploc));
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
        // Its bodies were verified at their own `}` (functions are defined
        // before they are used), so only this function is checked here:
        // parsing stays linear however deep the bodies nest.
        located(crate::verify::verify_one(&g), func_loc)?;
        self.funcs.insert(name, (g.clone(), name_loc));
        Ok(g)
    }

    /// The result list: `type`, or `(r, ...)` where each `r` is `type` or
    /// `%name: type` (an output name, see docs/ir.md §5).
    fn result_types(&mut self) -> Result<Vec<ResultDecl>> {
        if !self.eat(&Tok::LParen) {
            return Ok(vec![(None, self.ty()?)]);
        }
        let mut tys: Vec<ResultDecl> = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(tys);
        }
        loop {
            let name = if matches!(self.peek(), Tok::Value(_)) {
                let (n, nloc) = self.expect_value("an output name `%name: type`")?;
                self.expect(Tok::Colon, "`:` and the output's type")?;
                if let Some(first) = tys
                    .iter()
                    .find_map(|(d, _)| d.as_ref().filter(|(m, _)| *m == n).map(|(_, l)| *l))
                {
                    return Err(Error::parse(
                        nloc,
                        format!("duplicate output name %{n} (first at {first})"),
                    ));
                }
                Some((n, nloc))
            } else {
                None
            };
            tys.push((name, self.ty()?));
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(Tok::RParen, "`,` or `)` in the result types")?;
            return Ok(tys);
        }
    }

    fn ret(&mut self, g: &mut Graph, scope: &Scope, results: &[ResultDecl]) -> Result<()> {
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
        for (i, ((id, v, vloc), (_, want))) in outs.iter().zip(results).enumerate() {
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
        for (i, (name, _)) in results.iter().enumerate() {
            if let Some((n, nloc)) = name {
                located(g.set_output_name(i, n.clone()), *nloc)?;
            }
        }
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
        let rest = std::iter::from_fn(move || match lx.next_token() {
            Ok(t) if t.tok != Tok::Eof => Some(t),
            _ => None,
        })
        .take_while(|t| !matches!(&t.tok, Tok::Ident(w) if *w == "func" || *w == "custom"));
        // A definition is a name in a run `%a, %b, ...` followed by `=`.
        let mut later = None;
        let mut run: Vec<(&str, Loc)> = Vec::new();
        let mut after_comma = false;
        for t in rest {
            match t.tok {
                Tok::Value(n) => {
                    if !after_comma {
                        run.clear();
                    }
                    run.push((n, t.loc));
                    after_comma = false;
                }
                Tok::Comma if !run.is_empty() && !after_comma => after_comma = true,
                Tok::Eq if !after_comma => {
                    if let Some(&(_, l)) = run.iter().find(|(n, _)| *n == v) {
                        later = Some(l);
                        break;
                    }
                    run.clear();
                }
                _ => {
                    run.clear();
                    after_comma = false;
                }
            }
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
        let mut names: Vec<(String, Loc)> = Vec::new();
        loop {
            let what = if names.is_empty() {
                "a statement `%name = op ...`"
            } else {
                "a result name `%name`"
            };
            let (name, loc) = self.expect_value(what)?;
            let first = scope
                .get(&name)
                .map(|(_, l)| *l)
                .or_else(|| names.iter().find(|(n, _)| *n == name).map(|(_, l)| *l));
            if let Some(first) = first {
                return Err(Error::parse(
                    loc,
                    format!(
                        "redefinition of %{name} in @{} (first defined at {first})",
                        g.name()
                    ),
                ));
            }
            names.push((name, loc));
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        let stmt_loc = names[0].1;
        self.expect(Tok::Eq, "`=` after the value name")?;
        let op_loc = self.loc();
        let op_name = match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                s
            }
            _ => return Err(self.err_expected("an op name")),
        };
        let row = op_row(op_name, op_loc)?;
        if row.head == Head::Literal {
            let mut lx = self.checkpoint();
            let lit = literal::scan(&mut lx)?;
            self.resume(lx);
            let attrs = self.attrs()?;
            let region = take_attrs(op_name, attrs, row.attrs, |attr, f, loc| {
                self.body_ref(op_name, attr, f, loc)
            })?
            .region;
            if *self.peek() != Tok::Colon {
                return Err(self
                    .err_expected("`:` and the constant's type (a const must declare its type)"));
            }
            self.bump();
            let ty_loc = self.loc();
            let ty = self.ty()?;
            let t = literal::literal_tensor(&lit, &ty, ty_loc)?;
            one_name(op_name, &names)?;
            let id = g.constant(t);
            g.set_region(id, region);
            g.set_loc(id, Some(stmt_loc));
            return bind(g, scope, id, names);
        }
        let callee = if row.head == Head::Callee {
            Some(self.callee()?)
        } else {
            None
        };
        let operands = self.operands(g, scope)?;
        let ids: Vec<NodeId> = operands.iter().map(|&(id, _)| id).collect();
        let attrs = self.attrs()?;
        let declared = if self.eat(&Tok::Colon) {
            Some(self.stmt_types()?)
        } else if row.head == Head::Typed {
            return Err(self.err_expected(&format!(
                "`:` and the result type ({op_name} must declare its type)"
            )));
        } else {
            None
        };
        let mut taken = take_attrs(op_name, attrs, row.attrs, |attr, f, loc| {
            self.body_ref(op_name, attr, f, loc)
        })?;
        if row.class == OpClass::Control {
            loop_counts(op_name, &mut taken, g, &ids, op_loc)?;
        }
        let first_ty = declared
            .as_ref()
            .and_then(|d| (d.len() == 1).then(|| &d[0].0));
        let op = located(
            Op::from_attrs(row.name, callee, first_ty, &taken.vals),
            op_loc,
        )?;
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
        if op.is_multi_result() {
            let tys: Vec<TensorType> = ids.iter().map(|&o| g.ty(o).clone()).collect();
            let err_loc = loop_error_loc(&op, &tys, &operands, &taken, op_loc);
            let projs = g.add_multi(op.clone(), &ids).map_err(|mut e| {
                // Every loop error names the functions involved.
                if !e.message.contains('@') {
                    e.message = format!("{} ({})", e.message, bodies_label(&op));
                }
                e.at(err_loc)
            })?;
            if projs.len() != names.len() {
                return Err(Error::parse(
                    stmt_loc,
                    format!(
                        "{} has {} result{}, but the statement binds {} name{} ({})",
                        op.name(),
                        projs.len(),
                        plural(projs.len()),
                        names.len(),
                        plural(names.len()),
                        bodies_label(&op)
                    ),
                ));
            }
            if let Some(declared) = declared {
                check_declared(&op, g, &projs, &declared)?;
            }
            if let Some(node) = projs.first().and_then(|&p| g.operands(p).first().copied()) {
                g.set_region(node, taken.region);
                g.set_loc(node, Some(stmt_loc));
            }
            for (&p, (name, loc)) in projs.iter().zip(names) {
                g.set_loc(p, Some(stmt_loc));
                g[p].name = Some(name.clone());
                scope.insert(name, (p, loc));
            }
            return Ok(());
        }
        one_name(op_name, &names)?;
        let op_for_loc = matches!(op, Op::Iota { .. }).then(|| op.clone());
        let broadcasts = op.broadcasts_implicitly();
        let id = if broadcasts {
            g.add_broadcasting(op, &ids)
        } else {
            g.add(op, &ids)
        };
        let id = id.map_err(|e| {
            // An `iota`'s axis out of range belongs at `axis=`, a dtype that
            // is not a float at the declared type.
            let loc = match (&op_for_loc, &declared) {
                (Some(Op::Iota { shape, axis, .. }), _) if *axis >= shape.rank() => {
                    taken.get("axis").map_or(stmt_loc, |(_, l)| l)
                }
                (Some(Op::Iota { dtype, .. }), Some(d)) if !dtype.is_float() => d[0].1,
                _ => stmt_loc,
            };
            e.at(loc)
        })?;
        let ty = g.ty(id).clone();
        check_shape(&ty.shape)
            .map_err(|m| Error::type_error(format!("{op_name}: result {m}")).at(stmt_loc))?;
        if let Some(declared) = declared {
            if declared.len() != 1 {
                return Err(Error::parse(
                    declared[0].1,
                    format!(
                        "{op_name} has 1 result, but {} types are declared",
                        declared.len()
                    ),
                ));
            }
            let (want, l) = &declared[0];
            if *want != ty {
                return Err(Error::type_error(format!(
                    "{op_name}: declared type {want}, but the operands give {ty}"
                ))
                .at(*l));
            }
        }
        g.set_region(id, taken.region);
        // The statement's node, and any `broadcast` inserted for it.
        g.set_loc(id, Some(stmt_loc));
        if broadcasts {
            for o in g.operands(id) {
                if !ids.contains(&o) {
                    g.set_loc(o, Some(stmt_loc));
                }
            }
        }
        bind(g, scope, id, names)
    }

    /// A statement's declared result types: `T`, or `(T1, …, Tn)` with
    /// n ≥ 1, each with its location.
    fn stmt_types(&mut self) -> Result<Vec<(TensorType, Loc)>> {
        if !self.eat(&Tok::LParen) {
            let l = self.loc();
            return Ok(vec![(self.ty()?, l)]);
        }
        let mut tys = Vec::new();
        loop {
            let l = self.loc();
            tys.push((self.ty()?, l));
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(Tok::RParen, "`,` or `)` in the result types")?;
            return Ok(tys);
        }
    }

    /// The function `@name` that the attribute `attr` of `op` names: one
    /// defined earlier in the file, shared by all its uses.
    fn body_ref(&mut self, op: &str, attr: &str, name: &str, loc: Loc) -> Result<BodyRef> {
        if let Some(b) = self.bodies.get(name) {
            return Ok(b.clone());
        }
        if let Some((g, _)) = self.funcs.get(name) {
            let b = BodyRef::new(g.clone());
            self.bodies.insert(name.to_string(), b.clone());
            return Ok(b);
        }
        // The rest of the file, lexed again from here (an error path).
        let mut lx = self.checkpoint();
        let mut prev_func = false;
        let mut later = None;
        while let Ok(t) = lx.next_token() {
            match t.tok {
                Tok::Eof => break,
                Tok::Global(n) if prev_func && n == name => {
                    later = Some(t.loc);
                    break;
                }
                Tok::Ident(w) => prev_func = w == "func",
                _ => prev_func = false,
            }
        }
        let why = format!("`{attr}=` names a function defined earlier in the file");
        Err(Error::parse(
            loc,
            match later {
                Some(def) => {
                    format!("{op}: function @{name} is used before its definition at {def} ({why})")
                }
                None => format!(
                    "{op}: unknown function @{name} ({why}){}",
                    did_you_mean(name, self.funcs.keys().map(String::as_str), "@")
                ),
            },
        ))
    }

    /// The `@callee` of a `call`: a custom op declared earlier.
    fn callee(&mut self) -> Result<CustomRef> {
        let (c, cloc) = self.expect_global("the custom op to call, `@name`")?;
        match self.customs.get(&c) {
            Some((op, _)) => Ok(CustomRef(op.clone())),
            None => Err(Error::parse(
                cloc,
                format!(
                    "unknown custom op @{c} (declare it with `custom @{c} = @body` before calling it)"
                ),
            )),
        }
    }

    /// Comma-separated `%name`s. A `%name` followed by `=` starts the next
    /// statement, so it is not taken as an operand.
    fn operands(&mut self, g: &Graph, scope: &Scope) -> Result<Vec<(NodeId, Loc)>> {
        let mut out = Vec::new();
        if !matches!(self.peek(), Tok::Value(_)) || matches!(self.tok_at(1).tok, Tok::Eq) {
            return Ok(out);
        }
        loop {
            let (v, loc) = self.expect_value("an operand `%name`")?;
            out.push((self.lookup(g, scope, &v, loc)?, loc));
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
                Tok::Global(s) => {
                    let l = self.bump().loc;
                    AttrVal::Global(s.to_string(), l)
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

/// The op's name for messages: `call @name` for custom ops.
fn op_label(op: &Op) -> String {
    match op {
        Op::Call(c) => format!("call @{}", c.name),
        other => other.name().to_string(),
    }
}

/// The op table's row for the statement mnemonic `name`.
fn op_row(name: &str, loc: Loc) -> Result<&'static OpRow> {
    match op_table::row(name) {
        Some(r) if r.head == Head::Header => Err(Error::parse(
            loc,
            format!("`{name}` is not a statement: parameters are declared in the function header"),
        )),
        Some(r) if r.head == Head::Internal => Err(Error::parse(
            loc,
            format!(
                "`{name}` has no text syntax: the results of a statement are named on its left, `%a, %b = ...`"
            ),
        )),
        Some(r) => Ok(r),
        None => Err(Error::parse(
            loc,
            format!(
                "unknown op `{name}`{}; expected one of: {}",
                did_you_mean(name, Op::all_names(), ""),
                Op::all_names().join(", ")
            ),
        )),
    }
}

/// Errors unless a single-result op's statement binds one name.
fn one_name(op: &str, names: &[(String, Loc)]) -> Result<()> {
    if names.len() == 1 {
        return Ok(());
    }
    Err(Error::parse(
        names[0].1,
        format!(
            "{op} has 1 result, but the statement binds {} names",
            names.len()
        ),
    ))
}

/// Names the value `id` and puts it in scope.
fn bind(g: &mut Graph, scope: &mut Scope, id: NodeId, names: Vec<(String, Loc)>) -> Result<()> {
    for (name, loc) in names {
        g[id].name = Some(name.clone());
        scope.insert(name, (id, loc));
    }
    Ok(())
}
