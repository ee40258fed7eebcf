//! Argument values and output formatting shared by the CLI and the
//! filetests: a small JSON reader that parses numbers in the parameter's
//! own dtype (so an `f32` argument is rounded once, from decimal), and the
//! JSON writer of `adjoint run`.

use adjoint_ir::{DType, Error, Result, Tensor, TensorData, TensorType};

/// A JSON value as written in an argument: a number (kept as text), a
/// boolean, a string (for `"NaN"`, `"inf"`, `"-inf"`), or a list.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// A number, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// A string (only `"NaN"`, `"inf"` and `"-inf"` mean anything).
    Str(String),
    /// A list.
    List(Vec<ArgValue>),
}

/// Parses the JSON text of one argument value.
///
/// ```
/// use adjoint::values::{parse_arg, ArgValue};
/// assert_eq!(parse_arg("[1, -2.5e3]").unwrap(),
///     ArgValue::List(vec![ArgValue::Number("1".into()), ArgValue::Number("-2.5e3".into())]));
/// assert!(parse_arg("[1,").is_err());
/// ```
pub fn parse_arg(text: &str) -> Result<ArgValue> {
    let mut p = JsonReader {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("end of value"));
    }
    Ok(v)
}

struct JsonReader<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl JsonReader<'_> {
    fn err(&self, expected: &str) -> Error {
        let found = match self.s.get(self.i) {
            Some(c) => format!("'{}'", *c as char),
            None => "end of input".to_string(),
        };
        Error::input(format!(
            "bad value at character {}: expected {expected}, found {found}",
            self.i + 1
        ))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<ArgValue> {
        match self.s.get(self.i) {
            Some(b'[') => {
                self.depth += 1;
                if self.depth > 64 {
                    return Err(Error::input("bad value: lists nested more than 64 deep"));
                }
                self.i += 1;
                self.ws();
                let mut items = Vec::new();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(ArgValue::List(items));
                }
                loop {
                    self.ws();
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            self.depth -= 1;
                            return Ok(ArgValue::List(items));
                        }
                        _ => return Err(self.err("',' or ']'")),
                    }
                }
            }
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(ArgValue::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(ArgValue::Bool(false))
            }
            Some(b'"') => {
                let start = self.i + 1;
                let end = self.s[start..]
                    .iter()
                    .position(|&c| c == b'"')
                    .ok_or_else(|| Error::input("bad value: unterminated string"))?;
                self.i = start + end + 1;
                Ok(ArgValue::Str(
                    String::from_utf8_lossy(&self.s[start..start + end]).into_owned(),
                ))
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                let t = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                if t.parse::<f64>().is_err() {
                    return Err(Error::input(format!("bad value: '{t}' is not a number")));
                }
                Ok(ArgValue::Number(t))
            }
            _ => Err(self.err("a number, a boolean, a string or '['")),
        }
    }
}

fn flatten<'a>(v: &'a ArgValue, out: &mut Vec<&'a ArgValue>, limit: usize) -> Result<()> {
    match v {
        ArgValue::List(items) => {
            for it in items {
                flatten(it, out, limit)?;
            }
        }
        other => {
            if out.len() >= limit {
                return Err(Error::input(format!(
                    "too many elements (the type holds {limit})"
                )));
            }
            out.push(other)
        }
    }
    Ok(())
}

