//! Budgeted reverse mode gives the unbudgeted gradient bit for bit on both
//! engines (issue 14), on the Elman RNN cell of W9/W12
//! (`h_t = tanh(x_t wx + h_{t−1} wh + b)`, loss `mean((h_T wo − y)²)`, f32)
//! at small random shapes. The recomputing backward body of a budgeted
//! scan evaluates the step's residuals in a different body from the
//! forward sweep, so a transpose that the unbudgeted program stores as a
//! residual is, in the budgeted one, a strided view that feeds a `matmul`
//! directly; the JIT must give the same bits for the same op on the same
//! values however the program is split into bodies and kernels (docs/ir.md
//! section 14, "What a result depends on").

#[path = "../passes/tests/loop_cases/mod.rs"]
mod loop_cases;

use adjoint_interp::{eval_with, EvalOptions};
use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType};
use adjoint_jit::{compile, JitOptions};
use loop_cases::run;

/// `seq` steps of the Elman cell over a `batch × hidden` carry.
fn rnn(seq: usize, batch: usize, n_in: usize, hidden: usize, n_out: usize) -> Graph {
    let b = GraphBuilder::new("rnn");
    let xs = b.param("xs", TensorType::f32([seq, batch, n_in]));
    let y = b.param("y", TensorType::f32([batch, n_out]));
    let wx = b.param("wx", TensorType::f32([n_in, hidden]));
    let wh = b.param("wh", TensorType::f32([hidden, hidden]));
    let bias = b.param("b", TensorType::f32([hidden]));
    let wo = b.param("wo", TensorType::f32([hidden, n_out]));
    let h0 = b.full(&TensorType::f32([batch, hidden]), 0.0);
    let (h, _) = b.scan(&[h0], &[xs], |_, h, x| {
        (
            vec![(x[0].matmul(wx) + h[0].matmul(wh) + bias).tanh()],
            vec![],
        )
    });
    b.build(&[h[0].matmul(wo).mse(y)]).unwrap()
}

/// A small deterministic generator (xorshift), values in [-scale, scale).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    fn f32s(&mut self, dims: &[usize], scale: f64) -> Tensor {
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (scale * self.next()) as f32).collect();
        Tensor::from_f32(dims.to_vec(), v).unwrap()
    }
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Panics naming the first output and element whose bits differ.
fn same(a: &[Vec<u64>], b: &[Vec<u64>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: output count");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if let Some(k) = (0..x.len()).find(|&k| x[k] != y[k]) {
            let n = (0..x.len()).filter(|&k| x[k] != y[k]).count();
            panic!(
                "{what}: output {i} differs in {n} of {} elements, first at {k}: {} vs {}",
                x.len(),
                f64::from_bits(x[k]),
                f64::from_bits(y[k])
            );
        }
    }
}

fn jit(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let f = compile(g, &JitOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    f.run(inputs).unwrap_or_else(|e| panic!("{e}"))
}

/// Budgeted == unbudgeted bit for bit, on the JIT and on the interpreter
/// (in the JIT's math mode). The two engines need not agree with each
/// other: their `matmul`s sum in different orders (docs/ir.md section 14).
fn check(sizes: [usize; 5], inputs: &[Tensor], snapshots: &[usize]) {
    let [seq, batch, n_in, hidden, n_out] = sizes;
    let g = rnn(seq, batch, n_in, hidden, n_out);
    let opts = EvalOptions {
        math: JitOptions::default().math_mode(),
        ..EvalOptions::default()
    };
    for trim in [false, true] {
        let plain = derive(&g, "", trim);
        let want_jit = bits(&jit(&plain, inputs));
        let want_interp = bits(&eval_with(&plain, inputs, &opts).unwrap());
        for &s in snapshots {
            let h = derive(&g, &format!(",snapshots={s}"), trim);
            let what = format!("{sizes:?} snapshots={s} trimmed={trim}");
            let got = bits(&jit(&h, inputs));
            same(
                &got,
                &want_jit,
                &format!("{what}: JIT budgeted vs unbudgeted"),
            );
            let interp = bits(&eval_with(&h, inputs, &opts).unwrap());
            same(
                &interp,
                &want_interp,
                &format!("{what}: interpreter budgeted vs unbudgeted"),
            );
        }
    }
}

/// `grad{wrt=wx,wh,b,wo<budget>}` of `g`; with `trim`, as the W12 bench
/// derives it: the loss output dropped, then `simplify,cse,dce`.
fn derive(g: &Graph, budget: &str, trim: bool) -> Graph {
    let mut h = run(g, &format!("grad{{wrt=wx,wh,b,wo{budget}}}"));
    if trim {
        let outs = h.outputs()[1..].to_vec();
        h.set_outputs(outs);
        h = run(&h, "simplify,cse,dce");
    }
    h
}

/// Random inputs for `sizes`, in parameter order `xs, y, wx, wh, b, wo`.
fn random_inputs(sizes: [usize; 5], rng: &mut Rng) -> Vec<Tensor> {
    let [seq, batch, n_in, hidden, n_out] = sizes;
    vec![
        rng.f32s(&[seq, batch, n_in], 1.0),
        rng.f32s(&[batch, n_out], 1.0),
        rng.f32s(&[n_in, hidden], 0.5),
        rng.f32s(&[hidden, hidden], 0.5),
        rng.f32s(&[hidden], 0.5),
        rng.f32s(&[hidden, n_out], 0.5),
    ]
}

/// W9's deterministic inputs (benches: `xs[t,i,j] = sin(0.01 (1024 t +
/// 32 i + j))`, `y[i,k] = cos(0.1 (10 i + k))`, weights `0.05 sin(n +
/// off)` with `off` = 0, 1, 2, 3).
fn w9_inputs(sizes: [usize; 5]) -> Vec<Tensor> {
    let [seq, batch, n_in, hidden, n_out] = sizes;
    let t = |dims: &[usize], f: &dyn Fn(usize) -> f64| {
        let n = dims.iter().product();
        Tensor::from_f32(dims.to_vec(), (0..n).map(|i| f(i) as f32).collect()).unwrap()
    };
    let w = |off: f64| move |n: usize| 0.05 * (n as f64 + off).sin();
    vec![
        t(&[seq, batch, n_in], &|n| {
            let (s, i, j) = (n / (batch * n_in), n / n_in % batch, n % n_in);
            (0.01 * (s * 1024 + i * 32 + j) as f64).sin()
        }),
        t(&[batch, n_out], &|n| {
            (0.1 * (10 * (n / n_out) + n % n_out) as f64).cos()
        }),
        t(&[n_in, hidden], &w(0.0)),
        t(&[hidden, hidden], &w(1.0)),
        t(&[hidden], &w(2.0)),
        t(&[hidden, n_out], &w(3.0)),
    ]
}

/// The case found on W9's cell: sequence 2, batch 1, input 32, hidden 8,
/// output 10, W9's inputs; `∂wx` differed in the last bits on the JIT.
#[test]
fn rnn_cell_t2_hidden8_budgeted_is_bit_identical() {
    let sizes = [2, 1, 32, 8, 10];
    check(sizes, &w9_inputs(sizes), &[1, 2, 10]);
    // W9's own sizes (batch 32, hidden 128) over 3 steps.
    let sizes = [3, 32, 32, 128, 10];
    check(sizes, &w9_inputs(sizes), &[1, 2]);
}

#[test]
fn rnn_cell_random_shapes_budgeted_is_bit_identical() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for hidden in [1, 3, 8, 17, 64] {
        for seq in 1..=5 {
            let batch = 1 + (seq + hidden) % 3;
            let n_in = 1 + (3 * seq + hidden) % 5;
            let n_out = 1 + (seq * hidden) % 4;
            let sizes = [seq, batch, n_in, hidden, n_out];
            check(sizes, &random_inputs(sizes, &mut rng), &[1, 2, 10]);
        }
    }
}

