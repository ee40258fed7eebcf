//! Parser robustness: random bytes, random token soup and random mutations
//! of valid programs must give `Ok` or `Err`, never a panic. Whatever does
//! parse must print to text that parses back and prints identically.

use adjoint_ir::{parse_module, print_module};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    r#"
# f(x1, x2) = x1*x2 + sin(x1)
func @f(%x1: f64, %x2: f64) -> f64 {
  %a = mul %x1, %x2
  %b = sin %x1
  %y = add %a, %b
  return %y
}

func @layer(%x: f32[128,784], %w: f32[784,256], %b: f32[256]) -> (f32, f32[128,256]) {
  %h = matmul %x, %w
  %z = add %h, %b            # numpy broadcasting: a broadcast node is inserted
  %t = tanh %z : f32[128,256]
  %s = reduce_sum %t axes=[0,1]
  return %s, %t
}
"#,
    "func @attrs(%x: f64[2,3], %v: f64[3]) -> (f64[2], f32[3], f64[3,4], f64[6,3], f64[2], f64[1,2]) {
  %2 = broadcast %x shape=[4,2,3] : f64[4,2,3]
  %3 = reshape %x shape=[3,2] : f64[3,2]
  %4 = transpose %x perm=[1,0] : f64[3,2]
  %6 = slice %x start=[0,0] end=[2,3] stride=[2,2] : f64[1,2]
  %7 = pad %x lo=[0,1] hi=[1,0] : f64[3,4]
  %8 = concat %x, %x, %x axis=0 : f64[6,3]
  %9 = reduce_sum %2 axes=[2,0] : f64[2]
  %10 = reduce_max %x axes=[1] : f64[2]
  %11 = cast %v to=f32 : f32[3]
  %12 = matmul %x, %v region=7 : f64[2]
  %13 = lt %10, %12 : bool[2]
  %14 = select %13, %10, %12 region=0 : f64[2]
  return %9, %11, %7, %8, %14, %6
}
",
    "func @consts() -> (f64, f64[3], f64[2,2], f32, f64[4], bool[2,2], f64[0,3]) {
  %0 = const 2.5 : f64
  %1 = const 0 : f64[3]
  %2 = const [[1,2],[3,4]] : f64[2,2]
  %3 = const 0.1 : f32
  %4 = const [nan,inf,-inf,-0] : f64[4]
  %5 = const [[true,false],[false,true]] : bool[2,2]
  %9 = const [] : f64[0,3]
  return %0, %1, %2, %3, %4, %5, %9
}
",
    "func @b(%x: f64) -> f64 {
  %y = exp %x
  return %y
}
func @v(%x: f64, %y: f64, %ct: f64) -> f64 {
  %g = mul %ct, %y
  return %g
}
custom @c = @b vjp=@v
func @main(%x: f64[2], %s: f64) -> (f64, f64[2], f64[2]) {
  %p = call @c %s
  %q = max %x, %p
  return %p, %q, %x
}
",
];

/// Fragments that stress the parser when spliced in.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ",",
    ":",
    "=",
    "->",
    "-",
    "%x",
    "%a",
    "@f",
    "@c",
    "%0",
    "1",
    "0",
    "1e999",
    "1e-999",
    "99999999999999999999999",
    "2147483648",
    "f64",
    "f32[",
    "bool",
    "const",
    "call",
    "custom",
    "func",
    "return",
    "nan",
    "-inf",
    "true",
    "axes=[0]",
    "region=",
    "shape=[2147483647,2147483647]",
    "[[[[[[[[",
    "# comment\n",
    "\n",
    " ",
    "é",
    "\u{0}",
    "stride=[0]",
    "perm=[0,0]",
    "axis=9",
    "f64[0]",
    "f64[65536,65536]",
    "to=bool",
];

fn check(src: &str) {
    if let Ok(m) = parse_module(src) {
        let text = print_module(&m);
        let m2 = parse_module(&text).unwrap_or_else(|e| {
            panic!("printed text does not parse: {e}\n--- input\n{src}\n--- printed\n{text}")
        });
        assert_eq!(print_module(&m2), text, "not a fixed point; input:\n{src}");
    }
}

/// One mutation of `s`, driven by `(kind, at, arg)`.
fn mutate(s: &str, kind: u8, at: usize, arg: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len().max(1);
    let i = at % n;
    let j = (i + 1 + arg % 24).min(chars.len());
    let mut out: Vec<char> = chars.clone();
    match kind % 6 {
        0 => {
            // Delete a span.
            out.drain(i.min(out.len())..j);
        }
        1 => {
            // Insert a token.
            let t = TOKENS[arg % TOKENS.len()];
            let at = i.min(out.len());
            out.splice(at..at, t.chars());
        }
        2 => {
            // Replace one character.
            if i < out.len() {
                out[i] = "[]()%@,:=-#0123456789.eafx \n"
                    .chars()
                    .nth(arg % 28)
                    .unwrap_or(' ');
            }
        }
        3 => {
            // Duplicate a span.
            let span: Vec<char> = chars.get(i..j).map(<[char]>::to_vec).unwrap_or_default();
            let at = j.min(out.len());
            out.splice(at..at, span);
        }
        4 => {
            // Replace a whitespace-separated word with a token.
            let words: Vec<&str> = s.split(' ').collect();
            let w = at % words.len().max(1);
            let mut ws: Vec<String> = words.iter().map(|x| x.to_string()).collect();
            if let Some(x) = ws.get_mut(w) {
                *x = TOKENS[arg % TOKENS.len()].to_string();
            }
            return ws.join(" ");
        }
        _ => {
            // Swap two words.
            let mut ws: Vec<&str> = s.split(' ').collect();
            if !ws.is_empty() {
                let a = at % ws.len();
                let b = arg % ws.len();
                ws.swap(a, b);
            }
            return ws.join(" ");
        }
    }
    out.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(toks in prop::collection::vec(0..TOKENS.len(), 0..64)) {
        let s: String = toks.iter().map(|&t| TOKENS[t]).collect::<Vec<_>>().join(" ");
        check(&s);
        check(&format!("func @f(%x: f64) -> f64 {{\n  {s}\n  return %x\n}}"));
    }

    #[test]
    fn mutated_programs_never_panic(
        seed in 0..SEEDS.len(),
        muts in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let mut s = SEEDS[seed].to_string();
        for (kind, at, arg) in muts {
            s = mutate(&s, kind, at, arg);
        }
        check(&s);
    }
}

#[test]
fn seeds_are_valid() {
    for s in SEEDS {
        parse_module(s).unwrap_or_else(|e| panic!("{e}\n{s}"));
        check(s);
    }
}

#[test]
fn pathological_inputs() {
    let deep = format!(
        "func @f() -> f64 {{\n  %k = const {}1{} : f64\n  return %k\n}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse_module(&deep).is_err());
    let many_dims = format!(
        "func @f(%x: f64[{}]) -> f64 {{\n  return %x\n}}",
        vec!["1"; 10_000].join(",")
    );
    assert!(
        parse_module(&many_dims).is_err(),
        "return type mismatch expected"
    );
    for s in [
        "", "#", "func", "func @", "%", "@", "-", "1e", "\u{feff}", "}}}}", "func @f(",
    ] {
        check(s);
    }
    assert!(parse_module("").unwrap().items.is_empty());
}
