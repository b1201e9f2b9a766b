"""Bad input and faults: each gives one clear line naming the problem and the fix, and no half-written file.

Data: a missing folder, damaged .gz files, bad IDX headers, images and labels of
different lengths, read-only cache folders, two processes preparing the cache at
once, a run killed while writing the cache. Flags: non-positive numbers, an
unknown data set, a GPU that is not there. Training: a diverging loss. Models:
--load of a missing file, of something that is not a weights file (nothing in it
is ever unpickled into objects), of weights of the wrong shapes.

Library errors are checked in-process; what a user sees (exit code, one line on
stderr, no traceback) is checked by running a chapter script in a fresh process.
"""
import errno
import gzip
import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import d2l
from conftest import ROOT, make_idx_dataset, write_idx

IMAGE_SCRIPTS = [s for s in ('ch_softmax/scratch.py', 'ch_softmax/concise.py', 'ch_mlp/scratch.py',
                             'ch_mlp/concise.py', 'ch_mlp/manual.py') if (ROOT / s).is_file()]
OTHER_SCRIPTS = [s for s in ('ch_linear_regression/scratch.py', 'ch_linear_regression/concise.py')
                 if (ROOT / s).is_file()]
SCRIPTS = IMAGE_SCRIPTS + OTHER_SCRIPTS
# The script run in fresh processes: the first chapter, or whichever image script exists.
CLI_SCRIPT = IMAGE_SCRIPTS[0] if IMAGE_SCRIPTS else None
needs_cli = pytest.mark.skipif(CLI_SCRIPT is None, reason='no chapter script with images exists yet')
posix_only = pytest.mark.skipif(os.name != 'posix', reason='uses POSIX signals and process ids')


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def leftovers(folder: Path) -> list[Path]:
    """Temporary files, and .pt files that do not load: what an interrupted write would leave."""
    bad = []
    for path in folder.rglob('*'):
        if path.name.endswith('.tmp'):
            bad.append(path)
        elif path.suffix == '.pt' and path.is_file():
            try:
                torch.load(path, weights_only=True)
            except Exception:
                bad.append(path)
    return bad


def cache_files(folder: Path) -> list[Path]:
    """Every parsed-data cache under folder."""
    return sorted(folder.rglob('fashion-mnist.pt')) + sorted(folder.rglob('mnist.pt'))


def load_error(**kwargs) -> str:
    """The message of the D2LError that load_mnist_arrays raises; checks it is one line."""
    with pytest.raises(d2l.D2LError) as err:
        d2l.load_mnist_arrays('fashion-mnist', **kwargs)
    message = str(err.value)
    assert '\n' not in message
    return message


def load_script(rel: str):
    """Import a chapter script by path (its main(argv) is then called in-process)."""
    name = 'script_' + rel.replace('/', '_').removesuffix('.py')
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / rel)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def data_args(rel: str, root: Path) -> list[str]:
    """--data-root for the scripts that read images; the others make their own data."""
    return ['--data-root', str(root)] if rel in IMAGE_SCRIPTS else []


BOOT = '''
import runpy, sys
sys.path.insert(0, {root!r})
import d2l
for spec in d2l._DATASETS.values():  # no system copy and no download: only what the test provides
    spec['system'] = [{system!r}]
d2l._download = lambda name, home: (None, 'download failed: offline (test)')
sys.argv = [{script!r}] + {args!r}
runpy.run_path({script!r}, run_name='__main__')
'''


