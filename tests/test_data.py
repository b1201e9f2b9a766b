"""The data path: IDX parsing, the in-memory loaders, the lookup order and the cache, the synthetic
regression data; and bad input: a missing folder, damaged .gz files, bad IDX headers, images and
labels of different lengths, read-only cache folders, two processes preparing the cache at once, a
run killed while writing the cache. Each gives one clear line naming the problem and the fix, and
no half-written file."""
import errno
import gzip
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
from conftest import REAL_FASHION, ROOT, Marker, leftovers, make_idx_dataset, write_idx


def first_labels(loader):
    """The labels of every batch of one epoch, concatenated."""
    return torch.cat([y for _, y in loader])


def test_batches_have_book_shapes_dtypes_and_range(tiny_data):
    train_iter, test_iter = d2l.load_data_fashion_mnist(16, root=tiny_data)
    X, y = next(iter(train_iter))
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() == 1.0  # the lit rows are 255 -> 1.0


def test_len_counts_batches_and_keeps_last_partial_batch(tiny_data):
    train_iter, test_iter = d2l.load_data_fashion_mnist(16, root=tiny_data)
    assert len(train_iter) == 4 and len(test_iter) == 2  # 50 = 3*16 + 2, 20 = 16 + 4
    sizes = [len(y) for _, y in train_iter]
    assert sizes == [16, 16, 16, 2]
    assert [len(y) for _, y in test_iter] == [16, 4]


def test_values_match_the_idx_files(tiny_data):
    arrays = make_idx_dataset(tiny_data / 'other', seed=1)  # the same content as fashion-mnist's
    _, test_iter = d2l.load_data_fashion_mnist(64, root=tiny_data)
    X, y = next(iter(test_iter))
    images, labels = arrays['t10k']
    assert torch.equal(y, torch.from_numpy(labels).long())
    assert torch.allclose(X[:, 0], torch.from_numpy(images).float() / 255)


def test_train_reshuffles_every_epoch_and_test_keeps_its_order(tiny_data):
    train_iter, test_iter = d2l.load_data_fashion_mnist(8, root=tiny_data)
    epoch1, epoch2 = first_labels(train_iter), first_labels(train_iter)
    assert not torch.equal(epoch1, epoch2)
    assert torch.equal(epoch1.sort().values, epoch2.sort().values)  # same examples, new order
    assert torch.equal(first_labels(test_iter), first_labels(test_iter))


def test_set_seed_repeats_the_batch_order(tiny_data):
    train_iter, _ = d2l.load_data_fashion_mnist(8, root=tiny_data)
    d2l.set_seed(3)
    a = [first_labels(train_iter) for _ in range(2)]
    d2l.set_seed(3)
    b = [first_labels(train_iter) for _ in range(2)]
    d2l.set_seed(4)
    c = first_labels(train_iter)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c)


def test_resize_is_applied_once_to_the_whole_split(tiny_data):
    train_iter, test_iter = d2l.load_data_fashion_mnist(10, resize=14, root=tiny_data)
    assert train_iter.tensors[0].shape == (50, 1, 14, 14)  # stored resized, not per batch
    X, _ = next(iter(test_iter))
    assert X.shape == (10, 1, 14, 14) and 0 <= X.min() and X.max() <= 1
    _, full = d2l.load_data_fashion_mnist(10, root=tiny_data)
    X28, _ = next(iter(full))
    # Downsizing by 2 with antialiasing averages 2x2 blocks: the mean brightness is kept.
    assert torch.allclose(X.mean(dim=(1, 2, 3)), X28.mean(dim=(1, 2, 3)), atol=0.01)
    X_rect, _ = next(iter(d2l.load_data_fashion_mnist(4, resize=(32, 20), root=tiny_data)[1]))
    assert X_rect.shape == (4, 1, 32, 20)


def test_mnist_goes_through_the_same_code(tiny_data):
    train_iter, test_iter = d2l.load_data_mnist(32, root=tiny_data)
    X, y = next(iter(test_iter))
    assert X.shape == (20, 1, 28, 28) and len(train_iter) == 2
    fashion_y = next(iter(d2l.load_data_fashion_mnist(32, root=tiny_data)[1]))[1]
    assert not torch.equal(y, fashion_y)  # a different data set (other seed), found by name


