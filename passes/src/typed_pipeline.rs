//! Typed pipelines: `Pipeline::new().grad().wrt(["w", "b"]).simplify()`,
//! the same pipeline as the string `grad{wrt=w,b},simplify`, without
//! `format!` and its doubled braces.

use crate::manager::{PassManager, RunReport};
use crate::pipeline::{parse_pipeline, PassOptions, PassSpec};
use crate::registry::Registry;
use adjoint_ir::{Error, Graph, Result};
use std::fmt;

/// A pass pipeline built by method calls. Each pass method appends one
/// pass; each option method ([`Pipeline::wrt`], [`Pipeline::of`],
/// [`Pipeline::mode`], [`Pipeline::option`]) sets an option of the pass
/// appended last. It prints as (and builds exactly what) the string form
/// builds:
///
/// ```
/// use adjoint_passes::{Pipeline, PassManager};
/// let params = ["w", "b"];
/// let p = Pipeline::new().grad().wrt(params).simplify().cse().dce();
/// assert_eq!(p.to_string(), "grad{wrt=w,b},simplify,cse,dce");
/// assert_eq!(p.build()?.specs(), PassManager::parse("grad{wrt=w,b},simplify,cse,dce")?.specs());
/// // Unknown options are the string form's errors, at build time.
/// assert!(Pipeline::new().cse().of(0).build().is_err());
/// # Ok::<(), adjoint_ir::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pipeline {
    specs: Vec<PassSpec>,
    /// The first misuse (an option before any pass), reported by `build`.
    error: Option<String>,
}

