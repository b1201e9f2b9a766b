"""Numbers in the answers' notes, filled in from each answer's results.csv as the key is written.

A note of a run answer (d2lkit/exercise_notes.py) types no measured number: it names each one in
braces, and the answer key puts in the value computed from that answer's results.csv with
d2lkit.sweep_report.summarize (the same table as the answer's summary.md):

    {METRIC[.STAT][:FORMAT][@SETTING]}    a number of the table
    {VERDICT[.word]@SETTING}              the setting's comparison with the best, asserted
    {AXIS@SETTING}                        a swept flag's value in that setting

METRIC  a metric of results.csv (valid_acc, test_acc, train_loss, w_error, test_loss), seconds,
        vs_best (the setting's difference from the best, paired by seed), or a count: n,
        diverged, pruned, failed, pairs.
STAT    none: 'mean ± std' (vs_best: 'difference ± half-width of its 95% interval');
        mean, std, ci95 (vs_best's half-width), or sK: the run with seed K, read from
        results.csv whatever its status (a diverged run's numbers too).
FORMAT  a Python format spec for this one number, e.g. :.4f.
SETTING axis=value pairs joined by commas, values as results.csv writes them (hidden=256,
        lr=0.03,batch_size=64, dropout=0.2 0.5); numbers compare by value (0.10 is 0.1); or
        `best` (the best setting) or `book` (the script's defaults), which a search's chosen
        setting needs, its values being drawn afresh by each run. Left out where the sweep has
        a single setting. ID:SETTING reads another answer's table (@0.17/mlp-scratch.1:hidden=256),
        ID#STAGE:SETTING one of its further sweeps (@0.17/mlp-scratch.4#confirm:book).
TOTALS  {runs}, {pruned_runs} and {worker_minutes}, with no SETTING: the sweep's runs, those
        pruned, and their seconds added up in minutes (each worker on its share of the cores),
        for what a search cost; another sweep's with an empty SETTING: {runs@ID#STAGE:}.
AXIS    a swept flag's value in that setting ({batch_size@best}: what a search chose), as
        results.csv writes it (numbers to 6 significant digits, or :FORMAT).
VERDICT best, tied, worse, better or na. The placeholder renders readable text, e.g. 'tied with
        the best (−0.018 ± 0.050 over 3 seeds)' ({VERDICT.word@SETTING}: the word alone), and
        asserts the verdict: when the computed one differs, the key is not written (NoteError,
        one line). Verdicts compare the sweep's metric (summary.md's), paired by seed.

A code answer's note names the cells of its snippet's table (table.csv beside table.txt):

    {COLUMN[.STAT][:FORMAT][@KEY=VALUE]}

COLUMN  a column of the table, as its header reads (`closed form`, `seconds`).
KEY=VALUE the row whose column KEY holds VALUE (numbers by value), or where one column is not
        enough, several pairs joined by ' & '; left out for a one-row table.
STAT    instead of a row: min or max of the column, argmin / argmax: the first column's value
        in the row holding the column's min or max (`{seconds.argmax}` names the slowest), or
        count: how many cells the column fills.
FORMAT  a Python format spec; default 4 significant digits. A cell holding a list ([0.1, 0.2])
        is written element by element, joined by commas.

Default formats: accuracies (*_acc) 3 decimals; seconds 1 decimal; counts as integers; every
other number (losses, errors in w and b) 2 significant digits (0.40, 4.9e-5, 1.9e4), its std
to the mean's decimals where the mean needs no exponent (0.44 ± 0.01). A
negative number is written with a minus sign (−), a difference with its sign.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import d2l
from d2lkit import sweep_report

if TYPE_CHECKING:
    import pandas as pd

PLACEHOLDER = re.compile(r'\{([^{}]+)\}')
VERDICTS = ('best', 'tied', 'worse', 'better', 'na')
COUNTS = ('n', 'diverged', 'pruned', 'failed', 'pairs')
# ID:SETTING, another answer's table; ID#STAGE:SETTING, one of its further sweeps
_OTHER = re.compile(r'^(\d\.\d+/[a-z-]+\.\d+(?:#[a-z0-9-]+)?):(.*)$')
TOTALS = ('runs', 'pruned_runs', 'worker_minutes')
_SEED = re.compile(r'^s(\d+)$')


class NoteError(d2l.D2LError):
    """A note that cannot be filled in or whose claim the numbers do not support (one line)."""


@dataclass
class Answer:
    """A run answer's numbers: its results.csv, the summary table and how it was judged."""

    folder: Path
    results: pd.DataFrame
    table: pd.DataFrame
    axes: list[str]
    metric: str
    higher_is_better: bool


