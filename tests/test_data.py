"""The data path: IDX parsing, the in-memory loaders, the lookup order and the cache."""
import os

import numpy as np
import pytest
import torch

import d2l
from conftest import REAL_FASHION, make_idx_dataset


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
    assert d2l.load_mnist_arrays('fashion-mnist', root=isolated / 'typo')['test_labels'].numel() == 6
    assert capsys.readouterr().err.strip() == (f'note: no Fashion-MNIST files in {isolated / "typo"}; '
                                               f'using the system copy in {isolated / "system" / "fashion-mnist"}')
    d2l.load_mnist_arrays('fashion-mnist')  # no root asked for: nothing to report
    assert capsys.readouterr().err == ''


def test_torchvision_layout_and_plain_idx_files_are_found(isolated):
    make_idx_dataset(isolated / 'tv' / 'FashionMNIST' / 'raw', gz=False, n_test=7)
    assert d2l.load_mnist_arrays('fashion-mnist', root=isolated / 'tv')['test_images'].shape == (7, 28, 28)
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
    assert [t.tolist() for _, t in d2l.load_array((X, y), 4, is_train=False)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_text_labels():
    assert d2l.get_fashion_mnist_labels([0, 9]) == ['t-shirt', 'ankle boot']
    assert d2l.get_fashion_mnist_labels(torch.tensor([2, 7])) == ['pullover', 'sneaker']
    assert d2l.get_fashion_mnist_labels(3) == ['dress']
    assert d2l.get_mnist_labels(torch.tensor([[4], [1]])) == ['4', '1']


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason='Debian dataset-fashion-mnist is not installed')
def test_real_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.setenv('D2L_DATA', str(tmp_path))  # a cold cache: parse the system copy
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    arrays = d2l.load_mnist_arrays('fashion-mnist')
    assert arrays['train_images'].shape == (60000, 28, 28) and arrays['test_images'].shape == (10000, 28, 28)
    assert arrays['train_labels'].bincount().tolist() == [6000] * 10
    assert arrays['test_labels'].bincount().tolist() == [1000] * 10
    assert arrays['train_images'].min() == 0 and arrays['train_images'].max() == 255
    assert (tmp_path / 'fashion-mnist' / 'fashion-mnist.pt').is_file()

    d2l.set_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    net = torch.nn.Sequential(d2l.FlattenLayer(), torch.nn.Linear(784, 10))
    net.apply(d2l.init_normal)
    history = d2l.train_ch3(net, train_iter, test_iter, torch.nn.CrossEntropyLoss(), 1,
                            optimizer=torch.optim.SGD(net.parameters(), lr=0.1), verbose=False)
    assert history['test_acc'][0] > 0.75
    assert 0.5 < history['train_loss'][0] < 1.2  # the true mean per example, not 0.003
