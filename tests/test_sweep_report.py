"""The sweep's report (d2lkit/sweep_report.py) on results folders written by hand: the summary's
numbers against ones computed here, the best row, the figures, nothing half-written."""
import csv
import json
import statistics
from pathlib import Path

import pytest

import d2l
from conftest import is_png, leftovers
from d2lkit import sweep_report

LRS, HIDDENS, SEEDS = [0.01, 0.1, 1.0], [64, 256], [0, 1, 2]
EPOCHS = 3
DIVERGED = (1.0, 256, 2)  # (lr, hidden, seed) of the run whose loss turned NaN
PRUNED = (0.01, 64, 1)  # stopped after its first epoch


def final_acc(lr: float, hidden: int, seed: int) -> float:
    """A made-up final test accuracy: best at lr 0.1, better with 256 units, a little seed noise."""
    return round(0.80 + {0.01: -0.05, 0.1: 0.04, 1.0: 0.0}[lr] + (0.01 if hidden == 256 else 0)
                 + 0.003 * seed * (1 if lr != 1.0 else -2), 4)


def make_sweep(out, lrs=LRS, hiddens=HIDDENS, seeds=SEEDS):
    """Write out/results.csv and out/histories/ as the engine does: a grid of lr x hidden x seeds,
    one diverged and one pruned run; return the rows written (as dicts)."""
    (out / 'histories').mkdir(parents=True)
    rows = []
    for lr in lrs:
        for hidden in hiddens:
            for seed in seeds:
                run = f'lr{lr}-hidden{hidden}-seed{seed}'
                acc, loss = final_acc(lr, hidden, seed), round(1.5 - final_acc(lr, hidden, seed), 4)
                status, epochs = 'ok', EPOCHS
                if (lr, hidden, seed) == DIVERGED:
                    status, epochs, acc, loss = 'diverged', 2, 0.1, float('nan')
                elif (lr, hidden, seed) == PRUNED:
                    status, epochs = 'pruned', 1
                history = {'train_loss': [loss + 0.2 * (EPOCHS - e) for e in range(1, epochs + 1)],
                           'train_acc': [acc - 0.02 * (EPOCHS - e) for e in range(1, epochs + 1)],
                           'test_acc': [acc - 0.03 * (EPOCHS - e) for e in range(1, epochs + 1)],
                           'seconds': [1.0] * epochs}
                (out / 'histories' / f'{run}.json').write_text(json.dumps(history))
                rows.append({'run': run, 'lr': lr, 'hidden': hidden, 'seed': seed,
                             'train_loss': loss,
                             'train_acc': acc - 0.01, 'test_acc': acc, 'seconds': 2.0 + seed + lr,
                             'status': status, 'worker': seed % 2})
    with open(out / 'results.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture
def sweep(tmp_path):
    out = tmp_path / 'sweep'
    return out, make_sweep(out)


def ok_values(rows, lr, hidden, key):
    return [r[key] for r in rows if (r['lr'], r['hidden']) == (lr, hidden) and r['status'] == 'ok']


def test_summary_means_and_stds_are_over_the_seeds_that_finished(sweep):
    out, rows = sweep
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True)
    assert len(table) == len(LRS) * len(HIDDENS)
    assert list(zip(table['lr'], table['hidden'])) == [(lr, h) for lr in LRS for h in HIDDENS]
    for _, row in table.iterrows():
        for key in ('test_acc', 'train_loss', 'train_acc', 'seconds'):
            values = ok_values(rows, row['lr'], row['hidden'], key)
            assert row[f'{key}_mean'] == pytest.approx(statistics.mean(values))
            assert row[f'{key}_std'] == pytest.approx(statistics.stdev(values))  # sample std, n - 1
        assert row['n'] == len(ok_values(rows, row['lr'], row['hidden'], 'seed'))
    counts = table.set_index(['lr', 'hidden'])[['n', 'diverged', 'pruned', 'failed']]
    assert counts.loc[(1.0, 256)].tolist() == [2, 1, 0, 0]
    assert counts.loc[(0.01, 64)].tolist() == [2, 0, 1, 0]
    assert counts.loc[(0.1, 64)].tolist() == [3, 0, 0, 0]


