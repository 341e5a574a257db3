"""`mosaic-nb reproduce`: a table killed midway finishes only its missing cells when run again, and bad table
arguments are one clear line."""
import csv, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import FMNIST

needs_fmnist = pytest.mark.skipif(not FMNIST.exists(), reason='Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)')

# Four cells of the Fashion-MNIST main table at the quick (smoke) scale: two methods x two alphas, one seed.
CELLS = ['fmnist-main', '--preset', 'quick', '--rows', 'fedavg,fedprox', '--cols', 'alpha 0.1,alpha 1', '--seeds', '0', '--quiet']

def _reproduce(*args, **kw):
    exe = Path(sys.executable).parent/'mosaic-nb'
    env = {**os.environ, 'MOSAIC_NB_QUIET': '1', 'MOSAIC_NB_DOWNLOAD': '0', 'OMP_NUM_THREADS': '1'}
    return subprocess.Popen([str(exe), 'reproduce', *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, **kw)

def _finished(out):
    "Run folders holding a result.json, with its modification time."
    return {p.parent.name: p.stat().st_mtime_ns for p in (out/'runs').glob('*/result.json')}

@needs_fmnist
def test_killed_table_resumes_with_only_the_missing_cells(tmp_path):
    out = tmp_path/'t'
    p = _reproduce(*CELLS, '--out', out)
    deadline = time.time() + 600
    while not _finished(out) and p.poll() is None and time.time() < deadline: time.sleep(0.5)
    assert p.poll() is None, f"finished before it could be killed: {p.communicate()}"
    os.killpg(p.pid, signal.SIGKILL); p.wait()                       # as a lost machine would: no clean-up runs
    before = _finished(out)
    assert 1 <= len(before) < 4, before
    q = _reproduce(*CELLS, '--out', out)
    stdout, stderr = q.communicate(timeout=900)
    assert q.returncode == 0, stderr
    after = _finished(out)
    assert len(after) == 4
    assert all(after[k] == v for k, v in before.items())              # finished cells were read back, not rerun
    lines = [l for l in stdout.splitlines() if l.startswith('[')]
    assert len(lines) == 4
    assert sum(l.endswith(' s)') for l in lines) == 4 - len(before)   # only the missing cells ran
    rows = list(csv.DictReader((out/'cells.csv').open()))
    assert len(rows) == 4 and all(float(r['value']) > 10 for r in rows)           # chance is 10%
    assert {r['status'] for r in rows} == {'finished', 'ran'}
    md = (out/'table.md').read_text()
    assert md in stdout and '| FedAvg |' in md and '| FedProx |' in md and 'not available' in md
    assert (out/'table.png').stat().st_size > 0

BAD = {
    'unknown table':   (['table9'], 'unknown table'),
    'unknown row':     (['fmnist-main', '--rows', 'fedsgd', '--dry-run'], "unknown row 'fedsgd'"),
    'unknown column':  (['fmnist-main', '--cols', 'alpha 7', '--dry-run'], "unknown column 'alpha 7'"),
    'bad seeds':       (['fmnist-main', '--seeds', '0,x', '--dry-run'], '--seeds must be'),
    'repeated seeds':  (['fmnist-main', '--seeds', '1,1', '--dry-run'], 'seeds must be distinct'),
    'bad dataset':     (['dense-table1', '--dataset', 'imagenet', '--dry-run'], 'data.dataset must be one of'),
    'unknown preset':  (['fmnist-main', '--preset', 'huge', '--dry-run'], 'unknown preset'),
    'unknown option':  (['fmnist-main', '--set', 'fl.learning_rate=1', '--dry-run'], 'unknown option fl.learning_rate'),
}

@pytest.mark.parametrize('case', list(BAD))
def test_bad_table_arguments_are_one_clear_line(cli, case):
    args, expected = BAD[case]
    code, out, err = cli('reproduce', *args)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, (code, err)

def test_list_and_dry_run(cli, tmp_path):
    code, out, _ = cli('reproduce', '--list')
    assert code == 0 and all(t in out for t in ('fmnist-main', 'cifar10-main', 'cifar100-main', 'dense-table1', 'coboosting-table1'))
    code, out, _ = cli('reproduce', 'cifar100-main', '--preset', 'paper', '--seeds', '0,1,2', '--dry-run', '--out', tmp_path)
    assert code == 0 and len([l for l in out.splitlines() if l.startswith('[')]) == 90 and out.count('to run') == 90
    assert not (tmp_path/'runs').exists()                             # a dry run writes nothing

def test_records_folder_outside_out_is_read(cli, tmp_path):
    # --records points at committed run records (here the repository's own main table): a cell they hold is finished
    # without its run folder, so a table rendered on another machine does not rerun hours of finished cells
    recs = Path(__file__).parents[1]/'nbs'/'results'/'fmnist-main-cpu'/'records'
    cell = ['reproduce', 'fmnist-main', '--preset', 'cpu', '--rows', 'fedavg', '--cols', 'alpha 0.01', '--dry-run', '--out', tmp_path]
    code, out, _ = cli(*cell, '--records', recs)
    assert code == 0 and ': finished' in out and str(recs) in out, out
    code, out, _ = cli(*cell)
    assert code == 0 and ': to run' in out, out
