"""The report of a sweep: what `python -m d2l sweep` writes into its --out folder after the runs.

The sweep engine (d2lkit/sweep.py) leaves in the folder
- results.csv: one row per finished run; columns `run`, each swept flag, `seed`, the run's final
  metrics, `seconds`, `status` (ok, diverged, pruned or failed) and `worker`;
- histories/<run>.json: the dict the chapter script's main() returned, per-epoch lists.

From them report() makes, each file written whole or not at all:
- summary.md: one row per setting, mean ± std over the seeds that finished, the best marked, and
  each setting's difference from the best paired by seed, with a 95% interval and a verdict;
- curves.png: every setting's curves overlaid, the seed mean as a line with its min-max band;
- <flag>.png per swept flag: the final metric against the flag's values, with error bars, and the
  best setting's mean with its 95% interval as a band;
- heatmap.png for a grid of two flags: the mean metric of every cell.
The means and standard deviations are over the runs that finished ('ok'); a run that diverged,
was pruned or failed is counted in its own column, never averaged in.

The verdicts compare each setting with the best (by mean) seed by seed: for every seed where both
finished ok, d = metric(setting) - metric(best); the mean of d with a Student's t 95% interval
says `tied` (the interval holds 0), `worse` or `better`; with fewer than 2 such seeds, no verdict.
"""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import d2l

if TYPE_CHECKING:  # pandas and matplotlib are imported when a report is made, not with d2lkit
    import pandas as pd
    from matplotlib.figure import Figure

STATUSES = ('ok', 'diverged', 'pruned', 'failed')
BAND = 'min-max over seeds'  # what the band around each mean curve spans, said in the figure
MAX_LINES = 8  # more combinations of the other flags than this: a flag's plot averages over them
# characters per line of a flag figure's legend entries and title: a search's best setting names
# every searched flag, and one unbroken line of it would push the axes into a narrow column
LEGEND_WIDTH, TITLE_WIDTH = 55, 75
LEVEL = 0.95  # the confidence of the intervals behind the verdicts and the best's band
VERDICT_COLUMNS = ('vs_best', 'ci95', 'pairs', 'verdict', 'reference')  # summarize's, last


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

def read_results(out: Path) -> pd.DataFrame:
    """out/results.csv as a DataFrame; one line (D2LError) when it is missing or holds no run."""
    import pandas as pd
    path = Path(out) / 'results.csv'
    try:
        results = pd.read_csv(path)
    except FileNotFoundError:
        raise d2l.D2LError(f'{path} not found: run the sweep first (python -m d2l sweep ...)'
                           ) from None
    except pd.errors.EmptyDataError:
        raise d2l.D2LError(f'{path} is empty: no run has finished yet') from None
    if results.empty:
        raise d2l.D2LError(f'{path} holds no finished run yet')
    return results


def axis_columns(results: pd.DataFrame) -> list[str]:
    """The swept flags of results.csv: the columns between `run` and `seed` (the engine's order)."""
    columns = list(results.columns)
    return columns[columns.index('run') + 1:columns.index('seed')]


def metric_columns(results: pd.DataFrame) -> list[str]:
    """The metrics of results.csv: the columns between `seed` and `seconds` (the engine's order)."""
    columns = list(results.columns)
    return columns[columns.index('seed') + 1:columns.index('seconds')]


def natural_key(value: object) -> tuple:
    """Sort '64' before '128 256', 0.03 before 0.1: numbers by value, text as text after them."""
    parts = str(value).split()
    try:
        return (0, *[float(p) for p in parts])
    except ValueError:
        return (1, str(value))


def same_value(a: object, b: object) -> bool:
    """Whether two values of a swept flag are the same setting: numbers by value ('0.10' is 0.1,
    '1.0' is 1, '0.0 0.0' is '0 0'), anything else as text."""
    return natural_key(a) == natural_key(b)


# ---------------------------------------------------------------------------
# Paired differences and their verdicts
# ---------------------------------------------------------------------------

