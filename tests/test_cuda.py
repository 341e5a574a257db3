"""Every method on a CUDA GPU, tiny: what a CPU-only suite cannot check (where tensors, generators and buffers live; bf16
autocast and channels_last on CUDA; checkpoints written on the GPU). The project's first CUDA runs found three such bugs
(README, "Time of a paper-preset cell"). Skipped without a GPU; on one, a minute or two:

    python -m pytest -q tests/test_cuda.py
    MOSAIC_NB_TEST_DEVICE=cpu python -m pytest -q tests/test_cuda.py    # the tests' own logic, on a CPU
"""
import math, os
import pytest, torch
from mosaic_nb.core import ALGOS
from conftest import TINY, read_json

DEVICE = os.environ.get('MOSAIC_NB_TEST_DEVICE', 'cuda')   # cpu: a dry run of these tests' own logic on a machine without one
pytestmark = pytest.mark.skipif(DEVICE == 'cuda' and not torch.cuda.is_available(), reason='needs a CUDA GPU')

GPU = ['--device', DEVICE, '--precision', 'auto']
SMALL = ['--set', 'mosaic.gen_steps=20', 'mosaic.distill_steps=20', 'mosaic.meta_steps=20', 'mosaic.finetune_rounds=1',
         'dfkd.local_epochs=1', 'dfkd.epochs=2']

def _ok(cli, out, *args):
    "Run the tiny experiment with `args` on the GPU; return its result after checking it ran there and finished."
    code, _, err = cli('run', *TINY, *GPU, *SMALL, *args, '--out', out)
    assert code == 0, err
    r, env = read_json(out/'result.json'), read_json(out/'env.json')
    assert r['device'].startswith(DEVICE) and env['device_name'], (r['device'], env['device_name'])
    if DEVICE == 'cuda': assert r['precision'] == 'bf16', r['precision']   # what the paper preset's 'auto' resolves to there
    assert math.isfinite(r['test_acc']) and 0 <= r['test_acc'] <= 100
    return r

@pytest.mark.parametrize('algo', ALGOS)
def test_every_method_runs_on_cuda(cli, tmp_path, algo):
    r = _ok(cli, tmp_path/algo, '--algo', algo)
    assert r['algo'] == algo

@pytest.mark.parametrize('name,args', [
    ('widths', ['--algo', 'mosaic', '--widths', '1,0.5,0.25']),                                  # sub-model uploads, per-coordinate experts
    ('archs', ['--algo', 'mosaic', '--archs', 'cnn_mnist,lenet5', '--set', 'model.arch=cnn_mnist', 'mosaic.gate=mean',
               'mosaic.finetune_rounds=0']),                                                    # logit-level experts
    ('tokens', ['--algo', 'mosaic', '--set', 'mosaic.tokens=shared']),
    ('feddf-archs', ['--algo', 'feddf', '--archs', 'cnn_mnist,lenet5', '--set', 'model.arch=cnn_mnist', 'dfkd.oneshot=true']),  # DAFL over other feature sizes
    ('coboosting-archs', ['--algo', 'coboosting', '--archs', 'cnn_mnist,lenet5', '--set', 'model.arch=cnn_mnist']),
    ('fedrolex', ['--algo', 'fedavg', '--widths', '1,0.5', '--submodel', 'fedrolex']),
])
def test_heterogeneous_clients_on_cuda(cli, tmp_path, name, args):
    _ok(cli, tmp_path/name, *args)

class Killed(Exception): "The process dies here."

@pytest.mark.parametrize('algo,stage,extra', [('fedftg', 'fedftg', []), ('dense', 'dense', []), ('mosaic', 'warmup', []),
                                              ('fedbn', 'fedbn', ['--set', 'fl.participation=0.5'])])   # clients that sit out keep BN from the checkpoint
def test_a_gpu_checkpoint_resumes(cli, tmp_path, monkeypatch, algo, stage, extra):
    "A checkpoint written on the GPU (models, optimisers, generators, RNG states) is read back and the run finishes."
    from mosaic_nb.fedavg import FedAvg
    save, saved = FedAvg.save_checkpoint, []
    def dies_after_two(self, st, done):
        save(self, st, done); saved.append((st, done))
        if len(saved) == 2: raise Killed
    out, args = tmp_path/algo, ['--algo', algo, '--rounds', '4', '--checkpoint-every', '0', *extra]
    with monkeypatch.context() as m:
        m.setattr(FedAvg, 'save_checkpoint', dies_after_two)
        with pytest.raises(Killed): cli('run', *TINY, *GPU, *SMALL, *args, '--out', out)
    assert saved[-1][0] == stage and (out/f'checkpoint-{stage}.pt').exists() and not (out/'result.json').exists()
    r = _ok(cli, out, *args)
    assert r['resumed'] and r['resumed'][0]['stage'] == stage, r['resumed']
    assert not list(out.glob('checkpoint-*.pt'))

@pytest.mark.skipif(DEVICE != 'cuda', reason='a CUDA-only refusal')
def test_vmap_experts_are_refused_on_cuda(cli, tmp_path):
    code, _, err = cli('run', *TINY, *GPU, *SMALL, '--algo', 'mosaic', '--set', 'mosaic.expert_eval=vmap', '--out', tmp_path/'v')
    assert code != 0 and 'use mosaic.expert_eval=loop' in err, err
