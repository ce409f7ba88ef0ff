"""Does `analyze` cost the same at any batch size and resolution? (issue 2's benchmark)

The sizes run interleaved in one fresh process, round after round, so that the machine's load
(this VM's host steals CPU in bursts) hits them alike: per size, the median and the fastest
analysis, and how far the peak resident memory rose during one analysis (the peak is reset
before each, see ``peer_tools``). A real batch-1 forward of the same model, in its own process,
is the yardstick the trace must beat.

    python benchmarks/scaling.py [--model resnet50] [--rounds 15]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CONFIGS = [(1, 224), (256, 224), (1, 1024), (256, 1024)]


def real_forward(model_name: str, repeat: int) -> dict:
    import torch

    from convscope import zoo

    torch.set_num_threads(1)
    model = zoo.create(model_name).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "fastest": min(times)}


def interleaved(model_name: str, rounds: int) -> dict:
    from peer_tools import scaling

    return scaling(model_name, CONFIGS, rounds, threads=1)


def in_subprocess(task: str, *args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps([task, *args])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--child")
    options = parser.parse_args()
    if options.child:
        task, *args = json.loads(options.child)
        print(json.dumps({"interleaved": interleaved, "real": real_forward}[task](*args)))
        return
    sizes = in_subprocess("interleaved", options.model, options.rounds)
    forward = in_subprocess("real", options.model, options.rounds)
    base = sizes["1x224"]
    print(f"| {options.model} analyze, {options.rounds} rounds | median s | vs batch 1 @ 224 | "
          "fastest s | vs batch 1 @ 224 | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for batch, size in CONFIGS:
        row = sizes[f"{batch}x{size}"]
        print(f"| batch {batch} @ {size} | {row['seconds']:.4f} | "
              f"{row['seconds'] / base['seconds']:.2f} | {row['fastest']:.4f} | "
              f"{row['fastest'] / base['fastest']:.2f} | {row['peak_mib']:.1f} |")
    print(f"\nreal forward, batch 1 @ 224, one thread: {forward['seconds']:.4f} s median, "
          f"{forward['fastest']:.4f} s fastest (analyze is "
          f"{forward['seconds'] / base['seconds']:.2f}x faster at the median)")


if __name__ == "__main__":
    main()
