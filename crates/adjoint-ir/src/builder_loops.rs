//! Loops and conditionals in the builder: [`GraphBuilder::scan`],
//! [`GraphBuilder::while_loop`], [`GraphBuilder::cond`] and
//! [`GraphBuilder::fori_loop`], with closure conversion, and
//! [`GraphBuilder::iota`].
//!
//! Each closure receives a fresh [`BodyBuilder`] for the function it
//! describes (the loop body, the loop condition or a branch) and that
//! function's parameters; it returns the function's outputs. The method
//! builds the function, wraps it in a [`BodyRef`] and adds the op with
//! [`crate::Graph::add_multi`], returning one [`Value`] per result.
//!
//! **Closure conversion** (as JAX does, see `builder_capture.rs`): values
//! of the enclosing function, or of any enclosing builder when loops nest,
//! that a closure uses become loop invariants automatically.
//!
//! An op whose operands all belong to an enclosing builder is built *in*
//! that builder (a Rust [`Value`] is tied to its builder): inside a loop
//! body, `k.exp()` for an invariant `k` is computed once, before the loop,
//! and enters the body as an invariant. To compute it in the body instead
//! (for example in one branch of a `cond` only), first bring `k` into the
//! body with [`GraphBuilder::import`].

use crate::builder::ok;
use crate::builder_capture::is_name_char;
use crate::{BodyRef, DType, Error, GraphBuilder, NodeId, Op, Result, Shape, TensorType, Value};
use std::marker::PhantomData;

/// The builder of a loop body, a loop condition or a branch, passed to the
/// closures of [`GraphBuilder::scan`], [`GraphBuilder::while_loop`],
/// [`GraphBuilder::cond`] and [`GraphBuilder::fori_loop`]. It dereferences
/// to a [`GraphBuilder`], so every builder method works on it, including
/// nested loops.
///
/// `'p` is the lifetime of the enclosing builder's values: it lets a
/// closure combine them with the body's own values (which then become
/// loop invariants).
#[derive(Debug)]
pub struct BodyBuilder<'p> {
    b: GraphBuilder,
    _enclosing: PhantomData<&'p GraphBuilder>,
}

impl std::ops::Deref for BodyBuilder<'_> {
    type Target = GraphBuilder;
    fn deref(&self) -> &GraphBuilder {
        &self.b
    }
}

/// Options of [`GraphBuilder::scan_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanOpts {
    /// Iterate from the last slice to the first (`reverse=true`); ys are
    /// still stored at the index of the slice the iteration read.
    pub reverse: bool,
    /// The trip count: required when there are no scanned inputs, and
    /// when given otherwise it must equal their leading dimension.
    pub length: Option<usize>,
}

/// The outputs of a scan body: the new carries, then the values to stack.
pub type ScanStep<'c> = (Vec<Value<'c>>, Vec<Value<'c>>);

impl<'p> BodyBuilder<'p> {
    /// The function name of this body.
    fn name(&self) -> String {
        self.g.borrow().name().to_string()
    }

    /// The nodes of the values `vs` a body returns; an error names value
    /// `i` as `<label>=@<this body>: <item> <i>`.
    fn results(&self, vs: &[Value<'_>], label: &str, item: &str) -> Result<Vec<NodeId>> {
        let name = self.name();
        let mut ids = Vec::with_capacity(vs.len());
        for (i, v) in vs.iter().enumerate() {
            ids.push(self.local(v, || format!("{label}=@{name}: {item} {i}"))?);
        }
        Ok(ids)
    }

    /// Runs `f` on this body's `params` and returns the nodes of the
    /// values it returns (named in errors as in [`BodyBuilder::results`]).
    fn run<F>(&self, params: &[NodeId], label: &str, item: &str, f: F) -> Result<Vec<NodeId>>
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'p>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
    {
        let args: Vec<Value<'_>> = params.iter().map(|&p| self.wrap(p)).collect();
        let outs = f(self, &args)?;
        self.results(&outs, label, item)
    }
}

fn err(msg: impl std::fmt::Display) -> Error {
    Error::type_error(msg.to_string())
}

impl GraphBuilder {
    /// A fresh builder for a function of the next loop of this builder,
    /// named `<this>_<role>_<n>`, with parameters of `types` named
    /// `<prefix>0`, `<prefix>1`, ….
    fn body_builder(
        &self,
        role: &str,
        n: usize,
        prefix: &str,
        types: &[TensorType],
    ) -> Result<(BodyBuilder<'_>, Vec<NodeId>)> {
        let parent = self.g.borrow().name().to_string();
        let mut stem: String = parent
            .chars()
            .map(|c| if is_name_char(c) { c } else { '_' })
            .collect();
        if stem.is_empty() {
            stem.push('f');
        }
        let mut ancestors = vec![self.addr()];
        ancestors.extend_from_slice(&self.ancestors);
        let b = GraphBuilder::nested(format!("{stem}_{role}_{n}"), ancestors);
        let mut params = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            params.push(
                b.g.borrow_mut()
                    .add_param(format!("{prefix}{i}"), t.clone())?,
            );
        }
        Ok((
            BodyBuilder {
                b,
                _enclosing: PhantomData,
            },
            params,
        ))
    }

