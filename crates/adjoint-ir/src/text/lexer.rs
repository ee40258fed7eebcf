//! Tokens of the text IR, with their 1-based line:column.
//!
//! The [`Lexer`] produces tokens on demand, so the parser never holds more
//! than a few of them (a large literal is not turned into a token vector),
//! and a copy of a lexer is a cheap checkpoint to read from again. It never
//! panics: every character is either part of a token, whitespace, part of a
//! `#` comment, or reported as an error at its location.

use crate::{Error, Loc, Result};
use std::fmt;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    /// A bare word: `func`, `return`, `custom`, op and attribute names,
    /// dtypes, `true`/`false`/`nan`/`inf`.
    Ident(&'a str),
    /// `%name`: a parameter or value.
    Value(&'a str),
    /// `@name`: a function or custom op.
    Global(&'a str),
    /// An unsigned numeric literal as written (`12`, `2.5`, `1e-3`).
    Number(&'a str),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `=`
    Eq,
    /// `->`
    Arrow,
    /// `-` (only before a number, `inf` or `nan`)
    Minus,
    /// The end of the input.
    Eof,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Value(s) => write!(f, "`%{s}`"),
            Tok::Global(s) => write!(f, "`@{s}`"),
            Tok::Number(s) => write!(f, "number `{s}`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBrace => f.write_str("`{`"),
            Tok::RBrace => f.write_str("`}`"),
            Tok::LBracket => f.write_str("`[`"),
            Tok::RBracket => f.write_str("`]`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Colon => f.write_str("`:`"),
            Tok::Eq => f.write_str("`=`"),
            Tok::Arrow => f.write_str("`->`"),
            Tok::Minus => f.write_str("`-`"),
            Tok::Eof => f.write_str("end of input"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub loc: Loc,
}

/// Whether `c` may appear in a name (`%x`, `@f`, identifiers).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `s` is a valid name: one or more letters, digits or `_`.
pub(crate) fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_name_char)
}

#[derive(Clone)]
struct Cursor<'a> {
    src: &'a str,
    /// Byte offset of the next character (always a char boundary).
    pos: usize,
    line: u32,
    col: u32,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        let b = *self.src.as_bytes().get(self.pos)?;
        if b.is_ascii() {
            Some(char::from(b))
        } else {
            self.src.get(self.pos..)?.chars().next()
        }
    }

    fn pos(&self) -> usize {
        self.pos
    }

    fn loc(&self) -> Loc {
        Loc {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    /// Consumes ASCII characters other than newline while `pred` holds
    /// and returns them as a slice (a byte loop: names and numbers are
    /// ASCII).
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let mut end = start;
        while end < bytes.len()
            && bytes[end].is_ascii()
            && bytes[end] != b'\n'
            && pred(char::from(bytes[end]))
        {
            end += 1;
        }
        self.pos = end;
        self.col = self
            .col
            .saturating_add(u32::try_from(end - start).unwrap_or(u32::MAX));
        self.src.get(start..end).unwrap_or("")
    }

    /// Skips ASCII spaces, tabs, carriage returns and newlines.
    fn skip_ascii_whitespace(&mut self) {
        let bytes = self.src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.col = self.col.saturating_add(1),
                b'\n' => {
                    self.line = self.line.saturating_add(1);
                    self.col = 1;
                }
                _ => return,
            }
            self.pos += 1;
        }
    }
}

/// A token stream over IR text. Cloning it is cheap (a position in the
/// text), so a clone is a checkpoint to lex again from.
#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    cur: Cursor<'a>,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`. A leading byte-order mark is skipped.
    pub fn new(src: &'a str) -> Lexer<'a> {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        Lexer {
            cur: Cursor {
                src,
                pos: 0,
                line: 1,
                col: 1,
            },
        }
    }

    /// The next token; [`Tok::Eof`] at the end of the input, and again on
    /// every later call.
    pub fn next_token(&mut self) -> Result<Token<'a>> {
        let cur = &mut self.cur;
        loop {
            cur.skip_ascii_whitespace();
            let loc = cur.loc();
            let Some(c) = cur.peek() else {
                return Ok(Token { tok: Tok::Eof, loc });
            };
            let tok = match c {
                c if c.is_whitespace() => {
                    cur.bump();
                    continue;
                }
                '#' => {
                    while cur.peek().is_some_and(|c| c != '\n') {
                        cur.bump();
                    }
                    continue;
                }
                '(' | ')' | '{' | '}' | '[' | ']' | ',' | ':' | '=' => {
                    cur.bump();
                    match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '{' => Tok::LBrace,
                        '}' => Tok::RBrace,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        ',' => Tok::Comma,
                        ':' => Tok::Colon,
                        _ => Tok::Eq,
                    }
                }
                '-' => {
                    cur.bump();
                    if cur.peek() == Some('>') {
                        cur.bump();
                        Tok::Arrow
                    } else {
                        Tok::Minus
                    }
                }
                '%' | '@' => {
                    cur.bump();
                    let name = cur.take_while(is_name_char);
                    if name.is_empty() {
                        let what = if c == '%' { "value" } else { "function" };
                        let found = match cur.peek() {
                            Some(f) => format!("{f:?}"),
                            None => "end of input".to_string(),
                        };
                        return Err(Error::parse(
                            loc,
                            format!(
                                "expected a {what} name (letters, digits, `_`) after `{c}`, found {found}"
                            ),
                        ));
                    }
                    if c == '%' {
                        Tok::Value(name)
                    } else {
                        Tok::Global(name)
                    }
                }
                c if c.is_ascii_digit() => lex_number(cur, loc)?,
                c if c.is_ascii_alphabetic() || c == '_' => {
                    Tok::Ident(cur.take_while(is_name_char))
                }
                other => return Err(Error::parse(loc, format!("unexpected character {other:?}"))),
            };
            return Ok(Token { tok, loc });
        }
    }
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
#[cfg(test)]
pub(crate) fn lex(src: &str) -> Result<Vec<Token<'_>>> {
    let mut lx = Lexer::new(src);
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

