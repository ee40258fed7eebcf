//! The Elman RNN of W9 and W12 (../shared/workloads.md), by sizes: its
//! loss graph, its deterministic inputs and one gradient call, shared by
//! `benches/workloads.rs` (criterion) and `benches/w12_memory.rs` (the
//! time-against-memory table).

// Each bench uses a part of this module.
#![allow(dead_code)]

use adjoint::ir::{Graph, GraphBuilder, TensorType};
use adjoint::jit::{BufMut, BufRef, CompiledFn};
use std::hint::black_box;

/// The sizes of one RNN workload.
#[derive(Clone, Copy, Debug)]
pub struct Rnn {
    /// Sequence length: the scan's trip count.
    pub seq: usize,
    /// Sequences per batch.
    pub batch: usize,
    /// Input features per step.
    pub n_in: usize,
    /// Hidden units (the carry is `batch × hidden`).
    pub hidden: usize,
    /// Outputs of the final projection.
    pub n_out: usize,
}

/// W9: sequence 100, batch 32, input 32, hidden 128, output 10.
pub const W9: Rnn = Rnn {
    seq: 100,
    batch: 32,
    n_in: 32,
    hidden: 128,
    n_out: 10,
};

/// W12: W9's cell with batch 1, hidden 256 and 10,000 steps.
pub const W12: Rnn = Rnn {
    seq: 10_000,
    batch: 1,
    n_in: 32,
    hidden: 256,
    n_out: 10,
};

/// The gradient's `wrt` list: every weight.
pub const WRT: &str = "wx,wh,b,wo";

/// `0.05 sin(n + off)` for `n` in `0..len`, as f32.
fn weight(len: usize, off: f64) -> Vec<f32> {
    (0..len)
        .map(|n| (0.05 * (n as f64 + off).sin()) as f32)
        .collect()
}

/// The inputs of one call, in parameter order: `xs, y, wx, wh, b, wo`.
pub struct Inputs {
    /// `xs[t, i, j] = sin(0.01 (t·1024 + i·32 + j))`.
    pub xs: Vec<f32>,
    /// `y[i, k] = cos(0.1 (10 i + k))`.
    pub y: Vec<f32>,
    /// The weights `wx, wh, b, wo`, `0.05 sin(n + off)` with `off` = 0, 1, 2, 3.
    pub w: [Vec<f32>; 4],
}

impl Inputs {
    /// The buffers in parameter order.
    pub fn bufs(&self) -> [BufRef<'_>; 6] {
        let [wx, wh, b, wo] = &self.w;
        [&self.xs, &self.y, wx, wh, b, wo].map(|v| BufRef::F32(v))
    }

    /// Zeroed gradient buffers, one per weight.
    pub fn zero_grads(&self) -> [Vec<f32>; 4] {
        self.w.each_ref().map(|w| vec![0.0f32; w.len()])
    }
}

impl Rnn {
    /// `(xs, y, wx, wh, b, wo) -> mean((h_T wo − y)²)`, the Elman cell
    /// `h_t = tanh(x_t wx + h_{t−1} wh + b)` from `h_0 = 0` as the body of
    /// one `scan` over the sequence.
    pub fn loss(&self) -> Graph {
        let Rnn {
            seq,
            batch,
            n_in,
            hidden,
            n_out,
        } = *self;
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

    /// The workload's deterministic inputs.
    pub fn inputs(&self) -> Inputs {
        let Rnn {
            seq,
            batch,
            n_in,
            hidden,
            n_out,
        } = *self;
        let xs = (0..seq * batch * n_in)
            .map(|n| {
                let (t, i, j) = (n / (batch * n_in), n / n_in % batch, n % n_in);
                (0.01 * (t * 1024 + i * 32 + j) as f64).sin() as f32
            })
            .collect();
        let y = (0..batch * n_out)
            .map(|n| (0.1 * (10 * (n / n_out) + n % n_out) as f64).cos() as f32)
            .collect();
        Inputs {
            xs,
            y,
            w: [
                weight(n_in * hidden, 0.0),
                weight(hidden * hidden, 1.0),
                weight(hidden, 2.0),
                weight(hidden * n_out, 3.0),
            ],
        }
    }
}

/// Calls `f`, a derived program whose outputs are `[loss, ∂wx, ∂wh, ∂b,
/// ∂wo]` (with `loss`) or the four gradients alone (without).
pub fn call(f: &CompiledFn, ins: &Inputs, loss: Option<&mut [f32]>, g: &mut [Vec<f32>; 4]) {
    let [gwx, gwh, gb, gwo] = g;
    let mut outs: Vec<BufMut<'_>> = loss.into_iter().map(BufMut::F32).collect();
    outs.extend([gwx, gwh, gb, gwo].map(|v| BufMut::F32(v)));
    f.call(black_box(&ins.bufs()), &mut outs).unwrap()
}
