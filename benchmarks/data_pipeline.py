"""Time Fashion-MNIST training fed by the classic torchvision pipeline, by d2l's loader and by
bare tensors.

One run on the current machine prints markdown tables:

1. seconds per training epoch and test accuracy of softmax regression and the MLP
   (the book's models and hyperparameters), fed by
   - the classic pipeline: torchvision.datasets.FashionMNIST(transform=ToTensor())
     + DataLoader(shuffle=True), with num_workers 0 and 4 (the book uses 4),
   - d2l.load_data_fashion_mnist (uint8 tensors in memory, one gather per batch),
   - a bare loop over slices of pre-made float tensors in a fixed shuffled order,
     the practical floor;
   every configuration runs the same d2l.train_classifier (forward, loss, backward, SGD
   step, loss and accuracy bookkeeping) from the same seed, so the ratios measure
   the data path only;
2. time to the first batch on a cold and on a warm cache, each in a fresh process;
3. peak resident memory of a full chapter run (ch_softmax/scratch.py);
4. the machine: CPUs, load, torch version, device.

    python benchmarks/data_pipeline.py                 # the full run (a few minutes)
    python benchmarks/data_pipeline.py --quick         # one timed epoch, no warm-up
    python benchmarks/data_pipeline.py --out benchmarks/results.md
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Iterator, Sequence, TypedDict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not

import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

# The book's hyperparameters (chapters "softmax regression, concise" and "MLP, concise").
MODELS = {'softmax': {'lr': 0.1, 'batch_size': 256, 'book_epochs': 10},
          'mlp': {'lr': 0.1, 'batch_size': 256, 'book_epochs': 10, 'num_hiddens': 256}}
CHAPTER_SCRIPT = REPO / 'ch_softmax' / 'scratch.py'


# ---------------------------------------------------------------------------
# Data sources
# ---------------------------------------------------------------------------

def torchvision_root(files: dict[str, Path], folder: Path) -> Path:
    """Write the IDX files uncompressed to folder/FashionMNIST/raw, where torchvision reads them."""
    raw = folder / 'FashionMNIST' / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    for stem, path in files.items():
        opener = gzip.open if path.suffix == '.gz' else open
        with opener(path, 'rb') as src, open(raw / stem, 'wb') as dst:
            shutil.copyfileobj(src, dst)
    return folder


class TensorSlices:
    """The floor: batches are slices of float tensors made once, in one fixed shuffled order."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool,
                 device: torch.device) -> None:
        order = torch.randperm(len(labels)) if shuffle else torch.arange(len(labels))
        self.X = (images[order].unsqueeze(1).float() / 255).to(device)  # (N, 1, 28, 28) in [0, 1]
        self.y = labels[order].to(device)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, len(self.y), self.batch_size):
            yield self.X[i:i + self.batch_size], self.y[i:i + self.batch_size]


def make_loaders(source: str, batch_size: int, data_root: str | os.PathLike | None,
                 tv_root: Path | None, device: torch.device) -> tuple[d2l.Batches, d2l.Batches]:
    """(train_iter, test_iter) for a source: 'classic-N' (N workers), 'd2l' or 'bare'."""
    if source.startswith('classic-'):
        import torchvision
        from torch.utils.data import DataLoader
        workers = int(source.split('-', 1)[1])
        loaders = []
        for train in (True, False):
            dataset = torchvision.datasets.FashionMNIST(
                root=str(tv_root), train=train, download=False,
                transform=torchvision.transforms.ToTensor())
            loaders.append(DataLoader(dataset, batch_size, shuffle=train, num_workers=workers))
        return loaders[0], loaders[1]
    if source == 'd2l':
        return d2l.load_data_fashion_mnist(batch_size, root=data_root)
    if source == 'bare':
        arrays = d2l.load_mnist_arrays('fashion-mnist', root=data_root)
        return (TensorSlices(arrays['train_images'], arrays['train_labels'],
                             batch_size, True, device),
                TensorSlices(arrays['test_images'], arrays['test_labels'],
                             batch_size, False, device))
    raise ValueError(f'unknown source {source!r}')