def test_lookup_order_root_then_env_then_cache_then_system(isolated, monkeypatch):
    places = {name: isolated / name for name in ('root', 'env', 'xdg-cache/d2l', 'system')}
    for i, folder in enumerate(places.values()):
        make_idx_dataset(folder / 'fashion-mnist', n_test=10 + i, seed=i)
    monkeypatch.setenv('D2L_DATA', str(places['env']))

    def test_size(root=None):
        return d2l.load_mnist_arrays('fashion-mnist', root=root)['test_labels'].numel()

    assert test_size(places['root']) == 10
    assert test_size() == 11
    monkeypatch.delenv('D2L_DATA')
    assert test_size() == 12
    (places['xdg-cache/d2l'] / 'fashion-mnist' / 't10k-images-idx3-ubyte.gz').unlink()
    assert test_size() == 13  # the system copy (Debian's package) comes last before a download


def test_a_root_without_the_files_is_reported_not_passed_over_silently(isolated, capsys):
    make_idx_dataset(isolated / 'system' / 'fashion-mnist', n_test=6)
    assert d2l.load_mnist_arrays('fashion-mnist',
                                 root=isolated / 'typo')['test_labels'].numel() == 6
    assert capsys.readouterr().err.strip() == (
        f'note: no Fashion-MNIST files in {isolated / "typo"}; '
        f'using the system copy in {isolated / "system" / "fashion-mnist"}')
    d2l.load_mnist_arrays('fashion-mnist')  # no root asked for: nothing to report
    assert capsys.readouterr().err == ''


def test_torchvision_layout_and_plain_idx_files_are_found(isolated):
    make_idx_dataset(isolated / 'tv' / 'FashionMNIST' / 'raw', gz=False, n_test=7)
    assert d2l.load_mnist_arrays('fashion-mnist',
                                 root=isolated / 'tv')['test_images'].shape == (7, 28, 28)
    make_idx_dataset(isolated / 'flat', n_test=9)
    assert d2l.load_mnist_arrays('mnist', root=isolated / 'flat')['test_labels'].shape == (9,)


def test_nothing_found_gives_one_clear_message(isolated):
    with pytest.raises(d2l.D2LError) as err:
        d2l.load_data_fashion_mnist(8, root=isolated / 'nowhere')
    message = str(err.value)
    assert '\n' not in message
    for expected in ('Fashion-MNIST not found', str(isolated / 'nowhere'), 'default cache',
                     'system copy', 'download failed', 'apt-get install dataset-fashion-mnist',
                     'root=DIR', 'D2L_DATA', 'allow the download'):
        assert expected in message, expected


def test_download_is_the_last_resort(isolated, monkeypatch):
    calls = []

    def fake_download(name, home):
        calls.append(home)
        return d2l._find_idx_files(make_dir(home), name), 'downloaded'

    def make_dir(home):
        make_idx_dataset(home / 'FashionMNIST' / 'raw', n_test=5)  # where torchvision puts it
        return home

    monkeypatch.setattr(d2l, '_download', fake_download)
    arrays = d2l.load_mnist_arrays('fashion-mnist', root=isolated / 'dl')
    assert calls == [isolated / 'dl'] and arrays['test_labels'].numel() == 5
    d2l.load_mnist_arrays('fashion-mnist', root=isolated / 'dl')
    assert len(calls) == 1  # found locally the second time
    with pytest.raises(d2l.D2LError, match='download not allowed'):
        d2l.load_mnist_arrays('fashion-mnist', root=isolated / 'empty', download=False)


def test_parsed_tensors_are_cached_and_rebuilt_when_the_source_changes(tiny_data):
    d2l.load_mnist_arrays('fashion-mnist', root=tiny_data)
    cache = tiny_data / 'fashion-mnist' / 'fashion-mnist.pt'
    assert cache.is_file()
    assert not [p for p in cache.parent.iterdir() if p.name.endswith('.tmp')]
    cached = torch.load(cache, weights_only=True)
    assert cached['test_labels'].numel() == 20
    make_idx_dataset(tiny_data / 'fashion-mnist', n_test=12, seed=5)  # new files, new sizes
    assert d2l.load_mnist_arrays('fashion-mnist', root=tiny_data)['test_labels'].numel() == 12


def test_array_loader_rejects_bad_input():
    with pytest.raises(d2l.D2LError, match='batch_size must be a positive'):
        d2l.ArrayLoader((torch.zeros(3), torch.zeros(3)), 0)
    with pytest.raises(d2l.D2LError, match='different lengths'):
        d2l.load_array((torch.zeros(3), torch.zeros(4)), 2)


