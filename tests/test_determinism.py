"""Same spec, same seed: the same numbers, bit for bit, on the CPU."""
from conftest import TINY, read_json

def _strip(r): return {k: v for k, v in r.items() if k not in ('times', 'wall_time', 'run_dir')}

def test_same_command_twice_gives_identical_metrics(cli, tmp_path):
    for d in ('a', 'b'): assert cli('run', *TINY, '--seed', '3', '--out', tmp_path/d)[0] == 0
    assert (tmp_path/'a'/'metrics.csv').read_text() == (tmp_path/'b'/'metrics.csv').read_text()
    assert _strip(read_json(tmp_path/'a'/'result.json')) == _strip(read_json(tmp_path/'b'/'result.json'))
    assert read_json(tmp_path/'a'/'config.json') == read_json(tmp_path/'b'/'config.json')

def test_another_seed_gives_another_run(cli, tmp_path):
    for d, s in (('a', 1), ('b', 2)): assert cli('run', *TINY, '--seed', s, '--out', tmp_path/d)[0] == 0
    assert read_json(tmp_path/'a'/'result.json')['label_counts'] != read_json(tmp_path/'b'/'result.json')['label_counts']
