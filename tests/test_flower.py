"""The Flower engine: the same experiment through Flower's simulation engine (Ray) ends where the in-process engine ends."""
import csv, os
import pytest
from conftest import FMNIST, TINY, read_json, run_console

flwr = pytest.importorskip('flwr', reason="the optional extra: pip install 'mosaic_nb[flower]' (make setup installs it)")

def _curve(out):
    return [(r['round'], r['test_acc']) for r in csv.DictReader(open(out/'metrics.csv')) if r.get('test_acc')]

def test_flower_refuses_what_it_cannot_run_yet(cli, tmp_path):
    code, _, err = cli('run', '--algo', 'fedbn', *TINY, '--engine', 'flower', '--out', tmp_path/'bn')
    assert code == 2 and 'fedbn does not run on Flower yet' in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path/'bn').exists()                                # refused before anything was written
    code, _, err = cli('run', '--algo', 'fedavg', *TINY, '--engine', 'grpc', '--out', tmp_path/'x')
    assert code == 2 and "invalid choice: 'grpc'" in err

def test_a_killed_node_is_reported_and_the_run_goes_on(tmp_path):
    # SIGKILL one of the simulation's worker processes (a Ray actor that runs ClientApps) after round 2: the clients it
    # should have served fail, are left out of their rounds and listed in result.json; the run finishes all its rounds
    import os, signal, subprocess, sys, time
    from pathlib import Path
    out = tmp_path/'killed'
    args = ['run', '--algo', 'fedavg', *TINY, '--rounds', '6', '--set', 'fl.local_steps=30', '--engine', 'flower',
            '--out', out, '--checkpoint-every', '-1']
    exe = Path(sys.executable).parent/'mosaic-nb'
    p = subprocess.Popen([str(exe), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'MOSAIC_NB_QUIET': '1', 'OMP_NUM_THREADS': '1'})
    killed, t0 = None, time.monotonic()
    while p.poll() is None and killed is None and time.monotonic() - t0 < 300:
        m = out/'metrics.csv'
        if m.exists() and len(m.read_text().splitlines()) >= 3:             # header + 2 rounds logged
            pids = subprocess.run(['pgrep', '-f', 'ClientAppActor'], capture_output=True, text=True).stdout.split()
            if pids: killed = int(pids[0]); os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    _, err = p.communicate(timeout=600)
    assert killed is not None, 'the run ended before a worker could be killed'
    assert p.returncode == 0, err[-2000:]
    r = read_json(out/'result.json')
    assert r['rounds'] == 6 and r['failed_clients'], r['failed_clients']
    assert all(f['round'] >= 3 and ('died' in f['reason'] or 'dead' in f['reason']) for f in r['failed_clients']), r['failed_clients']
    clients = [int(x['clients']) for x in csv.DictReader(open(out/'metrics.csv'))]
    assert clients[:2] == [4, 4] and min(clients[2:]) < 4, clients

def _both_engines(tmp_path, args):
    one = {'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    a = run_console(*args, '--out', tmp_path/'inprocess', env=one)
    b = run_console(*args, '--engine', 'flower', '--out', tmp_path/'flower', env=one)
    assert a.returncode == 0, a.stderr[-2000:]
    assert b.returncode == 0, b.stderr[-2000:]
    return read_json(tmp_path/'inprocess'/'result.json'), read_json(tmp_path/'flower'/'result.json')

def test_mosaic_with_sub_models_on_flower_matches_inprocess(tmp_path):
    # Mosaic whole on 3 Flower nodes, clients at widths 1 and 1/2: warm-up and fine-tune rounds as `train` messages (each
    # node gets its sub-model's part of the global state and sends back a state checked against that sub-model), the
    # one-shot upload (local model, generator, prototypes, counts) as `query.upload`; experts, meta model and distillation
    # on the server. One torch thread per process on both sides: the same bits
    ra, rb = _both_engines(tmp_path, ['run', '--algo', 'mosaic', *TINY, '--clients', '3', '--rounds', '3', '--widths', '1,0.5',
                                      '--set', 'mosaic.finetune_rounds=1', 'mosaic.gen_steps=10', 'mosaic.meta_steps=10', 'mosaic.distill_steps=5'])
    assert (ra['engine'], rb['engine'], rb['nodes'], rb['failed_clients']) == ('inprocess', 'flower', 3, [])
    assert rb['client_widths'] == ra['client_widths'] == [1.0, 0.5, 1.0]
    assert rb['stage_acc'] == ra['stage_acc'] and rb['test_acc'] == ra['test_acc'], (ra['stage_acc'], rb['stage_acc'])
    assert _curve(tmp_path/'flower') == _curve(tmp_path/'inprocess')

@pytest.mark.skipif(not os.environ.get('MOSAIC_NB_SLOW') or not FMNIST.exists(), reason='slow (minutes): MOSAIC_NB_SLOW=1, Fashion-MNIST')
def test_quick_preset_mosaic_with_three_flower_nodes(tmp_path):
    # issue 7's command: the quick preset on Fashion-MNIST, 3 clients, Dirichlet 0.1
    ra, rb = _both_engines(tmp_path, ['run', '--algo', 'mosaic', '--dataset', 'fmnist', '--clients', '3', '--alpha', '0.1', '--preset', 'quick'])
    assert rb['failed_clients'] == [] and rb['test_acc'] == ra['test_acc'] and rb['stage_acc'] == ra['stage_acc'], (ra['stage_acc'], rb['stage_acc'])
