//! `eval_with_stats`: the measured peak working memory on programs whose
//! peak is counted by hand from the evaluation order and the moment each
//! value dies, and the number of runs of each body.

use adjoint_interp::{eval_with, eval_with_stats, EvalOptions};
use adjoint_ir::{parse_module, RunStats, Tensor};
use std::collections::BTreeMap;

fn stats(text: &str, inputs: &[Tensor]) -> RunStats {
    let m = parse_module(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let g = m.main_func().unwrap();
    let (outs, stats) = eval_with_stats(g, inputs, &EvalOptions::default()).unwrap();
    // The outputs are those of eval_with.
    let plain = eval_with(g, inputs, &EvalOptions::default()).unwrap();
    assert_eq!(outs.len(), plain.len());
    for (a, b) in outs.iter().zip(&plain) {
        assert_eq!(a.to_f64_vec(), b.to_f64_vec());
    }
    stats
}

fn vec1000() -> Tensor {
    Tensor::from_f64([1000], (0..1000).map(|i| i as f64 / 1000.0).collect()).unwrap()
}

fn evals(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn a_straight_line_chain_holds_two_arrays_at_once() {
    // a = sin x; b = cos a (a and b held); c = exp b (a died: b, c);
    // d = neg c (c, d). Each f64[1000] is 8000 bytes; the input x is the
    // caller's. Peak: 2 × 8000.
    let text = "\
func @main(%x: f64[1000]) -> f64[1000] {
  %a = sin %x : f64[1000]
  %b = cos %a : f64[1000]
  %c = exp %b : f64[1000]
  %d = neg %c : f64[1000]
  return %d
}
";
    let s = stats(text, &[vec1000()]);
    assert_eq!(s.working_bytes, 2 * 8000);
    assert!(s.body_evals.is_empty());
}

#[test]
fn values_live_until_their_last_use_and_outputs_to_the_end() {
    // a = sin x; b = cos x (a, b); c = a * b (a, b, c: 3 arrays); b dies;
    // d = c + a (a, c, d: 3 arrays); a and c die; e = sin d (d, e). Peak
    // 3 × 8000. Returning d and e, d lives to the end: still 3 at most.
    let text = "\
func @main(%x: f64[1000]) -> (f64[1000], f64[1000]) {
  %a = sin %x : f64[1000]
  %b = cos %x : f64[1000]
  %c = mul %a, %b : f64[1000]
  %d = add %c, %a : f64[1000]
  %e = sin %d : f64[1000]
  return %d, %e
}
";
    assert_eq!(stats(text, &[vec1000()]).working_bytes, 3 * 8000);
    // An input returned as an output is copied for the caller: the copy
    // (8000) counts, next to sin x (8000).
    let text = "\
func @main(%x: f64[1000]) -> (f64[1000], f64[1000]) {
  %a = sin %x : f64[1000]
  return %x, %a
}
";
    assert_eq!(stats(text, &[vec1000()]).working_bytes, 2 * 8000);
    // Constants are the program's, not counted; the result is.
    let text = "\
func @main(%x: f64[2]) -> f64[2] {
  %k = const [1, 2] : f64[2]
  %y = mul %x, %k : f64[2]
  return %y
}
";
    let x = Tensor::from_f64([2], vec![3.0, 4.0]).unwrap();
    assert_eq!(stats(text, &[x]).working_bytes, 16);
}

#[test]
fn kernel_scratch_counts_while_the_kernel_runs() {
    // Summing axis 0 of f64[100, 10] rearranges the operand (8000 bytes of
    // scratch) next to the result (80 bytes); summing the last axis reads
    // it in place.
    let x = Tensor::from_f64([100, 10], (0..1000).map(|i| i as f64).collect()).unwrap();
    let sum = |axes: &str, ty: &str| {
        format!(
            "func @main(%x: f64[100, 10]) -> {ty} {{\n  %s = reduce_sum %x axes={axes} : {ty}\n  return %s\n}}\n"
        )
    };
    assert_eq!(
        stats(&sum("[0]", "f64[10]"), std::slice::from_ref(&x)).working_bytes,
        8000 + 80
    );
    assert_eq!(stats(&sum("[1]", "f64[100]"), &[x]).working_bytes, 800);
    // matmul f64[2,3] × f64[3,4]: the result (8 × 8 bytes), the right
    // matrix transposed (12 × 8) and one batch offset per operand (2 × 8).
    let text = "\
func @main(%a: f64[2, 3], %b: f64[3, 4]) -> f64[2, 4] {
  %c = matmul %a, %b : f64[2, 4]
  return %c
}
";
    let a = Tensor::from_f64([2, 3], vec![1.0; 6]).unwrap();
    let b = Tensor::from_f64([3, 4], vec![1.0; 12]).unwrap();
    assert_eq!(stats(text, &[a, b]).working_bytes, 64 + 96 + 16);
}

