//! Elementwise ops (unary, binary, compare, select, cast) against
//! hand-computed values, in f64 and f32, including IEEE special values.

mod common;

use adjoint_interp::eval;
use adjoint_ir::{BinaryOp, CompareOp, DType, GraphBuilder, Op, Tensor, TensorType, UnaryOp};
use common::*;
use std::f64::consts::E;

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;
const INF32: f32 = f32::INFINITY;
const NAN32: f32 = f32::NAN;

fn un64(op: UnaryOp, xs: &[f64]) -> Vec<f64> {
    let t = run(Op::Unary(op), &[f64t([xs.len()], xs)]);
    t.as_f64().unwrap().to_vec()
}

fn un32(op: UnaryOp, xs: &[f32]) -> Vec<f32> {
    let t = run(Op::Unary(op), &[f32t([xs.len()], xs)]);
    t.as_f32().unwrap().to_vec()
}

fn bin64(op: BinaryOp, a: &[f64], b: &[f64]) -> Tensor {
    run(Op::Binary(op), &[f64t([a.len()], a), f64t([b.len()], b)])
}

fn bin32(op: BinaryOp, a: &[f32], b: &[f32]) -> Tensor {
    run(Op::Binary(op), &[f32t([a.len()], a), f32t([b.len()], b)])
}

#[test]
fn seed_function_f64() {
    let b = GraphBuilder::new("f");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let g = b.build(&[x1 * x2 + x1.sin()]).unwrap();
    let out = eval(&g, &[Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)]).unwrap();
    assert_eq!(out.len(), 1);
    assert_f64(&out[0], &[], &[14.909297426825681]);
}

#[test]
fn seed_function_f32() {
    let b = GraphBuilder::new("f");
    let x1 = b.param("x1", TensorType::f32([]));
    let x2 = b.param("x2", TensorType::f32([]));
    let g = b.build(&[x1 * x2 + x1.sin()]).unwrap();
    let out = eval(&g, &[Tensor::scalar_f32(2.0), Tensor::scalar_f32(7.0)]).unwrap();
    assert_close_f32(out[0].as_f32().unwrap()[0], 14.909297, 1);
}

#[test]
fn neg_flips_the_sign_bit() {
    let r = run(
        Op::Unary(UnaryOp::Neg),
        &[f64t([6], &[1.5, -2.0, 0.0, -0.0, INF, NAN])],
    );
    assert_f64(&r, &[6], &[-1.5, 2.0, -0.0, 0.0, -INF, NAN]);
    assert_eq!(r.as_f64().unwrap()[5].to_bits(), NAN.to_bits() ^ (1 << 63));
    let r = un32(UnaryOp::Neg, &[1.5, 0.0, -INF32, NAN32]);
    assert_eq!(r[0], -1.5);
    assert!(r[1].is_sign_negative() && r[1] == 0.0);
    assert_eq!(r[2], INF32);
    assert_eq!(r[3].to_bits(), NAN32.to_bits() ^ (1 << 31));
}

#[test]
fn abs_clears_the_sign_bit() {
    let r = run(
        Op::Unary(UnaryOp::Abs),
        &[f64t([5], &[-1.5, 2.0, -0.0, -INF, -NAN])],
    );
    assert_f64(&r, &[5], &[1.5, 2.0, 0.0, INF, NAN]);
    assert_eq!(r.as_f64().unwrap()[4].to_bits(), NAN.to_bits());
    let r = run(Op::Unary(UnaryOp::Abs), &[f32t([3], &[-1.5, -0.0, -NAN32])]);
    assert_f32(&r, &[3], &[1.5, 0.0, NAN32]);
    assert_eq!(r.as_f32().unwrap()[2].to_bits(), NAN32.to_bits());
}

#[test]
fn exp() {
    let r = un64(UnaryOp::Exp, &[0.0, 1.0, -INF, INF, 710.0, NAN, -800.0]);
    assert_eq!(r[0], 1.0);
    assert_close_f64(r[1], E, 1);
    assert_eq!((r[2], r[3], r[4]), (0.0, INF, INF)); // 710 overflows
    assert!(r[5].is_nan());
    assert_eq!(r[6], 0.0);
    let r = un32(UnaryOp::Exp, &[0.0, 1.0, -INF32, 89.0, NAN32]);
    assert_eq!(r[0], 1.0);
    assert_close_f32(r[1], std::f32::consts::E, 1);
    assert_eq!((r[2], r[3]), (0.0, INF32)); // 89 overflows f32
    assert!(r[4].is_nan());
}

