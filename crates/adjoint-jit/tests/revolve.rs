//! `revolve` (the checkpointed reverse scan) on the JIT: bit for bit equal
//! to the interpreter's `revolve` and to the same reversal computed by
//! storing every state (a forward `scan` keeping the states, then a
//! `reverse=true` scan), run by the interpreter and by the JIT, for every snapshot budget (`S = 1`, `S ≥ n`, `n = 0`),
//! masked and not, `f32` and `f64`, several states and carries, and
//! nested inside and around `scan`s; hand-derived values for the programs
//! of crates/adjoint-ir/tests/revolve_op.rs.

mod common;
#[path = "common/loop_reference.rs"]
mod loop_reference;

use adjoint_ir::{parse_module, DType, Graph, Shape, Tensor, TensorData, TensorType};
use adjoint_jit::{compile, JitOptions};
use common::{assert_same, data, tensor};
use loop_reference::reference;

/// The forward step (two states) and its "keep the states" variant, and
/// the reverse body (two carries, two stacked outputs), in `T`.
const BODIES: &str = "\
func @fwd(%s1: T[2], %s2: T, %x: T[2], %k: T) -> (T[2], T) {
  %a = sin %s1
  %b = mul %a, %k
  %n1 = add %b, %x
  %p = mul %s1, %x
  %q = reduce_sum %p axes=[0]
  %r = mul %s2, %k
  %n2 = add %r, %q
  return %n1, %n2
}

func @keep(%s1: T[2], %s2: T, %x: T[2], %k: T) -> (T[2], T, T[2], T) {
  %a = sin %s1
  %b = mul %a, %k
  %n1 = add %b, %x
  %p = mul %s1, %x
  %q = reduce_sum %p axes=[0]
  %r = mul %s2, %k
  %n2 = add %r, %q
  return %n1, %n2, %s1, %s2
}

func @inner(%c: T, %s2: T) -> T {
  %h = const 0.5 : T
  %a = mul %c, %h
  %n = add %a, %s2
  return %n
}

func @bwd(%b1: T[2], %b2: T, %s1: T[2], %s2: T, %x: T[2], %k: T) -> (T[2], T, T[2], T) {
  %c = cos %s1
  %d = mul %b1, %c
  %n1 = add %d, %s2
  %p = mul %b1, %x
  %q = reduce_sum %p axes=[0]
  %qk = mul %q, %k
  %n2 = add %b2, %qk
  %y1 = add %p, %s1
  %e = add %s2, %b2
  %y2 = tanh %e
  return %n1, %n2, %y1, %y2
}

func @bwd_nested(%b1: T[2], %b2: T, %s1: T[2], %s2: T, %x: T[2], %k: T) -> (T[2], T, T[2], T) {
  %cz = scan %b2, %s2 body=@inner carry=1 xs=0 length=3 : T
  %c = cos %s1
  %d = mul %b1, %c
  %n1 = add %d, %s2
  %p = mul %b1, %x
  %q = reduce_sum %p axes=[0]
  %qk = mul %q, %k
  %n2 = add %cz, %qk
  %y1 = add %p, %s1
  %e = add %s2, %b2
  %y2 = tanh %e
  return %n1, %n2, %y1, %y2
}
";

/// The reversal: `revolve` with `S` snapshots (`REV`), or stored states
/// (`REF`), of `BODY`, over `N` steps.
const REV: &str = "\
  %r1, %r2, %ys1, %ys2 = revolve MASK%s1, %s2, %b1, %b2, %xs, %k body=@BODY step=@fwd state=2 carry=2 xs=1 snapshots=S MASKED: (T[2], T, T[N,2], T[N])";
const REF: &str = "\
  %f1, %f2, %st1, %st2 = scan %s1, %s2, %xs, %k body=@keep carry=2 xs=1 : (T[2], T, T[N,2], T[N])
  %r1, %r2, %ys1, %ys2 = scan %b1, %b2, %st1, %st2, %xs, %k body=@BODY carry=2 xs=3 reverse=true : (T[2], T, T[N,2], T[N])";

