"""`python -m d2l sweep` against the same runs as separate processes; a pruned search vs a grid.

One run on the current machine prints a markdown report:

1. softmax: 8 short runs of ch_softmax/scratch.py (learning rates 0.03, 0.1, 0.3, 1 x seeds 0, 1,
   2 epochs) as one `python -m d2l sweep ... --workers W` command (the whole command, start-up,
   data, training, the report's table and figures), for W in 1 and 2, against the same 8 runs
   as 8 separate `python ch_softmax/scratch.py --lr X --seed S --epochs 2` processes, one after
   another; the ratio sweep / separate (goal <= 0.45);
2. mlp: the same for ch_mlp/concise.py;
3. search: a pruned `--search N` of ch_mlp/concise.py over the learning rate, the hidden units and
   the epochs, choosing on a validation split (--valid), against the full grid over the same
   ranges: the best validation accuracy of each, and the search's wall time as a fraction of the
   grid's. The search is run --search-repeats times (its sampler draws other trials each time);
   its overhead, wall / (runs' seconds / workers + the final run), is judged on their mean.
Every run is listed, with its test accuracy, so that a sweep's run can be checked against the
separate process of the same flags. Each command is timed from outside, as a learner waits for it.

    python benchmarks/sweep.py --out benchmarks/results_sweep.md       # everything, a few minutes
    python benchmarks/sweep.py --parts softmax mlp                     # the ratios only
    python benchmarks/sweep.py --parts search --search 8               # the search only
"""
from __future__ import annotations

import argparse
import json
import os
import re
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
from d2lkit.sweep_runs import read_rows  # noqa: E402
from data_pipeline import load_average, machine_info, markdown_table, publish  # noqa: E402

SCRIPTS = {'softmax': 'ch_softmax/scratch.py', 'mlp': 'ch_mlp/concise.py'}
SEARCHED = 'ch_mlp/concise.py'
GOAL, AIM = 0.45, 0.35  # sweep wall time / separate processes' wall time
OVERHEAD = 1.25  # a search's wall time / (its runs' seconds / workers + its final run)


class Finished(TypedDict):
    """A command that exited 0: its wall seconds and output."""
    wall: float
    stdout: str
    stderr: str


def command(args: Sequence[str], cwd: Path) -> Finished:
    """Run `python ARGS` in cwd, without a screen; return its wall seconds and output, or raise
    D2LError with its last error line."""
    env = {**{k: v for k, v in os.environ.items() if k != 'DISPLAY'}, 'MPLBACKEND': 'Agg',
           'PYTHONPATH': str(REPO)}  # `python -m d2l` from any folder: this checkout's d2l.py
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise d2l.D2LError(f'{" ".join(args)} failed (exit {done.returncode}): '
                           f'{(done.stderr.strip().splitlines() or ["no message"])[-1]}')
    return {'wall': wall, 'stdout': done.stdout, 'stderr': done.stderr}


class SeparateRun(TypedDict):
    """One (lr, seed) run as its own process."""
    how: str  # 'separate'
    lr: str
    seed: int
    test_acc: float  # after the last epoch; nan if none was recorded
    wall: float


def separate_runs(script: str, lrs: Sequence[str], seeds: Sequence[int], flags: Sequence[str],
                  folder: Path) -> list[SeparateRun]:
    """Each (lr, seed) as its own `python SCRIPT --lr X --seed S FLAGS --history H` process."""
    runs = []
    for lr in lrs:
        for seed in seeds:
            history = folder / f'separate-{Path(script).stem}-lr{lr}-seed{seed}.json'
            done = command([str(REPO / script), '--lr', lr, '--seed', str(seed), *flags,
                            '--history', str(history)], folder)
            accs = json.loads(history.read_text()).get('test_acc') or [float('nan')]
            runs.append({'how': 'separate', 'lr': lr, 'seed': seed, 'test_acc': accs[-1],
                         'wall': done['wall']})
            print(f'{script} separate lr {lr} seed {seed}: test acc {accs[-1]:.4f}, '
                  f'wall {done["wall"]:.1f} s', flush=True)
    return runs


class Sweep(TypedDict):
    """One whole sweep command: its wall seconds, results.csv rows and output."""
    wall: float
    rows: list[dict[str, str]]
    stdout: str
    epochs: int  # trained by all its runs together
    workers: int
    final: float  # a search's final run on all the training images, seconds (0 for a grid)