def load(folder: Path, axes: list[str], metric: str, higher_is_better: bool,
         reference: dict | None) -> Answer:
    """An answer folder's results.csv summarized as its sweep's report does."""
    results = sweep_report.read_results(folder)
    table = sweep_report.summarize(results, axes, metric, higher_is_better, reference)
    return Answer(Path(folder), results, table, axes, metric, higher_is_better)


def _short_exponent(text: str) -> str:
    """A formatted number's exponent without + or leading zeros: 2.9e+09 -> 2.9e9."""
    if 'e' not in text or 'inf' in text:
        return text
    mantissa, exponent = text.split('e')
    return f'{mantissa.rstrip(".")}e{int(exponent)}'


def _number(value: float, column: str, spec: str = '', signed: bool = False) -> str:
    """One number in the default format of its column (or spec); a minus sign for negatives."""
    if spec:
        text = format(value, spec)
    elif column in COUNTS:
        text = str(int(value))
    elif column == 'seconds':
        text = f'{value:.1f}'
    elif column.endswith('_acc'):
        text = f'{value:.3f}'
    else:  # 2 significant digits, trailing zero kept (0.40), exponent without + or leading 0
        text = _short_exponent(f'{value:#.2g}'.rstrip('.'))
    if signed and not text.startswith('-'):
        text = '+' + text
    return text.replace('-', '−')


def _row(answer: Answer, setting: str, where: str) -> pd.Series:
    """The table's row of setting ('hidden=256', '' for a one-setting sweep, best, book)."""
    if setting in ('best', 'book'):
        marked = answer.table[answer.table['best' if setting == 'best' else 'reference']]
        if marked.empty:
            raise NoteError(f'{where}: no setting is marked {setting} in '
                            f'{answer.folder / "results.csv"}')
        return marked.iloc[0]
    pairs = [p.split('=', 1) for p in setting.split(',')] if setting else []
    if any(len(p) != 2 for p in pairs) or {a for a, _ in pairs} != set(answer.axes):
        raise NoteError(f'{where}: the setting names {", ".join(a for a, *_ in pairs) or "no axis"}'
                        f'; this table\'s axes are {", ".join(answer.axes) or "none"}')
    want = {a.strip(): v.strip() for a, v in pairs}
    for _, row in answer.table.iterrows():
        if all(sweep_report.same_value(row[a], want[a]) for a in answer.axes):
            return row
    raise NoteError(f'{where}: no setting {setting} in {answer.folder / "results.csv"}')


def _seed_value(answer: Answer, row: pd.Series, column: str, seed: int, where: str) -> float:
    """The value of column in the run of row's setting with that seed, from results.csv."""
    runs = answer.results[answer.results['seed'] == seed]
    for a in answer.axes:
        runs = runs[[sweep_report.same_value(v, row[a]) for v in runs[a]]]
    if runs.empty:
        raise NoteError(f'{where}: no run with seed {seed} in {answer.folder / "results.csv"}')
    return float(runs[column].iloc[0])


