//! Dense host tensors: constants in the IR, and the values the interpreter
//! and the JIT take and return.

use crate::{DType, Error, Result, Shape, TensorType};
use std::hash::{Hash, Hasher};

/// Row-major element storage of a [`Tensor`], one variant per dtype.
#[derive(Clone, Debug)]
pub enum TensorData {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `bool` elements.
    Bool(Vec<bool>),
}

impl TensorData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dense tensor with a static shape, stored row-major.
///
/// Equality and hashing are bitwise on the elements (so `NaN == NaN` and
/// `0.0 != -0.0`), which is what constant folding and CSE need.
///
/// ```
/// use adjoint_ir::{Tensor, Shape};
/// let t = Tensor::from_f64([2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// assert_eq!(t.shape(), &Shape::new([2, 2]));
/// assert_eq!(t.to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0]);
/// assert!(Tensor::from_f64([3], vec![1.0]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Tensor {
    shape: Shape,
    data: TensorData,
}

impl Tensor {
    /// A tensor from a shape and matching data; errors if the element count
    /// does not match the shape.
    pub fn new(shape: impl Into<Shape>, data: TensorData) -> Result<Tensor> {
        let shape = shape.into();
        if shape.numel() != data.len() {
            return Err(Error::input(format!(
                "tensor of shape {shape} needs {} elements, got {}",
                shape.numel(),
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// An `f64` tensor.
    pub fn from_f64(shape: impl Into<Shape>, data: Vec<f64>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F64(data))
    }

    /// An `f32` tensor.
    pub fn from_f32(shape: impl Into<Shape>, data: Vec<f32>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F32(data))
    }

    /// A `bool` tensor.
    pub fn from_bool(shape: impl Into<Shape>, data: Vec<bool>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::Bool(data))
    }

    /// A scalar `f64`.
    pub fn scalar_f64(v: f64) -> Tensor {
        Tensor {
            shape: Shape::scalar(),
            data: TensorData::F64(vec![v]),
        }
    }

    /// A scalar `f32`.
    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor {
            shape: Shape::scalar(),
            data: TensorData::F32(vec![v]),
        }
    }

    /// A tensor of type `ty` with every element `v` (converted to the dtype;
    /// for `bool`, nonzero is `true`).
    pub fn full(ty: &TensorType, v: f64) -> Tensor {
        let n = ty.numel();
        let data = match ty.dtype {
            DType::F32 => TensorData::F32(vec![v as f32; n]),
            DType::F64 => TensorData::F64(vec![v; n]),
            DType::Bool => TensorData::Bool(vec![v != 0.0; n]),
        };
        Tensor {
            shape: ty.shape.clone(),
            data,
        }
    }

    /// A tensor of zeros (or `false`) of type `ty`.
    pub fn zeros(ty: &TensorType) -> Tensor {
        Tensor::full(ty, 0.0)
    }

    /// A tensor of type `ty` from `f64` values, converted to the dtype.
    pub fn from_f64_as(ty: &TensorType, values: &[f64]) -> Result<Tensor> {
        let data = match ty.dtype {
            DType::F32 => TensorData::F32(values.iter().map(|&v| v as f32).collect()),
            DType::F64 => TensorData::F64(values.to_vec()),
            DType::Bool => TensorData::Bool(values.iter().map(|&v| v != 0.0).collect()),
        };
        Tensor::new(ty.shape.clone(), data)
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The tensor type (dtype and shape).
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape.clone())
    }

    /// The element storage.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The element storage, mutably.
    pub fn data_mut(&mut self) -> &mut TensorData {
        &mut self.data
    }

    /// Consumes the tensor, returning its storage.
    pub fn into_data(self) -> TensorData {
        self.data
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The `f64` elements, if the dtype is `f64`.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            TensorData::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The `f32` elements, if the dtype is `f32`.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The `bool` elements, if the dtype is `bool`.
    pub fn as_bool(&self) -> Option<&[bool]> {
        match &self.data {
            TensorData::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// Every element converted to `f64` (`true` is 1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// The single element of a one-element tensor, as `f64`.
    pub fn scalar_value(&self) -> Option<f64> {
        if self.len() == 1 {
            self.to_f64_vec().first().copied()
        } else {
            None
        }
    }

    /// If every element has the same bits, that element as `f64`.
    pub fn splat_value(&self) -> Option<f64> {
        let v = self.to_f64_vec();
        let first = *v.first()?;
        let same = match &self.data {
            TensorData::F32(d) => d.iter().all(|x| x.to_bits() == d[0].to_bits()),
            TensorData::F64(d) => d.iter().all(|x| x.to_bits() == d[0].to_bits()),
            TensorData::Bool(d) => d.iter().all(|&x| x == d[0]),
        };
        same.then_some(first)
    }

    /// The same elements with another shape of equal element count.
    pub fn reshaped(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::new(shape, self.data.clone())
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.shape == other.shape
            && match (&self.data, &other.data) {
                (TensorData::F32(a), TensorData::F32(b)) => {
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                }
                (TensorData::F64(a), TensorData::F64(b)) => {
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                }
                (TensorData::Bool(a), TensorData::Bool(b)) => a == b,
                _ => false,
            }
    }
}

impl Eq for Tensor {}

impl Hash for Tensor {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.shape.hash(state);
        self.dtype().hash(state);
        match &self.data {
            TensorData::F32(v) => v.iter().for_each(|x| x.to_bits().hash(state)),
            TensorData::F64(v) => v.iter().for_each(|x| x.to_bits().hash(state)),
            TensorData::Bool(v) => v.hash(state),
        }
    }
}