def sweep_run(script: str, axes: Sequence[str], seeds: Sequence[int], flags: Sequence[str],
              workers: int, folder: Path, name: str) -> Sweep:
    """One whole `python -m d2l sweep SCRIPT AXES FLAGS --seeds .. --workers W --out DIR`."""
    out = folder / name
    done = command(['-m', 'd2l', 'sweep', script, *axes, *flags,
                    '--seeds', ','.join(map(str, seeds)), '--workers', str(workers),
                    '--out', str(out)], REPO)
    rows = read_rows(out)
    histories = [out / 'histories' / f'{r["run"]}.json' for r in rows]
    epochs = sum(len(json.loads(h.read_text()).get('train_loss', []))
                 for h in histories if h.is_file())
    print(f'{script} sweep --workers {workers} ({name}): {len(rows)} runs, '
          f'wall {done["wall"]:.1f} s', flush=True)
    final = re.search(r'the final run took ([0-9.]+) s', done['stderr'])
    return {'wall': done['wall'], 'rows': rows, 'stdout': done['stdout'], 'epochs': epochs,
            'workers': workers, 'final': float(final.group(1)) if final else 0.0}


def overhead(s: Sweep) -> float:
    """A sweep's wall time over the time its runs need: their seconds shared by the workers, plus
    a search's final run (goal: at most OVERHEAD)."""
    return s['wall'] / (sum(float(r['seconds']) for r in s['rows']) / s['workers'] + s['final'])


class RatioPart(TypedDict):
    """The same runs of one script as separate processes and as sweeps."""
    name: str
    script: str
    separate: list[SeparateRun]
    sweeps: list[Sweep]  # one per worker count
    command: str  # the sweep command, as the report shows it


def ratio_part(name: str, lrs: Sequence[str], seeds: Sequence[int], epochs: int,
               workers: Sequence[int], extra: Sequence[str], folder: Path) -> RatioPart:
    """Separate processes, then the sweep with each worker count, for one script."""
    script = SCRIPTS[name]
    flags = ['--epochs', str(epochs), *extra]
    separate = separate_runs(script, lrs, seeds, flags, folder)
    sweeps = [sweep_run(script, ['--lr', ','.join(lrs)], seeds, flags, w, folder,
                        f'{name}-workers{w}') for w in workers]
    return {'name': name, 'script': script, 'separate': separate, 'sweeps': sweeps,
            'command': f'python -m d2l sweep {script} --lr {",".join(lrs)} {" ".join(flags)} '
                       f'--seeds {",".join(map(str, seeds))} --workers W --out DIR'}


def ratio_rows(parts: Sequence[RatioPart]) -> list[list[str]]:
    """One table row per script and worker count: separate total, sweep wall time, their ratio."""
    rows = []
    for part in parts:
        total = sum(r['wall'] for r in part['separate'])
        for s in part['sweeps']:
            ratio = s['wall'] / total
            verdict = 'met' if ratio <= GOAL else 'MISSED'
            rows.append([part['script'], str(len(part['separate'])), f'{total:.1f}',
                         str(s['workers']), f'{s["wall"]:.1f}', f'{ratio:.2f}',
                         f'{verdict} (goal <= {GOAL}, aim {AIM})'])
    return rows


def every_run_rows(parts: Sequence[RatioPart]) -> list[list[str]]:
    """Every run of the ratio parts: the separate process's wall time and test accuracy beside the
    same (lr, seed) in each sweep (its seconds are the run's own, inside the worker)."""
    rows = []
    for part in parts:
        for r in part['separate']:
            cells = [part['script'], r['lr'], str(r['seed']), f'{r["test_acc"]:.4f}',
                     f'{r["wall"]:.1f}']
            for s in part['sweeps']:
                row = next((x for x in s['rows'] if float(x['lr']) == float(r['lr'])
                            and int(x['seed']) == r['seed']), None)
                cells += [f'{float(row["test_acc"]):.4f} ({row["status"]})' if row else 'missing',
                          f'{float(row["seconds"]):.1f}' if row else '-']
            rows.append(cells)
    return rows


def best_row(rows: Sequence[dict[str, str]], metric: str = 'valid_acc') -> dict[str, str] | None:
    """The finished run with the highest metric (a search chooses on validation)."""
    ok = [r for r in rows if r['status'] == 'ok' and r.get(metric) not in (None, '')]
    return max(ok, key=lambda r: float(r[metric])) if ok else None


class SearchPart(TypedDict):
    """The full grid and the pruned search over the same ranges, run several times (the sampler
    draws other trials each time, so the search's time varies)."""
    grid: Sweep
    searches: list[Sweep]
    finals: list[str]  # each search's last line
    grid_command: str
    search_command: str


