//! Deeply nested custom ops (each body calling the previous op) print,
//! parse and drop in time linear in the chain and without recursion per
//! level (before: printing grew as N^3, and N = 8,000 overflowed the stack).

use adjoint_ir::{custom_deps, parse_module, print_graph, print_module, Op};

/// A module of `n` custom ops `@c0 … @c{n-1}`, each body calling the
/// previous op, and `@main` calling the last.
fn chain(n: usize) -> String {
    let mut s = String::from("func @b0(%x: f64) -> f64 {\n  %y = sin %x : f64\n  return %y\n}\n");
    s.push_str("\ncustom @c0 = @b0\n");
    for i in 1..n {
        s.push_str(&format!(
            "\nfunc @b{i}(%x: f64) -> f64 {{\n  %y = call @c{} %x : f64\n  return %y\n}}\n\ncustom @c{i} = @b{i}\n",
            i - 1
        ));
    }
    s.push_str(&format!(
        "\nfunc @main(%x: f64) -> f64 {{\n  %y = call @c{} %x : f64\n  return %y\n}}\n",
        n - 1
    ));
    s
}

#[test]
fn a_chain_of_8000_custom_ops_round_trips() {
    let n = 8000;
    let src = chain(n);
    let m = parse_module(&src).unwrap();
    // The module prints back to the same canonical text.
    let text = print_module(&m);
    assert_eq!(text, src);
    // Printing only @main prints the whole chain ahead of it, once each.
    let main = m.main_func().unwrap();
    assert_eq!(main.name(), "main");
    let text = print_graph(main);
    assert_eq!(text, src);
    assert_eq!(custom_deps(main).len(), n);
    let Op::Call(c) = &main[main.outputs()[0]].op else {
        panic!("main calls the chain")
    };
    assert_eq!(c.name, format!("c{}", n - 1));
    // Dropping the parsed module and the last reference to the chain frees
    // it level by level without recursing (this thread has the default
    // 2 MiB test stack).
    let main = main.clone();
    drop(m);
    drop(main);
}

#[test]
fn deps_come_callees_first_each_once() {
    // @c2 calls @c1 twice and @c0 once; @c1 calls @c0.
    let src = "func @b0(%x: f64) -> f64 {\n  %y = exp %x : f64\n  return %y\n}\n\ncustom @c0 = @b0\n\nfunc @b1(%x: f64) -> f64 {\n  %y = call @c0 %x : f64\n  return %y\n}\n\ncustom @c1 = @b1\n\nfunc @b2(%x: f64) -> f64 {\n  %a = call @c1 %x : f64\n  %b = call @c0 %a : f64\n  %c = call @c1 %b : f64\n  return %c\n}\n\ncustom @c2 = @b2\n\nfunc @main(%x: f64) -> f64 {\n  %y = call @c2 %x : f64\n  return %y\n}\n";
    let m = parse_module(src).unwrap();
    let deps: Vec<String> = custom_deps(m.func("main").unwrap())
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(deps, ["c0", "c1", "c2"]);
    assert_eq!(print_graph(m.func("main").unwrap()), src);
    assert_eq!(print_module(&m), src);
}