fn fill(text: &str, dt: DType, n: usize, s: usize, body: &str, masked: bool) -> String {
    text.replace("MASKED", if masked { "masked=true " } else { "" })
        .replace("MASK", if masked { "%m, " } else { "" })
        .replace("BODY", body)
        .replace("T[N", &format!("T[{n}"))
        .replace("snapshots=S", &format!("snapshots={s}"))
        .replace('T', dt.name())
}

/// `@main(m?, s1, s2, b1, b2, xs, k) -> (b1, b2, ys1, ys2)`, the reversal
/// by `revolve` (`s: Some(S)`) or by stored states (`None`).
fn program(dt: DType, n: usize, s: Option<usize>, body: &str, masked: bool) -> Graph {
    let stmt = match s {
        Some(s) => fill(REV, dt, n, s, body, masked),
        None => fill(REF, dt, n, 0, body, false),
    };
    let mask = if masked && s.is_some() {
        format!("%m: bool[{n}], ")
    } else {
        String::new()
    };
    let text = format!(
        "{}\nfunc @main({mask}%s1: T[2], %s2: T, %b1: T[2], %b2: T, %xs: T[N,2], %k: T) \
         -> (T[2], T, T[N,2], T[N]) {{\n{stmt}\n  return %r1, %r2, %ys1, %ys2\n}}\n",
        BODIES
    );
    let text = fill(&text, dt, n, 0, body, false);
    let m = parse_module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    m.func("main").unwrap().clone()
}

fn ty(dt: DType, d: &[usize]) -> TensorType {
    TensorType::new(dt, Shape::new(d.to_vec()))
}

/// The inputs `(s1, s2, b1, b2, xs, k)` for `n` steps.
fn inputs(dt: DType, n: usize, seed: u64) -> Vec<Tensor> {
    let tys = [
        ty(dt, &[2]),
        ty(dt, &[]),
        ty(dt, &[2]),
        ty(dt, &[]),
        ty(dt, &[n, 2]),
        ty(dt, &[]),
    ];
    tys.iter()
        .enumerate()
        .map(|(i, t)| {
            let (lo, hi) = if i == 5 { (0.5, 0.95) } else { (-1.5, 1.5) };
            tensor(t, &data(t.numel(), seed + i as u64, lo, hi))
        })
        .collect()
}

fn mask(n: usize, trues: usize) -> Tensor {
    // Leading trues, then a false, then trues again (ignored).
    let v: Vec<bool> = (0..n).map(|i| i != trues).collect();
    Tensor::new(Shape::new(vec![n]), TensorData::Bool(v)).unwrap()
}

/// The first `n` rows of `t` (`[N, …]`).
fn rows(t: &Tensor, n: usize) -> Tensor {
    let dims = t.shape().dims().to_vec();
    let row: usize = dims[1..].iter().product();
    let mut d = dims.clone();
    d[0] = n;
    let data = match t.data() {
        TensorData::F32(v) => TensorData::F32(v[..n * row].to_vec()),
        TensorData::F64(v) => TensorData::F64(v[..n * row].to_vec()),
        TensorData::Bool(v) => TensorData::Bool(v[..n * row].to_vec()),
    };
    Tensor::new(Shape::new(d), data).unwrap()
}

/// `t` (`[n, …]`) with zero rows appended up to `len` rows.
fn pad_rows(t: &Tensor, len: usize) -> Tensor {
    let dims = t.shape().dims().to_vec();
    let row: usize = dims[1..].iter().product();
    let mut d = dims.clone();
    d[0] = len;
    let data = match t.data() {
        TensorData::F32(v) => {
            let mut v = v.clone();
            v.resize(len * row, 0.0);
            TensorData::F32(v)
        }
        TensorData::F64(v) => {
            let mut v = v.clone();
            v.resize(len * row, 0.0);
            TensorData::F64(v)
        }
        TensorData::Bool(v) => {
            let mut v = v.clone();
            v.resize(len * row, false);
            TensorData::Bool(v)
        }
    };
    Tensor::new(Shape::new(d), data).unwrap()
}