def search_part(args: argparse.Namespace, extra: Sequence[str], folder: Path) -> SearchPart:
    """The full grid, then the pruned search over the same ranges; both choose on --valid."""
    fixed = ['--valid', str(args.valid), *extra]
    grid = {'--lr': args.grid_lr, '--hidden': args.grid_hidden, '--epochs': args.grid_epochs}
    grid_axes = [t for kv in grid.items() for t in kv]
    # The search's range of a flag: its grid values' lowest..highest; one value: a fixed flag.
    search_axes = ['--search', str(args.search)]
    for flag, values in grid.items():
        values = values.split(',')
        low, high = min(values, key=float), max(values, key=float)
        search_axes += [flag, f'{low}..{high}' if len(set(values)) > 1 else low]
    seeds, workers = args.search_seeds, args.search_workers
    grid = sweep_run(SEARCHED, grid_axes, seeds, fixed, workers, folder, 'grid')
    searches = [sweep_run(SEARCHED, search_axes, seeds, fixed, workers, folder, f'search-{k}')
                for k in range(1, args.search_repeats + 1)]
    finals = [next((line for line in s['stdout'].splitlines()
                    if line.startswith(('best of', 'search:'))), '(no final line printed)')
              for s in searches]
    tail = f'--seeds {",".join(map(str, seeds))} --workers {workers}'
    return {'grid': grid, 'searches': searches, 'finals': finals,
            'grid_command': f'python -m d2l sweep {SEARCHED} {" ".join([*grid_axes, *fixed])} '
                            f'{tail}',
            'search_command': f'python -m d2l sweep {SEARCHED} {" ".join([*search_axes, *fixed])} '
                              f'{tail}'}


def search_rows(part: SearchPart) -> list[list[str]]:
    """The grid and each search side by side: runs, pruned, the best validation accuracy and
    where, times and overhead; then the searches' mean overhead, the one judged."""
    rows = []
    grid_best = best_row(part['grid']['rows'])
    named = [('grid', part['grid'])] + [(f'search {k}', s)
                                        for k, s in enumerate(part['searches'], 1)]
    for name, s in named:
        best = best_row(s['rows'])
        statuses = [r['status'] for r in s['rows']]
        setting = '-'
        if best:
            setting = ', '.join(f'{k} {best[k]}' for k in ('lr', 'hidden', 'epochs') if k in best)
        gap = '-'
        if best and grid_best:
            gap = f'{float(best["valid_acc"]) - float(grid_best["valid_acc"]):+.4f}'
        runs_s = sum(float(r['seconds']) for r in s['rows'])
        rows.append([name, str(len(statuses)), str(statuses.count('pruned')), str(s['epochs']),
                     f'{float(best["valid_acc"]):.4f}' if best else '-', gap, setting,
                     f'{s["wall"]:.1f}', f'{s["wall"] / part["grid"]["wall"]:.2f}',
                     f'{runs_s:.1f}', f'{s["final"]:.1f}', f'{overhead(s):.2f}'])
    mean = statistics.mean(overhead(s) for s in part['searches'])
    verdict = 'met' if mean <= OVERHEAD else 'MISSED'
    wall = statistics.mean(s['wall'] for s in part['searches'])
    rows.append([f'searches, mean of {len(part["searches"])}', *['-'] * 6, f'{wall:.1f}',
                 f'{wall / part["grid"]["wall"]:.2f}', '-', '-',
                 f'{mean:.2f} ({verdict}, goal <= {OVERHEAD})'])
    return rows


def run_table(rows: Sequence[dict[str, str]]) -> str:
    """A sweep's runs as a markdown table: run, swept flags, seed, valid acc, status, seconds."""
    if not rows:
        return '(no run)'
    columns = list(rows[0])
    flags = columns[columns.index('run') + 1:columns.index('seed')]

    def number(v: str | None) -> str:
        try:
            return f'{float(v):.4g}'
        except (TypeError, ValueError):
            return v or '-'  # '128 256' (--hidden 128 256), or no value
    return markdown_table(['run', *flags, 'seed', 'valid acc', 'status', 'run s'],
                          [[r['run'], *[number(r[f]) for f in flags], r['seed'],
                            number(r.get('valid_acc')), r['status'], f'{float(r["seconds"]):.1f}']
                           for r in rows])


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--parts', nargs='+', choices=['softmax', 'mlp', 'search'],
                        default=['softmax', 'mlp', 'search'],
                        help='what to measure (default: all three)')
    parser.add_argument('--lrs', default='0.03,0.1,0.3,1', help='learning rates of the ratio parts')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                        help='seeds of the ratio parts')
    parser.add_argument('--epochs', type=kit.positive_int, default=2,
                        help='epochs of each run (ratio parts)')
    parser.add_argument('--workers', type=kit.positive_int, nargs='+', default=[1, 2],
                        help='worker counts of the sweep, each timed (default: 1 2)')
    parser.add_argument('--valid', type=kit.positive_int, default=10000,
                        help='validation images held out for search and grid (default: 10000)')
    parser.add_argument('--grid-lr', default='0.03,0.1,0.3,1', help='the grid\'s learning rates')
    parser.add_argument('--grid-hidden', default='64,256,1024', help='the grid\'s hidden units')
    parser.add_argument('--grid-epochs', default='2,5,10', help='the grid\'s epochs')
    parser.add_argument('--search', type=kit.positive_int, default=12,
                        help="trials of the search over the grid's ranges (default: 12, a third)")
    parser.add_argument('--search-repeats', type=kit.positive_int, default=3,
                        help='times the search is run, each listed; the mean overhead is judged '
                             '(default: 3)')
    parser.add_argument('--search-seeds', type=int, nargs='+', default=[0],
                        help='seeds of grid and search')
    parser.add_argument('--search-workers', type=kit.positive_int, default=1,
                        help='workers of grid and search')
    parser.add_argument('--data-root', metavar='DIR',
                        help="folder with the IDX files (default: d2l's lookup)")
    parser.add_argument('--out', metavar='PATH',
                        help='also write the report (markdown) to this file')
    return parser