def _verdict_text(answer: Answer, row: pd.Series) -> str:
    """The verdict of row as words with its paired difference."""
    verdict = row['verdict']
    if verdict == 'best':
        return f'the best by mean {answer.metric}'
    if verdict.startswith('n/a'):
        return f'not comparable with the best ({verdict})'
    diff = (f'{_number(row["vs_best"], answer.metric, signed=True)} ± '
            f'{_number(row["ci95"], answer.metric)} over {int(row["pairs"])} seeds')
    words = {'tied': 'tied with the best', 'worse': 'worse than the best',
             'better': 'better than the best'}[verdict]
    return f'{words} ({diff})'


def render_one(answer: Answer, text: str, where: str) -> str:
    """The value of one placeholder's text (what stands between the braces)."""
    where = f'{where}: {{{text}}}'
    head, _, setting = text.partition('@')
    if head in TOTALS:
        if setting:
            raise NoteError(f'{where}: {head} counts the whole sweep; it takes no setting')
        if head == 'runs':
            return str(len(answer.results))
        if head == 'pruned_runs':
            return str(int((answer.results['status'] == 'pruned').sum()))
        return f'{answer.results["seconds"].astype(float).sum() / 60:.1f}'
    row = _row(answer, setting.strip(), where)
    claim, _, form = head.partition('.')
    if claim in VERDICTS:
        computed = row['verdict']
        if computed.split(':')[0].replace('/', '') != claim:
            raise NoteError(f'{where} claims {claim}, but the computed verdict of '
                            f'{setting or "its setting"} is {computed} '
                            f'({_verdict_text(answer, row)})')
        if form not in ('', 'word'):
            raise NoteError(f'{where}: a verdict takes .word (the verdict alone) or nothing')
        return computed if form else _verdict_text(answer, row)
    head, _, spec = head.partition(':')
    column, _, stat = head.partition('.')
    if column in answer.axes:  # a swept flag's value, e.g. the batch size a search chose
        if stat:
            raise NoteError(f'{where}: {column} is a swept flag; its value takes no .{stat}')
        value = row[column]
        return format(value, spec or 'g') if isinstance(value, Real) else str(value)
    if column == 'vs_best':
        numbers = {'mean': ('vs_best', True), '': ('vs_best', True), 'ci95': ('ci95', False)}
        if stat not in numbers or sweep_report.missing(row['vs_best']):
            raise NoteError(f'{where}: vs_best takes no .{stat} here' if stat not in numbers
                            else f'{where}: this setting has no paired difference')
        name, signed = numbers[stat]
        value = _number(row[name], answer.metric, spec, signed=signed)
        if stat == '' and not sweep_report.missing(row['ci95']):
            value += f' ± {_number(row["ci95"], answer.metric, spec)}'
        return value
    if column in COUNTS:
        if stat:
            raise NoteError(f'{where}: a count takes no .{stat}')
        return _number(row[column], column, spec)
    if f'{column}_mean' not in answer.table.columns:
        known = [c[:-5] for c in answer.table.columns if c.endswith('_mean')]
        raise NoteError(f'{where}: no column {column} (known: {", ".join(known)}, vs_best, '
                        f'{", ".join(COUNTS)}, or a verdict {"/".join(VERDICTS)})')
    seed = _SEED.match(stat)
    if seed:
        return _number(_seed_value(answer, row, column, int(seed[1]), where), column, spec)
    if stat in ('mean', 'std'):
        return _number(row[f'{column}_{stat}'], column, spec)
    if stat:
        raise NoteError(f'{where}: unknown statistic .{stat} (mean, std, sK for seed K)')
    mean, std = row[f'{column}_mean'], row[f'{column}_std']
    if sweep_report.missing(mean):
        raise NoteError(f'{where}: this setting has no run that finished ok')
    if sweep_report.missing(std):
        return _number(mean, column, spec)
    shown = _number(mean, column, spec)
    if not spec and _number(mean, column) == _number(mean, 'x') and 'e' not in shown:
        # 2 significant digits: the std to the mean's decimals (0.44 ± 0.01, not ± 0.0082)
        decimals = len(shown.partition('.')[2])
        return f'{shown} ± {_number(std, column, f".{decimals}f")}'
    return f'{shown} ± {_number(std, column, spec)}'


