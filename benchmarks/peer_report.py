"""Markdown for ``peers.py``: time, memory and agreement tables, then the issue's targets.

Each peer cell reads "value (ratio)", the ratio being peer / convscope on the same row: for
time, against convscope's runs interleaved with that peer's (``paired``), so a ratio may differ
a little from the two cells' quotient. A peer that timed out shows its timeout as a lower bound
(">150 s (>2000x)").
"""
from __future__ import annotations

import datetime

from agreement import explain

FAST_ENOUGH = 20  # at batch 64 or 512 px, convscope should beat torchinfo by this factor


def _ratio(peer: float, ours: float) -> str:
    if ours <= 0:
        return ""
    ratio = peer / ours
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def _percent(peer: int, ours: int) -> str:
    return f"{100 * (peer - ours) / ours:+.2f}%" if ours else ""


def _seconds(s: float) -> str:
    return f"{s:.3f} s" if s < 1 else f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def _time_cell(result, ours) -> str:
    if "seconds" in result:
        cut = ", cut short" if "cut_short" in result else ""  # a later run failed or overran
        return f"{_seconds(result['seconds'])} ({_ratio(result['seconds'], ours)}){cut}"
    bound = result.get("lower_bound")
    return f"{result['error']} (>{_ratio(bound, ours)})" if bound else result["error"]


def _memory_cell(result, ours) -> str:
    if "peak_mib" not in result:
        return "timeout" if "lower_bound" in result else result["error"]
    return f"{result['peak_mib']:.0f} MiB ({_ratio(result['peak_mib'], max(ours, 1.0))})"


def _grid_table(results, tools, cell, ours_text, title) -> list[str]:
    peers = tools[1:]
    lines = [f"| {title} | batch | px | convscope | " + " | ".join(peers) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(peers)]
    for (model, batch, size), row in results.items():
        ours = row["tools"]["convscope"]
        cells = [cell(row["tools"][t], ours) for t in peers]
        lines.append(f"| {model} | {batch} | {size} | {ours_text(ours)} | " + " | ".join(cells)
                     + " |")
    return lines


def _paired(peer: dict, ours: dict) -> float:
    """convscope's time to set against ``peer``'s: its runs interleaved with the peer's."""
    return peer.get("ours_seconds", ours.get("seconds", 0))


def speed_table(results, tools) -> list[str]:
    return _grid_table(results, tools, lambda r, o: _time_cell(r, _paired(r, o)),
                       lambda o: _seconds(o["seconds"]) if "seconds" in o else o["error"],
                       "time of one analysis")


def memory_table(results, tools) -> list[str]:
    return _grid_table(results, tools, lambda r, o: _memory_cell(r, o.get("peak_mib", 0)),
                       lambda o: f"{o['peak_mib']:.1f} MiB" if "peak_mib" in o else o["error"],
                       "peak memory")


def agreement_table(results, tools) -> list[str]:
    """Totals at the first row of each model (batch 1, 224 px in the full run), with the reason;
    the last column says on how many measured rows the reason rebuilds the peer's MACs exactly."""
    lines = ["| model | tool | params | MACs | vs ours | why they differ | rebuilt exactly |",
             "|---|---|---:|---:|---:|---|---:|"]
    first = {}
    for key in results:
        first.setdefault(key[0], key)
    for model, key in first.items():
        row = results[key]
        ours = row["tools"]["convscope"]
        for tool in tools:
            result = row["tools"][tool]
            if "macs" not in result:
                lines.append(f"| {model} | {tool} | {result['error']} | | | | |")
                continue
            why = "ours: convs and matmuls, no bias" if tool == "convscope" else explain(
                tool, result["macs"], row["ours"], row["sites"], key[1])[0]
            exact = _exact_count(results, model, tool) if tool != "convscope" else ""
            params = f"{result['params']:,}" + ("" if result["params"] == ours.get("params")
                                                else " (differs)")
            lines.append(f"| {model} | {tool} | {params} | {result['macs']:,} | "
                         f"{_percent(result['macs'], row['ours'])} | {why} | {exact} |")
    return lines