# ---------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------

def make_model(model: str) -> nn.Module:
    """The book's concise softmax regression (784-10) or MLP (784-256-10), N(0, 0.01) weights."""
    if model == 'softmax':
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    elif model == 'mlp':
        hidden = MODELS['mlp']['num_hiddens']
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    else:
        raise ValueError(f'unknown model {model!r}')
    net.apply(d2l.init_normal)
    return net


class Timing(TypedDict):
    """What time_training measured for one model fed by one source."""
    model: str
    source: str
    seconds: list[float]  # of each timed epoch
    median: float
    test_acc: float  # after the last epoch
    epochs: int  # warm-up included


def time_training(model: str, sources: Sequence[str], epochs: int, warmup: int,
                  data_root: str | os.PathLike | None = None, tv_root: Path | None = None,
                  device: str = 'cpu', seed: int = 0) -> list[Timing]:
    """Train one model per source with d2l.train_classifier, one epoch of each in turn.

    Return each one's timings. Taking turns epoch by epoch spreads a busy machine's slow spells
    over all sources alike. Every source starts from the same seed, so from the same weights.
    """
    device, loss, runs = torch.device(device), nn.CrossEntropyLoss(reduction='none'), []
    for source in sources:
        d2l.set_seed(seed)
        net = make_model(model).to(device)
        train_iter, test_iter = make_loaders(source, MODELS[model]['batch_size'], data_root,
                                             tv_root, device)
        optimizer = torch.optim.SGD(net.parameters(), lr=MODELS[model]['lr'])
        runs.append({'source': source, 'net': net, 'train_iter': train_iter, 'test_iter': test_iter,
                     'optimizer': optimizer, 'seconds': []})
    for _ in range(warmup + epochs):
        for run in runs:
            history = d2l.train_classifier(run['net'], run['train_iter'], run['test_iter'], loss, 1,
                                           run['optimizer'], verbose=False)
            run['seconds'] += history['seconds']
            run['test_acc'] = history['test_acc'][-1]
    return [{'model': model, 'source': run['source'], 'seconds': run['seconds'][warmup:],
             'median': statistics.median(run['seconds'][warmup:]), 'test_acc': run['test_acc'],
             'epochs': warmup + epochs} for run in runs]


# ---------------------------------------------------------------------------
# Fresh processes: first batch and peak memory
# ---------------------------------------------------------------------------

FIRST_BATCH_D2L = '''
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
import torch, d2l
t1 = time.perf_counter()
train_iter, _ = d2l.load_data_fashion_mnist(256)
X, y = next(iter(train_iter))
t2 = time.perf_counter()
print(json.dumps({{'import': t1 - t0, 'first_batch': t2 - t1}}))
'''

FIRST_BATCH_CLASSIC = '''
import json, sys, time
t0 = time.perf_counter()
import torch, torchvision
from torch.utils.data import DataLoader
t1 = time.perf_counter()
dataset = torchvision.datasets.FashionMNIST(root={root!r}, train=True, download=False,
                                            transform=torchvision.transforms.ToTensor())
X, y = next(iter(DataLoader(dataset, 256, shuffle=True, num_workers={workers})))
t2 = time.perf_counter()
print(json.dumps({{'import': t1 - t0, 'first_batch': t2 - t1}}))
'''


def run_child(code: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run Python code in a fresh interpreter; return the JSON it prints last and its wall time."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'child process failed ({proc.returncode}): '
                           f'{proc.stderr.strip()[-2000:]}')
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), 'process': wall}


