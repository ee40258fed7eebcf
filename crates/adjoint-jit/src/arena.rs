//! The arena allocator: offsets of the intermediate buffers in the one
//! per-call arena, by liveness over the step order.
//!
//! Buffers are placed in order of first use. Before each placement the
//! buffers whose last use is over return their bytes to a free list
//! (neighbouring holes merge); a buffer goes into the smallest hole that
//! fits (best fit), else on top of the arena (extending a hole that ends
//! there). Every operation is a B-tree or heap operation, so a plan of `n`
//! buffers is placed in `O(n log n)` whatever the number of buffers live at
//! once. Sizes are 64-byte aligned and all size arithmetic is checked.

use crate::kernel_ir::{Buf, BufId, BufKind, Step};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Alignment of every buffer in the arena, in bytes.
const ALIGN: usize = 64;

/// Why the arena could not be laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ArenaError {
    /// The buffer's byte size is not representable.
    Overflow { buf: BufId },
    /// Placing the buffer makes the arena `bytes` long, over the budget.
    OverBudget { buf: BufId, bytes: usize },
}

/// The bytes of a buffer in the arena: its size rounded up to [`ALIGN`],
/// or `None` if that overflows.
pub(crate) fn buf_bytes(b: &Buf) -> Option<usize> {
    b.numel
        .checked_mul(b.dtype.size_bytes())?
        .checked_next_multiple_of(ALIGN)
}

/// Free holes below the top of the arena, by offset and by size.
#[derive(Default)]
struct Holes {
    by_offset: BTreeMap<usize, usize>,
    by_size: BTreeSet<(usize, usize)>,
}

impl Holes {
    fn insert(&mut self, off: usize, size: usize) {
        self.by_offset.insert(off, size);
        self.by_size.insert((size, off));
    }

    fn remove(&mut self, off: usize, size: usize) {
        self.by_offset.remove(&off);
        self.by_size.remove(&(size, off));
    }

    /// Returns `[off, off + size)` to the free list, merging neighbours;
    /// a hole that reaches the top lowers the top instead.
    fn free(&mut self, mut off: usize, mut size: usize, top: &mut usize) {
        if let Some((&o, &s)) = self.by_offset.range(..off).next_back() {
            if o + s == off {
                self.remove(o, s);
                off = o;
                size += s;
            }
        }
        if let Some(&s) = self.by_offset.get(&(off + size)) {
            self.remove(off + size, s);
            size += s;
        }
        if off + size == *top {
            *top = off;
        } else {
            self.insert(off, size);
        }
    }

    /// The offset of the smallest hole of at least `size` bytes, taken.
    fn take(&mut self, size: usize) -> Option<usize> {
        let &(s, off) = self.by_size.range((size, 0)..).next()?;
        self.remove(off, s);
        if s > size {
            self.insert(off + size, s - size);
        }
        Some(off)
    }
}

