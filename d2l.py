"""d2l: the helpers of "Dive into Deep Learning" (PyTorch), fast, offline-capable and exact.

A map of this file, section by section (each starts under a banner of '=' lines). Every public
name says which edition and section it comes from: "0.17 sec. 3.6" is d2l 0.17 / d2l-zh 2.0,
"port sec. 3.6" the older community port (Dive-into-DL-PyTorch), "d2l 1.0" the page of d2l.ai
today, and "kit" what this kit adds. Code copied from any of them runs unchanged.

  Utilities                Timer, Accumulator, set_seed, try_gpu; D2LError (one-line errors).
  Data                     synthetic_data, data_iter, load_array (0.17 sec. 3.2-3.3); Fashion-MNIST
                           and MNIST from their IDX files: load_data_fashion_mnist, text labels.
  Models and losses        linreg, squared_loss, sgd, FlattenLayer.
  Training and evaluation  accuracy, evaluate_accuracy, train_epoch_ch3, train_ch3, predict_ch3;
                           the kit's save_weights/load_weights and the look inside a classifier
                           (confusion_matrix, show_confusion, most_confused, show_mistakes).
  Plotting                 set_figsize, plot, show_images, Animator, semilogy, and where figures go.
  Downloads                DATA_HUB, download, extract (0.17 sec. 4.10, the Kaggle house prices on).
  The d2l 1.0 classes      Module, DataModule, Trainer, ProgressBoard ... (d2l.ai today).
  The books' import line   `from d2l import torch as d2l`, and the tensor aliases d2l.reshape ...
  Data files (kit)         where the IDX files are looked for, the parsed cache, the download.
  The kit's entries        d2l.sweep, and `python -m d2l`, which hands over to d2lkit.cli.

__all__ lists the book's API. The few public names outside it (writing_to, pyplot,
finish_figure, evaluate_verdicts ...) are what the kit's own package, d2lkit beside this file,
uses: the chapter scripts' flags and outputs (d2lkit.script) and the commands of `python -m d2l`
(compare, sweep, exercises, compare-models). d2lkit imports d2l, never the other way round.
The annotations name what a page passes by its role (Net, Loss, Updater, Batches, PathLike ...):
the aliases stand after the imports.

At import: `import d2l` needs only torch and numpy (torchvision only when a data set must be
downloaded, or d2l.torchvision is asked for), and does one thing besides defining names: it
gives the module a class of its own (_BookModule), so that the books' `from d2l import torch as
d2l` gives d2l itself; the books' tensor aliases (d2l.reshape, d2l.float32, d2l.plt ...) are
served by the module's __getattr__.

At the first figure: figure_mode() (in Plotting) decides once where figures go: inline in a
notebook, a window in a script with a screen, or a PNG per figure in a script without one.
In a script (either kind) it registers one exit hook, _at_exit, which draws the last points of
progress boards; without a screen the hook also saves the figures a page drew with plt and left
open, and IPython's display()/clear_output() are routed to the figure's file. Nothing else of
d2l's runs at exit (the chapter scripts' runner, d2lkit.script.run_script, adds gc.freeze).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import gzip
import hashlib
import http.client
import inspect
import math
import numbers
import os
import random
import struct
import sys
import tarfile
import tempfile
import time
import weakref
import zlib
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

# Names for annotations only: matplotlib loads at the first figure, pandas for a sweep.
if TYPE_CHECKING:
    from types import ModuleType

    import pandas
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The types the annotations below use: what a book's page passes in, by its role.
PathLike = str | os.PathLike  # a file or folder path
Net = Callable[..., torch.Tensor]  # a model: an nn.Module, or a function of X such as softmax's net
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # loss(y_hat, y), a module or function
Updater = torch.optim.Optimizer | Callable[[int], None]  # an optimizer, or updater(batch_size)
Batches = Iterable[Sequence[torch.Tensor]]  # a data iterator: (X, y) minibatches
TextLabels = Callable[[Iterable[int] | torch.Tensor | int], list[str]]  # class indices to names
Points = Sequence[float] | torch.Tensor | np.ndarray  # the values along one axis of a curve
Curves = Points | Sequence[Points]  # one curve's values, or several curves'
Limits = Sequence[float] | None  # an axis range [low, high], or None for matplotlib's own
Images = torch.Tensor | Sequence[torch.Tensor | np.ndarray]  # images (H, W) or (1, H, W) each
# What a weights file records beside its tensors (kit): the script and the flags that shape its
# model, e.g. {'model': 'ch_mlp/scratch.py', 'hidden': [256], 'dataset': 'mnist'}.
Settings = dict[str, str | int | float | bool | list[int] | list[float]]
# on_epoch(epoch, numbers): called after each epoch with its numbers (train_loss, test_acc ...)
EpochCallback = Callable[[int, dict[str, float]], None]

# The book's API (star-imports get only this; the kit's few public helpers are left out).
__all__ = [
    # utilities
    'D2LError', 'Diverged', 'set_seed', 'try_gpu', 'try_all_gpus', 'Timer', 'Accumulator',
    # data
    'ArrayLoader', 'read_idx', 'locate_idx_files', 'load_mnist_arrays', 'load_data',
    'load_data_fashion_mnist',
    'load_data_mnist', 'get_fashion_mnist_labels', 'get_mnist_labels', 'text_labels',
    'synthetic_data', 'data_iter', 'load_array',
    # downloads
    'DATA_URL', 'DATA_HUB', 'download', 'extract', 'download_extract', 'download_all',
    # models and losses
    'FlattenLayer', 'linreg', 'squared_loss', 'sgd', 'init_normal',
    # training and evaluation
    'accuracy', 'evaluate_accuracy', 'evaluate_accuracy_ch3', 'evaluate_accuracy_gpu',
    'evaluate_loss',
    'check_loss', 'train_epoch_ch3', 'train_ch3', 'train_classifier', 'train_epochs', 'predict_ch3',
    'save_weights', 'load_weights',
    'confusion_matrix', 'show_confusion', 'most_confused', 'show_mistakes',
    # plotting
    'use_svg_display', 'set_figsize', 'set_axes', 'plot', 'show_images', 'show_fashion_mnist',
    'plot_history', 'plot_regression', 'Animator', 'semilogy',
    # the d2l 1.0 classes
    'nn_Module', 'cpu', 'gpu', 'num_gpus', 'add_to_class', 'HyperParameters', 'ProgressBoard',
    'Module', 'DataModule', 'Trainer', 'SGD', 'SyntheticRegressionData', 'LinearRegressionScratch',
    'LinearRegression', 'FashionMNIST', 'Classifier', 'SoftmaxRegression',
]


# ============================================================================
# Utilities
# ============================================================================

class D2LError(RuntimeError):
    """An expected user-facing error whose one-line message names the problem and the fix (kit)."""


class Diverged(D2LError):
    """The loss became NaN or infinite: training diverged; a sweep records it as an answer (kit)."""


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and GPUs) so that a run can be repeated (kit)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def try_gpu(i: int = 0) -> torch.device:
    """Return cuda:i if it exists, else Apple's mps, else the CPU (0.17 sec. 5.6)."""
    if torch.cuda.device_count() > i:
        return torch.device(f'cuda:{i}')
    mps = getattr(torch.backends, 'mps', None)  # absent from older and some CPU-only builds
    if i == 0 and mps is not None and mps.is_available():
        return torch.device('mps')
    return torch.device('cpu')


def try_all_gpus() -> list[torch.device]:
    """Return every CUDA device, or [mps], or [cpu]: never an empty list (0.17 sec. 5.6)."""
    devices = [torch.device(f'cuda:{i}') for i in range(torch.cuda.device_count())]
    return devices or [try_gpu()]