def _t_central(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with an integer dof >= 1, t >= 0: the closed form of Abramowitz
    and Stegun 26.7.3-4 (a finite sum in cos(theta), theta = atan(t / sqrt(dof)))."""
    theta = math.atan(t / math.sqrt(dof))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if dof % 2 == 0:  # s * (1 + 1/2 c^2 + 1*3/(2*4) c^4 + ... up to c^(dof-2))
        term = total = 1.0
        for k in range(1, dof // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        return s * total
    term = total = math.cos(theta)  # (2/pi) (theta + s (c + 2/3 c^3 + ... up to c^(dof-2)))
    for k in range(1, (dof - 1) // 2):
        term *= c2 * (2 * k) / (2 * k + 1)
        total += term
    return 2 / math.pi * (theta + (s * total if dof > 1 else 0.0))


def t_quantile(p: float, dof: int) -> float:
    """The p quantile of Student's t with dof (an integer >= 1) degrees of freedom, to about 1e-12
    (bisection on the exact distribution function; scipy is not a dependency of the kit)."""
    if not 0 < p < 1 or dof < 1 or int(dof) != dof:
        raise ValueError(f't_quantile needs 0 < p < 1 and an integer dof >= 1, not {p}, {dof}')
    if p < 0.5:
        return -t_quantile(1 - p, dof)
    central = 2 * p - 1  # P(|T| <= t) at the p quantile
    lo, hi = 0.0, 1.0
    while _t_central(hi, int(dof)) < central:
        lo, hi = hi, 2 * hi
    for _ in range(200):  # halves the bracket each time: far below float resolution long before
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _t_central(mid, int(dof)) < central else (lo, mid)
    return (lo + hi) / 2


def paired_interval(diffs: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of its LEVEL t interval) of paired differences; the half-width is NaN
    below 2 differences: one says nothing about how the differences spread from seed to seed."""
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan
    mean = sum(diffs) / n
    if n < 2:
        return mean, math.nan
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return mean, t_quantile((1 + LEVEL) / 2, n - 1) * std / math.sqrt(n)


def _seeds_of(results: pd.DataFrame, table: pd.DataFrame, axes: Sequence[str],
              metric: str) -> list[pd.Series]:
    """Per row of table, the metric of its ok runs indexed by seed (the mean if a seed repeats)."""
    import numpy as np
    ok = results[results['status'] == 'ok']
    series = []
    for _, setting in table.iterrows():
        mask = np.ones(len(ok), dtype=bool)
        for a in axes:
            mask &= (ok[a] == setting[a]).to_numpy()
        series.append(ok[mask].groupby('seed')[metric].mean())
    return series


def _matches(table: pd.DataFrame, axes: Sequence[str], reference: dict | None) -> list[bool]:
    """Per row, whether it is the reference setting: each axis's value equal to the reference's
    text as a number where both are numbers ('0.10' is 0.1, '1.0' is 1), as text otherwise."""
    if reference is None:
        return [False] * len(table)
    return [all(a in reference and same_value(reference[a], row[a])
                for a in axes) for _, row in table.iterrows()]


def _verdicts(table: pd.DataFrame, seeds: list[pd.Series], higher_is_better: bool) -> None:
    """Add to table, against its best row, paired by seed: `vs_best` (mean of d = metric - best's
    metric over the seeds where both are ok), `ci95` (t interval half-width; NaN below 2 pairs),
    `pairs` (how many such seeds) and `verdict` (best, tied, worse, better or n/a: why)."""
    import numpy as np
    best = np.flatnonzero(table['best'].to_numpy())
    vs_best, ci95, pairs, verdicts = [], [], [], []
    for i, own in enumerate(seeds):
        d = (own - seeds[best[0]]).dropna() if len(best) else own.iloc[:0]
        n, (mean, half) = len(d), paired_interval(d.tolist())
        if own.empty:
            verdict = 'n/a: no ok run'
        elif len(best) and i == best[0]:
            verdict = 'best'
        elif n < 2:
            verdict = f'n/a: {n} seed{"s" * (n != 1)}'
        elif abs(mean) <= half:
            verdict = 'tied'
        else:
            verdict = 'better' if (mean > 0) == higher_is_better else 'worse'
        vs_best.append(mean)
        ci95.append(half)
        pairs.append(n)
        verdicts.append(verdict)
    table['vs_best'], table['ci95'] = vs_best, ci95
    table['pairs'], table['verdict'] = pairs, verdicts


def summarize(results: pd.DataFrame, axes: Sequence[str], metric: str,
              higher_is_better: bool, reference: dict | None = None) -> pd.DataFrame:
    """One row per setting: the axes' values, `<m>_mean` and `<m>_std` of each metric and of
    seconds over the seeds that finished ok, the count of each status, `best` (one True), the
    paired comparison with the best (`vs_best`, `ci95`, `pairs`, `verdict`, see _verdicts) and
    `reference` (True on the row whose axes match reference: axis column -> value text)."""
    import pandas as pd
    axes = list(axes)
    numbers = metric_columns(results) + ['seconds']
    ok = results[results['status'] == 'ok']
    keys = axes or (lambda _: 'all')  # no swept flag: the seeds of one setting
    settings = results.groupby(keys, sort=False, dropna=False).size().index
    stats = ok.groupby(keys, sort=False, dropna=False)[numbers].agg(['mean', 'std'])  # std: n - 1
    stats.columns = [f'{m}_{s}' for m, s in stats.columns]
    counts = results.groupby(keys + ['status'] if axes else 'status', dropna=False).size()
    if axes:
        counts = counts.unstack('status', fill_value=0)
    else:
        counts = counts.to_frame().T.rename(index={0: 'all'})
    counts = counts.reindex(columns=list(STATUSES), fill_value=0).rename(columns={'ok': 'n'})
    table = stats.reindex(settings).join(counts.reindex(settings).fillna(0).astype(int))
    if not axes:
        table.index = pd.RangeIndex(1)
    table = table.reset_index(drop=not axes)
    if axes:
        order = sorted(range(len(table)),
                       key=lambda i: [natural_key(table[a].iloc[i]) for a in axes])
        table = table.iloc[order].reset_index(drop=True)
    table['best'] = False
    means = table[f'{metric}_mean']
    if means.notna().any():
        table.loc[means.idxmax() if higher_is_better else means.idxmin(), 'best'] = True
    _verdicts(table, _seeds_of(results, table, axes, metric), higher_is_better)
    table['reference'] = _matches(table, axes, reference)
    table.attrs['reference'] = reference  # for format_table's note when no row matched it
    return table


def undecided(results: pd.DataFrame, axes: Sequence[str], metric: str, higher_is_better: bool,
              seeds: Sequence[int]) -> pd.DataFrame:
    """The best setting and its nearest rival when the given seeds cannot tell them apart
    (summarize's rows over those seeds only): of the settings tied with the best (or better on
    the seeds both have), the one with the best mean; empty when the best stands alone."""
    table = summarize(results[results['seed'].isin(list(seeds))], axes, metric, higher_is_better)
    rivals = table[table['verdict'].isin(('tied', 'better'))]
    if rivals.empty:
        return rivals
    mean = rivals[f'{metric}_mean']
    nearest = mean.idxmax() if higher_is_better else mean.idxmin()
    return table.loc[[table.index[table['best']][0], nearest]]


def _decimals(column: str, values: pd.Series) -> int:
    """Decimals that show a column's differences: 1 for seconds, 4 near 1, more below."""
    if column == 'seconds':
        return 1
    finite = values.abs()[values.abs() > 0].dropna()
    if finite.empty or finite.max() >= 0.01:
        return 4
    return min(10, 2 - math.floor(math.log10(finite.max())) + 1)  # three significant digits


def _mean_pm_std(table: pd.DataFrame, column: str) -> list[str]:
    """'0.8123 ± 0.0041' per row; the mean alone with one run, '-' with none."""
    d = _decimals(column, table[f'{column}_mean'])
    return [_pm(mean, std, d) for mean, std in zip(table[f'{column}_mean'], table[f'{column}_std'])]


def _pm(value: float, spread: float, d: int, signed: bool = False) -> str:
    """'value ± spread' to d decimals (a sign before value if signed); value alone without a
    spread, '-' without a value."""
    if missing(value):
        return '-'
    text = f'{value:{"+" if signed else ""}.{d}f}'
    return text if missing(spread) else f'{text} ± {spread:.{d}f}'


def missing(x: object) -> bool:
    """True for NaN and None (a float NaN or a missing cell)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def _vs_best_cells(table: pd.DataFrame) -> list[str]:
    """'-0.0120 ± 0.0034' per row (signed, metric units); the difference alone below 2 pairs, 0 for
    the best itself, '-' without a pair."""
    import pandas as pd
    d = _decimals('', pd.concat([table['vs_best'], table['ci95']], ignore_index=True))
    return ['0' if verdict == 'best' else _pm(mean, half, d, signed=True)
            for mean, half, verdict in zip(table['vs_best'], table['ci95'], table['verdict'])]


def _display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text cells: the marks (best, book), the axes, 'mean ± std' per metric, the
    counts, and the paired comparison with the best (difference ± 95% interval, pairs, verdict)."""
    import pandas as pd
    numbers = [c[:-len('_mean')] for c in table.columns if c.endswith('_mean')]
    axes = [c for c in table.columns
            if c not in {f'{m}_{s}' for m in numbers for s in ('mean', 'std')}
            and c not in ('best', 'n', *STATUSES, *VERDICT_COLUMNS)]
    marks = [' '.join(['*'] * bool(b) + ['book'] * bool(r))
             for b, r in zip(table['best'], table['reference'])]
    shown = pd.DataFrame({'': marks})
    for a in axes:  # a searched float to 4 digits; grid values as typed (0.03, 1, '128 256')
        shown[a] = [_value(v) for v in table[a]]
    for m in numbers:
        shown[m] = _mean_pm_std(table, m)
    for c in ('n', 'diverged', 'pruned', 'failed'):
        shown[c] = table[c].astype(int).astype(str)
    shown['vs best (95% CI)'] = _vs_best_cells(table)
    shown['pairs'] = table['pairs'].astype(int).astype(str)
    shown['verdict'] = table['verdict']
    return shown


def _markdown(shown: pd.DataFrame) -> str:
    """A GitHub markdown table of text cells (pandas' to_markdown would need tabulate)."""
    escape = lambda s: str(s).replace('|', '\\|')  # noqa: E731
    lines = ['| ' + ' | '.join(escape(c) for c in shown.columns) + ' |',
             '|' + '|'.join(' --- ' for _ in shown.columns) + '|']
    lines += ['| ' + ' | '.join(escape(c) for c in row) + ' |'
              for row in shown.itertuples(index=False)]
    return '\n'.join(lines)


def _reference_note(table: pd.DataFrame) -> str | None:
    """The line saying the reference setting was not swept, or None (none given, or it was)."""
    reference = table.attrs.get('reference')
    if reference is None or table['reference'].any():
        return None
    given = ', '.join(f'{a}={v}' for a, v in reference.items()) or 'none'
    return f'The reference setting ({given}) is not among the settings of this sweep.'


def _notes(table: pd.DataFrame, metric: str, higher_is_better: bool) -> list[str]:
    """What the marks, the ± and the counts mean, and how to read the verdicts."""
    n = table['n']
    seeds = f'{n.min()}' if n.min() == n.max() else f'{n.min()} to {n.max()}'
    better = 'higher' if higher_is_better else 'lower'
    notes = [f'`*` marks the best setting by mean {metric} ({better} is better).']
    if table['reference'].any():
        notes.append('`book` marks the reference setting (the book\'s own); its verdict compares '
                     'it with the best like any other row.')
    if _reference_note(table):
        notes.append(_reference_note(table))
    return notes + [
        'Each cell is mean ± sample standard deviation (n - 1 in the denominator) over the '
        f'n seeds of that setting that finished ok ({seeds} here); runs that diverged, '
        'were pruned or failed are counted in their own columns and left out of the means.',
        f'`vs best (95% CI)` is the setting\'s {metric} minus the best setting\'s, paired by seed: '
        'the difference is taken seed by seed over the `pairs` seeds where both finished ok, '
        'and shown as its mean ± the half-width of a 95% confidence interval (Student\'s t, '
        'pairs - 1 degrees of freedom), in the units of the metric.',
        '`verdict`: `tied` when that interval contains 0 (the two cannot be told apart with '
        'these seeds: run more seeds to narrow it), `worse` or `better` when it lies wholly on '
        'one side of 0 (`better` happens only when the two finished ok on different seeds, so '
        'that their means are over different seeds), `n/a: k seeds` with fewer than 2 seeds to '
        'pair.']


def format_table(table: pd.DataFrame) -> str:
    """The summary table (summarize's or report's DataFrame) as text for the terminal, with the
    line saying a reference setting was not swept under it."""
    text = _display_frame(table).to_string(index=False)
    note = _reference_note(table)
    return text + (f'\n{note}' if note else '')


def summary_markdown(table: pd.DataFrame, metric: str, higher_is_better: bool) -> str:
    """summary.md's text: a heading, the markdown table and the notes on reading it."""
    notes = '\n\n'.join(_notes(table, metric, higher_is_better))  # a paragraph each
    return '\n'.join(['# Sweep summary', '', _markdown(_display_frame(table)), '', notes, ''])


# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------

def _value(v: object) -> str:
    """A setting's value for a label: floats as _number writes them, anything else as it is."""
    return _number(v) if isinstance(v, float) else str(v)


def _label(row: pd.Series, axes: Sequence[str]) -> str:
    """'lr=0.1, hidden=256' for a setting; 'all runs' with no swept flag."""
    return ', '.join(f'{a}={_value(row[a])}' for a in axes) or 'all runs'


def _read_history(out: Path, run: str) -> dict | None:
    """histories/<run>.json, or None where the run left none (a failed run)."""
    try:
        return json.loads((out / 'histories' / f'{run}.json').read_text())
    except (OSError, ValueError):
        return None


def _per_epoch(history: dict, key: str) -> list[float] | None:
    """history[key] when it is a per-epoch list of numbers (as long as train_loss), else None."""
    values = history.get(key)
    if not isinstance(values, list) or len(values) != len(history.get('train_loss', [])):
        return None
    if not all(isinstance(v, (int, float)) for v in values):
        return None
    return [float(v) for v in values]


def curves_figure(out: Path, results: pd.DataFrame, table: pd.DataFrame, axes: Sequence[str],
                  metric: str) -> Figure:
    """The per-epoch metric and train loss of every setting: the mean of its ok seeds as a line,
    their min-max as a band; pruned runs as thin shorter lines, diverged ones left out (counted)."""
    import numpy as np
    plt = d2l.pyplot()
    drawn = results.loc[results['status'].isin(['ok', 'pruned']), 'run']
    histories = {r: _read_history(out, r) for r in drawn}
    # A panel for the metric when the runs recorded it per epoch (linear regression's w_error is
    # not), and one for the train loss.
    keys = [k for k in dict.fromkeys([metric, 'train_loss'])
            if any(h and _per_epoch(h, k) for h in histories.values())] or ['train_loss']
    fig, panels = plt.subplots(1, len(keys), figsize=(5.2 * len(keys) + 2.2, 4), squeeze=False)
    panels = panels[0]
    colors = plt.get_cmap('tab10' if len(table) <= 10 else 'viridis')
    drawn_any = {k: False for k in keys}
    left_out = 0
    for i, setting in table.iterrows():
        color = colors(i if len(table) <= 10 else i / max(1, len(table) - 1))
        mask = np.ones(len(results), dtype=bool)
        for a in axes:
            mask &= (results[a] == setting[a]).to_numpy()
        runs = results[mask]
        by_status = {status: [histories[r] for r in runs.loc[runs['status'] == status, 'run']
                              if histories.get(r)] for status in ('ok', 'pruned')}
        left_out += int((runs['status'] == 'diverged').sum())
        for key, ax in zip(keys, panels):
            curves = [c for c in (_per_epoch(h, key) for h in by_status['ok']) if c]
            if curves:
                length = max(len(c) for c in curves)
                grid = np.full((len(curves), length), np.nan)
                for j, c in enumerate(curves):
                    grid[j, :len(c)] = c
                epochs = np.arange(1, length + 1)
                ax.plot(epochs, np.nanmean(grid, axis=0), '-', color=color, lw=1.8,
                        marker='o' if length <= 20 else None, ms=3,
                        label=f'{_label(setting, axes)} (n={len(curves)})')
                if len(curves) > 1:
                    ax.fill_between(epochs, np.nanmin(grid, axis=0), np.nanmax(grid, axis=0),
                                    color=color, alpha=0.2, lw=0)
                drawn_any[key] = True
            for c in (_per_epoch(h, key) for h in by_status['pruned']):
                if c:
                    ax.plot(np.arange(1, len(c) + 1), c, ':x', color=color, lw=1, ms=6, alpha=0.9)
    for key, ax in zip(keys, panels):
        ax.set_xlabel('epoch')
        ax.set_ylabel(key.replace('_', ' '))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.4)
        if not drawn_any[key]:
            ax.text(0.5, 0.5, f'no run finished with a per-epoch {key}', ha='center', va='center',
                    transform=ax.transAxes)
    if any(drawn_any.values()):
        panels[-1].legend(loc='upper left', bbox_to_anchor=(1.02, 1), fontsize='small',
                          title='setting (seeds ok)', title_fontsize='small', frameon=False)
    notes = [f'line: mean over seeds, band: {BAND}']
    if (results['status'] == 'pruned').any():
        notes.append('dotted with x: pruned runs')
    if left_out:
        notes.append(f'{left_out} diverged run{"s" * (left_out > 1)} left out')
    fig.suptitle('; '.join(notes), fontsize='medium')
    fig.tight_layout()
    return fig