def _exact_count(results, model, tool) -> str:
    hits = total = 0
    for (name, batch, _), row in results.items():
        result = row["tools"][tool]
        if name == model and "macs" in result:
            total += 1
            hits += explain(tool, result["macs"], row["ours"], row["sites"], batch)[1]
    return f"{hits}/{total}"


def targets(results, growth, tools) -> list[str]:
    slower, torchinfo_short, notes = [], [], []
    for (model, batch, size), row in results.items():
        for tool in tools[1:]:
            peer = row["tools"][tool]
            seconds = peer.get("seconds", peer.get("lower_bound"))
            ours = _paired(peer, row["tools"]["convscope"]) or None
            if ours is None or seconds is None:
                continue
            if seconds <= ours:
                slower.append(f"{model} {batch}x{size} vs {tool}: {_seconds(ours)} against "
                              f"{_seconds(seconds)} ({ours / seconds:.2f}x slower)")
            if tool == "torchinfo" and (batch > 1 or size > 224) and seconds < FAST_ENOUGH * ours:
                torchinfo_short.append(f"{model} {batch}x{size}: {_ratio(seconds, ours)}")
    notes.append("- convscope faster than every peer on every row: "
                 + ("yes" if not slower else "no, " + "; ".join(slower)))
    if "torchinfo" in tools and any(batch > 1 or size > 224 for _, batch, size in results):
        notes.append(f"- at batch 64 or 512 px, at least {FAST_ENOUGH}x faster than torchinfo: "
                     + ("yes" if not torchinfo_short else "no, " + "; ".join(torchinfo_short)))
    measured = [v for v in growth.values() if "error" not in v]
    sizes = [s for v in measured for s in v.values()]
    if sizes and all("1x224" in v for v in measured):
        ratios = [s["ratio"] for s in sizes]
        notes.append(f"- convscope's time and peak against batch and size: time {min(ratios):.2f}x"
                     f" to {max(ratios):.2f}x of batch 1 at 224 px, peak at most "
                     f"{max(s['peak_mib'] for s in sizes):.1f} MiB at any size")
    return notes


def scaling_table(growth) -> list[str]:
    """convscope alone, sizes interleaved in one process: time against its batch 1, 224 px."""
    if not growth:
        return []
    keys = next(iter(v for v in growth.values() if "error" not in v), {}).keys()
    lines = ["| convscope alone | " + " | ".join(k.replace("x", " x ") for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for model, sizes in growth.items():
        if "error" in sizes:
            lines.append(f"| {model} | {sizes['error']} |")
            continue
        cells = [f"{s['seconds'] * 1000:.0f} ms ({s['ratio']:.2f}x), "
                 f"{s['peak_mib']:.1f} MiB" for s in sizes.values()]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def render(results, growth, tools, left_out, machine, wall_s) -> str:
    today = datetime.date.today().isoformat()
    parts = [f"convscope vs peers, {today}, {machine}; whole run {wall_s / 60:.1f} min", ""]
    if left_out:
        parts += [f"Left out: {name}: {why}" for name, why in left_out.items()] + [""]
    if any(r.get("peak_reset") is False for row in results.values() for r in row["tools"].values()):
        parts += ["Peaks counted from the warm-up's high-water mark: /proc/self/clear_refs "
                  "was not writable, so small peaks read as 0.", ""]
    parts += speed_table(results, tools) + [""] + memory_table(results, tools) + [""]
    parts += agreement_table(results, tools) + [""]
    if growth:
        parts += ["convscope's own time and peak per size, the sizes interleaved in one process "
                  "(median of the rounds; ratio: the median over the rounds of the time against "
                  "batch 1, 224 px's in the same round):", ""]
        parts += scaling_table(growth) + [""]
    parts += ["Targets:"] + targets(results, growth, tools)
    return "\n".join(parts)
