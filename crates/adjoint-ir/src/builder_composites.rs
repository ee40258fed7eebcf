//! The everyday numerically stable composites on [`Value`]: `log1p`,
//! `expm1`, `softplus`, `logsumexp` over several axes,
//! `binary_cross_entropy_with_logits`, `var`, `clip` and `where_`. Each is
//! built from primitives (so AD and the JIT need no rules of their own);
//! the formulas, their accuracy and their behaviour at NaN, ±inf and −0 are
//! given with each method, and in docs/builder.md.
//!
//! Where a formula is only safe on part of the domain, the other part is
//! chosen with `select`, and the unsafe formula is fed a harmless operand
//! there (the "double where" of JAX): the branch that `select` drops still
//! gets a zero cotangent, and `0 · inf` would be NaN, so no branch may see
//! an operand at which its derivative is infinite.
//!
//! ```
//! use adjoint_ir::{GraphBuilder, TensorType};
//! let b = GraphBuilder::new("loss");
//! let z = b.param("z", TensorType::f64([4]));
//! let y = b.param("y", TensorType::f64([4]));
//! let loss = z.binary_cross_entropy_with_logits(y);
//! let spread = z.var();
//! let g = b.build(&[loss, spread, z.softplus().logsumexp(0)]).unwrap();
//! assert_eq!(g.outputs().len(), 3);
//! ```

use crate::builder::ok;
use crate::{DType, Error, GraphBuilder, Result, Value};

/// The axes of a reduction: one axis, or an array, a slice or a vector of
/// them (by value or by reference: `1`, `[0, 2]`, `&[0, 2]`, `&v`).
pub trait Axes {
    /// The axes.
    fn axes(&self) -> Vec<usize>;
}

impl Axes for usize {
    fn axes(&self) -> Vec<usize> {
        vec![*self]
    }
}

impl<const N: usize> Axes for [usize; N] {
    fn axes(&self) -> Vec<usize> {
        self.to_vec()
    }
}

impl Axes for &[usize] {
    fn axes(&self) -> Vec<usize> {
        self.to_vec()
    }
}

impl<const N: usize> Axes for &[usize; N] {
    fn axes(&self) -> Vec<usize> {
        self.to_vec()
    }
}

impl Axes for Vec<usize> {
    fn axes(&self) -> Vec<usize> {
        self.clone()
    }
}

impl Axes for &Vec<usize> {
    fn axes(&self) -> Vec<usize> {
        self.to_vec()
    }
}

