"""Shared by the tests: the chapter scripts, output formats, tiny IDX data sets written by
the tests themselves, an isolated data lookup, a headless working folder for every test,
scripts run as programs, a stand-in for the books' own d2l package, and a file server on
127.0.0.1 for the downloads."""
from __future__ import annotations

import functools
import gzip
import http.server
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the d2l.py of this checkout, even without `pip install -e .`

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

REAL_FASHION = Path('/usr/share/datasets/fashion-mnist')

# Under pytest-xdist (pyproject's addopts: `-n auto`) each worker gets its share of the cores, for
# torch here and, through OMP_NUM_THREADS, for the scripts the tests start as processes: two
# workers each running two threads on a 2-core machine stall each other for many times longer
# than they save.
_WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if _WORKERS > 1:
    _THREADS = max(1, (os.cpu_count() or 1) // _WORKERS)
    torch.set_num_threads(_THREADS)
    os.environ['OMP_NUM_THREADS'] = str(_THREADS)

# Every chapter script, by path without .py. Listed, not globbed: a missing script fails its tests
# (and test_every_chapter_script_is_listed fails for one that is not listed here).
# the scratch/concise pairs
IMAGE_SCRIPTS = ['ch_softmax/scratch', 'ch_softmax/concise', 'ch_mlp/scratch', 'ch_mlp/concise']
MANUAL = 'ch_mlp/manual'
# its epoch line adds the elapsed seconds: `epoch 1, loss ..., test acc 0.812, 3.4 s`
BEST = 'ch_mlp/best'
LINREG_SCRIPTS = ['ch_linear_regression/scratch', 'ch_linear_regression/concise']
# the shared flags, --save/--load, the loss check
TRAINING_SCRIPTS = IMAGE_SCRIPTS + [MANUAL, BEST] + LINREG_SCRIPTS
FIZZBUZZ = 'ch_mlp/fizzbuzz'
# The regression scripts of the model-selection pages: synthetic data, train and test loss.
POLYNOMIAL = 'ch_model_selection/polynomial'
WEIGHT_DECAY_SCRIPTS = ['ch_weight_decay/scratch', 'ch_weight_decay/concise']  # scratch and concise
MODEL_SELECTION_SCRIPTS = [POLYNOMIAL] + WEIGHT_DECAY_SCRIPTS
TRAINING_SCRIPTS += MODEL_SELECTION_SCRIPTS  # they take the shared flags and --save/--load

PNG = b'\x89PNG\r\n\x1a\n'
EPOCH_LINE = re.compile(r'^epoch (\d+), loss (\d+\.\d{4}), '
                        r'train acc (\d\.\d{3}), test acc (\d\.\d{3})$')
SPEED_LINE = re.compile(r'^\d+\.\d examples/sec on cpu$')


def pytest_report_header(config) -> list[str]:
    """The header says when `import d2l` outside this checkout gives another d2l (the books')."""
    warning = kit.shadowing_d2l()
    return [warning] if warning else []


def script(name: str):
    """The module of a chapter script, e.g. 'ch_softmax/scratch', imported by path.

    Its main() is not run."""
    return kit.load_script(ROOT / f'{name}.py')


def train(name: str, *flags: str, data: Path | None = None) -> dict:
    """Run a chapter script's main() with flags (and --data-root data); return its history."""
    argv = list(flags) + (['--data-root', str(data)] if data is not None else [])
    return script(name).main(argv)


def assert_same_losses(a: dict, b: dict, rtol: float, keys=('train_loss',)) -> None:
    """Two histories with equal per-epoch losses within rtol (relative), for each key."""
    for key in keys:
        assert len(a[key]) == len(b[key]) > 0, key
        for x, y in zip(a[key], b[key]):
            assert abs(x - y) <= rtol * abs(y), (key, a[key], b[key])


def data_args(name: str, root: Path) -> list[str]:
    """--data-root for the scripts that read images; the others make their own data."""
    return ['--data-root', str(root)] if name in IMAGE_SCRIPTS + [MANUAL, BEST] else []


def is_png(path) -> bool:
    """True when path is a file that starts with the PNG signature."""
    return os.path.isfile(path) and open(path, 'rb').read(8) == PNG


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


def program(args: list[str], cwd, tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Run `python ARGS` in cwd as a user would, with env added.

    As a user would: no $D2L_DATA, no display, a private cache."""
    env = {**{k: v for k, v in os.environ.items() if k not in ('D2L_DATA', 'DISPLAY')},
           'XDG_CACHE_HOME': str(tmp_path / 'cache'), **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def run_as_script(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """main(argv) run the way a chapter script's last line runs it (kit.run_script), in
    this process; return (exit status, stdout, stderr) as the interpreter would end:
    SystemExit(None) is 0, an int is itself, a message is printed to stderr and is 1. A
    traceback would escape as an exception."""
    capsys.readouterr()
    try:
        kit.run_script(lambda: main(argv))
        status = 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    out, err = capsys.readouterr()
    return status, out, err


def make_books_d2l(site: Path, version: str | None = '1.0.3', dist_info: bool = True) -> Path:
    """A stand-in for the books' package as pip installs it into site: site/d2l/__init__.py (with
    __version__, and writing site/imported when imported) and, if dist_info, its
    d2l-VERSION.dist-info. Returns the package folder."""
    package = site / 'd2l'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text(
        "from pathlib import Path\n"
        "Path(__file__).parent.with_name('imported').write_text('the stand-in d2l was imported')\n"
        + (f"__version__ = '{version}'\n" if version else ''))
    if dist_info and version:
        info = site / f'd2l-{version}.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: d2l\nVersion: {version}\n')
        (info / 'top_level.txt').write_text('d2l\n')
    return package


class Marker:
    """A pickle that would create a folder when unpickled.

    Proof that nothing is unpickled into objects."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.fixture(autouse=True)
def headless(monkeypatch, tmp_path):
    """Figures go to files, never to a window, numbered from 1 in each test; files written to the
    working folder land in tmp_path."""
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('D2L_FIGURES', raising=False)
    monkeypatch.setattr(d2l, '_FIGURE_COUNTS', {})
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    # else d2l's exit hook would save them into the repository
    if 'matplotlib.pyplot' in sys.modules:
        sys.modules['matplotlib.pyplot'].close('all')


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write a uint8 array as an IDX file (magic 0x0000080N, big-endian dims), gzipped or plain."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = (bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
            + array.tobytes())
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
    monkeypatch.setattr(d2l, '_download',
                        lambda name, home: (None, 'download failed: offline (test)'))
    return tmp_path


