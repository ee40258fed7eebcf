//! Shape ops (broadcast, reshape, transpose, slice, pad, concat) on f64,
//! f32 and bool, with broadcasting edge cases and empty axes.

mod common;

use adjoint_interp::eval;
use adjoint_ir::{BinaryOp, Graph, Op, Shape, Tensor, TensorType};
use common::*;

fn bc(shape: &[usize]) -> Op {
    Op::Broadcast {
        shape: Shape::new(shape),
    }
}

/// `f(i, j, k)` over a `[d0, d1, d2]` index space, row-major.
fn fill3(d: [usize; 3], f: impl Fn(usize, usize, usize) -> f64) -> Vec<f64> {
    let mut v = Vec::new();
    for i in 0..d[0] {
        for j in 0..d[1] {
            for k in 0..d[2] {
                v.push(f(i, j, k));
            }
        }
    }
    v
}

#[test]
fn broadcast_vector_to_matrix_rows_and_columns() {
    let r = run(bc(&[2, 3]), &[f64t([3], &[1.0, 2.0, 3.0])]);
    assert_f64(&r, &[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    let r = run(bc(&[2, 3]), &[f64t([2, 1], &[1.0, 2.0])]);
    assert_f64(&r, &[2, 3], &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    let r = run(bc(&[2, 3]), &[f32t([1, 3], &[1.0, -0.0, 3.0])]);
    assert_f32(&r, &[2, 3], &[1.0, -0.0, 3.0, 1.0, -0.0, 3.0]);
}

#[test]
fn broadcast_rank0_to_rank3_and_identity() {
    let r = run(bc(&[2, 1, 2]), &[Tensor::scalar_f64(5.0)]);
    assert_f64(&r, &[2, 1, 2], &[5.0; 4]);
    let r = run(bc(&[]), &[Tensor::scalar_f32(2.5)]);
    assert_f32(&r, &[], &[2.5]);
    let r = run(bc(&[1, 1]), &[f64t([1, 1], &[7.0])]);
    assert_f64(&r, &[1, 1], &[7.0]);
}

#[test]
fn broadcast_middle_size1_axis() {
    // [2,1,3] -> [2,4,3]: each row of 3 is repeated 4 times.
    let x: Vec<f64> = (0..6).map(f64::from).collect();
    let r = run(bc(&[2, 4, 3]), &[f64t([2, 1, 3], &x)]);
    assert_f64(
        &r,
        &[2, 4, 3],
        &fill3([2, 4, 3], |i, _, k| (3 * i + k) as f64),
    );
}

#[test]
fn broadcast_to_and_from_empty() {
    let r = run(bc(&[0]), &[f64t([1], &[3.0])]);
    assert_f64(&r, &[0], &[]);
    let r = run(bc(&[2, 0, 3]), &[f32t([0, 1], &[])]);
    assert_f32(&r, &[2, 0, 3], &[]);
    let r = run(bc(&[4, 0]), &[Tensor::scalar_f64(1.0)]);
    assert_f64(&r, &[4, 0], &[]);
}

#[test]
fn broadcast_bool() {
    let r = run(bc(&[2, 2]), &[boolt([2], &[true, false])]);
    assert_bool(&r, &[2, 2], &[true, false, true, false]);
    let r = run(bc(&[3]), &[boolt([], &[true])]);
    assert_bool(&r, &[3], &[true; 3]);
}

/// `add` with implicit broadcasting (explicit broadcast nodes inserted by
/// the graph), evaluated end to end.
fn add_bc(a: Tensor, b: Tensor) -> Tensor {
    let mut g = Graph::new("add");
    let pa = g.add_param("a", a.ty()).unwrap();
    let pb = g.add_param("b", b.ty()).unwrap();
    let y = g
        .add_broadcasting(Op::Binary(BinaryOp::Add), &[pa, pb])
        .unwrap();
    g.set_outputs(vec![y]);
    adjoint_ir::verify(&g).unwrap();
    eval(&g, &[a, b]).unwrap().pop().unwrap()
}

#[test]
fn implicit_broadcast_trailing_alignment() {
    // [3,1,5] + [4,5] -> [3,4,5]: a[i,0,k] = 100i + k, b[j,k] = 10j.
    let a = fill3([3, 1, 5], |i, _, k| (100 * i + k) as f64);
    let b: Vec<f64> = (0..20).map(|n| (10 * (n / 5)) as f64).collect();
    let r = add_bc(f64t([3, 1, 5], &a), f64t([4, 5], &b));
    assert_f64(
        &r,
        &[3, 4, 5],
        &fill3([3, 4, 5], |i, j, k| (100 * i + 10 * j + k) as f64),
    );
}

#[test]
fn implicit_broadcast_both_sides_and_rank0() {
    // [1,3] + [2,1] -> [2,3].
    let r = add_bc(f64t([1, 3], &[1.0, 2.0, 3.0]), f64t([2, 1], &[10.0, 20.0]));
    assert_f64(&r, &[2, 3], &[11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    // rank 0 + rank 3.
    let r = add_bc(
        Tensor::scalar_f32(1.0),
        f32t([2, 1, 2], &[1.0, 2.0, 3.0, 4.0]),
    );
    assert_f32(&r, &[2, 1, 2], &[2.0, 3.0, 4.0, 5.0]);
    // [1] + [0] -> [0].
    let r = add_bc(f64t([1], &[1.0]), f64t([0], &[]));
    assert_f64(&r, &[0], &[]);
}

#[test]
fn reshape_keeps_row_major_order() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let rs = |s: &[usize]| Op::Reshape {
        shape: Shape::new(s),
    };
    assert_f64(&run(rs(&[3, 2]), &[f64t([2, 3], &x)]), &[3, 2], &x);
    assert_f64(&run(rs(&[6]), &[f64t([2, 3], &x)]), &[6], &x);
    assert_f64(&run(rs(&[1, 2, 1, 3]), &[f64t([6], &x)]), &[1, 2, 1, 3], &x);
    assert_f32(&run(rs(&[]), &[f32t([1, 1], &[4.0])]), &[], &[4.0]);
    assert_f64(
        &run(rs(&[1, 1]), &[Tensor::scalar_f64(4.0)]),
        &[1, 1],
        &[4.0],
    );
    assert_f64(&run(rs(&[3, 0]), &[f64t([0, 3], &[])]), &[3, 0], &[]);
    let b = run(rs(&[2, 2]), &[boolt([4], &[true, false, false, true])]);
    assert_bool(&b, &[2, 2], &[true, false, false, true]);
}

#[test]
fn transpose_2d() {
    let r = run(
        Op::Transpose { perm: vec![1, 0] },
        &[f64t([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
    );
    assert_f64(&r, &[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    let r = run(
        Op::Transpose { perm: vec![0, 1] },
        &[f32t([1, 2], &[1.0, 2.0])],
    );
    assert_f32(&r, &[1, 2], &[1.0, 2.0]);
}

#[test]
fn transpose_3d_every_perm() {
    // x[i,j,k] = 100i + 10j + k over [2,3,4]; result axis a is operand axis
    // perm[a], so result[r0,r1,r2] = x at o[perm[a]] = r[a].
    let d = [2, 3, 4];
    let x = fill3(d, |i, j, k| (100 * i + 10 * j + k) as f64);
    for perm in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let rd = [d[perm[0]], d[perm[1]], d[perm[2]]];
        let want = fill3(rd, |a, b, c| {
            let mut o = [0; 3];
            o[perm[0]] = a;
            o[perm[1]] = b;
            o[perm[2]] = c;
            (100 * o[0] + 10 * o[1] + o[2]) as f64
        });
        let r = run(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[f64t(d, &x)],
        );
        assert_f64(&r, &rd, &want);
    }
    // One case written out by hand: perm [2,0,1] of a [1,2,2].
    let r = run(
        Op::Transpose {
            perm: vec![2, 0, 1],
        },
        &[f64t([1, 2, 2], &[1.0, 2.0, 3.0, 4.0])],
    );
    assert_f64(&r, &[2, 1, 2], &[1.0, 3.0, 2.0, 4.0]);
}

#[test]
fn transpose_bool_and_empty() {
    let r = run(
        Op::Transpose { perm: vec![1, 0] },
        &[boolt([2, 2], &[true, true, false, false])],
    );
    assert_bool(&r, &[2, 2], &[true, false, true, false]);
    let r = run(
        Op::Transpose {
            perm: vec![1, 2, 0],
        },
        &[f32t([0, 2, 3], &[])],
    );
    assert_f32(&r, &[2, 3, 0], &[]);
    let r = run(Op::Transpose { perm: vec![] }, &[Tensor::scalar_f64(3.0)]);
    assert_f64(&r, &[], &[3.0]);
}

fn sl(start: &[usize], end: &[usize], stride: &[usize]) -> Op {
    Op::Slice {
        start: start.to_vec(),
        end: end.to_vec(),
        stride: stride.to_vec(),
    }
}

#[test]
fn slice_strided() {
    let x: Vec<f64> = (0..10).map(f64::from).collect();
    assert_f64(
        &run(sl(&[1], &[8], &[3]), &[f64t([10], &x)]),
        &[3],
        &[1.0, 4.0, 7.0],
    );
    assert_f64(
        &run(sl(&[1], &[7], &[3]), &[f64t([10], &x)]),
        &[2],
        &[1.0, 4.0],
    );
    assert_f64(&run(sl(&[2], &[3], &[5]), &[f64t([10], &x)]), &[1], &[2.0]);
    assert_f64(&run(sl(&[0], &[10], &[1]), &[f64t([10], &x)]), &[10], &x);
    assert_f64(&run(sl(&[4], &[4], &[1]), &[f64t([10], &x)]), &[0], &[]);
    // [4,5], x[i,j] = 10i + j: rows 1,3 and columns 0,2,4.
    let m: Vec<f64> = (0..20).map(|n| (10 * (n / 5) + n % 5) as f64).collect();
    let r = run(sl(&[1, 0], &[4, 5], &[2, 2]), &[f64t([4, 5], &m)]);
    assert_f64(&r, &[2, 3], &[10.0, 12.0, 14.0, 30.0, 32.0, 34.0]);
    let r = run(sl(&[0, 3], &[4, 4], &[3, 1]), &[f64t([4, 5], &m)]);
    assert_f64(&r, &[2, 1], &[3.0, 33.0]);
}

#[test]
fn slice_3d_f32_and_bool() {
    let x: Vec<f32> = (0..24).map(|n| n as f32).collect();
    // [2,3,4]: i in {1}, j in {0,2}, k in {1,3}.
    let r = run(
        sl(&[1, 0, 1], &[2, 3, 4], &[1, 2, 2]),
        &[f32t([2, 3, 4], &x)],
    );
    assert_f32(&r, &[1, 2, 2], &[13.0, 15.0, 21.0, 23.0]);
    let b = boolt([2, 3], &[true, false, true, false, true, false]);
    let r = run(sl(&[0, 1], &[2, 3], &[1, 1]), &[b]);
    assert_bool(&r, &[2, 2], &[false, true, true, false]);
    let r = run(sl(&[], &[], &[]), &[Tensor::scalar_f64(9.0)]);
    assert_f64(&r, &[], &[9.0]);
}

fn pad(lo: &[usize], hi: &[usize]) -> Op {
    Op::Pad {
        lo: lo.to_vec(),
        hi: hi.to_vec(),
    }
}

#[test]
fn pad_with_zeros() {
    let r = run(pad(&[1], &[2]), &[f64t([2], &[1.0, -0.0])]);
    assert_f64(&r, &[5], &[0.0, 1.0, -0.0, 0.0, 0.0]);
    let r = run(
        pad(&[1, 0], &[0, 1]),
        &[f64t([2, 2], &[1.0, 2.0, 3.0, 4.0])],
    );
    assert_f64(&r, &[3, 3], &[0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0]);
    let r = run(pad(&[0, 1, 0], &[1, 0, 1]), &[f32t([1, 1, 2], &[5.0, 6.0])]);
    assert_f32(
        &r,
        &[2, 2, 3],
        &[0.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    );
    let r = run(pad(&[0, 0], &[0, 0]), &[f64t([1, 2], &[1.0, 2.0])]);
    assert_f64(&r, &[1, 2], &[1.0, 2.0]);
}

#[test]
fn pad_bool_and_empty() {
    let r = run(pad(&[1], &[1]), &[boolt([2], &[true, true])]);
    assert_bool(&r, &[4], &[false, true, true, false]);
    let r = run(pad(&[2], &[1]), &[f64t([0], &[])]);
    assert_f64(&r, &[3], &[0.0; 3]);
    let r = run(pad(&[1, 0], &[1, 0]), &[f64t([2, 0], &[])]);
    assert_f64(&r, &[4, 0], &[]);
    let r = run(pad(&[], &[]), &[Tensor::scalar_f32(1.0)]);
    assert_f32(&r, &[], &[1.0]);
}

#[test]
fn concat_one_and_two_operands_2d() {
    let a = f64t([2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = f64t([2, 2], &[5.0, 6.0, 7.0, 8.0]);
    let r = run1(Op::Concat { axis: 0 }, &a);
    assert_f64(&r, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let r = run1(Op::Concat { axis: 1 }, &a);
    assert_f64(&r, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let r = run(Op::Concat { axis: 0 }, &[a.clone(), b.clone()]);
    assert_f64(&r, &[4, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let r = run(Op::Concat { axis: 1 }, &[a, b]);
    assert_f64(&r, &[2, 4], &[1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
}

#[test]
fn concat_three_operands_3d_every_axis() {
    // Part q has sizes `sizes[q]` on the joined axis (one is empty) and
    // element (i,j,k) = 1000q + 100i + 10j + k.
    let sizes = [2, 0, 1];
    for axis in 0..3 {
        let mut parts = Vec::new();
        for (q, &s) in sizes.iter().enumerate() {
            let mut d = [2, 3, 2];
            d[axis] = s;
            parts.push(f64t(
                d,
                &fill3(d, |i, j, k| (1000 * q + 100 * i + 10 * j + k) as f64),
            ));
        }
        let mut rd = [2, 3, 2];
        rd[axis] = 3;
        let want = fill3(rd, |i, j, k| {
            let mut o = [i, j, k];
            // Joined positions 0,1 come from part 0, position 2 from part 2.
            let q = if o[axis] < 2 { 0 } else { 2 };
            if q == 2 {
                o[axis] -= 2;
            }
            (1000 * q + 100 * o[0] + 10 * o[1] + o[2]) as f64
        });
        let r = run(Op::Concat { axis }, &parts);
        assert_f64(&r, &rd, &want);
    }
}

#[test]
fn concat_f32_bool_and_rank1() {
    let r = run(
        Op::Concat { axis: 0 },
        &[
            f32t([1], &[1.0]),
            f32t([2], &[2.0, 3.0]),
            f32t([1], &[-0.0]),
        ],
    );
    assert_f32(&r, &[4], &[1.0, 2.0, 3.0, -0.0]);
    let r = run(
        Op::Concat { axis: 1 },
        &[
            boolt([2, 1], &[true, false]),
            boolt([2, 2], &[false, true, true, false]),
        ],
    );
    assert_bool(&r, &[2, 3], &[true, false, true, false, true, false]);
    let r = run(
        Op::Concat { axis: 0 },
        &[f64t([0, 2], &[]), f64t([0, 2], &[])],
    );
    assert_f64(&r, &[0, 2], &[]);
}

#[test]
fn shape_ops_are_dtype_preserving() {
    let t = boolt([2, 3], &[true; 6]);
    for op in [
        bc(&[2, 2, 3]),
        Op::Reshape {
            shape: Shape::new([3, 2]),
        },
        Op::Transpose { perm: vec![1, 0] },
        sl(&[0, 0], &[1, 3], &[1, 2]),
        pad(&[1, 1], &[0, 0]),
        Op::Concat { axis: 1 },
    ] {
        let r = run(op.clone(), std::slice::from_ref(&t));
        assert_eq!(r.ty().dtype, TensorType::bool([]).dtype, "{}", op.name());
    }
}
