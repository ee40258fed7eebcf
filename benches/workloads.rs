//! The project's benchmark workloads (../shared/workloads.md), with their
//! exact ids, run through the AD passes and the Cranelift JIT.
//!
//! W5 (full Jacobians through the Jacobian-chain pass) is benchmarked by the
//! chain pass's own benches. W8–W11 (loops, issue 12) build their programs
//! with the builder's loop closures (`scan`, `while`), never unrolled; each
//! first checks its answer against the reference values of workloads.md.
//! W12 (issue 14) times W9's cell over 10,000 steps under each memory
//! budget (benches/common/w12.rs).

#[path = "common/rnn.rs"]
mod rnn;
#[path = "common/w12.rs"]
mod w12;

use adjoint::ir::{CompareOp, DType, Graph, GraphBuilder, Op, ScanOpts, TensorType, Value};
use adjoint::jit::{compile, BufMut, BufRef, CompiledFn, JitOptions};
use adjoint::passes::PassManager;
use criterion::{criterion_group, criterion_main, Criterion};
use rnn::W9;
use std::hint::black_box;
use std::time::Duration;

const OPT: &str = "simplify,cse,dce";

/// Runs `pipeline`, keeps only the outputs `keep`, and cleans up.
fn derive(mut g: Graph, pipeline: &str, keep: &[usize]) -> Graph {
    PassManager::parse(pipeline).unwrap().run(&mut g).unwrap();
    let outs: Vec<_> = keep.iter().map(|&k| g.outputs()[k]).collect();
    g.set_outputs(outs);
    PassManager::parse(OPT).unwrap().run(&mut g).unwrap();
    g
}

fn jit(g: &Graph) -> CompiledFn {
    compile(g, &JitOptions::default()).unwrap()
}

fn linspace(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect()
}

fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t1 = a - c * c;
    let t2 = c.lit(1.0) - c;
    let f = (t1.lit(100.0) * t1 * t1 + t2 * t2).sum();
    b.build(&[f]).unwrap()
}

fn w1(c: &mut Criterion) {
    let b = GraphBuilder::new("w1");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let g = derive(b.build(&[x1 * x2 + x1.sin()]).unwrap(), "grad", &[1, 2]);
    let f = jit(&g);
    let (mut d1, mut d2) = ([0.0], [0.0]);
    f.call_f64(&[&[2.0], &[7.0]], &mut [&mut d1, &mut d2])
        .unwrap();
    assert!((d1[0] - 6.583853163452858).abs() < 1e-14 && d2[0] == 2.0);
    c.bench_function("W1_seed_scalar_grad", |bch| {
        bch.iter(|| {
            f.call_f64(
                &[black_box(&[2.0]), black_box(&[7.0])],
                &mut [&mut d1, &mut d2],
            )
            .unwrap();
        })
    });
}

fn w2(c: &mut Criterion) {
    let b = GraphBuilder::new("w2");
    let x = b.param("x", TensorType::f64([]));
    let g = derive(
        b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap(),
        "grad",
        &[1],
    );
    let f = jit(&g);
    let mut d = [0.0];
    c.bench_function("W2_sigmoid3_grad", |bch| {
        bch.iter(|| f.call_f64(&[black_box(&[100.0])], &mut [&mut d]).unwrap())
    });
}

fn w3(c: &mut Criterion) {
    for (n, id) in [
        (1000, "W3_rosenbrock_grad_n1000"),
        (1_000_000, "W3_rosenbrock_grad_n1000000"),
    ] {
        let g = derive(rosenbrock(n), "grad", &[1]);
        let f = jit(&g);
        let x = linspace(n);
        let mut d = vec![0.0; n];
        c.bench_function(id, |bch| {
            bch.iter(|| f.call_f64(&[black_box(&x)], &mut [&mut d]).unwrap())
        });
        // The function alone, for the gradient/function time ratio.
        let fv = jit(&rosenbrock(n));
        let mut v = [0.0];
        c.bench_function(&format!("W3_rosenbrock_value_n{n}"), |bch| {
            bch.iter(|| fv.call_f64(&[black_box(&x)], &mut [&mut v]).unwrap())
        });
    }
}

