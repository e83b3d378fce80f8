"""A built network prepared for inference: weights loaded, batch norm folded.

`load_weights(module, path)` takes what users have: a state_dict saved by
`torch.save`, an `archlang train` checkpoint (a dict with a "model"
state_dict), a state_dict saved from DistributedDataParallel ("module."
keys), or a .safetensors file; a file that does not fit the network names
the missing, unexpected and mis-shaped keys. `fold_batchnorm(module, graph)`
folds each `bn` into the conv or linear layer that alone feeds it, using the
graph to know which layer feeds which (the op table says which ops can
absorb a batch norm: `OpSpec.absorbs_bn`).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import ops
from ..ir import Graph
from ..source import shown_name
from .torch_common import module_paths, plan


class WeightsError(Exception):
    """A weights file that cannot be read or does not fit the network; the message says which."""


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a state_dict saved by torch.save, an `archlang train` checkpoint, or safetensors."""
    state = _read_state(Path(path))
    own = module.state_dict()
    if all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in own):
        state = {k[len("module."):]: v for k, v in state.items()}  # saved from DistributedDataParallel
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} (the network has {tuple(v.shape)})"
             for k, v in own.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        raise WeightsError(f"{shown_name(path)} does not fit this network: " + "; ".join(
            part for part in (_few("missing", missing), _few("unexpected", unexpected), _few("wrong shape", wrong))
            if part))
    module.load_state_dict(state)


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"--weights {shown_name(path)}: no such file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise WeightsError(f"--weights {shown_name(path)}: not a state_dict saved by torch.save "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]  # an `archlang train` checkpoint (last.pt)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"--weights {shown_name(path)}: expected a state_dict (names to tensors) "
                           f"or a checkpoint with a 'model' state_dict")
    return obj


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise WeightsError(f"--weights {shown_name(path)}: reading .safetensors needs the safetensors package "
                           f"(pip install safetensors)") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"--weights {shown_name(path)}: not a safetensors file ({exc})") from None


def _few(what: str, items: list[str], shown: int = 3) -> str:
    if not items:
        return ""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"{what} {', '.join(items[:shown])}{more}"


def fold_batchnorm(module: nn.Module, graph: Graph) -> list[str]:
    """Fold each `bn` into the layer that alone feeds it (conv, conv_transpose, linear,
    channel_linear: `OpSpec.absorbs_bn`); returns the folded names.

    For inference: y = gamma * (W x + b - mean) / sqrt(var + eps) + beta is
    W' x + b' with W' = W * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps)
    per output channel. The batch norm becomes nn.Identity. The module must
    be in eval mode (running statistics, not batch statistics).
    """
    paths = module_paths(plan(graph))
    folded = []
    for node in graph.nodes:
        if node.op != "bn" or len(node.inputs) != 1:
            continue
        producer = graph.nodes[node.inputs[0]]
        if not ops.OPS[producer.op].absorbs_bn or graph.users(producer.id) != [node.id]:
            continue
        layer = module.get_submodule(paths[producer.id])
        norm = module.get_submodule(paths[node.id])
        if not isinstance(norm, nn.modules.batchnorm._BatchNorm) or not norm.track_running_stats:
            continue
        _fold_into(layer, norm)
        _replace(module, paths[node.id], nn.Identity())
        folded.append(node.name)
    return folded


@torch.no_grad()
def _fold_into(layer: nn.Module, norm: nn.modules.batchnorm._BatchNorm) -> None:
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    weight = layer.weight
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):  # weight (in, out / groups, *k)
        per_output = scale.reshape(layer.groups, 1, -1, *([1] * (weight.dim() - 2)))
        layer.weight.copy_((weight.unflatten(0, (layer.groups, -1)) * per_output).flatten(0, 1))
    else:                                                     # weight (out, ...)
        layer.weight.copy_(weight * scale.reshape(-1, *([1] * (weight.dim() - 1))))
    bias = layer.bias.detach() * scale + shift if layer.bias is not None else shift
    layer.bias = nn.Parameter(bias.to(weight.dtype), requires_grad=weight.requires_grad)


def _replace(module: nn.Module, path: str, replacement: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    setattr(module.get_submodule(parent_path) if parent_path else module, attr, replacement)
