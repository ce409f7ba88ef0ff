"""Does `analyze` cost the same at any batch size and resolution? (issue 2's benchmark)

Each configuration runs in its own process: median wall time of several analyses after a
warm-up, and the growth of peak resident memory during them. A real batch-1 forward of the same
model is timed alongside, as the yardstick the trace must beat.

    python benchmarks/scaling.py [--model resnet50] [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = [(1, 224), (256, 224), (1, 1024), (256, 1024)]


def measure(model_name: str, batch: int, size: int, repeat: int, real: bool) -> dict:
    import torch

    import convscope
    from convscope import zoo

    model = zoo.create(model_name).eval()
    if real:
        x = torch.randn(batch, 3, size, size)
        run = lambda: model(x)  # noqa: E731
    else:
        run = lambda: convscope.analyze(model, (3, size, size), batch_size=batch)  # noqa: E731
    with torch.no_grad():
        run()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": statistics.median(times), "peak_growth_mib": (after - before) / 1024}


def in_subprocess(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child")
    options = parser.parse_args()
    if options.child:
        print(json.dumps(measure(*json.loads(options.child))))
        return
    base = in_subprocess(options.model, 1, 224, options.repeat, False)
    forward = in_subprocess(options.model, 1, 224, options.repeat, True)
    print(f"| {options.model} analyze | seconds | vs batch 1 @224 | peak growth MiB |")
    print("|---|---|---|---|")
    for batch, size in CONFIGS:
        row = base if (batch, size) == (1, 224) else in_subprocess(
            options.model, batch, size, options.repeat, False)
        print(f"| batch {batch} @ {size} | {row['seconds']:.4f} | "
              f"{row['seconds'] / base['seconds']:.2f} | {row['peak_growth_mib']:.1f} |")
    print(f"\nreal forward, batch 1 @ 224: {forward['seconds']:.4f} s "
          f"(analyze is {forward['seconds'] / base['seconds']:.2f}x faster)")


if __name__ == "__main__":
    main()