fn parse_float(v: &ArgValue, dtype: DType) -> Result<f64> {
    let bad = || {
        Error::input(format!(
            "a {dtype} element must be a number or \"NaN\"/\"inf\"/\"-inf\", got {v:?}"
        ))
    };
    let text = match v {
        ArgValue::Number(t) => t.as_str(),
        ArgValue::Str(s) => match s.as_str() {
            "NaN" | "nan" => return Ok(f64::NAN),
            "inf" => return Ok(f64::INFINITY),
            "-inf" => return Ok(f64::NEG_INFINITY),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    match dtype {
        // Parse in the element's own dtype: one rounding, from decimal.
        DType::F32 => text.parse::<f32>().map(|x| x as f64).map_err(|_| bad()),
        _ => text.parse::<f64>().map_err(|_| bad()),
    }
}

/// Converts a parsed argument to a tensor of type `ty`. A scalar, a flat
/// list, or a nested list is accepted as long as it has exactly the right
/// number of elements; it is reshaped to `ty`'s shape. `bool` parameters
/// take JSON booleans.
pub fn arg_to_tensor(v: &ArgValue, ty: &TensorType) -> Result<Tensor> {
    let mut flat = Vec::new();
    flatten(v, &mut flat, ty.numel())?;
    if flat.len() != ty.numel() {
        return Err(Error::input(format!(
            "expected {} elements for {ty}, got {}",
            ty.numel(),
            flat.len()
        )));
    }
    let data = match ty.dtype {
        DType::Bool => TensorData::Bool(
            flat.iter()
                .map(|x| match x {
                    ArgValue::Bool(b) => Ok(*b),
                    other => Err(Error::input(format!(
                        "a bool element must be true or false, got {other:?}"
                    ))),
                })
                .collect::<Result<_>>()?,
        ),
        DType::F32 => TensorData::F32(
            flat.iter()
                .map(|x| parse_float(x, DType::F32).map(|f| f as f32))
                .collect::<Result<_>>()?,
        ),
        DType::F64 => TensorData::F64(
            flat.iter()
                .map(|x| parse_float(x, DType::F64))
                .collect::<Result<_>>()?,
        ),
    };
    Tensor::new(ty.shape.clone(), data)
}

/// The shortest decimal text that reads back as `v` in `f64` (`2` rather
/// than `2.0`, `1e-7` rather than `0.0000001`). Non-finite values give
/// `NaN`, `inf`, `-inf`.
pub fn fmt_f64(v: f64) -> String {
    trim_float(format!("{v:?}"))
}

/// The shortest decimal text that reads back as `v` in `f32`.
pub fn fmt_f32(v: f32) -> String {
    trim_float(format!("{v:?}"))
}

fn trim_float(s: String) -> String {
    match s.strip_suffix(".0") {
        Some(t) => t.to_string(),
        None => s,
    }
}

fn json_float(s: String) -> String {
    match s.as_str() {
        "NaN" | "inf" | "-inf" => format!("\"{s}\""),
        _ => s,
    }
}

/// An `f64` as a JSON value: the shortest round-tripping number, or the
/// strings `"NaN"`, `"inf"`, `"-inf"`.
pub fn json_number(v: f64) -> String {
    json_float(fmt_f64(v))
}

/// The elements of a tensor as JSON values, row-major.
pub fn json_elements(t: &Tensor) -> Vec<String> {
    match t.data() {
        TensorData::F32(v) => v.iter().map(|&x| json_float(fmt_f32(x))).collect(),
        TensorData::F64(v) => v.iter().map(|&x| json_float(fmt_f64(x))).collect(),
        TensorData::Bool(v) => v.iter().map(|x| x.to_string()).collect(),
    }
}

/// The JSON that `adjoint run` prints:
/// `{"outputs":[{"dtype":"f64","shape":[],"data":[14.909297426825681]}]}`.
pub fn outputs_json(outputs: &[Tensor]) -> String {
    let items: Vec<String> = outputs
        .iter()
        .map(|t| {
            let shape: Vec<String> = t.shape().dims().iter().map(|d| d.to_string()).collect();
            format!(
                "{{\"dtype\":\"{}\",\"shape\":[{}],\"data\":[{}]}}",
                t.dtype(),
                shape.join(","),
                json_elements(t).join(",")
            )
        })
        .collect();
    format!("{{\"outputs\":[{}]}}", items.join(","))
}

/// A tensor as nested JSON-style lists (a bare number for a scalar), as the
/// filetests' `run:` lines write values.
pub fn nested_text(t: &Tensor) -> String {
    let els = json_elements(t);
    fn rec(dims: &[usize], els: &[String], out: &mut String) {
        match dims.split_first() {
            None => out.push_str(&els[0]),
            Some((&d, rest)) => {
                let inner: usize = rest.iter().product();
                out.push('[');
                for i in 0..d {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    rec(rest, &els[i * inner..(i + 1) * inner], out);
                }
                out.push(']');
            }
        }
    }
    let mut s = String::new();
    rec(t.shape().dims(), &els, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_shortest_in_their_dtype() {
        assert_eq!(fmt_f32(0.1), "0.1");
        assert_eq!(fmt_f64(0.1f32 as f64), "0.10000000149011612");
        assert_eq!(fmt_f64(2.0), "2");
        assert_eq!(fmt_f64(-0.0), "-0");
        assert_eq!(fmt_f64(1e-7), "1e-7");
        assert_eq!(fmt_f64(14.909297426825681), "14.909297426825681");
    }

    #[test]
    fn json_of_outputs() {
        let t = Tensor::from_f64([2], vec![f64::NAN, f64::NEG_INFINITY]).unwrap();
        let b = Tensor::from_bool([1], vec![true]).unwrap();
        assert_eq!(
            outputs_json(&[t, b]),
            r#"{"outputs":[{"dtype":"f64","shape":[2],"data":["NaN","-inf"]},{"dtype":"bool","shape":[1],"data":[true]}]}"#
        );
    }

    #[test]
    fn args_reshape_and_count() {
        let ty = TensorType::f64([2, 2]);
        let flat = arg_to_tensor(&parse_arg("[1,2,3,4]").unwrap(), &ty).unwrap();
        let nested = arg_to_tensor(&parse_arg("[[1,2],[3,4]]").unwrap(), &ty).unwrap();
        assert_eq!(flat, nested);
        let e = arg_to_tensor(&parse_arg("[1,2,3]").unwrap(), &ty).unwrap_err();
        assert!(e.message.contains("expected 4 elements"), "{e}");
        let f = arg_to_tensor(&parse_arg("0.1").unwrap(), &TensorType::f32([])).unwrap();
        assert_eq!(f.as_f32().unwrap()[0], 0.1f32);
        assert!(arg_to_tensor(&parse_arg("1").unwrap(), &TensorType::bool([])).is_err());
        assert!(parse_arg("[[[[").is_err());
        assert!(parse_arg(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn nested_text_of_tensors() {
        let t = Tensor::from_f64([2, 2], vec![1.0, 2.5, 3.0, 4.0]).unwrap();
        assert_eq!(nested_text(&t), "[[1, 2.5], [3, 4]]");
        assert_eq!(nested_text(&Tensor::scalar_f64(1.5)), "1.5");
    }
}