macro_rules! pass_methods {
    ($($(#[$doc:meta])* $method:ident => $name:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $method(self) -> Pipeline {
                self.pass($name)
            }
        )*
    };
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Appends the pass named `name` (any pass of the registry the
    /// pipeline is built with).
    pub fn pass(mut self, name: &str) -> Pipeline {
        self.specs.push(PassSpec {
            name: name.to_string(),
            options: PassOptions::new(),
        });
        self
    }

    pass_methods! {
        /// Appends `grad`: reverse mode, the gradient of one output.
        grad => "grad";
        /// Appends `vjp`: reverse mode with cotangent parameters.
        vjp => "vjp";
        /// Appends `jvp`: forward mode with tangent parameters.
        jvp => "jvp";
        /// Appends `jacobian`: the full Jacobian of one output.
        jacobian => "jacobian";
        /// Appends `simplify`: algebraic simplification.
        simplify => "simplify";
        /// Appends `cse`: common-subexpression elimination.
        cse => "cse";
        /// Appends `dce`: dead-code elimination.
        dce => "dce";
        /// Appends `fold`: constant folding.
        fold => "fold";
        /// Appends `licm`: hoisting loop-invariant code out of loop bodies.
        licm => "licm";
        /// Appends `fuse`: fusion-region assignment.
        fuse => "fuse";
        /// Appends `inline`: inlining custom-op calls.
        inline => "inline";
    }

    /// Appends `simplify,cse,dce`, the usual clean-up after a transform.
    pub fn cleanup(self) -> Pipeline {
        self.simplify().cse().dce()
    }

    /// Sets option `name` of the last pass to `values` (replacing it).
    pub fn option<I, S>(mut self, name: &str, values: I) -> Pipeline
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let vals: Vec<String> = values.into_iter().map(|v| v.as_ref().to_string()).collect();
        match self.specs.last_mut() {
            Some(spec) => {
                let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
                spec.options = std::mem::take(&mut spec.options).with(name, &refs);
            }
            None => {
                self.error.get_or_insert_with(|| {
                    format!("pipeline: option `{name}` comes before any pass")
                });
            }
        }
        self
    }

    /// Sets `wrt=` (the parameters to differentiate with respect to) on the
    /// last pass.
    pub fn wrt<I, S>(self, params: I) -> Pipeline
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.option("wrt", params)
    }

    /// Sets `of=K` (the output to differentiate, 0-based) on the last pass.
    pub fn of(self, output: usize) -> Pipeline {
        self.option("of", [output.to_string()])
    }

    /// Sets `mode=` (`jacobian`: `fwd`, `rev` or `auto`) on the last pass.
    pub fn mode(self, mode: &str) -> Pipeline {
        self.option("mode", [mode])
    }

    /// The passes, with their options.
    pub fn specs(&self) -> &[PassSpec] {
        &self.specs
    }

    /// The pass manager, with the built-in passes: the same as
    /// [`PassManager::parse`] of its text (`to_string`). Errors are the
    /// string form's (unknown pass or option, bad value), and a name that
    /// the string form cannot write (with a `,`, `{`, `}` or space) is an
    /// error.
    pub fn build(&self) -> Result<PassManager> {
        self.build_with(&Registry::builtin())
    }

    /// [`Pipeline::build`] with the passes of `registry`.
    pub fn build_with(&self, registry: &Registry) -> Result<PassManager> {
        if let Some(e) = &self.error {
            return Err(Error::input(e.clone()));
        }
        let text = self.to_string();
        if parse_pipeline(&text).ok().as_deref() != Some(&self.specs[..]) {
            return Err(Error::input(format!(
                "pipeline: `{text}` cannot be written as a pipeline string (a pass or option \
                 name or value with a character other than letters, digits, `_`, `-`, `.`)"
            )));
        }
        let mut pm = PassManager::new();
        for spec in &self.specs {
            pm.add_spec(registry, spec)?;
        }
        Ok(pm)
    }

    /// Builds the pipeline and runs it on `g` (see [`PassManager::run`]).
    pub fn run(&self, g: &mut Graph) -> Result<RunReport> {
        self.build()?.run(g)
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.specs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adjoint_ir::{parse_module, print_graph};

    const SRC: &str = "func @f(%w: f64[2], %b: f64, %x: f64[2]) -> f64 {
        %p = mul %w, %x
        %s = reduce_sum %p axes=[0]
        %z = add %s, %b
        %t = tanh %z
        return %t
      }";

    #[test]
    fn typed_and_string_pipelines_give_the_same_ir() {
        for (typed, text) in [
            (
                Pipeline::new().grad().wrt(["w", "b"]).cleanup(),
                "grad{wrt=w,b},simplify,cse,dce",
            ),
            (
                Pipeline::new().jvp().wrt(["x"]).fold().cse().dce(),
                "jvp{wrt=x},fold,cse,dce",
            ),
            (
                Pipeline::new()
                    .jacobian()
                    .wrt(vec!["w".to_string()])
                    .of(0)
                    .mode("rev")
                    .simplify(),
                "jacobian{wrt=w,of=0,mode=rev},simplify",
            ),
            (
                Pipeline::new()
                    .grad()
                    .wrt(["w"])
                    .grad()
                    .of(0)
                    .wrt(["b"])
                    .dce(),
                "grad{wrt=w},grad{of=0,wrt=b},dce",
            ),
        ] {
            assert_eq!(typed.to_string(), text);
            let m = parse_module(SRC).unwrap();
            let mut a = m.func("f").unwrap().clone();
            let mut b = a.clone();
            typed.run(&mut a).unwrap();
            PassManager::parse(text).unwrap().run(&mut b).unwrap();
            assert_eq!(print_graph(&a), print_graph(&b), "{text}");
            assert_eq!(
                typed.build().unwrap().specs(),
                PassManager::parse(text).unwrap().specs()
            );
        }
    }

    #[test]
    fn misuse_is_an_error_at_build() {
        let e = Pipeline::new().wrt(["x"]).grad().build().unwrap_err();
        assert!(
            e.message.contains("option `wrt` comes before any pass"),
            "{e}"
        );
        let e = Pipeline::new().grad().wrt(["a,b"]).build().unwrap_err();
        assert!(e.message.contains("cannot be written"), "{e}");
        let e = Pipeline::new().pass("gard").build().unwrap_err();
        assert!(e.message.contains("valid passes: grad"), "{e}");
        let e = Pipeline::new()
            .grad()
            .wrt(["nope"])
            .run(&mut parse_module(SRC).unwrap().func("f").unwrap().clone());
        assert!(e.is_err());
    }
}
