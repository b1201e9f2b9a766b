"""Shared fixtures: small, valid IDX data sets written by the tests themselves, and an isolated lookup."""
import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the d2l.py of this checkout, even without `pip install -e .`

import d2l  # noqa: E402

REAL_FASHION = Path('/usr/share/datasets/fashion-mnist')


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write a uint8 array as an IDX file (magic 0x0000080N, big-endian dims), gzipped or plain."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + '.gz')
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Learnable 28x28 images: class k lights up rows 2k+4..2k+5, on top of faint noise."""
    images = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4: 2 * k + 6, 4:24] = 255
    return images


def make_idx_dataset(folder: Path, n_train: int = 50, n_test: int = 20, seed: int = 0,
                     gz: bool = True) -> dict:
    """Write the four IDX files of a tiny MNIST-style data set into folder; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (('train', n_train), ('t10k', n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = make_images(labels, rng)
        write_idx(folder / f'{split}-images-idx3-ubyte', images, gz)
        write_idx(folder / f'{split}-labels-idx1-ubyte', labels, gz)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $D2L_DATA, a private default cache, an empty system folder and no download."""
    monkeypatch.delenv('D2L_DATA', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg-cache'))
    for spec in d2l._DATASETS.values():
        monkeypatch.setitem(spec, 'system', [str(tmp_path / 'system')])
    monkeypatch.setattr(d2l, '_download', lambda name, home: (None, 'download failed: offline (test)'))
    return tmp_path


@pytest.fixture
def tiny_data(isolated):
    """A data root holding tiny Fashion-MNIST and MNIST data sets (50 train, 20 test images each)."""
    root = isolated / 'data'
    make_idx_dataset(root / 'fashion-mnist', seed=1)
    make_idx_dataset(root / 'mnist', seed=2)
    return root
