"""Why each peer's MAC total differs from convscope's, rebuilt term by term from our own trace.

convscope's MACs are convolutions and matrix products only, bias excluded (see
``convscope/rules/__init__.py``). Every peer adds some of the other ops to its "MACs". For each
peer we read its formulas (torchinfo 1.8.0 ``layer_info.calculate_macs``, torchscan 0.2.0
``modules/macs.py``, ptflops 0.7.5 ``pytorch_ops.py``, ultralytics-thop 2.2.3
``vision/basic_hooks.py``, fvcore 0.1.5 ``nn/flop_count.py``), wrote each as a term over the
ops convscope traced, and check that ``ours + terms`` gives the peer's number exactly.
The reason printed for a disagreement lists only the terms that are not zero for that model.

Worked example, ResNet-50 at batch 1, 224 px, where ours is 4,089,184,256:
thop adds 4 per BatchNorm element (11,113,984 elements -> 44,455,936) and, for the global
average pool, one add per pooled input and one divide per output (100,352 + 2,048), giving
4,133,742,592: exactly what thop reports.

ptflops is the odd one: it divides what its module hooks count by the batch (MACs per image) but
also patches ``F.relu`` and the ``F.*pool*`` functions, whose counts it does not divide; a ReLU or
pooling module calls those functions, so at batch 1 ptflops counts them twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor, prod

from torch import nn

ACTIVATIONS = {"aten.relu", "aten.relu_", "aten.hardtanh", "aten.hardtanh_"}
POOLS = {"aten.max_pool2d_with_indices", "aten.max_pool2d", "aten.avg_pool2d", "aten.mean",
         "aten._adaptive_avg_pool2d"}
F_PATCHED = {"aten.relu", "aten.relu_"} | POOLS  # ptflops patches F.relu, F.*pool*; not F.hardtanh


@dataclass(frozen=True)
class Site:
    """One traced op that convscope's MACs leave out and some peer counts."""

    op: str  # aten packet, "aten.relu_"
    module: nn.Module | None  # the leaf module whose own op this is; None when called functionally
    inp: tuple[int, ...]
    out: tuple[int, ...]
    bias: bool = False  # a conv or linear with a bias

    @property
    def out_numel(self) -> int:
        return prod(self.out)

    @property
    def inp_numel(self) -> int:
        return prod(self.inp)


def sites(report, model: nn.Module) -> list[Site]:
    """The ops of ``report`` that matter to a peer, each with its module (if a leaf) and shapes."""
    graph, found = report.graph, []
    for node in graph.nodes:
        refs, call = node.refs, graph.calls[node.call] if node.call is not None else None
        if node.packet not in ACTIVATIONS | POOLS | {"aten.native_batch_norm", "aten.convolution",
                                                      "aten.addmm"} or not refs:
            continue
        module = model.get_submodule(call.name) if call is not None and call.is_leaf else None
        bias = node.packet == "aten.addmm" or (node.packet == "aten.convolution"
                                               and node.args[2] is not None)
        found.append(Site(node.packet, module, refs[0].shape, node.outputs[0].shape, bias))
    return found


def _out(s: Site) -> int:
    return s.out_numel


def _inp(s: Site) -> int:
    return s.inp_numel


def _sum(found, test, amount) -> int:
    return sum(amount(s) for s in found if test(s))


def _bias(s: Site) -> bool:
    return s.bias and s.op in ("aten.convolution", "aten.addmm")


def _bn(s: Site) -> bool:
    return s.op == "aten.native_batch_norm"


def _pool_module(s: Site, kind) -> bool:
    return s.op in POOLS and isinstance(s.module, kind)


def torchinfo_terms(found, batch):
    """calculate_macs: every parameter x output positions (conv) or x batch (other layers)."""
    return [("+bias", _sum(found, _bias, _out)),
            ("+BatchNorm weights x batch", _sum(found, _bn, lambda s: batch * 2 * s.out[1]))]