    fn next_loop(&self) -> usize {
        let n = self.loops.get() + 1;
        self.loops.set(n);
        n
    }

    /// The nodes and types of `vs` in this builder (capturing values of
    /// enclosing builders); `what` names the operand list in errors.
    fn locals(&self, vs: &[Value<'_>], what: &str) -> Result<(Vec<NodeId>, Vec<TensorType>)> {
        let mut ids = Vec::with_capacity(vs.len());
        for (i, v) in vs.iter().enumerate() {
            ids.push(self.local(v, || format!("{what} {i}"))?);
        }
        let g = self.g.borrow();
        let tys = ids.iter().map(|&id| g.ty(id).clone()).collect();
        Ok((ids, tys))
    }

    /// Adds the multi-result `op` on `operands` and returns its results.
    fn add_loop(&self, op: Op, operands: &[NodeId]) -> Result<Vec<Value<'_>>> {
        let ids = self.g.borrow_mut().add_multi(op, operands)?;
        Ok(ids.into_iter().map(|id| self.wrap(id)).collect())
    }

    /// `iota`: a tensor of `shape` whose element at index `(i_0, …)` is
    /// `i_axis`, as a float of `dtype` (f32 or f64).
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, DType, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let i = b.iota([3, 4], 1, DType::F64);
    /// assert_eq!(i.ty(), TensorType::f64([3, 4]));
    /// assert!(b.try_iota([3], 1, DType::F64).unwrap_err().message.contains("axis 1"));
    /// ```
    pub fn try_iota(
        &self,
        shape: impl Into<Shape>,
        axis: usize,
        dtype: DType,
    ) -> Result<Value<'_>> {
        let shape = shape.into();
        crate::limits::check_type(&TensorType::new(dtype, shape.clone()))
            .map_err(|m| err(format!("iota: {m}")))?;
        self.try_op(Op::Iota { shape, axis, dtype }, &[])
    }

    /// [`GraphBuilder::try_iota`], panicking on error.
    #[track_caller]
    pub fn iota(&self, shape: impl Into<Shape>, axis: usize, dtype: DType) -> Value<'_> {
        ok(self.try_iota(shape, axis, dtype))
    }

    /// JAX's `lax.scan` with default options: `body(b, carries, x_slices)`
    /// returns the new carries and the values to stack, and the result is
    /// the final carries and the stacked values. See
    /// [`GraphBuilder::scan`].
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// let xs = b.param("xs", TensorType::f64([3]));
    /// // The body returns two carries for one init: an error naming it.
    /// let e = b.try_scan(&[x], &[xs], |_, c, x| Ok((vec![c[0], x[0]], vec![]))).unwrap_err();
    /// assert!(e.message.contains("body=@f_scan_body_1 returns 2 carries"));
    /// // The closure's own errors come back as they are.
    /// let e = b.try_scan(&[x], &[xs], |_, c, x| {
    ///     Ok((vec![c[0].try_add(x[0].try_reshape([2])?)?], vec![]))
    /// }).unwrap_err();
    /// assert!(e.message.contains("reshape"));
    /// ```
    pub fn try_scan<'a, F>(
        &'a self,
        init: &[Value<'a>],
        xs: &[Value<'a>],
        body: F,
    ) -> Result<(Vec<Value<'a>>, Vec<Value<'a>>)>
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>], &[Value<'c>]) -> Result<ScanStep<'c>>,
    {
        self.scan_impl("scan_body", ScanOpts::default(), init, xs, body)
    }

    /// JAX's `lax.scan`. The closure receives the body's builder, the
    /// carries and one slice of each scanned input (without the leading
    /// axis); it returns the new carries (exactly the carries' types) and
    /// the values to stack. The result: the final carries, then each
    /// stacked value with a new leading axis of the trip count. Values of
    /// the enclosing function used in the closure become loop invariants.
    /// Panics on error (see [`GraphBuilder::try_scan`]).
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, Op, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let xs = b.param("xs", TensorType::f64([5]));
    /// let k = b.param("k", TensorType::f64([]));
    /// // Cumulative sum of k*x: the carry is the running sum.
    /// let zero = b.scalar(0.0, adjoint_ir::DType::F64);
    /// let (total, sums) = b.scan(&[zero], &[xs], |_, c, x| {
    ///     let s = c[0] + x[0] * k; // k is captured: a loop invariant
    ///     (vec![s], vec![s])
    /// });
    /// assert_eq!(total[0].ty(), TensorType::f64([]));
    /// assert_eq!(sums[0].ty(), TensorType::f64([5]));
    /// let g = b.build(&[total[0], sums[0]]).unwrap();
    /// let scan = g.operands(g.outputs()[0])[0];
    /// assert_eq!(g.operands(scan), vec![zero.id(), xs.id(), k.id()]);
    /// let Op::Scan { body, carry: 1, xs: 1, length: 5, reverse: false } = &g[scan].op else {
    ///     panic!()
    /// };
    /// assert_eq!(body.name(), "f_scan_body_1");
    /// assert_eq!(body.param_names(), ["c0", "x0", "k"]);
    /// ```
    #[track_caller]
    pub fn scan<'a, F>(
        &'a self,
        init: &[Value<'a>],
        xs: &[Value<'a>],
        body: F,
    ) -> (Vec<Value<'a>>, Vec<Value<'a>>)
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>], &[Value<'c>]) -> ScanStep<'c>,
    {
        ok(self.try_scan(init, xs, |b, c, x| Ok(body(b, c, x))))
    }

    /// [`GraphBuilder::try_scan`] with options: `reverse`, and the trip
    /// count `length` (required when `xs` is empty).
    pub fn try_scan_with<'a, F>(
        &'a self,
        opts: ScanOpts,
        init: &[Value<'a>],
        xs: &[Value<'a>],
        body: F,
    ) -> Result<(Vec<Value<'a>>, Vec<Value<'a>>)>
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>], &[Value<'c>]) -> Result<ScanStep<'c>>,
    {
        self.scan_impl("scan_body", opts, init, xs, body)
    }

    /// [`GraphBuilder::scan`] with options, panicking on error.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, ScanOpts, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// // No scanned inputs: the length says how many times to iterate.
    /// let opts = ScanOpts { length: Some(3), reverse: true };
    /// let (c, ys) = b.scan_with(opts, &[x], &[], |_, c, _| (vec![c[0].sin()], vec![c[0]]));
    /// assert_eq!(ys[0].ty(), TensorType::f64([3]));
    /// # let _ = c;
    /// ```
    #[track_caller]
    pub fn scan_with<'a, F>(
        &'a self,
        opts: ScanOpts,
        init: &[Value<'a>],
        xs: &[Value<'a>],
        body: F,
    ) -> (Vec<Value<'a>>, Vec<Value<'a>>)
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>], &[Value<'c>]) -> ScanStep<'c>,
    {
        ok(self.try_scan_with(opts, init, xs, |b, c, x| Ok(body(b, c, x))))
    }

    fn scan_impl<'a, F>(
        &'a self,
        role: &str,
        opts: ScanOpts,
        init: &[Value<'a>],
        xs: &[Value<'a>],
        body: F,
    ) -> Result<(Vec<Value<'a>>, Vec<Value<'a>>)>
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>], &[Value<'c>]) -> Result<ScanStep<'c>>,
    {
        let (init_ids, init_tys) = self.locals(init, "scan: init")?;
        let (xs_ids, xs_tys) = self.locals(xs, "scan: xs")?;
        let mut slice_tys = Vec::with_capacity(xs.len());
        for (i, t) in xs_tys.iter().enumerate() {
            let Some((_, rest)) = t.shape.dims().split_first() else {
                return Err(err(format!(
                    "scan: scanned input {i} ({t}) has no leading axis to scan over"
                )));
            };
            slice_tys.push(TensorType::new(t.dtype, Shape::from(rest.to_vec())));
        }
        let length = match (opts.length, xs_tys.first()) {
            (Some(n), _) => n,
            (None, Some(t)) => t.shape.dims()[0],
            (None, None) => return Err(err(
                "scan: the length is required when there are no scanned inputs (ScanOpts::length)",
            )),
        };
        let n = self.next_loop();
        let k = init.len();
        let (child, params) = self.body_builder(role, n, "c", &init_tys)?;
        for (i, t) in slice_tys.iter().enumerate() {
            child.g.borrow_mut().add_param(format!("x{i}"), t.clone())?;
        }
        let all = child.g.borrow().params().to_vec();
        let name = child.name();
        let out_ids = {
            let cs: Vec<Value<'_>> = params.iter().map(|&p| child.wrap(p)).collect();
            let xv: Vec<Value<'_>> = all[k..].iter().map(|&p| child.wrap(p)).collect();
            let (carries, ys) = body(&child, &cs, &xv)?;
            if carries.len() != k {
                return Err(err(format!(
                    "scan: body=@{name} returns {} carries, but the scan has {k} (one per init)",
                    carries.len()
                )));
            }
            let mut ids = child.results(&carries, "scan: body", "carry")?;
            ids.extend(child.results(&ys, "scan: body", "y")?);
            ids
        };
        let g = child.build_ids(out_ids)?;
        let mut operands = init_ids;
        operands.extend(xs_ids);
        operands.extend(self.invariants_of(&child)?);
        let op = Op::Scan {
            body: BodyRef::new(g),
            carry: k,
            xs: xs.len(),
            length,
            reverse: opts.reverse,
        };
        let mut res = self.add_loop(op, &operands)?;
        let ys = res.split_off(k);
        Ok((res, ys))
    }

    /// A `for i in 0..n` loop over carries: `body(b, i, carries)` returns
    /// the new carries, where `i` is the iteration index as a float scalar
    /// of the carries' float dtype (the first float carry's; f64 when there
    /// is none). Sugar over [`GraphBuilder::scan`] with an `iota` of shape
    /// `[n]` as the scanned input, so `i` is exact. Returns the final
    /// carries.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f32([2]));
    /// // The index is f32, as the carry.
    /// let r = b.try_fori_loop(3, &[x], |_, i, c| Ok(vec![c[0].try_mul(i)?])).unwrap();
    /// assert_eq!(r[0].ty(), TensorType::f32([2]));
    /// ```
    pub fn try_fori_loop<'a, F>(
        &'a self,
        n: usize,
        init: &[Value<'a>],
        body: F,
    ) -> Result<Vec<Value<'a>>>
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, Value<'c>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
    {
        let dtype = init
            .iter()
            .map(|v| {
                self.local(v, || "fori_loop: init".to_string())
                    .map(|_| v.dtype())
            })
            .collect::<Result<Vec<DType>>>()?
            .into_iter()
            .find(|d| d.is_float())
            .unwrap_or(DType::F64);
        let iota = self.try_iota([n], 0, dtype)?;
        let opts = ScanOpts {
            reverse: false,
            length: Some(n),
        };
        let (carries, _) = self.scan_impl("fori_body", opts, init, &[iota], |b, c, x| {
            Ok((body(b, x[0], c)?, Vec::new()))
        })?;
        Ok(carries)
    }

    /// [`GraphBuilder::try_fori_loop`], panicking on error.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, Op, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// // x + 0 + 1 + 2 + 3
    /// let r = b.fori_loop(4, &[x], |_, i, c| vec![c[0] + i]);
    /// let g = b.build(&r).unwrap();
    /// let scan = g.operands(g.outputs()[0])[0];
    /// let iota = g.operands(scan)[1];
    /// assert!(matches!(g[iota].op, Op::Iota { .. }));
    /// assert_eq!(g.ty(iota), &TensorType::f64([4]));
    /// ```
    #[track_caller]
    pub fn fori_loop<'a, F>(&'a self, n: usize, init: &[Value<'a>], body: F) -> Vec<Value<'a>>
    where
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, Value<'c>, &[Value<'c>]) -> Vec<Value<'c>>,
    {
        ok(self.try_fori_loop(n, init, |b, i, c| Ok(body(b, i, c))))
    }

    /// JAX's `lax.while_loop`: while `cond(b, carries)` (a `bool[]`) is
    /// true, `carries = body(b, carries)`. Returns the final carries. The
    /// condition and the body share one list of loop invariants: both take
    /// every value of the enclosing function that either uses.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// // The condition must be a bool[].
    /// let e = b.try_while_loop(&[x], |_, c| Ok(c[0]), |_, c| Ok(vec![c[0]])).unwrap_err();
    /// assert!(e.message.contains("cond=@f_while_cond_1 must return (bool)"));
    /// ```
    pub fn try_while_loop<'a, C, F>(
        &'a self,
        init: &[Value<'a>],
        cond: C,
        body: F,
    ) -> Result<Vec<Value<'a>>>
    where
        C: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Value<'c>>,
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
    {
        self.while_impl(None, init, cond, body)
    }

    /// JAX's `lax.while_loop`, panicking on error (see
    /// [`GraphBuilder::try_while_loop`]).
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, Op, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x0 = b.param("x0", TensorType::f64([]));
    /// let a = b.param("a", TensorType::f64([]));
    /// let tol = b.param("tol", TensorType::f64([]));
    /// // Fixed-point iteration x = cos(a x) until the step is below tol.
    /// let r = b.while_loop(
    ///     &[x0, x0 + 1.0],
    ///     |_, c| (c[0] - c[1]).abs().gt(tol),
    ///     |_, c| vec![(a * c[0]).cos(), c[0]],
    /// );
    /// let g = b.build(&r[..1]).unwrap();
    /// let w = g.operands(g.outputs()[0])[0];
    /// let Op::While { cond, body, carry: 2, max_trips: None } = &g[w].op else { panic!() };
    /// // Both functions take the carries and both invariants (tol, a).
    /// assert_eq!(cond.param_names(), ["c0", "c1", "tol", "a"]);
    /// assert_eq!(body.param_names(), ["c0", "c1", "tol", "a"]);
    /// assert_eq!(g.operands(w)[2..], [tol.id(), a.id()]);
    /// ```
    #[track_caller]
    pub fn while_loop<'a, C, F>(&'a self, init: &[Value<'a>], cond: C, body: F) -> Vec<Value<'a>>
    where
        C: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Value<'c>,
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Vec<Value<'c>>,
    {
        ok(self.try_while_loop(init, |b, c| Ok(cond(b, c)), |b, c| Ok(body(b, c))))
    }

    /// [`GraphBuilder::try_while_loop`] that runs the body at most
    /// `max_trips` times (`max_trips=N`): reaching the bound ends the loop.
    pub fn try_while_loop_bounded<'a, C, F>(
        &'a self,
        max_trips: usize,
        init: &[Value<'a>],
        cond: C,
        body: F,
    ) -> Result<Vec<Value<'a>>>
    where
        C: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Value<'c>>,
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
    {
        self.while_impl(Some(max_trips), init, cond, body)
    }

    /// [`GraphBuilder::try_while_loop_bounded`], panicking on error.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, Op, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// let r = b.while_loop_bounded(10, &[x], |_, c| c[0].lt(c[0].lit(100.0)), |_, c| vec![c[0] * 2.0]);
    /// let g = b.build(&r).unwrap();
    /// let w = g.operands(g.outputs()[0])[0];
    /// assert!(matches!(g[w].op, Op::While { max_trips: Some(10), .. }));
    /// ```
    #[track_caller]
    pub fn while_loop_bounded<'a, C, F>(
        &'a self,
        max_trips: usize,
        init: &[Value<'a>],
        cond: C,
        body: F,
    ) -> Vec<Value<'a>>
    where
        C: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Value<'c>,
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Vec<Value<'c>>,
    {
        ok(self.try_while_loop_bounded(
            max_trips,
            init,
            |b, c| Ok(cond(b, c)),
            |b, c| Ok(body(b, c)),
        ))
    }

    fn while_impl<'a, C, F>(
        &'a self,
        max_trips: Option<usize>,
        init: &[Value<'a>],
        cond: C,
        body: F,
    ) -> Result<Vec<Value<'a>>>
    where
        C: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Value<'c>>,
        F: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
    {
        let (init_ids, init_tys) = self.locals(init, "while: init")?;
        let n = self.next_loop();
        let (pb, pparams) = self.body_builder("while_cond", n, "c", &init_tys)?;
        let pred = {
            let pname = pb.name();
            let cs: Vec<Value<'_>> = pparams.iter().map(|&p| pb.wrap(p)).collect();
            let v = cond(&pb, &cs)?;
            pb.local(&v, || format!("while: cond=@{pname}: the result"))?
        };
        let (fb, fparams) = self.body_builder("while_body", n, "c", &init_tys)?;
        fb.capture_all_of(&pb)?;
        let out_ids = fb.run(&fparams, "while: body", "carry", body)?;
        // The body captured the condition's values first, in its order, so
        // capturing the body's list in the condition gives both the same.
        pb.capture_all_of(&fb)?;
        let pg = pb.build_ids(vec![pred])?;
        let fg = fb.build_ids(out_ids)?;
        let mut operands = init_ids;
        operands.extend(self.invariants_of(&fb)?);
        let op = Op::While {
            cond: BodyRef::new(pg),
            body: BodyRef::new(fg),
            carry: init.len(),
            max_trips,
        };
        self.add_loop(op, &operands)
    }

    /// JAX's `lax.cond`: `then(b, operands)` when `pred` (a `bool[]`) is
    /// true, else `els(b, operands)`; only the chosen branch runs. Both
    /// return values of the same types. Values of the enclosing function
    /// that either branch uses become extra operands of both branches.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType, DType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// let p = x.gt(x.lit(0.0));
    /// // The branches must return the same types.
    /// let e = b
    ///     .try_cond(p, &[x], |_, a| Ok(vec![a[0]]), |_, a| a[0].try_cast(DType::F32).map(|v| vec![v]))
    ///     .unwrap_err();
    /// assert!(e.message.contains("then=@f_cond_then_1 returns (f64), else=@f_cond_else_1 returns (f32)"));
    /// ```
    pub fn try_cond<'a, T, E>(
        &'a self,
        pred: Value<'a>,
        operands: &[Value<'a>],
        then: T,
        els: E,
    ) -> Result<Vec<Value<'a>>>
    where
        T: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
        E: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Result<Vec<Value<'c>>>,
    {
        let pred = self.local(&pred, || "cond: the predicate".to_string())?;
        let (ids, tys) = self.locals(operands, "cond: operand")?;
        let n = self.next_loop();
        let (tb, tparams) = self.body_builder("cond_then", n, "a", &tys)?;
        let t_ids = tb.run(&tparams, "cond: then", "result", then)?;
        let (eb, eparams) = self.body_builder("cond_else", n, "a", &tys)?;
        eb.capture_all_of(&tb)?;
        let e_ids = eb.run(&eparams, "cond: else", "result", els)?;
        tb.capture_all_of(&eb)?;
        let tg = tb.build_ids(t_ids)?;
        let eg = eb.build_ids(e_ids)?;
        let mut all = vec![pred];
        all.extend(ids);
        all.extend(self.invariants_of(&eb)?);
        let op = Op::Cond {
            then: BodyRef::new(tg),
            els: BodyRef::new(eg),
        };
        self.add_loop(op, &all)
    }

    /// JAX's `lax.cond`, panicking on error (see [`GraphBuilder::try_cond`]).
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, Op, TensorType};
    /// let b = GraphBuilder::new("f");
    /// let x = b.param("x", TensorType::f64([]));
    /// let y = b.param("y", TensorType::f64([]));
    /// let p = x.gt(x.lit(0.0));
    /// // |x| * y, where only the else branch uses y.
    /// let r = b.cond(p, &[x], |_, a| vec![a[0]], |_, a| vec![-a[0] * y]);
    /// let g = b.build(&r).unwrap();
    /// let c = g.operands(g.outputs()[0])[0];
    /// let Op::Cond { then, els } = &g[c].op else { panic!() };
    /// // y became an operand of both branches.
    /// assert_eq!(g.operands(c)[1..], [x.id(), y.id()]);
    /// assert_eq!(then.param_names(), ["a0", "y"]);
    /// assert_eq!(els.param_names(), ["a0", "y"]);
    /// ```
    #[track_caller]
    pub fn cond<'a, T, E>(
        &'a self,
        pred: Value<'a>,
        operands: &[Value<'a>],
        then: T,
        els: E,
    ) -> Vec<Value<'a>>
    where
        T: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Vec<Value<'c>>,
        E: for<'c> FnOnce(&'c BodyBuilder<'a>, &[Value<'c>]) -> Vec<Value<'c>>,
    {
        ok(self.try_cond(pred, operands, |b, a| Ok(then(b, a)), |b, a| Ok(els(b, a))))
    }
}
