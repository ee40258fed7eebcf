//! `revolve` on the JIT: the reverse sweep of an RNN (hidden 256, f32,
//! W12's cell) over `T` steps, storing every state (a forward `scan`
//! keeping the states, then a reverse `scan`) against `revolve` with `S`
//! snapshots; and the cost of counting body evaluations
//! (`JitOptions::count_body_evals`) on a scalar scan, where a body call is
//! cheapest. The working bytes of each call (`run_with_stats`) are printed.

use adjoint_ir::{parse_module, Graph, Tensor};
use adjoint_jit::{compile, JitOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

const H: usize = 256;

const CELL: &str = "\
func @fwd(%h: f32[1,H], %x: f32[1,H], %w: f32[H,H], %wt: f32[H,H]) -> f32[1,H] {
  %z = matmul %h, %w
  %a = add %z, %x
  %n = tanh %a
  return %n
}

func @keep(%h: f32[1,H], %x: f32[1,H], %w: f32[H,H], %wt: f32[H,H]) -> (f32[1,H], f32[1,H]) {
  %z = matmul %h, %w
  %a = add %z, %x
  %n = tanh %a
  return %n, %h
}

func @bwd(%b: f32[1,H], %h: f32[1,H], %x: f32[1,H], %w: f32[H,H], %wt: f32[H,H]) -> (f32[1,H], f32[1,H]) {
  %z = matmul %h, %w
  %a = add %z, %x
  %n = tanh %a
  %sq = mul %n, %n
  %one = const 1 : f32
  %dt = sub %one, %sq
  %d = mul %b, %dt
  %nb = matmul %d, %wt
  return %nb, %d
}
";

fn program(t: usize, snapshots: Option<usize>) -> Graph {
    let body = match snapshots {
        Some(s) => format!(
            "  %b, %gx = revolve %h0, %b0, %xs, %w, %wt body=@bwd step=@fwd state=1 carry=1 xs=1 \
             snapshots={s} : (f32[1,H], f32[T,1,H])"
        ),
        None => "  %f, %hs = scan %h0, %xs, %w, %wt body=@keep carry=1 xs=1 : (f32[1,H], f32[T,1,H])\n  \
                 %b, %gx = scan %b0, %hs, %xs, %w, %wt body=@bwd carry=1 xs=2 reverse=true : (f32[1,H], f32[T,1,H])"
            .to_string(),
    };
    let text = format!(
        "{CELL}\nfunc @main(%h0: f32[1,H], %b0: f32[1,H], %xs: f32[T,1,H], %w: f32[H,H], \
         %wt: f32[H,H]) -> (f32[1,H], f32[T,1,H]) {{\n{body}\n  return %b, %gx\n}}\n"
    )
    .replace("T,", &format!("{t},"))
    .replace('H', &H.to_string());
    parse_module(&text).unwrap().func("main").unwrap().clone()
}

fn inputs(g: &Graph) -> Vec<Tensor> {
    g.param_types()
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            let n = ty.numel();
            let scale = if i >= 3 { 0.05 } else { 0.5 };
            let v: Vec<f64> = (0..n)
                .map(|j| scale * ((j * 7 + i * 13) as f64 * 0.618).sin())
                .collect();
            Tensor::from_f64_as(ty, &v).unwrap()
        })
        .collect()
}

fn revolve(c: &mut Criterion) {
    let t = 1000;
    let mut group = c.benchmark_group("revolve");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for s in [None, Some(10), Some(100)] {
        let g = program(t, s);
        let f = compile(&g, &JitOptions::default()).unwrap();
        let ins = inputs(&g);
        let (_, st) = f.run_with_stats(&ins).unwrap();
        let name = match s {
            None => format!("rnn_h{H}_T{t}_stored"),
            Some(s) => format!("rnn_h{H}_T{t}_S{s}"),
        };
        println!(
            "revolve/{name}: working_bytes {} body_evals {:?}",
            st.working_bytes, st.body_evals
        );
        group.bench_function(&name, |b| b.iter(|| f.run(black_box(&ins)).unwrap()));
    }
    group.finish();
}

/// `c' = c·k + x` over `xs: f64[1000]`, with and without counting.
fn counting(c: &mut Criterion) {
    let text = "\
func @step(%c: f64, %x: f64, %k: f64) -> (f64, f64) {
  %m = mul %c, %k
  %n = add %m, %x
  return %n, %n
}

func @main(%c0: f64, %xs: f64[1000], %k: f64) -> (f64, f64[1000]) {
  %c, %ys = scan %c0, %xs, %k body=@step carry=1 xs=1 : (f64, f64[1000])
  return %c, %ys
}
";
    let g = parse_module(text).unwrap().func("main").unwrap().clone();
    let xs: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
    for count in [true, false] {
        let opts = JitOptions {
            count_body_evals: count,
            ..Default::default()
        };
        let f = compile(&g, &opts).unwrap();
        let (mut cend, mut ys) = ([0.0], vec![0.0; 1000]);
        c.bench_function(&format!("revolve/scan_scalar_T1000_count_{count}"), |b| {
            b.iter(|| {
                f.call_f64(
                    &[&[0.5], black_box(&xs), &[0.999]],
                    &mut [&mut cend, &mut ys],
                )
                .unwrap()
            })
        });
    }
}

criterion_group!(benches, revolve, counting);
criterion_main!(benches);