fn mlp(dt: DType) -> Graph {
    let bsz = 128;
    let b = GraphBuilder::new("mlp");
    let x = b.param("x", TensorType::new(dt, [bsz, 784]));
    let labels = b.param("labels", TensorType::new(dt, [bsz, 10]));
    let w1 = b.param("w1", TensorType::new(dt, [784, 256]));
    let b1 = b.param("b1", TensorType::new(dt, [256]));
    let w2 = b.param("w2", TensorType::new(dt, [256, 256]));
    let b2 = b.param("b2", TensorType::new(dt, [256]));
    let w3 = b.param("w3", TensorType::new(dt, [256, 10]));
    let b3 = b.param("b3", TensorType::new(dt, [10]));
    let h1 = (x.matmul(w1) + b1).tanh();
    let h2 = (h1.matmul(w2) + b2).tanh();
    let logits = h2.matmul(w3) + b3;
    let loss = logits.cross_entropy(labels);
    b.build(&[loss]).unwrap()
}

fn det(n: usize, seed: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((((i * 7919 + seed * 104729) % 2003) as f32) / 1001.5 - 1.0) * scale)
        .collect()
}

fn w4(c: &mut Criterion) {
    let g0 = mlp(DType::F32);
    let g = derive(
        g0.clone(),
        "grad{wrt=w1,b1,w2,b2,w3,b3}",
        &[0, 1, 2, 3, 4, 5, 6],
    );
    let f = jit(&g);
    let x = det(128 * 784, 1, 1.0);
    let mut labels = vec![0.0f32; 128 * 10];
    for r in 0..128 {
        labels[r * 10 + r % 10] = 1.0;
    }
    let w1 = det(784 * 256, 2, 0.05);
    let b1 = det(256, 3, 0.01);
    let w2 = det(256 * 256, 4, 0.06);
    let b2 = det(256, 5, 0.01);
    let w3 = det(256 * 10, 6, 0.06);
    let b3 = det(10, 7, 0.01);
    let ins = [
        BufRef::F32(&x),
        BufRef::F32(&labels),
        BufRef::F32(&w1),
        BufRef::F32(&b1),
        BufRef::F32(&w2),
        BufRef::F32(&b2),
        BufRef::F32(&w3),
        BufRef::F32(&b3),
    ];
    let mut loss = [0.0f32];
    let mut gw1 = vec![0.0f32; 784 * 256];
    let mut gb1 = vec![0.0f32; 256];
    let mut gw2 = vec![0.0f32; 256 * 256];
    let mut gb2 = vec![0.0f32; 256];
    let mut gw3 = vec![0.0f32; 2560];
    let mut gb3 = vec![0.0f32; 10];
    c.bench_function("W4_mlp_step_f32", |bch| {
        bch.iter(|| {
            f.call(
                &ins,
                &mut [
                    BufMut::F32(&mut loss),
                    BufMut::F32(&mut gw1),
                    BufMut::F32(&mut gb1),
                    BufMut::F32(&mut gw2),
                    BufMut::F32(&mut gb2),
                    BufMut::F32(&mut gw3),
                    BufMut::F32(&mut gb3),
                ],
            )
            .unwrap()
        })
    });
    let fl = jit(&g0);
    c.bench_function("W4_mlp_loss_f32", |bch| {
        bch.iter(|| fl.call(&ins, &mut [BufMut::F32(&mut loss)]).unwrap())
    });
}

