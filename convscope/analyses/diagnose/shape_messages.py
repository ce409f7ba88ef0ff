"""Messages for a tensor whose shape does not suit the layer it reaches: channels (or groups)
that disagree with a conv or BatchNorm, features that disagree with a Linear, a tensor of the wrong
rank, and an input given without its channels.
"""
from __future__ import annotations

from math import isqrt, prod

from ..validate import (SPATIAL_TYPES, axis_names, conv_channels, dims, fuller, groups_text,
                        unbatched_text)
from ..windows import window_of
from .finding import RANK
from .origin import failing_layer, made_by, producer, unflattened


def short_input(failure, ctx) -> tuple[str, str] | None:
    """(message, layer) when the input lacks a dimension of the first conv or pool. With
    --input 32x32, LeNet's 1-channel conv reads [1, 32, 32] as one unbatched image and runs;
    the trace fails layers later, where no input size would help."""
    calls, nodes = getattr(failure, "all_calls", ()), getattr(failure, "nodes", ())
    first = next((c for c in calls if SPATIAL_TYPES.match(c.type)), None)
    if first is None or not ctx.input_shapes or first.first_node >= len(nodes):
        return None
    n = int(SPATIAL_TYPES.match(first.type).group(2))
    ref = nodes[first.first_node].args[0] if nodes[first.first_node].args else None
    if len(ctx.input_shapes[0]) != n or getattr(ref, "kind", "") != "input":
        return None
    return unbatched_text(f"layer {first.name} ({first.type})", ref.shape, n, True,
                          conv_channels((*nodes, failure.node), first.index)), first.name or None


def _channels(failure, finding, ctx) -> str:
    node, got, expected = failure.node, finding.got, finding.expected
    nodes, inputs = getattr(failure, "nodes", ()), getattr(failure, "inputs", ())
    # no failing op (BatchNorm checks its running statistics first): the layer's own input, not
    # the last op, which in training is its own num_batches_tracked += 1
    origin = (producer(failure, node.args[0], True) if node is not None else
              producer(failure, inputs[0], True) if inputs else
              made_by(failure, len(nodes) - 1, True) if nodes else "the model's input")
    built = ctx.built(finding.layer)
    if node is not None:
        window, weight = window_of(node), list(node.args[1].shape)
        per_group = f", {weight[1]} per group x {window.groups} groups" if window.groups > 1 else ""
        what = (f"{built or 'the conv'} expects {expected} input channel{'s' * (expected != 1)}"
                f" (weight {weight}{per_group})")
        option = "in_channels"
    else:
        what, option = f"{built or 'the layer'} normalises {expected} channels", "num_features"
    text = (f"{finding.where}: channel mismatch. {what}, but the tensor arriving has {got} "
            f"channel{'s' * (got != 1)}, from {origin}.")
    if origin != "the model's input" or not ctx.input_shapes:
        layer = f"layer {finding.layer}" if finding.layer else "it"
        return text + (f" Fix: build {layer} with {option}={got}, or make {origin} output "
                       f"{expected} channels.")
    shape = ctx.input_shapes[0]
    # 224x224x3 for 3 channels; not 3x8x8 for 8, a square image already channels first
    if shape[-1] == expected and shape[0] != expected and shape[-1] != shape[-2]:
        return text + (f" The input {dims(shape)} looks channels-last; convscope wants channels "
                       f"first (channels x height x width): feed {dims((expected, *shape[:-1]))}.")
    return text + (f" Fix: feed a {dims((expected, *shape[1:]))} input, or build the layer with "
                   f"{option}={got}.")


def _groups(failure, finding, ctx) -> str:
    window, weight = window_of(failure.node), failure.node.args[1].shape
    out_channels = weight[1] * window.groups if window.kind == "transposed" else weight[0]
    return groups_text(finding.where, finding.got, out_channels, window.groups)


