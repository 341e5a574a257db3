"""The command line end to end: a run leaves a complete folder, and every bad input is one clear line."""
import csv, json, os
from pathlib import Path
import pytest
from conftest import TINY, FMNIST, run_console, read_json

def test_run_writes_a_complete_run_folder(cli, tmp_path):
    code, out, err = cli('run', *TINY, '--out', tmp_path/'r')
    assert code == 0, err
    assert 'test accuracy' in out
    files = sorted(p.name for p in (tmp_path/'r').iterdir())
    assert files == ['config.json', 'curve.png', 'env.json', 'metrics.csv', 'partition.png', 'result.json']
    r = read_json(tmp_path/'r'/'result.json')
    for k in ('test_acc', 'algo', 'dataset', 'seed', 'times', 'label_counts'): assert k in r
    assert r['algo'] == 'fedavg' and r['dataset'] == 'synthetic' and r['rounds'] == 2
    assert 0 <= r['test_acc'] <= 100
    assert {'data', 'partition', 'fedavg'} <= set(r['times'])
    env = read_json(tmp_path/'r'/'env.json')
    assert env['torch'] and env['device'] == 'cpu'

def test_console_script_runs_and_show_reads_back(tmp_path):
    p = run_console('run', *TINY, '--algo', 'fedprox', '--out', tmp_path/'r')
    assert p.returncode == 0, p.stderr
    s = run_console('show', tmp_path/'r')
    assert s.returncode == 0 and 'fedprox on synthetic' in s.stdout

def test_partition_prints_the_table(cli):
    code, out, _ = cli('partition', '--dataset', 'digits', '--clients', '5', '--alpha', '0.1', '--seed', '1')
    assert code == 0
    assert 'digits' in out and len(out.splitlines()) >= 7      # title, header, 5 clients, totals

def test_datasets_lists_every_registered_name(cli):
    code, out, _ = cli('datasets')
    assert code == 0
    for name in ('fmnist', 'mnist', 'cifar10', 'cifar100', 'svhn', 'digits', 'synthetic'): assert name in out

def _corrupt_run(tmp_path, cli):
    d = tmp_path/'r'
    assert cli('run', *TINY, '--out', d)[0] == 0
    (d/'result.json').write_text('{"test_acc": 9')                 # cut short, as by a full disk
    return d

BAD = {
    'alpha zero':         (['run', *TINY, '--alpha', '0'], 'data.alpha must be > 0'),
    'alpha negative':     (['run', *TINY, '--alpha', '-0.3'], 'data.alpha must be > 0'),
    'unknown dataset':    (['run', '--dataset', 'imagenet'], 'data.dataset must be one of'),
    'unknown scheme':     (['run', *TINY, '--scheme', 'pathological'], 'data.scheme must be one of'),
    'unknown algo':       (['run', *TINY, '--algo', 'fedsgd'], 'algo must be one of'),
    'unknown preset':     (['run', *TINY, '--preset', 'huge'], 'unknown preset'),
    'unknown option':     (['run', *TINY, '--set', 'fl.learning_rate=1'], 'unknown option fl.learning_rate'),
    'override no =':      (['run', *TINY, '--set', 'fl.lr'], 'must look like key=value'),
    'more clients than samples': (['partition', '--dataset', 'digits', '--clients', '5000'], '5000 clients but only 1438 training samples'),
    'min_size impossible':(['run', '--dataset', 'digits', '--clients', '10', '--set', 'data.min_size=1000'], 'min_size'),
    'missing data dir':   (['run', '--dataset', 'fmnist', '--root', '/nonexistent/mosaic-data'], '/nonexistent/mosaic-data'),
    'missing run folder': (['show', '/nonexistent/run'], 'does not exist'),
    'width rate zero':    (['run', *TINY, '--widths', '1,0'], 'model.widths must be rates in (0, 1]'),
    'width letter':       (['run', *TINY, '--widths', 'a1-q1'], "HeteroFL's letters"),
    'unknown submodel':   (['run', *TINY, '--widths', '1,0.5', '--submodel', 'random'], 'model.submodel must be one of heterofl, fedrolex'),
    'widths with FedBN':  (['run', *TINY, '--algo', 'fedbn', '--set', 'model.arch=cnn_mnist', '--widths', '1,0.5'], 'FedBN keeps each client'),
}