def render(note: str, answer: Answer, where: str,
           other: Callable[[str], Answer] | None = None) -> str:
    """note with each {placeholder} replaced by its value; where names the note in errors;
    other(ID) gives another answer's numbers for an ID:SETTING placeholder."""
    def value(match: re.Match) -> str:
        text = match[1]
        head, sep, setting = text.partition('@')
        elsewhere = _OTHER.match(setting)
        if elsewhere:
            if other is None:
                raise NoteError(f'{where}: {{{text}}}: no other answer can be read here')
            return render_one(other(elsewhere[1]), f'{head}@{elsewhere[2]}', where)
        return render_one(answer, text, where)
    return PLACEHOLDER.sub(value, note)


def has_placeholders(note: str) -> bool:
    """True when note names a number to fill in."""
    return bool(PLACEHOLDER.search(note))


# ---------------------------------------------------------------------------
# A code answer's table
# ---------------------------------------------------------------------------

TABLE_STATS = ('min', 'max', 'argmin', 'argmax', 'count')


def _cell(value: object, spec: str) -> str:
    """One cell as text: a number in spec (default 4 significant digits), a list element by
    element, other text as it is."""
    import ast
    if isinstance(value, str) and value.startswith('['):  # a list, as pandas writes one
        try:
            items = ast.literal_eval(value.replace('nan', 'None').replace('inf', '"inf"'))
        except (ValueError, SyntaxError):
            return value
        return ', '.join('nan' if v is None else _cell(v, spec) for v in items)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not spec and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return _short_exponent(format(value, spec or '.4g')).replace('-', '−')


def render_table(note: str, table: pd.DataFrame, where: str) -> str:
    """note with each {placeholder} replaced by a cell (or a column's min, max, argmin, argmax)
    of a code answer's table; NoteError (one line) for a column or row that is not there."""
    def value(match: re.Match) -> str:
        text = match[1]
        head, _, row = text.partition('@')
        head, _, spec = head.partition(':')
        column, dot, stat = head.rpartition('.')
        if not dot or stat not in TABLE_STATS:
            column, stat = head, ''
        if column not in table.columns:
            raise NoteError(f'{where}: {{{text}}}: no column {column!r} (the table has '
                            f'{", ".join(map(repr, table.columns))})')
        if stat:
            if row:
                raise NoteError(f'{where}: {{{text}}}: .{stat} takes the whole column, no row')
            if stat == 'count':
                return str(int(table[column].notna().sum()))
            numbers = table[column].astype(float)
            if stat in ('min', 'max'):
                return _cell(float(getattr(numbers, stat)()), spec)
            at = numbers.idxmin() if stat == 'argmin' else numbers.idxmax()
            return _cell(table.iloc[table.index.get_loc(at), 0], spec)
        if not row:
            if len(table) != 1:
                raise NoteError(f'{where}: {{{text}}}: the table has {len(table)} rows; name one '
                                f'with @{table.columns[0]}=VALUE')
            return _cell(table[column].iloc[0], spec)
        rows = table
        for pair in row.split(' & '):
            key, eq, wanted = pair.partition('=')
            if not eq or key not in table.columns:
                raise NoteError(f'{where}: {{{text}}}: a row is named KEY=VALUE (or several, '
                                'joined by " & "), KEY a column')
            rows = rows[[sweep_report.same_value(v, wanted) for v in rows[key]]]
        if len(rows) != 1:
            raise NoteError(f'{where}: {{{text}}}: {len(rows)} rows with {row}; name one')
        return _cell(rows[column].iloc[0], spec)
    return PLACEHOLDER.sub(value, note)
