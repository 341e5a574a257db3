"""Shared fixtures: the CLI in-process (fast) and as a subprocess (the real console script)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

os.environ.setdefault('MOSAIC_NB_QUIET', '1')
os.environ.setdefault('MOSAIC_NB_DOWNLOAD', '0')   # never try the network in tests

from mosaic_nb.runner import main

@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    "Each test its own cache of local models and Mosaic uploads: no test passes on another's (or an old run's) cached work."
    monkeypatch.setenv('MOSAIC_NB_CACHE', str(tmp_path_factory.mktemp('cache')))

FMNIST = Path('/usr/share/datasets/fashion-mnist')

@pytest.fixture
def cli(capsys):
    "Run `mosaic-nb ARGS` in-process; return (exit status, stdout, stderr)."
    def _run(*args):
        try: main([str(a) for a in args]); code = 0
        except SystemExit as e: code = e.code
        out = capsys.readouterr()
        return code, out.out, out.err
    return _run

def run_console(*args, timeout=600, env=None):
    "Run the installed console script in a subprocess (with `env` added to the environment); return the CompletedProcess."
    exe = Path(sys.executable).parent/'mosaic-nb'
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, 'MOSAIC_NB_QUIET': '1', 'MOSAIC_NB_DOWNLOAD': '0', **(env or {})})

def read_json(p): return json.loads(Path(p).read_text())

# A tiny experiment on generated data: seconds on a CPU.
TINY = ['--dataset', 'synthetic', '--clients', '4', '--alpha', '0.5', '--rounds', '2', '--preset', 'quick',
        '--set', 'data.train_size=none', 'model.width=0.25']
