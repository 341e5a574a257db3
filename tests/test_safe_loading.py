"""Uploads and caches are loaded without executing code, and failures say what to do."""
import os, pickle
import pytest, torch
from mosaic_nb.core import load_state, save_state, MosaicError

MARK = '/tmp/mosaic_nb_test_pwned'

class Payload:
    def __reduce__(self): return (os.system, (f'touch {MARK}',))

@pytest.fixture(autouse=True)
def no_mark():
    if os.path.exists(MARK): os.remove(MARK)
    yield
    assert not os.path.exists(MARK), 'a malicious file executed code while loading'

@pytest.mark.parametrize('zipfmt', [True, False])
def test_malicious_torch_file_is_refused(tmp_path, zipfmt):
    p = tmp_path/'upload.pt'
    torch.save({'weight': torch.zeros(2), 'extra': Payload()}, p, _use_new_zipfile_serialization=zipfmt)
    with pytest.raises(MosaicError, match='refusing to load'): load_state(p)

def test_plain_pickle_is_refused(tmp_path):
    p = tmp_path/'upload.pkl'
    p.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(MosaicError): load_state(p)

def test_state_dict_round_trip_and_truncation(tmp_path):
    sd = torch.nn.Conv2d(1, 2, 3).state_dict()
    p = save_state(sd, tmp_path/'m.pt')
    assert all(torch.equal(load_state(p)[k], v) for k, v in sd.items())
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(MosaicError, match='corrupt'): load_state(p)

def test_empty_and_random_bytes(tmp_path):
    for i, data in enumerate((b'', os.urandom(4096))):
        p = tmp_path/f'x{i}.pt'; p.write_bytes(data)
        with pytest.raises(MosaicError): load_state(p)