#[test]
fn a_scan_holds_its_stacked_outputs_a_slice_and_two_carries() {
    // c_{t+1} = c_t + x_t, ys[t] = c_{t+1}, over xs: f64[4, 1000]. The
    // stack ys (32000) is allocated first; then each iteration holds the
    // carry (the input at t = 0), the slice x_t (8000) and the new carry
    // (8000): 32000 + 3 × 8000 from t = 1 on.
    let text = "\
func @step(%c: f64[1000], %x: f64[1000]) -> (f64[1000], f64[1000]) {
  %d = add %c, %x : f64[1000]
  return %d, %d
}

func @main(%c0: f64[1000], %xs: f64[4, 1000]) -> (f64[1000], f64[4, 1000]) {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1 : (f64[1000], f64[4, 1000])
  return %c, %ys
}
";
    let xs = Tensor::from_f64([4, 1000], vec![0.5; 4000]).unwrap();
    let s = stats(text, &[vec1000(), xs]);
    assert_eq!(s.working_bytes, 32000 + 3 * 8000);
    assert_eq!(s.body_evals, evals(&[("step", 4)]));
}

#[test]
fn body_evals_count_every_run_of_every_loop_and_branch() {
    // x doubles while x < 100 (bounded at 64 trips): from 1, the body runs
    // 7 times (to 128) and the predicate 8 times; with max_trips=3, each
    // runs 3 times (the bound is tested before the predicate).
    let text = |bound: usize| {
        format!(
            "\
func @small(%x: f64, %limit: f64) -> bool {{
  %p = lt %x, %limit : bool
  return %p
}}

func @double(%x: f64, %limit: f64) -> f64 {{
  %y = add %x, %x : f64
  return %y
}}

func @main(%x: f64) -> f64 {{
  %limit = const 100 : f64
  %r = while %x, %limit cond=@small body=@double carry=1 max_trips={bound} : f64
  return %r
}}
"
        )
    };
    let one = Tensor::scalar_f64(1.0);
    assert_eq!(
        stats(&text(64), std::slice::from_ref(&one)).body_evals,
        evals(&[("double", 7), ("small", 8)])
    );
    assert_eq!(
        stats(&text(3), std::slice::from_ref(&one)).body_evals,
        evals(&[("double", 3), ("small", 3)])
    );
    // A scan of 3 trips whose body is a cond that takes `then` when the
    // slice is positive: the untaken branch is never counted; a function
    // serving two loops sums their runs.
    let text = "\
func @pos(%c: f64, %x: f64) -> f64 {
  %y = add %c, %x : f64
  return %y
}

func @neg(%c: f64, %x: f64) -> f64 {
  %y = sub %c, %x : f64
  return %y
}

func @step(%c: f64, %x: f64) -> f64 {
  %zero = const 0 : f64
  %p = gt %x, %zero : bool
  %d = cond %p, %c, %x then=@pos else=@neg : f64
  return %d
}

func @main(%c0: f64, %xs: f64[3]) -> (f64, f64) {
  %a = scan %c0, %xs body=@step carry=1 xs=1 : f64
  %b = scan %a, %xs body=@step carry=1 xs=1 : f64
  return %a, %b
}
";
    let xs = Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap();
    assert_eq!(
        stats(text, &[one, xs]).body_evals,
        evals(&[("pos", 6), ("step", 6)])
    );
}

#[test]
fn each_call_is_measured_from_zero() {
    // Two calls of the same program report the same, and calls in between
    // without measurement (eval_with) leave no trace.
    let text = "\
func @step(%c: f64, %x: f64) -> (f64, f64) {
  %d = add %c, %x : f64
  return %d, %d
}

func @main(%c0: f64, %xs: f64[3]) -> (f64, f64[3]) {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1 : (f64, f64[3])
  return %c, %ys
}
";
    let ins = [
        Tensor::scalar_f64(0.0),
        Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap(),
    ];
    let first = stats(text, &ins);
    let second = stats(text, &ins);
    assert_eq!(first, second);
    assert_eq!(first.body_evals, evals(&[("step", 3)]));
    // The stack (24 bytes), the carry and slice and the new carry (8 each).
    assert_eq!(first.working_bytes, 24 + 3 * 8);
}
