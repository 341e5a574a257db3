"""`mosaic-nb run` killed mid-run resumes from its checkpoint and ends exactly where an uninterrupted run ends;
a bad checkpoint is one clear error and never code execution."""
import csv, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import read_json

# FedFTG on generated data: the checkpoint must carry the global model, the server's conditional generator, its
# optimiser and its RNG, so any state left out would show up as a different final accuracy.
ARGS = ['run', '--algo', 'fedftg', '--dataset', 'synthetic', '--clients', '4', '--alpha', '0.5', '--rounds', '8',
        '--preset', 'quick', '--quiet', '--set', 'data.train_size=none', 'model.width=0.25', 'fl.eval_every=1']

def _run(out, *extra, wait=True):
    exe = Path(sys.executable).parent/'mosaic-nb'
    env = {**os.environ, 'MOSAIC_NB_QUIET': '1', 'MOSAIC_NB_DOWNLOAD': '0', 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen([str(exe), *ARGS, '--out', str(out), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True)
    if wait:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
    return p

def _accs(out):
    return [float(r['test_acc']) for r in csv.DictReader((out/'metrics.csv').open()) if r.get('test_acc')]

def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    full, cut = tmp_path/'full', tmp_path/'cut'
    _run(full)
    assert not list(full.glob('checkpoint-*.pt'))                       # a finished run deletes its checkpoints
    p = _run(cut, '--checkpoint-every', '0', wait=False)
    deadline = time.time() + 300
    while p.poll() is None and time.time() < deadline:
        if (cut/'metrics.csv').exists() and len(_accs(cut)) >= 3: break
        time.sleep(0.05)
    assert p.poll() is None, f"finished before it could be killed: {p.communicate()}"
    os.killpg(p.pid, signal.SIGKILL); p.wait()                           # no clean-up code runs
    assert not (cut/'result.json').exists() and (cut/'checkpoint-fedftg.pt').exists()
    _run(cut)
    a, b = read_json(full/'result.json'), read_json(cut/'result.json')
    assert b['resumed'] and b['resumed'][0]['stage'] == 'fedftg' and 2 <= b['resumed'][0]['round'] < 8, b['resumed']   # round 3 was logged; its checkpoint may not be written yet
    assert a['resumed'] == []
    assert b['test_acc'] == a['test_acc'] and b['ensemble_acc'] == a['ensemble_acc']
    assert _accs(cut) == _accs(full)                                     # every round's accuracy, not only the last
    assert not list(cut.glob('checkpoint-*.pt'))

def _interrupted(tmp_path, cli):
    "A run folder of the tiny experiment whose result was lost: rerunning it resumes from checkpoint-fedavg.pt."
    out = tmp_path/'r'
    code, _, err = cli('run', '--dataset', 'synthetic', '--clients', '4', '--rounds', '2', '--preset', 'quick', '--quiet',
                       '--set', 'data.train_size=none', 'model.width=0.25', '--out', out)
    assert code == 0, err
    (out/'result.json').unlink()
    return out, out/'checkpoint-fedavg.pt'

@pytest.mark.parametrize('damage, says', [('bytes', 'corrupt'), ('tensor', 'holds a Tensor where a dict was expected')])
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, cli, damage, says):
    out, ck = _interrupted(tmp_path, cli)
    if damage == 'bytes': ck.write_bytes(b'not a checkpoint')
    else: torch.save(torch.zeros(3), ck)                                 # a valid torch file, loaded safely, but no checkpoint
    code, _, err = cli('run', '--dataset', 'synthetic', '--clients', '4', '--rounds', '2', '--preset', 'quick', '--quiet',
                       '--set', 'data.train_size=none', 'model.width=0.25', '--out', out)
    assert code == 2 and says in err and 'delete checkpoint-fedavg.pt' in err and len(err.strip().splitlines()) == 1, err
    assert ck.exists()                                                    # reported, not deleted

class Payload:
    def __reduce__(self): return (os.system, (f'touch {MARK}',))
MARK = '/tmp/mosaic_nb_test_ckpt_pwned'

def test_malicious_checkpoint_is_refused(tmp_path, cli):
    out, ck = _interrupted(tmp_path, cli)
    if os.path.exists(MARK): os.remove(MARK)
    torch.save({'spec_hash': 'x', 'server': Payload()}, ck)
    code, _, err = cli('run', '--dataset', 'synthetic', '--clients', '4', '--rounds', '2', '--preset', 'quick', '--quiet',
                       '--set', 'data.train_size=none', 'model.width=0.25', '--out', out)
    assert code == 2 and 'refusing to load' in err, err
    assert not os.path.exists(MARK), 'a malicious checkpoint executed code'

def test_force_starts_afresh(tmp_path, cli):
    out, ck = _interrupted(tmp_path, cli)
    ck.write_bytes(b'stale')
    code, _, err = cli('run', '--dataset', 'synthetic', '--clients', '4', '--rounds', '2', '--preset', 'quick', '--quiet',
                       '--set', 'data.train_size=none', 'model.width=0.25', '--out', out, '--force')
    assert code == 0 and read_json(out/'result.json')['resumed'] == [], err

@pytest.mark.parametrize('kill,protos', [(3, 'upload'), (6, 'upload'), (3, 'rounds')])
def test_mosaic_resumes_in_warmup_and_in_finetune(tmp_path, monkeypatch, kill, protos):
    "Mosaic checkpoints its warm-up and fine-tune rounds (with the prototypes of `protos=rounds` collected so far) and caches its uploads; killed anywhere, the rerun logs exactly the uninterrupted run's metrics."
    from mosaic_nb.runner import run, preset_spec
    from mosaic_nb.fedavg import FedAvg
    spec = preset_spec('quick', 'mosaic', {'data.dataset': 'synthetic', 'data.train_size': 'none', 'data.clients': 4, 'model.width': 0.25,
                                           'fl.rounds': 6, 'mosaic.finetune_rounds': 2, 'mosaic.gen_steps': 10,
                                           'mosaic.distill_steps': 10, 'mosaic.meta_steps': 10, 'mosaic.protos': protos})
    monkeypatch.setenv('MOSAIC_NB_CACHE', str(tmp_path/'cache-a'))   # b must not find a's uploads
    a = run(spec, out=tmp_path/'a', quiet=True)
    monkeypatch.setenv('MOSAIC_NB_CACHE', str(tmp_path/'cache-b'))
    orig = FedAvg.round
    def dies(self, rnd):
        if rnd == kill: raise RuntimeError('killed')
        return orig(self, rnd)
    with monkeypatch.context() as m:
        m.setattr(FedAvg, 'round', dies)
        with pytest.raises(RuntimeError): run(spec, out=tmp_path/'b', quiet=True, checkpoint_every=0)
    b = run(spec, out=tmp_path/'b', quiet=True, checkpoint_every=0)
    # killed in the fine-tune, the rerun starts after the upload (the run cached it) and resumes the fine-tune's checkpoint
    assert [r['stage'] for r in b['resumed']] == (['warmup'] if kill == 3 else ['upload', 'finetune'])
    assert b['upload_cache']['hit'] == (kill == 6) and not a['upload_cache']['hit']
    assert (tmp_path/'a'/'metrics.csv').read_text() == (tmp_path/'b'/'metrics.csv').read_text()
    assert (a['test_loss'], a['stage_acc']) == (b['test_loss'], b['stage_acc'])
    assert a['prototypes'] == b['prototypes'] > 0   # with protos=rounds, the rounds before the kill's are in the resumed run's too
