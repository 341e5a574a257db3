"""Wall time of a Mosaic run without and with its cached uploads (the state after the warm-up and the clients' upload).

    python benchmarks/upload_cache.py                                   # quick preset, Fashion-MNIST, 10 clients, alpha 0.1
    python benchmarks/upload_cache.py --preset cpu --threads 1          # the cpu preset (about an hour without the cache)
    python benchmarks/upload_cache.py --dataset synthetic --set fl.rounds=4 mosaic.finetune_rounds=1

Three runs of one setting in the same process, each into a fresh run folder, with a cache folder that starts empty:
  1. fresh: warm-up, upload, experts, meta model, distillation, fine-tune (the baseline; writes the cache);
  2. rerun: the same spec, as after a kill or a `--force` (reads the cache);
  3. server side: the same clients with other server settings (`--server`, default `mosaic.tokens=shared`; reads the cache).
The table prints each run's wall time, its stages and its speed-up over the fresh run, and checks that the rerun ends
exactly where the fresh run did (same test accuracy after every stage).
"""
import argparse, os, sys, time
import torch

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--preset', default='quick'); ap.add_argument('--dataset', default='fmnist')
    ap.add_argument('--clients', type=int, default=10); ap.add_argument('--alpha', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE', help='spec overrides for all three runs')
    ap.add_argument('--server', nargs='*', default=['mosaic.tokens=shared'], metavar='KEY=VALUE',
                    help='server-only overrides of the third run (default mosaic.tokens=shared)')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    ap.add_argument('--json', default=None, help='also write the rows, versions and machine to this JSON file')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    from mosaic_nb.core import env_info, get_device, parse_overrides, scratch_dir, set_quiet
    tmp = scratch_dir('mosaic-upload-bench-')            # its runs and cache, removed when the benchmark ends
    os.environ['MOSAIC_NB_CACHE'] = str(tmp/'cache')     # read at each cache access (dfkd.cache_root): an empty cache for this benchmark
    from mosaic_nb.runner import preset_spec, run
    set_quiet(True)
    base = {'data.dataset': a.dataset, 'data.clients': a.clients, 'data.alpha': a.alpha, 'seed': a.seed, **parse_overrides(a.set)}
    env = env_info(get_device(preset_spec(a.preset, 'mosaic', base).device))   # the code and machine as the runs start (they take minutes)
    specs = [('fresh', base), ('rerun', base), ('server side', {**base, **parse_overrides(a.server)})]
    print(f"Mosaic, {a.preset} preset, {a.dataset}, {a.clients} clients, alpha {a.alpha:g}, seed {a.seed}; "
          f"torch threads {torch.get_num_threads()}; server side: {' '.join(a.server)}\n")
    print('| run | upload cache | wall (s) | warm-up + upload (s) | experts + meta + distill + fine-tune (s) | final acc | speed-up |')
    print('|---|---|---|---|---|---|---|', flush=True)
    rows = []
    for name, over in specs:   # each row as soon as its run ends
        t0 = time.perf_counter()
        r = run(preset_spec(a.preset, 'mosaic', over), out=tmp/name.replace(' ', '-'), quiet=True, checkpoint_every=None)
        wall = time.perf_counter() - t0; rows.append((name, wall, r)); t = r['times']
        before = sum(t.get(k, 0) for k in ('warmup', 'local', 'upload', 'upload_cache'))
        after = sum(t.get(k, 0) for k in ('experts', 'meta', 'distill', 'finetune'))
        print(f"| {name} | {'hit' if r['upload_cache']['hit'] else 'miss'} | {wall:.1f} | {before:.1f} | {after:.1f} | "
              f"{r['test_acc']:.2f} | {rows[0][1] / wall:.2f} |", flush=True)
    same = rows[1][2]['stage_acc'] == rows[0][2]['stage_acc'] and rows[1][2]['test_acc'] == rows[0][2]['test_acc']
    print(f"\nrerun ends where the fresh run ended (every stage's test accuracy): {same}")
    if a.json:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from timing import save_report
        save_report(a.json, [dict(run=n, cache_hit=r['upload_cache']['hit'], wall_s=round(w, 1), times=r['times'],
                                  stage_acc=r['stage_acc'], test_acc=r['test_acc'], speedup=round(rows[0][1] / w, 2))
                             for n, w, r in rows], env=env, args=vars(a), rerun_identical=same)
    return 0 if same else 1

if __name__ == '__main__':
    raise SystemExit(main())
