"""The exported ONNX graph, tidied and named so that it reads like the spec.

`clean(model)` folds constants and applies onnxscript's clean-up rewrites
(what tracing a dynamic batch leaves behind: shape arithmetic, no-ops), but
not its batch-norm fusion: the layers stay as the spec wrote them, and
folding is `--fold-bn`'s job. `name_nodes(model, graph)` names each node
after its layer, each tensor after the node that makes it and each constant
after the node that reads it, records the spec location of each layer
(`archlang.source` metadata), and drops the exporter's metadata (stack
traces with this machine's paths, generated module names).

Works on onnx_ir models, what `torch.onnx.export(..., dynamo=True)` makes.
"""
from __future__ import annotations

import ast

import onnx

from ..ir import Graph, Node
from .torch_common import MERGES, module_paths, plan

SOURCE_KEY = "archlang.source"                  # node metadata: the spec location of the layer
_SCOPES = "pkg.torch.onnx.name_scopes"          # exporter metadata: the module path of a node
_MERGE_OPS = {"add": "Add", "concat": "Concat"}

# The rewrites that remove what tracing leaves behind. onnxscript's default
# set also holds fuse_batchnorm_into_{conv,gemm}: left out on purpose.
_CLEANUP_RULES = (
    "materialize_reshape_shape_rule", "reshape_reshape_rule", "squeeze_reshape_1d_rule",
    "unsqueeze_unsqueeze_rule", "collapse_slice_rule", "collapse_slice2_rule", "cast_cast_rule",
    "no_op_cast_rule", "no_op_expand_rule", "no_op_transpose_rule", "transpose_transpose_rule",
    "add_0_rule", "sub_0_rule", "mul_by_1_rule", "div_by_1_rule", "dropout_inference_rule",
    "dropout_zero_rule",
    # conv(bias=false) is traced with an explicit zero bias; an all-zero bias is dropped
    "remove_optional_bias_from_conv_rule", "remove_optional_bias_from_gemm_rule",
)


def clean(ir_model) -> None:
    """Fold constants and remove tracing leftovers, in place; the layers stay as they are."""
    import onnx_ir.passes.common as passes
    import onnxscript.optimizer
    import onnxscript.rewriter
    from onnxscript.rewriter.rules import common as rules

    chosen = [getattr(rules, name) for name in _CLEANUP_RULES]
    for _ in range(2):  # folding exposes rewrites and rewrites expose folding
        onnxscript.optimizer.fold_constants(ir_model)
        onnxscript.rewriter.rewrite(ir_model, pattern_rewrite_rules=chosen)
    for step in (passes.RemoveUnusedNodesPass(),
                 passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
                 passes.RemoveUnusedOpsetsPass()):
        step(ir_model)


def name_nodes(ir_model, graph: Graph) -> None:
    """Name nodes after layers (`stage2.residual1.conv1`), tensors after nodes; drop exporter metadata.

    The exporter records, per node, the module path it was traced in. A layer
    is a module, so its path names it; merges are expressions in their block's
    forward, matched to the block's merges in order. A node that maps to no
    layer (the reshape of a flatten, say) is named by its module and op.
    """
    by_path = {path: graph.nodes[i] for i, path in module_paths(plan(graph)).items()}
    placed = [(_module_path(n), n) for n in ir_model.graph]
    merges = _merge_names(graph, placed, by_path)
    taken: dict[str, int] = {}
    for path, node in placed:
        layer = by_path.get(path) or merges.get(id(node))
        base = layer.name if layer is not None else (f"{path}/{node.op_type}" if path else node.op_type)
        node.name = _unique(base, taken)
        node.metadata_props.clear()
        if layer is not None and layer.span is not None:
            node.metadata_props[SOURCE_KEY] = layer.span.location()
    _name_values(ir_model)


def _name_values(ir_model) -> None:
    """Each tensor after the node that makes it, each exporter constant after the node that reads it.

    Graph inputs and outputs keep the spec's names; parameters keep their
    state_dict names. No name is given twice.
    """
    g = ir_model.graph
    fixed = {v.name for v in (*g.inputs, *g.outputs)}
    constants = {name for name in g.initializers if not _is_parameter(name)}
    used = set(g.initializers) | fixed
    for node in g:
        for value in node.outputs:
            wanted = node.name if len(node.outputs) == 1 else f"{node.name}:{value.name}"
            if value.name not in fixed and wanted not in used:
                value.name = wanted
                used.add(wanted)
        for index, value in enumerate(node.inputs):
            if value is not None and value.name in constants and len(value.uses()) == 1:
                wanted = f"{node.name}.{_input_name(node, index)}"
                if wanted not in used:
                    constants.discard(value.name)
                    value.name = wanted
                    used.add(wanted)
    for value in (*g.inputs, *g.outputs, *g.initializers.values()):
        value.metadata_props.clear()
    for node in g:
        for value in node.outputs:
            value.metadata_props.clear()


def _is_parameter(name: str) -> bool:
    """State_dict names are dotted paths; the exporter's own constants are `val_12` and the like."""
    return "." in name


def _input_name(node, index: int) -> str:
    """The ONNX schema's name for an input (`shape` for Reshape's second), else its position."""
    try:
        inputs = onnx.defs.get_schema(node.op_type, domain=node.domain or "").inputs
    except onnx.defs.SchemaError:
        return f"input{index}"
    return inputs[min(index, len(inputs) - 1)].name if inputs else f"input{index}"


def _module_path(node) -> str:
    """The innermost module path the exporter recorded for `node` ('' for the network's forward)."""
    raw = node.metadata_props.get(_SCOPES)
    if not raw:
        return ""
    try:
        scopes = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return ""
    return scopes[-2] if len(scopes) >= 2 else ""


def _merge_names(graph: Graph, placed, by_path: dict[str, Node]) -> dict[int, Node]:
    """ONNX Add/Concat nodes of each block's forward -> the IR merges of that block, in order.

    Matched only where the two sequences agree op for op; otherwise the
    nodes keep module-qualified names rather than a wrong merge's name.
    """
    scope_module = _scope_modules(graph)
    wanted: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if node.op in MERGES:
            wanted.setdefault(scope_module[id(node.scope)], []).append(node)
    found: dict[str, list] = {}
    for path, node in placed:
        if path not in by_path and node.op_type in _MERGE_OPS.values():
            found.setdefault(path, []).append(node)
    out: dict[int, Node] = {}
    for path, onnx_nodes in found.items():
        ir_nodes = wanted.get(path, [])
        if [_MERGE_OPS[n.op] for n in ir_nodes] == [n.op_type for n in onnx_nodes]:
            out.update({id(o): n for o, n in zip(onnx_nodes, ir_nodes)})
    return out


def _scope_modules(graph: Graph) -> dict[int, str]:
    """Block instance (`id()`) -> its module path in the built nn.Module."""
    out: dict[int, str] = {id(graph.root): ""}

    def walk(block_plan, prefix: str) -> None:
        for step in block_plan.members:
            if step.block is not None:
                out[id(step.block.scope)] = prefix + step.attr
                walk(step.block, prefix + step.attr + ".")

    walk(plan(graph), "")
    return out


def _unique(base: str, taken: dict[str, int]) -> str:
    count = taken.get(base, 0)
    taken[base] = count + 1
    return base if count == 0 else f"{base}_{count + 1}"