@pytest.mark.parametrize('case', list(BAD))
def test_bad_input_is_one_clear_line(cli, case):
    args, expected = BAD[case]
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('mosaic-nb: error:'), err
    assert expected in lines[0], lines[0]
    assert 'Traceback' not in err

def test_corrupt_result_file_is_one_clear_line_and_nothing_is_destroyed(cli, tmp_path):
    d = _corrupt_run(tmp_path, cli)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    for args in (['show', d], ['run', *TINY, '--out', d]):
        code, _, err = cli(*args)
        assert code == 2 and 'is corrupt' in err and 'delete it' in err and len(err.strip().splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before

def test_a_folder_never_mixes_experiments(cli, tmp_path):
    assert cli('run', *TINY, '--out', tmp_path/'r')[0] == 0
    before = (tmp_path/'r'/'result.json').read_bytes()
    code, _, err = cli('run', *TINY, '--seed', '1', '--out', tmp_path/'r')
    assert code == 2 and 'holds a different experiment' in err
    assert (tmp_path/'r'/'result.json').read_bytes() == before

def test_traceback_free_error_from_the_real_console_script():
    p = run_console('run', '--alpha', '0')
    assert p.returncode == 2 and p.stderr.startswith('mosaic-nb: error:') and 'Traceback' not in p.stderr

@pytest.mark.skipif(not FMNIST.exists(), reason='Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)')
def test_fedavg_quick_on_real_fashion_mnist(cli, tmp_path):
    "The foundation's promise: FedAvg, 10 clients, Dirichlet 0.5, quick preset: >= 70% on the full test set."
    code, out, err = cli('run', '--algo', 'fedavg', '--dataset', 'fmnist', '--clients', '10', '--alpha', '0.5',
                         '--preset', 'quick', '--out', tmp_path/'r')
    assert code == 0, err
    r = read_json(tmp_path/'r'/'result.json')
    assert r['test_acc'] >= 70, r['test_acc']
    assert r['n_test'] == 10000                      # scored on the full test set

@pytest.mark.parametrize('submodel', ['heterofl', 'fedrolex'])
def test_width_heterogeneous_run(cli, tmp_path, submodel):
    "HeteroFL / FedRolex from the command line: each client's width is recorded and the global model learns."
    out = tmp_path/submodel
    code, stdout, err = cli('run', *TINY, '--rounds', '3', '--widths', '1,0.5,0.25', '--submodel', submodel, '--out', out)
    assert code == 0, err
    r, cfg = read_json(out/'result.json'), read_json(out/'config.json')
    assert r['client_widths'] == [1.0, 0.5, 0.25, 1.0] and cfg['model']['widths'] == '1,0.5,0.25' and cfg['model']['submodel'] == submodel
    assert r['test_acc'] > 30 and r['ensemble_acc'] > 30, r                       # chance is 10%

def test_mosaic_with_width_heterogeneous_clients(cli, tmp_path):
    "The same command line as issue 6's, on generated data: sub-model uploads, per-coordinate experts, smallest-width prototypes."
    out = tmp_path/'m'
    code, _, err = cli('run', *TINY, '--algo', 'mosaic', '--rounds', '3', '--widths', '1,0.5,0.25', '--set', 'mosaic.finetune_rounds=1',
                       'mosaic.gen_steps=20', 'mosaic.distill_steps=20', '--out', out)
    assert code == 0, err
    r = read_json(out/'result.json')
    assert r['client_widths'] == [1.0, 0.5, 0.25, 1.0] and r['prototype_width'] == 0.25 and r['prototypes'] > 0
    assert r['stage_acc']['global'] > 30 and r['test_acc'] > 30, r['stage_acc']

@pytest.mark.skipif(not FMNIST.exists(), reason='Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)')
@pytest.mark.skipif(os.environ.get('MOSAIC_NB_SLOW') in (None, '', '0'), reason='5 minutes on 2 CPU cores; run with MOSAIC_NB_SLOW=1 (CI runs the synthetic-data version)')
def test_mosaic_with_width_heterogeneous_clients_on_fashion_mnist(tmp_path):
    "Issue 6's command, unchanged: Mosaic with HeteroFL clients at widths 1, 1/2, 1/4 on Fashion-MNIST, quick preset."
    out = tmp_path/'r'
    p = run_console('run', '--algo', 'mosaic', '--dataset', 'fmnist', '--clients', '10', '--alpha', '0.1', '--widths', '1,0.5,0.25',
                    '--preset', 'quick', '--out', out, timeout=1200)
    assert p.returncode == 0, p.stderr
    r = read_json(out/'result.json')
    assert r['client_widths'] == [1.0, 0.5, 0.25] * 3 + [1.0] and r['prototype_width'] == 0.25
    assert [g['n'] for g in r['generators']] and len(r['generators']) == 10
    assert r['test_acc'] > 40 and r['stage_acc']['global'] > 40, r['stage_acc']      # chance is 10%

def test_architecture_mix_run(cli, tmp_path):
    "Clients of three families and a cnn_mnist server: DENSE and Mosaic distil their logit ensemble; FedAvg refuses with the reason."
    mix = ['--archs', 'cnn_mnist,lenet5,cnn', '--set', 'model.arch=cnn_mnist', 'dfkd.local_epochs=2']
    code, _, err = cli('run', *TINY, '--algo', 'mosaic', *mix, 'mosaic.gate=mean', 'mosaic.finetune_rounds=0', 'mosaic.gen_steps=20',
                       'mosaic.distill_steps=20', '--out', tmp_path/'m')
    assert code == 0, err
    r = read_json(tmp_path/'m'/'result.json')
    assert r['client_archs'] == ['cnn_mnist', 'lenet5', 'cnn', 'cnn_mnist'] and r['stage_acc']['ensemble'] > 30, r['stage_acc']
    assert r['ensemble_acc'] > 30 and 'warmup' not in r['times']
    code, _, err = cli('run', *TINY, '--algo', 'dense', *mix, 'dfkd.epochs=2', 'dfkd.g_steps=2', 'dfkd.kd_steps=5', '--out', tmp_path/'d')
    assert code == 0, err
    assert read_json(tmp_path/'d'/'result.json')['ensemble_acc'] > 30
    code, _, err = cli('run', *TINY, '--algo', 'fedavg', *mix, '--out', tmp_path/'f')
    assert code == 2 and 'share none' in err, err
    code, _, err = cli('run', *TINY, '--algo', 'mosaic', *mix, 'mosaic.finetune_rounds=1', '--out', tmp_path/'g')
    assert code == 2 and 'mosaic.gate=mean mosaic.finetune_rounds=0' in err, err

def test_compare_runs_each_algorithm_and_prints_its_table(tmp_path):
    # `make run`'s command (README's main job) end to end through the console script, at the tiny scale: one run folder
    # per algorithm on the same spec, and the table printed and written as markdown and CSV
    out = tmp_path/'cmp'
    p = run_console('compare', '--algos', 'fedavg,mosaic', '--dataset', 'synthetic', '--clients', '4', '--alpha', '0.5',
                    '--rounds', '3', '--preset', 'quick', '--set', 'data.train_size=none', 'model.width=0.25', 'mosaic.finetune_rounds=1', 'mosaic.gen_steps=5',
                    'mosaic.meta_steps=5', 'mosaic.distill_steps=3', '--out', out, env={'OMP_NUM_THREADS': '1'})
    assert p.returncode == 0, p.stderr[-2000:]
    rows = list(csv.DictReader(open(out/'compare.csv')))
    assert [r['algo'] for r in rows] == ['fedavg', 'mosaic'] and all(10 < float(r['test_acc']) <= 100 for r in rows), rows
    assert (out/'compare.md').read_text() in p.stdout
    for algo in ('fedavg', 'mosaic'):
        r = read_json(out/algo/'result.json')
        assert (r['algo'], r['rounds'], r['clients']) == (algo, 3, 4)
    assert read_json(out/'fedavg'/'config.json')['data'] == read_json(out/'mosaic'/'config.json')['data']   # the same data and partition
