"""The ablation of ch_mlp/best.py: test accuracy and whole-process wall time of each trick,
seeds 0, 1, 2.

Every run is a separate process, `python ch_mlp/best.py FLAGS --seed S --history X.json`, timed
from outside: Python's start-up, importing torch, reading the data, the epochs, the test
evaluations and the exit all count, as they do for a learner who types the command. The rows:

- book: ch_mlp/concise.py with the book's defaults (784-256-10, SGD lr 0.1, batch 256,
  10 epochs);
- recipe: best.py with its defaults; fast: best.py --fast; long: best.py --long;
- the recipe with one trick removed: --no-label-smoothing, --no-schedule, --optimizer sgd (the
  book's SGD, lr 0.1, with the schedule), --no-standardize, --no-flip, --no-shift,
  --no-mirror-average, --no-pca, and --precision float32 (the same as the recipe on a processor
  without native bfloat16, where the recipe trains in float32 already);
- with-batchnorm, with-dropout: the recipe plus BatchNorm after each hidden Linear layer
  (--batchnorm), or dropout 0.2 after each ReLU (--dropout 0.2).

The runs go seed by seed (the book, the recipe, --fast, --long, ... with seed 0, then with seed 1
...), so a run and the book's run of the same seed are minutes apart at most; each run's wall time
divided by that book run's is its ratio to the book. The report starts with the book, the recipe
and --long side by side: each seed's accuracy and ratio.

Seconds to 0.90 come from the run's own history (seconds since its main() started, when the test
accuracy first reached 0.90), so they leave out the ~3 s of start-up (Python, import torch) that the
wall time includes.
On a machine busy with other jobs every time grows, so note the load average that the report prints.

    python benchmarks/mlp_best.py --out benchmarks/results_mlp_best.md  # every row, seeds 0 1 2
    python benchmarks/mlp_best.py --rows book recipe long --seeds 0    # a subset
    python benchmarks/mlp_best.py --device cuda                        # every best.py run on a GPU
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence, TypedDict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not
sys.path.insert(0, str(REPO / 'benchmarks'))

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from data_pipeline import load_average, machine_info, markdown_table, publish  # noqa: E402

BEST, BOOK = 'ch_mlp/best.py', 'ch_mlp/concise.py'
# name -> (script, flags): the order of the table
ROWS = {
    'book': (BOOK, []),
    'recipe': (BEST, []),
    'fast': (BEST, ['--fast']),
    'long': (BEST, ['--long']),
    'no-label-smoothing': (BEST, ['--no-label-smoothing']),
    'no-schedule': (BEST, ['--no-schedule']),
    'sgd': (BEST, ['--optimizer', 'sgd']),
    'no-standardize': (BEST, ['--no-standardize']),
    'no-flip': (BEST, ['--no-flip']),
    'no-shift': (BEST, ['--no-shift']),
    'no-mirror-average': (BEST, ['--no-mirror-average']),
    'no-pca': (BEST, ['--no-pca']),
    'float32': (BEST, ['--precision', 'float32']),
    'with-batchnorm': (BEST, ['--batchnorm']),
    'with-dropout': (BEST, ['--dropout', '0.2']),
}
TARGET = 0.90  # the column "seconds to 0.90"
SIDE_BY_SIDE = ('book', 'recipe', 'long')  # the rows of the first table, seed by seed


class Run(TypedDict):
    """One run of run_once: its row, seed, result and command."""
    row: str
    seed: int
    test_acc: float  # after the last epoch
    epochs: int
    wall: float  # seconds of the whole process
    to_target: float | None  # seconds to TARGET; None: never reached
    command: str
    ratio: float | None  # wall / the wall of the book's run of the same seed (None: no such run)


def run_once(row: str, seed: int, folder: Path, data_root: str | None = None,
             device: str | None = None, extra: Sequence[str] = ()) -> Run:
    """Run one row's script with one seed as its own process; return its accuracy and times."""
    script, flags = ROWS[row]
    history_file = folder / f'{row}-seed{seed}.json'
    cmd = [sys.executable, script, *flags, '--seed', str(seed),
           '--history', str(history_file), *extra]
    if data_root:
        cmd += ['--data-root', data_root]
    if device and script == BEST:  # the book's row stays the book's: on the CPU
        cmd += ['--device', device]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise d2l.D2LError(f'{" ".join(cmd[1:])} failed (exit {done.returncode}): '
                           f'{(done.stderr.strip().splitlines() or ["no message"])[-1]}')
    history = json.loads(history_file.read_text())
    # best.py records seconds since its start ('elapsed'),
    # concise.py the training seconds of each epoch.
    elapsed = history.get('elapsed') or [sum(history['seconds'][:i + 1])
                                         for i in range(len(history['seconds']))]
    to_target = next((s for acc, s in zip(history['test_acc'], elapsed) if acc >= TARGET), None)
    return {'row': row, 'seed': seed, 'test_acc': history['test_acc'][-1],
            'epochs': len(history['test_acc']), 'wall': wall, 'to_target': to_target,
            'command': f'python {script} {" ".join(flags)}'.rstrip(), 'ratio': None}


