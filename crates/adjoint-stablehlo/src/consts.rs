//! Constant literals: `dense<…>` with hex bit patterns for floats (MLIR has
//! no NaN or infinity literal, and decimal f32 literals risk double
//! rounding).

use adjoint_ir::{Tensor, TensorData};

/// One element as MLIR text: a hex bit pattern for floats, `true`/`false`.
fn elem(data: &TensorData, i: usize) -> String {
    match data {
        TensorData::F32(v) => format!("0x{:08X}", v[i].to_bits()),
        TensorData::F64(v) => format!("0x{:016X}", v[i].to_bits()),
        TensorData::Bool(v) => v[i].to_string(),
    }
}

/// The nested literal of `dims[axis..]` starting at element `base`.
fn nested(data: &TensorData, dims: &[usize], base: usize, out: &mut String) {
    match dims.split_first() {
        None => out.push_str(&elem(data, base)),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().product();
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push_str(", ");
                }
                nested(data, rest, base + i * inner, out);
            }
            out.push(']');
        }
    }
}

/// The `dense<…>` attribute of a constant: a splat when every element has
/// the same bits (or there are none), else a nested literal.
pub(crate) fn dense(t: &Tensor) -> String {
    let data = t.data();
    let n = t.len();
    let splat = (1..n).all(|i| elem(data, i) == elem(data, 0));
    if n == 0 {
        let zero = match data {
            TensorData::Bool(_) => "false".to_string(),
            TensorData::F32(_) => "0x00000000".to_string(),
            TensorData::F64(_) => "0x0000000000000000".to_string(),
        };
        return format!("dense<{zero}>");
    }
    if splat {
        return format!("dense<{}>", elem(data, 0));
    }
    let mut s = String::from("dense<");
    nested(data, t.shape().dims(), 0, &mut s);
    s.push('>');
    s
}