def first_batch_times(files: dict[str, Path], tv_root: Path, workers: Sequence[int], scratch: Path
                      ) -> list[tuple[str, dict[str, float]]]:
    """The first batch of d2l on a cold then a warm cache, and of the classic pipeline.

    Each is timed in a new process.
    """
    data = scratch / 'first-batch-data'  # a copy of the IDX files and no cache yet: cold
    (data / 'fashion-mnist').mkdir(parents=True)
    for path in files.values():
        shutil.copy2(path, data / 'fashion-mnist' / path.name)
    env = {'D2L_DATA': str(data), 'XDG_CACHE_HOME': str(scratch / 'first-batch-xdg')}
    code = FIRST_BATCH_D2L.format(repo=str(REPO))
    rows = [('d2l, cold cache (parse the .gz files, write the cache)', run_child(code, env)),
            ('d2l, warm cache (load the parsed tensors)', run_child(code, env))]
    for w in workers:
        rows.append((f'classic, num_workers={w} (no cache: parses the raw files every run)',
                     run_child(FIRST_BATCH_CLASSIC.format(root=str(tv_root), workers=w))))
    return rows


# A lean go-between: Linux starts a child's peak RSS at its parent's size, and this process
# holds every data set, so the command is started (and its peak read) from a small process.
RSS_WRAPPER = '''
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
stderr = proc.stderr.read().decode(errors='replace')
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({'maxrss': usage.ru_maxrss, 'code': os.waitstatus_to_exitcode(status),
                  'seconds': time.perf_counter() - start, 'stderr': stderr[-2000:]}))
'''


