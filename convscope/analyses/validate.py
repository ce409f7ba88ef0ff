"""Validation that needs no failed trace: what shape-only tensors let through, and models that
cannot even be built.

- ``check_graph(graph)``: an input PyTorch silently read as one unbatched sample (``--input 1x28``
  for a Conv2d network), groups that do not divide a conv's output channels, and a conv or
  matmul whose tensors have two dtypes (an integer input into a Linear, a float64 model fed
  float32): the meta kernels check neither; a real forward would fail.
- ``building_error(exc, spec)``: the constructor raised, e.g. ``nn.Conv2d(6, 8, 3, groups=4)``.
"""
from __future__ import annotations

import re
import traceback
from functools import cache
from math import gcd

from ..errors import ConvscopeError, ModelError
from .windows import AXES, CONV_OPS, MATMUL_OPS, WINDOW_OPS, window_of

SPATIAL_TYPES = re.compile(r"^(Conv|ConvTranspose|MaxPool|AvgPool|LPPool|AdaptiveAvgPool|"
                           r"AdaptiveMaxPool)([123])d$")


def dims(shape) -> str:
    """``(3, 32, 32)`` -> ``3x32x32``; an input of no size, ``()``, as written."""
    return "x".join(str(d) for d in shape) or "()"


def axis_names(n: int) -> list[str]:
    return AXES.get(n, AXES[3])


def groups_text(where: str, in_channels: int, out_channels: int, groups: int) -> str:
    """groups=4 with 6 -> 8 channels: what is not whole, and the groups that would work."""
    common = [d for d in range(1, gcd(in_channels, out_channels) + 1)
              if in_channels % d == 0 and out_channels % d == 0]
    # more groups than channels: the quotient rounds to 0, which reads as whole
    bad = [f"{n} {label} channels / {groups} " + (
               f"= {round(n / groups, 2):g}" if groups <= n else "is less than 1")
           for n, label in ((in_channels, "input"), (out_channels, "output")) if n % groups]
    return (f"{where}: groups={groups} must divide both the {in_channels} input channels and the "
            f"{out_channels} output channels, but {' and '.join(bad)}: not a whole number of "
            f"channels a group. Fix: use groups among the common divisors of {in_channels} and "
            f"{out_channels}: {', '.join(map(str, common))}.")


def fuller(given, n: int, channels: int | None = None) -> tuple[int, ...]:
    """An input with n spatial sizes made from a shorter one: 1x28 -> 1x28x28, 28 -> 1x28x28.
    ``channels``, what the first layer expects, when known: 224x224 -> 3x224x224 for 3."""
    given = tuple(given)
    if len(given) > 1 and (channels is None or given[0] in (1, channels)):
        channels, spatial = channels or given[0], given[1:]  # the first size was the channels
    else:  # every size given is spatial: the channel dim is the one missing
        channels, spatial = channels or 1, given
    side = spatial[-1] if spatial else 32  # an input of no size (): an example one
    return (channels, *spatial, *[side] * (n - len(spatial)))


def conv_channels(nodes, call: int) -> int | None:
    """The input channels the conv run by module call ``call`` expects (None: no conv)."""
    for node in nodes:
        window = window_of(node) if node is not None and node.call == call else None
        if window is not None and window.kind in ("conv", "transposed"):
            weight = node.args[1].shape  # [out, in/groups, ...]; transposed [in, out/groups, ...]
            return weight[0] if window.kind == "transposed" else weight[1] * window.groups
    return None


FLOATING = ("float16", "bfloat16", "float32", "float64")


def float_dtypes(tensors) -> list[str]:
    """The floating dtypes among these records with a ``meta`` (refs, params), sorted."""
    return sorted({t.meta.dtype for t in tensors if t.meta.dtype in FLOATING})


def dtype_text(where: str, op: str, met, layer_dtypes, model_dtypes, input_note: str = "") -> str:
    """Tensors of two dtypes in one conv or matmul. ``layer_dtypes`` and ``model_dtypes``: the
    floating dtypes of the failing layer's parameters and of the model's. ``input_note`` ends
    the text where the fix is the input's dtype (with several inputs, it says how)."""
    text = f"{where}: dtype mismatch: {' and '.join(met)} tensors meet in {op}, which needs one."
    own = layer_dtypes[0] if len(layer_dtypes) == 1 else None
    arriving = [d for d in met if d != own]
    if own not in met or len(arriving) != 1:
        return text + " Fix: give the input the dtype of the model's parameters."
    text += f" The layer's parameters are {own}, the tensor arriving is {arriving[0]}."
    if arriving[0].startswith("complex"):
        return text + (f" Fix: give it a real input (dtype=torch.{own}, CLI: --dtype {own}), or "
                       f"build the layers with complex parameters (dtype=torch.{arriving[0]})."
                       f"{input_note}")
    if arriving[0] not in FLOATING:
        return text + (f" Fix: give it a floating input (dtype=torch.{own}, CLI: --dtype "
                       f"{own}); integer ids go through an nn.Embedding first.{input_note}")
    if list(model_dtypes) != [own]:
        return text + (f" The model mixes {' and '.join(model_dtypes)} parameters. Fix: convert "
                       f"it to one dtype, e.g. model.to(torch.{arriving[0]}).")
    return text + (f" Fix: analyse with the model's dtype (dtype=torch.{own}, CLI: --dtype "
                   f"{own}), or convert the model to the input's (model.to(torch.{arriving[0]}))."
                   f"{input_note}")


