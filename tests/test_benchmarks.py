"""The benchmarks at a tiny CPU scale, so that a change of the library's API cannot break them unnoticed: the paper-cell
benchmark end to end (its data set, its cut runs and its projection of the paper's counts), and the others each print
their ratio against a baseline measured in the same run."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parents[1]/'benchmarks'))
import paper_cell, layout, teacher
from mosaic_nb.data import load_data
from mosaic_nb.core import load_json
from mosaic_nb.runner import preset_spec

TINY = ['device=cpu', 'precision=fp32', 'model.arch=cnn_mnist', 'mosaic.ngf=8', 'mosaic.ndf=8', 'mosaic.gen_batch=8',
        'mosaic.distill_batch=8', 'fl.batch_size=16']

@pytest.mark.parametrize('classes,name', [(10, 'cifar10'), (100, 'cifar100')])
def test_write_cifar(tmp_path, classes, name):
    root = paper_cell.write_cifar(tmp_path, 250, 100, classes)
    d = load_data(name, root=root)   # torchvision's files, through the normal loader
    assert (d.shape, d.classes, len(d.y_train), len(d.y_test)) == ((3, 32, 32), classes, 250, 100)
    assert d.x_train.min() >= -1 and d.x_train.max() <= 1 and len(d.y_train.unique()) == min(classes, 250)

def test_fit():
    assert paper_cell.fit(3., 5., 1, 2) == (2., 1.)          # 1 s fixed + 2 s per unit
    assert paper_cell.fit(3., 5., 2, 4) == (1., 1.)
    assert paper_cell.fit(5., 4., 1, 2) == (2., 0.)          # noise: proportional through the larger run
    assert paper_cell.fit(1., 5., 1, 2) == (2.5, 0.)         # a negative intercept is noise too

def test_paper_cell(tmp_path, capsys):
    out = tmp_path/'bench'
    assert paper_cell.main(['--algos', 'fedavg,mosaic', '--train', '200', '--test', '60', '--clients', '2', '--no-warmup',
                            '--out', str(out), '--set', *TINY]) == 0
    rep = load_json(out/'paper_cell.json')
    assert rep['device'] == 'cpu' and set(rep['algos']) == {'fedavg', 'mosaic'}
    paper = preset_spec('paper', 'mosaic')
    mos = {r['stage']: r for r in rep['algos']['mosaic']['stages']}
    assert {s: r['paper'] for s, r in mos.items()} == {   # the paper preset's counts, not the cut ones
        'warmup': paper.fl.rounds - paper.mosaic.finetune_rounds, 'upload': paper.mosaic.gen_steps,
        'meta': paper.mosaic.meta_steps, 'distill': paper.mosaic.distill_steps, 'finetune': paper.mosaic.finetune_rounds}
    assert mos['warmup']['measured'] == [2, 4] and mos['finetune']['measured'] == [1, 2]
    for r in mos.values(): assert r['projected_s'] == pytest.approx(r['fixed_s'] + r['ms_per_unit'] / 1e3 * r['paper'])
    total = sum(r['projected_s'] for r in mos.values()) + sum(rep['algos']['mosaic']['other_s']) / 2
    assert rep['algos']['mosaic']['projected_s'] == pytest.approx(total) and total > 0
    cfg = load_json(Path(rep['algos']['mosaic']['runs'][1])/'config.json')   # the paper preset with only the counts cut
    assert (cfg['preset'], cfg['fl']['rounds'], cfg['mosaic']['gen_steps'], cfg['mosaic']['distill_steps']) == ('paper', 6, 40, 40)
    assert (cfg['fl']['lr'], cfg['fl']['local_steps'], cfg['data']['dataset']) == (paper.fl.lr, paper.fl.local_steps, 'cifar10')
    caches = {p.name: [f.name for f in p.iterdir()] for p in (out/'cache').iterdir()}   # every run its own cache: none is timed on another's
    assert {'mosaic-x1', 'mosaic-x2'} <= set(caches) and all(len(v) == 1 for k, v in caches.items() if k.startswith('mosaic'))
    text = capsys.readouterr().out
    assert '| warmup | warm | 260 | 2, 4 |' in text and '| fedavg | fl.rounds | 300 | 2, 4 |' in text

def test_unknown_algo(capsys):
    with pytest.raises(SystemExit): paper_cell.main(['--algos', 'fedsgd'])
    assert 'no stage model for fedsgd' in capsys.readouterr().err

def _report(path, rows):
    "A benchmark's JSON report: its rows, and what produced them (command, versions, machine, commit)."
    rep = load_json(path)
    assert rep['rows'] == rows and rep['command'].startswith('python ')
    assert {'torch', 'cpu', 'device_name', 'threads', 'git_commit'} <= set(rep['env'])
    return rep

def test_layout_prints_both_speedups(capsys, tmp_path):
    rows = layout.main(['--archs', 'cnn_mnist', '--batch', '8', '--infer', '32', '--chunk', '16', '--warmup', '0', '--repeat', '2',
                        '--json', str(tmp_path/'layout.json')])
    row = next(l for l in capsys.readouterr().out.splitlines() if l.startswith('| cnn_mnist'))
    assert row.count('x |') == 2, row                                     # train step and inference, channels-last over contiguous
    assert _report(tmp_path/'layout.json', rows)['args']['archs'] == 'cnn_mnist' and rows[0]['train_speedup'] > 0

def test_teacher_times_every_configuration_against_its_baseline(capsys, tmp_path):
    rows = teacher.main(['--gens', '2', '--batch-per-gen', '4', '--ngf', '8', '--warmup', '0', '--repeat', '1', '--json', str(tmp_path/'t.json')])
    assert _report(tmp_path/'t.json', rows)['env']['device'] == 'cpu'
    assert rows[0]['speedup'] == 1.0 and (rows[0]['experts'], rows[0]['gate'], rows[0]['precision']) == ('loop', 'all', 'fp32')
    assert {(r['experts'], r['gate'], r['precision']) for r in rows} >= {('vmap', 'all', 'fp32'), ('loop', 'top-3', 'fp32'), ('loop', 'all', 'bf16')}
    assert all(r['step_ms'] > 0 and r['speedup'] > 0 for r in rows)
    assert 'measured in this run' in capsys.readouterr().out

def test_upload_cache_rerun_ends_where_the_fresh_run_ended(tmp_path):
    # its own process: the benchmark points MOSAIC_NB_CACHE at a fresh folder before the library reads it
    bench = Path(__file__).parents[1]/'benchmarks'/'upload_cache.py'
    p = subprocess.run([sys.executable, str(bench), '--dataset', 'synthetic', '--clients', '3', '--threads', '1', '--set',
                        'fl.rounds=3', 'mosaic.finetune_rounds=1', 'data.train_size=none', 'model.width=0.25', 'mosaic.gen_steps=3',
                        'mosaic.meta_steps=3', 'mosaic.distill_steps=2', '--json', str(tmp_path/'u.json')],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, 'MOSAIC_NB_QUIET': '1'})
    assert p.returncode == 0, (p.stdout + p.stderr)[-2000:]
    lines = [l for l in p.stdout.splitlines() if l.startswith('| ') and not l.startswith('| run')]
    assert [l.split(' | ')[1] for l in lines] == ['miss', 'hit', 'hit'], p.stdout          # fresh, rerun, server side
    assert 'rerun ends where the fresh run ended (every stage\'s test accuracy): True' in p.stdout
    rep = load_json(tmp_path/'u.json')
    assert [r['cache_hit'] for r in rep['rows']] == [False, True, True] and rep['rerun_identical'] and rep['rows'][0]['speedup'] == 1.0
