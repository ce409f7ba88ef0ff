"""convscope against torchinfo, torchscan, ptflops, thop and fvcore (issue 7).

For every model, batch and image size, each tool analyses the model in its own process:
imports, builds the model, warms up with one analysis at batch 1 and 96 px (imports, lazy
initialisation, hooks), resets the peak-RSS counter, then times analyses at the row's size. The
first timed run gives the peak memory: how far the peak RSS rose above the RSS just before it.
Each peer's runs are interleaved with convscope's (``paired``): about half a second of the
peer's runs (one run, if it is slower), then of convscope's, and so on, so that the ratio
compares the two over the same minutes of a machine whose speed drifts. A peer runs at least
``--repeat`` times, more until its runs span ``--span`` seconds, fewer once they add up to
``--budget`` seconds (slow real forwards run once or twice). Peers take turns in an order
rotated by one from row to row.

A row whose real forward would need more than ``--memory-limit`` GiB is skipped (estimated
from convscope's own trace, see ``needed_bytes``); a process whose build and warm-up, or any one
timed run, takes longer than ``--timeout`` is killed.

    python benchmarks/peers.py [--quick] [--models resnet50 vgg16] [--json results.json]

Needs the bench extra: ``pip install -c constraints.txt '.[bench]'``. Results: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from collections import defaultdict

MODELS = ["resnet50", "vgg16", "mobilenet_v2", "googlenet", "inception_v3"]
CONFIGS = [(1, 224), (64, 224), (1, 512), (64, 512)]  # (batch, pixels)
GIB = 1 << 30
TOOL_NAMES = ["convscope", "torchinfo", "torchscan", "ptflops", "thop", "fvcore"]
# Imported once by the fork server, so no child pays for them (about 3 s each).
PRELOAD = ["torch", "convscope.api", "convscope.zoo", "peer_tools", "torchinfo", "torchscan",
           "thop", "ptflops", "fvcore.nn"]


def live_peak_bytes(graph) -> int:
    """Most activation bytes alive at once when each tensor is freed after its last use (no grad).

    A view or in-place op allocates nothing: it extends the life of what it reads from.
    """
    owner, last_use = {}, {}
    for node in graph.nodes:
        parents = [owner[r.source] for r in node.refs if r.kind == "node" and owner[r.source] >= 0]
        for source in parents:
            last_use[source] = node.index
        if node.view or node.inplace:
            owner[node.index] = parents[0] if parents else -1  # -1: a view of a parameter
        else:
            owner[node.index] = node.index
    for ref in graph.outputs:
        if ref.kind == "node" and owner[ref.source] >= 0:
            last_use[owner[ref.source]] = len(graph.nodes)
    live = peak = 0
    freed = defaultdict(int)
    for node in graph.nodes:
        if owner[node.index] == node.index:
            live += node.output_bytes
            freed[last_use.get(node.index, node.index)] += node.output_bytes
        peak = max(peak, live)
        live -= freed.pop(node.index, 0)
    return peak


def needed_bytes(tool: str, report) -> int:
    """What a real forward at this size needs, from convscope's trace: every activation for the
    tools that run it with autograd on (ptflops, fvcore), else the live peak; 1.5x either, a
    margin for workspaces and tensors Python holds longer (docs/benchmarks.md compares it with
    the peaks measured)."""
    from peer_tools import GRAD

    if tool == "convscope":
        return 0
    totals = report.totals
    activations = totals.activation_bytes if tool in GRAD else live_peak_bytes(report.graph)
    return totals.input_bytes + int(1.5 * activations)


def run_child(context, options, args, task) -> dict:
    """``task(*args)`` in a process forked from the fork server; killed at the timeout."""
    from peer_tools import measure_into

    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=measure_into, args=(send, args, task), daemon=True)
    child.start()
    send.close()
    try:
        if receive.poll(options.timeout):
            return receive.recv()
        return {"error": f"timeout >{options.timeout:.0f} s", "lower_bound": options.timeout}
    except EOFError:  # died without a word: the kernel's OOM killer, most likely
        child.join()
        return {"error": f"killed (exit {child.exitcode}; out of memory?)"}
    finally:
        if child.is_alive():
            child.kill()
        child.join()


def run_grid(options, tools: list[str]) -> dict:
    import torch

    import convscope
    from agreement import sites
    from convscope import zoo
    from paired import Timed, time_alone, time_pair
    from peer_tools import scaling

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    results, growth, index = {}, {}, 0
    for model_name in options.models:
        with torch.device("meta"):  # the parent only reads shapes: no weights to allocate
            model = zoo.create(model_name).eval()
        for batch, size in options.configs:
            report = convscope.analyze(model, (3, size, size), batch_size=batch)
            row = results[(model_name, batch, size)] = {
                "ours": report.totals.macs, "sites": sites(report, model), "tools": {}}
            ours = Timed(context, ["convscope", model_name, batch, size, options.threads],
                         options.timeout)
            first = ours.first()
            ours_times = [first["seconds"]] if "seconds" in first else []
            peers = tools[1:]
            for tool in peers[index % len(peers):] + peers[:index % len(peers)] if peers else ():
                needed = needed_bytes(tool, report)
                if needed > options.memory_limit * GIB:
                    result = {"error": f"skipped: needs {needed / GIB:.1f} GiB"}
                else:
                    peer = Timed(context, [tool, model_name, batch, size, options.threads],
                                 options.timeout)
                    result, paired = time_pair(ours if ours_times else None, peer, options)
                    ours_times += paired
                row["tools"][tool] = result
                _progress(model_name, batch, size, tool, result)
            row["tools"]["convscope"] = time_alone(ours, first, ours_times, options)
            _progress(model_name, batch, size, "convscope", row["tools"]["convscope"])
            index += 1
        if "convscope" in tools and len(options.configs) > 1:
            growth[model_name] = run_child(context, options, [
                model_name, options.configs, options.rounds, options.threads], scaling)
    return results, growth


def _progress(model_name, batch, size, tool, result):
    said = result.get("error") or f"{result['seconds']:.3f} s x{result['runs']}, " \
                                  f"{result['peak_mib']:.0f} MiB"
    if "ours_seconds" in result:
        said += f"; convscope meanwhile {result['ours_seconds']:.4f} s x{result['ours_runs']}"
    if "cut_short" in result:
        said += f"; cut short: {result['cut_short']}"
    print(f"  {model_name:13s} {batch:3d} x {size:3d}  {tool:10s} {said}", file=sys.stderr,
          flush=True)


def machine() -> str:
    pages = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import torch

    # the interpreter's install, not the venv's: builds differ (pyenv's default build, without
    # profile-guided optimisation, takes ~1.2x as long as Debian's over convscope's analysis)
    return (f"{os.cpu_count()} cores, {pages / GIB:.0f} GiB, CPU only, Python "
            f"{platform.python_version()} from {sys.base_prefix}, torch {torch.__version__}")


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="ResNet-50, batch 1, 224 px, every tool: under a minute")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--repeat", type=int, default=7,
                        help="timed runs, at least (unless --budget stops them)")
    parser.add_argument("--span", type=float, default=2.0,
                        help="keep timing a fast tool until its runs add up to this many seconds")
    parser.add_argument("--budget", type=float, default=6.0,
                        help="stop repeating once the timed runs add up to this many seconds")
    parser.add_argument("--timeout", type=float, default=45.0,
                        help="seconds for a process's build and warm-up, and for each run; a "
                             "peer whose first run passes it shows it as a lower bound")
    parser.add_argument("--memory-limit", type=float, default=12.0,
                        help="GiB; skip a real forward estimated to need more")
    parser.add_argument("--tools", nargs="+", default=None, choices=TOOL_NAMES,
                        help="peers to run (default: every one installed); convscope always runs")
    parser.add_argument("--rounds", type=int, default=9,
                        help="convscope's own scaling check: analyses per size, interleaved")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per tool (1: the machine is shared, see docs)")
    parser.add_argument("--configs", nargs="+", default=None, metavar="BATCHxPX",
                        help="e.g. 1x224 64x512 (default: 1x224 64x224 1x512 64x512)")
    options = parser.parse_args(argv)
    options.configs = ([(1, 224)] if options.quick else CONFIGS) if options.configs is None else [
        tuple(int(n) for n in c.split("x")) for c in options.configs]
    if options.quick:
        options.models = ["resnet50"]
    return options


def main(argv=None) -> None:
    options = parse(argv)
    from peer_report import render
    from peer_tools import TOOLS, available, versions

    left_out = {name: why for name in TOOLS if (why := available(name))}
    chosen = [t for t in (options.tools or TOOLS) if t != "convscope" and t not in left_out]
    tools = ["convscope"] + chosen  # every ratio is against convscope
    start, load = time.perf_counter(), os.getloadavg()[0]
    results, growth = run_grid(options, tools)
    setting = (f"{machine()}; {versions(tools)}; {options.threads} torch thread(s) per tool; "
               f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print(render(results, growth, tools, left_out, setting, time.perf_counter() - start))
    if options.json:
        with open(options.json, "w") as out:
            rows = {" ".join(map(str, key)): row["tools"] for key, row in results.items()}
            json.dump({"rows": rows, "convscope_scaling": growth}, out, indent=1)


if __name__ == "__main__":
    main()
