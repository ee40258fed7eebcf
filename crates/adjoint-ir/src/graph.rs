//! The dataflow graph of one function, on petgraph's `StableGraph` so that
//! node ids survive node removal in passes.

use crate::{infer_type, Error, Loc, Op, Result, Shape, TensorType};
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;

/// The id of a node (and of its single result value) in a [`Graph`].
/// Displays as `%N`, the name the printer gives an unnamed value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub NodeIndex<u32>);

impl NodeId {
    /// The raw index.
    pub fn index(self) -> usize {
        self.0.index()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0.index())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The annotations of one node of a [`Graph`], kept beside the nodes
/// rather than in them, in one map from live node id (see
/// [`Graph::region`] and [`Graph::loc`]). A node without annotations has
/// no entry; [`Graph::remove_node`] / [`Graph::remove_nodes`] drop a
/// node's entry, so a node that later reuses a freed id starts without
/// annotations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Annotations {
    /// The fusion region the `fuse` pass put the node in, printed as the
    /// attribute `region=N`.
    region: Option<u32>,
    /// Where in IR text the node's statement is; never printed.
    loc: Option<Loc>,
}

/// A node: one op and the type of its one result.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The op.
    pub op: Op,
    /// The result type.
    pub ty: TensorType,
    /// The value's name in text (`%name`), if it has one. Parameters always
    /// have one.
    pub name: Option<String>,
}

/// A function: ordered named parameters, a dataflow graph of ops with one
/// result each, and ordered outputs. Edges run from operand to user and
/// carry the operand position.
///
/// ```
/// use adjoint_ir::{Graph, Op, BinaryOp, UnaryOp, TensorType, verify};
/// let mut g = Graph::new("f");
/// let x1 = g.add_param("x1", TensorType::f64([])).unwrap();
/// let x2 = g.add_param("x2", TensorType::f64([])).unwrap();
/// let a = g.add(Op::Binary(BinaryOp::Mul), &[x1, x2]).unwrap();
/// let b = g.add(Op::Unary(UnaryOp::Sin), &[x1]).unwrap();
/// let y = g.add(Op::Binary(BinaryOp::Add), &[a, b]).unwrap();
/// g.set_outputs(vec![y]);
/// verify(&g).unwrap();
/// assert_eq!(g.operands(y), vec![a, b]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Graph {
    name: String,
    g: StableGraph<Node, u32>,
    params: Vec<NodeId>,
    outputs: Vec<NodeId>,
    /// The output names set on the outputs themselves, by position
    /// (`None`: the output goes by its value's name; no table: no output
    /// has a name of its own). Boxed to keep `Graph` small.
    output_names: Option<Box<OutputNameTable>>,
    /// Per-node annotations (region, source location), by node.
    annotations: HashMap<NodeId, Annotations>,
}

/// The output names of a [`Graph`], by output position.
#[derive(Clone, Debug, Default)]
struct OutputNameTable(Vec<Option<String>>);

impl std::ops::Index<NodeId> for Graph {
    type Output = Node;
    fn index(&self, id: NodeId) -> &Node {
        &self.g[id.0]
    }
}

impl std::ops::IndexMut<NodeId> for Graph {
    fn index_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.g[id.0]
    }
}

impl Graph {
    /// An empty function named `name` (without the `@`).
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    /// The function's name (without the `@`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the function.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// The underlying petgraph graph (read-only), for algorithms.
    pub fn petgraph(&self) -> &StableGraph<Node, u32> {
        &self.g
    }

    /// The parameter nodes, in declaration order.
    pub fn params(&self) -> &[NodeId] {
        &self.params
    }

