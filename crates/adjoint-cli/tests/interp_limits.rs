//! The interpreter's limits end to end (issue 11, items 7 and 10): a chain
//! of 8,000 nested custom ops runs, checks and folds (it used to abort with
//! a stack overflow), and a program whose working memory no machine can
//! hold is one line on stderr and exit 1, before anything is allocated.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `adjoint` with `args`, the program `text` on standard input.
fn run_stdin(args: &[&str], text: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adjoint");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// `@c0(x) = sin x`, `@ci(x) = call @c(i-1) x`, and `@main` calling the
/// last one on its argument plus (if `konst`) on a constant.
fn chain(n: usize, konst: bool) -> String {
    let mut s = String::from(
        "func @b0(%x: f64) -> f64 {\n  %y = sin %x\n  return %y\n}\ncustom @c0 = @b0\n",
    );
    for i in 1..n {
        s += &format!(
            "func @b{i}(%x: f64) -> f64 {{\n  %y = call @c{} %x\n  return %y\n}}\ncustom @c{i} = @b{i}\n",
            i - 1
        );
    }
    let last = n - 1;
    if konst {
        s += &format!(
            "func @main(%a: f64) -> f64 {{\n  %k = const 0.5 : f64\n  %y = call @c{last} %k\n  \
             %z = add %y, %a\n  return %z\n}}\n"
        );
    } else {
        s += &format!("func @main(%a: f64) -> f64 {{\n  %y = call @c{last} %a\n  return %y\n}}\n");
    }
    s
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_check_and_fold_evaluate_8000_nested_custom_ops() {
    let text = chain(8000, false);
    let o = run_stdin(
        &[
            "run", "--engine", "interp", "--func", "main", "--arg", "a=0.5", "-",
        ],
        &text,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{}", 0.5f64.sin())),
        "{}",
        stdout(&o)
    );

    let o = run_stdin(&["check", "--func", "main", "--arg", "a=0.5", "-"], &text);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("PASS"), "{}", stdout(&o));

    let text = chain(8000, true);
    let args = [
        "run", "--engine", "interp", "--passes", "fold", "--func", "main", "--arg", "a=0.25", "-",
    ];
    let o = run_stdin(&args, &text);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{}", 0.5f64.sin() + 0.25)),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_program_over_the_working_memory_budget_exits_1_naming_op_and_bytes() {
    // 4096 outputs of f64[2^31] (16 GiB each): 64 TiB, over any machine's
    // budget (half its memory), refused from the types alone.
    let n = 4096;
    let mut s = format!(
        "func @f(%x: f64) -> ({}) {{\n",
        vec!["f64[2147483648]"; n].join(", ")
    );
    for i in 0..n {
        s += &format!("  %b{i} = broadcast %x shape=[2147483648] : f64[2147483648]\n");
    }
    let outs: Vec<String> = (0..n).map(|i| format!("%b{i}")).collect();
    s += &format!("  return {}\n}}\n", outs.join(", "));
    let o = run_stdin(&["run", "--engine", "interp", "--arg", "x=1", "-"], &s);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("= broadcast"), "{e}");
    assert!(e.contains("17179869184 bytes"), "{e}");
    assert!(e.contains("working-memory limit"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
}
