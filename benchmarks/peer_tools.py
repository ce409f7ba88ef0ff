"""One adapter per tool (how a user calls it, where its totals come out), and one measurement.

Every adapter takes an eval-mode model, a batch size and a square image size, and returns
``(params, macs)`` exactly as the tool reports them (ptflops reports MACs per image for module
layers, see ``agreement.py``). Tools that need an input tensor get ``torch.rand``, as torchinfo
and torchscan make for themselves; making it is part of the timed call.

``TOOLS`` maps a name to its adapter, in the order the tables show them; ``DISTRIBUTIONS`` names
what the ``bench`` extra of pyproject.toml installs for each. ``GRAD`` names the tools whose real
forward runs with autograd on, so they keep every activation alive until the end (see
``peers.needed_bytes``).

``serve`` is what one child process of ``peers.py`` runs: one tool, one model, one size, timed
one run at a time as the parent asks; ``scaling`` checks convscope alone at every size in one
process.
"""
from __future__ import annotations

import contextlib
import io
import resource
import statistics
import time
import warnings

import torch

WARMUP = (1, 96)  # (batch, pixels): the smallest size all five models run at, so it is cheap


def convscope_counts(model, batch: int, size: int):
    import convscope

    report = convscope.analyze(model, (3, size, size), batch_size=batch)
    return report.totals.params, report.totals.macs


def torchinfo_counts(model, batch: int, size: int):
    import torchinfo

    stats = torchinfo.summary(model, input_size=(batch, 3, size, size), verbose=0)
    return stats.total_params, stats.total_mult_adds


def torchscan_counts(model, batch: int, size: int):
    import torchscan

    report = torchscan.crawl_module(model, args=(torch.rand(batch, 3, size, size),))
    totals = report["totals"]
    return totals["parameters"]["value"], totals["macs"]["value"]


def ptflops_counts(model, batch: int, size: int):
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):  # it prints only on failure: keep stdout JSON
        macs, params = get_model_complexity_info(
            model, (3, size, size), as_strings=False, print_per_layer_stat=False,
            input_constructor=lambda shape: torch.rand(batch, *shape))
    return params, macs


def thop_counts(model, batch: int, size: int):
    import thop

    macs, params = thop.profile(model, inputs=(torch.rand(batch, 3, size, size),), verbose=False)
    return int(params), int(macs)


def fvcore_counts(model, batch: int, size: int):
    from fvcore.nn import FlopCountAnalysis, parameter_count

    analysis = FlopCountAnalysis(model, torch.rand(batch, 3, size, size))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return parameter_count(model)[""], analysis.total()


TOOLS = {
    "convscope": convscope_counts,
    "torchinfo": torchinfo_counts,
    "torchscan": torchscan_counts,
    "ptflops": ptflops_counts,
    "thop": thop_counts,
    "fvcore": fvcore_counts,
}
DISTRIBUTIONS = {name: name for name in TOOLS} | {"thop": "ultralytics-thop"}
GRAD = {"ptflops", "fvcore"}


def versions(names) -> str:
    from importlib.metadata import version

    return ", ".join(f"{DISTRIBUTIONS[n]} {version(DISTRIBUTIONS[n])}" for n in names)


def available(name: str) -> str | None:
    """None when ``name`` imports, else why not (the tool is then left out of the run)."""
    module = {"thop": "thop", "fvcore": "fvcore.nn"}.get(name, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            __import__(module)
    except ImportError as error:
        return f"not installed ({error}); pip install -c constraints.txt '.[bench]'"
    return None


def _rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak since start or since ``_reset_peak``), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    """Set the peak RSS back to the current RSS (Linux >= 4.0); False where we may not."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def serve(connection, tool: str, model_name: str, batch: int, size: int, threads: int) -> None:
    """A child that times ``tool`` on one model at (batch, size), one analysis per request, so
    that the parent can interleave its runs with another tool's. It builds the model, warms up
    at ``WARMUP`` and says ``"ready"``, then sends the first timed run's result (its time, the
    peak memory, the totals), and one more run's seconds for each ``"run"`` it receives, until
    ``"stop"``. The peak is how far the peak RSS rises above the RSS just before that first
    run."""
    try:
        from convscope import zoo

        warnings.filterwarnings("ignore")
        torch.set_num_threads(threads)
        count = TOOLS[tool]
        model = zoo.create(model_name).eval()
        count(model, *WARMUP)
        connection.send("ready")
        reset = _reset_peak()  # without it, the peak is counted from the warm-up's high-water mark
        before = _rss_kib("VmRSS" if reset else "VmHWM")
        start = time.perf_counter()
        params, macs = count(model, batch, size)
        seconds = time.perf_counter() - start
        # at least 0: the RSS read just after the reset may exceed the high-water mark it set
        peak_mib = max(0.0, (_rss_kib("VmHWM") - before) / 1024)
        connection.send({"seconds": seconds, "peak_mib": peak_mib,
                         "params": int(params), "macs": int(macs), "peak_reset": reset})
    except Exception as error:  # reported in the table, never a hung parent
        connection.send(_failed(error))
        return
    while connection.recv() == "run":
        try:
            start = time.perf_counter()
            count(model, batch, size)
            connection.send(time.perf_counter() - start)
        except Exception as error:  # a later run that fails: said, and the child stops
            connection.send(_failed(error))
            return


def scaling(model_name: str, configs: list, rounds: int, threads: int) -> dict:
    """convscope alone, the sizes interleaved in one process so that the machine's load hits
    them alike: per "BxS", the median and fastest time and the largest peak over ``rounds``
    analyses, and the median over the rounds of its time against batch 1, 224 px's in the same
    round (``ratio``). The machine's speed changes between rounds far more often than within
    one, and a quotient of two medians can land on either side of such a change: one grid read
    1.28x that way for a size that read 1.00x run again alone."""
    from convscope import zoo

    torch.set_num_threads(threads)
    model = zoo.create(model_name).eval()
    convscope_counts(model, *WARMUP)
    times, peaks = {}, {}
    for _ in range(rounds):
        for batch, size in configs:
            _reset_peak()
            before = _rss_kib("VmRSS")
            start = time.perf_counter()
            convscope_counts(model, batch, size)
            key = f"{batch}x{size}"
            times.setdefault(key, []).append(time.perf_counter() - start)
            peaks[key] = max(peaks.get(key, 0.0), (_rss_kib("VmHWM") - before) / 1024)
    base = times.get("1x224", next(iter(times.values())))
    return {key: {"seconds": statistics.median(t), "fastest": min(t), "peak_mib": peaks[key],
                  "ratio": statistics.median(a / b for a, b in zip(t, base))}
            for key, t in times.items()}


def _failed(error: Exception) -> dict:
    """What a child sends for an exception: a short line for the table."""
    return {"error": f"failed: {type(error).__name__}: {error}"[:160]}


def measure_into(connection, args: list, task) -> None:
    """A child's entry point: send ``task(*args)``, or what it raised, down ``connection``."""
    try:
        result = task(*args)
    except Exception as error:  # reported in the table, never a hung parent
        result = _failed(error)
    connection.send(result)