def _is_numeric(values: pd.Series) -> bool:
    """True when a flag's values are numbers (lr, hidden 256), False for text ('128 256', relu)."""
    import pandas as pd
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _log_axis(flag: str, values: pd.Series) -> bool:
    """A log x axis for a learning rate and for positive numbers spanning a factor of 10 or more."""
    if not _is_numeric(values) or (values <= 0).any():
        return False
    return flag == 'lr' or values.max() / values.min() >= 10


def _number(v: float) -> str:
    """A flag's value as the user wrote it (0.03, 256, 1e-05); a searched one to 4 digits."""
    return f'{v:.4g}'


def _best_band(ax, table: pd.DataFrame, axes: Sequence[str], metric: str) -> None:
    """The best setting's mean as a dashed line across ax and, with 2 ok seeds or more, the 95%
    t interval of that mean (the level and t quantile of the verdicts) as a gray band."""
    best = table[table['best']]
    if best.empty:
        return
    row = best.iloc[0]
    mean, std, n = row[f'{metric}_mean'], row[f'{metric}_std'], int(row['n'])
    label = f'best ({_label(row, axes)}): mean'
    if n >= 2 and not missing(std):
        half = t_quantile((1 + LEVEL) / 2, n - 1) * std / math.sqrt(n)
        ax.axhspan(mean - half, mean + half, color='gray', alpha=0.25, lw=0,
                   label=_wrapped(f'{label} ± 95% CI of its mean ({n} seeds)', LEGEND_WIDTH))
        label = None
    ax.axhline(mean, color='gray', ls='--', lw=1,
               label=label and _wrapped(f'{label} (1 seed: no interval)', LEGEND_WIDTH))