def summarize(runs: list[Run]) -> list[str]:
    """One table row from the runs of one configuration (one per seed)."""
    accs, walls = [r['test_acc'] for r in runs], [r['wall'] for r in runs]
    reached = [r['to_target'] for r in runs if r['to_target'] is not None]
    spread = f'{min(accs):.4f}-{max(accs):.4f}' if len(accs) > 1 else '-'
    if not reached:
        to_target = 'not reached'
    else:
        to_target = f'{statistics.mean(reached):.1f}'
        if len(reached) < len(runs):
            to_target += f' ({len(reached)} of {len(runs)} runs)'
    ratios = [r['ratio'] for r in runs if r['ratio'] is not None]
    return [runs[0]['row'], f'`{runs[0]["command"]}`', str(runs[0]['epochs']),
            f'{statistics.mean(accs):.4f}', spread, f'{statistics.mean(walls):.1f}',
            f'{max(walls):.1f}', f'{max(ratios):.2f}' if ratios else '-', to_target]


HEADERS = ['row', 'command', 'epochs', 'test acc (mean)', 'min-max over seeds', 'wall s (mean)',
           'wall s (max)', 'wall / book (max)', f's to {TARGET:.2f} (mean)']


def side_by_side(by_row: dict[str, list[Run]], seeds: Sequence[int]) -> str:
    """The book, the recipe and --long: each seed's test accuracy and wall time over the book's."""
    rows = []
    for name in (n for n in SIDE_BY_SIDE if n in by_row):
        runs = {r['seed']: r for r in by_row[name]}
        accs = [f'{runs[s]["test_acc"]:.4f}' for s in seeds]
        ratios = [f'{runs[s]["ratio"]:.2f}' if runs[s]['ratio'] is not None else '-'
                  for s in seeds]
        mean = statistics.mean(r['test_acc'] for r in runs.values())
        rows.append([name, *accs, f'{mean:.4f}', *ratios])
    headers = (['row', *(f'acc seed {s}' for s in seeds), 'acc mean',
                *(f'wall / book, seed {s}' for s in seeds)])
    return markdown_table(headers, rows)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS), metavar='ROW',
                        help=f'which rows to run, of: {", ".join(ROWS)} (default: all)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2],
                        help='seeds of each row')
    parser.add_argument('--device',
                        help="passed to best.py's runs (e.g. cuda); "
                             "the book's row stays on the CPU")
    parser.add_argument('--data-root', metavar='DIR',
                        help='folder with the IDX files '
                             "(default: d2l's lookup, e.g. the system copy)")
    parser.add_argument('--out', metavar='PATH',
                        help='also write the report (markdown) to this file')
    return parser


def main(argv: Sequence[str] | None = None, extra: Sequence[str] = ()) -> str:
    """Run every row and seed, print each run and the markdown report; return the report.

    `extra` flags go to every run after the row's own (the smoke test shortens the runs with it).
    """
    args = build_parser().parse_args(argv)
    info = machine_info(args.device or 'cpu')
    started = time.perf_counter()
    by_row: dict[str, list[Run]] = {row: [] for row in args.rows}
    with tempfile.TemporaryDirectory(prefix='d2l-bench-mlp-') as tmp:
        for seed in args.seeds:  # seed by seed: each run is close in time to its book run
            book_wall = None
            for row in args.rows:
                r = run_once(row, seed, Path(tmp), args.data_root, args.device, extra)
                if row == 'book':
                    book_wall = r['wall']
                elif book_wall:
                    r['ratio'] = r['wall'] / book_wall
                by_row[row].append(r)
                to_target = (f'{r["to_target"]:.1f} s' if r['to_target'] is not None
                             else 'not reached')
                ratio = f', {r["ratio"]:.2f} x the book' if r['ratio'] is not None else ''
                print(f'{row:<20} seed {seed}: test acc {r["test_acc"]:.4f} '
                      f'after {r["epochs"]} epochs, wall {r["wall"]:.1f} s{ratio}, '
                      f'{TARGET:.2f} at {to_target}', flush=True)
    info['load average at the end'] = load_average()
    parts = ['## ch_mlp/best.py: what each trick buys on Fashion-MNIST', '',
             markdown_table(['machine', ''], list(info.items())), '',
             f'Each row: {len(args.seeds)} run(s), seeds {", ".join(map(str, args.seeds))}, '
             'each a separate process. Test accuracy after the last epoch; wall seconds of the '
             'whole process (start-up, data, training, evaluation); '
             f'seconds to {TARGET:.2f}: when the test accuracy first reached it, counted from the '
             "start of the script's main() (for the book's row: its training seconds); "
             "wall / book: a run's wall time over that of the book's run with the same seed, "
             'run just before it.', '',
             side_by_side(by_row, args.seeds), '',
             markdown_table(HEADERS, [summarize(runs) for runs in by_row.values()])]
    runs = [r for rs in by_row.values() for r in rs]
    parts += ['', 'Every run:', '', markdown_table(
        ['row', 'seed', 'test acc', 'wall s', 'wall / book', f's to {TARGET:.2f}'],
        [[r['row'], r['seed'], f'{r["test_acc"]:.4f}', f'{r["wall"]:.1f}',
          f'{r["ratio"]:.2f}' if r['ratio'] is not None else '-',
          f'{r["to_target"]:.1f}' if r['to_target'] is not None else 'not reached'] for r in runs])]
    return publish(parts, 'benchmarks/mlp_best.py', argv, started, args.out)


if __name__ == '__main__':
    kit.run_script(main)