/// `digits [. digits*] [(e|E) [+|-] digits]`, unsigned.
fn lex_number<'a>(cur: &mut Cursor<'a>, loc: Loc) -> Result<Tok<'a>> {
    let start = cur.pos();
    cur.take_while(|c| c.is_ascii_digit());
    if cur.peek() == Some('.') {
        cur.bump();
        cur.take_while(|c| c.is_ascii_digit());
    }
    if matches!(cur.peek(), Some('e' | 'E')) {
        cur.bump();
        if matches!(cur.peek(), Some('+' | '-')) {
            cur.bump();
        }
        if cur.take_while(|c| c.is_ascii_digit()).is_empty() {
            let text = cur.src.get(start..cur.pos()).unwrap_or("");
            return Err(Error::parse(
                loc,
                format!("expected digits after the exponent in `{text}`"),
            ));
        }
    }
    let end = cur.pos();
    if cur
        .peek()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        let text = cur.src.get(start..end).unwrap_or("");
        let next = cur.peek().unwrap_or(' ');
        return Err(Error::parse(
            loc,
            format!("expected a number, found `{text}` followed by {next:?} (names need a `%` or `@` prefix)"),
        ));
    }
    Ok(Tok::Number(cur.src.get(start..end).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_a_statement_with_locations() {
        let ts = lex("  %a = mul %x1, %x2 # comment\n  return %a").unwrap();
        let got: Vec<(Tok, u32, u32)> = ts
            .into_iter()
            .map(|t| (t.tok, t.loc.line, t.loc.col))
            .collect();
        assert_eq!(
            got,
            vec![
                (Tok::Value("a"), 1, 3),
                (Tok::Eq, 1, 6),
                (Tok::Ident("mul"), 1, 8),
                (Tok::Value("x1"), 1, 12),
                (Tok::Comma, 1, 15),
                (Tok::Value("x2"), 1, 17),
                (Tok::Ident("return"), 2, 3),
                (Tok::Value("a"), 2, 10),
                (Tok::Eof, 2, 12),
            ]
        );
    }

    #[test]
    fn lexes_numbers_arrows_and_minus() {
        assert_eq!(
            toks("1 -2.5 1e-3 3.E+7 -> -inf"),
            vec![
                Tok::Number("1"),
                Tok::Minus,
                Tok::Number("2.5"),
                Tok::Number("1e-3"),
                Tok::Number("3.E+7"),
                Tok::Arrow,
                Tok::Minus,
                Tok::Ident("inf"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn names_may_start_with_digits_or_type_words() {
        assert_eq!(
            toks("%0 @f32_mix f32[3]"),
            vec![
                Tok::Value("0"),
                Tok::Global("f32_mix"),
                Tok::Ident("f32"),
                Tok::LBracket,
                Tok::Number("3"),
                Tok::RBracket,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_have_locations() {
        let e = lex("func @f()\n  %a = $").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, col: 8 }));
        assert!(e.message.contains("unexpected character '$'"), "{e}");
        let e = lex("%").unwrap_err();
        assert!(e.message.contains("expected a value name"), "{e}");
        let e = lex("1e+").unwrap_err();
        assert!(e.message.contains("exponent"), "{e}");
        let e = lex("12abc").unwrap_err();
        assert!(e.message.contains("expected a number"), "{e}");
    }

    #[test]
    fn byte_order_mark_and_crlf_are_accepted() {
        let ts = lex("\u{feff}%a\r\n  @b").unwrap();
        assert_eq!(ts[0].tok, Tok::Value("a"));
        assert_eq!((ts[0].loc.line, ts[0].loc.col), (1, 1));
        assert_eq!((ts[1].loc.line, ts[1].loc.col), (2, 3));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = lex("# héllo\n é").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, col: 2 }));
    }
}
