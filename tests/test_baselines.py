"""Every baseline through the command line on real Fashion-MNIST (quick preset): it beats chance clearly, and its
result.json holds the ensemble upper reference and the wall time of each stage."""
import pytest
from conftest import FMNIST, read_json

pytestmark = pytest.mark.skipif(not FMNIST.exists(), reason='Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)')

# 5 clients at Dirichlet 0.5 (DENSE's setting) keeps the one-shot ensembles cheap, and a stratified 12,000 / 2,000
# subset of the splits cuts local training and evaluation about fivefold. The
# one-shot methods share one set of cached local models, trained by whichever test runs first. (The full-split quick
# runs of every method, 10 clients at Dirichlet 0.1, are the README's baseline table.)
ARGS = ['--dataset', 'fmnist', '--clients', '5', '--alpha', '0.5', '--preset', 'quick',
        '--set', 'data.train_size=12000', 'data.test_size=2000']
ONESHOT = {'oneshot': set(), 'dense': {'synthesis', 'kd'}, 'fedadi': {'synthesis', 'kd'}, 'feddafl': {'synthesis', 'kd'},
           'coboosting': {'synthesis', 'kd'}}
ROUNDS = {'fedbn': set(), 'fedrs': set(), 'feddf': {'synthesis', 'kd'}, 'fedftg': {'server'}, 'dfrd': {'server'}}

RESULTS = {}

@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp('local-models')

@pytest.mark.parametrize('algo', [*ONESHOT, *ROUNDS])
def test_quick_run_beats_chance(cli, tmp_path, cache, monkeypatch, algo):
    monkeypatch.setenv('MOSAIC_NB_CACHE', str(cache))
    code, out, err = cli('run', '--algo', algo, *ARGS, '--out', tmp_path/algo)
    assert code == 0, err
    r = RESULTS[algo] = read_json(tmp_path/algo/'result.json')
    assert r['test_acc'] > 30, (algo, r['test_acc'])                      # chance is 10%
    assert 0 < r['ensemble_acc'] <= 100                                     # the upper reference is always reported
    stages = ONESHOT.get(algo, ROUNDS.get(algo))
    assert {'data', 'partition', algo, *stages} <= set(r['times']), r['times']
    if algo in ONESHOT:
        assert {'local', 'ensemble'} <= set(r['times']) and len(r['client_acc']) == 5
        assert r['local_cache']['path'].startswith(str(cache))

def test_one_shot_methods_distil_the_same_client_models():
    "Run after the quick runs above: every one-shot method found the same cached models, so their ensembles agree."
    runs = {a: r for a, r in RESULTS.items() if a in ONESHOT}
    if len(runs) < 2: pytest.skip('needs the one-shot quick runs of this module')
    assert len({r['local_cache']['key'] for r in runs.values()}) == 1
    assert len({(r['ensemble_acc'], tuple(r['client_acc'])) for r in runs.values()}) == 1
    assert sum(not r['local_cache']['hit'] for r in runs.values()) == 1     # trained once, then read back
