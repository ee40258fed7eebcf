//! MLIR type and array-attribute syntax.

use adjoint_ir::{DType, TensorType};
use std::fmt::Write;

/// The MLIR type of a tensor type: `tensor<2x3xf64>`, `tensor<f64>`,
/// `tensor<4xi1>`.
pub(crate) fn ty(t: &TensorType) -> String {
    let el = match t.dtype {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::Bool => "i1",
    };
    let mut s = String::from("tensor<");
    for d in t.shape.dims() {
        let _ = write!(s, "{d}x");
    }
    s.push_str(el);
    s.push('>');
    s
}

/// `array<i64: 1, 2>`.
pub(crate) fn arr(v: &[usize]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    if items.is_empty() {
        return "array<i64>".to_string();
    }
    format!("array<i64: {}>", items.join(", "))
}
