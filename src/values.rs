//! Argument values and output formatting shared by the CLI and the
//! filetests: the JSON reader of `--arg` values, which parses numbers in
//! the parameter's own dtype (so an `f32` argument is rounded once, from
//! decimal), and the JSON writer of `adjoint run`, both on `serde_json`.

use adjoint_ir::{DType, Error, Result, Tensor, TensorData, TensorType};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

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

/// Parses the JSON text of one argument value (with `serde_json`). Numbers
/// keep their text, so each is rounded once, in its parameter's dtype, by
/// [`arg_to_tensor`].
///
/// ```
/// use adjoint::values::{parse_arg, ArgValue};
/// assert_eq!(parse_arg("[1, -2.5e3]").unwrap(),
///     ArgValue::List(vec![ArgValue::Number("1".into()), ArgValue::Number("-2.5e3".into())]));
/// assert!(parse_arg("[1,").is_err());
/// ```
pub fn parse_arg(text: &str) -> Result<ArgValue> {
    let raw: &RawValue = serde_json::from_str(text).map_err(bad_json)?;
    from_raw(raw, 0)
}

/// The deepest list nesting an argument may have.
const MAX_ARG_DEPTH: usize = 64;

fn bad_json(e: serde_json::Error) -> Error {
    Error::input(format!("bad value: {e}"))
}

/// Converts one JSON value, given as its text, keeping numbers as written.
fn from_raw(raw: &RawValue, depth: usize) -> Result<ArgValue> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'[') => {
            if depth >= MAX_ARG_DEPTH {
                return Err(Error::input(format!(
                    "bad value: lists nested more than {MAX_ARG_DEPTH} deep"
                )));
            }
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(bad_json)?;
            Ok(ArgValue::List(
                items
                    .into_iter()
                    .map(|i| from_raw(i, depth + 1))
                    .collect::<Result<_>>()?,
            ))
        }
        Some(b'"') => Ok(ArgValue::Str(serde_json::from_str(text).map_err(bad_json)?)),
        Some(b't' | b'f') => Ok(ArgValue::Bool(
            serde_json::from_str(text).map_err(bad_json)?,
        )),
        Some(b'-' | b'0'..=b'9') => Ok(ArgValue::Number(text.to_string())),
        _ => Err(Error::input(format!(
            "bad value: expected a number, a boolean, a string or a list, found `{text}`"
        ))),
    }
}

fn is_list(v: &ArgValue) -> bool {
    matches!(v, ArgValue::List(_))
}

/// The elements of `v` for type `ty`, row-major (see [`arg_to_tensor`]).
fn elements<'a>(v: &'a ArgValue, ty: &TensorType) -> Result<Vec<&'a ArgValue>> {
    let numel = ty.numel();
    let count_error =
        |got: usize| Error::input(format!("expected {numel} elements for {ty}, got {got}"));
    let items = match v {
        ArgValue::List(items) => items,
        // A bare number fills a type with one element.
        _ if numel == 1 => return Ok(vec![v]),
        _ => return Err(count_error(1)),
    };
    if !items.iter().any(is_list) {
        // The flat form (for a vector, also the nested one).
        return if items.len() == numel {
            Ok(items.iter().collect())
        } else {
            Err(count_error(items.len()))
        };
    }
    let mut out = Vec::with_capacity(numel);
    nested(v, ty, 0, &mut out)?;
    Ok(out)
}

/// Collects the leaves of `v`, which must be nested exactly like `ty`'s
/// shape from axis `depth` on: the rule of `const` literals.
fn nested<'a>(
    v: &'a ArgValue,
    ty: &TensorType,
    depth: usize,
    out: &mut Vec<&'a ArgValue>,
) -> Result<()> {
    let dims = ty.shape.dims();
    let mismatch = |what: String| {
        Error::input(format!(
            "the value does not match {ty}: {what} (write it nested like the shape, or as a flat list of {} elements)",
            ty.numel()
        ))
    };
    match (v, dims.get(depth)) {
        (ArgValue::List(items), Some(&d)) => {
            if items.len() != d {
                return Err(mismatch(format!(
                    "axis {depth} needs {d} entries, found {}",
                    items.len()
                )));
            }
            items.iter().try_for_each(|i| nested(i, ty, depth + 1, out))
        }
        (ArgValue::List(_), None) => Err(mismatch(format!(
            "nested deeper than the rank {}",
            dims.len()
        ))),
        (_, Some(_)) => Err(mismatch(format!(
            "expected a list at depth {depth}, found a scalar"
        ))),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
    }
}