def _wrapped(text: str, width: int) -> str:
    """text with each of its lines broken at spaces into lines of at most width characters."""
    return '\n'.join(textwrap.fill(line, width) for line in text.split('\n'))


def flag_figure(flag: str, results: pd.DataFrame, table: pd.DataFrame, axes: Sequence[str],
                metric: str) -> Figure:
    """The final metric against one flag's values, mean ± std over seeds (error bars); one line per
    combination of the other flags, or averaged over them when there are more than MAX_LINES; the
    best setting's mean and 95% interval as a band, settings tied with it ringed."""
    plt = d2l.pyplot()
    others = [a for a in axes if a != flag]
    values = sorted(table[flag].unique(), key=natural_key)
    numeric = _is_numeric(table[flag])
    position = {v: (float(v) if numeric else k) for k, v in enumerate(values)}
    fig, ax = plt.subplots(figsize=(6.4, 4))
    groups = table.groupby(others, sort=False) if others else [((), table)]
    if others and len(table[others].drop_duplicates()) > MAX_LINES:
        ok = results[results['status'] == 'ok']
        pooled = ok.groupby(flag)[metric].agg(['mean', 'std', 'size'])
        pooled = pooled.reindex([v for v in values if v in pooled.index])
        ax.errorbar([position[v] for v in pooled.index], pooled['mean'],
                    yerr=pooled['std'].fillna(0), fmt='o', capsize=4)
        title = f'{metric} against {flag}, averaged over {", ".join(others)}\n' \
                '(each point: all ok runs at that value; bars: their std)'
    else:
        for key, rows in groups:
            key = key if isinstance(key, tuple) else (key,)
            rows = rows.dropna(subset=[f'{metric}_mean'])
            rows = rows.iloc[sorted(range(len(rows)),
                                    key=lambda i: natural_key(rows[flag].iloc[i]))]
            label = _wrapped(', '.join(f'{a}={_value(v)}' for a, v in zip(others, key)),
                             LEGEND_WIDTH) or None
            ax.errorbar([position[v] for v in rows[flag]], rows[f'{metric}_mean'],
                        yerr=rows[f'{metric}_std'].fillna(0), fmt='o-', capsize=4, label=label)
        n = table['n']
        seeds = f'{n.min()}' if n.min() == n.max() else f'{n.min()}-{n.max()}'
        lines = ', one line per ' + ', '.join(others) if others else ''
        title = (f'final {metric} against {flag}{lines}\n'
                 f'(mean over {seeds} seeds; bars: std over seeds)')
        tied = table[table['verdict'] == 'tied']  # rings: each one a setting, as in summary.md
        if not tied.empty:
            ax.scatter([position[v] for v in tied[flag]], tied[f'{metric}_mean'], s=180,
                       facecolors='none', edgecolors='black', lw=1.2, zorder=3,
                       label='tied with the best (paired by seed)')
    _best_band(ax, table, axes, metric)
    if ax.get_legend_handles_labels()[0]:  # none when no run finished ok
        ax.legend(fontsize='small')
    if _log_axis(flag, table[flag]):
        ax.set_xscale('log')
    if not numeric or len(values) <= MAX_LINES:  # a grid's values as ticks; a search's: the axis's
        ax.set_xticks([position[v] for v in values],
                      [_number(v) if numeric else str(v) for v in values])
        ax.minorticks_off()
    if not numeric:
        ax.set_xlim(-0.5, len(values) - 0.5)
    missing = [_value(v) for v in table.loc[table[f'{metric}_mean'].isna(), flag]]
    if missing:  # a line of the title: inside the axes it could lie under the legend
        listed = ', '.join(missing[:4]) + (f' and {len(missing) - 4} more'
                                           if len(missing) > 4 else '')
        title += f'\nno ok run at {flag}={listed}'
    ax.set_xlabel(f'--{flag.replace("_", "-")}')
    ax.set_ylabel(f'final {metric.replace("_", " ")}')
    ax.set_title(_wrapped(title, TITLE_WIDTH), fontsize='medium')
    ax.grid(True, alpha=0.4)
    fig.tight_layout()
    return fig