fn w6(c: &mut Criterion) {
    let n = 10_000;
    // Forward over reverse: outputs after grad and jvp are
    // [f, df/dx, tangent of f, tangent of df/dx = H v].
    let g = derive(rosenbrock(n), "grad{wrt=x},jvp{wrt=x}", &[3]);
    let f = jit(&g);
    let x = linspace(n);
    let v = vec![1.0; n];
    let mut hv = vec![0.0; n];
    c.bench_function("W6_hvp_rosenbrock_n10000", |bch| {
        bch.iter(|| f.call_f64(&[black_box(&x), &v], &mut [&mut hv]).unwrap())
    });
}

/// W7: build, differentiate, optimise and compile.
pub fn w7_build_and_compile() -> CompiledFn {
    let b = GraphBuilder::new("w7");
    let mut x = b.param("x", TensorType::f64([16]));
    for _ in 0..250 {
        x = x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5);
    }
    let g = derive(b.build(&[x.sum()]).unwrap(), "grad", &[1]);
    jit(&g)
}

fn w7(c: &mut Criterion) {
    let mut group = c.benchmark_group("w7");
    group.sample_size(10);
    group.bench_function("W7_compile_1000op_grad", |bch| {
        bch.iter(|| black_box(w7_build_and_compile()))
    });
    group.finish();
}

/// Panics unless `got` is within `tol` (absolute) of `want`.
fn check(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.17e}, expected {want:.17e} (tolerance {tol:e})"
    );
}

/// The Lorenz vector field.
fn lorenz<'c>([x, y, z]: [Value<'c>; 3], [s, r, b]: [Value<'c>; 3]) -> [Value<'c>; 3] {
    [s * (y - x), x * (r - z) - y, x * y - b * z]
}

