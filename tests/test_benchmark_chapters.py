"""Smoke test of benchmarks/chapters_table.py: its rows are the README's, they carry the
numbers the scripts print and return (on tiny settings, real runs), and the parsing is exact;
no timing is asserted."""
import re

import pytest

from conftest import FIZZBUZZ, ROOT, script

TINY = ['--epochs', '2']


@pytest.fixture(scope='module')
def bench():
    """The benchmark script, imported by path."""
    return script('benchmarks/chapters_table')


def cells(row: str) -> list[str]:
    """The cells of a markdown table row."""
    return [cell.strip() for cell in row.strip().strip('|').split(' | ')]


def test_every_run_is_a_script_with_flags_it_takes(bench):
    for name, (path, flags) in bench.RUNS.items():
        assert (ROOT / path).is_file(), name
        bench.load(path).parse_args(flags)  # refused flags would exit 2 here


def test_the_parsing_of_printed_output_and_history(bench):
    loss = {'seconds': [0.5, 0.1, 0.2]}  # median 0.2: one slow epoch does not count
    results = {name: ('', {**loss, 'test_acc': [0.5, 0.8331]}) for name in bench.RUNS}
    results['linreg'] = ('epoch 3, loss 0.000047\nerror in estimating w: [0.000059, -0.000714]\n'
                         'error in estimating b: 0.001166\n', loss)
    results['fizzbuzz'] = ('trained in 15.6 s\nmiss: 3 -> 3, should be fizz\n'
                           'accuracy on 1..100: 0.98 (98/100)\n', {})
    results['best'] = ('', {'test_acc': [0.91018], 'elapsed': [40.2, 47.6]})
    results['best-fast'] = ('', {'test_acc': [0.903], 'elapsed': [24.4]})
    for name, value in (('degree-3', 0.00864279), ('degree-1', 9.50197), ('degree-19', 11.4597),
                        ('lambd-3', 0.149142), ('lambd-0', 96.2498)):
        results[name] = ('', {**loss, 'test_loss': [1.0, value]})
    results['lambd-3'] = ('L2 norm of w: 0.387729\n', results['lambd-3'][1])
    results['lambd-0'] = ('L2 norm of w: 14.119074\n', results['lambd-0'][1])
    rows = [cells(row)[2:] for row in bench.table(results)]
    assert rows == [
        ['w, b recovered to 0.0012', '0.2'],
        ['test acc 0.833 (book: about 0.83)', '0.2'],
        ['0.833, the same numbers', '0.2'],
        ['test acc 0.833 (book: about 0.85)', '0.2'],
        ['0.833', '0.2'],
        ['test acc 0.833 (784-128-128-128-64-10)', '0.2'],
        ['0.98 on 1..100, never seen', '16 s in all'],
        ['test acc 0.9102; `--fast` 0.9030', '48 s in all (`--fast` 24 s)'],
        ['test loss 0.0086 at degree 3 (the noise: 0.01), 9.5 at degree 1, '
         '11.5 at degree 19 on 15 examples', '0.2'],
        ['`--lambd 3`: test loss 0.149, ‖w‖ 0.39 (without: 96, 14.1)', '0.2'],
    ]
    results['softmax-concise'] = ('', {**loss, 'test_acc': [0.84]})
    assert cells(bench.table(results)[2])[2] == '0.840'  # "the same numbers" only when they are
    results['linreg'] = ('error in estimating b: 0.1\n', loss)
    with pytest.raises(bench.d2l.D2LError, match=r"no line matching .*error in estimating w"):
        bench.table(results)


def test_main_runs_every_script_and_prints_the_readmes_rows(bench, tiny_data, capsys):
    rows = bench.main([*TINY, '--data-root', str(tiny_data)])
    printed = capsys.readouterr().out.splitlines()
    assert re.match(r'.+; \d+ CPUs, \d+ usable; torch threads \d+; Python .*, torch ', printed[0])
    assert re.match(r'^\d{4}-\d\d-\d\d \d\d:\d\d UTC; load average \(1, 5, 15 min\) '
                    r'\S+ \S+ \S+ at the start, \S+ \S+ \S+ at the end; \d+ s in all$', printed[1])
    assert printed[2:] == rows
    # The README's table has these rows, script and lesson alike;
    # only the figures are the machine's.
    readme = [cells(line) for line in (ROOT / 'README.md').read_text().splitlines()
              if line.startswith('| `ch_')]
    assert [c[:2] for c in readme] == [cells(row)[:2] for row in rows]
    # The figures are the scripts' own: the same flags, run again here.
    softmax = script('ch_softmax/scratch').main([*TINY, '--data-root', str(tiny_data)])
    assert cells(rows[1])[2].startswith(f'test acc {softmax["test_acc"][-1]:.3f} ')
    fizz = script(FIZZBUZZ).main([*TINY])
    assert cells(rows[6])[2] == f'{fizz["accuracy"]:.2f} on 1..100, never seen'
    best = script('ch_mlp/best').main(['--fast', *TINY, '--data-root', str(tiny_data)])
    assert f'`--fast` {best["test_acc"][-1]:.4f}' in cells(rows[7])[2]