@pytest.fixture
def tiny_data(isolated):
    """A data root with tiny Fashion-MNIST and MNIST data sets (50 train, 20 test images each)."""
    root = isolated / 'data'
    make_idx_dataset(root / 'fashion-mnist', seed=1)
    make_idx_dataset(root / 'mnist', seed=2)
    return root


@pytest.fixture
def fashion(tiny_data):
    """The book's call: batches of tiny Fashion-MNIST."""
    d2l.set_seed(0)
    return d2l.load_data_fashion_mnist(16, root=tiny_data)


class _FileHandler(http.server.BaseHTTPRequestHandler):
    """GET /name: the bytes in server.files, or 404. A name in server.cut_short gets its full
    Content-Length but only its first 10 bytes before the connection closes."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        body = self.server.files.get(self.path.lstrip('/'))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body[:10] if self.path.lstrip('/') in self.server.cut_short else body)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def file_server():
    """An HTTP server on 127.0.0.1 (any free port) for this test only, stopped after it.

    Put bytes under server.files['name'] to serve them at server.url + '/name'; server.hits lists
    the paths asked for; names in server.cut_short are cut off after 10 bytes."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _FileHandler)
    server.daemon_threads = True
    server.files, server.hits, server.cut_short = {}, [], set()
    server.url = f'http://127.0.0.1:{server.server_address[1]}'
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening on it: a connection there is refused at once."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def install_kit(tmp_path: Path) -> Path:
    """pip-install this checkout's kit (d2l.py and d2lkit, as pyproject.toml lists them) into a
    fresh folder, the way the README's install does but without fetching anything; return it.

    The sources are copied first, so that the build leaves nothing in the checkout."""
    source, site = tmp_path / 'source', tmp_path / 'site'
    source.mkdir()
    for name in ('pyproject.toml', 'README.md', 'd2l.py'):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / 'd2lkit', source / 'd2lkit',
                    ignore=shutil.ignore_patterns('__pycache__'))
    installed = program(['-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
                         '--no-index', '--target', str(site), str(source)], tmp_path, tmp_path)
    assert installed.returncode == 0, installed.stderr
    return site


# ---------------------------------------------------------------------------
# Sweeps across machines: a throwaway PostgreSQL server, copies of the checkout
# ---------------------------------------------------------------------------

def _postgres_bin() -> Path | None:
    """Debian's PostgreSQL binaries (/usr/lib/postgresql/N/bin, not on PATH), newest first."""
    found = sorted(Path('/usr/lib/postgresql').glob('*/bin/initdb'),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


@pytest.fixture
def postgres_url():
    """A PostgreSQL server of its own for one test, on 127.0.0.1 at a free port, stopped after it:
    its URL as a user writes it (postgresql://user@host:port/db). Without PostgreSQL installed the
    test skips with one line; in CI ($CI set) it fails, since CI installs it."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        message = 'no PostgreSQL server installed (apt-get install postgresql)'
        if os.environ.get('CI'):
            pytest.fail(message + ': .ci/run installs it')
        pytest.skip(message)
    # initdb refuses root: as root the server runs as the postgres user, in a folder it owns
    # (pytest's temporary folders are private to their owner)
    as_user = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix='d2l-postgres-'))
    if as_user:
        import pwd
        owner = pwd.getpwnam('postgres')
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    data = folder / 'data'
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True,
                            timeout=120)
    run([*as_user, str(bin_dir / 'initdb'), '-D', str(data), '-U', 'd2l', '--auth=trust'])
    run([*as_user, str(bin_dir / 'pg_ctl'), '-D', str(data), '-l', str(folder / 'log'), '-w',
         '-o', f'-p {port} -k {folder} -c listen_addresses=127.0.0.1', 'start'])
    try:
        yield f'postgresql://d2l@127.0.0.1:{port}/postgres'
    finally:
        subprocess.run([*as_user, str(bin_dir / 'pg_ctl'), '-D', str(data), '-m', 'immediate',
                        'stop'], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def copy_checkout(folder: Path) -> Path:
    """A copy of what a sweep of the linear-regression script needs from this checkout (d2l.py,
    d2lkit, the chapter), as a second machine would have it in another folder."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / 'd2l.py', folder)
    for part in ('d2lkit', 'ch_linear_regression'):
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns('__pycache__'))
    return folder


def other_host(name: str) -> list[str]:
    """A command prefix that runs a program under its own host name, as another machine would
    (a UTS namespace: root on Linux); [] where that is not possible here."""
    probe = ['unshare', '--uts', 'sh', '-c', f'hostname {name} && hostname']
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0 or done.stdout.strip() != name:
        return []
    return ['unshare', '--uts', 'sh', '-c', f'hostname {name} && exec "$@"', 'sh']