def param_dtypes(params, owner: str | None = None) -> list[str]:
    """The floating dtypes of the parameters (``graph.Param``) of ``owner`` and the modules
    inside it, or of the whole model."""
    return float_dtypes([p for p in params if owner is None or p.module == owner or
                         p.module.startswith(owner + ".")])


def unbatched_text(where: str, shape, n: int, from_input: bool,
                   channels: int | None = None) -> str:
    text = (f"{where} works on [batch, channels, {', '.join(axis_names(n))}] but receives a "
            f"{len(shape)}-D tensor {list(shape)}, which PyTorch silently reads as one unbatched "
            f"sample of {shape[0]} channel{'s' * (shape[0] != 1)} of {dims(shape[1:])}, not as a "
            f"batch.")
    if from_input:
        given = tuple(shape[1:])
        text += (f" The input size {dims(given)} has {len(given)} dimension"
                 f"{'s' * (len(given) != 1)}; give {n + 1}: channels x "
                 f"{' x '.join(axis_names(n))} without the batch (e.g. "
                 f"{dims(fuller(given, n, channels))}); convscope adds the batch.")
    return text


@cache  # a few class names, met by every module call
def _spatial_rank(type_name: str) -> int:
    """1, 2 or 3 for a conv or pool layer class (``Conv2d``), 0 for any other."""
    found = SPATIAL_TYPES.match(type_name)
    return int(found.group(2)) if found else 0


def _is_the_input(graph, ref) -> bool:
    """``ref`` is a model input, or made from one by ops that keep its shape (``x / 255``, a
    cast, an activation): a size given without its channels. A tensor of another shape the
    model made itself (a Linear's [batch, features], ``x[0]``) is the model's to read unbatched,
    as PyTorch does."""
    while getattr(ref, "kind", "") == "node":
        node = graph.nodes[ref.source]
        if not node.refs or node.refs[0].shape != node.outputs[ref.slot].shape:
            return False
        ref = node.refs[0]
    return getattr(ref, "kind", "") == "input"


def check_graph(graph) -> ConvscopeError | None:
    """The first problem a shape-only trace let through, as the error to raise (None: all well)."""
    for call in graph.calls:
        rank = _spatial_rank(call.type)
        if rank and call.outputs and len(call.outputs[0].shape) == rank + 1:
            first = graph.nodes[call.first_node] if call.first_node < len(graph.nodes) else None
            ref = first.args[0] if first is not None and first.args else None
            if not _is_the_input(graph, ref):
                continue
            return ModelError(unbatched_text(f"layer {call.name} ({call.type})", ref.shape, rank,
                                             True, conv_channels(graph.nodes, call.index)),
                              layer=call.name or None)
    for node in graph.nodes:
        packet = node.packet
        if packet not in WINDOW_OPS and packet not in MATMUL_OPS:
            continue
        met = {r.meta.dtype for r in node.refs}
        # the meta kernels of addmm and friends do not check dtypes
        if len(met) > 1 and (packet in MATMUL_OPS or window_of(node) is not None):
            layer, where = _layer_of(graph, node)
            return ModelError(dtype_text(where, node.op, sorted(met),
                                         param_dtypes(graph.params, layer),
                                         param_dtypes(graph.params)), layer=layer)
        # groups that do not divide the output channels (args[8]; a Window only if so: one
        # for every convolution of a network cost more than the rest of the check)
        if packet in CONV_OPS and node.args[1].shape[0] % int(node.args[8]):
            window = window_of(node)
            if window is not None and window.kind == "conv":
                layer, where = _layer_of(graph, node)
                return ModelError(groups_text(where, node.args[0].shape[1],
                                              node.args[1].shape[0], window.groups), layer=layer)
    return None


def _layer_of(graph, node) -> tuple[str | None, str]:
    """(qualified name or None, words) of the named module an op ran in."""
    call = graph.calls[node.call] if node.call is not None else None
    if call is None or not call.name:
        return None, f"the model's own forward ({graph.model_type})"
    return call.name, f"layer {call.name} ({call.type})"


def building_error(exc: BaseException, spec: str) -> ConvscopeError:
    """A model whose constructor raised: name the line that built the layer, explain groups."""
    frames = traceback.extract_tb(exc.__traceback__)
    # torch's frames, and a torch-function mode's (zoo.shapes_only's), are not where it was built
    user = [f for f in frames if "/torch/" not in f.filename.replace("\\", "/")
            and f.name != "__torch_function__"]
    at = f" at {user[-1].filename}:{user[-1].lineno} `{user[-1].line}`" if user else ""
    numbers = _conv_arguments(exc)
    if numbers and "divisible by groups" in str(exc):
        return ModelError(groups_text(f"building {spec} failed{at}", *numbers))
    return ModelError(f"building {spec} failed{at}: {type(exc).__name__}: {_first_part(exc)}")


def _first_part(exc: BaseException) -> str:
    """The exception's text without the C++ stack a PyTorch error may carry ("Exception raised
    from ...", then a frame per line): one message, not a dump."""
    text = str(exc)
    cut = text.find("\nException raised from ")
    return (text if cut < 0 else text[:cut]).strip()


def _conv_arguments(exc) -> tuple[int, int, int] | None:
    """(in_channels, out_channels, groups) from the conv constructor's frame, if it raised."""
    tb = exc.__traceback__
    while tb is not None:
        found = tb.tb_frame.f_locals
        if {"in_channels", "out_channels", "groups"} <= found.keys():
            return found["in_channels"], found["out_channels"], found["groups"]
        tb = tb.tb_next
    return None