impl<'b> Value<'b> {
    fn float_only(self, what: &str) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::type_error(format!(
                "{what}: expects a float operand, got {}",
                self.ty()
            )));
        }
        Ok(())
    }

    /// The shape with `axes` (checked: in range, no repeats) set to 1.
    fn keepdims(self, what: &str, axes: &[usize]) -> Result<Vec<usize>> {
        let ty = self.ty();
        let mut d = ty.shape.0.clone();
        for (k, &a) in axes.iter().enumerate() {
            if a >= d.len() {
                return Err(Error::type_error(format!(
                    "{what}: axis {a} out of range for {ty}"
                )));
            }
            if axes[..k].contains(&a) {
                return Err(Error::type_error(format!(
                    "{what}: axis {a} repeated in {axes:?} for {ty}"
                )));
            }
            d[a] = 1;
        }
        Ok(d)
    }

    /// `log(1 + x)`, accurate near 0.
    ///
    /// With `u = 1 + x` rounded, `log1p(x) = log(u) − ((u − 1) − x) / u`:
    /// `(u − 1) − x` is the rounding error of `u` (exact), and dividing it
    /// by `u` corrects `log(u)` to first order, so the result is within a
    /// few ulps of `log1p` for every `x > −1` (for `|x| < ε/2` it is `x`
    /// exactly), and its derivative `1/u + ((u − 1) − x)/u²` is within an
    /// ulp of `1/(1 + x)`. `x = ±0` gives `x` (the sign kept), `x = −1`
    /// gives −inf, `x = +inf` gives +inf, `x < −1`, −inf and NaN give NaN.
    /// Where `u` is 0 or +inf the plain `log(u)` is taken, and the
    /// correction is computed at `u = 1` (so its derivative is finite).
    pub fn try_log1p(self) -> Result<Value<'b>> {
        self.float_only("log1p")?;
        let one = self.lit(1.0);
        let u = one.try_add(self)?;
        let safe = u
            .try_gt(self.lit(0.0))?
            .try_and(u.try_lt(self.lit(f64::INFINITY))?)?;
        let us = safe.try_select(u, one)?;
        let xs = safe.try_select(self, self.lit(0.0))?;
        let corr = us.try_sub(one)?.try_sub(xs)?.try_div(us)?;
        let careful = us.ln().try_sub(corr)?;
        let r = safe.try_select(careful, u.ln())?;
        // ±0 stays itself (the formula gives +0 for −0).
        self.try_eq(self.lit(0.0))?.try_select(self, r)
    }

    /// [`Value::try_log1p`], panicking on error.
    #[track_caller]
    pub fn log1p(self) -> Value<'b> {
        ok(self.try_log1p())
    }

    /// `exp(x) − 1`, accurate near 0.
    ///
    /// For `|x| < 1/2`, with `t = tanh(x/2)`, `expm1(x) = 2t / (1 − t)`
    /// (from `e^x = (1 + t)/(1 − t)`): no cancellation, within a few ulps,
    /// and its derivative `(1 + t)/(1 − t)` is `e^x` to a few ulps too.
    /// For `|x| ≥ 1/2`, `exp(x) − 1` loses at most a few ulps. `x = ±0`
    /// gives `x`, +inf gives +inf, −inf gives −1, NaN gives NaN. The
    /// `tanh` branch is fed 0 where it is not taken (at large `x` its
    /// derivative would be infinite).
    pub fn try_expm1(self) -> Result<Value<'b>> {
        self.float_only("expm1")?;
        let small = self.abs().try_lt(self.lit(0.5))?;
        let xs = small.try_select(self, self.lit(0.0))?;
        let t = xs.try_mul(self.lit(0.5))?.tanh();
        let near = t
            .try_mul(self.lit(2.0))?
            .try_div(self.lit(1.0).try_sub(t)?)?;
        let far = self.exp().try_sub(self.lit(1.0))?;
        small.try_select(near, far)
    }

    /// [`Value::try_expm1`], panicking on error.
    #[track_caller]
    pub fn expm1(self) -> Value<'b> {
        ok(self.try_expm1())
    }

    /// `log(1 + exp(x))`, stably: `max(x, 0) + log1p(exp(min(x, −x)))`
    /// (`min(x, −x) = −|x|`, written so that the derivative at 0 is
    /// `1/2 = sigmoid(0)` under the IR's tie rule for `max`/`min`). Never
    /// overflows: `softplus(1000) = 1000`, `softplus(−1000) = 0`, and
    /// `softplus(−40) ≈ 4.25e−18` keeps full relative accuracy. Its
    /// derivative is `sigmoid(x)`. ±inf give +inf and 0; NaN gives NaN.
    pub fn try_softplus(self) -> Result<Value<'b>> {
        self.float_only("softplus")?;
        let pos = self.try_maximum(self.lit(0.0))?;
        let neg_abs = self.try_minimum(self.neg_())?;
        pos.try_add(neg_abs.exp().try_log1p()?)
    }

    /// [`Value::try_softplus`], panicking on error.
    #[track_caller]
    pub fn softplus(self) -> Value<'b> {
        ok(self.try_softplus())
    }

    /// `log(sum(exp(x)))` over `axes` (removed; one axis or several), with
    /// the maximum subtracted first: `log(sum(exp(x − m))) + m` with
    /// `m = max(x)` over `axes`, replaced by 0 where it is not finite (so a
    /// row of −inf gives −inf and a row holding +inf gives +inf, not NaN).
    /// The AD passes recognise this composite and differentiate it as a
    /// whole: its derivative is `softmax(x)`, with nothing sent through the
    /// max (NaN for a row that is all −inf, where it is undefined).
    pub fn try_logsumexp(self, axes: impl Axes) -> Result<Value<'b>> {
        let axes = axes.axes();
        self.float_only("logsumexp")?;
        let kd = self.keepdims("logsumexp", &axes)?;
        if axes.is_empty() {
            return Ok(self);
        }
        let m = self.try_max_axes(&axes)?;
        let finite = m.abs().try_lt(self.lit(f64::INFINITY))?;
        let m = finite.try_select(m, self.lit(0.0))?;
        let s = self
            .try_sub(m.try_reshape(kd)?)?
            .exp()
            .try_sum_axes(&axes)?;
        s.ln().try_add(m)
    }

    /// [`Value::try_logsumexp`], panicking on error.
    #[track_caller]
    pub fn logsumexp(self, axes: impl Axes) -> Value<'b> {
        ok(self.try_logsumexp(axes))
    }

    /// Binary cross-entropy of logits `z` (self) against targets `y` in
    /// `[0, 1]` of the same shape, averaged over every element:
    /// `mean(softplus(z) − z·y)`, which is
    /// `−mean(y·log σ(z) + (1 − y)·log(1 − σ(z)))` without ever forming
    /// `log(0)`: at `z = ±1000` the loss is `0` or `1000` as it should be.
    /// Its derivative in `z` is `(σ(z) − y)/numel`.
    pub fn try_binary_cross_entropy_with_logits(self, targets: Value<'b>) -> Result<Value<'b>> {
        let (z, y) = (self.ty(), targets.ty());
        if z != y {
            return Err(Error::type_error(format!(
                "binary_cross_entropy_with_logits: logits {z} and targets {y} differ in type"
            )));
        }
        self.float_only("binary_cross_entropy_with_logits")?;
        let per = self.try_softplus()?.try_sub(self.try_mul(targets)?)?;
        let axes: Vec<usize> = (0..z.shape.rank()).collect();
        per.try_mean_axes(&axes)
    }

    /// [`Value::try_binary_cross_entropy_with_logits`], panicking on error.
    #[track_caller]
    pub fn binary_cross_entropy_with_logits(self, targets: Value<'b>) -> Value<'b> {
        ok(self.try_binary_cross_entropy_with_logits(targets))
    }

    /// The (population, `ddof = 0`) variance over `axes` (removed):
    /// `mean((x − mean(x))²)`, the two-pass formula (no cancellation of
    /// `E[x²] − E[x]²`).
    pub fn try_var_axes(self, axes: impl Axes) -> Result<Value<'b>> {
        let axes = axes.axes();
        self.float_only("var")?;
        let kd = self.keepdims("var", &axes)?;
        let mu = self.try_mean_axes(&axes)?.try_reshape(kd)?;
        let d = self.try_sub(mu)?;
        d.try_mul(d)?.try_mean_axes(&axes)
    }

    /// [`Value::try_var_axes`], panicking on error.
    #[track_caller]
    pub fn var_axes(self, axes: impl Axes) -> Value<'b> {
        ok(self.try_var_axes(axes))
    }

    /// The variance of all elements (a scalar), as [`Value::var_axes`].
    #[track_caller]
    pub fn var(self) -> Value<'b> {
        let axes: Vec<usize> = (0..self.shape().rank()).collect();
        self.var_axes(axes)
    }

    /// Clamps every element into `[lo, hi]`: `min(max(x, lo), hi)`. At an
    /// element equal to a bound the derivative is 1/2 (the IR's tie rule
    /// for `max`/`min`), elsewhere 1 inside and 0 outside. `lo > hi` or a
    /// NaN bound is an error.
    pub fn try_clip(self, lo: f64, hi: f64) -> Result<Value<'b>> {
        self.float_only("clip")?;
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(Error::type_error(format!(
                "clip: bounds [{lo}, {hi}] for {} are not an interval",
                self.ty()
            )));
        }
        self.try_maximum(self.lit(lo))?.try_minimum(self.lit(hi))
    }

    /// [`Value::try_clip`], panicking on error.
    #[track_caller]
    pub fn clip(self, lo: f64, hi: f64) -> Value<'b> {
        ok(self.try_clip(lo, hi))
    }
}

impl GraphBuilder {
    /// `where(cond, a, b)`: `a` where `cond` holds, else `b`, with
    /// broadcasting (`jnp.where`; the same as `cond.select(a, b)`).
    pub fn try_where_<'a>(
        &'a self,
        cond: Value<'a>,
        a: Value<'a>,
        b: Value<'a>,
    ) -> Result<Value<'a>> {
        if cond.dtype() != DType::Bool {
            return Err(Error::type_error(format!(
                "where: the condition is {}, not bool",
                cond.ty()
            )));
        }
        self.try_op(crate::Op::Select, &[cond, a, b])
    }

    /// [`GraphBuilder::try_where_`], panicking on error.
    #[track_caller]
    pub fn where_<'a>(&'a self, cond: Value<'a>, a: Value<'a>, b: Value<'a>) -> Value<'a> {
        ok(self.try_where_(cond, a, b))
    }
}