def peak_rss(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run a command; return its peak resident set (MiB) and wall seconds.

    The peak is wait4's ru_maxrss (POSIX).
    """
    proc = subprocess.run([sys.executable, '-c', RSS_WRAPPER, *cmd], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f'could not measure {" ".join(cmd)}: {proc.stderr.strip()[-2000:]}')
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result['code'] != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({result["code"]}): {result["stderr"].strip()}')
    # ru_maxrss is in KiB, but macOS reports bytes
    kib = result['maxrss'] if sys.platform != 'darwin' else result['maxrss'] / 1024
    return {'rss_mib': kib / 1024, 'seconds': result['seconds']}


def chapter_rss(epochs: int | None, data_root: str | os.PathLike | None, scratch: Path
                ) -> list[tuple[str, dict[str, float]]]:
    """Peak memory of a full chapter run, next to that of just importing torch and d2l."""
    flags = ((['--epochs', str(epochs)] if epochs else [])
             + (['--data-root', str(data_root)] if data_root else []))
    name, cmd = (f'ch_softmax/scratch.py {" ".join(flags)}'.strip(),
                 [sys.executable, str(CHAPTER_SCRIPT), *flags])
    baseline = [sys.executable, '-c',
                f'import sys; sys.path.insert(0, {str(REPO)!r}); import torch, d2l']
    env = {'MPLBACKEND': 'Agg'}
    return [(name, peak_rss(cmd, scratch, env)), ('python -c "import torch, d2l" (the floor)',
                                                  peak_rss(baseline, scratch, env))]


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def load_average() -> str:
    """The 1, 5 and 15 minute load averages as '0.52 0.61 0.70', or 'n/a' (Windows has none)."""
    return ' '.join(f'{x:.2f}' for x in os.getloadavg()) if hasattr(os, 'getloadavg') else 'n/a'


def machine_info(device: str) -> dict[str, str]:
    """CPU count, load, torch and Python versions and the device, as printable strings."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                   if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    import torchvision
    return {'cpu': f'{cpu}; {os.cpu_count()} CPUs, {usable} usable; '
                   f'torch threads {torch.get_num_threads()}',
            'load average (1, 5, 15 min)': load_average(),
            'software': f'Python {platform.python_version()}, torch {torch.__version__}, '
                        f'torchvision {torchvision.__version__}, '
                        f'{platform.system()} {platform.release()}',
            'device': str(device) + (f' ({torch.cuda.get_device_name()})'
                                     if str(device).startswith('cuda') else '')}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '|'.join(' --- ' for _ in headers) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


SOURCE_NAMES = {'d2l': 'd2l.load_data_fashion_mnist',
                'bare': 'bare loop over float tensors (floor)'}


def training_report(results: list[Timing], models: Sequence[str], sources: Sequence[str]) -> str:
    """The seconds-per-epoch table, the ratios and the goals."""
    by = {(r['model'], r['source']): r for r in results}
    headers = ['data path']
    for m in models:
        headers += [f'{m} s/epoch', f'{m} test acc', f'{m} vs d2l']
    rows = []
    for s in sources:
        name = SOURCE_NAMES.get(s, f'classic DataLoader, num_workers={s.split("-")[-1]}')
        row = [name]
        for m in models:
            r, ours = by[(m, s)], by.get((m, 'd2l'))
            ratio = f'{r["median"] / ours["median"]:.2f}x' if ours else 'n/a'
            row += [f'{r["median"]:.3f}', f'{r["test_acc"]:.3f}', ratio]
        rows.append(row)
    lines = [markdown_table(headers, rows), '']
    goals = {'softmax': 10.0, 'mlp': 4.0}
    for m in models:
        if (m, 'd2l') not in by:
            continue
        ours = by[(m, 'd2l')]['median']
        classic = [by[(m, s)]['median'] for s in sources if s.startswith('classic-')]
        if classic:
            speedup = min(classic) / ours
            lines.append(f'- {m}: d2l is {speedup:.1f}x faster than the best classic configuration '
                         f'(goal >= {goals[m]:.0f}x: {"met" if speedup >= goals[m] else "MISSED"})')
        if (m, 'bare') in by:
            over = ours / by[(m, 'bare')]['median']
            goal = (' (goal <= 1.3x: ' + ('met' if over <= 1.3 else 'MISSED') + ')'
                    if m == 'softmax' else '')
            lines.append(f'- {m}: d2l takes {over:.2f}x the time of the bare loop{goal}')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--epochs', type=kit.positive_int, default=3,
                        help='timed epochs per configuration (default: 3)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed epochs before them (default: 1)')
    parser.add_argument('--quick', action='store_true',
                        help='1 timed epoch, no warm-up, a 1-epoch chapter run: '
                             'a rough look in a minute or two')
    parser.add_argument('--models', nargs='+', choices=list(MODELS), default=list(MODELS),
                        help='which models to train (default: both)')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 4],
                        help='num_workers values of the classic DataLoader (default: 0 4)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda, cuda:N, mps or auto (default: cpu)')
    parser.add_argument('--threads', type=kit.positive_int,
                        help="torch's intra-op threads (default: torch's choice); 1 gives steadier "
                             'numbers on a machine shared with other jobs, where 2 threads on 2 '
                             'busy cores stall each other')
    parser.add_argument('--data-root', metavar='DIR',
                        help='folder with the IDX files '
                             "(default: d2l's lookup, e.g. the system copy)")
    parser.add_argument('--skip-processes', action='store_true',
                        help='skip the first-batch and peak-memory measurements (fresh processes)')
    parser.add_argument('--out', metavar='PATH',
                        help='also write the report (markdown) to this file')
    return parser


