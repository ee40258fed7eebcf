//! Elementwise ops: unary and binary arithmetic (with `sigmoid`, `relu`
//! and the guarded `pow`), comparisons and boolean logic.

use crate::emit::Emitter;
use adjoint_ir::{BinaryOp, CompareOp, LogicalOp, TensorType, UnaryOp};

/// One operand: its SSA name and type.
pub(crate) type Arg<'a> = (&'a str, &'a TensorType);

/// A unary float op. `sigmoid` is expanded to `1 / (1 + exp(-x))` (the
/// contract's formula; `stablehlo.logistic` differs at special values) and
/// `relu` is `maximum(x, 0)`.
pub(crate) fn unary(em: &mut Emitter, u: UnaryOp, x: Arg, res: &TensorType) -> String {
    let name = match u {
        UnaryOp::Neg => "negate",
        UnaryOp::Abs => "abs",
        UnaryOp::Exp => "exponential",
        UnaryOp::Log => "log",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Sin => "sine",
        UnaryOp::Cos => "cosine",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Sigmoid => {
            let n = em.op("negate", &[x], "", res);
            let e = em.op("exponential", &[(&n, res)], "", res);
            let one = em.splat(res, 1.0);
            let d = em.op("add", &[(&one, res), (&e, res)], "", res);
            return em.op("divide", &[(&one, res), (&d, res)], "", res);
        }
        UnaryOp::Relu => {
            let zero = em.splat(res, 0.0);
            return em.op("maximum", &[x, (&zero, res)], "", res);
        }
    };
    em.op(name, &[x], "", res)
}

/// A binary float op; `pow` is guarded (see [`pow`]).
pub(crate) fn binary(em: &mut Emitter, b: BinaryOp, x: Arg, y: Arg, res: &TensorType) -> String {
    let name = match b {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "subtract",
        BinaryOp::Mul => "multiply",
        BinaryOp::Div => "divide",
        BinaryOp::Max => "maximum",
        BinaryOp::Min => "minimum",
        BinaryOp::Pow => return pow(em, x, y, res),
    };
    em.op(name, &[x, y], "", res)
}

/// `compare DIR, FLOAT` of two floats of one type.
fn cmp(em: &mut Emitter, dir: &str, x: Arg, y: Arg, res: &TensorType) -> String {
    let attrs = format!(
        "comparison_direction = #stablehlo<comparison_direction {dir}>, compare_type = #stablehlo<comparison_type FLOAT>"
    );
    em.op("compare", &[x, y], &attrs, res)
}

/// A comparison, producing `i1`.
pub(crate) fn compare(em: &mut Emitter, c: CompareOp, x: Arg, y: Arg, res: &TensorType) -> String {
    let dir = match c {
        CompareOp::Lt => "LT",
        CompareOp::Le => "LE",
        CompareOp::Gt => "GT",
        CompareOp::Ge => "GE",
        CompareOp::Eq => "EQ",
    };
    cmp(em, dir, x, y, res)
}

/// `and`, `or` (two operands) and `not` (one) on `i1`.
pub(crate) fn logical(em: &mut Emitter, l: LogicalOp, args: &[Arg], res: &TensorType) -> String {
    let name = match l {
        LogicalOp::And => "and",
        LogicalOp::Or => "or",
        LogicalOp::Not => "not",
    };
    em.op(name, args, "", res)
}

/// `pow(x, y)` with the contract's special cases (C99 Annex F) made
/// explicit, since engines differ there (IREE 3.13 gives NaN or a wrong
/// sign for each of them):
/// - `pow(x, ±0) = 1` (NaN `x` included), `pow(1, y) = 1` (NaN `y`
///   included);
/// - a base with the sign bit set (`-0` included) and an integer exponent
///   (`±inf` counts as an even integer) is `±|x|^y`, negative exactly when
///   `y` is odd, with `|x|^y = 1` for `|x| = 1` (`pow(-1, ±inf) = 1`);
/// - `pow(-inf, y)` and `pow(-0, y)` for a non-integer `y` are `|x|^y`.
pub(crate) fn pow(em: &mut Emitter, x: Arg, y: Arg, res: &TensorType) -> String {
    let b = res.with_dtype(adjoint_ir::DType::Bool);
    let one = em.splat(res, 1.0);
    let zero = em.splat(res, 0.0);
    let p = em.op("power", &[x, y], "", res);
    let ax = em.op("abs", &[x], "", res);
    let a = em.op("power", &[(&ax, res), y], "", res);
    // |x| = 1: |x|^y = 1 (IREE: NaN for y = ±inf).
    let ax1 = cmp(em, "EQ", (&ax, res), (&one, res), &b);
    let a = em.op("select", &[(&ax1, &b), (&one, res), (&a, res)], "", res);
    let na = em.op("negate", &[(&a, res)], "", res);
    // y is an integer: floor(y) == y (true for ±inf, where |x|^y is right).
    let fy = em.op("floor", &[y], "", res);
    let isint = cmp(em, "EQ", (&fy, res), y, &b);
    // y is odd: |remainder(y, 2)| == 1 (false for ±inf and NaN).
    let two = em.splat(res, 2.0);
    let rem = em.op("remainder", &[y, (&two, res)], "", res);
    let arem = em.op("abs", &[(&rem, res)], "", res);
    let odd = cmp(em, "EQ", (&arem, res), (&one, res), &b);
    // The sign bit: x < 0, or 1/x < 0 (x = -0).
    let lt0 = cmp(em, "LT", x, (&zero, res), &b);
    let inv = em.op("divide", &[(&one, res), x], "", res);
    let inv0 = cmp(em, "LT", (&inv, res), (&zero, res), &b);
    let neg = em.op("or", &[(&lt0, &b), (&inv0, &b)], "", &b);
    // -inf and -0 take |x|^y for every y; other negatives for integers.
    let fin = cmp(em, "GT", (&ax, res), (&zero, res), &b);
    let inf = em.splat(res, f64::INFINITY);
    let finite = cmp(em, "LT", (&ax, res), (&inf, res), &b);
    let ordinary = em.op("and", &[(&fin, &b), (&finite, &b)], "", &b);
    let special = em.op("not", &[(&ordinary, &b)], "", &b);
    let whole = em.op("or", &[(&isint, &b), (&special, &b)], "", &b);
    let negint = em.op("and", &[(&neg, &b), (&whole, &b)], "", &b);
    let signed = em.op("select", &[(&odd, &b), (&na, res), (&a, res)], "", res);
    let v = em.op(
        "select",
        &[(&negint, &b), (&signed, res), (&p, res)],
        "",
        res,
    );
    let y0 = cmp(em, "EQ", y, (&zero, res), &b);
    let v = em.op("select", &[(&y0, &b), (&one, res), (&v, res)], "", res);
    let x1 = cmp(em, "EQ", x, (&one, res), &b);
    em.op("select", &[(&x1, &b), (&one, res), (&v, res)], "", res)
}