class Timer:
    """Record several running times (0.17 sec. 3.1)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self) -> float:
        """Stop the timer, record the time and return it."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        """Return the average recorded time."""
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        """Return the sum of the recorded times."""
        return sum(self.times)

    def cumsum(self) -> list[float]:
        """Return the running totals of the recorded times."""
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Sum n running totals, e.g. loss sum, correct predictions and examples (0.17 sec. 3.6)."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args: float) -> None:
        """Add one value to each total."""
        # detach: a loss that still requires grad converts to a float without torch's warning
        self.data = [a + float(b.detach() if torch.is_tensor(b) else b)
                     for a, b in zip(self.data, args)]

    def reset(self) -> None:
        """Set every total back to zero."""
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]


@contextlib.contextmanager
def writing_to(path: PathLike) -> Iterator[None]:
    """Turn a failure to write an output file (a folder, no permission, a full disk) into a line."""
    try:
        yield
    except OSError as e:
        raise D2LError(f'cannot write {path}: {e.strerror or e}; '
                       'choose a file in a writable folder') from None


# ============================================================================
# Data
# ============================================================================

class ArrayLoader:
    """Mini-batches cut from tensors held in memory, reshuffled every epoch when shuffle=True (kit).

    The whole split lives in one tensor, so a batch is one gather (or one slice)
    and no worker processes are needed. With `uint8_images=True` the first tensor
    is kept as uint8 (4x less memory) and each batch is scaled to float32 in [0, 1].
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, shuffle: bool = False,
                 uint8_images: bool = False) -> None:
        if int(batch_size) <= 0:
            raise D2LError(f'batch_size must be a positive integer, got {batch_size}')
        self.tensors = tuple(tensors)
        if len({len(t) for t in self.tensors}) != 1:
            raise D2LError(f'tensors have different lengths {[len(t) for t in self.tensors]}; '
                           'pass features and labels with one row per example')
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.uint8_images = uint8_images

    @property
    def num_examples(self) -> int:
        """Number of examples in the split."""
        return len(self.tensors[0])

    def __len__(self) -> int:
        return math.ceil(self.num_examples / self.batch_size)  # the last partial batch is kept

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return _Batches(self._batches())

    def _batches(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n, bs = self.num_examples, self.batch_size
        # Drawn from torch's global generator, so set_seed() fixes the batch order.
        order = torch.randperm(n) if self.shuffle else None
        for i in range(0, n, bs):
            idx = order[i:i + bs] if order is not None else slice(i, i + bs)
            # index_select gathers rows ~3x faster than t[idx] (advanced indexing); same result.
            gather = order is not None
            batch = tuple(t.index_select(0, idx) if gather and isinstance(t, torch.Tensor)
                          else t[idx] for t in self.tensors)
            if self.uint8_images:
                batch = (batch[0].float().div_(255),) + batch[1:]
            yield batch


class _Batches:
    """One pass over a loader. Also has the Python 2 spelling .next(): the older port's
    softmax page calls iter(test_iter).next()."""

    def __init__(self, batches: Iterator[tuple[torch.Tensor, ...]]) -> None:
        self._batches = batches

    def __iter__(self) -> _Batches:
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        return next(self._batches)

    next = __next__


_IDX_TYPES = {0x08: np.uint8}


def read_idx(path: PathLike) -> torch.Tensor:
    """Read an IDX file (plain or .gz) into a uint8 tensor; its header must match its size (kit)."""
    path = Path(path)
    try:
        with (gzip.open(path, 'rb') if path.suffix == '.gz' else open(path, 'rb')) as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise D2LError(f'{path} is corrupt or truncated ({e}); delete it and reinstall or '
                       're-download the data set') from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise D2LError(f'{path} is not an IDX file of unsigned bytes (bad magic number '
                       f'{raw[:4].hex() or "<empty>"}); delete it and get the original file')
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise D2LError(f'{path} has a truncated IDX header; delete it and get the original file')
    dims = struct.unpack(f'>{ndim}I', raw[4:header])
    if len(raw) - header != math.prod(dims):
        raise D2LError(f'{path} holds {len(raw) - header} bytes of data but its header says '
                       f'{dims} ({math.prod(dims)} bytes); the file is damaged: '
                       'delete it and get it again')
    array = np.frombuffer(raw, dtype=_IDX_TYPES[raw[2]], offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def _parse_split(files: dict[str, Path], split: str,
                 title: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read and validate one split: images (N, 28, 28) uint8 and labels (N,) in 0..9."""
    image_file, label_file = (files[s] for s in _SPLIT_FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise D2LError(f'{image_file} holds shape {tuple(images.shape)}, not N x 28 x 28 {title} '
                       'images; check that the right file is in place')
    if labels.dim() != 1:
        raise D2LError(f'{label_file} holds shape {tuple(labels.shape)}, not a vector of labels; '
                       'check that the right file is in place')
    if len(images) != len(labels):
        raise D2LError(f'{title} {split} split has {len(images)} images but {len(labels)} labels '
                       f'({image_file.name}, {label_file.name}); '
                       'replace both files from one source')
    if len(labels) and int(labels.max()) > 9:
        raise D2LError(f'{label_file} has label {int(labels.max())}; {title} labels are 0..9')
    return images, labels.long()


def locate_idx_files(name: str = 'fashion-mnist', root: PathLike | None = None,
                     download: bool = True) -> dict[str, Path]:
    """The four IDX files of a data set, by name ('train-images-idx3-ubyte' ...) (kit).

    Looked for where load_data looks: in `root`, $D2L_DATA, the default cache
    (~/.cache/d2l), the system copy (Debian's dataset-fashion-mnist), and with
    download=True finally downloaded with torchvision. Not found: one D2LError line
    saying where it looked and the fixes.

    """
    if name not in _DATASETS:
        raise D2LError(f'unknown data set {name!r}; choose one of {", ".join(_DATASETS)}')
    title = _DATASETS[name]['title']
    dirs = _data_dirs(root, name)
    found = next(((label, f) for label, d in dirs if (f := _find_idx_files(d, name))), None)
    # a typo in root should not pass unseen
    if found and root is not None and found[0] != 'root argument':
        print(f'note: no {title} files in {root}; using the {found[0]} in '
              f'{next(iter(found[1].values())).parent}', file=sys.stderr)
    files, download_note = (found[1] if found else None), 'download not allowed'
    if files is None and download:  # into root, else $D2L_DATA, else the default cache
        files, download_note = _download(name, dirs[0][1])
    if files is None:
        where = '; '.join(f'{label} {d}' for label, d in dirs)
        fixes = []
        # no apt on macOS or Windows
        if _DATASETS[name]['debian'] and sys.platform.startswith('linux'):
            fixes.append(f'install Debian\'s package (apt-get install {_DATASETS[name]["debian"]})')
        fixes += ['pass root=DIR (or --data-root DIR, or set D2L_DATA) pointing at a folder '
                  'with the four IDX files', 'allow the download (network access)']
        raise D2LError(f'{title} not found (looked in: {where}; {download_note}). '
                       f'Fix: {", or ".join(fixes)}.')
    return files


def load_mnist_arrays(name: str = 'fashion-mnist', root: PathLike | None = None,
                      download: bool = True) -> dict[str, torch.Tensor]:
    """Return {'train_images', 'train_labels', 'test_images', 'test_labels'} tensors (kit).

    Images are uint8 (N, 28, 28), labels int64 (N,). The files are found by locate_idx_files;
    the parsed tensors are cached next to the first writable of root, $D2L_DATA and the
    default cache, and reused while the files are unchanged.
    """
    files = locate_idx_files(name, root, download)
    title, fingerprint = _DATASETS[name]['title'], _fingerprint(files)
    caches = [d / name / f'{name}.pt' for label, d in _data_dirs(root, name)
              if label != 'system copy']
    for cache in caches:
        try:
            arrays = torch.load(cache, weights_only=True)
            if arrays.get('fingerprint') == fingerprint:
                return {k: v for k, v in arrays.items() if k != 'fingerprint'}
        except Exception:  # missing, stale or damaged: rebuilt from the IDX files below
            pass
    arrays = {}
    for split in ('train', 'test'):
        arrays[f'{split}_images'], arrays[f'{split}_labels'] = _parse_split(files, split, title)
    errors = []
    for cache in caches:
        try:
            _save_atomically({**arrays, 'fingerprint': fingerprint}, cache)
            break
        except OSError as e:
            errors.append(f'{cache.parent}: {e.strerror or e}')
    else:  # no writable folder only costs speed next time
        print(f'note: could not cache {title} ({"; ".join(errors)}); continuing without a cache '
              '(set D2L_DATA to a writable folder to cache)', file=sys.stderr)
    return arrays


def _resize(images: torch.Tensor, resize: int | Sequence[int], chunk: int = 4096) -> torch.Tensor:
    """Resize (N, 1, H, W) uint8 images once, in chunks so memory stays bounded; stays uint8."""
    size = (resize, resize) if isinstance(resize, int) else tuple(resize)
    out = torch.empty((len(images), 1, *size), dtype=torch.uint8)
    for i in range(0, len(images), chunk):
        x = images[i:i + chunk].float()
        x = nn.functional.interpolate(x, size=size, mode='bilinear', align_corners=False,
                                      antialias=True)
        out[i:i + chunk] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


def load_data(name: str, batch_size: int, resize: int | Sequence[int] | None = None,
              root: PathLike | None = None,
              download: bool = True) -> tuple[ArrayLoader, ArrayLoader]:
    """Return (train_iter, test_iter) of 'fashion-mnist' or 'mnist', train reshuffled (kit)."""
    arrays = load_mnist_arrays(name, root, download)
    loaders = []
    for split, shuffle in (('train', True), ('test', False)):
        images = arrays[f'{split}_images'].unsqueeze(1)  # (N, 1, 28, 28): one channel
        if resize:
            images = _resize(images, resize)
        loaders.append(ArrayLoader((images, arrays[f'{split}_labels']), batch_size,
                                   shuffle=shuffle, uint8_images=True))
    return loaders[0], loaders[1]


def load_data_fashion_mnist(batch_size: int, resize: int | Sequence[int] | None = None,
                            root: PathLike | None = None, download: bool = True
                            ) -> tuple[ArrayLoader, ArrayLoader]:
    """Return (train_iter, test_iter) of Fashion-MNIST (0.17 sec. 3.5; port sec. 3.5).

    X: float32 (B, 1, 28, 28) in [0, 1], or resized; y: int64 (B,).
    """
    return load_data('fashion-mnist', batch_size, resize, root, download)


def load_data_mnist(batch_size: int, resize: int | Sequence[int] | None = None,
                    root: PathLike | None = None, download: bool = True
                    ) -> tuple[ArrayLoader, ArrayLoader]:
    """Return (train_iter, test_iter) over MNIST digits, batched as Fashion-MNIST is (kit)."""
    return load_data('mnist', batch_size, resize, root, download)


FASHION_MNIST_LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']


def _indices(labels: Iterable[int] | torch.Tensor | int) -> list[int]:
    """Class indices as a flat list of ints, from an int, a list or a tensor of any shape."""
    if isinstance(labels, torch.Tensor):
        return [int(i) for i in labels.reshape(-1).tolist()]
    return [int(labels)] if isinstance(labels, (int, np.integer)) else [int(i) for i in labels]


def get_fashion_mnist_labels(labels: Iterable[int] | torch.Tensor | int) -> list[str]:
    """Return the names of Fashion-MNIST class indices (0.17 sec. 3.5; port sec. 3.5)."""
    return [FASHION_MNIST_LABELS[i] for i in _indices(labels)]


def get_mnist_labels(labels: Iterable[int] | torch.Tensor | int) -> list[str]:
    """Return the text labels ('0'..'9') of MNIST digits (kit)."""
    return [str(i) for i in _indices(labels)]


def text_labels(name: str) -> TextLabels:
    """The label function of a data set name: Fashion-MNIST's names or MNIST's digits (kit)."""
    return get_mnist_labels if name == 'mnist' else get_fashion_mnist_labels


def synthetic_data(w: torch.Tensor, b: float,
                   num_examples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate X ~ N(0, 1), (n, len(w)), and y = Xw + b + noise, (n, 1) (0.17 sec. 3.2)."""
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = X @ torch.as_tensor(w, dtype=X.dtype) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def data_iter(batch_size: int, features: torch.Tensor, labels: torch.Tensor
              ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (features, labels) minibatches in random order (0.17 sec. 3.2; port sec. 3.2)."""
    return iter(ArrayLoader((features, labels), batch_size, shuffle=True))


def load_array(data_arrays: Sequence[torch.Tensor], batch_size: int,
               is_train: bool = True) -> ArrayLoader:
    """Return batches of in-memory tensors, reshuffled each epoch if is_train (0.17 sec. 3.3)."""
    return ArrayLoader(data_arrays, batch_size, shuffle=is_train)


# ============================================================================
# Models and losses
# ============================================================================

class FlattenLayer(nn.Module):
    """Flatten each example to a vector: (B, ...) -> (B, features) (port sec. 3.7)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model Xw + b (0.17 sec. 3.2; port sec. 3.2)."""
    return X @ w + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Half squared error of each example, (y_hat - y)^2 / 2 (0.17 sec. 3.2; port sec. 3.2)."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params: Iterable[torch.Tensor], lr: float, batch_size: int) -> None:
    """Minibatch SGD in place: param -= lr * grad / batch_size (0.17 sec. 3.2; port sec. 3.2).

    The gradient is that of the loss *summed* over the batch, so dividing by the batch
    size makes lr mean the same as torch.optim.SGD on the mean loss. Each gradient is
    zeroed after its step: that keeps scratch loops short, and zeroing again before
    backward is harmless.
    """
    with torch.no_grad():
        for param in params:
            if param.grad is None:
                continue
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def init_normal(module: nn.Module, std: float = 0.01) -> None:
    """Init an nn.Linear: weights N(0, std^2) drawn in scratch layout (in, out), bias 0 (kit)."""
    if isinstance(module, nn.Linear):
        with torch.no_grad():
            # Scratch code draws W as (inputs, outputs) and computes X @ W; nn.Linear stores W.T.
            # Drawing the same shape and transposing gives identical weights under one seed.
            module.weight.copy_(torch.normal(0, std, size=module.weight.shape[::-1],
                                             device=module.weight.device).T)
            module.bias.zero_()


# ============================================================================
# Training and evaluation
# ============================================================================

def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Return the number of correct predictions (argmax of y_hat equals y) (0.17 sec. 3.6)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return float((y_hat.type(y.dtype) == y).sum())


def _model_device(net: Net, params: Sequence[torch.Tensor] | None = None) -> torch.device | None:
    """The device the model lives on, or None for a parameter-free function (data stays put)."""
    tensors = list(net.parameters()) if isinstance(net, nn.Module) else []
    tensors = tensors or list(params or [])
    return tensors[0].device if tensors else None


def _device_for(net: Net, device: torch.device | str | None) -> torch.device | None:
    """Where a call's batches go: `device` when the caller names one, else where the model lives."""
    return torch.device(device) if device is not None else _model_device(net)


def _is_model(obj: object) -> bool:
    """Tell a model (module or function) from an iterable of batches."""
    return isinstance(obj, nn.Module) or (callable(obj) and not hasattr(obj, '__iter__'))


@contextlib.contextmanager
def _evaluating(net: Net) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
    """Yield the model as a prediction function: no gradients, dropout off.

    A module goes to eval mode, and back to its mode afterwards. A plain function with an
    `is_training` argument (the older port's dropout net, net(X, is_training=True)) is
    called with is_training=False.
    """
    was_training = net.training if isinstance(net, nn.Module) else None
    if was_training:
        net.eval()  # dropout off, batch norm on running statistics
    predict = net
    if not isinstance(net, nn.Module):
        try:
            if 'is_training' in inspect.signature(net).parameters:
                predict = functools.partial(net, is_training=False)
        except (TypeError, ValueError):  # a callable without a signature (a builtin)
            pass
    try:
        with torch.no_grad():
            yield predict
    finally:
        if was_training:
            net.train()


def _net_and_data(first: Net | Batches, second: Net | Batches) -> tuple[Net, Batches]:
    """The (net, data_iter) of a call in either book's order, decided once: the newer book's
    (net, data_iter) when only the first is a model, else the port's (data_iter, net)."""
    if _is_model(first) and not _is_model(second):
        return first, second
    return second, first


def _evaluate_accuracy(net: Net, data_iter: Batches, device: torch.device | None) -> float:
    """Accuracy of net over data_iter, each batch moved to device (None: left where it is)."""
    metric = Accumulator(2)  # correct predictions, examples
    with _evaluating(net) as predict:
        for X, y in data_iter:
            if device is not None:
                X, y = X.to(device), y.to(device)
            metric.add(accuracy(predict(X), y), y.numel())
    return metric[0] / metric[1]


def evaluate_accuracy(data_iter_or_net: Batches | Net, net_or_data_iter: Net | Batches,
                      device: torch.device | str | None = None) -> float:
    """Accuracy of a model on a data set, dropout off, no gradients (0.17 sec. 3.6; port sec. 3.6).

    The port calls evaluate_accuracy(data_iter, net), the newer book evaluate_accuracy(net,
    data_iter); both orders work. Batches go to `device`, else to the device of the model's
    parameters; a module's training/eval mode is restored afterwards.
    """
    net, data_iter = _net_and_data(data_iter_or_net, net_or_data_iter)
    return _evaluate_accuracy(net, data_iter, _device_for(net, device))


evaluate_accuracy_ch3 = evaluate_accuracy  # the community port's name


def evaluate_accuracy_gpu(net: Net, data_iter: Batches,
                          device: torch.device | str | None = None) -> float:
    """Accuracy of net on data_iter on `device`, by default the model's (0.17 sec. 6.6)."""
    return _evaluate_accuracy(net, data_iter, _device_for(net, device))


def _loss_sum(l: torch.Tensor, loss: Loss, n: int) -> torch.Tensor:
    """Turn a loss value into the sum over the batch's n examples.

    Per-example values are summed; a scalar is taken at the loss's word
    (`reduction='sum'` or 'mean'), and a scalar from a plain function as a mean.
    """
    if l.numel() > 1:
        return l.sum()
    return l.reshape(()) if getattr(loss, 'reduction', 'mean') == 'sum' else l.reshape(()) * n


def evaluate_loss(net: Net, data_iter: Batches, loss: Loss) -> float:
    """Mean loss per example of net on data_iter, dropout off, no gradients (0.17 sec. 4.4)."""
    device = _model_device(net)
    metric = Accumulator(2)  # loss sum, examples
    with _evaluating(net) as predict:
        for X, y in data_iter:
            if device is not None:
                X, y = X.to(device), y.to(device)
            out = predict(X)
            if y.numel() == out.numel():
                y = y.reshape(out.shape)  # (n,) labels against (n, 1) predictions, as the book does
            metric.add(_loss_sum(loss(out, y), loss, y.shape[0]), y.shape[0])
    return metric[0] / metric[1]


def check_loss(value: float | torch.Tensor, epoch: int | None, batch: int) -> None:
    """Stop with one line, saying where, when a loss becomes NaN or infinite (diverged) (kit)."""
    value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    if not math.isfinite(value):
        where = f'batch {batch}' if epoch is None else f'epoch {epoch}, batch {batch}'
        raise Diverged(f'the loss became {value} at {where}: training diverged; '
                       'lower the learning rate (--lr) and try again')


def train_epoch_ch3(net: Net, train_iter: Batches, loss: Loss, updater: Updater, *,
                    device: torch.device | str | None = None, epoch: int | None = None
                    ) -> tuple[float, float]:
    """Train one epoch; return (mean loss per example, training accuracy) (0.17 sec. 3.6).

    `updater` is a torch optimizer, stepped on the mean of the loss, or a function
    updater(batch_size) such as lambda n: d2l.sgd(params, lr, n), called after backward
    on the summed loss. The kit's extras: batches go to `device` (default: the model's),
    and a NaN or infinite loss stops training with one line naming `epoch` and the batch.
    """
    if isinstance(net, nn.Module):
        net.train()
    device = _device_for(net, device)
    metric = Accumulator(3)  # loss sum, correct predictions, examples
    for i, (X, y) in enumerate(train_iter, start=1):
        if device is not None:
            X, y = X.to(device), y.to(device)
        y_hat = net(X)
        l = loss(y_hat, y)
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            l.sum().backward()
            updater(X.shape[0])
        l_sum = float(_loss_sum(l.detach(), loss, y.shape[0]))  # whatever the loss's reduction
        check_loss(l_sum, epoch, i)
        metric.add(l_sum, accuracy(y_hat.detach(), y), y.shape[0])
    return metric[0] / metric[2], metric[1] / metric[2]


def train_ch3(net: Net, train_iter: Batches, test_iter: Batches, loss: Loss, num_epochs: int,
              updater_or_batch_size: Updater | int | None = None,
              params: Iterable[torch.Tensor] | None = None,
              lr: float | None = None, optimizer: torch.optim.Optimizer | None = None, *,
              log: _EpochLog | None = None) -> None:
    """Train, test after each epoch and print the classic lines; returns nothing, as in the books
    (0.17 sec. 3.6; port sec. 3.6).

    The newer book: train_ch3(..., num_epochs, updater), an optimizer (stepping on the mean
    loss) or a function updater(batch_size) called after backward on the summed loss; it
    also draws the book's Animator of the curves. The older port: train_ch3(..., num_epochs,
    batch_size, params, lr) updates with sgd(params, lr, batch_size) after backward on the
    summed loss, and train_ch3(..., batch_size, None, None, optimizer) steps the optimizer
    on that sum. The printed loss is the mean per example whatever the loss's reduction.
    `log` is the kit's bookkeeping (train_classifier passes its own to get the history).
    """
    updater = updater_or_batch_size
    newer_book = isinstance(updater, torch.optim.Optimizer) or callable(updater)
    if not newer_book:  # the port's: batch_size, then params and lr, or None, None, optimizer
        # A list: params is read for the device below and by sgd after every batch, and a
        # generator such as net.parameters() would be spent by its first reading.
        params = None if params is None else list(params)
        updater = _port_updater(updater_or_batch_size, params, lr, optimizer)
    if log is None:  # the book's own call: the classic lines, and the newer book's Animator
        animator = Animator(xlabel='epoch', xlim=[1, max(num_epochs, 2)], ylim=[0.3, 0.9],
                            legend=['train loss', 'train acc', 'test acc']) if newer_book else None
        log = _EpochLog(num_epochs, _model_device(net, params), animator=animator)
    for epoch in range(1, num_epochs + 1):
        batches = log.timed(train_iter)  # the kit times the pass and counts its examples
        train_metrics = train_epoch_ch3(net, batches, loss, updater, device=log.device, epoch=epoch)
        test_acc = _evaluate_accuracy(net, test_iter, log.device)
        log.add(epoch, *train_metrics, test_acc)
    log.finish()


class _EpochLog:
    """The kit's side of an epoch loop, train_ch3's and train_epochs': it times the training
    passes, keeps the per-epoch history, prints the classic line (every `print_every` epochs
    and the last) and at the end examples/sec and the device, and hands each epoch's numbers
    to an `animator` and to on_epoch(epoch, numbers) (an exception it raises stops training).
    eval_name labels what the test data holds: 'valid acc' names the line's last number and
    the history key valid_acc.
    """

    def __init__(self, num_epochs: int, device: torch.device | None, *, verbose: bool = True,
                 print_every: int = 1, animator: Animator | None = None,
                 on_epoch: EpochCallback | None = None, eval_name: str = 'test acc') -> None:
        self.num_epochs, self.device, self.verbose = num_epochs, device, verbose
        self.print_every, self.animator, self.on_epoch = print_every, animator, on_epoch
        self.eval_name = eval_name
        self.history: dict[str, list[float]] = {
            'train_loss': [], 'train_acc': [], eval_name.replace(' ', '_'): [], 'seconds': []}
        self.timer, self.examples = Timer(), 0

    def timed(self, batches: Batches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Pass the batches through, timing the whole pass and counting its examples."""
        self.timer.start()
        for X, y in batches:
            self.examples += y.shape[0]
            yield X, y
        self.timer.stop()

    def add(self, epoch: int, train_loss: float, train_acc: float, test_acc: float) -> None:
        """Record an epoch's numbers and its training seconds; print, draw, call on_epoch."""
        numbers = (train_loss, train_acc, test_acc, self.timer.times[-1])
        for values, value in zip(self.history.values(), numbers):
            values.append(value)
        if self.verbose and (epoch % self.print_every == 0 or epoch == self.num_epochs):
            print(f'epoch {epoch}, loss {train_loss:.4f}, train acc {train_acc:.3f}, '
                  f'{self.eval_name} {test_acc:.3f}')
        if self.animator is not None:
            self.animator.add(epoch, (train_loss, train_acc, test_acc))
        if self.on_epoch is not None:
            self.on_epoch(epoch, {key: values[-1] for key, values in self.history.items()})

    def finish(self) -> dict[str, list[float]]:
        """Print examples/sec over all the training passes; return the history."""
        if self.verbose and self.num_epochs > 0:
            print(f'{self.examples / self.timer.sum():.1f} examples/sec on {self.device or "cpu"}')
        return self.history


def _port_updater(batch_size: int | None, params: list[torch.Tensor] | None, lr: float | None,
                  optimizer: torch.optim.Optimizer | None) -> Callable[[int], None]:
    """The older port's update as a function updater(n), which train_epoch_ch3 calls after
    backward on the summed loss: a step of its optimizer, or sgd(params, lr, batch_size)."""
    if optimizer is not None:
        def step_and_zero(n: int) -> None:
            optimizer.step()
            optimizer.zero_grad()  # the next backward starts from no gradient, as in the port
        optimizer.zero_grad()  # the port zeroes before every backward, the first one too
        return step_and_zero
    if params is not None and lr is not None:
        # The port divides by its batch_size argument, also on the last, partial batch: with a loss
        # that is already a mean, dividing by the real size n would kick that batch 2.7x harder.
        return lambda n: sgd(params, lr, batch_size if batch_size is not None else n)
    raise D2LError('train_ch3 needs params and lr (scratch) or an optimizer (concise)')


def train_classifier(net: Net, train_iter: Batches, test_iter: Batches, loss: Loss,
                     num_epochs: int, updater: Updater, device: torch.device | str | None = None,
                     verbose: bool = True, animator: Animator | None = None,
                     on_epoch: EpochCallback | None = None, eval_name: str = 'test acc'
                     ) -> dict[str, list[float]]:
    """The newer book's train_ch3 loop, returning the per-epoch history (kit).

    `updater` as in train_ch3: a torch optimizer (stepping on the mean loss) or a function
    updater(batch_size) called after backward on the summed loss. Batches go to `device`,
    else to the model's. Prints the classic lines (unless verbose=False) and, given an
    `animator`, adds each epoch's three numbers to it; history keys: train_loss, train_acc,
    test_acc, seconds. on_epoch and eval_name: as in train_epochs.
    """
    log = _EpochLog(num_epochs, _device_for(net, device), verbose=verbose, animator=animator,
                    on_epoch=on_epoch, eval_name=eval_name)
    train_ch3(net, train_iter, test_iter, loss, num_epochs, updater, log=log)
    return log.history


def train_epochs(train_epoch: Callable[[Batches, int], tuple[float, float]], net: Net,
                 train_iter: Batches, test_iter: Batches, num_epochs: int,
                 device: torch.device | None = None, print_every: int = 1, verbose: bool = True,
                 animator: Animator | None = None, on_epoch: EpochCallback | None = None,
                 eval_name: str = 'test acc') -> dict[str, list[float]]:
    """Run train_epoch(batches, epoch) -> (mean loss, accuracy) per epoch; return the history (kit).

    train_ch3's epoch loop for training code of its own (ch_mlp/manual.py's hand-written
    backward): train_epoch trains one pass over the batches of train_iter and returns what
    train_epoch_ch3 returns. The loop times the passes, counts their examples, tests on
    test_iter after each epoch, prints the classic line every `print_every` epochs and the
    last, then examples/sec and the device; an `animator` gets (train loss, train acc, test
    acc) after every epoch, and on_epoch(epoch, numbers) that epoch's numbers (an exception
    it raises stops training). eval_name labels what test_iter holds: 'valid acc' names the
    line's last number and the history key valid_acc.
    """
    log = _EpochLog(num_epochs, device, verbose=verbose, print_every=print_every,
                    animator=animator, on_epoch=on_epoch, eval_name=eval_name)
    for epoch in range(1, num_epochs + 1):
        train_loss, train_acc = train_epoch(log.timed(train_iter), epoch)
        log.add(epoch, train_loss, train_acc, _evaluate_accuracy(net, test_iter, device))
    return log.finish()


def first_predictions(net: Net, test_iter: Batches, n: int, device: torch.device | None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first n test images, their labels and the model's predicted classes (on the CPU)."""
    Xs, ys = [], []
    for X, y in test_iter:  # enough batches for n images, however small the batch size
        Xs.append(X), ys.append(y)
        if sum(map(len, ys)) >= n:
            break
    X, y = torch.cat(Xs)[:n], torch.cat(ys)[:n]
    with _evaluating(net) as predict:
        y_hat = predict(X.to(device) if device is not None else X).argmax(dim=1).cpu()
    return X, y, y_hat


def draw_predictions(X: torch.Tensor, trues: list[str], preds: list[str], num_rows: int,
                     path: PathLike | None) -> None:
    """Images titled true/predicted, the wrong ones in red."""
    titles = [t + '\n' + p + ('' if t == p else ' (wrong)') for t, p in zip(trues, preds)]
    colors = ['black' if t == p else 'red' for t, p in zip(trues, preds)]
    show_images(X.reshape(len(X), *X.shape[-2:]), num_rows, math.ceil(len(X) / num_rows),
                titles=titles, path=path, title_colors=colors,
                suptitle='true label, then prediction (wrong ones in red)')


def predict_ch3(net: Net, test_iter: Batches, n: int = 6, path: PathLike | None = None,
                labels: TextLabels | None = None, num_rows: int = 1,
                device: torch.device | str | None = None) -> None:
    """Draw the first n test images titled true/predicted, wrong ones red (0.17 sec. 3.6).

    Returns nothing, as in the book. Batches go to `device`, else to the model's; `labels`
    turns class indices into names (default Fashion-MNIST's); `path` saves the figure there
    instead of showing it.
    """
    labels = labels or get_fashion_mnist_labels
    X, y, y_hat = first_predictions(net, test_iter, n, _device_for(net, device))
    draw_predictions(X, labels(y), labels(y_hat), num_rows, path)


def save_weights(state: dict[str, torch.Tensor], path: PathLike,
                 settings: Settings | None = None) -> None:
    """Save tensors by name and the settings that made them, atomically with torch.save (kit).

    Tensors and plain values only, never live objects. The `settings` (layer sizes,
    activation, data set ...) are checked by load_weights, so weights are never loaded
    into a model they were not made for.
    """
    with writing_to(path):
        _save_atomically({'weights': {k: v.detach().cpu() for k, v in state.items()},
                          'settings': dict(settings or {})},
                         Path(path))


def load_weights(path: PathLike, expected: dict[str, torch.Tensor] | None = None,
                 settings: Settings | None = None) -> dict[str, torch.Tensor]:
    """Load tensors saved by save_weights (weights_only=True), checked against the model (kit).

    Checked: the recorded settings, the tensors' names and their shapes.

    A file whose recorded settings differ from `settings` (or whose names and shapes differ
    from `expected`) is one D2LError line naming the difference; nothing is returned then.
    """
    path = Path(path)
    if not path.is_file():
        raise D2LError(f'no weights file at {path}; train with --save {path} first or fix the path')
    try:
        saved = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise D2LError(f'{path} is not a weights file saved by torch.save ({type(e).__name__}); '
                       'pass a file written with --save') from None
    # A file from before settings were recorded holds the tensors alone.
    state, recorded = saved, None
    if is_weights_file(saved):
        state, recorded = saved['weights'], saved['settings']
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise D2LError(f'{path} does not hold a dict of tensors; pass a file written with --save')
    if settings is not None and recorded is not None:
        differ = [k for k in sorted(set(settings) | set(recorded))
                  if settings.get(k) != recorded.get(k)]
        if differ:
            made = ', '.join(f'{k}={recorded.get(k)!r}' for k in differ)
            wanted = ', '.join(f'{k}={settings.get(k)!r}' for k in differ)
            raise D2LError(f'{path} was saved with {made}, but this run has {wanted}; '
                           'run with the settings it was saved with, or train again with --save')
    if expected is not None:
        want = {k: tuple(v.shape) for k, v in expected.items()}
        got = {k: tuple(v.shape) for k, v in state.items()}
        if want != got:
            raise D2LError(f'{path} holds weights {got} but this model needs {want}; '
                           'load a file saved by the same script with the same layer sizes')
    return state


def is_weights_file(saved: object) -> bool:
    """True for what save_weights writes: {'weights': {name: tensor}, 'settings': {...}}."""
    return (isinstance(saved, dict) and set(saved) == {'weights', 'settings'}
            and isinstance(saved['weights'], dict))


# Looking inside a trained classifier (kit): which classes it mixes up, and its worst mistakes.
# One evaluation pass (evaluate_verdicts) gives all that the confusion matrix and the mistakes
# need: a script's --confusion and --mistakes together cost one extra pass over the test set.

class Verdicts(NamedTuple):
    """What one evaluation pass says of each example (CPU tensors), and the worst ones' images."""
    labels: torch.Tensor        # (n,) true classes
    predicted: torch.Tensor     # (n,) the class of the largest output, as accuracy() takes it
    probability: torch.Tensor   # (n,) the probability the model gives its prediction
    loss: torch.Tensor          # (n,) cross-entropy: -log of the probability of the true class
    num_classes: int
    worst: torch.Tensor         # indices of the examples with the highest loss, highest first
    worst_images: torch.Tensor  # their images, as the data iterator gave them


def _are_probabilities(out: torch.Tensor) -> bool:
    """Whether a model's outputs are class probabilities already, not logits.

    Most nets give logits; the older port's softmax net ends in softmax, so rows of non-negative
    numbers that sum to 1 are taken as probabilities (logits almost never look like that).
    """
    return bool((out >= 0).all()) and bool(((out.sum(dim=1) - 1).abs() <= 1e-4).all())


def _log_probabilities(out: torch.Tensor, probabilities: bool) -> torch.Tensor:
    """Log class probabilities from a model's outputs: logits, or probabilities already."""
    out = out.float()
    if probabilities:
        return out.clamp_min(torch.finfo(out.dtype).tiny).log()
    return torch.log_softmax(out, dim=1)


def evaluate_verdicts(net: Net, data_iter: Batches, device: torch.device | None,
                      keep: int = 16) -> Verdicts:
    """One pass of net over data_iter (no gradients, dropout off): per example the prediction, its
    probability and the loss, and the `keep` highest-loss images, gathered batch by batch."""
    labels, predicted, probability, losses = [], [], [], []
    worst_loss = worst_index = worst_images = None
    seen, num_classes, probabilities = 0, 0, None
    with _evaluating(net) as predict:
        for X, y in data_iter:
            if device is not None:
                X, y = X.to(device), y.to(device)
            out = predict(X).reshape(len(y), -1)
            if probabilities is None:  # decided on the first batch: a net gives one kind of output
                probabilities = _are_probabilities(out)
            log_p = _log_probabilities(out, probabilities)
            y_hat = out.argmax(dim=1)  # from the outputs: the very classes accuracy() counts
            loss = -log_p.gather(1, y.long().reshape(-1, 1)).reshape(-1)
            labels.append(y), predicted.append(y_hat), losses.append(loss)
            probability.append(log_p.gather(1, y_hat.reshape(-1, 1)).reshape(-1).exp())
            num_classes = out.shape[1]
            if keep:  # the running top `keep`: this batch's worst against the worst so far
                top = loss.topk(min(keep, len(loss))).indices
                candidates = (loss[top], top + seen, X[top])
                if worst_loss is not None:
                    candidates = tuple(torch.cat([old, new]) for old, new in
                                       zip((worst_loss, worst_index, worst_images), candidates))
                order = candidates[0].topk(min(keep, len(candidates[0]))).indices
                worst_loss, worst_index, worst_images = (c[order] for c in candidates)
            seen += len(y)
    if not seen:
        raise D2LError('the data iterator gave no examples; pass the test iterator itself')
    empty = torch.zeros(0, dtype=torch.long)
    return Verdicts(torch.cat(labels).long().cpu(), torch.cat(predicted).cpu(),
                     torch.cat(probability).cpu(), torch.cat(losses).cpu(), num_classes,
                     worst_index.cpu() if worst_index is not None else empty,
                     worst_images.cpu() if worst_images is not None else empty)


def count_pairs(labels: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The (classes, classes) counts of (true, predicted) pairs: rows true, columns predicted."""
    k = max(num_classes, int(labels.max()) + 1, int(predicted.max()) + 1)
    return torch.bincount(labels.long() * k + predicted.long(), minlength=k * k).reshape(k, k)


def confusion_of(verdicts: Verdicts) -> torch.Tensor:
    """The confusion matrix of one evaluation pass (kit)."""
    return count_pairs(verdicts.labels, verdicts.predicted, verdicts.num_classes)


def confusion_matrix(net: Net, data_iter: Batches,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """Count data_iter's examples by true class (row) and predicted class (column), int64 (kit).

    Batches go to `device`, else to the model's; dropout is off and no gradients are kept.
    The diagonal holds the correct predictions, so its sum over the total is the accuracy.
    """
    return confusion_of(evaluate_verdicts(net, data_iter, _device_for(net, device), keep=0))


def confused_cells(matrix: torch.Tensor, k: int) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells of a confusion matrix, not 0: (true, predicted, count)."""
    off = matrix.clone()
    off.fill_diagonal_(0)
    counts, cells = off.flatten().sort(descending=True, stable=True)  # ties: in row order
    n = len(matrix)
    return [(int(c) // n, int(c) % n, int(count))
            for count, c in zip(counts[:k], cells[:k]) if count > 0]


def most_confused(net: Net, data_iter: Batches, k: int = 3,
                  labels: TextLabels | None = None,
                  device: torch.device | str | None = None) -> list[tuple[str, str, int]]:
    """The k pairs of classes most mixed up: (true, predicted name, count), largest first (kit).

    Off-diagonal cells of confusion_matrix(net, data_iter); pairs never confused are left
    out; `labels` turns class indices into names (default Fashion-MNIST's).
    """
    matrix = confusion_matrix(net, data_iter, device)
    names = (labels or get_fashion_mnist_labels)(range(len(matrix)))
    return [(names[i], names[j], count) for i, j, count in confused_cells(matrix, k)]


def draw_matrix(matrix: torch.Tensor, names: list[str], path: PathLike | None, title: str,
                difference: bool = False) -> str | None:
    """Counts in the cells, class names on both axes. A confusion matrix is coloured by the share of
    its row (the true class); a difference of two by its sign, on a colour map centred at 0."""
    plt = pyplot()
    counts = matrix.detach().cpu().to(torch.int64).numpy()
    if difference:
        top = max(int(np.abs(counts).max()), 1)
        shade, cmap, vmin, vmax, label = counts, 'RdBu', -top, top, 'count difference'
    else:
        rows = counts.sum(axis=1, keepdims=True)
        shade = counts / np.maximum(rows, 1)
        cmap, vmin, vmax, label = 'Blues', 0, 1, 'share of the true class (row)'
    n = len(counts)
    fig, ax = plt.subplots(figsize=(1.2 + 0.62 * n, 0.8 + 0.55 * n))
    image = ax.imshow(shade, cmap=cmap, vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    for i in range(n):
        for j in range(n):
            dark = abs(shade[i, j]) > (0.6 * top if difference else 0.55)  # white on a dark cell
            text = f'{counts[i, j]:+d}' if difference and counts[i, j] else str(counts[i, j])
            ax.text(j, i, text, ha='center', va='center', fontsize=8,
                    color='white' if dark else 'black')
    ax.set_xticks(range(n), names, rotation=45, ha='right', rotation_mode='anchor')
    ax.set_yticks(range(n), names)
    ax.set_xlabel('predicted class'), ax.set_ylabel('true class')
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path, 'confusion')


def show_confusion(net_or_matrix: Net | torch.Tensor, data_iter: Batches | None = None,
                   labels: TextLabels | None = None,
                   path: PathLike | None = None, title: str | None = None,
                   device: torch.device | str | None = None) -> str | None:
    """Draw a confusion matrix: counts in the cells, coloured by the share of each true class (kit).

    Give a model and its data iterator (computed with confusion_matrix), or a matrix already
    computed. Shown inline in a notebook; in a script saved to `path` (else confusion-N.png);
    returns the file written, or None. `labels` names the classes (default Fashion-MNIST's).
    """
    matrix = net_or_matrix
    if data_iter is not None:
        matrix = confusion_matrix(net_or_matrix, data_iter, device)
    if not isinstance(matrix, torch.Tensor) or matrix.dim() != 2 or len(set(matrix.shape)) != 1:
        raise D2LError('show_confusion takes (net, data_iter) or a square matrix of counts, '
                       'e.g. d2l.confusion_matrix(net, test_iter)')
    total = int(matrix.sum())
    accuracy = float(matrix.diagonal().sum()) / max(total, 1)
    title = title or f'confusion matrix: {total} examples, accuracy {accuracy:.3f}'
    names = (labels or get_fashion_mnist_labels)(range(len(matrix)))
    return draw_matrix(matrix, names, path, title)


def draw_mistakes(verdicts: Verdicts, labels: TextLabels,
                  path: PathLike | None, what: str = 'test') -> None:
    """The worst examples in a grid, titled with the true class, the prediction, its probability."""
    index, X = verdicts.worst, verdicts.worst_images
    trues, preds = labels(verdicts.labels[index]), labels(verdicts.predicted[index])
    probs = verdicts.probability[index].tolist()
    titles = [f'{t}\n-> {p} {q:.2f}' for t, p, q in zip(trues, preds, probs)]
    colors = ['black' if t == p else 'red' for t, p in zip(trues, preds)]
    cols = math.ceil(math.sqrt(len(X))) if len(X) else 1
    show_images(X.reshape(len(X), *X.shape[-2:]), math.ceil(len(X) / cols), cols, titles=titles,
                scale=1.7, path=path, title_colors=colors,
                suptitle=f'the {len(X)} {what} images with the highest loss, highest first:\n'
                         'true class, then -> prediction and its probability')


def show_mistakes(net: Net, data_iter: Batches, n: int = 16,
                  labels: TextLabels | None = None,
                  path: PathLike | None = None,
                  device: torch.device | str | None = None) -> None:
    """Draw the n examples with the highest loss, titled true class, prediction, probability (kit).

    The loss is the cross-entropy of the net's outputs (logits, or probabilities when its rows
    already sum to 1); wrong predictions are titled in red. Shown or saved as predict_ch3.
    """
    verdicts = evaluate_verdicts(net, data_iter, _device_for(net, device), keep=n)
    draw_mistakes(verdicts, labels or get_fashion_mnist_labels, path)


# ============================================================================
# Plotting (matplotlib is imported only here, when a figure is asked for)
# ============================================================================
# Where figures go is decided once per process, by figure_mode(), the first time anything draws:
#   'notebook'  Jupyter (inline or widget backend): a figure shows in its cell; Animator and
#               ProgressBoard redraw one figure in place; no files are written.
#   'window'    a script with a screen: plt.show() opens a finished figure (plot, show_images ...)
#               in a window; Animator and ProgressBoard, redrawn every epoch, write their PNG as in
#               'file' mode (a live window would need the script to stop and serve its events).
#   'file'      a script without one (Agg): every figure goes to a PNG of its own, named in one
#               line (plot-1.png, animator-1.png ..., in $D2L_FIGURES or the current folder).
# In a script the same function registers the module's one exit hook, _at_exit; in 'file' mode it
# also routes IPython's display() and clear_output(), which the pages' own Animators call, to
# _display_in_script.

_FIGURE_MODE: str | None = None  # 'notebook', 'window' or 'file', once figure_mode() has decided
_FIGURE_COUNTS: dict[str, int] = {}  # default names given so far, per stem: plot-1.png ...
_FIGURE_FILES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # figure -> its file
_FIGURE_DISPLAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # -> notebook display
_PENDING_BOARDS: weakref.WeakSet = weakref.WeakSet()  # ProgressBoards holding points not yet drawn
# IPython's own display(), once 'file' mode has replaced it; it displays any object
_IPYTHON_DISPLAY: Callable[..., Any] | None = None


def figure_mode() -> str:
    """Decide once, set up and return where figures go: 'notebook', 'window' or 'file' (kit)."""
    global _FIGURE_MODE
    if _FIGURE_MODE is None:
        import matplotlib
        screen = os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')
        if (sys.platform.startswith('linux') and not screen
                and 'inline' not in matplotlib.get_backend()):
            matplotlib.use('Agg')  # no screen: a window backend would fail or hang
        backend = matplotlib.get_backend().lower()
        if 'inline' in backend or 'ipympl' in backend or 'widget' in backend:
            _FIGURE_MODE = 'notebook'
        elif backend in ('agg', 'pdf', 'svg', 'ps', 'cairo', 'template'):
            _FIGURE_MODE = 'file'
        else:
            _FIGURE_MODE = 'window'
        if _FIGURE_MODE != 'notebook':
            # pyplot first: exit hooks run last-registered first, and pyplot's closes every figure
            import matplotlib.pyplot  # noqa: F401
            atexit.register(_at_exit)
    if _FIGURE_MODE == 'file':
        # checked on every call: a page may import IPython after its first figure
        _route_ipython_display()
    return _FIGURE_MODE


def _route_ipython_display() -> None:
    """In 'file' mode, IPython's display(fig) writes fig to its file; clear_output() does nothing.

    A page's own Animator calls them; in a script they would print '<Figure size 350x250 with
    1 Axes>' and terminal escapes instead of showing anything.
    """
    global _IPYTHON_DISPLAY
    ipython_display = sys.modules.get('IPython.display')
    if ipython_display is not None and ipython_display.display is not _display_in_script:
        _IPYTHON_DISPLAY, ipython_display.display = ipython_display.display, _display_in_script
        ipython_display.clear_output = lambda wait=False: None


def _display_in_script(*objs: Any, **kwargs: Any) -> Any:
    """IPython's display() in 'file' mode: a figure is (re)written to its file, all else shown."""
    from matplotlib.figure import Figure
    for fig in [obj for obj in objs if isinstance(obj, Figure)]:
        _save_figure(fig, None, 'figure')
    others = [obj for obj in objs if not isinstance(obj, Figure)]
    return _IPYTHON_DISPLAY(*others, **kwargs) if others else None


def pyplot() -> ModuleType:
    """matplotlib.pyplot, imported after figure_mode() has chosen the backend (kit)."""
    figure_mode()
    import matplotlib.pyplot as plt
    return plt


def _figure_path(stem: str) -> Path:
    """The next free file of a figure: stem-N.png in $D2L_FIGURES or '.', numbered per process."""
    _FIGURE_COUNTS[stem] = _FIGURE_COUNTS.get(stem, 0) + 1
    return Path(os.environ.get('D2L_FIGURES') or '.') / f'{stem}-{_FIGURE_COUNTS[stem]}.png'


def _save_figure(fig: Figure, path: PathLike | None, stem: str, note: str = '') -> Path:
    """Write fig to path, else to its own file: the one it has, or the next stem-N.png, named."""
    known = _FIGURE_FILES.get(fig)
    out = Path(path) if path is not None else known or _figure_path(stem)
    out = out if out.suffix else out.with_suffix('.png')  # what matplotlib would write anyway
    with writing_to(out), atomic_file(out) as f:  # the file appears whole or not at all
        fig.savefig(f, format=out.suffix[1:].lower(), dpi=100, bbox_inches='tight')
    _FIGURE_FILES[fig] = out
    if path is None and known is None:  # a file we chose: say where it went (pass path= to choose)
        print(f'figure written to {out}{note}', flush=True)
    return out


def finish_figure(fig: Figure, path: PathLike | None, stem: str) -> str | None:
    """Save a finished figure to path, else show it or save stem-N.png; return the file (kit)."""
    mode = figure_mode()
    if path is None and mode == 'notebook':
        return None  # the notebook displays it at the end of the cell
    if path is None and mode == 'window':
        pyplot().show()
        return None
    out = _save_figure(fig, path, stem)
    pyplot().close(fig)
    return str(out)


def _redraw(fig: Figure, stem: str, path: PathLike | None = None, note: str = '') -> None:
    """Show a figure drawn again and again (Animator, ProgressBoard).

    In a notebook it is updated in place, so the lines printed beside it stay; elsewhere
    it is rewritten into its own PNG (path, or stem-N.png, named once).
    """
    if figure_mode() == 'notebook':
        handle = _FIGURE_DISPLAYS.get(fig)
        if handle is None:
            from IPython import display
            _FIGURE_DISPLAYS[fig] = display.display(fig, display_id=True)
        else:
            handle.update(fig)
    else:
        _save_figure(fig, path, stem, note)


def _save_unsaved_figures() -> None:
    """Write each open pyplot figure with axes but no file to the next figure-N.png; close it."""
    if 'matplotlib.pyplot' not in sys.modules:
        return
    # pyplot's list of open figures, read without changing the current one
    from matplotlib._pylab_helpers import Gcf
    for manager in Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        if fig not in _FIGURE_FILES and fig.get_axes():
            try:
                _save_figure(fig, None, 'figure')
            except D2LError as e:
                print(f'error: {e}', file=sys.stderr)
            sys.modules['matplotlib.pyplot'].close(fig)


def _at_exit() -> None:
    """A script's exit hook: draw the boards' last points; with no screen, save open figures."""
    for board in list(_PENDING_BOARDS):
        try:
            board.flush()
        except Exception as e:  # an exit hook must not hide the script's own outcome
            print(f'note: could not draw a progress board: {e}', file=sys.stderr)
    if _FIGURE_MODE == 'file':  # with a screen, a figure left open was the page's to show
        _save_unsaved_figures()


def use_svg_display() -> None:
    """Use SVG for inline notebook figures; a no-op in scripts (0.17 sec. 2.4; port sec. 3.2)."""
    # pages draw with plt right after this: in a script, what they leave open is saved at exit
    figure_mode()
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats('svg')
    except Exception:  # not in a notebook, or an IPython without it
        pass


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default matplotlib figure size (0.17 sec. 2.4; port sec. 3.2).

    The pages call it to start a figure that they then draw with d2l.plt. A notebook shows
    each cell's figure and starts the next afresh, so in a script the figure drawn so far
    is saved to its own PNG here and closed, and the next drawing starts a new one.
    """
    plt = pyplot()
    if figure_mode() == 'file':
        _save_unsaved_figures()
    plt.rcParams['figure.figsize'] = figsize


def set_axes(axes: Axes, xlabel: str | None, ylabel: str | None, xlim: Limits, ylim: Limits,
             xscale: str, yscale: str, legend: Sequence[str] | None) -> None:
    """Set labels, limits, scales, legend and grid of matplotlib axes (0.17 sec. 2.4)."""
    axes.set_xlabel(xlabel), axes.set_ylabel(ylabel)
    axes.set_xscale(xscale), axes.set_yscale(yscale)
    axes.set_xlim(xlim), axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def plot(X: Curves, Y: Curves | None = None, xlabel: str | None = None,
         ylabel: str | None = None, legend: Sequence[str] | None = None, xlim: Limits = None,
         ylim: Limits = None, xscale: str = 'linear', yscale: str = 'linear',
         fmts: Sequence[str] = ('-', 'm--', 'g-.', 'r:'),
         figsize: tuple[float, float] = (3.5, 2.5), axes: Axes | None = None,
         path: PathLike | None = None) -> None:
    """Plot one or more curves on axes, or on a new figure, shown or saved (0.17 sec. 2.4)."""
    plt = pyplot()
    # on the caller's axes, drawing is all; a figure of our own is finished here
    new_figure = axes is None
    if new_figure:
        axes = plt.figure(figsize=figsize).gca()

    def has_one_axis(X):  # a list or 1-d tensor, not a list of curves
        return ((hasattr(X, 'ndim') and X.ndim == 1)
                or (isinstance(X, list) and not hasattr(X[0], '__len__')))

    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        axes.plot(x, y, fmt) if len(x) else axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    if new_figure:
        finish_figure(axes.figure, path, 'plot')


def show_images(imgs: Images, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5, path: PathLike | None = None,
                title_colors: Sequence[str] | None = None,
                suptitle: str | None = None) -> np.ndarray:
    """Draw a grid of titled images, saved to path or shown; return the axes (0.17 sec. 3.5)."""
    plt = pyplot()
    fig, axes = plt.subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale),
                             squeeze=False)
    axes = axes.flatten()
    for ax in axes:
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        img = img.detach().cpu().numpy() if torch.is_tensor(img) else np.asarray(img)
        ax.imshow(img.squeeze(), cmap='gray' if img.squeeze().ndim == 2 else None)
        if titles:
            ax.set_title(titles[i], fontsize=9,
                         **({'color': title_colors[i]} if title_colors else {}))
    for ax in axes[len(imgs):]:
        ax.set_visible(False)  # a grid with more cells than images
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    finish_figure(fig, path, 'images')
    return axes


def show_fashion_mnist(images: Images, labels: Sequence[str],
                       path: PathLike | None = None) -> np.ndarray:
    """Draw a row of Fashion-MNIST images titled with their labels; return axes (port sec. 3.5)."""
    return show_images([img.reshape(28, 28) if torch.is_tensor(img) else img for img in images],
                       1, len(images), titles=list(labels), path=path)


def plot_history(history: dict[str, list[float]], path: PathLike | None = None,
                 title: str | None = None) -> str | None:
    """Plot per-epoch train loss and accuracies to a PNG, or show it; return the file (kit)."""
    plt = pyplot()
    epochs = range(1, len(history['train_loss']) + 1)
    marks = len(epochs) <= 50  # a marker per epoch helps for the book's 10, not for FizzBuzz's 2000
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, history['train_loss'], 'o-' if marks else '-', label='train loss')
    ax_loss.set_xlabel('epoch'), ax_loss.set_ylabel('loss (mean per example)')
    for key, fmt in (('train_acc', 's--'), ('test_acc', '^-')):
        if history.get(key):
            ax_acc.plot(epochs, history[key], fmt if marks else fmt.strip('s^'),
                        label=key.replace('_', ' '))
    ax_acc.set_xlabel('epoch'), ax_acc.set_ylabel('accuracy')
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
        ax.grid(True), ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return finish_figure(fig, path, 'history')


class Animator:
    """Plot data as it arrives (0.17 sec. 3.6).

    Redrawn in place in a notebook, rewritten as one PNG in a script: the file is `path`,
    else the next free animator-N.png of the run (in $D2L_FIGURES or the current folder),
    named in one line when first written.
    """

    def __init__(self, xlabel: str | None = None, ylabel: str | None = None,
                 legend: Sequence[str] | None = None, xlim: Limits = None, ylim: Limits = None,
                 xscale: str = 'linear', yscale: str = 'linear',
                 fmts: Sequence[str] = ('-', 'm--', 'g-.', 'r:'), nrows: int = 1, ncols: int = 1,
                 figsize: tuple[float, float] = (3.5, 2.5), path: PathLike | None = None) -> None:
        plt = pyplot()
        self.fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
        self.axes = axes.flatten()
        self.config_axes = lambda: set_axes(self.axes[0], xlabel, ylabel, xlim, ylim,
                                            xscale, yscale, legend)
        self.X, self.Y, self.fmts, self.path = None, None, fmts, path
        # Shown only by add() (_redraw): not again at the end of a notebook cell, nor saved again at
        # exit, and a page's next plt call starts a figure of its own, as in a notebook.
        plt.close(self.fig)

    def add(self, x: float | Sequence[float | None],
            y: float | Sequence[float | None]) -> None:
        """Add one point to each curve and redraw; a point with a None is skipped."""
        if not hasattr(y, '__len__'):
            y = [y]
        n = len(y)
        if not hasattr(x, '__len__'):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
        self.axes[0].cla()
        for x_i, y_i, fmt in zip(self.X, self.Y, self.fmts):
            self.axes[0].plot(x_i, y_i, fmt)
        self.config_axes()
        _redraw(self.fig, 'animator', self.path)

    def close(self) -> None:
        """Close the figure (scripts keep the PNG)."""
        pyplot().close(self.fig)


def semilogy(x_vals: Points, y_vals: Points, x_label: str, y_label: str,
             x2_vals: Points | None = None, y2_vals: Points | None = None,
             legend: Sequence[str] | None = None, figsize: tuple[float, float] = (3.5, 2.5),
             path: PathLike | None = None) -> None:
    """Plot y (and y2, dotted) against x on a log y axis, e.g. two losses (port sec. 3.11)."""
    plt = pyplot()
    fig = plt.figure(figsize=figsize)
    axes = fig.gca()
    axes.set_xlabel(x_label), axes.set_ylabel(y_label)
    axes.semilogy(x_vals, y_vals)
    if x2_vals is not None and y2_vals is not None:
        axes.semilogy(x2_vals, y2_vals, linestyle=':')
        if legend:
            axes.legend(legend)
    finish_figure(fig, path, 'semilogy')


def plot_regression(features: torch.Tensor, labels: torch.Tensor, w: torch.Tensor,
                    b: torch.Tensor | float, path: PathLike | None = None,
                    title: str | None = None) -> str | None:
    """Draw regression data and the fitted model: y against each x_j, and a plane for two (kit)."""
    plt = pyplot()
    X, y = features.detach().cpu().numpy(), labels.detach().cpu().reshape(-1).numpy()
    w, b = torch.as_tensor(w).detach().cpu().reshape(-1).numpy(), float(torch.as_tensor(b).detach())
    d = X.shape[1]
    fig = plt.figure(figsize=(4.2 * (d + (d == 2)), 4.5))
    grid = fig.add_gridspec(1, d + (d == 2))
    if d == 2:
        ax = fig.add_subplot(grid[0], projection='3d')
        ax.scatter(X[:, 0], X[:, 1], y, s=3, alpha=0.4)
        g1, g2 = np.meshgrid(np.linspace(X[:, 0].min(), X[:, 0].max(), 2),
                             np.linspace(X[:, 1].min(), X[:, 1].max(), 2))
        ax.plot_surface(g1, g2, w[0] * g1 + w[1] * g2 + b, color='tab:orange', alpha=0.3)
        ax.set_xlabel('$x_1$'), ax.set_ylabel('$x_2$'), ax.set_zlabel('$y$')
        # Look obliquely at the side the plane faces (against its slope), not along its edge.
        span = np.ptp(X, axis=0)
        facing = float(np.degrees(np.arctan2(-w[1] * span[1], -w[0] * span[0])))
        ax.view_init(elev=20, azim=facing + 35)
        ax.set_box_aspect(None, zoom=0.9)  # room for the axis labels inside the panel
        ax.set_title(f'fitted plane y = {w[0]:.3f} x1 {w[1]:+.3f} x2 {b:+.3f}', fontsize=9)
    for j in range(d):
        ax = fig.add_subplot(grid[j + (d == 2)])
        ax.scatter(X[:, j], y, s=3, alpha=0.4, label='data')
        # The other features have mean 0, so E[y | x_j] = w_j x_j + b: a line through the cloud.
        xs = np.array([X[:, j].min(), X[:, j].max()])
        ax.plot(xs, w[j] * xs + b, color='tab:orange', label=f'{w[j]:.3f} x{j + 1} {b:+.3f}')
        ax.set_xlabel(f'$x_{j + 1}$'), ax.set_ylabel('$y$'), ax.grid(True), ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return finish_figure(fig, path, 'regression')


# ============================================================================
# Downloads (the books' DATA_HUB: 0.17 sec. 4.10, d2l 1.0 "Utility Functions and Classes")
# ============================================================================
# The books fetch their data files (the Kaggle house prices first) with these names. Here a
# file already in the folder with the right sha1 is used without touching the network, a
# download is written under a temporary name and renamed only once complete and checked, and
# a failure is one D2LError line saying where to put the file by hand. The standard library's
# urllib fetches (it honours http_proxy/https_proxy as requests does), so `import d2l` and a
# download need no extra package; the pages import requests themselves for their own copy.

# The books' base URL; set D2L_DATA_URL (before `import d2l`) to use a mirror or a local server.
DATA_URL: str = os.environ.get('D2L_DATA_URL',
                               'http://d2l-data.s3-accelerate.amazonaws.com/').rstrip('/') + '/'

# name -> (url, sha1), as in the books; later pages add their own entries the same way.
DATA_HUB: dict[str, tuple[str, str]] = {
    'kaggle_house_train': (DATA_URL + 'kaggle_house_pred_train.csv',
                           '585e9cc93e70b39160e7921475f9bcd7d31219ce'),
    'kaggle_house_test': (DATA_URL + 'kaggle_house_pred_test.csv',
                          'fa19780a7b011d9b009e8bff8e99922a8ee2eb90'),
}


def _sha1(path: PathLike) -> str:
    """The hex sha1 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, folder: PathLike = os.path.join('..', 'data'),
             sha1_hash: str | None = None, *, cache_dir: PathLike | None = None) -> str:
    """Return the path of a data file in folder, downloaded if missing (0.17 sec. 4.10; d2l 1.0).

    Both books' forms work: download(url, folder='../data', sha1_hash=None) (d2l 1.0,
    "Utility Functions and Classes") and download(name, cache_dir='../data') (0.17), where
    a name is a key of DATA_HUB, which supplies the url and sha1. A file already there is
    used if its sha1 matches, or if no sha1 is known. Otherwise it is fetched to a
    temporary file, checked and renamed; any failure is one D2LError line and keeps nothing.
    """
    folder = Path(cache_dir if cache_dir is not None else folder)
    if not str(url).startswith(('http://', 'https://', 'file:')):
        if url not in DATA_HUB:
            raise D2LError(f'{url!r} is neither a URL nor a name in d2l.DATA_HUB '
                           f'({", ".join(DATA_HUB)}); '
                           f"pass a URL, or first add d2l.DATA_HUB[{url!r}] = (url, sha1)")
        url, sha1_hash = DATA_HUB[url]
    path = folder / url.split('/')[-1]
    if path.is_file() and (sha1_hash is None or _sha1(path) == sha1_hash):
        return str(path)  # a cache hit: no network
    print(f'Downloading {path} from {url}...')
    with writing_to(path), atomic_file(path) as f:
        got = _fetch(url, f, folder)
        if sha1_hash is not None and got != sha1_hash:
            raise D2LError(f'{url} gave a file whose sha1 is {got}, not {sha1_hash}; '
                           f'nothing was kept. '
                           f'Try again, or put the right {path.name} into {folder}')
    return str(path)


# What urlopen and reading its response raise: no network, refused, timed out, cut short, HTTP 404.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


def _fetch(url: str, f: BinaryIO, folder: Path) -> str:
    """Stream url into the open file f and return its sha1; a network failure (or a body shorter
    than its Content-Length, which urllib returns silently) is one D2LError line. Errors of
    f.write are left to the caller, which reports them as a folder it cannot write."""
    import urllib.request

    where = str(folder) if folder.is_absolute() else f'{folder} ({folder.resolve()})'

    def failed(why: str) -> D2LError:
        return D2LError(f'cannot download {url.split("/")[-1]} from {url} ({why}); '
                        f'put the file into {where} by hand, or set D2L_DATA_URL to a mirror')
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except _NETWORK_ERRORS as e:
        raise failed(_why(e)) from None
    digest, received = hashlib.sha1(), 0
    with response:
        expected = response.headers.get('Content-Length')
        while True:
            try:
                block = response.read(1 << 20)
            except _NETWORK_ERRORS as e:
                raise failed(_why(e)) from None
            if not block:
                break
            f.write(block)
            digest.update(block)
            received += len(block)
    if expected is not None and received != int(expected):
        raise failed(f'the connection closed after {received} of {expected} bytes')
    return digest.hexdigest()


def _why(e: BaseException) -> str:
    """The reason of a failed download in a few words, without the traceback."""
    import urllib.error
    if isinstance(e, urllib.error.HTTPError):
        return f'HTTP {e.code} {e.reason}'
    if isinstance(e, http.client.IncompleteRead):
        return f'the connection closed with {e.expected} bytes still to come'
    reason = getattr(e, 'reason', None) or getattr(e, 'strerror', None) or e
    return ' '.join(str(reason).split()) or type(e).__name__


def extract(filename: PathLike, folder: PathLike | None = None) -> None:
    """Extract a .zip or .tar(.gz) file into folder (d2l 1.0, "Utility Functions and Classes")."""
    folder = Path(folder) if folder is not None else Path(filename).parent
    try:
        if str(filename).endswith('.zip'):
            with zipfile.ZipFile(filename) as archive:  # zipfile keeps member paths inside folder
                archive.extractall(folder)
        elif str(filename).endswith(('.tar', '.gz', '.tgz')):
            with tarfile.open(filename) as archive:
                # 'data' (Python >= 3.11.4) refuses absolute paths, links out, device files
                safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
                archive.extractall(folder, **safe)
        else:
            raise D2LError(f'cannot extract {filename}: '
                           'only .zip, .tar and .tar.gz files can be extracted')
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as e:
        raise D2LError(f'cannot extract {filename} ({_why(e)}); '
                       'delete it and download it again') from None


def download_extract(name: str, folder: str | None = None) -> str:
    """Download and extract an archive; return the extracted folder (0.17 sec. 4.10; d2l 1.0).

    The folder is the archive's path without its extension, or `folder` inside the
    archive's folder when given, as in the books (d2l 1.0: "Utility Functions and Classes").
    """
    path = download(name)
    extract(path)
    base = os.path.dirname(path)
    return os.path.join(base, folder) if folder else os.path.splitext(path)[0]


def download_all() -> None:
    """Download every file of DATA_HUB into ../data (0.17 sec. 4.10)."""
    for name in DATA_HUB:
        download(name)


# ============================================================================
# The d2l 1.0 classes (d2l.ai today: Module, DataModule, Trainer ...)
# ============================================================================
# The current English edition (d2l package 1.0.3) teaches the same chapters with classes that
# its pages extend with @d2l.add_to_class. They live beside the classic functions above and
# share their data path: d2l.FashionMNIST batches from memory like load_data_fashion_mnist.
# In a notebook a ProgressBoard plots live, as on d2l.ai; in a script it prints one line per
# epoch and redraws its own PNG once per epoch, so a 1.0 Trainer.fit is not silent there.

nn_Module = nn.Module  # the 1.0 pages write class Module(d2l.nn_Module, d2l.HyperParameters)


def cpu() -> torch.device:
    """Return the CPU device (d2l 1.0, "GPUs")."""
    return torch.device('cpu')


def gpu(i: int = 0) -> torch.device:
    """Return the CUDA device cuda:i, present or not (d2l 1.0, "GPUs")."""
    return torch.device(f'cuda:{i}')


def num_gpus() -> int:
    """Return the number of CUDA GPUs (d2l 1.0, "GPUs")."""
    return torch.cuda.device_count()


def add_to_class(Class: type) -> Callable[[Callable], Callable]:
    """Decorator: make the function a method of Class (d2l 1.0, "Object-Oriented Design")."""
    def wrapper(obj: Callable) -> Callable:
        setattr(Class, obj.__name__, obj)
        return obj  # the book returns None; returning the function keeps the page's name usable
    return wrapper


class HyperParameters:
    """Base class: keep __init__'s arguments as attributes (d2l 1.0, "Object-Oriented Design")."""

    def save_hyperparameters(self, ignore: Sequence[str] = ()) -> None:
        """Set self.<name> and self.hparams from the caller's arguments but self, ignore, _names."""
        frame = inspect.currentframe().f_back
        try:
            spec = inspect.getargvalues(frame)
            names = list(spec.args) + [n for n in (spec.varargs, spec.keywords) if n]
            self.hparams = {n: spec.locals[n] for n in names
                            if n != 'self' and n not in ignore and not n.startswith('_')}
        finally:
            del frame  # a frame held in a local would keep every local of the caller alive
        for name, value in self.hparams.items():
            setattr(self, name, value)


def _number(label: str, value: float) -> str:
    """An epoch line's number: accuracies with 3 decimals, losses with 4 (or e-notation)."""
    if label.endswith('acc'):
        return f'{value:.3f}'
    return f'{value:.4f}' if 1e-3 <= abs(value) < 1e5 or value == 0 else f'{value:.3e}'


class _Point(NamedTuple):
    """A plotted point of a board's line; pages read board.data[label][-1].y, as in the book."""
    x: float
    y: float


class ProgressBoard(HyperParameters):
    """Plot points as they arrive, one line per label (d2l 1.0, "Object-Oriented Design").

    Each line plots the mean of every `every_n` points it receives.
    In a notebook: the book's live inline figure, no files. In a script: nothing is
    drawn per point; flush(epoch), which Trainer.fit calls after each epoch, prints
    the means the board received that epoch and redraws the board's own PNG
    (progress-N.png in $D2L_FIGURES or the current folder). Points still undrawn
    when the script ends (a board used without a Trainer) are drawn then.
    """

    def __init__(self, xlabel: str | None = None, ylabel: str | None = None, xlim: Limits = None,
                 ylim: Limits = None, xscale: str = 'linear', yscale: str = 'linear',
                 ls: Sequence[str] = ('-', '--', '-.', ':'),
                 colors: Sequence[str] = ('C0', 'C1', 'C2', 'C3'),
                 fig: Figure | None = None, axes: Axes | None = None,
                 figsize: tuple[float, float] = (3.5, 2.5), display: bool = True) -> None:
        self.save_hyperparameters()
        self.raw_points: dict[str, list[tuple[float, float]]] = {}  # waiting for every_n
        self.data: dict[str, list[_Point]] = {}  # the averaged points: the lines
        # every value since the last flush, for its line
        self._epoch_values: dict[str, list[float]] = {}
        self._undrawn = False
        self.path: Path | None = None  # the board's PNG in a script, once drawn

    def draw(self, x: float, y: float | torch.Tensor, label: str, every_n: int = 1) -> None:
        """Add point (x, y) to line `label`; each every_n points' mean is one plotted point."""
        x, y = float(x), float(y.detach().cpu()) if torch.is_tensor(y) else float(y)
        points = self.raw_points.setdefault(label, [])
        line = self.data.setdefault(label, [])
        self._epoch_values.setdefault(label, []).append(y)
        points.append((x, y))
        # every_n 0 (fewer batches than points per epoch): plot each
        if len(points) < max(1, int(every_n)):
            return
        line.append(_Point(sum(p[0] for p in points) / len(points),
                           sum(p[1] for p in points) / len(points)))
        points.clear()
        self._undrawn = True
        if not self.display:
            return
        if figure_mode() == 'notebook':
            self._render()  # live, as on d2l.ai
        else:
            _PENDING_BOARDS.add(self)  # drawn by flush() after the epoch, or by the exit hook

    def flush(self, epoch: int | None = None) -> str | None:
        """In a script: print the means since the last call, redraw the board, return its PNG."""
        means = {k: sum(v) / len(v) for k, v in self._epoch_values.items() if v}
        self._epoch_values = {}
        if not means and not self._undrawn:
            return None
        notebook = figure_mode() == 'notebook'
        if epoch is not None and means and not notebook:
            print(f'epoch {epoch}, ' + ', '.join(f'{k} {_number(k, v)}' for k, v in means.items()),
                  flush=True)
        if notebook or not self.display or not self._undrawn:
            return None
        self._render(note=' (redrawn after every epoch)' if epoch is not None else '')
        return str(self.path)

    def _render(self, note: str = '') -> None:
        """Redraw every line into the board's figure and show it, as _redraw does."""
        if self.axes is not None:
            self.fig = self.axes.figure
        elif self.fig is None:
            if figure_mode() == 'notebook':
                use_svg_display()  # as the book's board does
            plt = pyplot()
            self.fig = plt.figure(figsize=self.figsize)
            # shown only through _redraw: not again at the end of a cell, nor at exit
            plt.close(self.fig)
        axes = self.axes
        if axes is None:
            axes = self.fig.axes[0] if self.fig.axes else self.fig.add_subplot()
        axes.cla()
        for i, (label, line) in enumerate(self.data.items()):
            axes.plot([p[0] for p in line], [p[1] for p in line], label=label,
                      linestyle=self.ls[i % len(self.ls)], color=self.colors[i % len(self.colors)])
        axes.set_xlabel(self.xlabel), axes.set_ylabel(self.ylabel)
        axes.set_xscale(self.xscale), axes.set_yscale(self.yscale)
        if self.xlim:
            axes.set_xlim(self.xlim)
        if self.ylim:
            axes.set_ylim(self.ylim)
        axes.legend()
        self._undrawn = False
        _PENDING_BOARDS.discard(self)
        _redraw(self.fig, 'progress', note=note)
        self.path = _FIGURE_FILES.get(self.fig)


class Module(nn.Module, HyperParameters):
    """Base class of models: net, loss, optimizer, steps (d2l 1.0, "Object-Oriented Design")."""

    def __init__(self, plot_train_per_epoch: int = 2, plot_valid_per_epoch: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.board = ProgressBoard()

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean loss of a batch; each model defines its own."""
        raise D2LError(f'{type(self).__name__} has no loss: define loss(self, y_hat, y) '
                       'in the class or add one with @d2l.add_to_class')

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Apply self.net."""
        if not hasattr(self, 'net'):
            raise D2LError(f'{type(self).__name__} has no self.net: '
                           'set it in __init__ or define forward')
        return self.net(X)

    def plot(self, key: str, value: float | torch.Tensor, train: bool) -> None:
        """Send a value to the board: train_<key> at fractional epochs, val_<key> at epoch ends."""
        if not hasattr(self, 'trainer'):
            raise D2LError('model.plot needs a trainer: '
                           'call d2l.Trainer(max_epochs=...).fit(model, data)')
        self.board.xlabel = 'epoch'
        trainer = self.trainer
        if train:
            x = trainer.train_batch_idx / trainer.num_train_batches
            n = trainer.num_train_batches / self.plot_train_per_epoch
        else:
            x = trainer.epoch + 1
            n = trainer.num_val_batches / self.plot_valid_per_epoch
        self.board.draw(x, value, ('train_' if train else 'val_') + key, every_n=int(n))

    def training_step(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """Loss of a batch (inputs..., labels), plotted as train_loss; returned for backward."""
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', l, train=True)
        return l

    def validation_step(self, batch: Sequence[torch.Tensor]) -> None:
        """Plot the loss of a validation batch as val_loss."""
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot('loss', l, train=False)

    def configure_optimizers(self) -> torch.optim.Optimizer | SGD:
        """SGD over the parameters with self.lr (d2l 1.0, "The Base Classification Model")."""
        if not hasattr(self, 'lr'):
            raise D2LError(f'{type(self).__name__} has no lr: take lr in __init__ and call '
                           'self.save_hyperparameters(), or define configure_optimizers')
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def apply_init(self, inputs: Sequence[torch.Tensor], init: Callable | None = None) -> None:
        """Run inputs once to shape lazy layers; apply init (d2l 1.0, "Lazy Initialization")."""
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)


class DataModule(HyperParameters):
    """Base class of data sets, batched by get_dataloader (d2l 1.0, "Object-Oriented Design")."""

    # The book defaults to num_workers=4; worker processes crash on Windows and macOS when a
    # script lacks an `if __name__ == '__main__':` guard (they re-import it) and slow every
    # epoch's start. This kit's loaders keep the data in memory and need none: the default is 0.
    def __init__(self, root: str = '../data', num_workers: int = 0) -> None:
        self.save_hyperparameters()

    def get_dataloader(self, train: bool) -> Batches:
        """The batches of the training (train=True) or validation split, as the data set defines."""
        raise D2LError(f'{type(self).__name__} has no get_dataloader(self, train): '
                       'define it in the class or add one with @d2l.add_to_class')

    def train_dataloader(self) -> Batches:
        """The training batches."""
        return self.get_dataloader(train=True)

    def val_dataloader(self) -> Batches:
        """The validation batches."""
        return self.get_dataloader(train=False)

    def get_tensorloader(self, tensors: Sequence[torch.Tensor], train: bool,
                         indices: slice | Sequence[int] | torch.Tensor = slice(0, None)
                         ) -> ArrayLoader:
        """Batches of rows `indices`, shuffled if train (d2l 1.0, "Synthetic Regression Data")."""
        return ArrayLoader(tuple(t[indices] for t in tensors), self.batch_size, shuffle=train)


class Trainer(HyperParameters):
    """Fit a Module to a DataModule, one fit_epoch per epoch (d2l 1.0, "Object-Oriented Design").

    With the page "GPUs": num_gpus=1 trains on the first GPU (CUDA, else Apple's mps) when
    there is one and on the CPU otherwise, with a note; like the book, it uses one device
    whatever the number. After each epoch the model's board prints its line and redraws
    (see ProgressBoard).
    """

    def __init__(self, max_epochs: int, num_gpus: int = 0, gradient_clip_val: float = 0) -> None:
        self.save_hyperparameters()
        self.gpus = [d for d in try_all_gpus() if d.type != 'cpu'][:max(0, int(num_gpus))]
        if num_gpus and len(self.gpus) < num_gpus:
            print(f'note: Trainer(num_gpus={num_gpus}) but {len(self.gpus)} GPU(s) found; '
                  f'training on {self.gpus[0] if self.gpus else "the CPU"}', file=sys.stderr)

    def prepare_data(self, data: DataModule) -> None:
        """Take the data module's loaders and count their batches."""
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = len(self.val_dataloader) if self.val_dataloader is not None else 0

    def prepare_model(self, model: Module) -> None:
        """Link model and trainer, set the board's x range, move the model to the device."""
        model.trainer = self
        model.board.xlim = [0, self.max_epochs]
        if self.gpus:
            model.to(self.gpus[0])
        self.model = model

    def prepare_batch(self, batch: Sequence[torch.Tensor]) -> Sequence[torch.Tensor]:
        """Move a batch to the training device (unchanged on the CPU)."""
        if self.gpus:
            batch = [t.to(self.gpus[0]) for t in batch]
        return batch

    def fit(self, model: Module, data: DataModule) -> None:
        """Train for max_epochs; after each epoch the model's board reports (a line and a PNG)."""
        self.prepare_data(data)
        self.prepare_model(model)
        self.optim = model.configure_optimizers()
        self.epoch = 0
        self.train_batch_idx = 0
        self.val_batch_idx = 0
        for self.epoch in range(self.max_epochs):
            self.fit_epoch()
            # Here, not in fit_epoch, which the pages replace with @d2l.add_to_class.
            board = getattr(self.model, 'board', None)
            if isinstance(board, ProgressBoard):
                board.flush(self.epoch + 1)

    def fit_epoch(self) -> None:
        """One pass over the training batches, a step after each; then validation, no gradients."""
        self.model.train()
        for batch in self.train_dataloader:
            loss = self.model.training_step(self.prepare_batch(batch))
            self.optim.zero_grad()
            loss.backward()
            if self.gradient_clip_val > 0:
                self.clip_gradients(self.gradient_clip_val, self.model)
            self.optim.step()
            self.train_batch_idx += 1
        if self.val_dataloader is None:
            return
        self.model.eval()
        with torch.no_grad():
            for batch in self.val_dataloader:
                self.model.validation_step(self.prepare_batch(batch))
                self.val_batch_idx += 1

    def clip_gradients(self, grad_clip_val: float, model: Module) -> None:
        """Clip gradients to norm grad_clip_val (d2l 1.0, "RNN Implementation from Scratch")."""
        params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
        with torch.no_grad():
            norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
            if norm > grad_clip_val:
                for p in params:
                    p.grad.mul_(grad_clip_val / norm)


class SGD(HyperParameters):
    """Minibatch SGD on tensors, param -= lr * grad (d2l 1.0).

    From the page "Linear Regression Implementation from Scratch". Not the classic
    sgd(params, lr, batch_size) function, which divides by the batch size.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        params = list(params)
        self.save_hyperparameters()

    def step(self) -> None:
        """Update each parameter in place, outside autograd."""
        with torch.no_grad():
            for param in self.params:
                param -= self.lr * param.grad

    def zero_grad(self) -> None:
        """Zero the gradients (the next backward adds to them)."""
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


class SyntheticRegressionData(DataModule):
    """y = Xw + b + noise, num_train then num_val rows (d2l 1.0, "Synthetic Regression Data")."""

    def __init__(self, w: torch.Tensor, b: float, noise: float = 0.01, num_train: int = 1000,
                 num_val: int = 1000, batch_size: int = 32) -> None:
        super().__init__()
        self.save_hyperparameters()
        n = num_train + num_val
        self.X = torch.randn(n, len(w))
        w = torch.as_tensor(w, dtype=self.X.dtype).reshape(-1, 1)
        self.y = self.X @ w + b + torch.randn(n, 1) * noise

    def get_dataloader(self, train: bool) -> ArrayLoader:
        """Batches of the training rows (shuffled) or the validation rows (in order)."""
        rows = slice(0, self.num_train) if train else slice(self.num_train, None)
        return self.get_tensorloader((self.X, self.y), train, rows)


class LinearRegressionScratch(Module):
    """Linear regression by hand (d2l 1.0, "Linear Regression Implementation from Scratch")."""

    def __init__(self, num_inputs: int, lr: float, sigma: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        # Parameters (the book has plain tensors) so that model.to(device) moves them too.
        self.w = nn.Parameter(torch.normal(0, sigma, (num_inputs, 1)))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X @ w + b."""
        return X @ self.w + self.b

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of (y_hat - y)^2 / 2."""
        return ((y_hat - y) ** 2 / 2).mean()

    def configure_optimizers(self) -> SGD:
        """d2l.SGD over w and b."""
        return SGD([self.w, self.b], self.lr)


class LinearRegression(Module):
    """Linear regression, nn.LazyLinear (d2l 1.0, "Concise Implementation of Linear Regression")."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.LazyLinear(1)
        # The book calls normal_ on the lazy weight here, which materialisation then replaces;
        # this hook runs right after the first forward materialises it, so N(0, 0.01) sticks.
        self._init_hook = self.net.register_forward_pre_hook(self._init_weights)

    def _init_weights(self, layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        with torch.no_grad():
            layer.weight.normal_(0, 0.01)
            layer.bias.zero_()
        self._init_hook.remove()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Apply the linear layer."""
        return self.net(X)

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error (no 1/2)."""
        return nn.functional.mse_loss(y_hat, y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """torch.optim.SGD with self.lr."""
        return torch.optim.SGD(self.parameters(), self.lr)

    def get_w_b(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned weight (1, num_inputs) and bias (1,)."""
        return self.net.weight.data, self.net.bias.data


class _ImageSplit:
    """A split as ToTensor gives it: split[i] is (float32 (1, H, W) image in [0, 1], int label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i].float() / 255, int(self.labels[i])


class FashionMNIST(DataModule):
    """Fashion-MNIST from memory (d2l 1.0, "The Image Classification Dataset").

    X is float32 (B, 1, H, W) in [0, 1], y int64. `resize` is applied once per split.
    The files are looked for in ../data (the book's torchvision download, if any),
    then as load_data_fashion_mnist looks; downloaded only if nothing is found.
    """

    def __init__(self, batch_size: int = 64, resize: int | Sequence[int] = (28, 28)) -> None:
        super().__init__()
        self.save_hyperparameters()
        size = (resize, resize) if isinstance(resize, int) else tuple(resize)
        # A root that holds no data would only earn a "no files in ../data" note.
        root = self.root if _find_idx_files(Path(self.root), 'fashion-mnist') else None
        train, val = load_data('fashion-mnist', batch_size, None if size == (28, 28) else size,
                               root)
        self.train, self.val = _ImageSplit(*train.tensors), _ImageSplit(*val.tensors)

    def text_labels(self, indices: Iterable[int] | torch.Tensor) -> list[str]:
        """The names of class indices ('t-shirt', 'trouser' ...)."""
        return get_fashion_mnist_labels(indices)

    def get_dataloader(self, train: bool) -> ArrayLoader:
        """Batches of self.batch_size: training reshuffled every epoch, validation in order."""
        split = self.train if train else self.val
        return ArrayLoader((split.images, split.labels), self.batch_size, shuffle=train,
                           uint8_images=True)

    def visualize(self, batch: Sequence[torch.Tensor], nrows: int = 1, ncols: int = 8,
                  labels: Sequence[str] = ()) -> None:
        """Show the first nrows x ncols images of a batch, titled with their labels (or labels)."""
        X, y = batch
        labels = list(labels) or self.text_labels(y)
        show_images(X.squeeze(1), nrows, ncols, titles=labels)


class Classifier(Module):
    """Base class of classifiers (d2l 1.0, "The Base Classification Model")."""

    def validation_step(self, batch: Sequence[torch.Tensor]) -> None:
        """Plot the loss and the accuracy of a validation batch."""
        Y_hat = self(*batch[:-1])
        self.plot('loss', self.loss(Y_hat, batch[-1]), train=False)
        self.plot('acc', self.accuracy(Y_hat, batch[-1]), train=False)

    def accuracy(self, Y_hat: torch.Tensor, Y: torch.Tensor, averaged: bool = True) -> torch.Tensor:
        """Fraction of rows whose argmax is the label (averaged), else 0/1 per row (not a count)."""
        preds = Y_hat.reshape(-1, Y_hat.shape[-1]).argmax(dim=1).type(Y.dtype)
        correct = (preds == Y.reshape(-1)).float()
        return correct.mean() if averaged else correct

    def loss(self, Y_hat: torch.Tensor, Y: torch.Tensor, averaged: bool = True) -> torch.Tensor:
        """Cross-entropy from the logits: the batch mean (averaged) or one value per row."""
        return nn.functional.cross_entropy(Y_hat.reshape(-1, Y_hat.shape[-1]), Y.reshape(-1),
                                           reduction='mean' if averaged else 'none')


class SoftmaxRegression(Classifier):
    """Softmax regression, nn (d2l 1.0, "Concise Implementation of Softmax Regression")."""

    def __init__(self, num_outputs: int, lr: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """The logits."""
        return self.net(X)


# ============================================================================
# The books' import line and tensor aliases (d2l 0.17 / d2l-zh 2.0 `d2l/torch.py`)
# ============================================================================

# The books' d2l package defines these shorthands and its pages call them (d2l.reshape(X, shape),
# d2l.reduce_sum(l), d2l.float32, d2l.plt ...). The module's __getattr__ serves them on demand
# instead of binding them as globals, so `abs`, `size` or `numpy` never shadow the builtins and
# modules that this file itself uses.
_TORCH_ALIASES = {'concat': 'cat', 'batch_matmul': 'bmm', **{name: name for name in (
    'ones', 'ones_like', 'zeros', 'zeros_like', 'arange', 'meshgrid', 'sin', 'sinh', 'cos',
    'cosh', 'tanh', 'linspace', 'exp', 'log', 'normal', 'rand', 'randn', 'matmul', 'int32', 'int64',
    'float32', 'stack', 'abs', 'eye', 'sigmoid')}}
_METHOD_ALIASES = {'numpy': 'numpy', 'size': 'numel', 'reshape': 'reshape', 'to': 'to',
                   'reduce_sum': 'sum',
                   'reduce_mean': 'mean', 'argmax': 'argmax', 'astype': 'type', 'transpose': 't',
                   'expand_dims': 'unsqueeze', 'swapaxes': 'swapaxes', 'repeat': 'repeat'}
_MODULE_ALIASES = {'plt': 'matplotlib.pyplot', 'F': 'torch.nn.functional',
                   'data': 'torch.utils.data',
                   'torchvision': 'torchvision', 'transforms': 'torchvision.transforms',
                   'display': 'IPython.display'}


def _method_alias(method: str) -> Callable[..., Any]:
    """d2l.reshape(x, shape) is x.reshape(shape); d2l.numpy(x) detaches and moves x to the CPU."""
    if method == 'numpy':
        return lambda x, *args, **kwargs: x.detach().cpu().numpy(*args, **kwargs)
    return lambda x, *args, **kwargs: getattr(x, method)(*args, **kwargs)


def _tensor(data: Any, *args: Any, dtype: torch.dtype | None = None,
            **kwargs: Any) -> torch.Tensor:
    """d2l.tensor: torch.tensor, which takes any data, with one change (0.17 sec. 4.10).

    An object array of numbers and bools (pandas 2's `.values` of float and dummy columns)
    becomes a float tensor when a float dtype is asked for, as it did under pandas 1. Text
    in the array is one D2LError line.
    """
    wants_float = dtype is not None and dtype.is_floating_point
    if isinstance(data, np.ndarray) and data.dtype == object and wants_float:
        kinds = set(map(type, data.ravel()))
        if not all(issubclass(kind, (numbers.Real, np.bool_)) for kind in kinds):
            example = next(v for v in data.ravel() if not isinstance(v, (numbers.Real, np.bool_)))
            raise D2LError(f'cannot make a {dtype} tensor from an array holding '
                           f'{type(example).__name__} '
                           f'values such as {example!r}; turn text columns into numbers first '
                           '(pd.get_dummies) or select the numeric columns')
        data = data.astype(np.float64)
    return torch.tensor(data, *args, dtype=dtype, **kwargs)


# aliases that do a little more than the torch function of their name
_WRAPPED_ALIASES = {'tensor': _tensor}


def __getattr__(name: str) -> Any:
    """Serve the books' aliases (d2l.reshape, d2l.float32, d2l.plt ...): any kind of object."""
    if name in _WRAPPED_ALIASES:
        return _WRAPPED_ALIASES[name]
    if name in _TORCH_ALIASES:
        return getattr(torch, _TORCH_ALIASES[name])
    if name in _METHOD_ALIASES:
        return _method_alias(_METHOD_ALIASES[name])
    if name in _MODULE_ALIASES:
        if name == 'plt':
            return pyplot()  # the same backend choice as every figure of this module
        import importlib
        return importlib.import_module(_MODULE_ALIASES[name])
    raise AttributeError(f"module 'd2l' has no attribute {name!r}")


def __dir__() -> list[str]:
    """dir(d2l), and so an IDE's completion, lists the aliases that __getattr__ serves too."""
    return sorted({*globals(), *_WRAPPED_ALIASES, *_TORCH_ALIASES, *_METHOD_ALIASES,
                   *_MODULE_ALIASES})


class _BookModule(type(sys)):
    """The module's type: `from d2l import torch as d2l`, the books' first line, gives d2l itself.

    An attribute set on the module (`import torch` binds d2l.torch to PyTorch) would win over
    __getattr__, so the name is answered by a property on the module's class instead, which
    Python consults first. The functions in this file keep reading the real torch from their
    globals; only the attribute seen from outside changes.
    """

    @property
    def torch(self) -> ModuleType:
        return self


sys.modules[__name__].__class__ = _BookModule


# ============================================================================
# Data files: where they are looked for, the parsed cache, the download (kit machinery)
# ============================================================================
# The Data section above asks three things of this one: where the IDX files of a data set may
# be (the root argument, $D2L_DATA, ~/.cache/d2l, Debian's package), a cache of the parsed
# tensors that is rebuilt when the files change, and torchvision's download as the last resort.

_SPLIT_FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
                'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
_DATASETS = {
    'fashion-mnist': {'title': 'Fashion-MNIST', 'torchvision': 'FashionMNIST',
                      'system': ['/usr/share/datasets/fashion-mnist'],
                      'debian': 'dataset-fashion-mnist'},
    'mnist': {'title': 'MNIST', 'torchvision': 'MNIST', 'system': [], 'debian': None},
}


def _data_dirs(root: PathLike | None, name: str) -> list[tuple[str, Path]]:
    """The places searched for a data set, in order, each with a label for messages."""
    default_cache = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'd2l'
    dirs = []
    if root is not None:
        dirs.append(('root argument', Path(root).expanduser()))
    if os.environ.get('D2L_DATA'):
        dirs.append(('$D2L_DATA', Path(os.environ['D2L_DATA']).expanduser()))
    dirs.append(('default cache', default_cache))
    dirs += [('system copy', Path(p)) for p in _DATASETS[name]['system']]
    return dirs


def _find_idx_files(base: Path, name: str) -> dict[str, Path] | None:
    """Return the four IDX files of `name` under `base` (our, torchvision's or a flat layout)."""
    for folder in (base / name, base / _DATASETS[name]['torchvision'] / 'raw', base):
        found = {}
        for stem in sum(_SPLIT_FILES.values(), ()):
            for candidate in (folder / f'{stem}.gz', folder / stem):
                if candidate.is_file():
                    found[stem] = candidate
                    break
        if len(found) == 4:
            return found
    return None


def _fingerprint(files: dict[str, Path]) -> str:
    """Identify the source files by path, size and modification time."""
    parts = []
    for stem in sorted(files):
        st = files[stem].stat()
        parts.append(f'{files[stem].resolve()}:{st.st_size}:{st.st_mtime_ns}')
    return '|'.join(parts)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write that appears at path only when the block ends without error (kit).

    It is written under a temporary name in the same folder and renamed, so no half-written
    file is left.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the temporary name lets a later save delete what a killed run left behind.
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.{os.getpid()}.', suffix='.tmp',
                               dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is shared like any data file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _remove_stale_temps(path)


def _save_atomically(obj: object, path: Path) -> None:
    """torch.save to a temporary name in the same folder, then rename: no half-written file."""
    with atomic_file(path) as f:
        torch.save(obj, f)


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files of path whose writer is gone (killed mid-save), not a live one's."""
    prefix = f'.{path.name}.'
    for tmp in path.parent.glob('.*.tmp'):
        pid = tmp.name[len(prefix):].split('.', 1)[0]
        if not tmp.name.startswith(prefix) or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.name == 'posix':
                try:
                    os.kill(int(pid), 0)  # signal 0 only asks whether the process exists
                    continue
                except ProcessLookupError:
                    pass
            # elsewhere os.kill would end the process
            elif time.time() - tmp.stat().st_mtime < 86400:
                continue
            tmp.unlink(missing_ok=True)
        except OSError:  # another user's live process (EPERM), or a file we may not delete: keep it
            continue


def _download(name: str, home: Path) -> tuple[dict[str, Path] | None, str]:
    """Fetch the data set with torchvision into home; return (files or None, what happened)."""
    import torchvision
    cls = getattr(torchvision.datasets, _DATASETS[name]['torchvision'])
    try:
        for train in (True, False):
            cls(root=str(home), train=train, download=True)
    # no network, a proxy, a moved mirror: report it, don't crash deep inside
    except Exception as e:
        # torchvision's message spans lines: keep all of it, on one
        reason = ' '.join(str(e).split())
        return None, f'download failed: {type(e).__name__}: {reason[:300]}'
    return _find_idx_files(home, name), 'downloaded'


# ============================================================================
# The kit's entries: d2l.sweep from Python, and `python -m d2l` (both hand over to d2lkit)
# ============================================================================

def sweep(script: PathLike, seeds: Sequence[int] = (0, 1, 2),
          out: PathLike | None = None, workers: int | None = None,
          search: int | None = None, storage: str | None = None,
          **flags: object) -> pandas.DataFrame:
    """Run a chapter script over settings and seeds (python -m d2l sweep); one row per run (kit).

    A list value is an axis: d2l.sweep('ch_softmax/scratch.py', lr=[0.03, 0.1], epochs=2); a tuple
    is one multi-value setting (hidden=(128, 256)), a list of tuples an axis of them; True gives a
    bare flag. The results and figures go to `out` (shown inline in a notebook); rerunning the
    same call runs only what is missing. A bad flag raises D2LError before any run. The frame's
    .attrs['summary'] is summary.md's table: per setting, its verdict against the best.
    """
    from d2lkit import sweep as sweeping  # optuna loads only for a sweep
    argv = [str(script), *sweeping.flags_argv(flags), '--seeds', ','.join(map(str, seeds))]
    options = {'--out': out, '--workers': workers, '--search': search, '--storage': storage}
    for option, value in options.items():
        if value is not None:
            argv += [option, str(value)]
    try:
        return sweeping.sweep(argv, show=figure_mode() == 'notebook')
    except sweeping.SweepError as e:
        raise D2LError(str(e)) from None


if __name__ == '__main__':
    # `python -m d2l` runs this file as __main__. With this folder first on sys.path, d2lkit's
    # `import d2l` loads this file once more as `d2l`: the very module, and D2LError, that the
    # chapter scripts (which `import d2l`) get, so every run shares one d2l. The kit's command
    # line lives in d2lkit.cli; importing d2l alone never imports d2lkit.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from d2lkit import cli
    cli.main()
