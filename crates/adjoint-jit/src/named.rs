//! Calls by name: binding inputs by parameter name, and [`Named`], the
//! ordered name → value map the named calls return.

use crate::compiled::CompiledFn;
use adjoint_ir::{Error, Result, Tensor, TensorData};

/// Values with names, in a fixed order: the outputs of a named call
/// ([`CompiledFn::call_named`], [`CompiledFn::run_named`]).
///
/// Look a value up by name with [`Named::get`] (or `named["w_grad"]`, which
/// panics on an unknown name), by position with `named[1]`, or iterate over
/// `(name, value)` pairs in order. Two outputs computed by one value share
/// its name; `get` returns the first.
///
/// ```
/// use adjoint_jit::Named;
/// let n = Named::new(vec!["loss".into(), "w_grad".into()], vec![1.5, -2.0]).unwrap();
/// assert_eq!(n["w_grad"], -2.0);
/// assert_eq!(n[0], 1.5);
/// assert_eq!(n.get("b_grad"), None);
/// let pairs: Vec<(&str, f64)> = n.iter().map(|(k, v)| (k, *v)).collect();
/// assert_eq!(pairs, [("loss", 1.5), ("w_grad", -2.0)]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Named<T> {
    names: Vec<String>,
    values: Vec<T>,
}

impl<T> Named<T> {
    /// Pairs `names` with `values` (the same count, or an error).
    pub fn new(names: Vec<String>, values: Vec<T>) -> Result<Named<T>> {
        if names.len() != values.len() {
            return Err(Error::input(format!(
                "Named: {} names for {} values",
                names.len(),
                values.len()
            )));
        }
        Ok(Named { names, values })
    }

    /// The value named `name` (the first, if several share it).
    pub fn get(&self, name: &str) -> Option<&T> {
        self.position(name).map(|i| &self.values[i])
    }

    /// The value named `name`, or an error listing the valid names.
    pub fn try_get(&self, name: &str) -> Result<&T> {
        self.get(name).ok_or_else(|| self.unknown(name))
    }

    /// The position of the first value named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values, in order.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// The values, in order, without the names.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.names.iter().map(String::as_str).zip(&self.values)
    }

    fn unknown(&self, name: &str) -> Error {
        Error::input(format!(
            "no output named `{name}`; the outputs are: {}",
            self.names.join(", ")
        ))
    }
}

impl<T> std::ops::Index<&str> for Named<T> {
    type Output = T;
    /// Panics on an unknown name, listing the valid ones (use
    /// [`Named::get`] or [`Named::try_get`] to handle it).
    #[track_caller]
    fn index(&self, name: &str) -> &T {
        match self.get(name) {
            Some(v) => v,
            None => panic!("{}", self.unknown(name).message),
        }
    }
}

impl<T> std::ops::Index<usize> for Named<T> {
    type Output = T;
    #[track_caller]
    fn index(&self, i: usize) -> &T {
        &self.values[i]
    }
}

impl<T> IntoIterator for Named<T> {
    type Item = (String, T);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<String>, std::vec::IntoIter<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.names.into_iter().zip(self.values)
    }
}

/// Orders `given` `(name, value)` pairs as the inputs `names` of function
/// `@func`. A missing, unknown or repeated name is an error that lists the
/// valid names.
pub fn bind_by_name<T: Copy>(func: &str, names: &[String], given: &[(&str, T)]) -> Result<Vec<T>> {
    let valid = || names.join(", ");
    let mut slots: Vec<Option<T>> = vec![None; names.len()];
    for &(n, v) in given {
        let Some(i) = names.iter().position(|p| p == n) else {
            return Err(Error::input(format!(
                "@{func}: no input named `{n}`; the inputs are: {}",
                valid()
            )));
        };
        if slots[i].is_some() {
            return Err(Error::input(format!("@{func}: input `{n}` is given twice")));
        }
        slots[i] = Some(v);
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&slots)
        .filter(|(_, s)| s.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::input(format!(
            "@{func}: missing input{} {}; the inputs are: {}",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            valid()
        )));
    }
    Ok(slots.into_iter().flatten().collect())
}

impl CompiledFn {
    /// Calls an all-`f64` function with its inputs bound by name (in any
    /// order) and returns its outputs, allocated, by name.
    ///
    /// ```
    /// use adjoint_ir::parse_module;
    /// let m = parse_module(
    ///     "func @f(%x: f64[2], %w: f64) -> f64[2] {
    ///        %y = mul %x, %w
    ///        return %y
    ///      }",
    /// )?;
    /// let f = adjoint_jit::compile(m.func("f").unwrap(), &Default::default())?;
    /// let out = f.call_named(&[("w", &[3.0][..]), ("x", &[1.0, 2.0][..])])?;
    /// assert_eq!(out["y"], [3.0, 6.0]);
    /// // A misspelt name lists the valid ones.
    /// let e = f.call_named(&[("x", &[1.0, 2.0][..]), ("v", &[3.0][..])]).unwrap_err();
    /// assert!(e.message.contains("no input named `v`; the inputs are: x, w"));
    /// # Ok::<(), adjoint_ir::Error>(())
    /// ```
    pub fn call_named(&self, inputs: &[(&str, &[f64])]) -> Result<Named<Vec<f64>>> {
        let ins = bind_by_name(self.name(), self.input_names(), inputs)?;
        let outs = self.eval_f64(&ins)?;
        Named::new(self.output_names().to_vec(), outs)
    }

    /// Calls an all-`f64` function on positional inputs and returns its
    /// outputs, allocated (one `Vec` per output, however many there are).
    ///
    /// ```
    /// use adjoint_ir::parse_module;
    /// let m = parse_module("func @f(%x: f64) -> (f64, f64) {
    ///     %a = neg %x
    ///     %b = mul %x, %x
    ///     return %a, %b
    ///   }")?;
    /// let f = adjoint_jit::compile(m.func("f").unwrap(), &Default::default())?;
    /// assert_eq!(f.eval_f64(&[&[3.0]])?, [vec![-3.0], vec![9.0]]);
    /// # Ok::<(), adjoint_ir::Error>(())
    /// ```
    pub fn eval_f64(&self, inputs: &[&[f64]]) -> Result<Vec<Vec<f64>>> {
        if self
            .output_types()
            .iter()
            .any(|t| t.dtype != adjoint_ir::DType::F64)
        {
            // `call_f64` names the culprit.
            self.call_f64(inputs, &mut [])?;
        }
        let mut outs: Vec<Vec<f64>> = self
            .alloc_outputs()?
            .into_iter()
            .map(|t| match t.into_data() {
                TensorData::F64(v) => v,
                _ => Vec::new(),
            })
            .collect();
        {
            let mut bufs: Vec<&mut [f64]> = outs.iter_mut().map(|v| &mut v[..]).collect();
            self.call_f64(inputs, &mut bufs)?;
        }
        Ok(outs)
    }

    /// [`CompiledFn::run`] with the inputs bound by name (in any order) and
    /// the outputs returned by name, for functions of any dtype.
    pub fn run_named(&self, inputs: &[(&str, &Tensor)]) -> Result<Named<Tensor>> {
        let ins = bind_by_name(self.name(), self.input_names(), inputs)?;
        Named::new(self.output_names().to_vec(), self.run_refs(&ins)?)
    }
}