@pytest.mark.parametrize('metric, higher, best', [('test_acc', True, (0.1, 256)),
                                                   ('train_loss', False, (0.1, 256)),
                                                   ('test_acc', False, (0.01, 64)),
                                                   ('seconds', False, (0.01, 64))])
def test_the_best_setting_is_marked_once(sweep, metric, higher, best):
    out, _ = sweep
    table = sweep_report.report(out, ['lr', 'hidden'], metric, higher_is_better=higher)
    assert table['best'].sum() == 1
    assert tuple(table.loc[table['best'], ['lr', 'hidden']].iloc[0]) == best
    marked = [line for line in (out / 'summary.md').read_text().splitlines()
              if line.startswith('| * |')]
    assert len(marked) == 1 and marked[0].startswith(f'| * | {best[0]:g} | {best[1]} |')


def test_summary_md_and_format_table_show_every_setting_with_mean_pm_std(sweep):
    out, rows = sweep
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True)
    text = (out / 'summary.md').read_text()
    terminal = sweep_report.format_table(table)
    values = ok_values(rows, 0.1, 256, 'test_acc')
    cell = f'{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}'
    assert cell in text and cell in terminal
    assert 'sample standard deviation' in text and 'two standard errors' in text
    table_lines = [line for line in text.splitlines() if line.startswith('| ')]
    assert len(table_lines) == 2 + len(LRS) * len(HIDDENS)  # header, rule, one line per setting
    assert table_lines[0] == ('|  | lr | hidden | train_loss | train_acc | test_acc | seconds | n '
                              '| diverged '
                              '| pruned | failed |')
    assert len(terminal.splitlines()) == 1 + len(LRS) * len(HIDDENS)
    for lr in LRS:
        for hidden in HIDDENS:
            cells = [f'{lr:g}', str(hidden)]
            assert any(line.split()[:2] == cells or line.split()[1:3] == cells
                       for line in terminal.splitlines())


def test_every_figure_is_written_and_nothing_is_left_half_written(sweep):
    out, _ = sweep
    sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True)
    for name in ('curves', 'lr', 'hidden', 'heatmap'):
        assert is_png(out / f'{name}.png'), name
    assert leftovers(out) == [] and not list(out.glob('.*'))
    assert sorted(p.name for p in out.iterdir()) == ['curves.png', 'heatmap.png', 'hidden.png',
                                                     'histories',
                                                     'lr.png', 'results.csv', 'summary.md']


def test_one_axis_gives_no_heatmap(tmp_path):
    out = tmp_path / 'sweep'
    make_sweep(out, hiddens=[256])
    # The engine names only the swept flags: hidden was fixed, so it is not an axis.
    table = sweep_report.report(out, ['lr'], 'test_acc', higher_is_better=True)
    assert list(table['lr']) == LRS
    assert is_png(out / 'lr.png') and is_png(out / 'curves.png')
    assert not (out / 'heatmap.png').exists() and not (out / 'hidden.png').exists()


def test_text_axes_and_a_multi_value_flag_are_categories(tmp_path):
    out = tmp_path / 'sweep'
    make_sweep(out, hiddens=[64, 256])
    # --hidden 128 256 is one value
    text = (out / 'results.csv').read_text().replace(',64,', ',128 256,')
    (out / 'results.csv').write_text(text)
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True)
    assert list(table['hidden'][:2]) == ['128 256', '256']  # number by number, as tuples
    assert is_png(out / 'hidden.png') and is_png(out / 'heatmap.png')


