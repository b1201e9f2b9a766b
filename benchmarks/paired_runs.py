"""One setting of a sweep against one of another sweep, paired by seed.

A sweep's summary compares the settings of one grid. Two recipes that one grid cannot hold (a
switch such as best.py's --no-mirror-average is not an axis) are two sweeps on the same seeds;
this prints, for the seeds both ran (status ok), each seed's metric in A and in B, the
differences A - B, their mean and its 95% interval (Student's t, seeds - 1 degrees of freedom)
and the verdict: `better`/`worse` when the interval lies wholly on one side of 0, else `tied`.

    python benchmarks/paired_runs.py A_DIR SETTING B_DIR SETTING [--metric valid_acc]
    python benchmarks/paired_runs.py docs/studies/mlp-best/14-mirror-flip flip=0.5 \\
        docs/studies/mlp-best/15-no-mirror flip=0.2

SETTING is FLAG=VALUE pairs joined by commas (the columns of results.csv: flip=0.5,hidden=1024
128), or `-` for a sweep of one setting.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from d2lkit.sweep_report import paired_interval, read_results, same_value  # noqa: E402


def parse_setting(text: str) -> dict[str, str]:
    """'flip=0.5,pca=128' -> {'flip': '0.5', 'pca': '128'}; '-' -> {} (every run)."""
    if text == '-':
        return {}
    pairs = [part.partition('=') for part in text.split(',')]
    if any(not key or not sep for key, sep, _ in pairs):
        raise d2l.D2LError(f'setting {text!r}: write FLAG=VALUE pairs joined by commas '
                           "(flip=0.5,pca=128), or '-' for every run")
    return {key.replace('-', '_'): value for key, _, value in pairs}


def seed_values(out: Path, setting: dict[str, str], metric: str) -> dict[int, float]:
    """{seed: metric} of the ok runs of one setting in out/results.csv."""
    results = read_results(out)
    for key in [*setting, metric]:
        if key not in results.columns:
            raise d2l.D2LError(f'{out}/results.csv has no column {key!r}; its columns: '
                               f'{", ".join(results.columns)}')
    chosen = results[results['status'] == 'ok']
    for key, value in setting.items():
        chosen = chosen[[same_value(v, value) for v in chosen[key]]]
    if chosen.empty:
        raise d2l.D2LError(f'{out}/results.csv has no finished run with '
                           + ', '.join(f'{k}={v}' for k, v in setting.items()))
    return {int(seed): float(group[metric].mean()) for seed, group in chosen.groupby('seed')}


def paired(a: dict[int, float], b: dict[int, float]) -> dict[str, object]:
    """The seeds both have, each seed's difference a - b, their mean, the 95% half-width and the
    verdict (needs 2 shared seeds)."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        raise d2l.D2LError(f'{len(seeds)} seed(s) in common; pairing needs at least 2')
    diffs = [a[s] - b[s] for s in seeds]
    mean, half = paired_interval(diffs)  # as the sweep's own summary pairs settings
    verdict = 'tied' if mean - half <= 0 <= mean + half else 'better' if mean > 0 else 'worse'
    return {'seeds': seeds, 'diffs': diffs, 'mean': mean, 'half': half, 'verdict': verdict}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('a_dir', type=Path, help='the first sweep folder (its results.csv)')
    parser.add_argument('a_setting', help="its setting: FLAG=VALUE[,FLAG=VALUE] or '-'")
    parser.add_argument('b_dir', type=Path, help='the second sweep folder')
    parser.add_argument('b_setting', help='its setting')
    parser.add_argument('--metric', default='valid_acc', help='the column to compare '
                                                              '(default: valid_acc)')
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = build_parser().parse_args(argv)
    a = seed_values(args.a_dir, parse_setting(args.a_setting), args.metric)
    b = seed_values(args.b_dir, parse_setting(args.b_setting), args.metric)
    result = paired(a, b)
    print(f'A: {args.a_dir} {args.a_setting}; B: {args.b_dir} {args.b_setting}; {args.metric}')
    for seed, diff in zip(result['seeds'], result['diffs']):
        print(f'seed {seed}: A {a[seed]:.4f}, B {b[seed]:.4f}, A - B {diff:+.4f}')
    n = len(result['seeds'])
    print(f'mean A {statistics.mean(a[s] for s in result["seeds"]):.4f}, '
          f'mean B {statistics.mean(b[s] for s in result["seeds"]):.4f}; '
          f'A - B {result["mean"]:+.4f} ± {result["half"]:.4f} '
          f'(95% interval, {n} seeds paired): A {result["verdict"]}')
    return result


if __name__ == '__main__':
    kit.run_script(main)
