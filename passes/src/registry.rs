//! The registry of pass types. Each pass type states its own name, summary
//! and option schema ([`PassType`]); the registry is a list of pass types,
//! and every list of valid names in an error message is derived from it.

use crate::pipeline::{PassOptions, PassSpec};
use crate::Pass;
use adjoint_ir::{Error, Result};

/// One option a pass accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    /// The option name, as written before `=`.
    pub name: &'static str,
    /// What it does, for `--help` and the docs.
    pub help: &'static str,
}

/// A pass type: its name and option schema, and a constructor from
/// options. Implementing it is all it takes to make a pass available in
/// pipelines (with [`Registry::register`]).
pub trait PassType: Pass + Sized + 'static {
    /// The name written in pipelines.
    const NAME: &'static str;
    /// One line describing the pass.
    const SUMMARY: &'static str;
    /// The options the pass accepts.
    const OPTIONS: &'static [OptionSpec];
    /// Builds the pass from options already checked against
    /// [`PassType::OPTIONS`] (values are checked here).
    fn from_options(opts: &PassOptions) -> Result<Self>;
}

/// A registered pass type, type-erased.
#[derive(Clone, Copy)]
pub struct PassEntry {
    /// The pass name.
    pub name: &'static str,
    /// One line describing the pass.
    pub summary: &'static str,
    /// The options it accepts.
    pub options: &'static [OptionSpec],
    build: fn(&PassOptions) -> Result<Box<dyn Pass>>,
}

impl PassEntry {
    /// The entry of pass type `P`.
    pub fn of<P: PassType>() -> PassEntry {
        PassEntry {
            name: P::NAME,
            summary: P::SUMMARY,
            options: P::OPTIONS,
            build: |o| Ok(Box::new(P::from_options(o)?)),
        }
    }

    fn option_names(&self) -> String {
        if self.options.is_empty() {
            "none".to_string()
        } else {
            self.options
                .iter()
                .map(|o| o.name)
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

impl std::fmt::Debug for PassEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassEntry")
            .field("name", &self.name)
            .finish()
    }
}

/// The pass types a pipeline may name.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Vec<PassEntry>,
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// Every pass type of this crate.
    pub fn builtin() -> Registry {
        let mut r = Registry::empty();
        r.register(PassEntry::of::<crate::reverse::Grad>());
        r.register(PassEntry::of::<crate::reverse::Vjp>());
        r.register(PassEntry::of::<crate::forward::Jvp>());
        r.register(PassEntry::of::<crate::simplify::Simplify>());
        r.register(PassEntry::of::<crate::cse::Cse>());
        r.register(PassEntry::of::<crate::dce::Dce>());
        r.register(PassEntry::of::<crate::fold::Fold>());
        r.register(PassEntry::of::<crate::inline::Inline>());
        r.register(PassEntry::of::<crate::licm::Licm>());
        r.register(PassEntry::of::<crate::jacobian::Jacobian>());
        r.register(PassEntry::of::<crate::fuse::Fuse>());
        r
    }

    /// Adds a pass type (replacing one of the same name).
    pub fn register(&mut self, e: PassEntry) {
        self.entries.retain(|x| x.name != e.name);
        self.entries.push(e);
    }

    /// The registered pass types, in registration order.
    pub fn entries(&self) -> &[PassEntry] {
        &self.entries
    }

    /// The registered pass names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&PassEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Builds the pass a spec names, checking the pass name and every
    /// option name; errors list the valid ones.
    pub fn build(&self, spec: &PassSpec) -> Result<Box<dyn Pass>> {
        let e = self.get(&spec.name).ok_or_else(|| {
            Error::input(format!(
                "unknown pass `{}`; valid passes: {}",
                spec.name,
                self.names().join(", ")
            ))
        })?;
        for (k, _) in &spec.options.items {
            if !e.options.iter().any(|o| o.name == k) {
                return Err(Error::input(format!(
                    "pass `{}` has no option `{k}`; valid options: {}",
                    e.name,
                    e.option_names()
                )));
            }
        }
        (e.build)(&spec.options)
    }
}
