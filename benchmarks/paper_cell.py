"""Time per stage of one `paper`-preset cell (ResNet-18, CIFAR-shaped data) and the projected time of the full cell.

    python benchmarks/paper_cell.py                                   # on a CUDA machine: FedAvg and Mosaic, CIFAR-10 shape
    python benchmarks/paper_cell.py --algos mosaic,dense,coboosting --dataset cifar100
    python benchmarks/paper_cell.py --set device=cpu precision=fp32 model.arch=cnn_mnist --train 2000 --test 500   # a check on a CPU

No CIFAR download is needed: the script writes a learnable CIFAR-shaped data set (`data.make_synthetic`: one smooth
pattern per class plus noise, 3x32x32, 50,000 + 10,000 images by default) in torchvision's `cifar-10-batches-py` /
`cifar-100-python` files, and the runs read it through the normal loader, augmentation included. Unit costs do not depend
on what the images show, so the times are the paper preset's; the accuracies are not CIFAR's and are not reported.

Each algorithm's stages scale with one count of the spec (Mosaic: warm-up rounds, generator steps, meta steps,
distillation steps, fine-tune rounds; DENSE and Co-Boosting: local epochs, then synthesis + KD epochs; FedAvg-like
methods: rounds). For each algorithm the script runs the paper spec with those counts cut to `n` and to `2n`, in fresh
run folders, each with its own empty cache (after one discarded warm-up run that pays CUDA's start-up), fits
time = fixed + per-unit x count to each stage through the two points, and projects the paper's counts:

    | stage | paper count | ms per unit | fixed (s) | projected (s) |

The projection assumes each stage's cost is linear in its count, which holds for loops of equal steps (a round, a
generator step); evaluation every `fl.eval_every` rounds is part of the per-round cost. Everything is also written to
`OUT/paper_cell.json` (after each algorithm) with the device, versions and the measured runs' folders. An algorithm that
fails is reported with its traceback and the others still run; the exit status is then 1.
"""
import argparse, json, os, pickle, platform, tempfile, time, traceback
from pathlib import Path
import numpy as np
import torch

# Each algorithm's stages (timer names in result.json 'times') and the spec count each one scales with. A count is a
# dotted spec key, or 'warm' (Mosaic's warm-up rounds: fl.rounds - mosaic.finetune_rounds). `base` holds the cut counts n.
_FL = {'stages': {'{algo}': 'fl.rounds'}, 'base': {'fl.rounds': 2}}
_ONESHOT = {'stages': {'local': 'dfkd.local_epochs', 'synthesis': 'dfkd.epochs', 'kd': 'dfkd.epochs'},
            'base': {'dfkd.local_epochs': 1, 'dfkd.epochs': 2}}
UNITS = {**{a: _FL for a in ('fedavg', 'fedprox', 'fedbn', 'fedrs', 'feddf', 'fedftg', 'dfrd')},
         **{a: _ONESHOT for a in ('dense', 'fedadi', 'feddafl', 'coboosting')},
         'mosaic': {'stages': {'warmup': 'warm', 'upload': 'mosaic.gen_steps', 'meta': 'mosaic.meta_steps',
                               'distill': 'mosaic.distill_steps', 'finetune': 'mosaic.finetune_rounds'},
                    'base': {'warm': 2, 'mosaic.finetune_rounds': 1, 'mosaic.gen_steps': 20, 'mosaic.meta_steps': 20,
                             'mosaic.distill_steps': 20}}}

def write_cifar(folder:Path, n_train:int, n_test:int, classes:int, seed:int=0) -> Path:
    "A CIFAR-shaped `make_synthetic` set in torchvision's files under `folder`; returns the data root."
    from mosaic_nb.data import make_synthetic
    d = make_synthetic(n_train, n_test, (3, 32, 32), classes, seed=seed)
    u8 = lambda x: ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).reshape(len(x), -1).numpy()
    xs, ys = (u8(d.x_train), u8(d.x_test)), (d.y_train.numpy(), d.y_test.numpy())
    c10 = classes == 10
    sub = folder/('cifar-10-batches-py' if c10 else 'cifar-100-python'); sub.mkdir(parents=True, exist_ok=True)
    key, names = ('labels', [f'data_batch_{i}' for i in range(1, 6)]) if c10 else ('fine_labels', ['train'])
    for name, x, y in zip(names, np.array_split(xs[0], len(names)), np.array_split(ys[0], len(names))):
        with open(sub/name, 'wb') as f: pickle.dump({'data': x, key: y.tolist()}, f, protocol=2)
    with open(sub/('test_batch' if c10 else 'test'), 'wb') as f: pickle.dump({'data': xs[1], key: ys[1].tolist()}, f, protocol=2)
    return folder

def counts(spec, algo:str) -> dict:
    "The spec's value of every count that one of `algo`'s stages scales with."
    def get(k):
        if k == 'warm': return spec.fl.rounds - spec.mosaic.finetune_rounds
        sec, name = k.split('.'); return getattr(getattr(spec, sec), name)
    return {k: get(k) for k in set(UNITS[algo]['stages'].values())}

def cut(algo:str, m:int) -> dict:
    "Overrides that set each of `algo`'s counts to m x its base count."
    b = {k: v * m for k, v in UNITS[algo]['base'].items()}
    if 'warm' in b: b = {**{k: v for k, v in b.items() if k != 'warm'}, 'fl.rounds': b['warm'] + b['mosaic.finetune_rounds']}
    return b

def fit(t1:float, t2:float, n1:float, n2:float) -> tuple:
    "(seconds per unit, fixed seconds) of the line through (n1, t1) and (n2, t2), or through (0, 0) and (n2, t2) where that line would cross zero above 0 units (timing noise)."
    slope = (t2 - t1) / (n2 - n1)
    if slope <= 0 or t1 - slope * n1 < 0: return t2 / n2, 0.
    return slope, t1 - slope * n1