#[test]
fn log() {
    let r = un64(UnaryOp::Log, &[1.0, E, 0.0, -0.0, -1.0, INF, NAN, 2.0]);
    assert_eq!(r[0], 0.0);
    assert_close_f64(r[1], 1.0, 1);
    assert_eq!((r[2], r[3]), (-INF, -INF));
    assert!(r[4].is_nan() && r[6].is_nan());
    assert_eq!(r[5], INF);
    assert_close_f64(r[7], std::f64::consts::LN_2, 1);
    let r = un32(UnaryOp::Log, &[1.0, 0.0, -1.0, INF32, 2.0]);
    assert_eq!((r[0], r[1], r[3]), (0.0, -INF32, INF32));
    assert!(r[2].is_nan());
    assert_close_f32(r[4], std::f32::consts::LN_2, 1);
}

#[test]
fn sqrt_is_correctly_rounded() {
    let r = run(
        Op::Unary(UnaryOp::Sqrt),
        &[f64t([7], &[4.0, 2.0, 0.0, -0.0, -1.0, INF, NAN])],
    );
    assert_f64(
        &r,
        &[7],
        &[2.0, std::f64::consts::SQRT_2, 0.0, -0.0, NAN, INF, NAN],
    );
    let r = run(
        Op::Unary(UnaryOp::Sqrt),
        &[f32t([4], &[4.0, 2.0, -0.0, -1.0])],
    );
    assert_f32(&r, &[4], &[2.0, std::f32::consts::SQRT_2, -0.0, NAN32]);
}

#[test]
fn sin_cos() {
    let s = un64(UnaryOp::Sin, &[0.0, -0.0, 1.0, 2.0, INF, NAN]);
    assert!(s[0] == 0.0 && s[0].is_sign_positive());
    assert!(s[1] == 0.0 && s[1].is_sign_negative());
    assert_close_f64(s[2], 0.8414709848078965, 1);
    assert_close_f64(s[3], 0.9092974268256817, 1);
    assert!(s[4].is_nan() && s[5].is_nan());
    let c = un64(UnaryOp::Cos, &[0.0, 1.0, std::f64::consts::PI, INF]);
    assert_eq!(c[0], 1.0);
    assert_close_f64(c[1], 0.5403023058681398, 1);
    assert_eq!(c[2], -1.0);
    assert!(c[3].is_nan());
    let s = un32(UnaryOp::Sin, &[0.0, 1.0, 2.0, -INF32]);
    assert_eq!(s[0], 0.0);
    assert_close_f32(s[1], 0.84147096, 1);
    assert_close_f32(s[2], 0.9092974, 1);
    assert!(s[3].is_nan());
    let c = un32(UnaryOp::Cos, &[0.0, 1.0]);
    assert_eq!(c[0], 1.0);
    assert_close_f32(c[1], 0.5403023, 1);
}

#[test]
fn tanh() {
    let r = un64(UnaryOp::Tanh, &[0.0, -0.0, 0.5, 20.0, -INF, INF, NAN]);
    assert!(r[0] == 0.0 && r[0].is_sign_positive());
    assert!(r[1] == 0.0 && r[1].is_sign_negative());
    assert_close_f64(r[2], 0.46211715726000974, 1);
    assert_eq!((r[3], r[4], r[5]), (1.0, -1.0, 1.0));
    assert!(r[6].is_nan());
    let r = un32(UnaryOp::Tanh, &[0.5, -20.0, NAN32]);
    assert_close_f32(r[0], 0.46211717, 1);
    assert_eq!(r[1], -1.0);
    assert!(r[2].is_nan());
}

