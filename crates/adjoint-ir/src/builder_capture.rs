//! Closure conversion for the builder's loops and conditionals (as JAX
//! does it): a closure that describes a loop body, a loop condition or a
//! branch may use values of the enclosing function, or of any enclosing
//! builder when loops nest. Such a value becomes a parameter of the body
//! (once per distinct value) and a trailing loop-invariant operand of the
//! loop (an extra branch operand of a `cond`). A value of a grandparent
//! used in a grandchild is captured by the builder in between too. A value
//! of an unrelated builder is still an error naming both builders.
//!
//! A body builder knows the addresses of its enclosing builders (a
//! [`Value`] names its builder by reference), and records each capture by
//! the owner's address and node; when the loop op is added, the enclosing
//! builder turns its child's captures into operands, capturing in turn the
//! ones that belong to its own ancestors.

use crate::builder::ok;
use crate::{GraphBuilder, NodeId, Result, TensorType, Value};

/// A value of an enclosing builder that a body builder captured as a
/// parameter.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    /// The address of the builder that owns the value.
    owner: usize,
    /// The value's node in its owner.
    id: NodeId,
    /// Its type.
    ty: TensorType,
    /// Its name in the owner, if any (names the parameter).
    hint: Option<String>,
    /// The parameter of this builder that stands for it.
    param: NodeId,
}

/// Whether `c` may appear in an IR name (as the text lexer accepts them).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl GraphBuilder {
    /// The node of this builder for `v`: `v` itself when this builder made
    /// it; when an enclosing builder made it, the parameter that captures
    /// it (added on first use); otherwise an error, as
    /// [`GraphBuilder::check_owner`]'s.
    pub(crate) fn local(&self, v: &Value<'_>, what: impl FnOnce() -> String) -> Result<NodeId> {
        let (theirs, id) = (v.builder(), v.id());
        let owner = theirs.addr();
        if self.ancestors.contains(&owner) {
            // A capture parameter of an enclosing builder stands for the
            // value it captured: capture that one, so it is captured once.
            let (owner, id, ty, hint) = theirs.capture_of(id).unwrap_or_else(|| {
                let g = theirs.g.borrow();
                (owner, id, g.ty(id).clone(), g[id].name.clone())
            });
            return self.capture(owner, id, ty, hint);
        }
        self.check_owner(v, what)?;
        Ok(id)
    }

    /// This builder's address, which identifies it to its body builders.
    pub(crate) fn addr(&self) -> usize {
        self as *const GraphBuilder as usize
    }

    /// The parameter of this builder standing for value `id` of the
    /// enclosing builder at `owner` (added on first use).
    pub(crate) fn capture(
        &self,
        owner: usize,
        id: NodeId,
        ty: TensorType,
        hint: Option<String>,
    ) -> Result<NodeId> {
        let mut caps = self.captures.borrow_mut();
        if let Some(c) = caps.iter().find(|c| c.owner == owner && c.id == id) {
            return Ok(c.param);
        }
        let mut g = self.g.borrow_mut();
        let base = match &hint {
            Some(h) if !h.is_empty() && h.chars().all(is_name_char) => h.clone(),
            _ => format!("k{}", caps.len()),
        };
        let mut name = base.clone();
        let mut n = 1;
        while g.value_by_name(&name).is_some() {
            n += 1;
            name = format!("{base}_{n}");
        }
        let param = g.add_param(name, ty.clone())?;
        caps.push(Capture {
            owner,
            id,
            ty,
            hint,
            param,
        });
        Ok(param)
    }

    /// The capture record behind `id` when it is one of this builder's
    /// capture parameters (so that a captured capture names the original
    /// value).
    pub(crate) fn capture_of(
        &self,
        id: NodeId,
    ) -> Option<(usize, NodeId, TensorType, Option<String>)> {
        self.captures
            .borrow()
            .iter()
            .find(|c| c.param == id)
            .map(|c| (c.owner, c.id, c.ty.clone(), c.hint.clone()))
    }

    /// Captures everything `other` captured, in its order (so that two
    /// functions of one loop take the same invariant parameters).
    pub(crate) fn capture_all_of(&self, other: &GraphBuilder) -> Result<()> {
        let caps = other.captures.borrow().clone();
        for c in caps {
            self.capture(c.owner, c.id, c.ty, c.hint)?;
        }
        Ok(())
    }

    /// The operands of this builder for the captures of its child `child`:
    /// this builder's own values, or its captures of its ancestors'.
    pub(crate) fn invariants_of(&self, child: &GraphBuilder) -> Result<Vec<NodeId>> {
        let caps = child.captures.borrow().clone();
        caps.into_iter()
            .map(|c| {
                if c.owner == self.addr() {
                    Ok(c.id)
                } else {
                    self.capture(c.owner, c.id, c.ty, c.hint)
                }
            })
            .collect()
    }

    /// Brings `v`, a value of this builder or of an enclosing one, into
    /// this builder: a value of an enclosing builder becomes a captured
    /// parameter (a loop invariant), so that ops on it are built here,
    /// inside the body. An error for a value of an unrelated builder.
    ///
    /// ```
    /// use adjoint_ir::{GraphBuilder, TensorType, DType, Op};
    /// let b = GraphBuilder::new("f");
    /// let p = b.param("p", TensorType::new(DType::Bool, vec![]));
    /// let x = b.param("x", TensorType::f64([]));
    /// // `ln x` is computed only when the branch runs.
    /// let r = b.cond(p, &[], |t, _| vec![t.import(x).ln()], |_, _| vec![x]);
    /// assert_eq!(b.graph().len(), 2 + 1 + 1); // params, the cond, its projection
    /// # let _ = r;
    /// ```
    pub fn try_import<'s>(&'s self, v: Value<'_>) -> Result<Value<'s>> {
        let id = self.local(&v, || "import: the value".to_string())?;
        Ok(self.wrap(id))
    }

    /// [`GraphBuilder::try_import`], panicking on error.
    #[track_caller]
    pub fn import<'s>(&'s self, v: Value<'_>) -> Value<'s> {
        ok(self.try_import(v))
    }
}