/// One classic RK4 step of size `dt`, in the peers' order of operations.
fn rk4<'c>(u: [Value<'c>; 3], th: [Value<'c>; 3], dt: f64) -> [Value<'c>; 3] {
    let axpy = |a: f64, k: [Value<'c>; 3]| [0, 1, 2].map(|i| u[i] + k[i] * a);
    let k1 = lorenz(u, th);
    let k2 = lorenz(axpy(0.5 * dt, k1), th);
    let k3 = lorenz(axpy(0.5 * dt, k2), th);
    let k4 = lorenz(axpy(dt, k3), th);
    [0, 1, 2].map(|i| u[i] + (k1[i] + k2[i] * 2.0 + k3[i] * 2.0 + k4[i]) * (dt / 6.0))
}

/// W8: `(σ, ρ, β, x0, y0, z0) -> sum(x_T²)` after `t` RK4 steps of
/// `dt = 1/t`, one `scan` whose body is one step.
fn lorenz_loss(t: usize) -> Graph {
    let b = GraphBuilder::new("lorenz");
    let th = ["sigma", "rho", "beta"].map(|n| b.param(n, TensorType::f64([])));
    let u0 = ["x0", "y0", "z0"].map(|n| b.param(n, TensorType::f64([])));
    let opts = ScanOpts {
        reverse: false,
        length: Some(t),
    };
    let dt = 1.0 / t as f64;
    let (u, _) = b.scan_with(opts, &u0, &[], |_, c, _| {
        (rk4([c[0], c[1], c[2]], th, dt).to_vec(), vec![])
    });
    b.build(&[u[0] * u[0] + u[1] * u[1] + u[2] * u[2]]).unwrap()
}

const W8_INPUT: [f64; 6] = [10.0, 28.0, 8.0 / 3.0, 1.0, 1.0, 1.0];
const W8_LOSS: f64 = 1019.94373821745;
const W8_GRAD: [f64; 6] = [-2.7039, 15.1507, 331.9405, -21.0357, -18.2361, 39.6906];

fn w8(c: &mut Criterion) {
    let ins: Vec<&[f64]> = W8_INPUT.iter().map(std::slice::from_ref).collect();
    let mut out = [[0.0]; 7];
    let fv = jit(&lorenz_loss(1000));
    fv.call_f64(&ins, &mut [&mut out[0]]).unwrap();
    check("W8 loss (T = 1000)", out[0][0], W8_LOSS, 1e-9);
    c.bench_function("W8_lorenz_rk4_value_T1000", |bch| {
        bch.iter(|| fv.call_f64(black_box(&ins), &mut [&mut out[0]]).unwrap())
    });
    for (t, id) in [
        (1000, "W8_lorenz_rk4_grad_T1000"),
        (100_000, "W8_lorenz_rk4_grad_T100000"),
    ] {
        let f = jit(&derive(lorenz_loss(t), "grad", &[0, 1, 2, 3, 4, 5, 6]));
        let mut outs: Vec<&mut [f64]> = out.iter_mut().map(|o| &mut o[..]).collect();
        f.call_f64(&ins, &mut outs).unwrap();
        // RK4's error at dt = 1e-3 is far below the references' digits.
        check(&format!("W8 loss (T = {t})"), outs[0][0], W8_LOSS, 1e-6);
        for (i, &want) in W8_GRAD.iter().enumerate() {
            check(
                &format!("W8 gradient {i} (T = {t})"),
                outs[i + 1][0],
                want,
                1e-4,
            );
        }
        c.bench_function(id, |bch| {
            bch.iter(|| f.call_f64(black_box(&ins), &mut outs).unwrap())
        });
    }
}

fn w9(c: &mut Criterion) {
    let f = jit(&derive(
        W9.loss(),
        &format!("grad{{wrt={}}}", rnn::WRT),
        &[0, 1, 2, 3, 4],
    ));
    let ins = W9.inputs();
    let mut loss = [0.0f32];
    let mut g = ins.zero_grads();
    rnn::call(&f, &ins, Some(&mut loss), &mut g);
    check("W9 loss", f64::from(loss[0]), 0.507641613, 2e-6);
    assert!(
        g.iter().flatten().all(|v| v.is_finite()) && g[3].iter().any(|&v| v != 0.0),
        "W9: the gradients are not finite or all zero"
    );
    c.bench_function("W9_rnn_step_f32", |bch| {
        bch.iter(|| rnn::call(&f, &ins, Some(&mut loss), &mut g))
    });
}

/// W10: `a -> x*` solving `x = cos(a x)` by Newton's method from x = 1 in a
/// `while` until |Δx| < 1e-14, at most 50 trips (the carries are x and Δx).
fn newton() -> Graph {
    let b = GraphBuilder::new("newton");
    let a = b.param("a", TensorType::f64([]));
    let one = b.scalar(1.0, DType::F64);
    let r = b.while_loop_bounded(
        50,
        &[one, one],
        |b, c| b.op(Op::Compare(CompareOp::Ge), &[c[1].abs(), c[1].lit(1e-14)]),
        |_, c| {
            let x = c[0];
            let f = x - (a * x).cos();
            let df = x.lit(1.0) + a * (a * x).sin();
            let dx = f / df;
            vec![x - dx, dx]
        },
    );
    b.build(&[r[0]]).unwrap()
}

fn w10(c: &mut Criterion) {
    // Outputs after jvp: [x*, dx*/da]; inputs: [a, a_dot].
    let f = jit(&derive(newton(), "jvp{wrt=a}", &[0, 1]));
    let (mut x, mut dx) = ([0.0], [0.0]);
    f.call_f64(&[&[0.7], &[1.0]], &mut [&mut x, &mut dx])
        .unwrap();
    check("W10 x*", x[0], 0.8342699518670651, 1e-15);
    check("W10 dx*/da", dx[0], -0.33188796349353455, 1e-14);
    c.bench_function("W10_while_newton_jvp", |bch| {
        bch.iter(|| {
            f.call_f64(&[black_box(&[0.7]), &[1.0]], &mut [&mut x, &mut dx])
                .unwrap()
        })
    });
    // The loop alone, for the cost of the tangents.
    let fv = jit(&newton());
    c.bench_function("W10_while_newton_value", |bch| {
        bch.iter(|| fv.call_f64(&[black_box(&[0.7])], &mut [&mut x]).unwrap())
    });
}

/// W11: build, differentiate, optimise and compile W7's step as a
/// `t`-step scan.
pub fn w11_build_and_compile(t: usize) -> CompiledFn {
    let b = GraphBuilder::new("w11");
    let x = b.param("x", TensorType::f64([16]));
    let opts = ScanOpts {
        reverse: false,
        length: Some(t),
    };
    let (x, _) = b.scan_with(opts, &[x], &[], |_, c, _| {
        let x = c[0];
        (vec![x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5)], vec![])
    });
    let g = derive(b.build(&[x[0].sum()]).unwrap(), "grad", &[1]);
    jit(&g)
}