#[test]
fn sigmoid() {
    let r = un64(
        UnaryOp::Sigmoid,
        &[0.0, 2.0, -800.0, 800.0, -INF, INF, NAN, -2.0],
    );
    assert_eq!(r[0], 0.5);
    assert_close_f64(r[1], 0.8807970779778823, 1);
    // exp(800) = inf, so 1 / (1 + inf) = 0; exp(-800) = 0, so 1 / 1 = 1.
    assert_eq!((r[2], r[3], r[4], r[5]), (0.0, 1.0, 0.0, 1.0));
    assert!(r[6].is_nan());
    assert_close_f64(r[7], 0.11920292202211755, 1);
    let r = un32(UnaryOp::Sigmoid, &[0.0, 2.0, -89.0, -2.0]);
    assert_eq!(r[0], 0.5);
    assert_close_f32(r[1], 0.880797, 1);
    // Computed in f32: expf(89) overflows, so the result is exactly 0. In
    // f64 it would be about 2.2e-39, a nonzero f32 subnormal.
    assert_eq!(r[2].to_bits(), 0);
    assert_close_f32(r[3], 0.11920292, 1);
    // Bit for bit the formula 1 / (1 + exp(-x)) in f32.
    assert_eq!(r[3], 1.0f32 / (1.0f32 + 2.0f32.exp()));
}

#[test]
fn relu() {
    let r = run(
        Op::Unary(UnaryOp::Relu),
        &[f64t([7], &[-1.0, 2.5, -0.0, 0.0, NAN, -INF, INF])],
    );
    assert_f64(&r, &[7], &[0.0, 2.5, 0.0, 0.0, NAN, 0.0, INF]);
    let r = run(
        Op::Unary(UnaryOp::Relu),
        &[f32t([4], &[-3.0, 0.25, -0.0, NAN32])],
    );
    assert_f32(&r, &[4], &[0.0, 0.25, 0.0, NAN32]);
}

#[test]
fn unary_ops_keep_shape_including_rank0_and_empty() {
    for op in UnaryOp::ALL {
        let r = run(Op::Unary(op), &[f64t([2, 0, 3], &[])]);
        assert_f64(&r, &[2, 0, 3], &[]);
        let r = run(Op::Unary(op), &[Tensor::scalar_f32(0.5)]);
        assert_eq!(r.ty(), TensorType::f32([]));
    }
}

#[test]
fn add_sub_mul_f64() {
    let r = bin64(
        BinaryOp::Add,
        &[1.0, 0.1, INF, INF, -0.0, -0.0],
        &[2.0, 0.2, -INF, 1.0, -0.0, 0.0],
    );
    assert_f64(&r, &[6], &[3.0, 0.30000000000000004, NAN, INF, -0.0, 0.0]);
    let r = bin64(
        BinaryOp::Sub,
        &[5.0, 0.0, INF, 0.0, -0.0],
        &[3.0, 0.0, INF, -0.0, 0.0],
    );
    assert_f64(&r, &[5], &[2.0, 0.0, NAN, 0.0, -0.0]);
    let r = bin64(
        BinaryOp::Mul,
        &[3.0, -0.0, INF, 1e300, -2.0],
        &[4.0, 5.0, 0.0, 1e300, 1e300],
    );
    assert_f64(&r, &[5], &[12.0, -0.0, NAN, INF, -2e300]);
}

#[test]
fn add_sub_mul_f32() {
    let r = bin32(
        BinaryOp::Add,
        &[1.0, 16777216.0, INF32, -0.0],
        &[2.0, 1.0, -INF32, -0.0],
    );
    assert_f32(&r, &[4], &[3.0, 16777216.0, NAN32, -0.0]);
    let r = bin32(BinaryOp::Sub, &[5.0, 0.0], &[3.0, 0.0]);
    assert_f32(&r, &[2], &[2.0, 0.0]);
    let r = bin32(BinaryOp::Mul, &[3.0, 1e30, -0.0], &[4.0, 1e30, 2.0]);
    assert_f32(&r, &[3], &[12.0, INF32, -0.0]);
}