/// A float element in `dtype`, parsed in that dtype directly (one rounding,
/// from decimal). As for `const` literals, a finite number too large for
/// the dtype is an error, and one too small rounds to the nearest
/// representable value (a subnormal or a signed zero), like any other
/// rounding.
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
    let x = match dtype {
        DType::F32 => text.parse::<f32>().map(|x| x as f64).map_err(|_| bad())?,
        _ => text.parse::<f64>().map_err(|_| bad())?,
    };
    // A `Number` is always written with digits, so infinity here is an
    // overflow, never an explicit `inf`.
    if x.is_infinite() {
        return Err(Error::input(format!(
            "{text} is out of range for {dtype} (the largest finite value is {})",
            match dtype {
                DType::F32 => fmt_f32(f32::MAX),
                _ => fmt_f64(f64::MAX),
            }
        )));
    }
    Ok(x)
}

/// Converts a parsed argument to a tensor of type `ty`. Three forms are
/// accepted:
///
/// - lists nested exactly like the shape, as for a `const` literal (a bare
///   number for a rank-0 type);
/// - a flat list of all the elements in row-major order (`[1,2,3,4]` for
///   `f64[2,2]`);
/// - a bare number, for a type with one element.
///
/// Anything else (lists nested unlike the shape, even with the right
/// element count) is an error. A finite number too large for the dtype is
/// an error, as in a `const` literal; `bool` parameters take JSON booleans.
pub fn arg_to_tensor(v: &ArgValue, ty: &TensorType) -> Result<Tensor> {
    let flat = elements(v, ty)?;
    let element = |i: usize, r: Result<f64>| r.map_err(|e| e.context(format!("element {i}")));
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
                .enumerate()
                .map(|(i, x)| element(i, parse_float(x, DType::F32)).map(|f| f as f32))
                .collect::<Result<_>>()?,
        ),
        DType::F64 => TensorData::F64(
            flat.iter()
                .enumerate()
                .map(|(i, x)| element(i, parse_float(x, DType::F64)))
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

/// One number as a JSON value, serialized with `serde_json`: finite values
/// as the shortest decimal text that reads back in their dtype ([`fmt_f64`],
/// [`fmt_f32`]: `2`, `-0`, `1e-7`), non-finite ones as the strings `"NaN"`,
/// `"inf"`, `"-inf"`; booleans as `true`/`false`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JsonScalar {
    /// An `f64`.
    F64(f64),
    /// An `f32`.
    F32(f32),
    /// A boolean.
    Bool(bool),
}

impl JsonScalar {
    fn text(self) -> String {
        match self {
            JsonScalar::F64(v) => fmt_f64(v),
            JsonScalar::F32(v) => fmt_f32(v),
            JsonScalar::Bool(b) => b.to_string(),
        }
    }

    fn is_finite(self) -> bool {
        match self {
            JsonScalar::F64(v) => v.is_finite(),
            JsonScalar::F32(v) => v.is_finite(),
            JsonScalar::Bool(_) => true,
        }
    }
}

impl Serialize for JsonScalar {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let text = self.text();
        if !self.is_finite() {
            return s.serialize_str(&text);
        }
        // serde_json's own float format differs (`2.0`, `-0.0`); write
        // today's shortest round-trip text as a raw JSON number.
        RawValue::from_string(text)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// An `f64` as a JSON value: the shortest round-tripping number, or the
/// strings `"NaN"`, `"inf"`, `"-inf"`.
pub fn json_number(v: f64) -> String {
    to_json(&JsonScalar::F64(v))
}

/// Compact JSON text of `v`, with `serde_json`.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    // Serializing these types (plain structs, strings and `JsonScalar`)
    // cannot fail: no map has non-string keys.
    serde_json::to_string(v).unwrap_or_default()
}

/// The elements of a tensor as JSON scalars, row-major.
pub fn json_scalars(t: &Tensor) -> Vec<JsonScalar> {
    match t.data() {
        TensorData::F32(v) => v.iter().map(|&x| JsonScalar::F32(x)).collect(),
        TensorData::F64(v) => v.iter().map(|&x| JsonScalar::F64(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| JsonScalar::Bool(x)).collect(),
    }
}

/// The elements of a tensor as JSON values, row-major.
pub fn json_elements(t: &Tensor) -> Vec<String> {
    json_scalars(t)
        .into_iter()
        .map(|x| match x.is_finite() {
            true => x.text(),
            false => format!("\"{}\"", x.text()),
        })
        .collect()
}

/// One output object of `adjoint run`.
#[derive(Serialize)]
struct RunOutput<'a> {
    name: &'a str,
    dtype: &'static str,
    shape: &'a [usize],
    data: Vec<JsonScalar>,
}

