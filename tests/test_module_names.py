"""A label is its module's name: in the shapes JSON, the built module and the state_dict.

Issue 10, bug 6: labels `train` and `train_` in one body gave the attribute
`train_` to the layer labelled `train` (renamed to dodge nn.Module.train) and
`train_2` to the one labelled `train_`, so the shapes JSON and the state_dict
disagreed on which layer is `train_`. Now a label that cannot be a module name
as written is an error at check time, and every other label is the name.
"""
from __future__ import annotations

import itertools
import json

import pytest

import archlang
from archlang.naming import CLASS_ATTRIBUTES, MODULE_ATTRIBUTES, module_name_problem

torch = pytest.importorskip("torch")

from archlang.backends import torch_common  # noqa: E402


def spec(labels: list[str]) -> str:
    layers = "\n".join(f"    {label}: conv(4, k=1)" for label in labels)
    return f"network N {{\n    input [4, 4, 4]\n    conv(4, k=1)\n{layers}\n    relu\n}}\n"


def test_train_and_train_underscore() -> None:
    diags = archlang.check(spec(["train", "train_"]))
    assert [(d.code, d.span.line, d.span.text) for d in diags] == [("E207", 4, "train")]
    assert "nn.Module already has `train`" in diags[0].message


def test_the_static_list_is_nn_modules_own() -> None:
    """check must not import torch, so the front end keeps nn.Module's attributes written out."""
    public = {name for name in dir(torch.nn.Module()) if not name.startswith("_")}
    assert MODULE_ATTRIBUTES == public


@pytest.mark.parametrize("name", ["train", "forward", "parameters", "training", "class", "None", "lambda",
                                  "_x", "__init__", "_", *CLASS_ATTRIBUTES])
def test_a_label_no_module_can_have_is_located(name: str) -> None:
    (d,) = [d for d in archlang.check(spec([name])) if d.is_error]
    assert (d.code, d.span.text) == ("E207", name) and module_name_problem(name) is not None


@pytest.mark.parametrize("name", ["train_", "self", "x", "nn", "torch", "super", "Module", "conv1"])
def test_what_torch_allows_is_allowed(name: str) -> None:
    assert [d for d in archlang.check(spec([name])) if d.is_error] == []


def test_automatic_names_never_take_a_bad_name() -> None:
    text = ("block _B {\n    relu\n}\nblock __C {\n    relu\n}\nblock _ {\n    relu\n}\n"
            "network N {\n    input [4, 4, 4]\n    _B() __C() _()\n}\n")
    graph = archlang.load(text).network()
    names = [s.local_name for s in graph.root.children]
    assert names == ["b1", "c1", "block1"] and all(module_name_problem(n) is None for n in names)


# -- the class of test that would have caught it: for any label set, module names are the labels -----
POOL = ("train", "train_", "x", "conv1", "conv2", "relu1", "forward", "_a", "a", "class")


@pytest.mark.parametrize("labels", [list(c) for c in itertools.combinations(POOL, 2)] +
                         [list(c) for c in itertools.combinations(POOL[1:5], 3)])
def test_module_names_are_the_labels(labels: list[str]) -> None:
    """Either check reports a label (and only a label), or each labelled layer's module is at
    the label's path, and the shapes JSON and the state_dict agree on every layer's name."""
    text = spec(labels)
    diags = [d for d in archlang.check(text) if d.is_error]
    if diags:
        assert all(d.code == "E207" and d.span.text in labels for d in diags)
        return
    graph = archlang.load(text).network()
    model = archlang.compile(text)
    for label in labels:
        assert isinstance(model.get_submodule(label), torch.nn.Conv2d)
    rows = json.loads(_shapes_json(graph))["layers"]
    keys = {k.rsplit(".", 1)[0] for k in model.state_dict()}
    assert {r["name"] for r in rows if r["params"]} == keys
    assert torch_common.module_paths(torch_common.plan(graph)) == {n.id: n.name for n in graph.layers()
                                                                   if n.op not in torch_common.MERGES}


def _shapes_json(graph) -> str:
    from archlang.backends import table
    return table.render(graph, "json")
