//! Working memory: how many bytes a value or an op needs, and fallible
//! allocation of the kernels' buffers.
//!
//! Every buffer the interpreter allocates goes through [`try_vec`] (or the
//! helpers built on it), which uses `try_reserve_exact`: an allocation the
//! allocator refuses is an [`Error`] naming the op and the byte size, never
//! an abort. Before evaluating anything, [`crate::eval_with`] also checks the
//! program's peak working memory, computed from the types alone (see
//! `schedule.rs`), against [`crate::EvalOptions::max_working_bytes`], so a
//! program too large for the machine fails at once instead of being
//! OOM-killed half way (Linux overcommits: a reservation can succeed and the
//! process still die when it touches the pages).

use adjoint_ir::{Error, Op, Result, TensorData, TensorType};

/// The bytes a value of type `ty` occupies, saturating at `u64::MAX` (a
/// malformed shape whose element count overflows is simply too large).
pub(crate) fn type_bytes(ty: &TensorType) -> u64 {
    ty.shape
        .dims()
        .iter()
        .try_fold(ty.dtype.size_bytes() as u64, |acc, &d| {
            acc.checked_mul(d as u64)
        })
        .unwrap_or(u64::MAX)
}

/// The element count of `dims`, saturating at `u64::MAX`.
fn count(dims: &[usize]) -> u64 {
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX)
}

/// The scratch bytes the kernel of `op` may hold besides its result, for
/// operands of types `operands` and a result of type `ty` (an upper bound).
/// `call` is not handled here: a call's working memory is its body's peak.
pub(crate) fn scratch_bytes(op: &Op, operands: &[&TensorType], ty: &TensorType) -> u64 {
    match op {
        // The operand rearranged so that each group of reduced elements is
        // contiguous (a copy, unless the reduced axes are already last).
        Op::ReduceSum { .. } | Op::ReduceMax { .. } => {
            operands.first().map_or(0, |x| type_bytes(x))
        }
        // The right matrix transposed (k × n elements) and one offset per
        // batch for each operand.
        Op::MatMul => {
            let (Some(a), Some(b)) = (operands.first(), operands.get(1)) else {
                return 0;
            };
            let (ar, bd) = (a.shape.rank(), b.shape.dims());
            let bt = count(&bd[bd.len().saturating_sub(2)..]);
            let bt_bytes = bt.saturating_mul(ty.dtype.size_bytes() as u64);
            let matrix_axes = usize::from(ar >= 2) + usize::from(bd.len() >= 2);
            let dims = ty.shape.dims();
            let batch = count(&dims[..dims.len().saturating_sub(matrix_axes)]);
            let offsets = batch.saturating_mul(2 * std::mem::size_of::<usize>() as u64);
            bt_bytes.saturating_add(offsets)
        }
        _ => 0,
    }
}

/// The error for an allocation of `n` elements of `T` that failed.
fn alloc_error<T>(n: usize, what: &str) -> Error {
    let size = std::mem::size_of::<T>();
    let bytes = n as u128 * size as u128;
    Error::eval(format!(
        "{what}: cannot allocate {bytes} bytes ({n} elements of {size} bytes): out of memory"
    ))
}

/// An empty vector with room for exactly `n` elements, or an error naming
/// `what` (the op) and the byte size if the allocation fails.
pub(crate) fn try_vec<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| alloc_error::<T>(n, what))?;
    Ok(v)
}

/// The `n` items of `items` in a fallibly allocated vector.
pub(crate) fn try_collect<T>(
    n: usize,
    items: impl Iterator<Item = T>,
    what: &str,
) -> Result<Vec<T>> {
    let mut v = try_vec(n, what)?;
    v.extend(items.take(n));
    Ok(v)
}

/// `n` copies of `value` in a fallibly allocated vector.
pub(crate) fn try_filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = try_vec(n, what)?;
    v.resize(n, value);
    Ok(v)
}

/// A copy of `data` in fallibly allocated storage.
pub(crate) fn try_clone_data(data: &TensorData, what: &str) -> Result<TensorData> {
    fn copy<T: Copy>(src: &[T], what: &str) -> Result<Vec<T>> {
        let mut v = try_vec(src.len(), what)?;
        v.extend_from_slice(src);
        Ok(v)
    }
    Ok(match data {
        TensorData::F32(v) => TensorData::F32(copy(v, what)?),
        TensorData::F64(v) => TensorData::F64(copy(v, what)?),
        TensorData::Bool(v) => TensorData::Bool(copy(v, what)?),
    })
}

/// A copy of `t` in fallibly allocated storage.
pub(crate) fn try_clone(t: &adjoint_ir::Tensor, what: &str) -> Result<adjoint_ir::Tensor> {
    adjoint_ir::Tensor::new(t.shape().clone(), try_clone_data(t.data(), what)?)
}

/// The physical memory the process may use, if it can be found: the
/// smaller of the machine's `MemTotal` and the cgroup (v2 or v1) memory
/// limit, on Linux; `None` elsewhere.
pub(crate) fn physical_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// Whether `dtype`'s elements are the Rust types the kernels store (so that
/// [`type_bytes`] is the size of the kernels' buffers).
#[cfg(test)]
fn sizes_agree(dtype: adjoint_ir::DType) -> bool {
    use adjoint_ir::DType;
    let rust = match dtype {
        DType::F32 => std::mem::size_of::<f32>(),
        DType::F64 => std::mem::size_of::<f64>(),
        DType::Bool => std::mem::size_of::<bool>(),
    };
    rust == dtype.size_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use adjoint_ir::DType;

    #[test]
    fn element_sizes_agree() {
        assert!(DType::ALL.into_iter().all(sizes_agree));
    }

    #[test]
    fn type_bytes_saturates() {
        assert_eq!(type_bytes(&TensorType::f64([2147483648])), 1 << 34);
        assert_eq!(type_bytes(&TensorType::bool([3, 0, 5])), 0);
        assert_eq!(type_bytes(&TensorType::f32([])), 4);
        let huge = TensorType::f64([usize::MAX, usize::MAX]);
        assert_eq!(type_bytes(&huge), u64::MAX);
    }

    #[test]
    fn failed_allocation_names_op_and_size() {
        let e = try_vec::<f64>(usize::MAX / 8, "broadcast").unwrap_err();
        let bytes = (usize::MAX / 8) as u128 * 8;
        assert!(e.message.starts_with("broadcast: cannot allocate"), "{e}");
        assert!(e.message.contains(&format!("{bytes} bytes")), "{e}");
    }
}