def heatmap_figure(table: pd.DataFrame, axes: Sequence[str], metric: str,
                   higher_is_better: bool) -> Figure:
    """The mean metric of each cell of a two-flag grid, annotated mean ± std; the best framed."""
    import numpy as np
    plt = d2l.pyplot()
    rows_flag, cols_flag = axes
    row_values = sorted(table[rows_flag].unique(), key=natural_key)
    col_values = sorted(table[cols_flag].unique(), key=natural_key)
    grid = np.full((len(row_values), len(col_values)), np.nan)
    text = [['no ok run'] * len(col_values) for _ in row_values]
    cells = dict(zip(zip(table[rows_flag], table[cols_flag]), _mean_pm_std(table, metric)))
    for _, row in table.iterrows():
        i, j = row_values.index(row[rows_flag]), col_values.index(row[cols_flag])
        grid[i, j] = row[f'{metric}_mean']
        if not missing(row[f'{metric}_mean']):
            text[i][j] = cells[(row[rows_flag], row[cols_flag])].replace(' ± ', '\n± ')
    fig, ax = plt.subplots(figsize=(1.5 * len(col_values) + 2.5, 0.9 * len(row_values) + 1.8))
    cmap = plt.get_cmap('viridis' if higher_is_better else 'viridis_r')
    cmap = cmap.with_extremes(bad='lightgray')  # a cell without an ok run
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect='auto')
    fig.colorbar(image, ax=ax, label=f'mean {metric}')
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(row_values)):
        for j in range(len(col_values)):
            light = np.isfinite(grid[i, j]) and ((grid[i, j] < middle) == higher_is_better)
            ax.text(j, i, text[i][j], ha='center', va='center', fontsize='small',
                    color='white' if light else 'black')
    best = table[table['best']]
    if not best.empty:
        i = row_values.index(best[rows_flag].iloc[0])
        j = col_values.index(best[cols_flag].iloc[0])
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec='red', lw=2.5))
    ax.set_xticks(range(len(col_values)), [_value(v) for v in col_values])
    ax.set_yticks(range(len(row_values)), [_value(v) for v in row_values])
    ax.set_xlabel(f'--{cols_flag.replace("_", "-")}')
    ax.set_ylabel(f'--{rows_flag.replace("_", "-")}')
    ax.set_title(f'mean {metric} ± std over seeds (best framed in red)', fontsize='medium')
    fig.tight_layout()
    return fig


