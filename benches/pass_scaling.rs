//! How each pass scales with the program: node count against time at 1k,
//! 10k and 100k nodes, for every pass and for JIT compilation of the
//! result. Each pass should be O(n log n) in the node count, so a 10×
//! larger program should take about 10× (not 100×) longer.
//!
//! Inputs (node counts are printed before the groups run):
//! - `chain`: a scalar chain `v ← sin v`, `v ← 0.75·v`, `v ← v + 0.25`, …
//!   where every value is a cut point: `grad`, `jvp`, `jacobian`, `inline`
//!   (`n/5` calls of a 5-node custom op, about `n` nodes once inlined);
//! - `gradient`: `grad` of a chain, about `n` nodes: `simplify`, `cse`,
//!   `dce`, `fold`, `fuse`, the verifier and `jit` (compile only);
//! - `wide`: `n/4` chains `sin(x·c)` of one shared `x`, 16 distinct, summed:
//!   `cse` (merging users of a value with `n/4` uses), and `dce` with only
//!   one chain kept;
//! - `pipeline`: `grad,simplify,cse,dce` on a chain of `n` nodes.
//!
//! Passes run through the [`PassManager`] without verification (timed
//! separately as `verify`). A case whose one calibration run exceeds
//! [`BUDGET`] is reported with that one time and not sampled, so the bench
//! stays within minutes even where a pass is still slow.
//!
//! `cargo bench --bench pass_scaling` (a filter such as `-- cse/` runs one
//! pass).

use adjoint::ir::{verify, CustomOp, Graph, GraphBuilder, TensorType};
use adjoint::jit::{compile, JitOptions};
use adjoint::passes::PassManager;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The sizes, in nodes.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// A case whose calibration run takes longer than this is not sampled.
const BUDGET: Duration = Duration::from_secs(8);

/// The scalar chain of about `n` nodes (every value a cut point).
fn chain(n: usize) -> Graph {
    let b = GraphBuilder::new("chain");
    let x = b.param("x", TensorType::f64([]));
    let mut v = x;
    // Nodes so far: the parameter, then 1 per `sin`, 2 per `mul` or `add`
    // (the op and its constant).
    let (mut k, mut len) = (0, 1);
    while len < n {
        v = match k % 3 {
            0 => v.sin(),
            1 => v * v.lit(0.75),
            _ => v + v.lit(0.25),
        };
        len += if k % 3 == 0 { 1 } else { 2 };
        k += 1;
    }
    b.build(&[v]).expect("chain")
}

/// A chain of `n/5` calls of one custom op `sin(v)·0.75 + 0.25` (5 nodes
/// when inlined: about `n` nodes after `inline`).
fn call_chain(n: usize) -> Graph {
    let body = GraphBuilder::new("step");
    let v = body.param("v", TensorType::f64([]));
    let out = v.sin() * v.lit(0.75) + v.lit(0.25);
    let op = CustomOp::new("step", body.build(&[out]).expect("body"), None, None).expect("op");
    let b = GraphBuilder::new("calls");
    let x = b.param("x", TensorType::f64([]));
    let mut v = x;
    for _ in 0..n / 5 {
        v = b.call(&op, &[v]);
    }
    b.build(&[v]).expect("call chain")
}

/// `grad` of a chain, about `n` nodes (the gradient of a chain of `m` nodes
/// has about `1.6·m`).
fn gradient(n: usize) -> Graph {
    let mut g = chain(n * 5 / 8);
    run(&mut g, "grad");
    g
}

/// `n/4` chains `sin(x·c_j)`, `c_j = j mod 16`, summed.
fn wide(n: usize) -> Graph {
    let b = GraphBuilder::new("wide");
    let x = b.param("x", TensorType::f64([]));
    let mut acc = (x * x.lit(0.0)).sin();
    for j in 1..n / 4 {
        acc = acc + (x * x.lit((j % 16) as f64)).sin();
    }
    b.build(&[acc]).expect("wide")
}

/// [`wide`] with only its first chain as the output: `dce` removes the
/// rest.
fn wide_dead(n: usize) -> Graph {
    let mut g = wide(n);
    let first = g
        .node_ids()
        .into_iter()
        .find(|&id| g[id].op.name() == "sin")
        .expect("a sin");
    g.set_outputs(vec![first]);
    g
}

fn run(g: &mut Graph, pipeline: &str) {
    let mut pm = PassManager::parse(pipeline).expect("pipeline");
    pm.verify_each(false);
    pm.run(g).expect("pass");
}

/// One case: `what` applied to a clone of `input` (the clone is not timed).
fn case(c: &mut Criterion, group: &str, n: usize, input: &Graph, what: &dyn Fn(&mut Graph)) {
    let mut probe = input.clone();
    let t0 = Instant::now();
    what(&mut probe);
    let once = t0.elapsed();
    println!(
        "{group}/{n}: {} nodes -> {} nodes, one run {:.3} ms",
        input.len(),
        probe.len(),
        once.as_secs_f64() * 1e3
    );
    if once > BUDGET {
        println!("{group}/{n}: over the {BUDGET:?} budget, not sampled");
        return;
    }
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(if n >= 100_000 { 4 } else { 2 }));
    g.bench_with_input(BenchmarkId::from_parameter(n), input, |b, input| {
        b.iter_batched(
            || input.clone(),
            |mut h| {
                what(&mut h);
                black_box(h)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn pass_scaling(c: &mut Criterion) {
    for &n in &SIZES {
        let ch = chain(n);
        for pass in ["grad", "jvp", "jacobian"] {
            case(c, pass, n, &ch, &|g| run(g, pass));
        }
        case(c, "pipeline", n, &ch, &|g| run(g, "grad,simplify,cse,dce"));
        case(c, "inline", n, &call_chain(n), &|g| run(g, "inline"));
        let gr = gradient(n);
        for pass in ["simplify", "cse", "dce", "fold", "fuse"] {
            case(c, pass, n, &gr, &|g| run(g, pass));
        }
        case(c, "verify", n, &gr, &|g| verify(g).expect("valid"));
        case(c, "cse_wide", n, &wide(n), &|g| run(g, "cse"));
        case(c, "dce_wide", n, &wide_dead(n), &|g| run(g, "dce"));
        let mut clean = gr.clone();
        run(&mut clean, "cse,dce");
        case(c, "jit", n, &clean, &|g| {
            black_box(compile(g, &JitOptions::default()).expect("compile"));
        });
    }
}

// No plots: plotters' `ab_glyph` feature (the examples' bundled font)
// leaves criterion's charts without a system font.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = pass_scaling
}
criterion_main!(benches);