def main(argv: Sequence[str] | None = None, extra: Sequence[str] = ()) -> str:
    """Run the parts asked for, print each run and the markdown report; return the report.

    `extra` flags go to every run (the smoke test shortens the runs with them)."""
    args = build_parser().parse_args(argv)
    extra = [*extra, *(['--data-root', args.data_root] if args.data_root else [])]
    lrs = args.lrs.split(',')
    info = machine_info('cpu')
    info['date'] = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    started = time.perf_counter()
    parts = ['## python -m d2l sweep: one command against separate processes', '',
             markdown_table(['machine', ''], list(info.items()))]
    with tempfile.TemporaryDirectory(prefix='d2l-bench-sweep-') as tmp:
        folder = Path(tmp)
        ratios = [ratio_part(name, lrs, args.seeds, args.epochs, args.workers, extra, folder)
                  for name in ('softmax', 'mlp') if name in args.parts]
        searched = search_part(args, extra, folder) if 'search' in args.parts else None
    info['load average at the end'] = load_average()
    parts[-1] = markdown_table(['machine', ''], list(info.items()))
    if ratios:
        parts += ['', '### Wall time: one sweep against separate processes', '',
                  f'{len(lrs) * len(args.seeds)} runs per script ({len(lrs)} learning rates x '
                  f'{len(args.seeds)} seeds, {args.epochs} epochs each). Separate: the sum of the '
                  'wall times of the separate processes, run one after another. Sweep: the wall '
                  'time of the one command, start-up, data, training, summary table and figures '
                  'included. '
                  'Ratio: sweep / separate.', '',
                  *[f'- `{p["command"]}`' for p in ratios], '',
                  markdown_table(['script', 'runs', 'separate s', 'workers', 'sweep s', 'ratio',
                                  'goal'], ratio_rows(ratios)),
                  '', 'Every run: test accuracy and wall seconds of the separate process; in each '
                  "sweep the same (lr, seed)'s test accuracy (status) and its own seconds inside "
                  'the worker.', '',
                  markdown_table(['script', 'lr', 'seed', 'separate test acc', 'separate wall s',
                                  *[h for s in ratios[0]['sweeps']
                                    for h in (f'sweep W={s["workers"]} test acc',
                                              f'sweep W={s["workers"]} run s')]],
                                 every_run_rows(ratios))]
    if searched:
        parts += ['', '### A pruned search against the full grid (ch_mlp/concise.py)', '',
                  'Both choose on the validation split (`--valid`); the gap is the best validation '
                  "accuracy minus the grid's. Epochs: the epochs trained by all runs together (a "
                  "pruned run stops early). Time: the whole command's wall time, and its fraction "
                  "of the grid's. Run s: the runs' own seconds added up; final s: the search's "
                  'one more run on all the training images; overhead: wall / (run s / workers + '
                  'final s), what start-up, the study, waiting and the report add. The search '
                  'is run several times: its sampler draws other trials each time.', '',
                  f'- grid: `{searched["grid_command"]}`',
                  f'- search: `{searched["search_command"]}`', '',
                  markdown_table(['', 'runs', 'pruned', 'epochs trained', 'best valid acc',
                                  'gap to grid', 'best setting', 'wall s', 'fraction of grid time',
                                  'run s', 'final s', 'overhead'],
                                 search_rows(searched)),
                  '', 'The searches\' last lines:', '',
                  *[f'{k}. {line}' for k, line in enumerate(searched['finals'], 1)], '',
                  *[t for k, s in enumerate(searched['searches'], 1)
                    for t in (f'Every run of search {k}:', '', run_table(s['rows']), '')],
                  '', 'Every run of the grid:', '', run_table(searched['grid']['rows'])]
    return publish(parts, 'benchmarks/sweep.py', argv, started, args.out)


if __name__ == '__main__':
    kit.run_script(main)
