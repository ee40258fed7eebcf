//! The benchmark behind the GEMM choice (docs/performance.md): `gemm` and
//! `matrixmultiply` on the matmul shapes of W4 (the MLP step, batch 128,
//! 784-256-256-10), forward and backward, in f32 and f64.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

/// (name, m, k, n, a transposed, b transposed)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("fwd_128x784x256", 128, 784, 256, false, false),
    ("fwd_128x256x256", 128, 256, 256, false, false),
    ("fwd_128x256x10", 128, 256, 10, false, false),
    ("dW_784x128x256_at", 784, 128, 256, true, false),
    ("dX_128x256x784_bt", 128, 256, 784, false, true),
];

fn strides(rows: usize, cols: usize, t: bool) -> (isize, isize) {
    // A logical rows x cols matrix stored row-major, or as the transpose of a
    // row-major cols x rows matrix.
    if t {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    }
}

macro_rules! bench_dtype {
    ($c:expr, $t:ty, $name:expr, $mm:path) => {{
        let mut group = $c.benchmark_group(concat!("gemm_choice_", $name));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));
        group.sample_size(20);
        for &(label, m, k, n, ta, tb) in SHAPES {
            let a: Vec<$t> = (0..m * k).map(|i| ((i % 17) as $t) * 0.01).collect();
            let b: Vec<$t> = (0..k * n).map(|i| ((i % 13) as $t) * 0.02).collect();
            let mut c: Vec<$t> = vec![0.0; m * n];
            let (rsa, csa) = strides(m, k, ta);
            let (rsb, csb) = strides(k, n, tb);
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            group.bench_function(BenchmarkId::new("matrixmultiply", label), |bch| {
                bch.iter(|| {
                    // SAFETY: the buffers hold the addressed matrices.
                    unsafe {
                        $mm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            rsa,
                            csa,
                            b.as_ptr(),
                            rsb,
                            csb,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                })
            });
            for (pname, par) in [
                ("gemm_1t", gemm::Parallelism::None),
                ("gemm_rayon", gemm::Parallelism::Rayon(0)),
            ] {
                group.bench_function(BenchmarkId::new(pname, label), |bch| {
                    bch.iter(|| {
                        // SAFETY: the buffers hold the addressed matrices.
                        unsafe {
                            gemm::gemm(
                                m,
                                n,
                                k,
                                c.as_mut_ptr(),
                                1,
                                n as isize,
                                false,
                                a.as_ptr(),
                                csa,
                                rsa,
                                b.as_ptr(),
                                csb,
                                rsb,
                                0.0,
                                1.0,
                                false,
                                false,
                                false,
                                par,
                            )
                        }
                    })
                });
            }
        }
        group.finish();
    }};
}

fn benches(c: &mut Criterion) {
    bench_dtype!(c, f32, "f32", matrixmultiply::sgemm);
    bench_dtype!(c, f64, "f64", matrixmultiply::dgemm);
}

// No plots: plotters' `ab_glyph` feature (the examples' bundled font)
// leaves criterion's charts without a system font.
criterion_group! {
    name = gemm_choice;
    config = Criterion::default().without_plots();
    targets = benches
}
criterion_main!(gemm_choice);
