"""What --confusion and --mistakes cost: the evaluation pass behind them against one training epoch.

The setup is ch_softmax's (concise form): softmax regression 784-10 on Fashion-MNIST, N(0, 0.01)
weights, SGD lr 0.1, batch 256, d2l.load_data_fashion_mnist. Each round trains one epoch with
d2l.train_classifier (its history['seconds']: the training pass alone, test evaluation excluded),
then times, on the 10,000 test images:

- inspect: what a script computes for --confusion and --mistakes together, drawing excluded: one
  pass of d2l.evaluate_verdicts (per image: prediction, its probability, the loss; the 16
  highest-loss images), the confusion matrix and the three most-confused pairs;
- accuracy: d2l.evaluate_accuracy, the plain evaluation pass every epoch already makes, for scale.

The number reported is the median over the timed rounds (default 5, after 1 warm-up round).

    python benchmarks/inspect_cost.py                         # 1 warm-up + 5 timed rounds
    python benchmarks/inspect_cost.py --threads 1             # steadier on a shared machine
    python benchmarks/inspect_cost.py --out benchmarks/results_inspect.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence, TypedDict

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not
sys.path.insert(0, str(REPO / 'benchmarks'))

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from data_pipeline import load_average, machine_info, markdown_table, publish  # noqa: E402

GOAL = 0.10  # inspect / one training epoch


class Rounds(TypedDict):
    """What time_rounds measured: seconds by 'epoch', 'inspect' and 'accuracy'."""
    seconds: dict[str, list[float]]  # of each timed round
    median: dict[str, float]
    test_images: int
    train_images: int
    test_acc: float  # after the last epoch


def inspect_once(net: nn.Module, test_iter: d2l.Batches, device: torch.device) -> torch.Tensor:
    """What --confusion and --mistakes compute before drawing: one pass, the matrix, top pairs."""
    verdicts = d2l.evaluate_verdicts(net, test_iter, device)
    matrix = d2l.confusion_of(verdicts)
    d2l.confused_cells(matrix, 3)
    return matrix


def time_rounds(rounds: int, warmup: int, batch_size: int, data_root: str | None, device: str,
                seed: int = 0) -> Rounds:
    """Train an epoch, then time inspect and accuracy, `warmup + rounds` times; return the times."""
    d2l.set_seed(seed)
    device = torch.device(device)
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size, root=data_root)
    net = nn.Sequential(d2l.FlattenLayer(), nn.Linear(784, 10)).to(device)
    net.apply(d2l.init_normal)
    loss, optimizer = nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=0.1)
    seconds: dict[str, list[float]] = {'epoch': [], 'inspect': [], 'accuracy': []}
    for _ in range(warmup + rounds):
        history = d2l.train_classifier(net, train_iter, test_iter, loss, 1, optimizer,
                                       verbose=False)
        seconds['epoch'] += history['seconds']
        start = time.perf_counter()
        matrix = inspect_once(net, test_iter, device)
        seconds['inspect'].append(time.perf_counter() - start)
        start = time.perf_counter()
        test_acc = d2l.evaluate_accuracy(net, test_iter, device)
        seconds['accuracy'].append(time.perf_counter() - start)
    timed = {k: v[warmup:] for k, v in seconds.items()}
    return {'seconds': timed, 'median': {k: statistics.median(v) for k, v in timed.items()},
            'test_images': int(matrix.sum()), 'train_images': train_iter.num_examples,
            'test_acc': test_acc}


def report(result: Rounds, rounds: int, warmup: int, batch_size: int) -> list[str]:
    """The report's markdown lines: the three medians, each as a share of the epoch, the goal."""
    median, epoch = result['median'], result['median']['epoch']
    names = {'epoch': f'one training epoch ({result["train_images"]} images, batch {batch_size})',
             'inspect': f'--confusion and --mistakes, drawing excluded '
                        f'({result["test_images"]} test images)',
             'accuracy': f'evaluate_accuracy, for scale ({result["test_images"]} test images)'}
    rows = [[names[k], f'{median[k]:.4f}', f'{median[k] / epoch:.1%}',
             ' '.join(f'{s:.4f}' for s in result['seconds'][k])] for k in names]
    ratio = median['inspect'] / epoch
    return ['### Seconds, median of the timed rounds',
            '',
            f'Softmax regression 784-10 (ch_softmax), SGD lr 0.1; median of {rounds} timed '
            f'round(s) after {warmup} warm-up round(s); test accuracy after the last epoch '
            f'{result["test_acc"]:.3f}.',
            '',
            markdown_table(['what', 'median s', 'of one epoch', 'each timed round (s)'], rows),
            '',
            f'- --confusion and --mistakes cost {ratio:.1%} of one training epoch '
            f'(goal < {GOAL:.0%}: {"met" if ratio < GOAL else "NOT met"}); '
            f'{median["inspect"] / median["accuracy"]:.2f}x a plain evaluation pass']


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--rounds', type=kit.positive_int, default=5,
                        help='timed rounds (the median is reported)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds first')
    parser.add_argument('--batch-size', type=kit.positive_int, default=256,
                        help="ch_softmax's batch size")
    parser.add_argument('--threads', type=kit.positive_int,
                        help="torch threads (default: torch's own)")
    parser.add_argument('--data-root', metavar='DIR', help='folder holding the IDX files')
    parser.add_argument('--device', default='cpu', help='cpu, cuda ...')
    parser.add_argument('--out', metavar='PATH', help='also write the report to this markdown file')
    return parser


def main(argv: Sequence[str] | None = None) -> str:
    """Time the rounds and print (and with --out write) the report; return it."""
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info(args.device)
    result = time_rounds(args.rounds, args.warmup, args.batch_size, args.data_root, args.device)
    machine['load average at the end'] = load_average()
    parts = ['## The cost of looking inside a classifier (--confusion, --mistakes)', '',
             markdown_table(['machine', ''], list(machine.items())), '',
             f'Run on {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.', '',
             *report(result, args.rounds, args.warmup, args.batch_size)]
    return publish(parts, 'benchmarks/inspect_cost.py', argv, started, args.out)


if __name__ == '__main__':
    kit.run_script(main)