/// The expected results of the reversal of the first `trues` of `n`
/// steps: the stored-states program on the interpreter (in the JIT's
/// math mode), its stacked outputs padded with zero rows.
fn expected(
    dt: DType,
    n: usize,
    trues: usize,
    body: &str,
    ins: &[Tensor],
    opts: &JitOptions,
) -> Vec<Tensor> {
    let g = program(dt, trues, None, body, false);
    let mut short = ins.to_vec();
    short[4] = rows(&ins[4], trues);
    let mut want = reference(&g, &short, opts);
    want[2] = pad_rows(&want[2], n);
    want[3] = pad_rows(&want[3], n);
    want
}

fn check(what: &str, got: &[Tensor], want: &[Tensor]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert_same(&format!("{what}: output {i}"), a, b);
    }
}

/// JIT(revolve with `s` snapshots) == interpreter(stored states), and, for
/// the unmasked case, == JIT(stored states).
fn agree(dt: DType, n: usize, s: usize, body: &str, trues: Option<usize>, opts: &JitOptions) {
    let what = format!("{dt:?} n={n} S={s} @{body} mask={trues:?}");
    let g = program(dt, n, Some(s), body, trues.is_some());
    let f = compile(&g, opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    let ins = inputs(dt, n, 11 + n as u64);
    let mut call_ins = ins.clone();
    if let Some(t) = trues {
        call_ins.insert(0, mask(n, t));
    }
    let got = f.run(&call_ins).unwrap();
    let want = expected(dt, n, trues.unwrap_or(n), body, &ins, opts);
    check(&what, &got, &want);
    // The interpreter's own revolve.
    check(
        &format!("{what} (interpreter revolve)"),
        &got,
        &reference(&g, &call_ins, opts),
    );
    if trues.is_none() {
        let r = compile(&program(dt, n, None, body, false), opts).unwrap();
        check(
            &format!("{what} (JIT reference)"),
            &got,
            &r.run(&ins).unwrap(),
        );
    }
}

#[test]
fn revolve_equals_the_stored_states_reversal_for_every_budget() {
    let opts = JitOptions::default();
    for dt in [DType::F64, DType::F32] {
        for (n, s) in [
            (0, 1),
            (1, 1),
            (2, 1),
            (5, 1),
            (5, 2),
            (7, 3),
            (9, 9),
            (6, 10),
            (13, 2),
            (20, 4),
        ] {
            agree(dt, n, s, "bwd", None, &opts);
        }
    }
}

#[test]
fn randomised_lengths_and_budgets() {
    // A fixed pseudo-random sample of (n, S), S = 1 and S >= n included.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let opts = JitOptions::default();
    for i in 0..10 {
        let n = next(40) as usize;
        let s = match i % 3 {
            0 => 1,
            1 => n + next(3) as usize,
            _ => 1 + next(6) as usize,
        }
        .max(1);
        let dt = if i % 2 == 0 { DType::F64 } else { DType::F32 };
        agree(dt, n, s, "bwd", None, &opts);
    }
}

#[test]
fn masked_revolves_stop_at_the_first_false_and_zero_the_rest() {
    let opts = JitOptions::default();
    for dt in [DType::F64, DType::F32] {
        for (n, s, trues) in [(6, 2, 4), (6, 1, 0), (6, 3, 6), (5, 10, 3), (8, 2, 1)] {
            agree(dt, n, s, "bwd", Some(trues), &opts);
        }
    }
}

#[test]
fn every_arena_on_the_heap_and_the_libm_mode_agree_too() {
    for opts in [
        JitOptions {
            stack_arena_max: 0,
            ..Default::default()
        },
        JitOptions {
            poly_math: false,
            ..Default::default()
        },
        JitOptions {
            count_body_evals: false,
            ..Default::default()
        },
    ] {
        agree(DType::F64, 9, 3, "bwd", None, &opts);
        agree(DType::F32, 7, 2, "bwd", Some(5), &opts);
    }
}

#[test]
fn a_revolve_whose_body_runs_a_scan() {
    let opts = JitOptions::default();
    for (n, s) in [(6, 2), (4, 1), (3, 5)] {
        agree(DType::F64, n, s, "bwd_nested", None, &opts);
    }
    agree(DType::F32, 6, 2, "bwd_nested", Some(4), &opts);
}

/// An outer scan of `R` trips whose body reverses `N` steps (`revolve`
/// with `S` snapshots, or stored states with `None`) from carries that
/// depend on the trip.
fn outer_program(dt: DType, r: usize, n: usize, s: Option<usize>) -> Graph {
    let stmt = match s {
        Some(s) => fill(REV, dt, n, s, "bwd", false),
        None => fill(REF, dt, n, 0, "bwd", false),
    };
    let text = format!(
        "{BODIES}
func @outer(%c: T, %z: T, %s1: T[2], %s2: T, %b1: T[2], %xs: T[N,2], %k: T) -> (T, T[2]) {{
  %b2 = add %c, %z
{stmt}
  %y = reduce_sum %ys2 axes=[0]
  %c2 = add %r2, %y
  return %c2, %r1
}}

func @main(%c0: T, %zs: T[{r}], %s1: T[2], %s2: T, %b1: T[2], %xs: T[N,2], %k: T) -> (T, T[{r},2]) {{
  %c, %ys = scan %c0, %zs, %s1, %s2, %b1, %xs, %k body=@outer carry=1 xs=1 : (T, T[{r},2])
  return %c, %ys
}}
"
    );
    let text = fill(&text, dt, n, 0, "bwd", false);
    let m = parse_module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    m.func("main").unwrap().clone()
}

#[test]
fn a_scan_whose_body_runs_a_revolve() {
    let opts = JitOptions::default();
    for dt in [DType::F64, DType::F32] {
        let (r, n) = (3, 7);
        let rev = outer_program(dt, r, n, Some(2));
        let ins: Vec<Tensor> = rev
            .param_types()
            .iter()
            .enumerate()
            .map(|(i, t)| tensor(t, &data(t.numel(), 40 + i as u64, 0.5, 0.9)))
            .collect();
        let got = compile(&rev, &opts).unwrap().run(&ins).unwrap();
        let refg = outer_program(dt, r, n, None);
        check(
            "outer scan, interpreter",
            &got,
            &reference(&refg, &ins, &opts),
        );
        check(
            "outer scan, interpreter revolve",
            &got,
            &reference(&rev, &ins, &opts),
        );
        let heap = JitOptions {
            stack_arena_max: 0,
            ..Default::default()
        };
        let again = compile(&rev, &heap).unwrap().run(&ins).unwrap();
        check("outer scan, heap arenas", &again, &got);
    }
}

/// The programs of crates/adjoint-ir/tests/revolve_op.rs, with values
/// derived by hand.
const OP_TEXT: &str = include_str!("../../adjoint-ir/tests/programs/revolve.adj");

const OP_MASKED: &str = include_str!("../../adjoint-ir/tests/programs/revolve_masked.adj");

fn scalar(v: f64) -> Tensor {
    Tensor::from_f64([], vec![v]).unwrap()
}

#[test]
fn the_ir_test_programs_give_hand_derived_values() {
    // s_{t+1} = s_t·x_t·w with w = 1 and powers of two: every value exact.
    let g = parse_module(OP_TEXT).unwrap().main_func().unwrap().clone();
    let xs = [2.0, 0.5, 4.0, 1.0, 2.0];
    let (s0, b0) = (1.0, 1.0);
    let mut s = vec![s0];
    for x in xs {
        s.push(s.last().unwrap() * x);
    }
    let (mut b, mut ys) = (b0, [0.0; 5]);
    for t in (0..5).rev() {
        b = b * xs[t] + s[t];
        ys[t] = b * s[t];
    }
    let ins = [
        scalar(s0),
        scalar(b0),
        Tensor::from_f64([5], xs.to_vec()).unwrap(),
        scalar(1.0),
    ];
    let got = compile(&g, &JitOptions::default())
        .unwrap()
        .run(&ins)
        .unwrap();
    assert_eq!(got[0].to_f64_vec(), vec![b]);
    assert_eq!(got[1].to_f64_vec(), ys.to_vec());
    // s_t = 2^t s_0 and b = b_0 + sum_{t<n} s_t = b_0 + (2^n − 1) s_0.
    let g = parse_module(OP_MASKED)
        .unwrap()
        .main_func()
        .unwrap()
        .clone();
    let f = compile(&g, &JitOptions::default()).unwrap();
    for (m, n) in [
        ([true, true, true, false], 3),
        ([false, true, true, true], 0),
        ([true, false, true, true], 1),
        ([true; 4], 4),
    ] {
        let mt = Tensor::new(Shape::new(vec![4]), TensorData::Bool(m.to_vec())).unwrap();
        let got = f.run(&[mt, scalar(3.0), scalar(0.5)]).unwrap();
        let want = 0.5 + ((1u32 << n) - 1) as f64 * 3.0;
        assert_eq!(got[0].to_f64_vec(), vec![want], "mask {m:?}");
    }
}

#[test]
fn snapshots_count_in_the_memory_budget() {
    // Two states of one 64-byte slot each: 128 bytes a snapshot; 63
    // snapshots above s_0 need 8064 bytes, over a 4 KiB budget.
    let opts = JitOptions {
        memory_budget: 4096,
        ..Default::default()
    };
    let small = program(DType::F64, 100, Some(2), "bwd", false);
    compile(&small, &opts).unwrap();
    let big = program(DType::F64, 100, Some(64), "bwd", false);
    let e = compile(&big, &opts).unwrap_err().to_string();
    assert!(
        e.contains("= revolve (") && e.contains("memory_budget") && e.contains("8064 bytes"),
        "{e}"
    );
    // The plan lists the revolve with its budget.
    let f = compile(&big, &JitOptions::default()).unwrap();
    assert!(
        f.plan()
            .contains("revolve of @bwd after @fwd x 100, 64 snapshots (128 bytes each)"),
        "{}",
        f.plan()
    );
}

#[test]
fn masked_rows_are_zeroed_in_dirty_output_buffers() {
    // The caller's output buffers hold garbage; rows t >= n must still
    // come back zero, and rows t < n equal those of `run`.
    use adjoint_jit::{BufMut, BufRef};
    let (n, trues) = (6, 2);
    let g = program(DType::F64, n, Some(2), "bwd", true);
    let f = compile(&g, &JitOptions::default()).unwrap();
    let mut ins = inputs(DType::F64, n, 5);
    ins.insert(0, mask(n, trues));
    let want = f.run(&ins).unwrap();
    let m: Vec<bool> = (0..n).map(|i| i != trues).collect();
    let v: Vec<Vec<f64>> = ins[1..].iter().map(|t| t.to_f64_vec()).collect();
    let mut outs: Vec<Vec<f64>> = want
        .iter()
        .map(|t| vec![f64::NAN; t.ty().numel()])
        .collect();
    {
        let mut refs = vec![BufRef::Bool(&m)];
        refs.extend(v.iter().map(|x| BufRef::F64(x)));
        let mut bufs: Vec<BufMut<'_>> = outs.iter_mut().map(|o| BufMut::F64(o)).collect();
        f.call(&refs, &mut bufs).unwrap();
    }
    for (o, w) in outs.iter().zip(&want) {
        let w = w.to_f64_vec();
        assert_eq!(
            o.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            w.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
    assert!(want[3].to_f64_vec()[trues..].iter().all(|&x| x == 0.0));
}
