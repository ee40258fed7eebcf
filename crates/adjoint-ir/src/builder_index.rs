//! Indexing, stacking and shifting on [`Value`]: `at`, `range`, `stack`,
//! `roll` and `diff`, builder composites over the primitives `slice`,
//! `reshape` and `concat` (so AD and the JIT need no rules of their own).
//!
//! Indices are static. A negative index counts from the end, as in Python
//! (`-1` is the last element); an index outside `-n..n` is an error that
//! names the axis and the value's type.
//!
//! ```
//! use adjoint_ir::{GraphBuilder, TensorType};
//! let b = GraphBuilder::new("f");
//! let x = b.param("x", TensorType::f64([4, 3]));
//! assert_eq!(x.at(1).ty(), TensorType::f64([3]));          // x[1]
//! assert_eq!(x.at([-1, 2]).ty(), TensorType::f64([]));      // x[-1, 2]
//! assert_eq!(x.range(0, 1..3).ty(), TensorType::f64([2, 3])); // x[1:3]
//! assert_eq!(x.range(1, ..).ty(), TensorType::f64([4, 3]));   // x[:, :]
//! let s = b.stack(&[x.at([0, 0]), x.at([1, 1])], 0);        // scalars stack
//! assert_eq!(s.ty(), TensorType::f64([2]));
//! assert_eq!(x.roll(1, 0).ty(), TensorType::f64([4, 3]));
//! assert_eq!(x.diff(0).ty(), TensorType::f64([3, 3]));
//! let e = x.try_at(4).unwrap_err();
//! assert!(e.message.contains("index 4") && e.message.contains("f64[4,3]"), "{}", e.message);
//! ```

use crate::builder::ok;
use crate::{Error, GraphBuilder, Result, Value};
use std::ops::{Bound, RangeBounds};

/// One static index: any primitive integer (negative counts from the end).
pub trait IndexInt: Copy {
    /// The index as an `i128` (every primitive integer fits).
    fn to_i128(self) -> i128;
}

macro_rules! index_int {
    ($($t:ty),*) => {
        $(impl IndexInt for $t {
            fn to_i128(self) -> i128 {
                self as i128
            }
        })*
    };
}
index_int!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// Static indices for [`Value::at`]: one integer, an array, a slice or a
/// vector of them (one per leading axis).
pub trait Indices {
    /// The indices, one per leading axis.
    fn indices(&self) -> Vec<i128>;
}

impl<T: IndexInt> Indices for T {
    fn indices(&self) -> Vec<i128> {
        vec![self.to_i128()]
    }
}

impl<T: IndexInt, const N: usize> Indices for [T; N] {
    fn indices(&self) -> Vec<i128> {
        self.iter().map(|i| i.to_i128()).collect()
    }
}

impl<T: IndexInt> Indices for &[T] {
    fn indices(&self) -> Vec<i128> {
        self.iter().map(|i| i.to_i128()).collect()
    }
}

impl<T: IndexInt> Indices for Vec<T> {
    fn indices(&self) -> Vec<i128> {
        self.iter().map(|i| i.to_i128()).collect()
    }
}

/// `i` (negative from the end) as a position in an axis of extent `n`, if
/// it is one. `end` admits `n` itself (an exclusive bound).
fn normalise(i: i128, n: usize, end: bool) -> Option<usize> {
    let n = n as i128;
    let j = if i < 0 { i + n } else { i };
    let hi = if end { n } else { n - 1 };
    (0..=hi).contains(&j).then_some(j as usize)
}

impl<'b> Value<'b> {
    fn axis_in_range(self, what: &str, axis: usize) -> Result<usize> {
        let dims = self.shape();
        if axis >= dims.rank() {
            return Err(Error::type_error(format!(
                "{what}: axis {axis} out of range for {}",
                self.ty()
            )));
        }
        Ok(dims.0[axis])
    }

