"""The sweep's report (d2lkit/sweep_report.py) on results folders written by hand: the summary's
numbers against ones computed here, the best row, the verdicts against it, the figures, nothing
half-written."""
import csv
import json
import math
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
    assert 'sample standard deviation' in text and 'paired by seed' in text
    table_lines = [line for line in text.splitlines() if line.startswith('| ')]
    assert len(table_lines) == 2 + len(LRS) * len(HIDDENS)  # header, rule, one line per setting
    assert table_lines[0] == ('|  | lr | hidden | train_loss | train_acc | test_acc | seconds | n '
                              '| diverged '
                              '| pruned | failed | vs best (95% CI) | pairs | verdict |')
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


# ---------------------------------------------------------------------------
# Verdicts: each setting against the best, paired by seed
# ---------------------------------------------------------------------------

# t_{0.975, dof} as printed in statistics tables (7 significant digits), the half-width factor of
# a 95% interval over dof + 1 paired differences.
T975 = {1: 12.706205, 2: 4.302653, 3: 3.182446, 4: 2.776445, 9: 2.262157, 30: 2.042272}


@pytest.mark.parametrize('dof, t', sorted(T975.items()))
def test_t_quantile_matches_the_tables(dof, t):
    assert sweep_report.t_quantile(0.975, dof) == pytest.approx(t, abs=5e-7)
    assert sweep_report.t_quantile(0.025, dof) == pytest.approx(-t, abs=5e-7)