/// The cause of the differences above: the GEMM crate's summation order
/// depended on the operands' strides, so `matmul(transpose(a), b)` (a
/// strided view) and the same product of a stored transpose gave different
/// bits. Now a product's bits depend only on its operands' values and
/// shapes: a transposed or broadcast operand equals its dense copy.
#[test]
fn matmul_bits_do_not_depend_on_operand_layout() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (m, k, n) in [
        (1, 7, 1),
        (5, 3, 1),
        (1, 9, 8),
        (8, 32, 1),
        (32, 1, 8),
        (3, 17, 4),
        (17, 33, 5),
        (40, 64, 40),
        (100, 50, 3),
        (3, 70, 100),
        (33, 600, 17),
        (300, 20, 1),
        (1, 20, 300),
    ] {
        // `a` given as its transpose `[k, m]`, `b` as its transpose `[n, k]`.
        let at = rng.f32s(&[k, m], 1.0);
        let bt = rng.f32s(&[n, k], 1.0);
        let dense = |t: &Tensor, r: usize, c: usize| {
            let v = t.to_f64_vec();
            let w: Vec<f32> = (0..r * c).map(|i| v[(i % r) * c + i / r] as f32).collect();
            Tensor::from_f32(vec![c, r], w).unwrap()
        };
        let (a, b) = (dense(&at, k, m), dense(&bt, n, k));
        let views = {
            let g = GraphBuilder::new("views");
            let at = g.param("at", TensorType::f32([k, m]));
            let bt = g.param("bt", TensorType::f32([n, k]));
            let c = at.transpose(&[1, 0]).matmul(bt.transpose(&[1, 0]));
            g.build(&[c]).unwrap()
        };
        let stored = {
            let g = GraphBuilder::new("stored");
            let a = g.param("a", TensorType::f32([m, k]));
            let b = g.param("b", TensorType::f32([k, n]));
            g.build(&[a.matmul(b)]).unwrap()
        };
        // `a` and `b` one element into longer buffers: views whose start is
        // not aligned as a buffer's is.
        let offset = {
            let g = GraphBuilder::new("offset");
            let a = g.param("a", TensorType::f32([m * k + 1]));
            let b = g.param("b", TensorType::f32([k * n + 1]));
            let a = a.slice(&[1], &[m * k + 1]).reshape([m, k]);
            let b = b.slice(&[1], &[k * n + 1]).reshape([k, n]);
            g.build(&[a.matmul(b)]).unwrap()
        };
        let shifted = |t: &Tensor| {
            let mut v = vec![7.0f32];
            v.extend(t.to_f64_vec().iter().map(|&x| x as f32));
            Tensor::from_f32(vec![v.len()], v).unwrap()
        };
        let want = bits(&jit(&stored, &[a.clone(), b.clone()]));
        same(
            &bits(&jit(&views, &[at, bt])),
            &want,
            &format!("{m}x{k}x{n}: transposed views vs stored transposes"),
        );
        same(
            &bits(&jit(&offset, &[shifted(&a), shifted(&b)])),
            &want,
            &format!("{m}x{k}x{n}: unaligned views vs stored copies"),
        );
    }
}
