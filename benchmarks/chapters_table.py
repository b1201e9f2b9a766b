"""The README's chapter table: every chapter script with its book defaults, seed 0, on this machine.

Each run calls the script's main() in this process with its printed output captured. The result
column comes from what the script prints (the errors in w and b, the accuracy on 1..100, the norm
of w) or from the history main() returns (the last epoch's test accuracy or test loss); the time
column is the median of the history's seconds per epoch (training only, the epoch's evaluation
left out), or, for FizzBuzz and best.py, their seconds in all (FizzBuzz: its training, as it
prints it; best.py: from the start of its main(), data loading and evaluations included). The runs
go one after another; on a machine that other jobs share every time grows, so the table's heading
line gives the load average at the start and at the end.

    python benchmarks/chapters_table.py                               # the table, about 10 minutes
    python benchmarks/chapters_table.py --epochs 1 --data-root DIR    # a quick check of the parsing
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import re
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not
sys.path.insert(0, str(REPO / 'benchmarks'))

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from data_pipeline import load_average, machine_info  # noqa: E402

# name -> (script, flags): the runs behind the table, in its order
RUNS = {
    'linreg': ('ch_linear_regression/scratch.py', []),
    'softmax-scratch': ('ch_softmax/scratch.py', []),
    'softmax-concise': ('ch_softmax/concise.py', []),
    'mlp-scratch': ('ch_mlp/scratch.py', []),
    'mlp-concise': ('ch_mlp/concise.py', []),
    'manual': ('ch_mlp/manual.py', []),
    'fizzbuzz': ('ch_mlp/fizzbuzz.py', []),
    'best': ('ch_mlp/best.py', []),
    'best-fast': ('ch_mlp/best.py', ['--fast']),
    'degree-3': ('ch_model_selection/polynomial.py', []),
    'degree-1': ('ch_model_selection/polynomial.py', ['--degree', '1']),
    'degree-19': ('ch_model_selection/polynomial.py', ['--degree', '19', '--num-train', '15']),
    'lambd-3': ('ch_weight_decay/scratch.py', ['--lambd', '3']),
    'lambd-0': ('ch_weight_decay/scratch.py', ['--lambd', '0']),
}
IMAGES = ('ch_softmax/', 'ch_mlp/scratch', 'ch_mlp/concise', 'ch_mlp/manual', 'ch_mlp/best')
BEST_ANCHOR = 'docs/chapters.md#what-each-trick-buys'


def load(path: str) -> ModuleType:
    """A chapter script imported by its path under the repository (its main() is not run)."""
    name = f'_table_{Path(path).parent.name}_{Path(path).stem}'
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, extra: Sequence[str] = ()) -> tuple[str, dict[str, list[float]]]:
    """Run one of RUNS in this process: (what it printed, the history its main() returned)."""
    path, flags = RUNS[name]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = load(path).main([*flags, '--seed', '0', *extra])
    return printed.getvalue(), history


def last(pattern: str, printed: str) -> str:
    """The first group of the last line of printed that matches pattern; D2LError if none does."""
    found = re.findall(pattern, printed, re.M)
    if not found:
        raise d2l.D2LError(f'no line matching {pattern!r} in the output:\n{printed}')
    return found[-1]


def per_epoch(history: dict[str, list[float]]) -> str:
    """The median seconds per epoch, two significant figures."""
    return f'{statistics.median(history["seconds"]):.2g}'


def table(results: dict[str, tuple[str, dict[str, list[float]]]]) -> list[str]:
    """The README's rows: script, what it teaches, result, s/epoch.

    They come from the printed output and the history of each of RUNS.
    """
    out = {name: printed for name, (printed, _) in results.items()}
    hist = {name: history for name, (_, history) in results.items()}
    acc = {name: h['test_acc'][-1] for name, h in hist.items() if 'test_acc' in h}
    test_loss = {name: h['test_loss'][-1] for name, h in hist.items() if 'test_loss' in h}
    w_errors = last(r'^error in estimating w: \[(.*)\]$', out['linreg'])
    errors = [abs(float(e)) for e in w_errors.split(',')]
    errors.append(abs(float(last(r'^error in estimating b: (\S+)$', out['linreg']))))
    fizz = float(last(r'^accuracy on 1\.\.100: (\S+) ', out['fizzbuzz']))
    fizz_seconds = float(last(r'^trained in (\S+) s$', out['fizzbuzz']))
    norm = {name: float(last(r'^L2 norm of w: (\S+)$', out[name]))
            for name in ('lambd-3', 'lambd-0')}
    same = ', the same numbers' if acc['softmax-concise'] == acc['softmax-scratch'] else ''
    best = (f'test acc {acc["best"]:.4f}; `--fast` {acc["best-fast"]:.4f}',
            f'{hist["best"]["elapsed"][-1]:.0f} s in all '
            f'(`--fast` {hist["best-fast"]["elapsed"][-1]:.0f} s)')
    rows = [
        ('`ch_linear_regression/scratch.py`, `concise.py`',
         '`linreg`, `squared_loss`, minibatch `sgd` on synthetic data',
         f'w, b recovered to {max(errors):.4f}', per_epoch(hist['linreg'])),
        ('`ch_softmax/scratch.py`',
         '`softmax`, `cross_entropy` from the logits, the epoch loop by hand',
         f'test acc {acc["softmax-scratch"]:.3f} (book: about 0.83)',
         per_epoch(hist['softmax-scratch'])),
        ('`ch_softmax/concise.py`', '`nn.Linear`, `nn.CrossEntropyLoss`, `torch.optim.SGD`',
         f'{acc["softmax-concise"]:.3f}{same}', per_epoch(hist['softmax-concise'])),
        ('`ch_mlp/scratch.py`', 'one hidden layer, ReLU written by hand',
         f'test acc {acc["mlp-scratch"]:.3f} (book: about 0.85)', per_epoch(hist['mlp-scratch'])),
        ('`ch_mlp/concise.py`', 'the same with `nn.Sequential`', f'{acc["mlp-concise"]:.3f}',
         per_epoch(hist['mlp-concise'])),
        ('`ch_mlp/manual.py`', 'backpropagation without autograd, layer by layer',
         f'test acc {acc["manual"]:.3f} (784-128-128-128-64-10)', per_epoch(hist['manual'])),
        ('`ch_mlp/fizzbuzz.py`', 'a tiny network learns FizzBuzz from binary digits',
         f'{fizz:.2f} on 1..100, never seen', f'{fizz_seconds:.0f} s in all'),
        ('`ch_mlp/best.py`',
         'how far an MLP goes: standardised pixels, 128 principal components, label '
         'smoothing, AdamW, a one-cycle schedule, mirrored and shifted images, predictions '
         'averaged over each image and its mirror, bfloat16 where the CPU has it, each a flag '
         'that switches it off, and what each buys '
         f'([table]({BEST_ANCHOR}))', *best),
        ('`ch_model_selection/polynomial.py`',
         'underfitting and overfitting: polynomial regression by `--degree` and `--num-train`',
         f'test loss {test_loss["degree-3"]:.2g} at degree 3 (the noise: 0.01), '
         f'{test_loss["degree-1"]:.2g} at degree 1, '
         f'{test_loss["degree-19"]:.3g} at degree 19 on 15 examples',
         per_epoch(hist['degree-3'])),
        ('`ch_weight_decay/scratch.py`, `concise.py`',
         'weight decay: the L2 penalty by hand, the optimizer\'s `weight_decay`',
         f'`--lambd 3`: test loss {test_loss["lambd-3"]:.3g}, ‖w‖ {norm["lambd-3"]:.2g} '
         f'(without: {test_loss["lambd-0"]:.2g}, {norm["lambd-0"]:.3g})',
         per_epoch(hist['lambd-3'])),
    ]
    return [f'| {" | ".join(cells)} |' for cells in rows]


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags: none for the table; --epochs and --data-root for a quick check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int,
                        help='every run this many epochs instead of its default')
    parser.add_argument('--data-root', metavar='DIR',
                        help='the image scripts read Fashion-MNIST from here')
    return parser


def main(argv: Sequence[str] | None = None) -> list[str]:
    """Run every script of RUNS; print the machine, date, load and the table's rows; return them."""
    args = build_parser().parse_args(argv)
    started, load_before = time.perf_counter(), load_average()
    results = {}
    for name, (path, flags) in RUNS.items():
        extra = ['--epochs', str(args.epochs)] if args.epochs else []
        if args.data_root and path.startswith(IMAGES):
            extra += ['--data-root', args.data_root]
        print(f'{name}: python {path} {" ".join([*flags, *extra])}'.rstrip(),
              file=sys.stderr, flush=True)
        results[name] = run(name, extra)
    rows = table(results)
    machine = machine_info('cpu')
    today = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    print(f'{machine["cpu"]}; {machine["software"]}')
    print(f'{today}; load average (1, 5, 15 min) {load_before} at the start, '
          f'{load_average()} at the end; {time.perf_counter() - started:.0f} s in all')
    print('\n'.join(rows))
    return rows


if __name__ == '__main__':
    kit.run_script(main)
