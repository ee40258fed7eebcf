//! The pipeline syntax: `grad{wrt=x,w},simplify,cse,dce`.
//!
//! A pipeline is a comma-separated list of pass invocations. Each may carry
//! options in braces. Inside the braces items are comma-separated (spaces
//! allowed); an item `name=value` starts an option, and a bare item appends
//! one more value to the option before it, so `jacobian{wrt=x,w,mode=fwd}`
//! means `wrt = [x, w]`, `mode = [fwd]`.

use adjoint_ir::{Error, Result};
use std::fmt;

/// The options given to one pass invocation, in the order written. Each
/// option has a name and one or more values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassOptions {
    /// `(name, values)` pairs, in order. A name appears at most once.
    pub items: Vec<(String, Vec<String>)>,
}

impl PassOptions {
    /// No options.
    pub fn new() -> PassOptions {
        PassOptions::default()
    }

    /// Adds (or replaces) option `name` with `values`; a builder helper for
    /// library users.
    pub fn with(mut self, name: &str, values: &[&str]) -> PassOptions {
        let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        match self.items.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = vals,
            None => self.items.push((name.to_string(), vals)),
        }
        self
    }

    /// The values of option `name`, if given.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.items
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The single value of option `name`, if given; an error if it has
    /// several.
    pub fn get_one(&self, pass: &str, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(vs) => Err(Error::input(format!(
                "{pass}: option `{name}` takes one value, got {} ({})",
                vs.len(),
                vs.join(", ")
            ))),
        }
    }

    /// Option `name` parsed as a non-negative integer.
    pub fn get_usize(&self, pass: &str, name: &str) -> Result<Option<usize>> {
        match self.get_one(pass, name)? {
            None => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
                Error::input(format!(
                    "{pass}: option `{name}` must be a non-negative integer, got `{v}`"
                ))
            }),
        }
    }

    /// Whether no option was given.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for PassOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (n, vs)) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}={}", vs.join(","))?;
        }
        f.write_str("}")
    }
}

/// One pass invocation in a pipeline: a name and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassSpec {
    /// The pass name as written.
    pub name: String,
    /// The options in braces, if any.
    pub options: PassOptions,
}

impl fmt::Display for PassSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.options)
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}

fn check_word(what: &str, w: &str, col: usize) -> Result<()> {
    if w.is_empty() {
        return Err(Error::input(format!(
            "pipeline: empty {what} at column {col}"
        )));
    }
    if let Some(bad) = w.chars().find(|&c| !is_ident_char(c)) {
        return Err(Error::input(format!(
            "pipeline: unexpected character `{bad}` in {what} `{w}` at column {col}"
        )));
    }
    Ok(())
}

/// Parses a pipeline string into pass invocations. Checks only the syntax;
/// pass and option names are checked by the registry.
///
/// ```
/// use adjoint_passes::parse_pipeline;
/// let p = parse_pipeline("jacobian{wrt=x, w, mode=fwd}, cse").unwrap();
/// assert_eq!(p[0].name, "jacobian");
/// assert_eq!(p[0].options.get("wrt").unwrap(), ["x", "w"]);
/// assert_eq!(p[0].options.get("mode").unwrap(), ["fwd"]);
/// assert_eq!(p[1].name, "cse");
/// ```
pub fn parse_pipeline(src: &str) -> Result<Vec<PassSpec>> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i == chars.len() {
        return Ok(out);
    }
    loop {
        skip_ws(&mut i);
        let start = i;
        while i < chars.len() && chars[i] != ',' && chars[i] != '{' && chars[i] != '}' {
            i += 1;
        }
        let name: String = chars[start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        check_word("pass name", &name, start + 1)?;
        let mut options = PassOptions::new();
        if i < chars.len() && chars[i] == '{' {
            let open = i;
            i += 1;
            let body_start = i;
            while i < chars.len() && chars[i] != '}' {
                if chars[i] == '{' {
                    return Err(Error::input(format!(
                        "pipeline: nested `{{` at column {}",
                        i + 1
                    )));
                }
                i += 1;
            }
            if i == chars.len() {
                return Err(Error::input(format!(
                    "pipeline: `{{` at column {} is never closed",
                    open + 1
                )));
            }
            let body: String = chars[body_start..i].iter().collect();
            i += 1; // '}'
            let mut col = body_start + 1;
            if !body.trim().is_empty() {
                for item in body.split(',') {
                    let item_col = col;
                    col += item.chars().count() + 1;
                    let item = item.trim();
                    if let Some((k, v)) = item.split_once('=') {
                        let (k, v) = (k.trim(), v.trim());
                        check_word("option name", k, item_col)?;
                        check_word("option value", v, item_col)?;
                        if options.get(k).is_some() {
                            return Err(Error::input(format!(
                                "pipeline: option `{k}` of `{name}` given twice (column {item_col})"
                            )));
                        }
                        options.items.push((k.to_string(), vec![v.to_string()]));
                    } else {
                        check_word("option value", item, item_col)?;
                        match options.items.last_mut() {
                            Some((_, vs)) => vs.push(item.to_string()),
                            None => {
                                return Err(Error::input(format!(
                                    "pipeline: `{name}{{{body}}}`: the value `{item}` at column {item_col} has no option name before it (write `name={item}`)"
                                )))
                            }
                        }
                    }
                }
            }
        }
        out.push(PassSpec { name, options });
        skip_ws(&mut i);
        if i == chars.len() {
            break;
        }
        match chars[i] {
            ',' => i += 1,
            c => {
                return Err(Error::input(format!(
                    "pipeline: expected `,` between passes, found `{c}` at column {}",
                    i + 1
                )))
            }
        }
    }
    Ok(out)
}