def main(argv: Sequence[str] | None = None) -> str:
    """Run every measurement, print the markdown report and return it."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.epochs, args.warmup = 1, 0
    if args.warmup < 0 or min(args.workers) < 0:
        build_parser().error('--warmup and --workers must be >= 0')
    device = str(kit.resolve_device(args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ['OMP_NUM_THREADS'] = str(args.threads)  # the same for the fresh processes below
    # The book's num_workers=4 is more than torch suggests for 2 CPUs; it says so once per epoch.
    warnings.filterwarnings('ignore', message='This DataLoader will create')
    sources = [f'classic-{w}' for w in args.workers] + ['d2l', 'bare']
    info = machine_info(device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='d2l-bench-') as tmp:
        scratch = Path(tmp)
        files = d2l.locate_idx_files('fashion-mnist', args.data_root)
        tv_root = torchvision_root(files, scratch / 'torchvision')
        # warm d2l's cache before timing
        d2l.load_mnist_arrays('fashion-mnist', root=args.data_root)
        results = []
        for model in args.models:
            for r in time_training(model, sources, args.epochs, args.warmup, args.data_root,
                                   tv_root, device):
                print(f'# {model:8s} {r["source"]:10s} {r["median"]:.3f} s/epoch  '
                      f'test acc {r["test_acc"]:.3f}', file=sys.stderr)
                results.append(r)
        first, rss = [], []
        if not args.skip_processes:
            first = first_batch_times(files, tv_root, args.workers, scratch)
            rss = chapter_rss(1 if args.quick else None, args.data_root, scratch)
    info['load average at the end'] = load_average()
    epochs_note = ('Seconds per epoch: training time of `d2l.train_classifier` '
                   '(`history["seconds"]`, test evaluation excluded), '
                   f'median of {args.epochs} timed epoch(s) after {args.warmup} warm-up epoch(s), '
                   'the sources taking turns epoch by epoch; test accuracy after all '
                   f'{args.epochs + args.warmup} epochs (the book trains 10; the timing needs only '
                   'a few, and the classic pipeline makes 10 slow). '
                   'Same seed, model, batch size 256 and lr 0.1 everywhere; softmax is 784-10, '
                   'the MLP 784-256-10 with ReLU. Accuracies differ a little because each source '
                   "draws its own batch order. num_workers=4 is the book's setting.")
    parts = ['## Fashion-MNIST: data pipeline benchmark', '',
             markdown_table(['machine', ''], list(info.items())), '',
             '### Seconds per epoch', '', epochs_note, '',
             training_report(results, args.models, sources)]
    if first:
        headers = ['pipeline', 'first batch (s)', 'imports (s)', 'whole process (s)']
        times = [[name, f'{t["first_batch"]:.2f}', f'{t["import"]:.2f}', f'{t["process"]:.2f}']
                 for name, t in first]
        parts += ['', '### Time to the first batch (fresh process each)', '',
                  'From the end of the imports to the first training batch in hand: for d2l, '
                  'finding the files, reading them (cold: decompress and parse the .gz files, then '
                  'write the cache; warm: load the cached tensors) and cutting a batch; for the '
                  'classic pipeline, building the data set from the uncompressed raw files (it has '
                  'no cache) and the DataLoader (with workers: starting them). The imports are '
                  'torch + d2l, or torch + torchvision; the last column is the whole process, '
                  'interpreter start included.', '',
                  markdown_table(headers, times)]
    if rss:
        parts += ['', '### Peak memory (resident set) of a chapter run', '',
                  'Peak RSS over the whole process (ru_maxrss from wait4, interpreter exit '
                  'included); the second line is what importing torch alone costs.', '',
                  markdown_table(['command', 'peak RSS (MiB)', 'wall time (s)'],
                                 [[name, f'{m["rss_mib"]:.0f}', f'{m["seconds"]:.1f}']
                                  for name, m in rss])]
    return publish(parts, 'benchmarks/data_pipeline.py', argv, started, args.out)


def publish(parts: list[str], script: str, argv: Sequence[str] | None, started: float,
            out: str | None) -> str:
    """End a report with how to reproduce it, print it, write it to `out` if given; return it."""
    flags = argv if argv is not None else sys.argv[1:]
    parts = parts + ['', f'Reproduce: `python {script} {" ".join(flags)}`'
                         f'  (this run took {time.perf_counter() - started:.0f} s).']
    report = '\n'.join(parts) + '\n'
    print(report)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(report)
    return report


if __name__ == '__main__':  # required: DataLoader workers may re-import this file
    kit.run_script(main)
