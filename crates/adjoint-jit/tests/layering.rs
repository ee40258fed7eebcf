//! The crate layering (docs/architecture.md, "Dependencies"): the JIT is a
//! backend and depends on the IR only, never on the passes crate.

/// The dependency names of one `[section]` of a Cargo manifest.
fn deps_of(manifest: &str, section: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == section;
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            let name = t.split(['=', '.', ' ']).next().unwrap_or_default();
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn the_jit_does_not_depend_on_the_passes_crate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let manifest = std::fs::read_to_string(path).unwrap();
    let deps = deps_of(&manifest, "[dependencies]");
    assert!(deps.iter().any(|d| d == "adjoint-ir"), "{deps:?}");
    for section in ["[dependencies]", "[build-dependencies]"] {
        let deps = deps_of(&manifest, section);
        assert!(
            !deps.iter().any(|d| d == "adjoint-passes"),
            "{section} of adjoint-jit lists adjoint-passes: {deps:?}"
        );
    }
}