#[test]
fn div_ieee() {
    let r = bin64(
        BinaryOp::Div,
        &[1.0, -1.0, 0.0, 1.0, 6.0, -1.0, INF],
        &[0.0, 0.0, 0.0, -0.0, 3.0, INF, INF],
    );
    assert_f64(&r, &[7], &[INF, -INF, NAN, -INF, 2.0, -0.0, NAN]);
    let r = bin32(BinaryOp::Div, &[1.0, 0.0, 1.0, 1.0], &[0.0, 0.0, -0.0, 3.0]);
    assert_f32(&r, &[4], &[INF32, NAN32, -INF32, 1.0 / 3.0]);
}

#[test]
fn pow_is_powf() {
    let a = [2.0, 4.0, 2.0, 0.0, -8.0, NAN, 1.0, -2.0, -0.0, 10.0];
    let b = [10.0, 0.5, -1.0, -1.0, 1.0 / 3.0, 0.0, NAN, 3.0, -1.0, 400.0];
    let r = bin64(BinaryOp::Pow, &a, &b);
    assert_f64(
        &r,
        &[10],
        &[1024.0, 2.0, 0.5, INF, NAN, 1.0, 1.0, -8.0, -INF, INF],
    );
    let r = bin32(
        BinaryOp::Pow,
        &[2.0, 4.0, -8.0, 10.0],
        &[10.0, 0.5, 0.5, 40.0],
    );
    assert_f32(&r, &[4], &[1024.0, 2.0, NAN32, INF32]);
}

#[test]
fn max_min_propagate_nan_and_order_signed_zeros() {
    let a = [1.0, 3.0, NAN, 1.0, -0.0, 0.0, -INF, INF, -0.0, 0.0];
    let b = [2.0, 2.0, 1.0, NAN, 0.0, -0.0, 5.0, NAN, -0.0, 0.0];
    let r = bin64(BinaryOp::Max, &a, &b);
    assert_f64(
        &r,
        &[10],
        &[2.0, 3.0, NAN, NAN, 0.0, 0.0, 5.0, NAN, -0.0, 0.0],
    );
    let r = bin64(BinaryOp::Min, &a, &b);
    assert_f64(
        &r,
        &[10],
        &[1.0, 2.0, NAN, NAN, -0.0, -0.0, -INF, NAN, -0.0, 0.0],
    );

    let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
    let r = bin32(BinaryOp::Max, &a32, &b32);
    assert_f32(
        &r,
        &[10],
        &[2.0, 3.0, NAN32, NAN32, 0.0, 0.0, 5.0, NAN32, -0.0, 0.0],
    );
    let r = bin32(BinaryOp::Min, &a32, &b32);
    assert_f32(
        &r,
        &[10],
        &[1.0, 2.0, NAN32, NAN32, -0.0, -0.0, -INF32, NAN32, -0.0, 0.0],
    );
}

#[test]
fn binary_ops_on_rank0_and_empty() {
    for op in BinaryOp::ALL {
        let r = run(Op::Binary(op), &[f32t([0, 4], &[]), f32t([0, 4], &[])]);
        assert_f32(&r, &[0, 4], &[]);
    }
    let r = run(
        Op::Binary(BinaryOp::Sub),
        &[Tensor::scalar_f64(1.0), Tensor::scalar_f64(3.0)],
    );
    assert_f64(&r, &[], &[-2.0]);
}

fn cmp_case(op: CompareOp) -> Vec<bool> {
    let a = [1.0, 2.0, 2.0, NAN, -0.0, -INF, NAN];
    let b = [2.0, 2.0, 1.0, 1.0, 0.0, INF, NAN];
    let r64 = run(Op::Compare(op), &[f64t([7], &a), f64t([7], &b)]);
    let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
    let r32 = run(Op::Compare(op), &[f32t([7], &a32), f32t([7], &b32)]);
    assert_eq!(r64.dtype(), DType::Bool);
    assert_eq!(r64.as_bool(), r32.as_bool(), "{} f32 vs f64", op.name());
    r64.as_bool().unwrap().to_vec()
}

#[test]
fn compares_are_ieee() {
    const T: bool = true;
    const F: bool = false;
    assert_eq!(cmp_case(CompareOp::Lt), [T, F, F, F, F, T, F]);
    assert_eq!(cmp_case(CompareOp::Le), [T, T, F, F, T, T, F]);
    assert_eq!(cmp_case(CompareOp::Gt), [F, F, T, F, F, F, F]);
    assert_eq!(cmp_case(CompareOp::Ge), [F, T, T, F, T, F, F]);
    assert_eq!(cmp_case(CompareOp::Eq), [F, T, F, F, T, F, F]);
}