    /// The output values, in order (a value may appear more than once).
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// Replaces the outputs. Output names (see [`Graph::set_output_name`])
    /// follow the values: a new output keeps the name of the old output at
    /// the same position when that position still returns the same value;
    /// otherwise it takes the name of the first old output, not yet claimed,
    /// that returned the same value (so removing or reordering outputs
    /// keeps their names); otherwise it has none and goes by its value's
    /// name.
    pub fn set_outputs(&mut self, outputs: Vec<NodeId>) {
        let old = std::mem::take(&mut self.outputs);
        let mut old_names = self.output_names.take().map(|t| t.0).unwrap_or_default();
        old_names.resize(old.len(), None);
        let mut claimed = vec![false; old.len()];
        let mut names = vec![None; outputs.len()];
        for (i, &o) in outputs.iter().enumerate() {
            if old.get(i) == Some(&o) {
                claimed[i] = true;
                names[i] = old_names[i].take();
            }
        }
        for (i, &o) in outputs.iter().enumerate() {
            if old.get(i) == Some(&o) {
                continue;
            }
            if let Some(j) = (0..old.len()).find(|&j| !claimed[j] && old[j] == o) {
                claimed[j] = true;
                names[i] = old_names[j].take();
            }
        }
        self.outputs = outputs;
        if names.iter().any(Option::is_some) {
            self.output_names = Some(Box::new(OutputNameTable(names)));
        }
    }

    /// Appends one output (without an output name of its own).
    pub fn push_output(&mut self, id: NodeId) {
        self.outputs.push(id);
        if let Some(t) = &mut self.output_names {
            t.0.resize(self.outputs.len(), None);
        }
    }

    /// The name set on output `i` itself ([`Graph::set_output_name`]), if
    /// any; `None` also for an output index out of range.
    pub fn output_name(&self, i: usize) -> Option<&str> {
        self.output_names
            .as_ref()
            .and_then(|t| t.0.get(i))
            .and_then(|n| n.as_deref())
    }

    /// Names output `i` (a name belongs to the output, not to the value
    /// that computes it: a parameter returned as a gradient can be called
    /// `w_grad`). The name follows the value-name rule (letters, digits,
    /// `_`) and must differ from the other outputs' names
    /// ([`Graph::output_names`]); the error names the clash.
    pub fn set_output_name(&mut self, i: usize, name: impl Into<String>) -> Result<()> {
        let name = name.into();
        if i >= self.outputs.len() {
            return Err(Error::type_error(format!(
                "output name %{name}: @{} has {} output(s), no output {i}",
                self.name,
                self.outputs.len()
            )));
        }
        if !crate::text::is_valid_name(&name) {
            return Err(Error::type_error(format!(
                "output {i} of @{}: `{name}` is not a valid name (letters, digits, `_`)",
                self.name
            )));
        }
        let names = self.output_names();
        if let Some(j) = (0..names.len()).find(|&j| j != i && names[j] == name) {
            return Err(Error::type_error(format!(
                "output {i} of @{}: the name %{name} is already the name of output {j}",
                self.name
            )));
        }
        let len = self.outputs.len();
        let t = self.output_names.get_or_insert_with(Default::default);
        t.0.resize(len, None);
        t.0[i] = Some(name);
        Ok(())
    }

    /// Removes output `i`'s own name: it goes by its value's name again.
    pub fn clear_output_name(&mut self, i: usize) {
        if let Some(n) = self.output_names.as_mut().and_then(|t| t.0.get_mut(i)) {
            *n = None;
        }
    }