/// Assigns arena offsets to the arena buffers of `bufs` touched by
/// `steps` and returns the arena's size, which may not exceed `budget`.
pub(crate) fn allocate(
    bufs: &mut [Buf],
    steps: &[Step],
    budget: usize,
) -> Result<usize, ArenaError> {
    let n = bufs.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let mut touch = |b: BufId, s: usize| {
        first[b] = first[b].min(s);
        last[b] = last[b].max(s);
    };
    for (s, step) in steps.iter().enumerate() {
        match step {
            Step::Kernel(k) => {
                k.accesses.iter().for_each(|a| touch(a.buf, s));
                k.reductions
                    .iter()
                    .filter_map(|r| r.scratch)
                    .for_each(|b| touch(b, s));
            }
            Step::Control(c) => c.buffers().into_iter().for_each(|b| touch(b, s)),
            Step::MatMul { a, b, c, .. } => {
                touch(*a, s);
                touch(*b, s);
                touch(*c, s);
            }
        }
    }
    let mut order: Vec<BufId> = (0..n)
        .map(BufId::new)
        .filter(|&b| matches!(bufs[b].kind, BufKind::Arena { .. }) && first[b] != usize::MAX)
        .collect();
    order.sort_by_key(|&b| (first[b], b));
    // Live buffers by last use: (last, offset, size).
    let mut live: BinaryHeap<Reverse<(usize, usize, usize)>> = BinaryHeap::new();
    let mut holes = Holes::default();
    let (mut top, mut total) = (0usize, 0usize);
    for b in order {
        while let Some(&Reverse((l, off, size))) = live.peek() {
            if l >= first[b] {
                break;
            }
            live.pop();
            holes.free(off, size, &mut top);
        }
        let size = buf_bytes(&bufs[b]).ok_or(ArenaError::Overflow { buf: b })?;
        let off = match holes.take(size) {
            Some(off) => off,
            None => {
                // Extend the hole that ends at the top, if any.
                let base = match holes.by_offset.range(..top).next_back() {
                    Some((&o, &s)) if o + s == top => {
                        holes.remove(o, s);
                        o
                    }
                    _ => top,
                };
                top = base
                    .checked_add(size)
                    .ok_or(ArenaError::Overflow { buf: b })?;
                base
            }
        };
        if off + size > budget {
            return Err(ArenaError::OverBudget {
                buf: b,
                bytes: off + size,
            });
        }
        live.push(Reverse((last[b], off, size)));
        bufs[b].kind = BufKind::Arena { offset: off };
        total = total.max(off + size);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_ir::{Access, Kernel};
    use adjoint_ir::{DType, GraphBuilder, TensorType};

    fn buf(numel: usize) -> Buf {
        let g = GraphBuilder::new("t");
        let owner = g.param("x", TensorType::f64([])).id();
        Buf {
            kind: BufKind::Arena { offset: 0 },
            dtype: DType::F64,
            numel,
            owner,
        }
    }

    /// A step touching `bs`.
    fn step(bs: &[usize]) -> Step {
        Step::Kernel(Kernel {
            label: String::new(),
            outer: vec![],
            inner: vec![1],
            accesses: bs
                .iter()
                .map(|&b| Access {
                    buf: BufId::new(b),
                    dtype: DType::F64,
                    offset: 0,
                    outer: vec![],
                    inner: vec![0],
                    outer_valid: vec![],
                    inner_valid: vec![None],
                })
                .collect(),
            exprs: vec![],
            tys: vec![],
            stores: vec![],
            reductions: vec![],
        })
    }

    fn offset(b: &Buf) -> usize {
        match b.kind {
            BufKind::Arena { offset } => offset,
            _ => unreachable!(),
        }
    }

    #[test]
    fn bytes_are_reused_after_the_last_use() {
        // b0 (steps 0-1), b1 (1-2), b2 (2-3): b2 reuses b0's bytes.
        let mut bufs = vec![buf(8), buf(8), buf(8)];
        let steps = [step(&[0]), step(&[0, 1]), step(&[1, 2]), step(&[2])];
        assert_eq!(allocate(&mut bufs, &steps, usize::MAX), Ok(128));
        assert_eq!(offset(&bufs[0]), 0);
        assert_eq!(offset(&bufs[1]), 64);
        assert_eq!(offset(&bufs[2]), 0);
    }

    #[test]
    fn holes_merge_and_the_smallest_fitting_hole_is_used() {
        // b0, b1, b2 live together (64 bytes each); b0 and b1 end, leaving
        // one 128-byte hole that b3 (128 bytes) fills; b4 (64 bytes) goes
        // on top.
        let mut bufs = vec![buf(8), buf(8), buf(8), buf(16), buf(8)];
        let steps = [step(&[0, 1, 2]), step(&[2, 3]), step(&[2, 3, 4])];
        assert_eq!(allocate(&mut bufs, &steps, usize::MAX), Ok(256));
        assert_eq!(offset(&bufs[3]), 0);
        assert_eq!(offset(&bufs[4]), 192);
    }

    #[test]
    fn a_long_chain_uses_two_buffers_of_space() {
        // Buffer i is written by step i and read by step i + 1.
        let n = 100_000;
        let mut bufs: Vec<Buf> = (0..n).map(|_| buf(8)).collect();
        let steps: Vec<Step> = (0..n)
            .map(|i| {
                if i == 0 {
                    step(&[0])
                } else {
                    step(&[i - 1, i])
                }
            })
            .collect();
        assert_eq!(allocate(&mut bufs, &steps, usize::MAX), Ok(128));
    }

    #[test]
    fn sizes_that_overflow_are_errors() {
        // numel * 8 overflows usize.
        let mut bufs = vec![buf(usize::MAX / 4)];
        assert_eq!(
            allocate(&mut bufs, &[step(&[0])], usize::MAX),
            Err(ArenaError::Overflow { buf: BufId::new(0) })
        );
        // Each size is representable, their sum is not.
        let mut bufs = vec![buf(usize::MAX / 16), buf(usize::MAX / 16)];
        assert_eq!(
            allocate(&mut bufs, &[step(&[0, 1])], usize::MAX),
            Err(ArenaError::Overflow { buf: BufId::new(1) })
        );
    }

    #[test]
    fn the_budget_is_enforced() {
        let mut bufs = vec![buf(8), buf(8)];
        let steps = [step(&[0, 1])];
        assert_eq!(allocate(&mut bufs.clone(), &steps, 128), Ok(128));
        assert_eq!(
            allocate(&mut bufs, &steps, 127),
            Err(ArenaError::OverBudget {
                buf: BufId::new(1),
                bytes: 128
            })
        );
    }
}
