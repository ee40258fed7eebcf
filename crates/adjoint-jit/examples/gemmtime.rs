//! Best-of timing of `gemm` and `matrixmultiply` on the W4 matmul shapes
//! (the figures of docs/performance.md, "GEMM choice"; the criterion bench
//! `jit_gemm_choice` measures the same calls).
use std::time::Instant;

const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("fwd 128x784x256", 128, 784, 256, false, false),
    ("fwd 128x256x256", 128, 256, 256, false, false),
    ("fwd 128x256x10", 128, 256, 10, false, false),
    ("dW 784x128x256 (A^T)", 784, 128, 256, true, false),
    ("dX 128x256x784 (B^T)", 128, 256, 784, false, true),
];

fn strides(rows: usize, cols: usize, t: bool) -> (isize, isize) {
    if t {
        (1, rows as isize)
    } else {
        (cols as isize, 1)
    }
}

fn best(mut f: impl FnMut()) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..30 {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

macro_rules! run {
    ($t:ty, $name:expr, $mm:path) => {
        for &(label, m, k, n, ta, tb) in SHAPES {
            let a: Vec<$t> = (0..m * k).map(|i| ((i % 17) as $t) * 0.01).collect();
            let b: Vec<$t> = (0..k * n).map(|i| ((i % 13) as $t) * 0.02).collect();
            let mut c: Vec<$t> = vec![0.0; m * n];
            let (rsa, csa) = strides(m, k, ta);
            let (rsb, csb) = strides(k, n, tb);
            let flops = 2.0 * (m * k * n) as f64;
            let t_mm = best(|| unsafe {
                $mm(m, k, n, 1.0, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, 0.0, c.as_mut_ptr(), n as isize, 1)
            });
            let mut res = vec![];
            for par in [gemm::Parallelism::None, gemm::Parallelism::Rayon(0)] {
                res.push(best(|| unsafe {
                    gemm::gemm(m, n, k, c.as_mut_ptr(), 1, n as isize, false, a.as_ptr(), csa, rsa, b.as_ptr(), csb, rsb, 0.0, 1.0, false, false, false, par)
                }));
            }
            println!(
                "| {} | {label} | {:.0} µs ({:.1} GFLOP/s) | {:.0} µs ({:.1}) | {:.0} µs ({:.1}) |",
                $name,
                t_mm * 1e6, flops / t_mm / 1e9,
                res[0] * 1e6, flops / res[0] / 1e9,
                res[1] * 1e6, flops / res[1] / 1e9,
            );
        }
    };
}

fn main() {
    println!("| dtype | shape | matrixmultiply (threading) | gemm, 1 thread | gemm, rayon |");
    println!("|---|---|---|---|---|");
    run!(f32, "f32", matrixmultiply::sgemm);
    run!(f64, "f64", matrixmultiply::dgemm);
}