    /// `x[i]`, `x[i, j]`, …: indexes the leading axes with static indices
    /// and removes them (a vector gives a scalar, a matrix indexed once a
    /// row). A negative index counts from the end; one out of range, or
    /// more indices than axes, is an error naming the value's type.
    pub fn try_at(self, idx: impl Indices) -> Result<Value<'b>> {
        let idx = idx.indices();
        let ty = self.ty();
        let dims = ty.shape.0.clone();
        if idx.len() > dims.len() {
            return Err(Error::type_error(format!(
                "at: indices {idx:?} are {} for {ty}, which has {} axes",
                idx.len(),
                dims.len()
            )));
        }
        let mut start = vec![0; dims.len()];
        let mut end = dims.clone();
        for (axis, &i) in idx.iter().enumerate() {
            let j = normalise(i, dims[axis], false).ok_or_else(|| {
                Error::type_error(format!(
                    "at: index {i} out of range for axis {axis} (extent {}) of {ty}",
                    dims[axis]
                ))
            })?;
            start[axis] = j;
            end[axis] = j + 1;
        }
        if idx.is_empty() {
            return Ok(self);
        }
        let strides = vec![1; dims.len()];
        self.try_slice(&start, &end, &strides)?
            .try_reshape(dims[idx.len()..].to_vec())
    }

    /// [`Value::try_at`], panicking on error.
    #[track_caller]
    pub fn at(self, idx: impl Indices) -> Value<'b> {
        ok(self.try_at(idx))
    }

    /// `x[a:b:step]` along `axis` (the other axes whole): `range` is any
    /// Rust range (`a..b`, `a..=b`, `a..`, `..b`, `..`), negative bounds
    /// counting from the end. A bound out of range, an empty range or a
    /// zero step is an error naming the value's type. (clippy denies a
    /// literal `1..-1` as a reversed range: write such bounds as
    /// variables, or `1..n - 1`; `..-1` and `-2..` are fine.)
    pub fn try_range_step(
        self,
        axis: usize,
        range: impl RangeBounds<i64>,
        step: usize,
    ) -> Result<Value<'b>> {
        let n = self.axis_in_range("range", axis)?;
        let ty = self.ty();
        let bad = |what: String| {
            Error::type_error(format!("range: {what} on axis {axis} (extent {n}) of {ty}"))
        };
        let at = |i: i64, end: bool| {
            normalise(i128::from(i), n, true)
                .map(|j| j + usize::from(end))
                .filter(|&j| j <= n)
                .ok_or_else(|| bad(format!("bound {i} out of range")))
        };
        let a = match range.start_bound() {
            Bound::Included(&i) => at(i, false)?,
            Bound::Excluded(&i) => at(i, true)?,
            Bound::Unbounded => 0,
        };
        let b = match range.end_bound() {
            Bound::Included(&i) => at(i, true)?,
            Bound::Excluded(&i) => at(i, false)?,
            Bound::Unbounded => n,
        };
        if step == 0 {
            return Err(bad("step 0".to_string()));
        }
        if a >= b {
            return Err(bad(format!("empty range {a}..{b}")));
        }
        if (a, b, step) == (0, n, 1) {
            return Ok(self);
        }
        let rank = ty.shape.rank();
        let (mut start, mut end, mut stride) = (vec![0; rank], ty.shape.0.clone(), vec![1; rank]);
        start[axis] = a;
        end[axis] = b;
        stride[axis] = step;
        self.try_slice(&start, &end, &stride)
    }

    /// [`Value::try_range_step`], panicking on error.
    #[track_caller]
    pub fn range_step(self, axis: usize, range: impl RangeBounds<i64>, step: usize) -> Value<'b> {
        ok(self.try_range_step(axis, range, step))
    }

    /// `x[a:b]` along `axis`: [`Value::try_range_step`] with step 1.
    pub fn try_range(self, axis: usize, range: impl RangeBounds<i64>) -> Result<Value<'b>> {
        self.try_range_step(axis, range, 1)
    }

    /// [`Value::try_range`], panicking on error.
    #[track_caller]
    pub fn range(self, axis: usize, range: impl RangeBounds<i64>) -> Value<'b> {
        ok(self.try_range(axis, range))
    }

    /// Rotates the elements along `axis` by `shift` places, as
    /// `numpy.roll`: `y[i] = x[(i − shift) mod n]` (a negative shift rotates
    /// the other way). Built as the `concat` of two slices (nothing for a
    /// shift that is a multiple of `n`); its adjoint is the opposite roll.
    pub fn try_roll(self, shift: i64, axis: usize) -> Result<Value<'b>> {
        let n = self.axis_in_range("roll", axis)?;
        let s = (i128::from(shift).rem_euclid(n as i128)) as i64;
        if s == 0 {
            return Ok(self);
        }
        let cut = n as i64 - s;
        let tail = self.try_range(axis, cut..)?;
        let head = self.try_range(axis, ..cut)?;
        self.builder().try_concat(&[tail, head], axis)
    }

    /// [`Value::try_roll`], panicking on error.
    #[track_caller]
    pub fn roll(self, shift: i64, axis: usize) -> Value<'b> {
        ok(self.try_roll(shift, axis))
    }

    /// Forward differences along `axis`, as `numpy.diff`:
    /// `y[i] = x[i + 1] − x[i]`, one element shorter. An axis of extent 1
    /// is an error (the result would be empty).
    pub fn try_diff(self, axis: usize) -> Result<Value<'b>> {
        let n = self.axis_in_range("diff", axis)?;
        if n < 2 {
            return Err(Error::type_error(format!(
                "diff: axis {axis} of {} has extent {n}; it needs at least 2",
                self.ty()
            )));
        }
        self.try_range(axis, 1..)?
            .try_sub(self.try_range(axis, ..-1)?)
    }

    /// [`Value::try_diff`], panicking on error.
    #[track_caller]
    pub fn diff(self, axis: usize) -> Value<'b> {
        ok(self.try_diff(axis))
    }
}

impl GraphBuilder {
    /// Stacks values of one type along a new axis `axis` (`0..=rank`), as
    /// `numpy.stack`: scalars give a vector, vectors a matrix. Values of
    /// different types, an empty list or an axis past the rank are errors.
    pub fn try_stack<'a>(&'a self, values: &[Value<'a>], axis: usize) -> Result<Value<'a>> {
        let Some(first) = values.first() else {
            return Err(Error::type_error("stack: no values to stack"));
        };
        let ty = first.ty();
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| v.ty() != ty) {
            return Err(Error::type_error(format!(
                "stack: value {i} is {}, value 0 is {ty}; stacked values need one type",
                v.ty()
            )));
        }
        let rank = ty.shape.rank();
        if axis > rank {
            return Err(Error::type_error(format!(
                "stack: axis {axis} out of range for values of {ty} (0..={rank})"
            )));
        }
        let mut dims = ty.shape.0.clone();
        dims.insert(axis, 1);
        let parts = values
            .iter()
            .map(|v| v.try_reshape(dims.clone()))
            .collect::<Result<Vec<_>>>()?;
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        self.try_concat(&parts, axis)
    }

    /// [`GraphBuilder::try_stack`], panicking on error.
    #[track_caller]
    pub fn stack<'a>(&'a self, values: &[Value<'a>], axis: usize) -> Value<'a> {
        ok(self.try_stack(values, axis))
    }
}
