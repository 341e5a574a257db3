"""The Flower engine: the same experiment through Flower's simulation engine (Ray) ends where the in-process engine ends."""
import csv, os
import pytest
from conftest import FMNIST, TINY, read_json, run_console

flwr = pytest.importorskip('flwr', reason="the optional extra: pip install 'mosaic_nb[flower]' (make setup installs it)")

def _curve(out):
    "Every logged row (losses included: a saturated test accuracy would hide a client that trained differently)."
    return list(csv.DictReader(open(out/'metrics.csv')))

def test_flower_refuses_bad_engine_options(cli, tmp_path):
    code, _, err = cli('run', '--algo', 'fedavg', *TINY, '--engine', 'grpc', '--out', tmp_path/'x')
    assert code == 2 and "invalid choice: 'grpc'" in err
    for extra in (['--node-timeout', '5'], ['--engine', 'flower', '--node-timeout', '0']):   # a timeout is for Flower, and positive
        code, _, err = cli('run', '--algo', 'fedavg', *TINY, *extra, '--out', tmp_path/'t')
        assert code == 2 and 'a node timeout (got ' in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path/'t').exists()                             # refused before anything was written
    for algo, extra in (('fedbn', []), ('fedavg', ['--widths', '1,0.5'])):   # Flower's own strategies average whole arrays
        code, _, err = cli('run', '--algo', algo, *TINY, *extra, '--engine', 'flower-strategy', '--out', tmp_path/'s')
        assert code == 2 and "Flower's own strategies run FedAvg and FedProx" in err and '--engine flower' in err, err
        assert not (tmp_path/'s').exists()

def test_nodes_that_do_not_answer_in_time_are_reported(tmp_path):
    # a round's replies are awaited --node-timeout seconds; here none can arrive in time, so the run stops with that reason
    # (a client that misses the deadline while others answer is left out of the round, like a failed one: see the next test)
    r = run_console('run', '--algo', 'fedavg', *TINY, '--engine', 'flower', '--node-timeout', '0.001', '--out', tmp_path/'t')
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and err and 'round 1: none of the 4 clients replied (first: no reply within 0.001 s)' in err[-1], r.stderr[-2000:]
    assert not (tmp_path/'t'/'result.json').exists()

def _actors(pid:int) -> list:
    "Process ids of the Ray workers running ClientApps that process `pid` started (Ray's raylet is its child, they are the raylet's)."
    import psutil
    out = []
    for c in psutil.Process(pid).children(recursive=True):
        try:
            if 'ClientAppActor' in ' '.join(c.cmdline()): out.append(c.pid)
        except psutil.Error: pass                                            # gone meanwhile
    return out

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
            pids = _actors(p.pid)                                            # this run's workers, no other Ray's
            if pids: killed = pids[0]; os.kill(killed, signal.SIGKILL)
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
    # on the server. One torch thread per process on both sides: the same bits. The fine-tune round has its own learning
    # rate (mosaic.finetune_lr), which the nodes must train with: each message carries the spec the server trains under
    ra, rb = _both_engines(tmp_path, ['run', '--algo', 'mosaic', *TINY, '--clients', '3', '--rounds', '3', '--widths', '1,0.5',
                                      '--set', 'mosaic.finetune_rounds=1', 'mosaic.finetune_lr=0.5', 'mosaic.gen_steps=10',
                                      'mosaic.meta_steps=10', 'mosaic.distill_steps=5'])
    assert (ra['engine'], rb['engine'], rb['nodes'], rb['failed_clients']) == ('inprocess', 'flower', 3, [])
    assert rb['client_widths'] == ra['client_widths'] == [1.0, 0.5, 1.0]
    assert rb['stage_acc'] == ra['stage_acc'] and rb['test_acc'] == ra['test_acc'], (ra['stage_acc'], rb['stage_acc'])
    assert _curve(tmp_path/'flower') == _curve(tmp_path/'inprocess')

@pytest.mark.skipif(not os.environ.get('MOSAIC_NB_SLOW') or not FMNIST.exists(), reason='slow (minutes): MOSAIC_NB_SLOW=1, Fashion-MNIST')
def test_quick_preset_mosaic_with_three_flower_nodes(tmp_path):
    # issue 7's command: the quick preset on Fashion-MNIST, 3 clients, Dirichlet 0.1
    ra, rb = _both_engines(tmp_path, ['run', '--algo', 'mosaic', '--dataset', 'fmnist', '--clients', '3', '--alpha', '0.1', '--preset', 'quick'])
    assert rb['failed_clients'] == [] and rb['test_acc'] == ra['test_acc'] and rb['stage_acc'] == ra['stage_acc'], (ra['stage_acc'], rb['stage_acc'])

def _free_port():
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_flwr_run_runs_the_app_that_flower_app_writes(tmp_path):
    # `mosaic-nb flower-app` writes a Flower App; Flower's own `flwr run` sends it to a local SuperLink (simulation mode,
    # which flwr starts and leaves running: stopped here) and its ServerApp runs the experiment into the run folder:
    # the same result and curve as the in-process run
    import signal, subprocess, sys
    from pathlib import Path
    app, out, home = tmp_path/'app', tmp_path/'run', tmp_path/'flwr-home'
    w = run_console('flower-app', app, '--algo', 'fedavg', *TINY, '--out', out)
    assert w.returncode == 0 and "flwr run" in w.stdout and "'num-supernodes=4'" in w.stdout, w.stdout + w.stderr
    bin_ = Path(sys.executable).parent
    env = {**os.environ, 'FLWR_HOME': str(home), 'PATH': f"{bin_}:{os.environ.get('PATH', '')}", 'OMP_NUM_THREADS': '1',
           'FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION': '1', 'FLWR_TELEMETRY_ENABLED': '0', 'RAY_USAGE_STATS_ENABLED': '0',
           'FLWR_LOCAL_SUPERLINK_HTTP_API_PORT': str(_free_port()), 'FLWR_LOCAL_CONTROL_API_PORT': str(_free_port())}
    try:
        r = subprocess.run([str(bin_/'flwr'), 'run', str(app), '--federation-config', 'num-supernodes=4', '--stream'],
                           capture_output=True, text=True, timeout=600, env=env)
    finally:   # the SuperLink flwr started for this FLWR_HOME
        for pid in subprocess.run(['pgrep', '-f', f'flower-superlink.*{home}'], capture_output=True, text=True).stdout.split():
            os.kill(int(pid), signal.SIGTERM)
    assert (out/'result.json').exists(), (r.stdout + r.stderr)[-3000:]
    rb = read_json(out/'result.json')
    ra = run_console('run', '--algo', 'fedavg', *TINY, '--out', tmp_path/'inprocess', env={'OMP_NUM_THREADS': '1'})
    assert ra.returncode == 0, ra.stderr[-2000:]
    ra = read_json(tmp_path/'inprocess'/'result.json')
    assert (rb['engine'], rb['nodes'], rb['failed_clients'], rb['spec_hash']) == ('flower', 4, [], ra['spec_hash'])
    assert rb['test_loss'] == ra['test_loss'] and _curve(out) == _curve(tmp_path/'inprocess'), (ra['test_loss'], rb['test_loss'])
