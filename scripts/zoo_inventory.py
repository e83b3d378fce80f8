"""What torchvision's CNNs are made of, and which archlang op covers each piece.

Builds every CNN classification builder of torchvision (all of
`list_models(module=torchvision.models)` but vit_*, swin_*, maxvit*) and the
segmentation builders at their defaults (weights=None; the segmentation
builders with weights_backbone=None, the default downloads a backbone) on the
meta device, lists the leaf module classes, and traces each model in eval and
in training mode with torch.fx (leaves: modules without children) to list the
functions and tensor methods its forward calls outside them. Each piece is
printed with the number of builders using it and the archlang op or language
feature that covers it ("MISSING" where none is listed below).

    .venv/bin/python scripts/zoo_inventory.py
"""
from __future__ import annotations

import collections
import warnings

import torch
import torch.fx as fx
from torchvision import models
from torchvision.models import regnet

# Leaf module classes and forward-time calls -> what archlang writes for them.
COVERED = {
    "Conv2d": "conv", "BatchNorm2d": "bn", "Linear": "linear; convnext's, after a Permute: channel_linear",
    "Dropout": "dropout", "Flatten": "flatten",
    "ReLU": "relu", "ReLU6": "relu6", "SiLU": "silu", "Sigmoid": "sigmoid", "GELU": "gelu",
    "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid",
    "MaxPool2d": "maxpool", "AvgPool2d": "avgpool", "AdaptiveAvgPool2d": "adaptive_avgpool / gap",
    "LayerNorm": "layernorm (convnext: on [N, H, W, C] after Permute, i.e. over the channels)",
    "LayerNorm2d": "layernorm", "Permute": "none needed: channel_linear and layernorm work over the channels",
    "StochasticDepth": "stochastic_depth", "Sequential": "identity (shufflenet's empty branch1)",
    "add": "add / residual", "cat": "concat / cat", "mul": "PART 2: a `mul` merge with broadcasting",
    "chunk": "PART 2: chunk into named tensors", "flatten": "flatten", "mean": "gap flatten",
    "relu": "relu", "adaptive_avg_pool2d": "adaptive_avgpool / gap", "max_pool2d": "maxpool",
    "avg_pool2d": "avgpool", "interpolate": "PART 2: resize to the size of another tensor",
    "view": "channel_shuffle", "transpose": "channel_shuffle", "contiguous": "channel_shuffle",
    "size": "channel_shuffle", "floordiv": "channel_shuffle",
    "getattr": "PART 2: resize (input.shape[-2:])", "getitem": "PART 2: chunk's parts; resize's size",
    "GoogLeNetOutputs": "PART 2: train-only outputs", "InceptionOutputs": "PART 2: train-only outputs",
    "layer_scale (a parameter)": "parameter (a learnable tensor the block declares)",
}


def builders() -> list[tuple[str, dict]]:
    cnns = [n for n in models.list_models(module=models) if not n.startswith(("vit_", "swin_", "maxvit"))]
    segmentation = models.list_models(module=models.segmentation)
    return ([(n, {"aux_logits": True, "init_weights": False} if n in ("googlenet", "inception_v3") else {})
             for n in cnns] + [(n, {"weights_backbone": None}) for n in segmentation])


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, module, qualified_name) -> bool:
        return not list(module.children())


def _regnet_params_on_cpu() -> None:
    """RegNet computes its widths with torch at construction, which the meta device cannot."""
    original = regnet.BlockParams.from_init_params.__func__

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return original(cls, *args, **kwargs)
    regnet.BlockParams.from_init_params = classmethod(on_cpu)


def main() -> None:
    warnings.simplefilter("ignore")
    _regnet_params_on_cpu()
    used: dict[str, set[str]] = collections.defaultdict(set)
    for name, kwargs in builders():
        with torch.device("meta"):
            model = models.get_model(name, weights=None, **kwargs)
        for module in model.modules():
            if not list(module.children()):
                used[type(module).__name__].add(name)
        for training in (False, True):
            model.train(training)
            for node in _LeafTracer().trace(model).nodes:
                if node.op in ("call_function", "call_method"):
                    used[node.target if isinstance(node.target, str) else node.target.__name__].add(name)
                elif node.op == "get_attr":
                    used[f"{node.target.rsplit('.', 1)[-1]} (a parameter)"].add(name)
    total = len(builders())
    print(f"{total} builders\n\n| piece | builders | archlang |\n|---|---|---|")
    for piece, names in sorted(used.items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"| `{piece}` | {len(names)} | {COVERED.get(piece, 'MISSING')} |")


if __name__ == "__main__":
    main()
