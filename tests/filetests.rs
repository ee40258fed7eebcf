//! Golden file tests in the Cranelift style: every `tests/filetests/**/*.adj`
//! starts with a header comment saying what to do:
//!
//! - `# test print`: parse, verify and print; the canonical text must equal
//!   the `# expect:` block at the end of the file, and must round-trip.
//! - `# test opt PIPELINE`: run the pass pipeline on the first function and
//!   print it; compared with the `# expect:` block.
//! - `# test run [PIPELINE]`: each `# run: @f(ARGS) == VALUES` line runs the
//!   function (after the optional pipeline) on the interpreter and on the
//!   JIT; both must give the expected values.
//! - `# test error`: parsing (or the pipeline) must fail with a message
//!   containing each `# error: TEXT` line.
//!
//! `ADJOINT_BLESS=1 cargo test --test filetests` rewrites the expectations
//! from the interpreter's results; a mismatch prints a diff.

use adjoint::ir::{self, Graph, Module, Op, Result, Tensor};
use adjoint::values::{arg_to_tensor, nested_text, parse_arg};
use adjoint::Engine;
use std::path::{Path, PathBuf};

const EXPECT: &str = "# expect:";

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("filetests dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "adj") {
            out.push(p);
        }
    }
}

fn bless() -> bool {
    std::env::var("ADJOINT_BLESS").is_ok_and(|v| v == "1")
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}

/// Splits the file into (source, expected block).
fn split_expect(text: &str) -> (&str, Option<String>) {
    match text.find(&format!("\n{EXPECT}\n")) {
        Some(i) => {
            let block = &text[i + EXPECT.len() + 2..];
            let lines: Vec<&str> = block
                .lines()
                .map(|l| {
                    l.strip_prefix("# ")
                        .unwrap_or(l.strip_prefix('#').unwrap_or(l))
                })
                .collect();
            (&text[..i + 1], Some(lines.join("\n") + "\n"))
        }
        None => (text, None),
    }
}

