"""Same spec, same seed: the same numbers, bit for bit, on the CPU, for every family of method.

Each run of a pair gets its own cache, so the second run recomputes the one-shot local models and Mosaic's uploads
rather than reading the first run's: a cache hit would hide nondeterminism in exactly the stages that train generators."""
import pytest
from conftest import TINY, read_json

VARY = {'times', 'wall_time', 'step_ms', 'run_dir', 'path'}   # clock readings and this run's own folders

def _strip(r):
    "`r` without the entries that may differ between identical runs, at any depth."
    if isinstance(r, dict): return {k: _strip(v) for k, v in r.items() if k not in VARY}
    return [_strip(v) for v in r] if isinstance(r, list) else r

DFKD = ['dfkd.local_epochs=1', 'dfkd.epochs=2', 'dfkd.g_steps=2', 'dfkd.kd_steps=3', 'dfkd.synth_batch=16',
        'dfkd.kd_batch=16', 'dfkd.nz=16', 'dfkd.ngf=8', 'dfkd.pool=64', 'dfkd.ft_iters=2']
MOSAIC = ['mosaic.finetune_rounds=1', 'mosaic.gen_steps=5', 'mosaic.ngf=8', 'mosaic.ndf=8', 'mosaic.nz=16',
          'mosaic.meta_steps=10', 'mosaic.distill_steps=5', 'mosaic.distill_batch=8']
CASES = {'fedavg': [],            # the round loop: sampling, local SGD, averaging
         'mosaic': MOSAIC,        # client generators, KMeans prototypes, the meta model, distillation, fine-tune
         'coboosting': DFKD,      # one-shot local models, a server generator, ensemble weights, hard samples
         'dfrd': DFKD}            # per-round server fine-tuning with a conditional and an EMA generator

@pytest.mark.parametrize('algo', CASES)
def test_same_command_twice_gives_identical_metrics(algo, cli, tmp_path, monkeypatch):
    for d in ('a', 'b'):
        monkeypatch.setenv('MOSAIC_NB_CACHE', str(tmp_path/f'cache-{d}'))
        code, _, err = cli('run', '--algo', algo, *TINY, *CASES[algo], '--seed', '3', '--out', tmp_path/d)
        assert code == 0, err
    a, b = read_json(tmp_path/'a'/'result.json'), read_json(tmp_path/'b'/'result.json')
    if algo == 'mosaic': assert not a['upload_cache']['hit'] and not b['upload_cache']['hit']
    assert (tmp_path/'a'/'metrics.csv').read_text() == (tmp_path/'b'/'metrics.csv').read_text()
    assert _strip(a) == _strip(b)
    assert read_json(tmp_path/'a'/'config.json') == read_json(tmp_path/'b'/'config.json')

def test_another_seed_gives_another_run(cli, tmp_path):
    for d, s in (('a', 1), ('b', 2)): assert cli('run', *TINY, '--seed', s, '--out', tmp_path/d)[0] == 0
    assert read_json(tmp_path/'a'/'result.json')['label_counts'] != read_json(tmp_path/'b'/'result.json')['label_counts']
    assert (tmp_path/'a'/'metrics.csv').read_text() != (tmp_path/'b'/'metrics.csv').read_text()   # losses differ (accuracy saturates)
