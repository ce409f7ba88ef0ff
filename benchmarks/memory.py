"""Predicted against measured training-step peak for zoo models (issue 6's benchmark).

Measured: a real CPU step under torch.profiler's memory timeline (tests/measured_memory.py),
tensor-level, with the kernel workspace it sets apart printed beside it. Each measurement runs
in the same process after the prediction; inputs are smaller than 224 where noted to keep the
real steps affordable on 2 cores.

    python benchmarks/memory.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convscope import zoo  # noqa: E402
from convscope.memory import training_memory  # noqa: E402
from convscope.render.units import nbytes  # noqa: E402
from tests.measured_memory import measure_training_step  # noqa: E402

CASES = [
    ("resnet18", (3, 224, 224), [1, 8, 32]),
    ("resnet50", (3, 224, 224), [1, 8]),
    ("vgg11", (3, 128, 128), [1, 4]),
    ("mobilenet_v2", (3, 224, 224), [1, 8, 32]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 at batch 8 only")
    parser.add_argument("--optimizer", default="momentum")
    options = parser.parse_args()
    cases = [("resnet18", (3, 224, 224), [8])] if options.quick else CASES
    print("| model | input | batch | predicted peak | measured peak | predicted/measured "
          "| predicted - measured | kernel workspace (not predicted) | predict s |")
    print("|---|---|---|---|---|---|---:|---|---|")
    for name, size, batches in cases:
        torch.manual_seed(0)
        model = zoo.create(name)
        for batch in batches:
            start = time.perf_counter()
            predicted = training_memory(model, size, batch, options.optimizer, inference=False)
            seconds = time.perf_counter() - start
            measured = measure_training_step(model, torch.randn(batch, *size), options.optimizer)
            ratio = predicted.train_peak_bytes / measured["peak"]
            print(f"| {name} | {'x'.join(map(str, size))} | {batch} | "
                  f"{nbytes(predicted.train_peak_bytes)} | {nbytes(measured['peak'])} | "
                  f"{ratio:.4f} | {predicted.train_peak_bytes - measured['peak']:,} B | "
                  f"{nbytes(measured['workspace_peak'])} | {seconds:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
