//! Typed views of caller-owned buffers, the arguments of
//! [`CompiledFn::call`](crate::CompiledFn::call).

use adjoint_ir::DType;

/// A read-only input buffer of one of the IR's dtypes.
#[derive(Clone, Copy, Debug)]
pub enum BufRef<'a> {
    /// `f32` elements.
    F32(&'a [f32]),
    /// `f64` elements.
    F64(&'a [f64]),
    /// `bool` elements.
    Bool(&'a [bool]),
}

/// A writable output buffer of one of the IR's dtypes.
#[derive(Debug)]
pub enum BufMut<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `f64` elements.
    F64(&'a mut [f64]),
    /// `bool` elements.
    Bool(&'a mut [bool]),
}

impl BufRef<'_> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            BufRef::F32(_) => DType::F32,
            BufRef::F64(_) => DType::F64,
            BufRef::Bool(_) => DType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            BufRef::F32(v) => v.len(),
            BufRef::F64(v) => v.len(),
            BufRef::Bool(v) => v.len(),
        }
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn ptr(&self) -> *const u8 {
        match self {
            BufRef::F32(v) => v.as_ptr().cast(),
            BufRef::F64(v) => v.as_ptr().cast(),
            BufRef::Bool(v) => v.as_ptr().cast(),
        }
    }
}

impl BufMut<'_> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            BufMut::F32(_) => DType::F32,
            BufMut::F64(_) => DType::F64,
            BufMut::Bool(_) => DType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            BufMut::F32(v) => v.len(),
            BufMut::F64(v) => v.len(),
            BufMut::Bool(v) => v.len(),
        }
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn ptr(&mut self) -> *mut u8 {
        match self {
            BufMut::F32(v) => v.as_mut_ptr().cast(),
            BufMut::F64(v) => v.as_mut_ptr().cast(),
            BufMut::Bool(v) => v.as_mut_ptr().cast(),
        }
    }
}

impl<'a> From<&'a [f64]> for BufRef<'a> {
    fn from(v: &'a [f64]) -> Self {
        BufRef::F64(v)
    }
}

impl<'a> From<&'a [f32]> for BufRef<'a> {
    fn from(v: &'a [f32]) -> Self {
        BufRef::F32(v)
    }
}

impl<'a> From<&'a [bool]> for BufRef<'a> {
    fn from(v: &'a [bool]) -> Self {
        BufRef::Bool(v)
    }
}

impl<'a> From<&'a mut [f64]> for BufMut<'a> {
    fn from(v: &'a mut [f64]) -> Self {
        BufMut::F64(v)
    }
}

impl<'a> From<&'a mut [f32]> for BufMut<'a> {
    fn from(v: &'a mut [f32]) -> Self {
        BufMut::F32(v)
    }
}

impl<'a> From<&'a mut [bool]> for BufMut<'a> {
    fn from(v: &'a mut [bool]) -> Self {
        BufMut::Bool(v)
    }
}
