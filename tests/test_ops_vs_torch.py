"""Every shape rule of the op table against PyTorch's own ops.

For random arguments and small inputs, the rule's output shape equals the
shape torch produces, and the rule rejects (a bind error or a shape error)
exactly the inputs torch rejects (an error building the module or running
it). The module is built from the op table's own `torch` constructor, so
the constructor is checked along the way.
"""
from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis.control import currently_in_test_context  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archlang import ops  # noqa: E402
from archlang.backends.torch_layers import layer_class  # noqa: E402
from archlang.diagnostics import Collector  # noqa: E402
from archlang.shapes import Expr, evaluate_shape  # noqa: E402
from archlang.values import TensorRef  # noqa: E402

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

torch.set_num_threads(1)

# The ops whose rule a test of this file checks against torch (see `checks`): every op of
# the table must be here (test_every_op_has_its_rule_checked_against_torch).
CHECKED: set[str] = set()


def checks(*op_names: str):
    """Mark a test as the check of these ops' shape rules against torch."""
    def mark(test):
        CHECKED.update(op_names)
        return test
    return mark


def rule(op: str, shapes: list[tuple], positional=(), **keywords):
    """The rule's verdict: ("ok", shape) or ("error", code)."""
    col = Collector()
    args = ops.bind(op, [(v, None) for v in positional], [(k, v, None, None) for k, v in keywords.items()], None, col)
    if args is None:
        return ("error", col.items[0].code), None
    try:
        shape, _ = ops.infer(op, shapes, args)
    except ops.ShapeFailure as failure:
        return ("error", failure.code), args
    return ("ok", shape), args