/// The JSON that `adjoint run` prints, one object per output with its name
/// ([`adjoint_ir::Graph::output_names`]):
/// `{"outputs":[{"name":"y","dtype":"f64","shape":[],"data":[14.909297426825681]}]}`.
pub fn outputs_json(names: &[String], outputs: &[Tensor]) -> String {
    #[derive(Serialize)]
    struct Outputs<'a> {
        outputs: Vec<RunOutput<'a>>,
    }
    let outputs = outputs
        .iter()
        .enumerate()
        .map(|(i, t)| RunOutput {
            name: names.get(i).map_or("", String::as_str),
            dtype: t.dtype().name(),
            shape: t.shape().dims(),
            data: json_scalars(t),
        })
        .collect();
    to_json(&Outputs { outputs })
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
            outputs_json(&["y".into(), "b".into()], &[t, b]),
            r#"{"outputs":[{"name":"y","dtype":"f64","shape":[2],"data":["NaN","-inf"]},{"name":"b","dtype":"bool","shape":[1],"data":[true]}]}"#
        );
    }

    /// Issue 15: the JSON is written by serde_json, with today's number
    /// format (serde_json alone writes `2.0`, `-0.0`, and `1e16` as
    /// `1e16` but 1e15 as `1000000000000000.0`).
    #[test]
    fn serde_json_output_keeps_the_number_format() {
        assert_eq!(serde_json::to_string(&2.0f64).unwrap(), "2.0");
        for v in [
            2.0,
            -0.0,
            0.0,
            1e-7,
            1e-5,
            0.1,
            1e15,
            1e16,
            1e21,
            123456789012345680.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            -14.909297426825681,
        ] {
            assert_eq!(json_number(v), fmt_f64(v), "{v:e}");
            // It reads back exactly (as Rust parses decimal text).
            let back: f64 = json_number(v).parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v:e}");
        }
        assert_eq!(json_number(f64::NAN), "\"NaN\"");
        assert_eq!(json_number(f64::INFINITY), "\"inf\"");
        assert_eq!(json_number(f64::NEG_INFINITY), "\"-inf\"");
        let t = Tensor::from_f32([3], vec![0.1, -0.0, f32::NAN]).unwrap();
        assert_eq!(
            outputs_json(&["v".into()], &[t]),
            r#"{"outputs":[{"name":"v","dtype":"f32","shape":[3],"data":[0.1,-0,"NaN"]}]}"#
        );
    }

    /// Issue 15: `--arg` values are read by serde_json, so they are JSON:
    /// escapes in strings are decoded, and what JSON rejects (leading
    /// zeros, a trailing `.`, `null`, objects) is an error.
    #[test]
    fn args_are_json() {
        let ty = TensorType::f64([2]);
        let t = arg(r#"["N\u0061N", "\u0069nf"]"#, &ty).unwrap();
        assert!(t.to_f64_vec()[0].is_nan());
        assert_eq!(t.to_f64_vec()[1], f64::INFINITY);
        for bad in [
            "01",
            "1.",
            "[1,2,]",
            "null",
            "{\"a\":1}",
            "[1 2]",
            "\"inf",
            "+1",
        ] {
            let e = parse_arg(bad).unwrap_err();
            assert!(e.message.starts_with("bad value"), "{bad}: {e}");
        }
        let deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        let e = parse_arg(&deep).unwrap_err();
        assert!(e.message.contains("nested more than 64 deep"), "{e}");
        let ok = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_arg(&ok).is_ok());
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

    fn arg(text: &str, ty: &TensorType) -> Result<Tensor> {
        arg_to_tensor(&parse_arg(text).unwrap(), ty)
    }

    /// Issue 11 item 5: lists nested unlike the shape were accepted when
    /// their element count matched.
    #[test]
    fn nesting_must_match_the_shape() {
        let ty = TensorType::f64([2, 2]);
        let want = Tensor::from_f64([2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        for ok in ["[[1,2],[3,4]]", "[1,2,3,4]", " [ [1, 2] , [3 ,4] ] "] {
            assert_eq!(arg(ok, &ty).unwrap(), want, "{ok}");
        }
        for (bad, why) in [
            ("[[1,2,3],[4]]", "axis 1 needs 2 entries, found 3"),
            ("[[[1,2,3,4]]]", "axis 0 needs 2 entries, found 1"),
            ("[[],[1,[2,[3]]],4]", "axis 0 needs 2 entries, found 3"),
            ("[[1,2],[3,[4]]]", "nested deeper than the rank 2"),
            ("[[1,2],3]", "expected a list at depth 1, found a scalar"),
            ("[[[1,2]],[[3,4]]]", "axis 1 needs 2 entries, found 1"),
            ("[1,2,3]", "expected 4 elements for f64[2,2], got 3"),
            ("5", "expected 4 elements for f64[2,2], got 1"),
        ] {
            let e = arg(bad, &ty).unwrap_err();
            assert!(e.message.contains(why), "{bad}: {e}");
        }
        // Rank 0 and one-element types; empty tensors.
        assert_eq!(
            arg("2.5", &TensorType::f64([])).unwrap(),
            Tensor::scalar_f64(2.5)
        );
        assert_eq!(
            arg("[2.5]", &TensorType::f64([])).unwrap(),
            Tensor::scalar_f64(2.5)
        );
        assert!(arg("[[2.5]]", &TensorType::f64([])).is_err());
        for one in ["2.5", "[2.5]", "[[2.5]]"] {
            let t = arg(one, &TensorType::f64([1, 1])).unwrap();
            assert_eq!(t.to_f64_vec(), vec![2.5], "{one}");
        }
        assert_eq!(arg("[[],[]]", &TensorType::f64([2, 0])).unwrap().len(), 0);
        assert_eq!(arg("[]", &TensorType::f64([2, 0])).unwrap().len(), 0);
        assert!(arg("[[]]", &TensorType::f64([2, 0])).is_err());
        let b = arg("[[true],[false]]", &TensorType::bool([2, 1])).unwrap();
        assert_eq!(b.as_bool().unwrap(), &[true, false]);
    }

    /// The value a `const` literal of `ty` denotes, through the text parser.
    fn const_literal(lit: &str, ty: &str) -> Result<Tensor> {
        let m = adjoint_ir::parse_module(&format!(
            "func @c() -> {ty} {{\n  %c = const {lit} : {ty}\n  return %c\n}}\n"
        ))?;
        let g = m.func("c").unwrap();
        match &g[g.outputs()[0]].op {
            adjoint_ir::Op::Const(t) => Ok(t.clone()),
            other => panic!("not a constant: {other:?}"),
        }
    }

    /// Issue 11 item 5: numbers out of the dtype's range became ±inf. The
    /// rule is the one of `const` literals: a finite literal that overflows
    /// is an error; one that underflows rounds (to a subnormal or a signed
    /// zero), like every other rounding from decimal.
    #[test]
    fn numbers_follow_the_const_literal_rule() {
        let f32s = TensorType::f32([]);
        let f64s = TensorType::f64([]);
        for (text, ty, tyname) in [
            ("1e39", &f32s, "f32"),
            ("-1e39", &f32s, "f32"),
            ("3.5e38", &f32s, "f32"),
            ("1e400", &f64s, "f64"),
            ("-1e400", &f64s, "f64"),
            ("1.8e308", &f64s, "f64"),
        ] {
            let e = arg(text, ty).unwrap_err();
            assert!(e.message.contains("out of range for"), "{text}: {e}");
            let lit = text
                .strip_prefix('-')
                .map_or(text.to_string(), |t| format!("-{t}"));
            assert!(
                const_literal(&lit, tyname).is_err(),
                "const {text} : {tyname}"
            );
        }
        for (text, ty, tyname) in [
            ("1e-46", &f32s, "f32"),
            ("-1e-46", &f32s, "f32"),
            ("1e-45", &f32s, "f32"),
            ("3.4028235e38", &f32s, "f32"),
            ("1e-400", &f64s, "f64"),
            ("-1e-400", &f64s, "f64"),
            ("5e-324", &f64s, "f64"),
            ("1.7976931348623157e308", &f64s, "f64"),
        ] {
            let a = arg(text, ty).unwrap();
            let c = const_literal(text, tyname).unwrap();
            let bits = |t: &Tensor| match t.data() {
                TensorData::F32(v) => v[0].to_bits() as u64,
                TensorData::F64(v) => v[0].to_bits(),
                TensorData::Bool(_) => unreachable!(),
            };
            assert_eq!(bits(&a), bits(&c), "{text} : {tyname}");
        }
        assert_eq!(
            arg("-1e-46", &f32s).unwrap().as_f32().unwrap()[0].to_bits(),
            (-0.0f32).to_bits()
        );
        // The element is named, and explicit infinities stay allowed.
        let e = arg("[1, 2, 1e39]", &TensorType::f32([3])).unwrap_err();
        assert!(
            e.message
                .starts_with("element 2: 1e39 is out of range for f32"),
            "{e}"
        );
        let t = arg("[\"inf\", \"-inf\"]", &TensorType::f32([2])).unwrap();
        assert_eq!(t.as_f32().unwrap(), &[f32::INFINITY, f32::NEG_INFINITY]);
    }

    #[test]
    fn nested_text_of_tensors() {
        let t = Tensor::from_f64([2, 2], vec![1.0, 2.5, 3.0, 4.0]).unwrap();
        assert_eq!(nested_text(&t), "[[1, 2.5], [3, 4]]");
        assert_eq!(nested_text(&Tensor::scalar_f64(1.5)), "1.5");
    }
}
