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
pub(crate) enum Tok {
    /// A bare word: `func`, `return`, `custom`, op and attribute names,
    /// dtypes, `true`/`false`/`nan`/`inf`.
    Ident(String),
    /// `%name`: a parameter or value.
    Value(String),
    /// `@name`: a function or custom op.
    Global(String),
    /// An unsigned numeric literal as written (`12`, `2.5`, `1e-3`).
    Number(String),
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

impl fmt::Display for Tok {
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
pub(crate) struct Token {
    pub tok: Tok,
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
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    src: &'a str,
    line: u32,
    col: u32,
}

impl<'a> Cursor<'a> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn pos(&mut self) -> usize {
        self.chars.peek().map_or(self.src.len(), |&(i, _)| i)
    }

    fn loc(&self) -> Loc {
        Loc {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let (_, c) = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    /// Consumes characters while `pred` holds and returns them as a slice.
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos();
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        let end = self.pos();
        self.src.get(start..end).unwrap_or("")
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
                chars: src.char_indices().peekable(),
                src,
                line: 1,
                col: 1,
            },
        }
    }

    /// The next token; [`Tok::Eof`] at the end of the input, and again on
    /// every later call.
    pub fn next_token(&mut self) -> Result<Token> {
        let cur = &mut self.cur;
        loop {
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
                        Tok::Value(name.to_string())
                    } else {
                        Tok::Global(name.to_string())
                    }
                }
                c if c.is_ascii_digit() => lex_number(cur, loc)?,
                c if c.is_ascii_alphabetic() || c == '_' => {
                    Tok::Ident(cur.take_while(is_name_char).to_string())
                }
                other => return Err(Error::parse(loc, format!("unexpected character {other:?}"))),
            };
            return Ok(Token { tok, loc });
        }
    }
}

/// Checks that all of `src` lexes, holding one token at a time, so that
/// lexical errors are reported first, wherever they are.
pub(crate) fn check(src: &str) -> Result<()> {
    let mut lx = Lexer::new(src);
    while lx.next_token()?.tok != Tok::Eof {}
    Ok(())
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
#[cfg(test)]
pub(crate) fn lex(src: &str) -> Result<Vec<Token>> {
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
fn lex_number(cur: &mut Cursor<'_>, loc: Loc) -> Result<Tok> {
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
    Ok(Tok::Number(
        cur.src.get(start..end).unwrap_or("").to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
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
                (Tok::Value("a".into()), 1, 3),
                (Tok::Eq, 1, 6),
                (Tok::Ident("mul".into()), 1, 8),
                (Tok::Value("x1".into()), 1, 12),
                (Tok::Comma, 1, 15),
                (Tok::Value("x2".into()), 1, 17),
                (Tok::Ident("return".into()), 2, 3),
                (Tok::Value("a".into()), 2, 10),
                (Tok::Eof, 2, 12),
            ]
        );
    }

    #[test]
    fn lexes_numbers_arrows_and_minus() {
        assert_eq!(
            toks("1 -2.5 1e-3 3.E+7 -> -inf"),
            vec![
                Tok::Number("1".into()),
                Tok::Minus,
                Tok::Number("2.5".into()),
                Tok::Number("1e-3".into()),
                Tok::Number("3.E+7".into()),
                Tok::Arrow,
                Tok::Minus,
                Tok::Ident("inf".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn names_may_start_with_digits_or_type_words() {
        assert_eq!(
            toks("%0 @f32_mix f32[3]"),
            vec![
                Tok::Value("0".into()),
                Tok::Global("f32_mix".into()),
                Tok::Ident("f32".into()),
                Tok::LBracket,
                Tok::Number("3".into()),
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
        assert_eq!(ts[0].tok, Tok::Value("a".into()));
        assert_eq!((ts[0].loc.line, ts[0].loc.col), (1, 1));
        assert_eq!((ts[1].loc.line, ts[1].loc.col), (2, 3));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = lex("# héllo\n é").unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, col: 2 }));
    }
}
