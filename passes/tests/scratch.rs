mod common;
use adjoint_ir::print_graph;
#[test]
fn show() {
    let g = common::rosenbrock(5);
    println!("{}", print_graph(&g));
    let h = common::run(&g, "grad");
    println!("{}", print_graph(&h));
    let h = common::run(&g, "grad,simplify,cse,dce");
    println!("{}", print_graph(&h));
    println!("{:?}", common::op_counts(&h));
    let g = common::mlp(4, [6, 5, 5, 3], true);
    println!("{}", print_graph(&g));
    let h = common::run(&g, "grad{wrt=w1,b1,w2,b2,w3,b3},simplify,cse,dce");
    println!("{}", print_graph(&h));
}
