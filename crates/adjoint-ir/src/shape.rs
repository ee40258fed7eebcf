//! Static shapes and tensor types.

use crate::DType;
use std::fmt;

/// A static tensor shape: the size of each axis, outermost first. Rank 0 is a
/// scalar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: impl Into<Vec<usize>>) -> Shape {
        Shape(dims.into())
    }

    /// The rank-0 (scalar) shape.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Whether this is rank 0.
    pub fn is_scalar(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of elements (1 for a scalar, 0 if any axis is 0), or
    /// `None` if it does not fit in a `usize`.
    ///
    /// ```
    /// use adjoint_ir::Shape;
    /// assert_eq!(Shape::new([3, 4]).checked_numel(), Some(12));
    /// assert_eq!(Shape::new([usize::MAX, 2]).checked_numel(), None);
    /// assert_eq!(Shape::new([usize::MAX, 2, 0]).checked_numel(), Some(0));
    /// ```
    pub fn checked_numel(&self) -> Option<usize> {
        if self.0.contains(&0) {
            return Some(0);
        }
        self.0.iter().try_fold(1usize, |p, &d| p.checked_mul(d))
    }

    /// The number of elements (1 for a scalar, 0 if any axis is 0),
    /// computed with checked arithmetic: a count that does not fit in a
    /// `usize` is `usize::MAX`, which no buffer can match, so a size check
    /// against it fails instead of passing on a wrapped-around count.
    /// Shapes within the limits of docs/ir.md §12 never get there.
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }

    /// Row-major strides, in elements (saturating, like [`Shape::numel`]).
    pub fn strides(&self) -> Vec<usize> {
        let mut s = vec![1usize; self.0.len()];
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1].saturating_mul(self.0[i + 1]);
        }
        s
    }

    /// The numpy broadcast of two shapes, or `None` if they are incompatible.
    ///
    /// ```
    /// use adjoint_ir::Shape;
    /// let a = Shape::new([3, 1, 5]);
    /// let b = Shape::new([4, 5]);
    /// assert_eq!(Shape::broadcast(&a, &b), Some(Shape::new([3, 4, 5])));
    /// assert_eq!(Shape::broadcast(&Shape::new([2]), &Shape::new([3])), None);
    /// ```
    pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
        let rank = a.rank().max(b.rank());
        let mut out = vec![0; rank];
        for (i, o) in out.iter_mut().enumerate() {
            let da = dim_from_right(a, rank - 1 - i);
            let db = dim_from_right(b, rank - 1 - i);
            *o = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Some(Shape(out))
    }

    /// Whether `self` broadcasts to `target` under numpy rules (trailing axes
    /// aligned; each axis equal or 1).
    pub fn broadcasts_to(&self, target: &Shape) -> bool {
        if self.rank() > target.rank() {
            return false;
        }
        let off = target.rank() - self.rank();
        self.0
            .iter()
            .enumerate()
            .all(|(i, &d)| d == target.0[off + i] || d == 1)
    }
}

fn dim_from_right(s: &Shape, k: usize) -> usize {
    if k < s.rank() {
        s.0[s.rank() - 1 - k]
    } else {
        1
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Shape {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Shape {
        Shape(v.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Shape {
        Shape(v.to_vec())
    }
}

/// The type of a value: a dtype and a static shape. Displays as in the text
/// IR: `f64` for a scalar, `f32[128,256]` otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Static shape.
    pub shape: Shape,
}

impl TensorType {
    /// A tensor type from a dtype and a shape.
    pub fn new(dtype: DType, shape: impl Into<Shape>) -> TensorType {
        TensorType {
            dtype,
            shape: shape.into(),
        }
    }

    /// A scalar of `dtype`.
    pub fn scalar(dtype: DType) -> TensorType {
        TensorType::new(dtype, Shape::scalar())
    }

    /// An `f64` tensor of the given shape.
    pub fn f64(dims: impl Into<Shape>) -> TensorType {
        TensorType::new(DType::F64, dims)
    }

    /// An `f32` tensor of the given shape.
    pub fn f32(dims: impl Into<Shape>) -> TensorType {
        TensorType::new(DType::F32, dims)
    }

    /// A `bool` tensor of the given shape.
    pub fn bool(dims: impl Into<Shape>) -> TensorType {
        TensorType::new(DType::Bool, dims)
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// The same shape with another dtype.
    pub fn with_dtype(&self, dtype: DType) -> TensorType {
        TensorType::new(dtype, self.shape.clone())
    }

    /// Bytes needed to hold a value of this type (`usize::MAX` if that
    /// does not fit in a `usize`; see [`Shape::numel`]).
    pub fn size_bytes(&self) -> usize {
        self.numel().saturating_mul(self.dtype.size_bytes())
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_scalar() {
            write!(f, "{}", self.dtype)
        } else {
            write!(f, "{}{}", self.dtype, self.shape)
        }
    }
}