#[test]
fn select_picks_elementwise_for_every_dtype() {
    let c = boolt([2, 2], &[true, false, false, true]);
    let r = run(
        Op::Select,
        &[
            c.clone(),
            f64t([2, 2], &[1.0, 2.0, 3.0, 4.0]),
            f64t([2, 2], &[-1.0, -2.0, NAN, -4.0]),
        ],
    );
    assert_f64(&r, &[2, 2], &[1.0, -2.0, NAN, 4.0]);
    let r = run(
        Op::Select,
        &[
            c.clone(),
            f32t([2, 2], &[1.0, 2.0, 3.0, -0.0]),
            f32t([2, 2], &[5.0, 6.0, 7.0, 8.0]),
        ],
    );
    assert_f32(&r, &[2, 2], &[1.0, 6.0, 7.0, -0.0]);
    let r = run(
        Op::Select,
        &[
            c,
            boolt([2, 2], &[true, true, false, false]),
            boolt([2, 2], &[false, false, true, true]),
        ],
    );
    assert_bool(&r, &[2, 2], &[true, false, true, false]);
    let r = run(
        Op::Select,
        &[
            boolt([], &[false]),
            Tensor::scalar_f64(1.0),
            Tensor::scalar_f64(2.0),
        ],
    );
    assert_f64(&r, &[], &[2.0]);
}

#[test]
fn select_with_implicit_broadcast() {
    let b = GraphBuilder::new("s");
    let x = b.param("x", TensorType::f64([3]));
    let zero = b.scalar(0.0, DType::F64);
    let m = x.try_gt(zero).unwrap();
    let g = b.build(&[m.select(x, zero)]).unwrap();
    let out = eval(&g, &[f64t([3], &[-1.0, 2.0, NAN])]).unwrap();
    assert_f64(&out[0], &[3], &[0.0, 2.0, 0.0]);
}

#[test]
fn cast_f64_to_f32_rounds_to_nearest_even() {
    // 16777217 and 16777219 lie halfway between neighbouring f32s and go to
    // the even one; 3.4028235677973366e38 lies halfway between f32::MAX
    // (odd) and 2^128, so it rounds to infinity.
    let x = [
        0.1,
        1e40,
        16777217.0,
        16777219.0,
        NAN,
        -0.0,
        -1e-50,
        3.4028234663852886e38,
        3.4028235677973366e38,
    ];
    let r = run(Op::Cast { to: DType::F32 }, &[f64t([9], &x)]);
    assert_f32(
        &r,
        &[9],
        &[
            0.1,
            INF32,
            16777216.0,
            16777220.0,
            NAN32,
            -0.0,
            -0.0,
            f32::MAX,
            INF32,
        ],
    );
}

#[test]
fn cast_f32_to_f64_is_exact() {
    let r = run(
        Op::Cast { to: DType::F64 },
        &[f32t([4], &[0.1, -0.0, INF32, NAN32])],
    );
    assert_f64(&r, &[4], &[0.10000000149011612, -0.0, INF, NAN]);
}

#[test]
fn cast_from_bool_and_identity() {
    let r = run(
        Op::Cast { to: DType::F64 },
        &[boolt([3], &[true, false, true])],
    );
    assert_f64(&r, &[3], &[1.0, 0.0, 1.0]);
    let r = run(
        Op::Cast { to: DType::F32 },
        &[boolt([2, 1], &[false, true])],
    );
    assert_f32(&r, &[2, 1], &[0.0, 1.0]);
    // A same-dtype cast keeps every bit, NaN payloads included.
    let odd_nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let r = run(Op::Cast { to: DType::F64 }, &[f64t([2], &[odd_nan, -0.0])]);
    assert_eq!(r.as_f64().unwrap()[0].to_bits(), odd_nan.to_bits());
    assert_f64(&r, &[2], &[NAN, -0.0]);
    let r = run(Op::Cast { to: DType::F32 }, &[f32t([1], &[1.5])]);
    assert_f32(&r, &[1], &[1.5]);
}