def test_load_array_and_data_iter_give_the_same_batches_under_one_seed():
    X, y = torch.arange(20.).reshape(10, 2), torch.arange(10)
    d2l.set_seed(0)
    a = [b for _, b in d2l.data_iter(3, X, y)]
    d2l.set_seed(0)
    b = [b for _, b in d2l.load_array((X, y), 3)]
    assert [len(t) for t in a] == [3, 3, 3, 1]
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert [t.tolist() for _, t in d2l.load_array((X, y), 4, is_train=False)] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_text_labels():
    assert d2l.get_fashion_mnist_labels([0, 9]) == ['t-shirt', 'ankle boot']
    assert d2l.get_fashion_mnist_labels(torch.tensor([2, 7])) == ['pullover', 'sneaker']
    assert d2l.get_fashion_mnist_labels(3) == ['dress']
    assert d2l.get_mnist_labels(torch.tensor([[4], [1]])) == ['4', '1']


@pytest.mark.skipif(not REAL_FASHION.is_dir(),
                    reason='Debian dataset-fashion-mnist is not installed')
def test_real_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.setenv('D2L_DATA', str(tmp_path))  # a cold cache: parse the system copy
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    arrays = d2l.load_mnist_arrays('fashion-mnist')
    assert (arrays['train_images'].shape == (60000, 28, 28)
            and arrays['test_images'].shape == (10000, 28, 28))
    assert arrays['train_labels'].bincount().tolist() == [6000] * 10
    assert arrays['test_labels'].bincount().tolist() == [1000] * 10
    assert arrays['train_images'].min() == 0 and arrays['train_images'].max() == 255
    assert (tmp_path / 'fashion-mnist' / 'fashion-mnist.pt').is_file()

    d2l.set_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    net = torch.nn.Sequential(d2l.FlattenLayer(), torch.nn.Linear(784, 10))
    net.apply(d2l.init_normal)
    history = d2l.train_classifier(net, train_iter, test_iter, torch.nn.CrossEntropyLoss(), 1,
                                   torch.optim.SGD(net.parameters(), lr=0.1), verbose=False)
    assert history['test_acc'][0] > 0.75
    assert 0.5 < history['train_loss'][0] < 1.2  # the true mean per example, not 0.003


def test_synthetic_data_statistics():
    torch.manual_seed(0)
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    X, y = d2l.synthetic_data(true_w, true_b, 20000)
    assert X.shape == (20000, 2) and y.shape == (20000, 1)
    assert abs(X.mean()) < 0.02 and abs(X.std() - 1) < 0.02
    noise = y[:, 0] - (X @ true_w + true_b)
    assert abs(noise.std() - 0.01) < 0.0005 and abs(noise.mean()) < 0.0005
    w_fit = torch.linalg.lstsq(torch.cat([X, torch.ones(20000, 1)], 1), y).solution[:, 0]
    assert torch.allclose(w_fit, torch.tensor([2, -3.4, 4.2]), atol=1e-3)


def test_locate_idx_files_gives_the_files_load_data_reads(tiny_data, isolated):
    stems = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
             't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
    files = d2l.locate_idx_files('fashion-mnist', root=tiny_data)
    assert files == {stem: tiny_data / 'fashion-mnist' / f'{stem}.gz' for stem in stems}
    # without a root: the system copy
    make_idx_dataset(isolated / 'system' / 'fashion-mnist', gz=False)
    assert d2l.locate_idx_files() == {stem: isolated / 'system' / 'fashion-mnist' / stem
                                      for stem in stems}
    with pytest.raises(d2l.D2LError,
                       match=f'MNIST not found .*{isolated / "system"}.*download not allowed'):
        d2l.locate_idx_files('mnist', download=False)  # looked everywhere, downloaded nothing
    with pytest.raises(d2l.D2LError, match="unknown data set 'cifar10'"):
        d2l.locate_idx_files('cifar10')


# ---------------------------------------------------------------------------
# Bad data
# ---------------------------------------------------------------------------

posix_only = pytest.mark.skipif(os.name != 'posix', reason='uses POSIX signals and process ids')


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


def test_missing_directory_names_every_place_and_the_fixes(isolated):
    missing = isolated / 'no' / 'such' / 'folder'
    message = load_error(root=missing)
    for expected in ('Fashion-MNIST not found', f'root argument {missing}', 'default cache',
                     'system copy', 'Fix:', 'apt-get install dataset-fashion-mnist',
                     'D2L_DATA', '--data-root'):
        assert expected in message, expected
    assert not missing.exists() and leftovers(isolated) == []  # nothing created on the way


CORRUPT = 'is corrupt or truncated', 'delete it and reinstall or re-download the data set'


