"""Smoke test of benchmarks/mlp_best.py on tiny data: each run is a real process whose numbers match
an in-process run of the same flags; the table's arithmetic is checked; no timing is asserted."""
import re

import pytest
import torch

import d2l
from conftest import BEST, ROOT, script

TINY = ['--epochs', '2', '--batch-size', '8']


@pytest.fixture(scope='module')
def bench():
    """The benchmark script, imported by path."""
    return script('benchmarks/mlp_best')


def test_every_row_is_a_script_with_flags_it_takes(bench):
    assert list(bench.ROWS)[:4] == ['book', 'recipe', 'fast', 'long']
    assert bench.ROWS['long'] == (bench.BEST, ['--long'])
    for name, (path, flags) in bench.ROWS.items():
        assert (ROOT / path).is_file()
        if path == bench.BEST:
            script(BEST).parse_args(flags)  # refused flags would exit 2 here
    # The ablation starts from the recipe (best.py's defaults) and changes one thing per row.
    assert (bench.ROWS['recipe'] == (bench.BEST, [])
            and bench.ROWS['with-dropout'] == (bench.BEST, ['--dropout', '0.2']))
    ablations = [flags for name, (path, flags) in bench.ROWS.items()
                 if name not in ('book', 'recipe', 'fast', 'long')]
    assert [flags[0] for flags in ablations] == ['--no-label-smoothing', '--no-schedule',
                                                 '--optimizer', '--no-standardize', '--no-flip',
                                                 '--no-shift', '--no-mirror-average', '--no-pca',
                                                 '--precision', '--batchnorm', '--dropout']
    defaults = vars(script(BEST).parse_args([]))
    # the recipe trains in float32 already where bfloat16 is not native: that row changes nothing
    native = script(BEST).native_bfloat16(torch.device('cpu'))
    for flags in ablations:  # each row differs from the defaults in exactly one setting
        changed = {k for k, v in vars(script(BEST).parse_args(flags)).items() if v != defaults[k]}
        unchanged = flags[0] == '--precision' and not native
        assert len(changed - {'lr'}) == (0 if unchanged else 1), (flags, changed)


def test_a_run_that_fails_stops_the_benchmark_with_the_scripts_error(bench, tiny_data, tmp_path):
    with pytest.raises(d2l.D2LError, match=r'failed \(exit 2\).*--epochs: must be positive'):
        bench.run_once('fast', 0, tmp_path, str(tiny_data), extra=['--epochs', '0'])


def test_summary_row_arithmetic(bench):
    runs = [{'row': 'recipe', 'command': 'python ch_mlp/best.py', 'epochs': 15, 'test_acc': acc,
             'wall': wall, 'to_target': t, 'ratio': ratio}
            for acc, wall, t, ratio in ((0.9101, 55.0, 30.0, 1.25), (0.9125, 58.5, 33.0, 1.5),
                                        (0.9093, 52.0, None, 1.125))]
    assert bench.summarize(runs) == ['recipe', '`python ch_mlp/best.py`', '15', '0.9106',
                                     '0.9093-0.9125', '55.2', '58.5', '1.50',
                                     '31.5 (2 of 3 runs)']
    for r in runs:
        r['to_target'], r['ratio'] = None, None
    assert bench.summarize(runs[:1])[4:] == ['-', '55.0', '55.0', '-', 'not reached']


def test_main_runs_the_rows_and_writes_the_report(bench, tiny_data, tmp_path, capsys):
    out = tmp_path / 'report' / 'mlp.md'
    report = bench.main(['--rows', 'book', 'fast', 'long', '--seeds', '0', '1',
                         '--data-root', str(tiny_data), '--out', str(out)], extra=TINY)
    printed = capsys.readouterr().out
    assert out.read_text() == report and report in printed
    lines = re.findall(r'^(\S+) +seed (\d): test acc (\d\.\d{4}) after 2 epochs, '
                       r'wall (\d+\.\d) s(?:, (\d+\.\d\d) x the book)?, 0.90 at (.*)$',
                       printed, re.M)
    # seed by seed, each run beside its seed's book run
    assert [(line[0], line[1]) for line in lines] == [
        ('book', '0'), ('fast', '0'), ('long', '0'), ('book', '1'), ('fast', '1'), ('long', '1')]
    for i, line in enumerate(lines):
        book_wall, wall = float(lines[3 * (i // 3)][3]), float(line[3])
        # the printed walls are rounded to 0.05 s either way and the ratio to 0.005: what the
        # ratio of the printed walls may be off by
        slack = wall / book_wall * (0.05 / wall + 0.05 / book_wall) + 0.005
        assert (line[4] == '' if line[0] == 'book'
                else abs(float(line[4]) - wall / book_wall) <= slack)
    side = re.findall(r'^\| (book|long) \| (\d\.\d{4}) \| (\d\.\d{4}) \| (\d\.\d{4}) '
                      r'\| (\S+) \| (\S+) \|$', report, re.M)
    assert [r[0] for r in side] == ['book', 'long']  # the recipe's row only when it ran
    long_runs = [line for line in lines if line[0] == 'long']
    assert side[1][1:3] == (long_runs[0][2], long_runs[1][2])
    assert side[1][4:] == (long_runs[0][4], long_runs[1][4]) and side[0][4:] == ('-', '-')
    assert float(side[1][3]) == pytest.approx(
        (float(long_runs[0][2]) + float(long_runs[1][2])) / 2, abs=1e-4)
    lines = [(row, acc, wall) for row, seed, acc, wall, _, _ in lines if seed == '0'
             and row != 'long']
    # Each row is its own process (run_once) with the numbers of the same flags run in this process.
    book = script('ch_mlp/concise').main([*TINY, '--data-root', str(tiny_data)])
    fast = script(BEST).main(['--fast', *TINY, '--seed', '0', '--data-root', str(tiny_data)])
    assert float(lines[0][1]) == pytest.approx(book['test_acc'][-1], abs=5e-5)
    assert float(lines[1][1]) == pytest.approx(fast['test_acc'][-1], abs=5e-5)
    # the process also starts Python and imports torch
    assert float(lines[1][2]) > fast['elapsed'][-1] > 0
    rows = re.findall(r'^\| (book|fast) \| `([^`]*)` \| 2 \| (\d\.\d{4}) \| (\S+) '
                      r'\| (\d+\.\d) \| (\d+\.\d) \| (\S+) \| (.*) \|$', report, re.M)
    assert [(r[0], r[1]) for r in rows] == [('book', 'python ch_mlp/concise.py'),
                                            ('fast', 'python ch_mlp/best.py --fast')]
    assert rows[0][6] == '-' and float(rows[1][6]) > 0  # the book has no ratio to itself
    assert 'Reproduce: `python benchmarks/mlp_best.py --rows book fast long --seeds 0 1' in report
    assert '| load average at the end |' in report