def test_t_quantile_of_one_and_two_dof_in_closed_form():
    # dof 1 is Cauchy: tan(pi (p - 1/2)); dof 2: (2p - 1) / sqrt(2 p (1 - p)).
    for p in (0.6, 0.9, 0.975, 0.995, 0.9995):
        assert sweep_report.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)),
                                                              rel=1e-10)
        assert sweep_report.t_quantile(p, 2) == pytest.approx(
            (2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)


BEST = [0.80, 0.82, 0.84, 0.86]  # setting A's test accuracy at seeds 0..3: the best mean, 0.83
# Every other setting's accuracy minus A's, seed by seed; 'diverged' and 'failed' runs are not
# ok, so pairing must skip those seeds (the diverged run's 0.99 would make D look best).
DIFFS = {'B': [0.01, -0.02, 0.0, 0.005],  # mean -0.00125, spread 0.013: tied
         'C': [-0.05, -0.06, -0.04, -0.05],  # clearly worse
         'D': [-0.03, 'diverged', -0.031, -0.029],  # worse, on 3 pairs
         'E': [0.005, 0.006, 0.005, 'failed'],  # ahead of A on every seed it has: better, though
         # its mean (0.8253) is below A's: A's best seed, 3, is one that E lacks
         'F': [-0.1, 'failed', 'failed', 'failed'],  # 1 pair: no verdict
         'G': ['diverged'] * 4}  # no ok run at all


def write_paired(out: Path) -> None:
    """out/results.csv of settings A to G over seeds 0..3 (accuracy as above, train_loss =
    1 - accuracy); a `host` column after `worker`, as a newer engine writes."""
    out.mkdir(parents=True)
    lines = ['run,setting,seed,train_loss,test_acc,seconds,status,worker,host']
    for setting, diffs in {'A': [0.0] * 4, **DIFFS}.items():
        for seed, d in enumerate(diffs):
            if d == 'failed':  # a failed run has no metric
                lines.append(f'{setting}{seed},{setting},{seed},,,1.0,failed,0,box')
            elif d == 'diverged':  # a diverged one may have a number, never to be used
                lines.append(f'{setting}{seed},{setting},{seed},nan,0.99,1.0,diverged,0,box')
            else:
                acc = round(BEST[seed] + d, 6)
                lines.append(f'{setting}{seed},{setting},{seed},{round(1 - acc, 6)},{acc},1.0,ok,'
                             '1,box')
    (out / 'results.csv').write_text('\n'.join(lines) + '\n')


def expected(diffs: list) -> tuple[float, float, int]:
    """(mean, 95% half-width, pairs) of the ok differences, by hand: t_{0.975, n-1} s / sqrt(n)."""
    d = [x for x in diffs if isinstance(x, float)]
    half = T975[len(d) - 1] * statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else math.nan
    return statistics.mean(d), half, len(d)


@pytest.mark.parametrize('metric, higher, sign', [('test_acc', True, 1), ('train_loss', False, -1)])
def test_paired_differences_intervals_and_verdicts(tmp_path, metric, higher, sign):
    """A loss (lower is better) gives the same verdicts with the differences' signs flipped."""
    write_paired(tmp_path / 'sweep')
    results = sweep_report.read_results(tmp_path / 'sweep')
    table = sweep_report.summarize(results, ['setting'], metric, higher).set_index('setting')
    assert table.loc['A', 'best'] and table['best'].sum() == 1
    assert table['verdict'].to_dict() == {'A': 'best', 'B': 'tied', 'C': 'worse', 'D': 'worse',
                                          'E': 'better', 'F': 'n/a: 1 seed',
                                          'G': 'n/a: no ok run'}
    for setting in 'BCDE':
        mean, half, pairs = expected(DIFFS[setting])
        assert table.loc[setting, 'vs_best'] == pytest.approx(sign * mean, abs=1e-9), setting
        # the tables' 7 digits of t, and the 1e-6 rounding of the written accuracies
        assert table.loc[setting, 'ci95'] == pytest.approx(half, rel=1e-5), setting
        assert table.loc[setting, 'pairs'] == pairs
    assert table.loc['D', 'pairs'] == 3 and table.loc['E', 'pairs'] == 3
    assert table.loc['F', 'vs_best'] == pytest.approx(sign * -0.1)
    assert math.isnan(table.loc['F', 'ci95']) and table.loc['F', 'pairs'] == 1
    assert math.isnan(table.loc['G', 'vs_best']) and table.loc['G', 'pairs'] == 0
    assert (table.loc['A', ['vs_best', 'ci95']] == 0).all()
    assert table.loc['E', f'{metric}_mean'] < table.loc['A', f'{metric}_mean'] if higher else \
        table.loc['E', f'{metric}_mean'] > table.loc['A', f'{metric}_mean']


def test_summary_md_and_format_table_show_the_verdicts(tmp_path):
    out = tmp_path / 'sweep'
    write_paired(out)
    table = sweep_report.report(out, ['setting'], 'test_acc', higher_is_better=True)
    text = (out / 'summary.md').read_text()
    terminal = sweep_report.format_table(table)
    mean, half, _ = expected(DIFFS['C'])
    rows = {line.split(' | ')[1]: line for line in text.splitlines()
            if line.startswith('| ') and ' | ' in line[1:]}
    assert rows['C'].endswith(f'| {mean:+.4f} ± {half:.4f} | 4 | worse |')
    mean, half, _ = expected(DIFFS['E'])
    assert rows['E'].endswith(f'| +{mean:.4f} ± {half:.4f} | 3 | better |')  # signed both ways
    mean, half, _ = expected(DIFFS['C'])
    assert rows['A'].startswith('| * | A |') and rows['A'].endswith('| 0 | 4 | best |')
    assert rows['F'].endswith('| -0.1000 | 1 | n/a: 1 seed |')
    assert rows['G'].endswith('| - | 0 | n/a: no ok run |')
    terminal_rows = {line.split()[0] if line.split()[0] != '*' else line.split()[1]: line
                     for line in terminal.splitlines()[1:]}
    assert terminal_rows['C'].split()[-5:] == [f'{mean:+.4f}', '±', f'{half:.4f}', '4', 'worse']
    assert terminal_rows['B'].split()[-1] == 'tied' and terminal_rows['E'].split()[-1] == 'better'
    assert 'minus the best setting' in text and 'Student' in text


def test_the_reference_setting_is_marked_book(sweep):
    out, _ = sweep
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True,
                                reference={'lr': '0.10', 'hidden': '64'})  # as numbers: 0.1, 64
    assert table.loc[table['reference'], ['lr', 'hidden']].values.tolist() == [[0.1, 64]]
    text = (out / 'summary.md').read_text()
    marked = [line for line in text.splitlines() if line.startswith('| book |')]
    assert len(marked) == 1 and marked[0].startswith('| book | 0.1 | 64 |')
    assert marked[0].endswith(' | worse |') and '`book` marks the reference setting' in text
    assert [line.split()[:3] for line in sweep_report.format_table(table).splitlines()
            if line.split()[0] == 'book'] == [['book', '0.1', '64']]
    # the best itself as the reference: both marks
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True,
                                reference={'lr': '0.1', 'hidden': '256'})
    assert '| * book | 0.1 | 256 |' in (out / 'summary.md').read_text()