    /// The node with id `id`, if it exists.
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.g.node_weight(id.0)
    }

    /// Whether `id` names a live node.
    pub fn contains(&self, id: NodeId) -> bool {
        self.g.contains_node(id.0)
    }

    /// The result type of node `id`.
    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self[id].ty
    }

    /// The number of live nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// Every live node id, in increasing index order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.g.node_indices().map(NodeId).collect()
    }

    /// The parameter named `name`, if any.
    pub fn param_by_name(&self, name: &str) -> Option<NodeId> {
        self.params
            .iter()
            .copied()
            .find(|&p| self[p].name.as_deref() == Some(name))
    }

    /// The names of the parameters, in order.
    pub fn param_names(&self) -> Vec<String> {
        self.params
            .iter()
            .map(|&p| self[p].name.clone().unwrap_or_default())
            .collect()
    }

    /// The names of the inputs (the parameters), in order: the same as
    /// [`Graph::param_names`], under the name the compiled function uses.
    pub fn input_names(&self) -> Vec<String> {
        self.param_names()
    }

    /// The names of the outputs, in order, without the `%`: the output's
    /// own name where one is set ([`Graph::set_output_name`]; the
    /// derivative passes name their outputs `<p>_grad`, `<y>_dot`, …, and
    /// the pass manager keeps those names through clean-up, see
    /// docs/passes.md), else its value's name (`y`; an unnamed value
    /// gives its node number, such as `15`).
    pub fn output_names(&self) -> Vec<String> {
        self.outputs
            .iter()
            .enumerate()
            .map(|(i, &o)| match self.output_name(i) {
                Some(n) => n.to_string(),
                None => self.display_name(o).trim_start_matches('%').to_string(),
            })
            .collect()
    }

    /// Appends a parameter. Its name must be unique among the function's
    /// value names.
    pub fn add_param(&mut self, name: impl Into<String>, ty: TensorType) -> Result<NodeId> {
        let name = name.into();
        if self.value_by_name(&name).is_some() {
            return Err(Error::type_error(format!(
                "param: the name %{name} is already taken in @{}",
                self.name
            )));
        }
        let index = self.params.len();
        let id = NodeId(self.g.add_node(Node {
            op: Op::Param { index },
            ty,
            name: Some(name),
        }));
        self.params.push(id);
        Ok(id)
    }

    /// The live value named `name`, if any (a linear scan).
    pub fn value_by_name(&self, name: &str) -> Option<NodeId> {
        self.g
            .node_indices()
            .find(|&i| self.g[i].name.as_deref() == Some(name))
            .map(NodeId)
    }

    /// Adds a node for `op` with `operands` (in order), inferring its type.
    /// Errors name the op and the operand types.
    pub fn add(&mut self, op: Op, operands: &[NodeId]) -> Result<NodeId> {
        for &o in operands {
            if !self.contains(o) {
                return Err(Error::type_error(format!(
                    "{}: operand {o} does not exist",
                    op.name()
                )));
            }
        }
        if matches!(op, Op::Param { .. }) {
            return Err(Error::type_error("param: use Graph::add_param"));
        }
        if op.is_multi_result() || matches!(op, Op::Project { .. }) {
            return Err(Error::type_error(format!(
                "{}: an op with several results is added with Graph::add_multi",
                op.name()
            )));
        }
        let tys: Vec<&TensorType> = operands.iter().map(|&o| self.ty(o)).collect();
        let ty = infer_type(&op, &tys)?;
        Ok(self.add_unchecked(op, ty, operands))
    }

    /// Adds a node for a multi-result op (`scan`, `while`, `cond`) with
    /// `operands`, inferring its result types, plus one [`Op::Project`] node
    /// per result. Returns the projections, in result order: they are the
    /// op's result values. (Any single-result op is added as by
    /// [`Graph::add`], and its one value returned.)
    pub fn add_multi(&mut self, op: Op, operands: &[NodeId]) -> Result<Vec<NodeId>> {
        if !op.is_multi_result() {
            return Ok(vec![self.add(op, operands)?]);
        }
        for &o in operands {
            if !self.contains(o) {
                return Err(Error::type_error(format!(
                    "{}: operand {o} does not exist",
                    op.name()
                )));
            }
        }
        let tys: Vec<&TensorType> = operands.iter().map(|&o| self.ty(o)).collect();
        let results = crate::infer_types(&op, &tys)?;
        let node = self.add_unchecked(op, results[0].clone(), operands);
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(index, ty)| self.add_unchecked(Op::Project { index }, ty, &[node]))
            .collect())
    }

    /// The result types of the multi-result node `id` (inferred from its op
    /// and operands), or its one type for any other node.
    pub fn result_types(&self, id: NodeId) -> Result<Vec<TensorType>> {
        let node = &self[id];
        if !node.op.is_multi_result() {
            return Ok(vec![node.ty.clone()]);
        }
        let ops = self.operands(id);
        let tys: Vec<&TensorType> = ops.iter().map(|&o| self.ty(o)).collect();
        crate::infer_types(&node.op, &tys)
    }

    /// The number of results of node `id` (1 unless it is a multi-result
    /// node), without re-checking its bodies.
    pub fn result_count(&self, id: NodeId) -> usize {
        match &self[id].op {
            Op::Scan { body, .. } => body.outputs().len(),
            Op::While { carry, .. } => *carry,
            Op::Cond { then, .. } => then.outputs().len(),
            Op::Revolve { body, .. } => body.outputs().len(),
            _ => 1,
        }
    }

    /// The [`Op::Project`] node of each result of the multi-result node `id`,
    /// by result index (`None` where no node reads that result).
    pub fn projections(&self, id: NodeId) -> Vec<Option<NodeId>> {
        let mut out = vec![None; self.result_count(id)];
        for u in self.users(id) {
            if let Op::Project { index } = self[u].op {
                if let Some(slot) = out.get_mut(index) {
                    slot.get_or_insert(u);
                }
            }
        }
        out
    }

    /// Adds a node with a given type without inferring or checking it. The
    /// verifier catches a wrong type later; passes that know the type use
    /// this to avoid recomputing it.
    pub fn add_unchecked(&mut self, op: Op, ty: TensorType, operands: &[NodeId]) -> NodeId {
        let id = NodeId(self.g.add_node(Node { op, ty, name: None }));
        for (pos, &o) in operands.iter().enumerate() {
            self.g.add_edge(o.0, id.0, pos as u32);
        }
        id
    }

    /// Like [`Graph::add`], but first applies implicit numpy broadcasting to
    /// the operands of arithmetic, comparison and `select` ops, inserting
    /// explicit `broadcast` nodes where an operand's shape differs from the
    /// broadcast shape.
    ///
    /// ```
    /// use adjoint_ir::{Graph, Op, BinaryOp, TensorType};
    /// let mut g = Graph::new("f");
    /// let a = g.add_param("a", TensorType::f64([2, 3])).unwrap();
    /// let b = g.add_param("b", TensorType::f64([3])).unwrap();
    /// let s = g.add_broadcasting(Op::Binary(BinaryOp::Add), &[a, b]).unwrap();
    /// assert_eq!(g.ty(s), &TensorType::f64([2, 3]));
    /// assert_eq!(g[g.operands(s)[1]].op.name(), "broadcast");
    /// ```
    pub fn add_broadcasting(&mut self, op: Op, operands: &[NodeId]) -> Result<NodeId> {
        if !op.broadcasts_implicitly() || operands.iter().any(|&o| !self.contains(o)) {
            return self.add(op, operands);
        }
        let mut shape = Shape::scalar();
        for &o in operands {
            shape = Shape::broadcast(&shape, &self.ty(o).shape).ok_or_else(|| {
                let tys = operands
                    .iter()
                    .map(|&o| self.ty(o).to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                Error::type_error(format!(
                    "{}: operand shapes do not broadcast (operands: {tys})",
                    op.name()
                ))
            })?;
        }
        let mut ops = Vec::with_capacity(operands.len());
        for &o in operands {
            if self.ty(o).shape == shape {
                ops.push(o);
            } else {
                ops.push(self.add(
                    Op::Broadcast {
                        shape: shape.clone(),
                    },
                    &[o],
                )?);
            }
        }
        self.add(op, &ops)
    }

    /// Adds a constant node.
    pub fn constant(&mut self, t: crate::Tensor) -> NodeId {
        let ty = t.ty();
        self.add_unchecked(Op::Const(t), ty, &[])
    }

    /// Gives node `id` the text name `name`. Returns an error if another
    /// live node already has that name.
    pub fn set_name_of(&mut self, id: NodeId, name: impl Into<String>) -> Result<()> {
        let name = name.into();
        if let Some(other) = self.value_by_name(&name) {
            if other != id {
                return Err(Error::type_error(format!(
                    "the name %{name} is already taken in @{}",
                    self.name
                )));
            }
        }
        self[id].name = Some(name);
        Ok(())
    }

    /// The fusion region annotation of node `id` (the text attribute
    /// `region=N`, set by the `fuse` pass), if any. It is an annotation
    /// kept beside the nodes, not part of a node: no pass or engine reads
    /// it to compute values.
    pub fn region(&self, id: NodeId) -> Option<u32> {
        self.annotations.get(&id).and_then(|a| a.region)
    }

    /// Sets (or with `None` clears) the region annotation of node `id`
    /// (a node that does not exist gets none).
    pub fn set_region(&mut self, id: NodeId, region: Option<u32>) {
        self.annotate(id, |a| a.region = region);
    }

    /// The source location of node `id`, if the graph came from IR text:
    /// the parser puts on each statement's node (for a `scan`, `while` or
    /// `cond`: on the loop node and on each of its projections) the
    /// line:column of the statement's first result name, and on each
    /// parameter that of its name. Errors about one node use it (see
    /// [`Error::at`]). Like [`Graph::region`] it is an annotation kept
    /// beside the nodes: cloning the graph keeps it, removing the node
    /// drops it, and printing ignores it.
    pub fn loc(&self, id: NodeId) -> Option<Loc> {
        self.annotations.get(&id).and_then(|a| a.loc)
    }

    /// Sets (or with `None` clears) the source location of node `id` (a
    /// node that does not exist gets none).
    pub fn set_loc(&mut self, id: NodeId, loc: Option<Loc>) {
        self.annotate(id, |a| a.loc = loc);
    }

    /// Edits the annotations of the live node `id` (a node that does not
    /// exist gets none), keeping no entry for a node without any.
    fn annotate(&mut self, id: NodeId, edit: impl FnOnce(&mut Annotations)) {
        if !self.contains(id) {
            return;
        }
        match self.annotations.get_mut(&id) {
            Some(a) => {
                edit(a);
                if *a == Annotations::default() {
                    self.annotations.remove(&id);
                }
            }
            None => {
                let mut a = Annotations::default();
                edit(&mut a);
                if a != Annotations::default() {
                    self.annotations.insert(id, a);
                }
            }
        }
    }

    /// Drops every annotation of node `id` (it is being removed).
    fn forget_annotations(&mut self, id: NodeId) {
        self.annotations.remove(&id);
    }

    /// The operands of `id`, in position order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut es: Vec<(u32, NodeId)> = self
            .g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source())))
            .collect();
        es.sort_unstable_by_key(|&(p, _)| p);
        es.into_iter().map(|(_, n)| n).collect()
    }

    /// The operand edges of `id` as (position, operand) pairs, unsorted and
    /// unchecked; the verifier uses this to find malformed positions.
    pub fn operand_edges(&self, id: NodeId) -> Vec<(u32, NodeId)> {
        self.g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (*e.weight(), NodeId(e.source())))
            .collect()
    }

    /// The users of `id`: each node that takes it as an operand, once per
    /// use, in no particular order.
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        self.g
            .edges_directed(id.0, Direction::Outgoing)
            .map(|e| NodeId(e.target()))
            .collect()
    }

    /// The number of uses of `id` as an operand, plus its appearances among
    /// the outputs.
    pub fn use_count(&self, id: NodeId) -> usize {
        self.g.edges_directed(id.0, Direction::Outgoing).count()
            + self.outputs.iter().filter(|&&o| o == id).count()
    }

    /// Replaces operand `pos` of `user` with `new`.
    pub fn set_operand(&mut self, user: NodeId, pos: usize, new: NodeId) {
        let edge = self
            .g
            .edges_directed(user.0, Direction::Incoming)
            .find(|e| *e.weight() as usize == pos)
            .map(|e| e.id());
        if let Some(e) = edge {
            self.g.remove_edge(e);
        }
        self.g.add_edge(new.0, user.0, pos as u32);
    }

    /// Redirects every use of `old` (as an operand or an output) to `new`.
    pub fn replace_all_uses(&mut self, old: NodeId, new: NodeId) {
        if old == new {
            return;
        }
        let uses: Vec<(NodeId, u32, petgraph::stable_graph::EdgeIndex<u32>)> = self
            .g
            .edges_directed(old.0, Direction::Outgoing)
            .map(|e| (NodeId(e.target()), *e.weight(), e.id()))
            .collect();
        for (user, pos, e) in uses {
            self.g.remove_edge(e);
            self.g.add_edge(new.0, user.0, pos);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    /// Removes node `id` and its edges. Parameters cannot be removed.
    ///
    /// Removing an edge walks the edge lists of its two ends, so removing
    /// many users of one widely used value one at a time costs time
    /// quadratic in its use count; [`Graph::remove_nodes`] removes a batch
    /// in linear time.
    pub fn remove_node(&mut self, id: NodeId) -> Result<Node> {
        if self.params.contains(&id) {
            return Err(Error::pass(format!(
                "cannot remove parameter {} of @{}",
                self.display_name(id),
                self.name
            )));
        }
        let node = self
            .g
            .remove_node(id.0)
            .ok_or_else(|| Error::pass(format!("node {id} does not exist")))?;
        self.forget_annotations(id);
        Ok(node)
    }

    /// Removes the nodes `ids` and their edges at once, in time linear in
    /// the size of the graph (one [`Graph::remove_node`] per node can cost
    /// time quadratic in the use count of a shared operand). Returns the
    /// removed nodes in the order of `ids`. Parameters cannot be removed;
    /// on an error (a parameter, a missing node, or a node listed twice)
    /// nothing is removed.
    ///
    /// Every other node keeps its id, its operands and the order of its
    /// users, and freed ids are reused in the same order as after removing
    /// the nodes one by one in the order of `ids`.
    pub fn remove_nodes(&mut self, ids: &[NodeId]) -> Result<Vec<Node>> {
        let mut dead: HashSet<NodeIndex<u32>> = HashSet::with_capacity(ids.len());
        let params: HashSet<NodeId> = self.params.iter().copied().collect();
        for &id in ids {
            if params.contains(&id) {
                return Err(Error::pass(format!(
                    "cannot remove parameter {} of @{}",
                    self.display_name(id),
                    self.name
                )));
            }
            if !self.contains(id) || !dead.insert(id.0) {
                return Err(Error::pass(format!(
                    "node {id} does not exist or is listed twice for removal"
                )));
            }
        }
        // Few edges to unlink: remove one by one.
        let touched: usize = ids
            .iter()
            .map(|id| {
                self.g
                    .edges_directed(id.0, Direction::Incoming)
                    .count()
                    .saturating_add(self.g.edges_directed(id.0, Direction::Outgoing).count())
            })
            .sum();
        if touched <= 8 {
            return ids.iter().map(|&id| self.remove_node(id)).collect();
        }
        // Otherwise rebuild the edge lists without the removed nodes'
        // edges. Each node's outgoing list (its users) is re-added tail
        // first, so that, since edges are prepended, it keeps its order.
        let mut keep: Vec<(NodeIndex<u32>, NodeIndex<u32>, u32)> =
            Vec::with_capacity(self.g.edge_count());
        let mut outs: Vec<(NodeIndex<u32>, u32)> = Vec::new();
        for i in self.g.node_indices() {
            if dead.contains(&i) {
                continue;
            }
            outs.clear();
            outs.extend(
                self.g
                    .edges_directed(i, Direction::Outgoing)
                    .filter(|e| !dead.contains(&e.target()))
                    .map(|e| (e.target(), *e.weight())),
            );
            keep.extend(outs.iter().rev().map(|&(t, w)| (i, t, w)));
        }
        self.g.clear_edges();
        let mut removed = Vec::with_capacity(ids.len());
        for &id in ids {
            removed.push(
                self.g
                    .remove_node(id.0)
                    .ok_or_else(|| Error::pass(format!("node {id} does not exist")))?,
            );
            self.forget_annotations(id);
        }
        for (s, t, w) in keep {
            self.g.add_edge(s, t, w);
        }
        Ok(removed)
    }

    /// The name the printer uses for `id`: `%name` if named, `%N` otherwise.
    pub fn display_name(&self, id: NodeId) -> String {
        match self.get(id).and_then(|n| n.name.as_deref()) {
            Some(n) => format!("%{n}"),
            None => id.to_string(),
        }
    }

    /// Live nodes in a topological order (operands before users), breaking
    /// ties by smallest index so the order follows insertion where it can.
    /// Errors if the graph has a cycle.
    pub fn topo_order(&self) -> Result<Vec<NodeId>> {
        // In-degrees by raw index (a vector, not a map: this runs after
        // every pass on every node).
        let bound = self
            .g
            .node_indices()
            .next_back()
            .map_or(0, |i| i.index() + 1);
        let mut indeg: Vec<usize> = vec![0; bound];
        for i in self.g.node_indices() {
            indeg[i.index()] = self.g.edges_directed(i, Direction::Incoming).count();
        }
        let mut heap: BinaryHeap<std::cmp::Reverse<NodeIndex<u32>>> = self
            .g
            .node_indices()
            .filter(|i| indeg[i.index()] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.g.node_count());
        while let Some(std::cmp::Reverse(i)) = heap.pop() {
            order.push(NodeId(i));
            for e in self.g.edges_directed(i, Direction::Outgoing) {
                let d = &mut indeg[e.target().index()];
                *d -= 1;
                if *d == 0 {
                    heap.push(std::cmp::Reverse(e.target()));
                }
            }
        }
        if order.len() != self.g.node_count() {
            let on_cycle = self
                .g
                .node_indices()
                .find(|i| indeg[i.index()] > 0)
                .map(|i| self.display_name(NodeId(i)))
                .unwrap_or_default();
            return Err(Error::verify(format!(
                "@{}: the graph has a cycle through {on_cycle}",
                self.name
            )));
        }
        Ok(order)
    }

    /// The nodes that `roots` depend on (including the roots), as a set.
    pub fn ancestors(&self, roots: &[NodeId]) -> HashSet<NodeId> {
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(
                    self.g
                        .edges_directed(n.0, Direction::Incoming)
                        .map(|e| NodeId(e.source())),
                );
            }
        }
        seen
    }

    /// The nodes that depend on `roots` (including the roots), as a set.
    pub fn descendants(&self, roots: &[NodeId]) -> HashSet<NodeId> {
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(
                    self.g
                        .edges_directed(n.0, Direction::Outgoing)
                        .map(|e| NodeId(e.target())),
                );
            }
        }
        seen
    }

    /// The types of the outputs, in order.
    pub fn output_types(&self) -> Vec<TensorType> {
        self.outputs.iter().map(|&o| self.ty(o).clone()).collect()
    }

    /// The types of the parameters, in order.
    pub fn param_types(&self) -> Vec<TensorType> {
        self.params.iter().map(|&p| self.ty(p).clone()).collect()
    }

    /// A parameter name not yet taken: `base`, else `base2`, `base3`, …
    pub fn fresh_name(&self, base: &str) -> String {
        if self.value_by_name(base).is_none() {
            return base.to_string();
        }
        (2..)
            .map(|k| format!("{base}{k}"))
            .find(|n| self.value_by_name(n).is_none())
            .expect("some suffix is free")
    }
}