def importances(study) -> dict[str, float]:
    """A search's {flag: importance}, largest first, adding up to 1: Optuna's PED-ANOVA (how
    differently each flag's values spread in the best 10% of the finished trials than in all of
    them; deterministic, and no scikit-learn as fANOVA, Optuna's default, needs). Empty with
    fewer than 4 finished trials or one searched flag."""
    import warnings

    import optuna

    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(finished) < 4 or len({p for t in finished for p in t.params}) < 2:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
        return optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())


def importance_figure(study, path: Path) -> dict[str, float]:
    """Draw a search's importances (importances()) to path as Optuna's bar chart; return them
    ({} and no figure where there are too few finished trials to weigh)."""
    import optuna

    found, path = importances(study), Path(path)
    if not found:
        return found
    finished = len(study.get_trials(deepcopy=False,
                                    states=(optuna.trial.TrialState.COMPLETE,)))
    plt = d2l.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(list(found)[::-1], list(found.values())[::-1])
    ax.set_xlabel('importance (PED-ANOVA: how the best 10% of trials differ from all)')
    ax.set_title(f'What explains the validation accuracy ({finished} finished trials)',
                 fontsize='medium')
    ax.grid(True, axis='x', alpha=0.4)
    fig.tight_layout()
    try:
        _write_png(fig, path)
    finally:
        plt.close(fig)
    return found