def test_a_failed_write_leaves_no_partial_file(sweep, monkeypatch):
    from matplotlib.figure import Figure
    out, _ = sweep
    real, calls = Figure.savefig, []

    def disk_full_on_the_fourth_figure(fig, fname, *args, **kwargs):
        calls.append(fname)
        if len(calls) == 4:  # curves, lr, hidden, then the heatmap: half written, then disk full
            (open(fname, 'wb') if isinstance(fname, (str, Path)) else fname).write(b'\x89PNG half')
            raise OSError(28, 'No space left on device')
        return real(fig, fname, *args, **kwargs)
    monkeypatch.setattr(Figure, 'savefig', disk_full_on_the_fourth_figure)
    with pytest.raises(d2l.D2LError, match=r'cannot write .*heatmap\.png: No space left on device'):
        sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True)
    assert not (out / 'heatmap.png').exists() and leftovers(out) == []
    assert is_png(out / 'lr.png')  # written before it, whole


def test_no_results_is_one_clear_error(tmp_path):
    with pytest.raises(d2l.D2LError, match='results.csv not found'):
        sweep_report.report(tmp_path, ['lr'], 'test_acc', higher_is_better=True)
    (tmp_path / 'results.csv').write_text('')
    with pytest.raises(d2l.D2LError, match='is empty'):
        sweep_report.report(tmp_path, ['lr'], 'test_acc', higher_is_better=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['results.csv']


def test_linear_regression_reports_its_own_quantities(tmp_path):
    """Metrics train_loss, w_error, b_error; a history's w_error has one value per weight."""
    out = tmp_path / 'sweep'
    (out / 'histories').mkdir(parents=True)
    lines = ['run,lr,seed,train_loss,w_error,b_error,seconds,status,worker']
    for lr in (0.003, 0.03):
        for seed in (0, 1):
            run, w_error = f'lr{lr}-seed{seed}', round(0.1 / (lr * 100) + 0.001 * seed, 5)
            lines.append(f'{run},{lr},{seed},{w_error / 10},{w_error},0.001,0.5,ok,0')
            history = {'train_loss': [1.0, w_error / 10], 'seconds': [0.1, 0.1], 'w': [2.0, -3.4],
                       'b': 4.2, 'w_error': [w_error, -w_error], 'b_error': 0.001}
            (out / 'histories' / f'{run}.json').write_text(json.dumps(history))
    (out / 'results.csv').write_text('\n'.join(lines) + '\n')
    table = sweep_report.report(out, ['lr'], 'w_error', higher_is_better=False)
    assert table.loc[table['best'], 'lr'].item() == 0.03
    assert table['w_error_mean'].tolist() == pytest.approx([(0.3333 + 0.3343) / 2,
                                                            (0.0333 + 0.0343) / 2],
                                                           abs=1e-4)
    assert is_png(out / 'curves.png') and is_png(out / 'lr.png')
    assert not (out / 'heatmap.png').exists()
    assert '| * | 0.03 |' in (out / 'summary.md').read_text()


def test_no_swept_flag_summarises_the_seeds(tmp_path):
    out = tmp_path / 'sweep'
    make_sweep(out, lrs=[0.1], hiddens=[256])
    table = sweep_report.report(out, [], 'test_acc', higher_is_better=True)
    assert len(table) == 1 and table['n'].item() == 3 and table['best'].item()
    assert sorted(p.name for p in out.glob('*.png')) == ['curves.png']


@pytest.mark.parametrize('mode, show, shown',
                         [('notebook', True, 4), ('notebook', False, 0), ('file', True, 0)])
def test_show_displays_the_figures_inline_in_a_notebook_only(sweep, monkeypatch, mode, show, shown):
    from IPython import display
    out, _ = sweep
    displayed = []
    monkeypatch.setattr(d2l, '_FIGURE_MODE', mode)
    monkeypatch.setattr(display, 'display', lambda *objs, **kw: displayed.extend(objs))
    sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True, show=show)
    assert len(displayed) == shown and is_png(out / 'heatmap.png')  # the files in every mode
    assert list(Path.cwd().glob('*.png')) == []  # in a script, display() would write figure-N.png
    import matplotlib.pyplot as plt
    assert plt.get_fignums() == []  # closed: not shown a second time at the end of the cell