def _features(failure, finding, ctx) -> str:
    node, got, expected = failure.node, finding.got, finding.expected
    x = node.args[1] if node.packet == "aten.addmm" else node.args[0]
    before = unflattened(failure, x)
    nodes = getattr(failure, "nodes", ())
    inside = x.kind == "node" and x.source < len(nodes) and nodes[x.source].call == node.call
    if before is None:
        return (f"{finding.where}: expects in_features={expected:,} but receives {got:,} "
                f"features from {producer(failure, x)}. Fix: build it as nn.Linear({got}, ...), "
                f"or make the layer before it output {expected:,} features.")
    product = f"{'·'.join(map(str, before[1:]))} = {prod(before[1:]):,}"
    if inside:  # Linear flattened a [N, C, H, W] itself: it only reads the last dimension
        return (f"{finding.where}: expects in_features={expected:,} on the last dimension, but "
                f"receives a {list(before)} tensor whose last dimension is {got}. Did you forget "
                f"to flatten? Put nn.Flatten() before {finding.layer or 'the Linear'}: it "
                f"gives {product} features.")
    wanted = _factor(expected, before[1], len(before) - 2)
    then = (f" (the flatten then gives {before[1]}·{'·'.join(map(str, wanted))} = {expected:,})"
            if wanted else "")
    text = (f"{finding.where}: expects in_features={expected:,} but the flatten of "
            f"{list(before[1:])} gives {product} features. Fix: {ctx.smallest_text()}{then}; or "
            f"build the layer as nn.Linear({got}, ...) or nn.LazyLinear(...)")
    if wanted and len(wanted) == 2:
        text += (f"; or put nn.AdaptiveAvgPool2d(({wanted[0]}, {wanted[1]})) before the flatten "
                 f"so every input size gives {expected:,}")
    return text + "."


def _factor(expected: int, channels: int, rank: int) -> tuple[int, ...] | None:
    """400 features over 16 channels -> (5, 5) when the rest is a square (or a line)."""
    if not channels or expected % channels:
        return None
    rest = expected // channels
    side = isqrt(rest)
    return (rest,) if rank == 1 else (side, side) if rank == 2 and side * side == rest else None


def _rank(failure, finding, ctx) -> str:
    match = RANK.search(str(failure.cause))
    spatial = SPATIAL_TYPES.match(failing_layer(failure)[1])
    if match is None:  # the layer unsqueezed an unbatched input, then failed
        shape = failure.nodes[failure.node.args[0].source].args[0].shape
        n = int(spatial.group(2)) if spatial else len(shape) - 1
        return unbatched_text(finding.where, shape, n, bool(ctx.input_shapes),
                              _expected_channels(failure, finding, ctx))
    wanted = int(match.group(1) or match.group(3))
    n = wanted - 2
    got = (f"a {len(match.group(2).split(','))}-D tensor [{match.group(2)}]" if match.group(2)
           else f"a {match.group(4)}-D tensor")
    text = (f"{finding.where} works on [batch, channels, {', '.join(axis_names(n))}] but "
            f"receives {got}.")
    if not ctx.input_shapes:
        return text
    given = ctx.input_shapes[0]
    layout = f"channels x {' x '.join(axis_names(n))}"
    if len(given) > n + 1:
        return text + (f" The input size {dims(given)} has {len(given)} dimensions; give it "
                       f"without the batch, as {layout} (e.g. {dims(given[-(n + 1):])}); the "
                       f"batch size is its own option (--batch, batch_size=).")
    return text + (f" The input size {dims(given)} has {len(given)} dimension"
                   f"{'s' * (len(given) != 1)}; give {n + 1}: {layout} without the batch (e.g. "
                   f"{dims(fuller(given, n, _expected_channels(failure, finding, ctx)))}).")


def _expected_channels(failure, finding, ctx) -> int | None:
    """The input channels of the failing conv: from its weight, or from the layer as built when
    it failed before its first op."""
    node = failure.node
    if node is not None:
        return conv_channels([node], node.call)
    module = ctx.module(finding.layer) if finding.layer is not None else None
    return getattr(module, "in_channels", None)


WORDS = {"channels": _channels, "groups": _groups, "features": _features, "rank": _rank}
