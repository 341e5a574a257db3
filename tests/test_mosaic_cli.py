"""Mosaic through the command line: every stage runs, and result.json and the run folder say what each stage did."""
from conftest import TINY, read_json

SMALL = ['mosaic.finetune_rounds=1', 'mosaic.gen_steps=5', 'mosaic.ngf=8', 'mosaic.ndf=8', 'mosaic.nz=16',
         'mosaic.meta_steps=10', 'mosaic.distill_steps=5', 'mosaic.distill_batch=8']

def test_mosaic_run_records_every_stage(cli, tmp_path):
    code, out, err = cli('run', '--algo', 'mosaic', *TINY, *SMALL, '--out', tmp_path/'m')
    assert code == 0, err
    r = read_json(tmp_path/'m'/'result.json')
    assert r['algo'] == 'mosaic' and r['rounds'] == 2                      # 1 warm-up + 1 fine-tune round
    assert set(r['stage_acc']) == {'global', 'ensemble', 'teacher', 'student', 'final'}
    assert all(0 <= v <= 100 for v in r['stage_acc'].values())
    assert {'warmup', 'upload', 'experts', 'meta', 'distill', 'finetune'} <= set(r['times'])
    held = [[k for k, c in enumerate(row) if c] for row in r['label_counts'] if sum(row)]
    assert [g['classes'] for g in r['generators']] == held             # each generator trained on its client's classes
    files = {p.name for p in (tmp_path/'m').iterdir()}
    assert {'samples.png', 'stages.png', 'partition.png', 'curve.png', 'metrics.csv', 'config.json', 'env.json'} <= files

def test_mosaic_needs_rounds_for_its_fine_tune(cli, tmp_path):
    code, _, err = cli('run', '--algo', 'mosaic', *TINY, 'mosaic.finetune_rounds=5', '--out', tmp_path/'m')
    assert code == 2 and 'finetune_rounds' in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path/'m'/'result.json').exists()
