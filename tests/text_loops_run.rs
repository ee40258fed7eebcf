//! Loop programs written in the text IR mean what docs/ir.md §13 says: the
//! interpreter runs them (hand-derived values), a function serving two
//! loops is also run by name, and `reverse=true` stores each `y` at the
//! index of its iteration.

use adjoint::interp::eval;
use adjoint::ir::{parse_module, Tensor};

fn run(src: &str, func: &str, inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let m = parse_module(src).unwrap();
    let g = m.func(func).unwrap();
    eval(g, inputs)
        .unwrap()
        .iter()
        .map(Tensor::to_f64_vec)
        .collect()
}

const NESTED: &str = include_str!("filetests/print/loop_nested_reuse.adj");

#[test]
fn nested_loops_from_text_run_as_documented() {
    // c = 20; per x in [1, 2, 3]: s = c + x, then while s > 10 (at most 50
    // trips): s = s > 100 ? s / 2 : s + 1.
    //   t=0: s = 21, 50 trips of +1 -> 71; ys[0] = 21
    //   t=1: s = 73, 28 of +1 -> 101, /2 -> 50.5, 21 of +1 -> 71.5; ys[1] = 73
    //   t=2: s = 74.5, 26 of +1 -> 100.5, /2 -> 50.25, 23 of +1 -> 73.25;
    //        ys[2] = 74.5
    // (all exact in f64). Then `again`: two trips of +1 from 73.25.
    let out = run(
        NESTED,
        "main",
        &[
            Tensor::scalar_f64(20.0),
            Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap(),
        ],
    );
    assert_eq!(out, vec![vec![73.25], vec![21.0, 73.0, 74.5], vec![75.25]]);
    // @inc serves a branch and a loop, and runs by itself too.
    assert_eq!(
        run(NESTED, "inc", &[Tensor::scalar_f64(2.0)]),
        vec![vec![3.0]]
    );
    // And it is not the default function.
    assert_eq!(
        parse_module(NESTED).unwrap().main_func().unwrap().name(),
        "main"
    );
}

#[test]
fn reverse_scan_without_inputs_stores_each_y_at_its_iteration() {
    let src = include_str!("filetests/print/loop_scan_no_xs.adj");
    // @tick(c, k) = (c * k, c), c0 = 1, k = 2, length 4, reverse: t = 3
    // runs first with c = 1, so ys = [8, 4, 2, 1] and c = 16. The map
    // squares [1, 2, 3].
    let out = run(
        src,
        "main",
        &[
            Tensor::scalar_f32(1.0),
            Tensor::scalar_f32(2.0),
            Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap(),
        ],
    );
    assert_eq!(
        out,
        vec![vec![16.0], vec![8.0, 4.0, 2.0, 1.0], vec![1.0, 4.0, 9.0]]
    );
}
