"""`convscope memory`: the step's memory by kind, the peak, and what each layer keeps."""
from __future__ import annotations

import json
from dataclasses import asdict

from rich import box
from rich.table import Table

from . import units

NOTE = ("Counted: every tensor PyTorch creates at the op level, from allocation to its last "
        "reference. Not counted: kernel workspaces (oneDNN, im2col), allocator rounding and "
        "caching, Python and framework overhead (docs/memory.md).")


def memory_dict(report, batch_budget=None) -> dict:
    data = asdict(report)
    data["baseline_bytes"] = report.baseline_bytes
    data["layers"] = [{"name": l.name, "occurrence": l.occurrence, "saved_bytes": l.saved_bytes,
                       "tensors": [{"shape": list(s), "dtype": d} for s, d, _ in l.tensors]}
                      for l in report.layers]
    if batch_budget is not None:
        data["largest_batch"] = batch_budget
    return data


def render_memory_json(report, batch_budget=None) -> str:
    return json.dumps(memory_dict(report, batch_budget), indent=2)


def _parts(report) -> list[tuple[str, int]]:
    return [
        ("Parameters", report.param_bytes),
        ("Buffers", report.buffer_bytes),
        ("Inputs", report.input_bytes),
        (f"Optimizer state ({report.optimizer})", report.optimizer_bytes),
        ("Gradients", report.gradient_bytes),
        ("Saved for backward", report.saved_activation_bytes),
    ]


def _layer_table(report, limit: int = 20) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  title="What autograd keeps for backward, by the layer that made it")
    for header, justify in [("Layer", "left"), ("Kept", "right"), ("Tensors", "left")]:
        table.add_column(header, justify=justify)
    ranked = sorted(report.layers, key=lambda l: -l.saved_bytes)
    for layer in ranked[:limit]:
        tensors = ", ".join(f"{units.shape(s)} {d}" for s, d, _ in layer.tensors)
        table.add_row(layer.name or "(model)", units.nbytes(layer.saved_bytes), tensors)
    if len(ranked) > limit:
        rest = sum(l.saved_bytes for l in ranked[limit:])
        table.add_row(f"... {len(ranked) - limit} more layers", units.nbytes(rest),
                      "(--format json lists every layer)")
    return table


def print_memory(report, console, batch_budget=None, budget_text=None) -> None:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    for label, value in _parts(report):
        summary.add_row(label, units.nbytes(value))
    summary.add_row("Training step peak",
                    f"{units.nbytes(report.train_peak_bytes)} (during {report.peak_phase})")
    for phase, value in report.phase_peaks.items():
        summary.add_row(f"  peak in {phase}", units.nbytes(value))
    if report.inference_peak_bytes is not None:
        summary.add_row("Inference peak (no grad)", units.nbytes(report.inference_peak_bytes))
    if batch_budget is not None:
        summary.add_row(f"Largest batch within {budget_text}", f"{batch_budget:,}")
    console.print(f"Batch size {report.batch_size}, one training step:")
    console.print(summary)
    if report.layers:
        console.print(_layer_table(report))
    console.print(NOTE, style="dim")