def _write_png(fig: Figure, path: Path) -> None:
    """Write a figure to path whole or not at all (a temporary file renamed into place)."""
    with d2l.writing_to(path), d2l.atomic_file(path) as f:
        fig.savefig(f, format='png', dpi=100)  # laid out by tight_layout: drawn once


def _write_text(text: str, path: Path) -> None:
    """Write a text file whole or not at all."""
    with d2l.writing_to(path), d2l.atomic_file(path) as f:
        f.write(text.encode())


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def report(out: Path, axes: list[str], metric: str, higher_is_better: bool,
           show: bool = False, reference: dict | None = None) -> pd.DataFrame:
    """Write summary.md, curves.png, one <flag>.png per swept flag and, for two flags, heatmap.png
    into out from its results.csv and histories; return the summary table (one row per setting,
    with the verdicts against the best: summarize's columns).

    show=True also displays the figures in a notebook (the kit's figure mode decides).
    reference maps each axis column to a value as text (the book's setting, e.g. {'lr': '0.1'}):
    that row is marked `book`; a note says so when no row matches."""
    out = Path(out)
    results = read_results(out)
    needed = [*axes, 'run', 'seed', 'seconds', 'status', metric]
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise d2l.D2LError(f'{out / "results.csv"} has no column {", ".join(missing)}; '
                           'is it the results of this sweep?')
    table = summarize(results, axes, metric, higher_is_better, reference)
    plt = d2l.pyplot()
    figures = {'curves': curves_figure(out, results, table, axes, metric)}
    for flag in axes:
        figures[flag] = flag_figure(flag, results, table, axes, metric)
    if len(axes) == 2:
        figures['heatmap'] = heatmap_figure(table, axes, metric, higher_is_better)
    try:
        _write_text(summary_markdown(table, metric, higher_is_better), out / 'summary.md')
        for name, fig in figures.items():
            _write_png(fig, out / f'{name}.png')
        if show and d2l.figure_mode() == 'notebook':
            from IPython import display
            for fig in figures.values():
                display.display(fig)
    finally:
        for fig in figures.values():
            plt.close(fig)  # neither shown again at the end of a cell nor saved at exit
    return table
