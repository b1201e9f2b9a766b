"""Smoke test of benchmarks/sweep.py on tiny data: the report's arithmetic, and one real run of
each part on the smallest settings, whose sweep numbers match the separate processes'; no timing
is asserted."""
import re

import pytest

import d2l
from conftest import script

TINY = ['--batch-size', '8']


@pytest.fixture(scope='module')
def bench():
    """The benchmark script, imported by path."""
    return script('benchmarks/sweep')


def test_ratio_and_every_run_rows(bench):
    def row(lr, seed, acc, seconds, status='ok'):
        return {'lr': lr, 'seed': seed, 'test_acc': acc, 'seconds': seconds, 'status': status}
    part = {'script': 'ch_softmax/scratch.py',
            'separate': [{'lr': '0.1', 'seed': 0, 'test_acc': 0.81234, 'wall': 2.0},
                         {'lr': '0.1', 'seed': 1, 'test_acc': 0.8, 'wall': 3.0}],
            'sweeps': [{'workers': 1, 'wall': 1.5,
                        'rows': [row('0.1', '0', '0.81234', '0.42'),
                                 row('0.10', '1', '0.8', '0.5')]},
                       {'workers': 2, 'wall': 2.5,
                        'rows': [row('0.1', '1', 'nan', '0.1', 'diverged')]}]}
    script = 'ch_softmax/scratch.py'
    assert bench.ratio_rows([part]) == [
        [script, '2', '5.0', '1', '1.5', '0.30', 'met (goal <= 0.45, aim 0.35)'],
        [script, '2', '5.0', '2', '2.5', '0.50', 'MISSED (goal <= 0.45, aim 0.35)']]
    assert bench.every_run_rows([part]) == [
        [script, '0.1', '0', '0.8123', '2.0', '0.8123 (ok)', '0.4', 'missing', '-'],
        [script, '0.1', '1', '0.8000', '3.0', '0.8000 (ok)', '0.5', 'nan (diverged)', '0.1']]


def test_the_best_row_is_the_finished_run_with_the_highest_valid_acc(bench):
    rows = [{'run': 'a', 'valid_acc': '0.9', 'status': 'pruned'},
            {'run': 'b', 'valid_acc': '0.8', 'status': 'ok'},
            {'run': 'c', 'valid_acc': '0.85', 'status': 'ok'},
            {'run': 'd', 'valid_acc': '', 'status': 'failed'}]
    assert bench.best_row(rows)['run'] == 'c'
    assert bench.best_row(rows[:1]) is None
    search = {'rows': [{'run': 'e', 'valid_acc': '0.84', 'status': 'ok', 'lr': '0.2',
                        'hidden': '99', 'epochs': '3'}, rows[0]],
              'wall': 4.0, 'epochs': 5, 'workers': 1, 'final': 1.0}
    part = {'grid': {'rows': rows, 'wall': 10.0, 'epochs': 30, 'workers': 2, 'final': 0.0},
            'searches': [search, {**search, 'wall': 6.0}]}
    for r, seconds in zip(rows, ('1', '2', '3', '2')):  # 8 s over 2 workers: 4 s of work
        r.update(lr='0.1', hidden='256', epochs='10', seconds=seconds)
    search['rows'][0]['seconds'] = '2.2'  # and the pruned one's 1 s: 3.2 s, + 1 s final
    assert bench.search_rows(part) == [
        ['grid', '4', '1', '30', '0.8500', '+0.0000', 'lr 0.1, hidden 256, epochs 10', '10.0',
         '1.00', '8.0', '0.0', '2.50'],
        ['search 1', '2', '1', '5', '0.8400', '-0.0100', 'lr 0.2, hidden 99, epochs 3', '4.0',
         '0.40', '3.2', '1.0', '0.95'],
        ['search 2', '2', '1', '5', '0.8400', '-0.0100', 'lr 0.2, hidden 99, epochs 3', '6.0',
         '0.60', '3.2', '1.0', '1.43'],  # 6 / 4.2
        ['searches, mean of 2', '-', '-', '-', '-', '-', '-', '5.0', '0.50', '-', '-',
         '1.19 (met, goal <= 1.25)']]  # (0.952 + 1.429) / 2


def test_a_failing_command_stops_the_benchmark_with_its_error(bench, tmp_path):
    with pytest.raises(d2l.D2LError, match=r'failed \(exit 2\).*--epochs'):
        bench.command([str(bench.REPO / 'ch_softmax/scratch.py'), '--epochs', '0'], tmp_path)


def test_main_runs_every_part_and_writes_the_report(bench, tiny_data, tmp_path, capsys):
    out = tmp_path / 'report' / 'sweep.md'
    report = bench.main(['--parts', 'softmax', 'search', '--lrs', '0.1,0.3', '--seeds', '0',
                         '--workers', '1', '--valid', '10', '--grid-lr', '0.1,0.3',
                         '--grid-hidden', '8,16', '--grid-epochs', '1', '--search', '2',
                         '--search-repeats', '2',
                         '--data-root', str(tiny_data), '--out', str(out)], extra=TINY)
    printed = capsys.readouterr().out
    assert out.read_text() == report and report in printed
    assert re.search(r'^\| ch_softmax/scratch.py \| 2 \| \d+\.\d \| 1 \| \d+\.\d \| \d+\.\d\d '
                     r'\| (met|MISSED) ',
                     report, re.M)
    runs = re.findall(r'^\| ch_softmax/scratch.py \| (0\.[13]) \| 0 \| (\d\.\d{4}) \| \d+\.\d '
                      r'\| (\d\.\d{4}) \(ok\) \|',
                      report, re.M)
    assert [r[0] for r in runs] == ['0.1', '0.3']
    assert all(separate == swept for _, separate, swept in runs)  # one run, in a sweep and alone
    grid = re.search(r'^\| grid \| 4 \| (\d+) \| (\d+) \| \d\.\d{4} \| \+0\.0000 \| .* '
                     r'\| 1\.00 \| \d+\.\d \| 0\.0 \| \d+\.\d\d \|$',
                     report, re.M)
    assert grid and grid.group(2) == '4'  # 4 settings of 1 epoch (one value: a fixed flag)
    assert '--search 2 --lr 0.1..0.3 --hidden 8..16 --epochs 1 --valid 10' in report
    searches = re.findall(r'^\| search (\d) \| 2 \| \d+ \| \d+ \| \d\.\d{4} \| [+-]\d\.\d{4} '
                          r'\| lr .*\| (\d+\.\d) \| (\d+\.\d\d) \|$', report, re.M)
    assert [k for k, _, _ in searches] == ['1', '2']  # --search-repeats 2, each listed
    assert all(float(final) > 0 for _, final, _ in searches)  # the final run's seconds
    mean = re.search(r'^\| searches, mean of 2 \| .* \| (\d+\.\d\d) \((met|MISSED), goal <= 1\.25\) '
                     r'\|$', report, re.M)
    assert mean and abs(float(mean.group(1)) - sum(float(o) for _, _, o in searches) / 2) <= 0.01
    assert report.count('. best of 2 trials: --lr ') == 2 and 'Every run of search 2:' in report
    assert '| date |' in report and '| load average at the end |' in report
    assert 'Reproduce: `python benchmarks/sweep.py --parts softmax search' in report
