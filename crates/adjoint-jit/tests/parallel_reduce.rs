//! Reductions split across threads at block boundaries: bit for bit equal
//! to the interpreter, and the same for every thread count, at lengths
//! around the block size and the split points; with elementwise results
//! stored by the same loop, and with padded (recomputed) operands.

mod common;

use adjoint_ir::{DType, Graph, GraphBuilder, Tensor, TensorType, REDUCE_SUM_BLOCK};
use adjoint_jit::{compile, JitOptions};
use common::*;

const B: usize = REDUCE_SUM_BLOCK;

fn opts(threads: usize) -> JitOptions {
    JitOptions {
        threads,
        parallel_min_elems: 1,
        ..JitOptions::default()
    }
}

/// Runs `g` with 1, 2, 3 and 16 threads: every result equals the
/// interpreter's, bit for bit.
fn check_all_threads(g: &Graph, inputs: &[Tensor]) {
    let want = adjoint_interp::eval(g, inputs).unwrap();
    for threads in [1, 2, 3, 16] {
        let f = compile(g, &opts(threads)).unwrap();
        if threads > 1 {
            assert!(f.stats().parallel_kernels > 0, "@{} not split", g.name());
        }
        let got = f.run(inputs).unwrap();
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_same(
                &format!("@{} output {i}, {threads} threads", g.name()),
                a,
                b,
            );
        }
    }
}

#[test]
fn sums_and_maxima_split_at_block_boundaries() {
    for dt in FLOATS {
        for n in [
            B + 1,
            B + 4,
            2 * B - 1,
            2 * B,
            2 * B + 3,
            5 * B + 7,
            100_003,
        ] {
            let b = GraphBuilder::new("sum");
            let x = b.param("x", TensorType::new(dt, [n]));
            // Large values that cancel: any other order changes the bits.
            let s = (x * x.lit(1e8)).sum();
            let m = x.max_all();
            let g = b.build(&[s, m]).unwrap();
            let x = tensor(&TensorType::new(dt, [n]), &data(n, n as u64, -1.0, 1.0));
            check_all_threads(&g, &[x]);
        }
    }
}

#[test]
fn split_reduction_with_stored_values_and_specials() {
    let n = 3 * B + 11;
    let b = GraphBuilder::new("fused");
    let x = b.param("x", TensorType::f64([n]));
    let y = x * x - x;
    let g = b.build(&[y, y.sum()]).unwrap();
    let x = tensor(&TensorType::f64([n]), &data_special(n, 3));
    check_all_threads(&g, &[x]);
}

#[test]
fn rosenbrock_value_split_across_threads() {
    for n in [B + 2, 4 * B + 1, 70_001] {
        let g = rosenbrock(n);
        let x = tensor(&TensorType::f64([n]), &data(n, 9, -1.5, 1.5));
        check_all_threads(&g, &[x]);
    }
}

#[test]
fn long_rows_and_columns_fold_blocks_in_order() {
    for dt in [DType::F32, DType::F64] {
        for (dims, axis) in [([3, 2 * B + 5], 1), ([2 * B + 5, 6], 0)] {
            let b = GraphBuilder::new("rows");
            let x = b.param("x", TensorType::new(dt, dims));
            let g = b.build(&[(x * x.lit(1e8)).sum_axes(&[axis])]).unwrap();
            let n = dims[0] * dims[1];
            let x = tensor(&TensorType::new(dt, dims), &data(n, 4, -1.0, 1.0));
            check_all_threads(&g, &[x]);
        }
    }
}