def run_torch(op: str, shapes: list[tuple], args: dict | None, module_from=None):
    """Torch's verdict on the same layer: ("ok", shape) or ("error", message)."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero-sized kernels warn before they fail
            if module_from is not None:
                module = module_from()
            else:
                cls, kwargs = ops.OPS[op].torch(shapes, args)
                module = layer_class(cls)(**kwargs)
            module.eval()
            # A batch of one too: torch refuses some layers only there (a group norm of one value per group).
            for batch in (1, 2):
                y = module(*[torch.zeros((batch, *s)) for s in shapes])
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return ("error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return ("ok", tuple(y.shape[1:]))


def agree(ours, theirs, context):
    if currently_in_test_context():  # --hypothesis-show-statistics: how many cases were accepted, refused how
        event(ours[0] if ours[0] == "ok" else f"refused {ours[1]}")
    if ours[0] == "ok" or theirs[0] == "ok":
        assert ours == theirs, f"{context}: archlang {ours}, torch {theirs}"


# --------------------------------------------------------------------------- conv

def ints_or_list(n: int, lo: int, hi: int):
    return st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=n, max_size=n))


@st.composite
def conv_case(draw):
    n = draw(st.integers(1, 3))
    hi = 12 if n < 3 else 7
    sizes = tuple(draw(st.lists(st.integers(1, hi), min_size=n, max_size=n)))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    c_in = draw(st.integers(1, 3)) * (groups if draw(st.booleans()) else 1)
    out = draw(st.integers(1, 3)) * (groups if draw(st.booleans()) else 1)
    # A zero kernel or stride now and then: torch refuses them.
    kernel = st.sampled_from([0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 5, 5, 1, 2, 3, 3])
    stride = st.sampled_from([0, 1, 1, 1, 1, 2, 2, 3, 1, 1, 2, 1, 1, 2, 3, 1])
    kw = {"k": draw(st.one_of(kernel, st.lists(kernel, min_size=n, max_size=n))),
          "s": draw(st.one_of(stride, st.lists(stride, min_size=n, max_size=n))), "d": draw(ints_or_list(n, 1, 2)),
          "groups": groups, "bias": draw(st.booleans())}
    kw["p"] = draw(st.one_of(ints_or_list(n, 0, 3), st.sampled_from(["same", "valid"])))
    return (c_in, *sizes), out, kw


@checks("conv")
@settings(SETTINGS, max_examples=150)
@given(conv_case())
def test_conv_matches_torch(case):
    shape, out, kw = case
    ours, args = rule("conv", [shape], [out], **kw)
    if args is None:  # bind refused (k or s below 1): torch refuses too
        kw2 = dict(kw, bias=kw["bias"])
        theirs = run_torch("conv", [shape], None, module_from=lambda: _raw_conv(shape, out, kw2))
    else:
        theirs = run_torch("conv", [shape], args)
    agree(ours, theirs, f"conv({out}, {kw}) on {shape}")


def _raw_conv(shape, out, kw):
    n = len(shape) - 1
    cls = getattr(torch.nn, f"Conv{n}d")
    tup = lambda v: v if isinstance(v, (int, str)) else tuple(v)  # noqa: E731
    return cls(shape[0], out, tup(kw["k"]), stride=tup(kw["s"]), padding=tup(kw["p"]), dilation=tup(kw["d"]),
               groups=kw["groups"], bias=kw["bias"])


def test_conv_rejections_have_their_codes():
    assert rule("conv", [(3, 8, 8)], [4], k=0)[0] == ("error", "E310")
    assert rule("conv", [(3, 8, 8)], [4], k=3, s=0)[0] == ("error", "E310")
    assert rule("conv", [(3, 8, 8)], [4], k=3, s=2, p="same")[0] == ("error", "E310")
    assert rule("conv", [(3, 8, 8)], [4], k=[3, 3, 3])[0] == ("error", "E310")
    assert rule("conv", [(3, 8, 8)], [4], k=9)[0] == ("error", "E305")
    assert rule("conv", [(3, 8, 8)], [4], k=3, groups=2)[0] == ("error", "E308")
    assert rule("conv", [(16,)], [4], k=3)[0] == ("error", "E302")
    assert rule("conv", [(3, 8, 8)], [0], k=3)[0] == ("error", "E211")


# --------------------------------------------------------------------------- transposed conv

@st.composite
def conv_transpose_case(draw):
    n = draw(st.integers(1, 3))
    hi = 9 if n < 3 else 5
    sizes = tuple(draw(st.lists(st.integers(1, hi), min_size=n, max_size=n)))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    c_in = draw(st.integers(1, 3)) * (groups if draw(st.booleans()) else 1)
    out = draw(st.integers(1, 3)) * (groups if draw(st.booleans()) else 1)
    small = lambda lo, hi: st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=n, max_size=n))  # noqa: E731
    # Padding beyond the kernel makes sizes below 1, output_padding of 1-2 is refused where s and d are 1:
    # both sides of each rule show up.
    kw = {"k": draw(small(1, 4)), "s": draw(small(1, 3)), "p": draw(small(0, 3)), "d": draw(small(1, 2)),
          "output_padding": draw(small(0, 2)), "groups": groups, "bias": draw(st.booleans())}
    return (c_in, *sizes), out, kw


@checks("conv_transpose")
@settings(SETTINGS, max_examples=150)
@given(conv_transpose_case())
def test_conv_transpose_matches_torch(case):
    shape, out, kw = case
    ours, args = rule("conv_transpose", [shape], [out], **kw)
    assert args is not None  # every drawn argument binds; the rule or torch judges the geometry
    theirs = run_torch("conv_transpose", [shape], args)
    if theirs[0] == "ok" and 0 in theirs[1]:  # torch makes an empty tensor; the language wants sizes >= 1
        assert ours == ("error", "E305")
        return
    agree(ours, theirs, f"conv_transpose({out}, {kw}) on {shape}")


def test_conv_transpose_rejections_have_their_codes():
    assert rule("conv_transpose", [(4, 5, 5)], [4], k=3, output_padding=1)[0] == ("error", "E310")
    assert rule("conv_transpose", [(4, 5, 5)], [4], k=3, s=2, output_padding=[1, 2])[0] == ("error", "E310")
    assert rule("conv_transpose", [(4, 1, 1)], [4], k=1, p=1)[0] == ("error", "E305")
    assert rule("conv_transpose", [(3, 5, 5)], [4], k=3, groups=2)[0] == ("error", "E308")
    assert rule("conv_transpose", [(4, 5, 5)], [3], k=3, groups=2)[0] == ("error", "E308")
    assert rule("conv_transpose", [(16,)], [4], k=3)[0] == ("error", "E302")
    assert rule("conv_transpose", [(4, 5, 5)], [4], k=3, p="same")[0] == ("error", "E204")


def test_conv_transpose_symbolic_size_agrees_with_concrete():
    H = Expr.symbol("H")
    (status, shape), _ = rule("conv_transpose", [(4, H, 6)], [2], k=4, s=2, p=3, output_padding=1)
    assert status == "ok"
    for h in range(1, 12):
        concrete, _ = rule("conv_transpose", [(4, h, 6)], [2], k=4, s=2, p=3, output_padding=1)
        if concrete[0] == "ok":
            assert evaluate_shape(shape, {"H": h}) == concrete[1]
        else:
            assert h < 3  # (h - 1) * 2 - 6 + 3 + 1 + 1 >= 1 from h = 3 on


# --------------------------------------------------------------------------- pooling

@st.composite
def pool_case(draw):
    n = draw(st.integers(1, 3))
    hi = 12 if n < 3 else 7
    sizes = tuple(draw(st.lists(st.integers(1, hi), min_size=n, max_size=n)))
    kernel = st.sampled_from([0, 1, 2, 2, 3, 3, 4, 5])  # 0 now and then: torch refuses it
    kw = {"k": draw(st.one_of(kernel, st.lists(kernel, min_size=n, max_size=n))),
          "p": draw(ints_or_list(n, 0, 2)), "ceil": draw(st.booleans())}
    if draw(st.booleans()):
        kw["s"] = draw(st.one_of(st.sampled_from([0, 1, 2, 2, 3, 4]), st.lists(st.integers(1, 4), min_size=n, max_size=n)))
    return (draw(st.integers(1, 3)), *sizes), draw(st.sampled_from(["maxpool", "avgpool"])), kw


@checks("maxpool", "avgpool")
@settings(SETTINGS, max_examples=150)
@given(pool_case())
def test_pool_matches_torch(case):
    shape, op, kw = case
    ours, args = rule(op, [shape], **kw)
    if args is None:
        theirs = run_torch(op, [shape], None, module_from=lambda: _raw_pool(op, shape, kw))
    else:
        theirs = run_torch(op, [shape], args)
    agree(ours, theirs, f"{op}({kw}) on {shape}")


def _raw_pool(op, shape, kw):
    n = len(shape) - 1
    cls = getattr(torch.nn, f"{'Max' if op == 'maxpool' else 'Avg'}Pool{n}d")
    tup = lambda v: v if isinstance(v, int) or v is None else tuple(v)  # noqa: E731
    return cls(tup(kw["k"]), stride=tup(kw.get("s")), padding=tup(kw["p"]), ceil_mode=kw["ceil"])


def test_pool_rejections_have_their_codes():
    assert rule("maxpool", [(3, 8, 8)], [2], p=2)[0] == ("error", "E310")
    assert rule("maxpool", [(3, 8, 8)], [0])[0] == ("error", "E310")
    assert rule("avgpool", [(3, 1, 1)], [2])[0] == ("error", "E305")
    assert rule("maxpool", [(16,)], [2])[0] == ("error", "E302")


@checks("adaptive_avgpool", "gap")
@SETTINGS
@given(st.integers(1, 3), st.lists(st.integers(1, 9), min_size=1, max_size=3), st.data())
def test_adaptive_and_gap_match_torch(c, sizes, data):
    shape = (c, *sizes)
    n = len(sizes)
    out = data.draw(st.one_of(st.integers(1, 6), st.lists(st.integers(1, 6), min_size=n, max_size=n)))
    ours, args = rule("adaptive_avgpool", [shape], [out])
    agree(ours, run_torch("adaptive_avgpool", [shape], args), f"adaptive_avgpool({out}) on {shape}")
    ours, args = rule("gap", [shape])
    agree(ours, run_torch("gap", [shape], args), f"gap on {shape}")


# --------------------------------------------------------------------------- resizing, flattening, linear

@checks("upsample")
@SETTINGS
@given(st.integers(1, 3), st.lists(st.integers(1, 9), min_size=1, max_size=3),
       st.one_of(st.integers(1, 3), st.sampled_from([0.5, 0.25, 1.5, 0.3, 2.5, 0.1, 1.0, 0.7])),
       st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]))
def test_upsample_matches_torch(c, sizes, scale, mode):
    shape = (c, *sizes)
    ours, args = rule("upsample", [shape], [scale], mode=mode)
    theirs = run_torch("upsample", [shape], args) if args is not None else ("error", "bind")
    agree(ours, theirs, f"upsample({scale}, {mode}) on {shape}")


@pytest.mark.parametrize("scale", [2, 0.5, 0.25, 1.5, 3])
def test_upsample_symbolic_agrees_with_concrete(scale):
    H = Expr.symbol("H")
    (status, shape), _ = rule("upsample", [(4, H, 8)], [scale])
    assert status == "ok"
    for h in range(1, 40):
        concrete, _ = rule("upsample", [(4, h, 8)], [scale])
        if concrete[0] == "ok":
            assert evaluate_shape(shape, {"H": h}) == concrete[1]


def test_upsample_inexact_scale_on_symbolic_size_is_refused():
    H = Expr.symbol("H")
    assert rule("upsample", [(4, H, 8)], [0.3])[0] == ("error", "E211")


@checks("flatten", "linear")
@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(1, 5), st.booleans())
def test_flatten_and_linear_match_torch(shape, out, bias):
    shape = tuple(shape)
    ours, args = rule("flatten", [shape])
    agree(ours, run_torch("flatten", [shape], args), f"flatten on {shape}")
    ours, args = rule("linear", [shape], [out], bias=bias)
    if len(shape) == 1:
        agree(ours, run_torch("linear", [shape], args), f"linear({out}) on {shape}")
    else:  # torch would apply it to the last dim; the language asks for a flat input
        assert ours == ("error", "E306")


def test_linear_on_a_symbolic_width_names_the_symbols():
    H = Expr.symbol("H")
    col = Collector()
    args = ops.bind("linear", [(10, None)], [], None, col)
    with pytest.raises(ops.ShapeFailure) as err:
        ops.infer("linear", [(16 * H,)], args)
    assert err.value.code == "E309" and "H" in err.value.message


# --------------------------------------------------------------------------- shape-preserving layers

SAME_SHAPE = [("bn", (), {}), ("bn", (), {"affine": False, "eps": 1e-3, "momentum": 0.2}),
              ("relu", (), {}), ("relu6", (), {}), ("sigmoid", (), {}), ("tanh", (), {}), ("gelu", (), {}),
              ("gelu", (), {"approximate": "tanh"}), ("hardswish", (), {}), ("hardsigmoid", (), {}),
              ("silu", (), {}), ("elu", (), {}), ("leaky_relu", (0.2,), {}), ("softmax", (), {}),
              ("dropout", (0.3,), {}), ("lrn", (3,), {}), ("lrn", (2,), {"alpha": 1e-3, "beta": 0.5, "k": 2.0}),
              ("layernorm", (), {}), ("layernorm", (), {"eps": 1e-6, "affine": False}),
              ("stochastic_depth", (0.2,), {}), ("stochastic_depth", (0.5,), {"mode": "batch"}),
              ("scale_shift", (2.0, -1.0), {})]


@checks(*{op for op, _, _ in SAME_SHAPE})
@pytest.mark.parametrize("op,pos,kw", SAME_SHAPE)
@pytest.mark.parametrize("shape", [(5,), (3, 7), (3, 5, 6), (2, 3, 4, 5)])
def test_shape_preserving_layers_match_torch(op, pos, kw, shape):
    ours, args = rule(op, [shape], pos, **kw)
    agree(ours, run_torch(op, [shape], args) if args is not None else ("error", "bind"), f"{op} on {shape}")
    if ours[0] == "error":  # only lrn on [F] is refused, as torch refuses it
        assert op == "lrn" and len(shape) == 1


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_probability_outside_0_1_is_refused_like_torch(p):
    ours, args = rule("dropout", [(4,)], [p])
    assert ours == ("error", "E211")
    with pytest.raises(ValueError):
        torch.nn.Dropout(p)


# --------------------------------------------------------------------------- merges

@checks("concat")
@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4))
def test_concat_matches_torch_cat(shapes):
    ours, _ = rule("concat", list(shapes))
    theirs = run_torch("concat", list(shapes), None, module_from=lambda: _Fn(lambda *xs: torch.cat(xs, dim=1)))
    agree(ours, theirs, f"concat of {shapes}")
    if ours[0] == "error":
        assert ours[1] == "E303"


@checks("add")
@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=3))
def test_add_requires_equal_shapes(shapes):
    ours, _ = rule("add", list(shapes))
    if len(set(shapes)) == 1:
        assert ours == ("ok", shapes[0])
        theirs = run_torch("add", list(shapes), None, module_from=lambda: _Fn(lambda *xs: sum(xs)))
        assert theirs == ours
    else:  # stricter than broadcasting, on purpose: the language adds equal shapes
        channels_only = len({s[1:] for s in shapes}) == 1
        assert ours == ("error", "E301" if channels_only else "E304")


@checks("mul")
@SETTINGS
@given(st.integers(1, 3).flatmap(lambda rank: st.lists(
    st.lists(st.sampled_from([1, 1, 2, 3]), min_size=rank, max_size=rank).map(tuple), min_size=1, max_size=3)),
    st.booleans())
def test_mul_broadcasts_ones_as_torch_does(shapes, other_rank):
    """Sizes from {1, 2, 3}, so equal sizes, ones and clashes all occur; the batch is never broadcast."""
    if other_rank and len(shapes) > 1:
        shapes = [shapes[0] + (2,), *shapes[1:]]
    ours, _ = rule("mul", list(shapes))
    if len({len(s) for s in shapes}) > 1:  # torch would align the shorter one on the right, under the batch
        assert ours == ("error", "E304")
        return
    theirs = run_torch("mul", list(shapes), None, module_from=lambda: _Fn(lambda *xs: math.prod(xs)))
    agree(ours, theirs, f"mul of {shapes}")
    if ours[0] == "error":
        assert ours[1] == "E304"


@checks("chunk")
@SETTINGS
@given(st.tuples(st.integers(1, 6), st.integers(1, 3)), st.integers(1, 4), st.integers(0, 4))
def test_chunk_takes_a_part_of_torch_chunk(shape, chunks, index):
    ours, _ = rule("chunk", [shape], (chunks, index))
    theirs = run_torch("chunk", [shape], None, module_from=lambda: _Fn(lambda x: x.chunk(chunks, dim=1)[index]))
    if index >= chunks:
        assert ours == ("error", "E211")
    elif shape[0] % chunks == 0:
        agree(ours, theirs, f"chunk({chunks}, {index}) of {shape}")
    else:  # torch makes unequal parts (or fewer); archlang refuses
        assert ours == ("error", "E308")


@checks("crop")
@SETTINGS
@given(st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
       st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)))
def test_crop_is_torchvisions_center_crop_where_the_centre_is_exact(shape, like):
    from torchvision.transforms.functional import center_crop

    ours, _ = rule("crop", [shape, like], (TensorRef("like", like),))
    diffs = [h - w for h, w in zip(shape[1:], like[1:])]
    if any(d < 0 or d % 2 for d in diffs):   # torchvision pads a larger size and rounds an odd margin
        assert ours == ("error", "E311")
        return
    theirs = run_torch("crop", [shape], None, module_from=lambda: _Fn(lambda x: center_crop(x, list(like[1:]))))
    agree(ours, theirs, f"crop of {shape} to {like}")


@checks("resize")
@SETTINGS
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(
    st.tuples(st.integers(1, 2), *[st.integers(1, 5)] * n), st.tuples(st.integers(1, 2), *[st.integers(1, 5)] * n))),
    st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]), st.booleans())
def test_resize_is_interpolate_to_the_other_size(shapes, mode, corners):
    shape, like = shapes
    ours, _ = rule("resize", [shape, like], (TensorRef("like", like), mode, corners))
    extra = {} if mode == "nearest" and not corners else {"align_corners": corners}
    theirs = run_torch("resize", [shape], None, module_from=lambda: _Fn(
        lambda x: torch.nn.functional.interpolate(x, size=like[1:], mode=mode, **extra)))
    agree(ours, theirs, f"resize {shape} to {like} ({mode}, align_corners={corners})")


@checks("parameter")
@SETTINGS
@given(st.lists(st.integers(0, 3), min_size=1, max_size=3), st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3))
def test_a_parameter_is_torchs_and_mul_broadcasts_it_over_the_batch(shape, other):
    """Its shape is nn.Parameter(torch.full(shape, fill))'s; beside a tensor of one rank, mul's rule is
    torch's broadcasting of the batchless parameter (sizes from {1, 2, 3}: equal, ones and clashes)."""
    ours, args = rule("parameter", [], (shape,), fill=0.5)
    if min(shape) < 1:
        assert ours == ("error", "E211")
        return
    weight = torch.nn.Parameter(torch.full(tuple(shape), args["fill"]))
    assert ours == ("ok", tuple(weight.shape))
    if len(other) == len(shape):
        ours, _ = rule("mul", [tuple(shape), tuple(other)])
        theirs = run_torch("mul", [tuple(other)], None, module_from=lambda: _Fn(lambda x: weight * x))
        agree(ours, theirs, f"parameter {shape} * {other}")


