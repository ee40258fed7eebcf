//! Issue 11 items 3, 4, 5 and 14 through the `adjoint` binary: `chain`
//! costs past 2^64 and long chains, `check --wrt` listing a parameter
//! twice, and malformed `--arg` values.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adjoint");
    let mut stdin = child.stdin.take().expect("stdin");
    // The binary may stop reading early (a limit): ignore a broken pipe.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit 1 with one line `adjoint: …` containing `want`, nothing on stdout.
fn assert_error(o: &Output, want: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("adjoint: ") && err.contains(want), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "stdout: {}", text(&o.stdout));
}

#[test]
fn chain_costs_never_wrap() {
    // The dense plan costs exactly 2^128, which wrapped to 0 in u128.
    let o = run_stdin(
        &["chain", "-"],
        b"2\n18446744073709551615 18446744073709551615 2\n1 18446744073709551615 1\n",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout).trim(),
        r#"{"optimal": 3, "tangent": 55340232221128654845, "adjoint": 3, "bracketing": "F2·F1 [adjoint]"}"#
    );
    // Every plan costs more than 2^128 − 1: an error, not a number.
    let o = run_stdin(
        &["chain", "-"],
        b"2\n18446744073709551615 18446744073709551615 18446744073709551615\n18446744073709551615 18446744073709551615 18446744073709551615\n",
    );
    assert_error(&o, "2^128");
}

#[test]
fn long_chains_are_refused_while_reading() {
    // q = 100,000 (a 600 KB file) aborted allocating the O(q²) tables.
    let q = 100_000;
    let mut input = format!("{q}\n");
    for _ in 0..q {
        input.push_str("1 1 1\n");
    }
    let o = run_stdin(&["chain", "-"], input.as_bytes());
    assert_error(
        &o,
        "line 1: a chain of 100000 factors is longer than the limit of 1024",
    );
    // The limit is exact: 1,025 is refused, a short chain solves.
    let o = run_stdin(&["chain", "-"], b"1025\n1 1 1\n");
    assert_error(&o, "limit of 1024");
    let o = run_stdin(&["chain", "-"], b"3\n1 1 1\n1 1 1\n1 1 1\n");
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn check_with_a_repeated_wrt_is_the_grad_error() {
    let src = b"func @f(%x: f64) -> f64 {\n  %y = mul %x, %x\n  return %y\n}\n";
    let o = run_stdin(&["check", "-", "--arg", "x=3", "--wrt", "x,x"], src);
    assert_error(&o, "parameter `x` is listed twice in wrt");
    let o = run_stdin(&["opt", "-", "--passes", "grad{wrt=x,x}"], src);
    assert_error(&o, "parameter `x` is listed twice in wrt");
    let o = run_stdin(&["check", "-", "--arg", "x=3", "--wrt", "x"], src);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn args_nested_unlike_the_shape_are_errors() {
    let src = b"func @f(%v: f64[2,2]) -> f64[2,2] {\n  %y = add %v, %v\n  return %y\n}\n";
    for bad in ["[[1,2,3],[4]]", "[[[1,2,3,4]]]", "[[],[1,[2,[3]]],4]"] {
        let o = run_stdin(&["run", "-", "--arg", &format!("v={bad}")], src);
        assert_error(&o, "--arg v (f64[2,2]): the value does not match f64[2,2]");
    }
    let want = r#"{"outputs":[{"name":"y","dtype":"f64","shape":[2,2],"data":[2,4,6,8]}]}"#;
    for good in ["[[1,2],[3,4]]", "[1,2,3,4]"] {
        let o = run_stdin(&["run", "-", "--arg", &format!("v={good}")], src);
        assert!(o.status.success(), "{good}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout).trim(), want);
    }
}

#[test]
fn arg_numbers_out_of_range_are_errors_like_const() {
    let f32_src = b"func @f(%x: f32) -> f32 {\n  %y = neg %x\n  return %y\n}\n";
    let f64_src = b"func @f(%x: f64) -> f64 {\n  %y = neg %x\n  return %y\n}\n";
    for (src, value) in [
        (&f32_src[..], "1e39"),
        (&f32_src[..], "-1e39"),
        (&f64_src[..], "1e400"),
    ] {
        let o = run_stdin(&["run", "-", "--arg", &format!("x={value}")], src);
        assert_error(&o, "is out of range for");
    }
    // Underflow rounds, as in a const literal: 1e-46 is +0 in f32.
    let o = run_stdin(
        &["run", "-", "--arg", "x=1e-46", "--engine", "interp"],
        f32_src,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(r#""data":[-0]"#),
        "{}",
        text(&o.stdout)
    );
}