def test_a_reference_that_was_not_swept_is_a_note_not_an_error(sweep):
    out, _ = sweep
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True,
                                reference={'lr': '0.05', 'hidden': '64'})
    assert not table['reference'].any()
    note = 'The reference setting (lr=0.05, hidden=64) is not among the settings of this sweep.'
    assert note in (out / 'summary.md').read_text()
    assert sweep_report.format_table(table).splitlines()[-1] == note
    assert 'book' not in (out / 'summary.md').read_text()
    table = sweep_report.report(out, ['lr', 'hidden'], 'test_acc', higher_is_better=True)
    assert 'reference setting' not in sweep_report.format_table(table) + \
        (out / 'summary.md').read_text()  # none given: nothing said


def test_the_flag_figure_shows_the_best_band_and_rings_the_ties(tmp_path):
    write_paired(tmp_path / 'sweep')
    results = sweep_report.read_results(tmp_path / 'sweep')
    table = sweep_report.summarize(results, ['setting'], 'test_acc', True)
    fig = sweep_report.flag_figure('setting', results, table, ['setting'], 'test_acc')
    ax = fig.axes[0]
    [band] = [p for p in ax.patches if '95% CI' in p.get_label()]
    ys = ax.transData.inverted().transform(
        band.get_transform().transform(band.get_path().vertices))[:, 1]
    half = T975[3] * statistics.stdev(BEST) / 2  # the best's 4 seeds
    assert (ys.min(), ys.max()) == pytest.approx((0.83 - half, 0.83 + half), abs=1e-6)
    assert 'best (setting=A): mean ± 95% CI of its mean (4 seeds)' == band.get_label()
    [rings] = [c for c in ax.collections if c.get_label().startswith('tied with the best')]
    assert rings.get_offsets().tolist() == [[1.0, pytest.approx(0.82875)]]  # B, second category
    fig.savefig(tmp_path / 'setting.png')
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_a_search_s_flag_figure_keeps_its_legend_and_title_inside_a_wide_axes(tmp_path):
    # 12 trials of five searched flags: each flag's figure averages over the other four, and the
    # best trial's legend entry names all five
    out = tmp_path / 'search'
    out.mkdir()
    flags = ['lr', 'label_smoothing', 'weight_decay', 'flip', 'warmup']
    rows = [f't{i:03d}-s0,' + ','.join(f'{0.0123456 + i / 97 + j / 13:.7g}' for j in range(5))
            + f',0,0.5,{0.9 + i / 1000},10.0,ok,w,h' for i in range(12)]
    (out / 'results.csv').write_text(f'run,{",".join(flags)},seed,train_loss,valid_acc,'
                                     'seconds,status,worker,host\n' + '\n'.join(rows) + '\n')
    results = sweep_report.read_results(out)
    table = sweep_report.summarize(results, flags, 'valid_acc', True)
    fig = sweep_report.flag_figure('flip', results, table, flags, 'valid_acc')
    fig.savefig(tmp_path / 'flip.png')  # draws it: the extents below are the saved figure's
    ax, renderer = fig.axes[0], fig.canvas.get_renderer()
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()] + [ax.get_title()]
    assert any('warmup=' in t for t in texts)  # the best trial's every flag is named ...
    assert all(len(line) <= 75 for t in texts for line in t.split('\n'))  # ... on short lines
    assert ax.get_position().width > 0.6  # the axes keep most of the figure's width
    for artist in (legend, ax.title):
        box = artist.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, artist  # nothing cut off
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_a_search_with_too_few_finished_trials_has_no_importance_figure(tmp_path):
    import optuna
    from optuna.distributions import FloatDistribution

    study = optuna.create_study(direction='maximize')
    for lr, flip in [(0.001, 0.1), (0.005, 0.3), (0.009, 0.2)]:  # three: too few to weigh
        study.add_trial(optuna.trial.create_trial(
            params={'lr': lr, 'flip': flip}, value=0.8 + 10 * lr,
            distributions={'lr': FloatDistribution(0.001, 0.01), 'flip': FloatDistribution(0, 1)}))
    assert sweep_report.importance_figure(study, tmp_path / 'importance.png') == {}
    assert not (tmp_path / 'importance.png').exists()
    study.add_trial(optuna.trial.create_trial(
        params={'lr': 0.002, 'flip': 0.9}, value=0.82,
        distributions={'lr': FloatDistribution(0.001, 0.01), 'flip': FloatDistribution(0, 1)}))
    found = sweep_report.importance_figure(study, tmp_path / 'importance.png')
    assert set(found) == {'lr', 'flip'} and sum(found.values()) == pytest.approx(1)
    assert is_png(tmp_path / 'importance.png')