class _Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


# --------------------------------------------------------------------------- channel layers

@checks("groupnorm")
@SETTINGS
@given(st.integers(1, 12), st.lists(st.integers(1, 4), max_size=3), st.integers(1, 6), st.booleans())
def test_groupnorm_matches_torch(c, sizes, groups, affine):
    shape = (c, *sizes)
    ours, args = rule("groupnorm", [shape], [groups], affine=affine)
    agree(ours, run_torch("groupnorm", [shape], args), f"groupnorm({groups}) on {shape}")
    assert ours[0] == "ok" if c % groups == 0 and c // groups * math.prod(sizes) > 1 else ours == ("error", "E308")


@checks("channel_linear")
@SETTINGS
@given(st.integers(1, 5), st.lists(st.integers(1, 4), max_size=3), st.integers(1, 5), st.booleans())
def test_channel_linear_matches_torch(c, sizes, out, bias):
    shape = (c, *sizes)
    ours, args = rule("channel_linear", [shape], [out], bias=bias)
    agree(ours, run_torch("channel_linear", [shape], args), f"channel_linear({out}) on {shape}")
    assert ours == ("ok", (out, *sizes))


@checks("channel_shuffle")
@SETTINGS
@given(st.integers(1, 12), st.lists(st.integers(1, 4), max_size=3), st.integers(1, 6))
def test_channel_shuffle_matches_torch(c, sizes, groups):
    shape = (c, *sizes)
    ours, args = rule("channel_shuffle", [shape], [groups])
    agree(ours, run_torch("channel_shuffle", [shape], args), f"channel_shuffle({groups}) on {shape}")
    if ours[0] == "error":
        assert ours[1] == ("E302" if not sizes else "E308")


