"""Timing helpers shared by the benchmark scripts: device sync and the median of repeated calls."""
import statistics, time
import torch

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def timed(fn, dev, warmup, repeat):
    "Median seconds of `fn()` over `repeat` calls after `warmup` calls."
    for _ in range(warmup): fn()
    ts = []
    for _ in range(repeat):
        sync(dev); t0 = time.perf_counter(); fn(); sync(dev); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