def run_cli(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a chapter script as a user would, with the data lookup isolated like the `isolated` fixture."""
    code = BOOT.format(root=str(ROOT), system=str(tmp_path / 'system'), script=str(ROOT / script), args=list(args))
    env = {k: v for k, v in os.environ.items() if k != 'D2L_DATA'}
    env.update(XDG_CACHE_HOME=str(tmp_path / 'xdg-cache'), MPLBACKEND='Agg', CUDA_VISIBLE_DEVICES='')
    return subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """Exit code `code`, no traceback, and the error on one line holding every fragment; returns it."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert 'Traceback' not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    if code == 2:  # argparse: the usage, then one error line
        assert lines[0].startswith('usage:'), proc.stderr
    else:
        assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def test_missing_directory_names_every_place_and_the_fixes(isolated):
    missing = isolated / 'no' / 'such' / 'folder'
    message = load_error(root=missing)
    for expected in ('Fashion-MNIST not found', f'root argument {missing}', 'default cache', 'system copy',
                     'Fix:', 'apt-get install dataset-fashion-mnist', 'D2L_DATA', '--data-root'):
        assert expected in message, expected
    assert not missing.exists() and leftovers(isolated) == []  # nothing created on the way


@pytest.mark.parametrize('damage', ['truncated', 'corrupt bytes', 'not gzip', 'cut mid-header'])
def test_damaged_gz_file_is_named_and_nothing_is_cached(tiny_data, damage):
    path = tiny_data / 'fashion-mnist' / 'train-images-idx3-ubyte.gz'
    raw = path.read_bytes()
    half = len(raw) // 2
    path.write_bytes({'truncated': raw[:half],
                      'corrupt bytes': raw[:half] + bytes(b ^ 0xFF for b in raw[half:half + 16]) + raw[half + 16:],
                      'not gzip': b'<html>404 Not Found</html>',
                      'cut mid-header': gzip.compress(gzip.decompress(raw)[:6])}[damage])
    message = load_error(root=tiny_data)
    assert str(path) in message
    assert ('corrupt or truncated' in message or 'truncated IDX header' in message), message
    assert 'delete it' in message and ('re-download' in message or 'get the original file' in message)
    assert cache_files(isolated_root(tiny_data)) == [] and leftovers(isolated_root(tiny_data)) == []


def isolated_root(tiny_data: Path) -> Path:
    """The test's whole temporary folder (data root, private cache, system folder)."""
    return tiny_data.parent


def idx_bytes(array: np.ndarray, magic: bytes | None = None, dims: tuple | None = None) -> bytes:
    """An IDX file's bytes, optionally with a wrong magic number or wrong header counts."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    dims = dims or array.shape
    head = magic or bytes([0, 0, 0x08, len(dims)])
    return head + struct.pack(f'>{len(dims)}I', *dims) + array.tobytes()


@pytest.mark.parametrize('case, expected', [
    ('magic of a float file', ['bad magic number 00000d03', 'not an IDX file of unsigned bytes']),
    ('zip file', ['bad magic number 504b0304']),
    ('count too large', ['header says (60, 28, 28)', 'damaged']),
    ('count too small', ['header says (40, 28, 28)', 'damaged']),
    ('labels file in the images place', ['not N x 28 x 28', 'check that the right file is in place']),
])
def test_bad_idx_header_is_named_and_nothing_is_cached(tiny_data, case, expected):
    folder = tiny_data / 'fashion-mnist'
    images = gzip.decompress((folder / 'train-images-idx3-ubyte.gz').read_bytes())[16:]
    images = np.frombuffer(images, np.uint8).reshape(50, 28, 28)
    data = {'magic of a float file': idx_bytes(images, magic=bytes([0, 0, 0x0D, 3])),
            'zip file': b'PK\x03\x04' + idx_bytes(images)[4:],
            'count too large': idx_bytes(images, dims=(60, 28, 28)),
            'count too small': idx_bytes(images, dims=(40, 28, 28)),
            'labels file in the images place': idx_bytes(np.arange(50) % 10)}[case]
    (folder / 'train-images-idx3-ubyte.gz').write_bytes(gzip.compress(data))
    message = load_error(root=tiny_data)
    assert 'train-images-idx3-ubyte.gz' in message
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert cache_files(isolated_root(tiny_data)) == [] and leftovers(isolated_root(tiny_data)) == []


def test_images_and_labels_of_different_lengths(tiny_data):
    folder = tiny_data / 'fashion-mnist'
    write_idx(folder / 'train-labels-idx1-ubyte', np.arange(40) % 10)  # 50 images, 40 labels
    message = load_error(root=tiny_data)
    assert 'train split has 50 images but 40 labels' in message
    assert 'replace both files from one source' in message
    assert cache_files(isolated_root(tiny_data)) == [] and leftovers(isolated_root(tiny_data)) == []


def test_labels_out_of_range(tiny_data):
    write_idx(tiny_data / 'fashion-mnist' / 't10k-labels-idx1-ubyte', np.full(20, 12))
    message = load_error(root=tiny_data)
    assert 'has label 12' in message and 'labels are 0..9' in message
    assert cache_files(isolated_root(tiny_data)) == []


def deny_writes_under(monkeypatch, *folders: Path) -> None:
    """Make creating a file under folders fail as a read-only folder does (EACCES).

    The tests run as root here, and root writes through chmod 0o555; so the one call
    that creates the cache file, tempfile.mkstemp, is made to fail instead.
    test_read_only_folders_with_chmod does it for real where it can (not as root).
    """
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and any(Path(dir).resolve().is_relative_to(f.resolve()) for f in folders):
            raise PermissionError(errno.EACCES, 'Permission denied', str(dir))
        return real(*args, dir=dir, **kwargs)
    monkeypatch.setattr(tempfile, 'mkstemp', mkstemp)


def test_read_only_data_folder_caches_in_the_next_writable_place(tiny_data, monkeypatch, capsys):
    deny_writes_under(monkeypatch, tiny_data)  # like data on a read-only share, or /usr/share
    arrays = d2l.load_mnist_arrays('fashion-mnist', root=tiny_data)
    assert arrays['train_images'].shape == (50, 28, 28)
    assert cache_files(tiny_data) == []
    assert cache_files(isolated_root(tiny_data) / 'xdg-cache') == [
        isolated_root(tiny_data) / 'xdg-cache' / 'd2l' / 'fashion-mnist' / 'fashion-mnist.pt']
    assert capsys.readouterr().err == ''  # nothing to complain about


def test_no_writable_cache_folder_costs_only_speed_and_says_so_once(tiny_data, monkeypatch, capsys):
    env_folder = isolated_root(tiny_data) / 'env'
    monkeypatch.setenv('D2L_DATA', str(env_folder))
    deny_writes_under(monkeypatch, tiny_data, env_folder, isolated_root(tiny_data) / 'xdg-cache')
    for _ in range(2):
        arrays = d2l.load_mnist_arrays('fashion-mnist', root=tiny_data)
        assert arrays['test_labels'].shape == (20,)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith('note: could not cache Fashion-MNIST (') and 'Permission denied' in err[0]
        assert 'continuing without a cache' in err[0] and 'set D2L_DATA to a writable folder' in err[0]
    assert cache_files(isolated_root(tiny_data)) == [] and leftovers(isolated_root(tiny_data)) == []


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0,
                    reason='root writes through chmod 0o555; covered by the deny_writes_under tests')
def test_read_only_folders_with_chmod(tiny_data, capsys):
    folders = [tiny_data / 'fashion-mnist', isolated_root(tiny_data) / 'xdg-cache']
    folders[1].mkdir()
    for folder in folders:
        folder.chmod(0o555)
    try:
        arrays = d2l.load_mnist_arrays('fashion-mnist', root=tiny_data)
        assert arrays['train_labels'].shape == (50,)
        assert 'note: could not cache Fashion-MNIST' in capsys.readouterr().err
        assert cache_files(isolated_root(tiny_data)) == [] and leftovers(isolated_root(tiny_data)) == []
    finally:
        for folder in folders:
            folder.chmod(0o755)


CHILD_PRELUDE = '''
import json, os, signal, sys, time
sys.path.insert(0, {root!r})
import torch, d2l
'''

RACE_CHILD = CHILD_PRELUDE + '''
barrier, me, data = sys.argv[1:4]
real_save, window = torch.save, {{}}
def slow_save(obj, f, *args, **kwargs):  # hold the temporary file open so that the two writes overlap
    window['start'] = time.time()
    time.sleep(1.0)
    real_save(obj, f, *args, **kwargs)
    window['end'] = time.time()
torch.save = slow_save
open(os.path.join(barrier, me), 'w').close()
deadline = time.time() + 60
while len(os.listdir(barrier)) < 2 and time.time() < deadline:
    time.sleep(0.005)
arrays = d2l.load_mnist_arrays('fashion-mnist', root=data, download=False)
print(json.dumps({{'sums': {{k: int(v.sum()) for k, v in arrays.items()}}, **window}}))
'''


def expected_sums(root: Path) -> dict[str, int]:
    """Checksums of the data set read straight from its IDX files (no cache involved)."""
    folder, sums = root / 'fashion-mnist', {}
    for split, prefix in (('train', 'train'), ('test', 't10k')):
        for kind in ('images', 'labels'):
            stem = f'{prefix}-{kind}-idx{3 if kind == "images" else 1}-ubyte'
            sums[f'{split}_{kind}'] = int(d2l.read_idx(folder / f'{stem}.gz').long().sum())
    return sums


def loaded_sums(root: Path) -> dict[str, int]:
    """Checksums of what load_mnist_arrays returns (from the cache when it trusts it)."""
    return {k: int(v.sum()) for k, v in d2l.load_mnist_arrays('fashion-mnist', root=root).items()}


def test_two_processes_preparing_the_cache_at_once(isolated):
    data, barrier = isolated / 'data', isolated / 'barrier'
    make_idx_dataset(data / 'fashion-mnist', seed=1)
    barrier.mkdir()
    code = RACE_CHILD.format(root=str(ROOT))
    env = {**os.environ, 'XDG_CACHE_HOME': str(isolated / 'xdg-cache')}
    env.pop('D2L_DATA', None)
    children = [subprocess.Popen([sys.executable, '-c', code, str(barrier), name, str(data)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in 'ab']
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
    a, b = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert max(a['start'], b['start']) < min(a['end'], b['end'])  # both were writing the cache at once
    cache = data / 'fashion-mnist' / 'fashion-mnist.pt'
    assert cache_files(isolated) == [cache] and leftovers(isolated) == []
    assert a['sums'] == b['sums'] == expected_sums(data)  # both got the data; the cache is read back whole
    assert torch.load(cache, weights_only=True)['fingerprint'] == d2l._fingerprint(
        d2l._find_idx_files(data, 'fashion-mnist'))


KILLED_CHILD = CHILD_PRELUDE + '''
def dying_save(obj, f, *args, **kwargs):  # the first bytes of the archive are out, then kill -9 (or the OOM killer)
    f.write(b'PK\\x03\\x04' + bytes(4096))
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
d2l.load_mnist_arrays('fashion-mnist', root=sys.argv[1], download=False)
'''


@posix_only
def test_run_killed_while_writing_the_cache_leaves_nothing_that_is_taken_as_valid(isolated):
    data = isolated / 'data'
    make_idx_dataset(data / 'fashion-mnist', seed=1)
    env = {**os.environ, 'XDG_CACHE_HOME': str(isolated / 'xdg-cache')}
    proc = subprocess.run([sys.executable, '-c', KILLED_CHILD.format(root=str(ROOT)), str(data)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder = data / 'fashion-mnist'
    half = [p for p in folder.iterdir() if p.name.endswith('.tmp')]
    assert len(half) == 1 and half[0].stat().st_size > 4096  # killed mid-write: a half file under a temp name
    assert not (folder / 'fashion-mnist.pt').exists()  # ... and never under the cache's name

    assert loaded_sums(data) == expected_sums(data)  # the next run works
    assert cache_files(isolated) == [folder / 'fashion-mnist.pt']
    assert leftovers(isolated) == []  # and cleared what the killed run left


@posix_only
def test_a_live_writers_temporary_file_is_kept(isolated):
    data = isolated / 'data'
    make_idx_dataset(data / 'fashion-mnist', seed=1)
    folder = data / 'fashion-mnist'
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                              text=True, check=True).stdout.strip()
        for pid in (live.pid, dead):
            (folder / f'.fashion-mnist.pt.{pid}.abcd1234.tmp').write_bytes(b'PK\x03\x04')
        d2l.load_mnist_arrays('fashion-mnist', root=data)
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith('.tmp'))
        assert names == [f'.fashion-mnist.pt.{live.pid}.abcd1234.tmp']  # still being written: keep it
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize('damage', ['truncated', 'empty', 'not an archive', 'stale fingerprint'])
def test_damaged_cache_file_is_rebuilt_not_trusted(tiny_data, damage):
    loaded_sums(tiny_data)  # writes the cache
    cache = tiny_data / 'fashion-mnist' / 'fashion-mnist.pt'
    raw = cache.read_bytes()
    if damage == 'stale fingerprint':
        state = torch.load(cache, weights_only=True)
        state['test_labels'] = state['test_labels'][:5]  # would be wrong data if it were believed
        state['fingerprint'] = 'some other files'
        torch.save(state, cache)
    else:
        cache.write_bytes({'truncated': raw[:len(raw) // 2], 'empty': b'', 'not an archive': b'garbage'}[damage])
    assert loaded_sums(tiny_data) == expected_sums(tiny_data)
    assert torch.load(cache, weights_only=True)['test_labels'].shape == (20,)  # rewritten whole
    assert leftovers(isolated_root(tiny_data)) == []


class Marker:
    """A pickle that would create a folder when unpickled: proof that nothing is unpickled into objects."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_cache_file_holding_code_is_never_run(tiny_data):
    loaded_sums(tiny_data)  # writes the cache
    cache = tiny_data / 'fashion-mnist' / 'fashion-mnist.pt'
    marker = isolated_root(tiny_data) / 'pwned'
    fingerprint = torch.load(cache, weights_only=True)['fingerprint']
    torch.save({'fingerprint': fingerprint, 'train_images': Marker(marker)}, cache)
    assert loaded_sums(tiny_data) == expected_sums(tiny_data)
    assert not marker.exists()


# ---------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------

BAD_NUMBERS = [('--lr', '0'), ('--lr', '-0.1'), ('--lr', 'nan'), ('--lr', 'inf'), ('--lr', 'fast'),
               ('--batch-size', '0'), ('--batch-size', '-8'), ('--batch-size', '2.5'),
               ('--epochs', '0'), ('--epochs', '-1')]


@pytest.mark.parametrize('script', SCRIPTS)
@pytest.mark.parametrize('flag, value', BAD_NUMBERS)
def test_non_positive_numbers_are_refused_before_anything_runs(script, flag, value, isolated, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_script(script).main([flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f'error: argument {flag}: ' in err[-1]
    assert ('must be positive' in err[-1] or 'is not a' in err[-1]), err[-1]


@pytest.mark.parametrize('script', IMAGE_SCRIPTS)
def test_unknown_dataset_lists_the_choices(script, isolated, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_script(script).main(['--dataset', 'cifar10'])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --dataset: invalid choice: 'cifar10'" in err and 'fashion-mnist' in err and 'mnist' in err


@pytest.mark.parametrize('script', SCRIPTS)
def test_cuda_without_a_gpu(script, tiny_data, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as exit_:
        load_script(script).main(['--device', 'cuda', '--epochs', '1', *data_args(script, tiny_data)])
    assert exit_.value.code == 2  # a bad flag, refused by the parser before any data is read
    out, err = capsys.readouterr()
    assert err.splitlines()[-1].endswith("error: argument --device: no such CUDA GPU here ('cuda'; torch sees 0); "
                                         'use --device cpu or --device auto')
    assert 'epoch' not in out


@pytest.mark.parametrize('script', SCRIPTS)
def test_learning_rate_beyond_float32_is_refused_cleanly(script, tiny_data, capsys):
    # 1e39 is a finite Python float but overflows float32 (torch.optim.SGD raises a RuntimeError).
    try:
        load_script(script).main(['--lr', '1e39', '--batch-size', '8', '--epochs', '2', *data_args(script, tiny_data)])
    except SystemExit as exit_:  # refused by the parser
        assert exit_.code == 2
        assert 'argument --lr' in capsys.readouterr().err
    except d2l.D2LError as err:  # or stopped with one line (the loss became inf or nan)
        assert '\n' not in str(err) and '--lr' in str(err)
    else:
        pytest.fail('--lr 1e39 neither refused nor reported as a diverging run')


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

# 3e38 is near float32's largest number, so every model's weights overflow after one step. (At 1e30
# the MLPs overflow too, but concise softmax's stable cross-entropy stays finite, about 3e29 on the
# separable tiny data: a finite loss is not an error.)
@pytest.mark.parametrize('script', SCRIPTS)
def test_diverging_loss_stops_at_once_with_epoch_batch_and_advice(script, tiny_data, capsys):
    history, weights = tiny_data.parent / 'history.json', tiny_data.parent / 'weights.pt'
    with pytest.raises(d2l.D2LError) as err:
        load_script(script).main(['--lr', '3e38', '--batch-size', '8', '--epochs', '3', *data_args(script, tiny_data),
                                  '--history', str(history), '--save', str(weights)])
    message = str(err.value)
    assert '\n' not in message
    assert 'the loss became' in message and ('nan' in message or 'inf' in message), message
    assert 'at epoch 1, batch ' in message and 'lower the learning rate (--lr)' in message
    assert int(message.split('batch ')[1].split(':')[0]) <= 3  # at once, not epochs later
    assert 'epoch 1,' not in capsys.readouterr().out  # no epoch line with a nan loss was printed
    assert not history.exists() and not weights.exists()


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

@pytest.fixture
def saved(tiny_data, request):
    """(script module, its data flags, a weights file it saved after one epoch)."""
    script = request.param
    path = tiny_data.parent / 'good.pt'
    flags = data_args(script, tiny_data)
    load_script(script).main(['--epochs', '1', *flags, '--save', str(path)])
    assert path.is_file()
    return load_script(script), flags, path


@pytest.mark.parametrize('saved', SCRIPTS, indirect=True)
def test_load_good_weights_then_every_bad_file(saved, tmp_path):
    module, flags, good = saved
    module.main([*flags, '--load', str(good)])  # the control: a file it saved loads

    def error(path):
        with pytest.raises(d2l.D2LError) as err:
            module.main([*flags, '--load', str(path)])
        assert '\n' not in str(err.value)
        return str(err.value)

    missing = tmp_path / 'missing.pt'
    assert f'no weights file at {missing}' in error(missing) and '--save' in error(missing)

    state = torch.load(good, weights_only=True)
    name = next(iter(state))
    wrong = tmp_path / 'wrong-shape.pt'
    torch.save({**state, name: torch.zeros(*(s + 1 for s in state[name].shape))}, wrong)
    assert 'but this model needs' in error(wrong) and 'same layer sizes' in error(wrong)
    extra = tmp_path / 'extra.pt'
    torch.save({**state, 'extra': torch.zeros(3)}, extra)
    assert 'but this model needs' in error(extra)

    marker = tmp_path / 'pwned'
    bad_files = {'text.pt': b'these are not weights\n', 'empty.pt': b'', 'half.pt': good.read_bytes()[:200]}
    for file_name, content in bad_files.items():
        (tmp_path / file_name).write_bytes(content)
    torch.save(torch.nn.Linear(2, 2), tmp_path / 'module.pt')  # a whole model object, not a dict of tensors
    torch.save({name: Marker(marker)}, tmp_path / 'code.pt')  # unpickling it would create `marker`
    with open(tmp_path / 'pickle.pt', 'wb') as f:
        import pickle
        pickle.dump(Marker(marker), f, protocol=2)
    for file_name in [*bad_files, 'module.pt', 'code.pt', 'pickle.pt']:
        message = error(tmp_path / file_name)
        assert 'is not a weights file' in message and 'pass a file written with --save' in message, message
    torch.save([torch.zeros(2)], tmp_path / 'list.pt')
    torch.save({name: [1, 2, 3]}, tmp_path / 'nested.pt')
    for file_name in ('list.pt', 'nested.pt'):
        assert 'does not hold a dict of tensors' in error(tmp_path / file_name)
    assert not marker.exists()


@pytest.mark.parametrize('flag', ['--save', '--history', '--plot'])
def test_an_output_path_that_is_a_folder_is_refused_before_training(flag, tiny_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_script('ch_mlp/scratch.py').main([flag, str(tmp_path), *data_args('ch_mlp/scratch.py', tiny_data)])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert f'error: argument {flag}: {tmp_path} is a folder; give a file name' in err.splitlines()[-1]
    assert 'epoch' not in out


def test_an_output_under_a_folder_we_may_not_write_is_refused(tiny_data, tmp_path, monkeypatch, capsys):
    locked = tmp_path / 'locked'
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, 'access', lambda p, mode: Path(p) != locked and real_access(p, mode))
    with pytest.raises(SystemExit) as exit_:
        load_script('ch_softmax/scratch.py').main(['--plot', str(locked / 'new' / 'curves.png'),
                                                   *data_args('ch_softmax/scratch.py', tiny_data)])
    assert exit_.value.code == 2
    assert f'{locked} is not a writable folder' in capsys.readouterr().err


def test_a_figure_name_without_an_extension_gets_png_and_is_named_right(tiny_data, tmp_path, capsys):
    load_script('ch_softmax/scratch.py').main(['--epochs', '1', '--plot', str(tmp_path / 'curves'),
                                               '--history', str(tmp_path / 'run'),
                                               *data_args('ch_softmax/scratch.py', tiny_data)])
    out = capsys.readouterr().out
    assert (tmp_path / 'curves.png').read_bytes()[:4] == b'\x89PNG' and not (tmp_path / 'curves').exists()
    assert f'training curves written to {tmp_path / "curves.png"}' in out
    assert json.loads((tmp_path / 'run.json').read_text())['train_loss']


def test_a_write_that_fails_after_training_is_one_line(tmp_path):
    # The folder check passes (it exists and is writable) but the file cannot be made: a name too long.
    with pytest.raises(d2l.D2LError, match=r'^cannot write .*: File name too long; choose a file in a writable folder$'):
        d2l.save_weights({'w': torch.zeros(2)}, tmp_path / ('x' * 300 + '.pt'))
    with pytest.raises(d2l.D2LError, match='^cannot write'):
        d2l.plot_history({'train_loss': [1.0], 'test_acc': [0.5]}, tmp_path / ('y' * 300 + '.png'))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# What the user sees: exit code, one line, no traceback (fresh processes)
# ---------------------------------------------------------------------------

@needs_cli
@pytest.mark.parametrize('args, code, fragments', [
    (['--lr', '0'], 2, ['error: argument --lr: must be positive, got 0']),
    (['--batch-size', '-1'], 2, ['error: argument --batch-size: must be positive']),
    (['--dataset', 'cifar10'], 2, ["error: argument --dataset: invalid choice: 'cifar10'"]),
    (['--data-root', 'nowhere'], 1, ['error: Fashion-MNIST not found', 'nowhere', 'apt-get install', 'D2L_DATA']),
    (['--device', 'cuda', '--data-root', 'data'], 2, ['error: argument --device:', 'no such CUDA GPU', '--device cpu']),
    (['--lr', '3e38', '--data-root', 'data', '--batch-size', '8'], 1,
     ['error: the loss became', 'at epoch 1, batch', 'lower the learning rate (--lr)']),
    (['--load', 'missing.pt', '--data-root', 'data'], 1, ['error: no weights file at missing.pt']),
    (['--load', 'data/fashion-mnist/train-labels-idx1-ubyte.gz', '--data-root', 'data'], 1,
     ['is not a weights file']),
    (['--data-root', 'broken'], 1, ['train-images-idx3-ubyte.gz is corrupt or truncated', 'delete it']),
])
def test_the_user_sees_one_line_and_no_traceback(tmp_path, args, code, fragments):
    make_idx_dataset(tmp_path / 'data' / 'fashion-mnist', seed=1)
    make_idx_dataset(tmp_path / 'broken' / 'fashion-mnist', seed=1)
    image_file = tmp_path / 'broken' / 'fashion-mnist' / 'train-images-idx3-ubyte.gz'
    image_file.write_bytes(image_file.read_bytes()[:1000])
    assert_clean_error(run_cli(tmp_path, CLI_SCRIPT, *args), code, *fragments)
    assert leftovers(tmp_path) == []
    assert not (tmp_path / 'broken' / 'fashion-mnist' / 'fashion-mnist.pt').exists()