@checks("scale_shift")
@SETTINGS
@given(st.integers(1, 4), st.lists(st.integers(1, 4), max_size=3), st.data())
def test_scale_shift_matches_torch(c, sizes, data):
    shape = (c, *sizes)
    per_channel = st.lists(st.floats(-2, 2), min_size=max(c - 1, 1), max_size=c + 1)
    scale, shift = (data.draw(st.one_of(st.floats(-2, 2), per_channel)) for _ in range(2))
    ours, args = rule("scale_shift", [shape], [scale, shift])
    theirs = run_torch("scale_shift", [shape], args)
    if theirs[0] == "ok" and theirs[1][0] != c:  # torch broadcast one channel to several; the language refuses
        assert ours == ("error", "E301")
        return
    agree(ours, theirs, f"scale_shift({scale}, {shift}) on {shape}")
    if ours[0] == "error":
        assert ours[1] == "E301"


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_stochastic_depth_probability_outside_0_1_is_refused_like_torchvision(p):
    torchvision = pytest.importorskip("torchvision")
    assert rule("stochastic_depth", [(4, 3, 3)], [p])[0] == ("error", "E211")
    with pytest.raises(ValueError):
        torchvision.ops.stochastic_depth(torch.zeros(2, 4, 3, 3), p, "row", training=True)


def test_every_op_has_its_rule_checked_against_torch():
    missing = sorted(set(ops.OPS) - CHECKED)
    assert not missing, f"no test here checks the shape rule of {missing} against torch: add one, marked @checks"
