"""Helpers shared by the benchmark scripts: device sync, the median of repeated calls, and the report a run leaves."""
import statistics, sys, time
from pathlib import Path
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

def save_report(path, rows:list, device=None, env:dict|None=None, **meta):
    "Write a benchmark's rows with the command line, versions, machine and commit to the JSON file `path`; `env`: `env_info()` taken when the benchmark started (default: now)."
    from mosaic_nb.core import env_info, save_json
    return save_json(dict(command=' '.join(['python', *sys.argv]), env=env or env_info(device), **meta, rows=rows), Path(path))