/// W7's gradient after `t` steps, step by step in f64.
fn w11_reference(t: usize) -> Vec<f64> {
    let mut x = linspace(16);
    let mut g = vec![1.0; 16];
    for _ in 0..t {
        for (x, g) in x.iter_mut().zip(&mut g) {
            *g *= x.cos() * 1.01 - x.sin() * 0.5;
            *x = x.sin() * 1.01 + x.cos() * 0.5;
        }
    }
    g
}

fn w11(c: &mut Criterion) {
    let mut group = c.benchmark_group("w11");
    group.sample_size(10);
    for (t, id) in [
        (10_000, "W11_scan_compile_10k_grad"),
        (10, "W11_scan_compile_10_grad"),
    ] {
        let f = w11_build_and_compile(t);
        let mut d = vec![0.0; 16];
        f.call_f64(&[&linspace(16)], &mut [&mut d]).unwrap();
        for (i, (&got, want)) in d.iter().zip(w11_reference(t)).enumerate() {
            check(
                &format!("W11 gradient {i} (T = {t})"),
                got,
                want,
                1e-12 * want.abs().max(1.0),
            );
        }
        group.bench_function(id, |bch| bch.iter(|| black_box(w11_build_and_compile(t))));
    }
    group.finish();
}

/// W12: the gradient of W9's cell over 10,000 steps under each memory
/// budget (`W12_rnn_long_grad_memory/none`, `/memory_128KB`, …; a budget
/// the passes do not accept is skipped with a message). Every budget's
/// gradient should equal the unbudgeted one bit for bit (a warning says
/// when not, and `memory.json` records it). The working memory of
/// each goes to `memory.json` beside criterion's results, for the peer
/// table; `benches/w12_memory.rs` prints the time-against-memory table.
fn w12(c: &mut Criterion) {
    let ins = rnn::W12.inputs();
    let mut group = c.benchmark_group(w12::ID);
    group.sample_size(10);
    let mut reference = w12::Reference::default();
    let mut costs = Vec::new();
    for budget in w12::budgets() {
        let f = match w12::compiled(&budget) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("W12 {}: skipped, {}: {e}", budget.label, budget.pipeline());
                continue;
            }
        };
        let (mut cost, mut g) = w12::measure(&f, &ins).unwrap();
        cost.differs = reference.check(&budget.label, &g);
        group.bench_function(budget.label.as_str(), |bch| {
            bch.iter(|| rnn::call(&f, &ins, None, &mut g))
        });
        costs.push((budget, cost));
    }
    group.finish();
    match w12::write_memory(&costs) {
        Ok(path) => eprintln!("W12: working memory per budget in {}", path.display()),
        Err(e) => eprintln!("W12: could not write the working memory: {e}"),
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        // criterion's plots fail (FontUnavailable) with plotters' ab_glyph
        // feature, which the examples enable; nothing reads them.
        .without_plots()
}

criterion_group! {
    name = workloads;
    config = config();
    targets = w1, w2, w3, w4, w6, w7, w8, w9, w10, w11, w12
}
criterion_main!(workloads);