def _scan_pool(s: Site) -> int:
    """torchscan: max pool (k-1)/output, k unsquared when written as an int; adaptive and avg
    pools (window - 1 + spatial dims)/output."""
    if isinstance(s.module, nn.MaxPool2d):
        k = s.module.kernel_size
        return s.out_numel * ((k if isinstance(k, int) else prod(k)) - 1)
    if isinstance(s.module, nn.AvgPool2d):
        k = s.module.kernel_size
        return s.out_numel * ((k if isinstance(k, int) else prod(k)) - 1 + len(s.inp) - 2)
    window = [i // o if i % o == 0 else i % o + 1 for i, o in zip(s.inp[2:], s.out[2:])]
    return s.out_numel * (prod(window) - 1 + len(window))


def torchscan_terms(found, batch):
    pools = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
    return [("+BatchNorm 2/element", _sum(found, _bn, lambda s: 2 * s.out_numel)),
            ("+pooling modules (max pool: k-1 per output, k x k kernel taken as k)",
             _sum(found, lambda s: _pool_module(s, pools), _scan_pool))]


def ptflops_terms(found, batch):
    """Module hooks, then what its F.relu / F.*pool* patches add (the last two terms), which it
    does not divide by the batch; ReLU and pooling modules call those functions too."""
    def patched(s: Site) -> bool:
        return s.op in F_PATCHED

    def activation(s: Site) -> bool:
        return s.op in ACTIVATIONS and isinstance(s.module, (nn.ReLU, nn.ReLU6))

    return [("+bias", _sum(found, _bias, _out)),
            ("+BatchNorm 2/element", _sum(found, _bn, lambda s: 2 * s.out_numel)),
            ("+ReLU/ReLU6 modules 1/element", _sum(found, activation, _out)),
            ("+pooling modules 1/input",
             _sum(found, lambda s: s.op in POOLS and s.module is not None, _inp)),
            ("+ReLU/pooling modules counted twice (hook and F.* patch)",
             _sum(found, lambda s: patched(s) and s.module is not None, _inp)),
            ("+functional F.relu/F.*pool* 1/input",
             _sum(found, lambda s: patched(s) and s.module is None, _inp))]


def _thop_windows(s: Site) -> int:
    """count_adap_avgpool: the inputs each output averages (one add each), plus one divide per
    output; for a global pool that is inputs + outputs."""
    def covered(i, o):
        return o if i == o else sum(ceil((j + 1) * i / o) - floor(j * i / o) for j in range(o))

    return prod(covered(i, o) for i, o in zip(s.inp, s.out)) + s.out_numel


def thop_terms(found, batch):
    return [("+BatchNorm 4/element", _sum(found, _bn, lambda s: 4 * s.out_numel)),
            ("+adaptive average pool adds and divides",
             _sum(found, lambda s: _pool_module(s, nn.AdaptiveAvgPool2d), _thop_windows))]


def fvcore_terms(found, batch):
    return [("+BatchNorm 2/element", _sum(found, _bn, lambda s: 2 * s.out_numel)),
            ("+adaptive average pool 1/input",
             _sum(found, lambda s: s.op in ("aten.mean", "aten._adaptive_avg_pool2d"), _inp))]


TERMS = {"torchinfo": torchinfo_terms, "torchscan": torchscan_terms, "ptflops": ptflops_terms,
         "thop": thop_terms, "fvcore": fvcore_terms}
WHOLE_BATCH = {"ptflops": 2}  # its last two terms escape its division by the batch


def rebuild(tool: str, our_macs: int, found, batch: int) -> tuple[int, list[tuple[str, int]]]:
    """The number ``tool`` should report given our MACs, and the non-zero terms that make it.

    ptflops divides its module hooks' sum (ours included) by the batch, not its F.* patches'.
    """
    every = TERMS[tool](found, batch)
    whole = len(every) - WHOLE_BATCH.get(tool, 0)
    divisor = batch if tool in WHOLE_BATCH else 1
    expected = (our_macs + sum(a for _, a in every[:whole])) // divisor + sum(
        a for _, a in every[whole:])
    terms = [(words, amount) for words, amount in every if amount]
    if divisor > 1:
        terms.append((f"module layers per image (divided by batch {batch}), F.* calls not", 0))
    return expected, terms


def explain(tool: str, peer_macs: int, our_macs: int, found, batch: int) -> tuple[str, bool]:
    """Words for the difference and whether the rebuilt total matches the peer's exactly."""
    expected, terms = rebuild(tool, our_macs, found, batch)
    words = "; ".join(f"{w} {_short(a)}" if a else w for w, a in terms) or "agrees"
    if expected != peer_macs:
        words += f"; unexplained {_short(peer_macs - expected)}"
    return words, expected == peer_macs


def _short(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:d}"