def measure(algo:str, base:dict, out:Path, warmup:bool=True) -> dict:
    "Run `algo`'s paper spec cut to n and 2n (after a discarded warm-up run), print its stage table and return its report."
    from mosaic_nb.runner import preset_spec, run
    stages = {s.format(algo=algo): k for s, k in UNITS[algo]['stages'].items()}
    paper = preset_spec('paper', algo, base)
    def fresh(spec, name):   # each run its own empty cache: a cached stage (local models, uploads) would be timed at ~0 s
        os.environ['MOSAIC_NB_CACHE'] = str(out/'cache'/name)
        return run(spec, out=out/name, quiet=True, checkpoint_every=None)
    if warmup: fresh(preset_spec('paper', algo, {**base, **cut(algo, 1)}), f'{algo}-warmup')
    pts = []
    for m in (1, 2):
        spec = preset_spec('paper', algo, {**base, **cut(algo, m)})
        r = fresh(spec, f'{algo}-x{m}')
        pts.append((counts(spec, algo), r['times'], r['wall_time'], r['run_dir']))
    full, rows, total = counts(paper, algo), [], 0.
    for s, k in stages.items():
        (c1, t1, *_), (c2, t2, *_) = pts
        per, fixed = fit(t1.get(s, 0.), t2.get(s, 0.), c1[k], c2[k])
        proj = fixed + per * full[k]; total += proj
        rows.append(dict(stage=s, count=k, paper=full[k], measured=[c1[k], c2[k]], seconds=[t1.get(s, 0.), t2.get(s, 0.)],
                         ms_per_unit=per * 1e3, fixed_s=fixed, projected_s=proj))
    rest = [w - sum(t.get(s, 0.) for s in stages) for _, t, w, _ in pts]   # data, partition, experts, evaluation...: fixed
    total += (rest[0] + rest[1]) / 2
    rep = dict(stages=rows, other_s=rest, projected_s=total, runs=[p[3] for p in pts])
    print(f"**{algo}** (other, fixed: {sum(rest) / 2:.1f} s; projected cell: {total / 3600:.2f} h)\n")
    print('| stage | scales with | paper count | measured at | ms per unit | fixed (s) | projected (s) |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['stage']} | {r['count']} | {r['paper']:g} | {r['measured'][0]:g}, {r['measured'][1]:g} | "
              f"{r['ms_per_unit']:.1f} | {r['fixed_s']:.1f} | {r['projected_s']:.0f} |")
    print(flush=True)
    return rep

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--algos', default='fedavg,mosaic', help=f"comma-separated, of: {', '.join(UNITS)}")
    ap.add_argument('--dataset', default='cifar10', choices=('cifar10', 'cifar100'), help='the shape and class count')
    ap.add_argument('--train', type=int, default=50000); ap.add_argument('--test', type=int, default=10000)
    ap.add_argument('--clients', type=int, default=10); ap.add_argument('--alpha', type=float, default=0.1)
    ap.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE', help='spec overrides for every run (e.g. device=cpu)')
    ap.add_argument('--no-warmup', action='store_true', help='skip the discarded first run')
    ap.add_argument('--out', default=None, help='folder for the runs and paper_cell.json (default: a new temporary folder)')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    a = ap.parse_args(argv)
    algos = [x for x in a.algos.split(',') if x]
    bad = [x for x in algos if x not in UNITS]
    if bad: ap.error(f"no stage model for {', '.join(bad)}; choose from {', '.join(UNITS)}")
    if a.threads: torch.set_num_threads(a.threads)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix='mosaic-paper-cell-'))
    out.mkdir(parents=True, exist_ok=True)
    from mosaic_nb.core import parse_overrides, set_quiet, get_device
    from mosaic_nb.runner import preset_spec
    set_quiet(True)
    classes = 10 if a.dataset == 'cifar10' else 100
    t0 = time.perf_counter(); root = write_cifar(out/'data', a.train, a.test, classes)
    print(f"CIFAR-shaped data ({a.train} + {a.test} images, {classes} classes) written in {time.perf_counter() - t0:.1f} s")
    base = {'data.dataset': a.dataset, 'data.root': str(root), 'data.clients': a.clients, 'data.alpha': a.alpha,
            'data.augment': True, **parse_overrides(a.set)}
    dev = get_device(preset_spec('paper', algos[0], base).device)
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else platform.processor() or platform.machine()
    report = dict(device=str(dev), device_name=name, torch=torch.__version__, dataset=a.dataset, n_train=a.train, n_test=a.test,
                  clients=a.clients, alpha=a.alpha, overrides=a.set, algos={})
    print(f"paper preset on {dev} ({name}), torch {torch.__version__}; {a.clients} clients, alpha {a.alpha:g}\n")
    failed = {}
    for algo in algos:
        try: report['algos'][algo] = measure(algo, base, out, warmup=not a.no_warmup)
        except Exception as e:   # one algorithm's failure (a device bug, say) must not cost the others' measurements
            failed[algo] = ''.join(traceback.format_exception(e)); report['failed'] = failed
            print(f"**{algo}** failed:\n{failed[algo]}", flush=True)
        tmp = out/'paper_cell.json.tmp'; tmp.write_text(json.dumps(report, indent=1)); tmp.replace(out/'paper_cell.json')   # after each algorithm: a run cut short keeps what it measured
    print(f"written: {out/'paper_cell.json'}")
    if failed: print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0

if __name__ == '__main__':
    raise SystemExit(main())
