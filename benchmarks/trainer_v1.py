"""Time the d2l 1.0 Trainer.fit of softmax regression on d2l.FashionMNIST and on a classic
torchvision data module.

One run on the current machine prints a markdown table. Every configuration trains
the 1.0 softmax-concise model (d2l.SoftmaxRegression(num_outputs=10, lr=0.1)) with
the same d2l.Trainer from the same seed at batch 256; only the DataModule differs:

- d2l.FashionMNIST(batch_size=256): uint8 tensors in memory, one gather per batch;
- a classic DataModule: torchvision.datasets.FashionMNIST(transform=ToTensor()) +
  DataLoader(shuffle=train, num_workers=W), W = 4 (the book's setting) and 0.

An epoch is one Trainer.fit call with max_epochs=1: the loaders, the training pass
(forward, loss, backward, step, the board's bookkeeping), the validation pass and the
board's epoch line and PNG redraw, all that a reader of the book waits for.
The data modules take turns epoch by epoch, so a slow spell on a shared machine hits
all of them; the number is the median of the timed epochs.

    python benchmarks/trainer_v1.py              # 1 warm-up + 3 timed epochs each
    python benchmarks/trainer_v1.py --threads 1  # steadier on a machine shared with other jobs
    python benchmarks/trainer_v1.py --out benchmarks/results_v1.md
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Sequence, TypedDict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not
sys.path.insert(0, str(REPO / 'benchmarks'))

import torch  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from data_pipeline import (load_average, machine_info, markdown_table, publish,  # noqa: E402
                           torchvision_root)

BATCH_SIZE, LR = 256, 0.1  # the book's softmax-regression-concise page


class TorchvisionFashionMNIST(d2l.DataModule):
    """The classic pipeline as a 1.0 DataModule.

    torchvision's data set, ToTensor per image, DataLoader workers.
    """

    def __init__(self, root: str, batch_size: int, num_workers: int) -> None:
        super().__init__(root=root, num_workers=num_workers)
        self.batch_size = batch_size
        import torchvision
        to_tensor = torchvision.transforms.ToTensor()
        dataset = torchvision.datasets.FashionMNIST
        self.splits = {train: dataset(root=root, train=train, transform=to_tensor)
                       for train in (True, False)}

    def get_dataloader(self, train: bool) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.splits[train], self.batch_size, shuffle=train,
                                           num_workers=self.num_workers)


class FitTiming(TypedDict):
    """What time_fit measured for one data module."""
    source: str
    median: float  # seconds per timed epoch
    val_acc: float  # as the board printed it after the last epoch


def time_fit(sources: dict[str, d2l.DataModule], epochs: int, warmup: int) -> list[FitTiming]:
    """Train one model per source, one epoch per turn; return median s/epoch and last val acc."""
    models, seconds, lines = {}, {name: [] for name in sources}, {}
    for name in sources:
        torch.manual_seed(0)
        models[name] = d2l.SoftmaxRegression(num_outputs=10, lr=LR)
    trainer = d2l.Trainer(max_epochs=1)
    for _ in range(warmup + epochs):
        for name, data in sources.items():
            out = io.StringIO()
            start = time.perf_counter()
            # the board's epoch line, kept for the accuracy
            with contextlib.redirect_stdout(out):
                trainer.fit(models[name], data)
            seconds[name].append(time.perf_counter() - start)
            lines[name] = out.getvalue()
    results = []
    for name in sources:
        last = [line for line in lines[name].splitlines() if line.startswith('epoch ')][-1]
        results.append({'source': name, 'median': statistics.median(seconds[name][warmup:]),
                        'val_acc': float(last.rsplit('val_acc ', 1)[1])})
    return results


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--epochs', type=kit.positive_int, default=3,
                        help='timed epochs per data module')
    parser.add_argument('--warmup', type=int, default=1, help='untimed epochs before them')
    parser.add_argument('--workers', type=int, nargs='+', default=[4, 0],
                        help='num_workers values of the classic DataLoader '
                             '(the first is the reference)')
    parser.add_argument('--threads', type=kit.positive_int,
                        help="torch's intra-op threads (default: torch's choice)")
    parser.add_argument('--data-root', metavar='DIR',
                        help='folder with the IDX files '
                             "(default: d2l's lookup, e.g. the system copy)")
    parser.add_argument('--out', metavar='PATH',
                        help='also write the report (markdown) to this file')
    return parser


def main(argv: Sequence[str] | None = None) -> str:
    """Time every data module, print the markdown report and return it."""
    args = build_parser().parse_args(argv)
    if args.warmup < 0 or min(args.workers) < 0:
        build_parser().error('--warmup and --workers must be >= 0')
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore', message='This DataLoader will create')  # 4 workers on 2 CPUs
    info = machine_info('cpu')
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='d2l-bench-v1-') as tmp:
        files = d2l.locate_idx_files('fashion-mnist', args.data_root)
        tv_root = str(torchvision_root(files, Path(tmp) / 'torchvision'))
        # d2l.FashionMNIST reads the same files (d2l's lookup finds them otherwise)
        if args.data_root:
            os.environ['D2L_DATA'] = args.data_root
        os.environ['D2L_FIGURES'] = tmp  # the boards' PNGs, redrawn every epoch as for a reader
        sources = {'d2l': d2l.FashionMNIST(batch_size=BATCH_SIZE)}
        for w in args.workers:
            sources[f'classic-{w}'] = TorchvisionFashionMNIST(tv_root, BATCH_SIZE, w)
        results = time_fit(sources, args.epochs, args.warmup)
    info['load average at the end'] = load_average()
    by = {r['source']: r for r in results}
    ours = by['d2l']['median']
    reference = f'classic-{args.workers[0]}'
    rows = []
    for name, r in by.items():
        label = ('`d2l.FashionMNIST(batch_size=256)`' if name == 'd2l' else
                 f'torchvision `ToTensor` + `DataLoader(num_workers={name.split("-")[1]})`')
        ratio = f'{r["median"] / ours:.1f}x'
        rows.append([label, f'{r["median"]:.3f}', f'{r["val_acc"]:.3f}', ratio])
    best_classic = min(r['median'] for n, r in by.items() if n != 'd2l')
    summary = (f'`Trainer.fit` on `d2l.FashionMNIST` is {by[reference]["median"] / ours:.1f}x '
               'faster per epoch than on the classic data module with '
               f'num_workers={args.workers[0]} (goal >= 10x), and '
               f'{best_classic / ours:.1f}x faster than the best classic setting measured.')
    parts = ['## d2l 1.0 Trainer.fit: softmax regression, Fashion-MNIST', '',
             markdown_table(['machine', ''], list(info.items())), '',
             'Seconds per epoch (`Trainer(max_epochs=1).fit`: loaders, training and validation '
             f"passes, the board's line and PNG), median of {args.epochs} timed epoch(s) after "
             f'{args.warmup} warm-up epoch(s), the data modules taking turns; validation accuracy '
             f'as the board printed it after all {args.epochs + args.warmup} epochs. '
             f'Same seed, model (`d2l.SoftmaxRegression(10, lr={LR})`), Trainer and batch size '
             f'{BATCH_SIZE} everywhere.', '',
             markdown_table(['data module', 's/epoch', 'val acc', 'time vs d2l'], rows),
             '', summary]
    return publish(parts, 'benchmarks/trainer_v1.py', argv, started, args.out)


if __name__ == '__main__':  # required: DataLoader workers may re-import this file
    kit.run_script(main)
