//! Reductions over one, several (in any order) and all axes, empty axes,
//! and the reduce_sum order contract.

mod common;

use adjoint_interp::{reduce_max_order, reduce_sum_order};
use adjoint_ir::Op;
use common::*;

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn sum(axes: &[usize]) -> Op {
    Op::ReduceSum {
        axes: axes.to_vec(),
    }
}

fn max(axes: &[usize]) -> Op {
    Op::ReduceMax {
        axes: axes.to_vec(),
    }
}

/// [2,3,4] with x[i,j,k] = 100i + 10j + k.
fn cube() -> Vec<f64> {
    (0..24)
        .map(|n| (100 * (n / 12) + 10 * (n / 4 % 3) + n % 4) as f64)
        .collect()
}

#[test]
fn reduce_sum_one_axis() {
    let x = f64t([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_f64(&run1(sum(&[0]), &x), &[3], &[5.0, 7.0, 9.0]);
    assert_f64(&run1(sum(&[1]), &x), &[2], &[6.0, 15.0]);
    assert_f64(&run(sum(&[0, 1]), &[x]), &[], &[21.0]);
    let x = f32t([2, 2], &[0.5, 1.5, -2.0, 4.0]);
    assert_f32(&run(sum(&[1]), &[x]), &[2], &[2.0, 2.0]);
}

#[test]
fn reduce_sum_several_axes_in_any_order() {
    // Over axes 0 and 2: out[j] = Σ_i Σ_k (100i + 10j + k) = 412 + 80j.
    let want = [412.0, 492.0, 572.0];
    assert_f64(&run(sum(&[2, 0]), &[f64t([2, 3, 4], &cube())]), &[3], &want);
    assert_f64(&run(sum(&[0, 2]), &[f64t([2, 3, 4], &cube())]), &[3], &want);
    // Over axes 1 and 2: out[i] = 12 * 100i + 4 * 30 + 3 * 6.
    assert_f64(
        &run(sum(&[2, 1]), &[f64t([2, 3, 4], &cube())]),
        &[2],
        &[138.0, 1338.0],
    );
    // Over axis 1 only: out[i,k] = 300i + 30 + 3k.
    let r = run(sum(&[1]), &[f64t([2, 3, 4], &cube())]);
    assert_f64(
        &r,
        &[2, 4],
        &[30.0, 33.0, 36.0, 39.0, 330.0, 333.0, 336.0, 339.0],
    );
    // All axes, listed out of order: Σ 100i = 1200, Σ 10j = 240, Σ k = 36
    // over the 24 elements.
    assert_f64(
        &run(sum(&[1, 2, 0]), &[f64t([2, 3, 4], &cube())]),
        &[],
        &[1476.0],
    );
}

#[test]
fn reduce_with_no_axes_follows_the_contract() {
    // Each group has one element k = 0: (x + 0) + (0 + 0), so -0.0 becomes
    // +0.0 under reduce_sum; reduce_max of a single -0.0 is fmax(-inf, -0.0).
    let x = f64t([3], &[-0.0, 2.0, NAN]);
    assert_f64(&run1(sum(&[]), &x), &[3], &[0.0, 2.0, NAN]);
    assert_f64(&run(max(&[]), &[x]), &[3], &[-0.0, 2.0, NAN]);
}

#[test]
fn reduce_over_empty_axes() {
    let x = f64t([2, 0], &[]);
    assert_f64(&run1(sum(&[1]), &x), &[2], &[0.0, 0.0]);
    assert_f64(&run1(max(&[1]), &x), &[2], &[-INF, -INF]);
    assert_f64(&run1(sum(&[0]), &x), &[0], &[]);
    assert_f64(&run1(max(&[0, 1]), &x), &[], &[-INF]);
    assert_f64(&run(sum(&[0, 1]), &[x]), &[], &[0.0]);
    let x = f32t([0, 3], &[]);
    assert_f32(&run1(sum(&[0]), &x), &[3], &[0.0; 3]);
    assert_f32(&run(max(&[0]), &[x]), &[3], &[f32::NEG_INFINITY; 3]);
}

#[test]
fn reduce_sum_order_contract() {
    // Element k goes to partial k mod 4: p0 = 1e16 + -1e16 = 0, p1 = p2 =
    // p3 = 1, result 3. Summing in sequence would lose each 1 against 1e16
    // (the spacing of doubles there is 2) and give 0.
    let xs = [1e16, 1.0, 1.0, 1.0, -1e16, 0.0, 0.0, 0.0];
    assert_eq!(xs.iter().fold(0.0, |a, &x| a + x), 0.0);
    assert_f64(&run(sum(&[0]), &[f64t([8], &xs)]), &[], &[3.0]);
    assert_eq!(reduce_sum_order(&xs), 3.0);
    // The partials combine as (p0 + p1) + (p2 + p3), not left to right:
    // (1 + 1e16) + (-1e16 + 1) = 0, while ((1 + 1e16) - 1e16) + 1 = 1.
    let xs = [1.0, 1e16, -1e16, 1.0];
    assert_f64(&run(sum(&[0]), &[f64t([4], &xs)]), &[], &[0.0]);
    // The same in f32, where the spacing at 2^24 is 2.
    let xs = [16777216.0f32, 1.0, 1.0, 1.0, -16777216.0, 0.0, 0.0, 0.0];
    assert_f32(&run(sum(&[0]), &[f32t([8], &xs)]), &[], &[3.0]);
}

#[test]
fn reduce_sum_order_sums_blocks_of_8192_left_to_right() {
    const B: usize = adjoint_ir::REDUCE_SUM_BLOCK;
    assert_eq!(B, 8192);
    // 1e16 + 1 is a tie that rounds to 1e16 (the spacing there is 2).
    // Over one sequence of partials, p0 = 1e16 - 1e16 = 0 and p1 = 1 give
    // 1; in blocks, b0 = (1e16 + 1) + 0 = 1e16 and b1 = -1e16 give 0.
    let mut xs = vec![0.0; 2 * B];
    xs[0] = 1e16;
    xs[1] = 1.0;
    xs[B] = -1e16;
    assert_eq!(reduce_sum_order(&xs), 0.0);
    assert_f64(&run(sum(&[0]), &[f64t([2 * B], &xs)]), &[], &[0.0]);
    // One block exactly is the four-partial sum alone: p0 = 1e16 - 1e16.
    let mut xs = vec![0.0; B];
    xs[0] = 1e16;
    xs[1] = 1.0;
    xs[B - 4] = -1e16;
    assert_eq!(reduce_sum_order(&xs), 1.0);
    // The block sums fold left to right, each block from its own start:
    // b0 = 1e16, b1 = 1 (a one-element block), b2 = 1; (1e16 + 1) + 1 is
    // 1e16 while 1e16 + (1 + 1) would be 1e16 + 2.
    let mut xs = vec![0.0; 2 * B + 1];
    xs[0] = 1e16;
    xs[B + 3] = 1.0;
    xs[2 * B] = 1.0;
    assert_eq!(reduce_sum_order(&xs), 1e16);
    // Rows of a reduction are blocked separately: [2, B + 1] over axis 1.
    let mut xs = vec![0.0; 2 * (B + 1)];
    xs[0] = 1e16;
    xs[1] = 1.0;
    xs[B] = -1e16;
    xs[B + 1] = 2.0;
    let x = f64t([2, B + 1], &xs);
    assert_f64(&run(sum(&[1]), &[x]), &[2], &[0.0, 2.0]);
}

#[test]
fn reduce_sum_order_is_row_major_over_sorted_axes() {
    // [2,1,4] reduced over axes [2,0]: the reduced index space is (i, k),
    // i outer, so the elements come as x[0,0,0..4] then x[1,0,0..4]:
    // [1e16,1,1,1,-1e16,0,0,0] -> 3. Taking k outer instead would give
    // [1e16,-1e16,1,0,1,0,1,0] -> (1e16 - 1e16) + (2 + 0) = 2.
    let x = f64t([2, 1, 4], &[1e16, 1.0, 1.0, 1.0, -1e16, 0.0, 0.0, 0.0]);
    assert_f64(&run1(sum(&[2, 0]), &x), &[1], &[3.0]);
    assert_f64(&run(sum(&[0, 2]), &[x]), &[1], &[3.0]);
    assert_eq!(
        reduce_sum_order(&[1e16, -1e16, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]),
        2.0
    );
}

#[test]
fn reduce_sum_computes_in_f32() {
    // In f32 each +1 is lost against 2^24 (ties to even); in f64 the sum
    // would be 16777218, which is an f32.
    let mut xs = vec![0.0f32; 12];
    xs[0] = 16777216.0;
    xs[4] = 1.0;
    xs[8] = 1.0;
    assert_f32(&run(sum(&[0]), &[f32t([12], &xs)]), &[], &[16777216.0]);
}

#[test]
fn reduce_max_values_nan_and_signed_zero() {
    let x = f64t([2, 3], &[1.0, 5.0, 3.0, 4.0, 2.0, 6.0]);
    assert_f64(&run1(max(&[0]), &x), &[3], &[4.0, 5.0, 6.0]);
    assert_f64(&run1(max(&[1]), &x), &[2], &[5.0, 6.0]);
    assert_f64(&run(max(&[1, 0]), &[x]), &[], &[6.0]);
    let x = f64t([4, 2], &[1.0, -0.0, NAN, -0.0, 3.0, 0.0, 2.0, -0.0]);
    assert_f64(&run1(max(&[0]), &x), &[2], &[NAN, 0.0]);
    assert_f64(&run(max(&[1]), &[x]), &[4], &[1.0, NAN, 3.0, 2.0]);
    let x = f32t([3], &[-0.0, -0.0, -INF as f32]);
    assert_f32(&run(max(&[0]), &[x]), &[], &[-0.0]);
    let x = f32t([2, 2], &[-1.0, f32::NAN, -INF as f32, -3.0]);
    assert_f32(&run(max(&[1]), &[x]), &[2], &[f32::NAN, -3.0]);
    assert!(reduce_max_order(&[1.0, NAN, 2.0]).is_nan());
    assert_eq!(reduce_max_order::<f64>(&[]), -INF);
}

#[test]
fn reduce_max_several_axes_3d() {
    // Over axes 2 and 0: out[j] = 100 + 10j + 3.
    assert_f64(
        &run(max(&[2, 0]), &[f64t([2, 3, 4], &cube())]),
        &[3],
        &[103.0, 113.0, 123.0],
    );
    // Negated, so x[0,0,0] is -0.0 and the largest of its group.
    let x: Vec<f32> = cube().iter().map(|&v| -(v as f32)).collect();
    assert_f32(
        &run(max(&[0, 1]), &[f32t([2, 3, 4], &x)]),
        &[4],
        &[-0.0, -1.0, -2.0, -3.0],
    );
}