@pytest.mark.parametrize('damage, expected', [
    ('truncated', CORRUPT), ('corrupt bytes', CORRUPT), ('not gzip', CORRUPT),
    ('cut mid-header', ('has a truncated IDX header', 'delete it and get the original file')),
])
def test_damaged_gz_file_is_named_and_nothing_is_cached(tiny_data, damage, expected):
    path = tiny_data / 'fashion-mnist' / 'train-images-idx3-ubyte.gz'
    raw = path.read_bytes()
    half = len(raw) // 2
    path.write_bytes({'truncated': raw[:half],
                      'corrupt bytes': (raw[:half] + bytes(b ^ 0xFF for b in raw[half:half + 16])
                                        + raw[half + 16:]),
                      'not gzip': b'<html>404 Not Found</html>',
                      'cut mid-header': gzip.compress(gzip.decompress(raw)[:6])}[damage])
    message = load_error(root=tiny_data)
    assert str(path) in message
    assert all(fragment in message for fragment in expected), message
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
    ('labels file in the images place',
     ['not N x 28 x 28', 'check that the right file is in place']),
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
        if dir is not None and any(Path(dir).resolve().is_relative_to(f.resolve())
                                   for f in folders):
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
        assert (err[0].startswith('note: could not cache Fashion-MNIST (')
                and 'Permission denied' in err[0])
        assert ('continuing without a cache' in err[0]
                and 'set D2L_DATA to a writable folder' in err[0])
    assert cache_files(isolated_root(tiny_data)) == [] and leftovers(isolated_root(tiny_data)) == []


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0,
                    reason='root writes through chmod 0o555; '
                           'covered by the deny_writes_under tests')
def test_read_only_folders_with_chmod(tiny_data, capsys):
    folders = [tiny_data / 'fashion-mnist', isolated_root(tiny_data) / 'xdg-cache']
    folders[1].mkdir()
    for folder in folders:
        folder.chmod(0o555)
    try:
        arrays = d2l.load_mnist_arrays('fashion-mnist', root=tiny_data)
        assert arrays['train_labels'].shape == (50,)
        assert 'note: could not cache Fashion-MNIST' in capsys.readouterr().err
        assert (cache_files(isolated_root(tiny_data)) == []
                and leftovers(isolated_root(tiny_data)) == [])
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
# hold the temporary file open so that the two writes overlap
def slow_save(obj, f, *args, **kwargs):
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
    children = [subprocess.Popen([sys.executable, '-c', code, str(barrier), name, str(data)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in 'ab']
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
    a, b = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    # both were writing the cache at once
    assert max(a['start'], b['start']) < min(a['end'], b['end'])
    cache = data / 'fashion-mnist' / 'fashion-mnist.pt'
    assert cache_files(isolated) == [cache] and leftovers(isolated) == []
    # both got the data; the cache is read back whole
    assert a['sums'] == b['sums'] == expected_sums(data)
    assert torch.load(cache, weights_only=True)['fingerprint'] == d2l._fingerprint(
        d2l._find_idx_files(data, 'fashion-mnist'))


KILLED_CHILD = CHILD_PRELUDE + '''
# the first bytes of the archive are out, then kill -9 (or the OOM killer)
def dying_save(obj, f, *args, **kwargs):
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
    proc = subprocess.run([sys.executable, '-c', KILLED_CHILD.format(root=str(ROOT)), str(data)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder = data / 'fashion-mnist'
    half = [p for p in folder.iterdir() if p.name.endswith('.tmp')]
    # killed mid-write: a half file under a temp name
    assert len(half) == 1 and half[0].stat().st_size > 4096
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
        dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                              capture_output=True, text=True, check=True).stdout.strip()
        for pid in (live.pid, dead):
            (folder / f'.fashion-mnist.pt.{pid}.abcd1234.tmp').write_bytes(b'PK\x03\x04')
        d2l.load_mnist_arrays('fashion-mnist', root=data)
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith('.tmp'))
        # still being written: keep it
        assert names == [f'.fashion-mnist.pt.{live.pid}.abcd1234.tmp']
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
        cache.write_bytes({'truncated': raw[:len(raw) // 2], 'empty': b'',
                           'not an archive': b'garbage'}[damage])
    assert loaded_sums(tiny_data) == expected_sums(tiny_data)
    assert torch.load(cache, weights_only=True)['test_labels'].shape == (20,)  # rewritten whole
    assert leftovers(isolated_root(tiny_data)) == []


def test_cache_file_holding_code_is_never_run(tiny_data):
    loaded_sums(tiny_data)  # writes the cache
    cache = tiny_data / 'fashion-mnist' / 'fashion-mnist.pt'
    marker = isolated_root(tiny_data) / 'pwned'
    fingerprint = torch.load(cache, weights_only=True)['fingerprint']
    torch.save({'fingerprint': fingerprint, 'train_images': Marker(marker)}, cache)
    assert loaded_sums(tiny_data) == expected_sums(tiny_data)
    assert not marker.exists()