fn expect_block(actual: &str) -> String {
    let mut s = format!("{EXPECT}\n");
    for l in actual.lines() {
        if l.is_empty() {
            s.push_str("#\n");
        } else {
            s.push_str("# ");
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

fn pipeline(g: &Graph, passes: &str) -> Result<Graph> {
    let mut g = g.clone();
    if !passes.trim().is_empty() {
        adjoint::run_pipeline(&mut g, passes)?;
    }
    Ok(g)
}

fn golden(
    path: &Path,
    text: &str,
    source: &str,
    actual: String,
) -> std::result::Result<(), String> {
    let (_, expected) = split_expect(text);
    match expected {
        Some(e) if e == actual => Ok(()),
        _ if bless() => {
            std::fs::write(path, format!("{source}{}", expect_block(&actual)))
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        Some(e) => Err(diff(&e, &actual)),
        None => Err(format!(
            "no `{EXPECT}` block; run with ADJOINT_BLESS=1 to create it:\n{actual}"
        )),
    }
}

/// Splits `a, [b, c], d` at top-level commas.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn outputs_text(outs: &[Tensor]) -> String {
    let parts: Vec<String> = outs.iter().map(nested_text).collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Whether the JIT may legitimately differ from the interpreter in the
/// last bits (transcendentals have a documented ulp bound; GEMM reorders
/// its sums).
fn inexact(g: &Graph) -> bool {
    g.node_ids().iter().any(|&n| match &g[n].op {
        Op::Unary(u) => u.is_transcendental(),
        Op::Binary(ir::BinaryOp::Pow) | Op::MatMul | Op::Call(_) => true,
        _ => false,
    })
}

fn close(a: &Tensor, b: &Tensor) -> bool {
    if a.ty() != b.ty() {
        return false;
    }
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    let tol = if a.dtype() == ir::DType::F32 {
        1e-5
    } else {
        1e-12
    };
    x.iter().zip(&y).all(|(p, q)| {
        (p.is_nan() && q.is_nan())
            || p == q
            || (p - q).abs() <= tol * p.abs().max(q.abs()).max(1e-300)
    })
}

fn run_lines(path: &Path, text: &str, m: &Module, passes: &str) -> std::result::Result<(), String> {
    let mut new_text = String::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for (lineno, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("# run:") else {
            new_text.push_str(line);
            new_text.push('\n');
            continue;
        };
        count += 1;
        let at = |m: &str| format!("{}:{}: {m}", path.display(), lineno + 1);
        let (call, expected) = rest
            .split_once("==")
            .map(|(c, e)| (c.trim(), e.trim()))
            .unwrap_or((rest.trim(), ""));
        let open = call.find('(').ok_or_else(|| at("expected @f(args)"))?;
        let name = call[..open].trim().trim_start_matches('@');
        let args = call[open + 1..]
            .trim_end()
            .strip_suffix(')')
            .ok_or_else(|| at("missing ')'"))?;
        let f = m
            .func(name)
            .ok_or_else(|| at(&format!("no function @{name}")))?;
        let g = pipeline(f, passes).map_err(|e| at(&e.to_string()))?;
        let arg_texts = split_top(args);
        if arg_texts.len() != g.params().len() {
            return Err(at(&format!(
                "@{name} takes {} arguments, the line gives {}",
                g.params().len(),
                arg_texts.len()
            )));
        }
        let inputs: Vec<Tensor> = arg_texts
            .iter()
            .zip(g.param_types())
            .map(|(a, ty)| parse_arg(a).and_then(|v| arg_to_tensor(&v, &ty)))
            .collect::<Result<_>>()
            .map_err(|e| at(&e.to_string()))?;
        let want_interp = Engine::Interp
            .run(&g, &inputs)
            .map_err(|e| at(&e.to_string()))?;
        let got = outputs_text(&want_interp);
        if got != expected {
            failures.push(at(&format!("interp: expected {expected}, got {got}")));
        }
        match Engine::Jit.run(&g, &inputs) {
            Ok(jit) => {
                let jit_text = outputs_text(&jit);
                let ok = if inexact(&g) {
                    jit.len() == want_interp.len()
                        && jit.iter().zip(&want_interp).all(|(a, b)| close(a, b))
                } else {
                    jit_text == got
                };
                if !ok {
                    failures.push(at(&format!("jit: expected {got} (interp), got {jit_text}")));
                }
            }
            Err(e) => failures.push(at(&format!("jit: {e}"))),
        }
        new_text.push_str(&format!("# run: {call} == {got}\n"));
    }
    if count == 0 {
        return Err(format!(
            "{}: `test run` without `# run:` lines",
            path.display()
        ));
    }
    if bless() {
        std::fs::write(path, new_text).map_err(|e| e.to_string())?;
        return Ok(());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn check_file(path: &Path) -> std::result::Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let header = text
        .lines()
        .find_map(|l| l.strip_prefix("# test "))
        .ok_or("missing `# test KIND` header")?
        .trim()
        .to_string();
    let (kind, arg) = header.split_once(' ').unwrap_or((header.as_str(), ""));
    let (source, _) = split_expect(&text);
    match kind {
        "print" => {
            let m = ir::parse_module(source).map_err(|e| e.to_string())?;
            let printed = ir::print_module(&m);
            let again = ir::parse_module(&printed)
                .map(|m2| ir::print_module(&m2))
                .map_err(|e| format!("printed text does not parse: {e}\n{printed}"))?;
            if again != printed {
                return Err(format!(
                    "print does not round-trip:\n{}",
                    diff(&printed, &again)
                ));
            }
            golden(path, &text, source, printed)
        }
        "opt" => {
            let m = ir::parse_module(source).map_err(|e| e.to_string())?;
            let f = m.main_func().ok_or("no function")?;
            let g = pipeline(f, arg).map_err(|e| e.to_string())?;
            golden(path, &text, source, ir::print_graph(&g))
        }
        "run" => {
            let m = ir::parse_module(source).map_err(|e| e.to_string())?;
            run_lines(path, &text, &m, arg)
        }
        "error" => {
            let wants: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("# error:"))
                .map(str::trim)
                .collect();
            if wants.is_empty() {
                return Err("`test error` without `# error:` lines".into());
            }
            let result = ir::parse_module(source).and_then(|m| {
                let f = m
                    .main_func()
                    .cloned()
                    .ok_or_else(|| ir::Error::input("no function"))?;
                pipeline(&f, arg)
            });
            match result {
                Ok(_) => Err("expected an error, but it succeeded".into()),
                Err(e) => {
                    let msg = e.to_string();
                    let missing: Vec<&&str> = wants.iter().filter(|w| !msg.contains(**w)).collect();
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("error `{msg}` lacks {missing:?}"))
                    }
                }
            }
        }
        other => Err(format!("unknown test kind `{other}`")),
    }
}

#[test]
fn filetests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests");
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(!all.is_empty(), "no filetests found");
    let mut failed = Vec::new();
    for p in &all {
        if let Err(e) = check_file(p) {
            failed.push(format!("--- {}\n{e}", p.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} filetests failed:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
    eprintln!("{} filetests passed", all.len());
}
