"""`python -m d2l sweep`: run a chapter script over settings and seeds, on an Optuna study.

    python -m d2l sweep ch_softmax/scratch.py --lr 0.03,0.1,0.3 --epochs 2
    python -m d2l sweep ch_mlp/concise.py --hidden 64,256 --lr 0.1,0.3 --seeds 0,1 --out mlp
    python -m d2l sweep ch_mlp/concise.py --valid 10000 --search 20 --lr 0.01..1 --hidden 32..512

A script flag given comma-separated values is an axis of the grid; every (setting, seed) is one
run, `main(argv, on_epoch)` of the script called in a worker process that imported it (and
read the data) once. Every sweep is an Optuna study: a journal file in --out (no server), or
--storage URL (a database; several machines on one sweep). Each (setting, seed) is one trial,
created up front as WAITING and claimed by exactly one worker (Optuna's storage decides who
popped it first), so two commands on one sweep split the work and none runs twice. A rerun
of the same command runs only what is missing. Results: --out/results.csv (one row per run,
appended whole), --out/histories/<run>.json, and the report (d2lkit.sweep_report).

This module reads and checks the line; d2lkit.sweep_runs holds the study, claims and workers.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence
from unittest import mock

import d2l
from d2lkit import script as kit

if TYPE_CHECKING:  # pandas (and optuna, in d2lkit.sweep_runs) load only when a sweep runs
    import pandas

SWEEP_OPTIONS = ('--seeds', '--out', '--workers', '--search', '--storage')
# 2 workers of 1 torch thread each: on 2 cores, 8 runs of ch_softmax/scratch.py (2 epochs) took
# 25-29 s against 134-374 s for 1 worker of 2 threads, whose threads wait on each other whenever
# another program takes a core (measured on a shared 2-core machine).
DEFAULT_WORKERS = 2

HELP = """\
usage: python -m d2l sweep SCRIPT [sweep options] [the script's own flags]

Run a chapter script over a grid of settings and seeds (or an Optuna search), in worker
processes that import the script and read the data once; print the summary table.

A script flag with comma-separated values is an axis of the grid; a flag with one value is
fixed. Each run gets --seed S for each of --seeds.
  python -m d2l sweep ch_softmax/scratch.py --lr 0.03,0.1,0.3 --epochs 2
  python -m d2l sweep ch_mlp/concise.py --lr 0.1,0.3 --activation relu,tanh --seeds 0,1

A flag that takes several values (--hidden 128 256 in ch_mlp/concise.py): the values of one
setting are separated by spaces, settings by commas, the whole axis in quotes:
  --hidden 64,256               two runs of one hidden layer (64 units, then 256)
  --hidden "128 256,512 512"    two settings of two hidden layers each
  --hidden 128 256              fixed: every run has two hidden layers

sweep options (anywhere on the line, never abbreviated):
  --seeds 0,1,2      the seeds of each setting (default 0,1,2); --seed itself is refused
  --out DIR          the results folder (default sweeps/<chapter>-<script>-<hash of the flags>);
                     rerunning the same command there runs only what is missing
  --workers N        worker processes (default %(workers)d, the faster on 2 cores); each gets
                     cores / N torch threads
  --search N         N trials of Optuna's TPE sampler over ranges written lo..hi (log-uniform
                     where lo > 0 and hi/lo >= 10, integer for integer flags); needs --valid N;
                     poor trials are stopped early (successive halving on each epoch's
                     validation accuracy); prints the best trial's test accuracy at the end.
                     A trial runs each seed in turn and scores their mean; the pruner watches
                     its first seed, and a trial it stops gets 'pruned' rows for the others
  --storage URL      keep the study in a database (sqlite:///sweep.db, postgresql://...)
                     instead of DIR/study.log; the same command on several machines splits the
                     work, and a machine's runs lost mid-way are retried (Optuna's heartbeat)

Files in --out: results.csv (one row per run), histories/<run>.json, summary.md, curves.png,
one PNG per swept flag; flags that write files (--plot, --history, --save, --predict) write one
file per run under DIR/files/.
"""


class SweepError(Exception):
    """A bad sweep line: printed as one line, exit 2, before anything is written."""


# ---------------------------------------------------------------------------
# The command line: sweep options, the script, its fixed flags and its axes
# ---------------------------------------------------------------------------


@dataclass
class Axis:
    """One swept flag: its grid values (text as typed, one setting each) or a search range."""

    flag: str
    values: list[str] = field(default_factory=list)
    low: float | None = None  # a range lo..hi (--search only)
    high: float | None = None
    integer: bool = False

    @property
    def column(self) -> str:
        """The flag without its dashes, '-' -> '_': its results.csv column (batch_size)."""
        return self.flag.lstrip('-').replace('-', '_')

    @property
    def is_range(self) -> bool:
        return self.low is not None


@dataclass
class Plan:
    """Everything a sweep needs to know, checked before the first run."""

    script: Path
    fixed: list[str]  # the script's flags that every run gets, as argv tokens
    axes: list[Axis]
    seeds: list[int]
    out: Path
    workers: int
    search: int | None = None
    storage: str | None = None
    file_flags: list[str] = field(default_factory=list)  # flags given one path per run
    classifier: bool = True
    # a regression script with a test set of its own (polynomial, weight decay): its test loss
    test_loss: bool = False

    @property
    def metric(self) -> str:
        if not self.classifier:
            return 'test_loss' if self.test_loss else 'train_loss'
        return 'valid_acc' if '--valid' in self.fixed else 'test_acc'

    @property
    def higher_is_better(self) -> bool:
        return self.classifier

    @property
    def metrics(self) -> list[str]:
        if self.classifier:
            return ['train_loss', 'train_acc', self.metric]
        if self.test_loss:
            return ['train_loss', 'test_loss']
        return ['train_loss', 'w_error', 'b_error']

    @property
    def columns(self) -> list[str]:
        return [
            'run',
            *(a.column for a in self.axes),
            'seed',
            *self.metrics,
            'seconds',
            'status',
            'worker',
        ]

    def config(self) -> dict:
        """What makes this sweep this one (kept in the study; another in --out is refused)."""
        return {
            'script': str(self.script),
            'fixed': self.fixed,
            'axes': {a.flag: [a.low, a.high] if a.is_range else a.values for a in self.axes},
            'seeds': self.seeds,
            'search': self.search,
            'files': self.file_flags,
        }

    @property
    def study_name(self) -> str:
        return 'sweep' if self.storage is None else f'd2l-sweep-{self.out.resolve().name}'

    def settings(self) -> list[dict[str, str]]:
        """Every grid setting, {column: value text}, the first axis varying slowest."""
        grid: list[dict[str, str]] = [{}]
        for axis in self.axes:
            grid = [{**s, axis.column: v} for s in grid for v in axis.values]
        return grid


def split_line(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Take the sweep's own options out of the line, wherever they stand; return them, the rest."""
    options: dict[str, str] = {}
    rest: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, value = token.partition('=')
        if name in SWEEP_OPTIONS:
            if not eq:
                if i + 1 >= len(tokens) or tokens[i + 1].startswith('--'):
                    raise SweepError(f'{name} needs a value, e.g. {name} {_EXAMPLES[name]}')
                value = tokens[i + 1]
                i += 1
            if name in options:
                raise SweepError(f'{name} is given twice; give it once')
            options[name] = value
        else:
            rest.append(token)
        i += 1
    return options, rest


_EXAMPLES = {
    '--seeds': '0,1,2',
    '--out': 'sweeps/lr',
    '--workers': '2',
    '--search': '20',
    '--storage': 'sqlite:///sweep.db',
}


def _is_flag(token: str) -> bool:
    """A flag, not a value: -x or --name (a negative number such as -1 or -1e-3 is a value)."""
    if not token.startswith('-') or token == '-':
        return False
    try:
        float(token)
        return False
    except ValueError:
        return True


def script_flags(tokens: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Group the script's tokens into (flag, values) in order; --flag=value counts as one value."""
    groups: list[tuple[str, list[str]]] = []
    for token in tokens:
        if _is_flag(token):
            name, eq, value = token.partition('=')
            groups.append((name, [value] if eq else []))
        elif not groups:
            raise SweepError(
                f'{token!r} is not a flag; give the script first, then flags such as --lr 0.1,0.3'
            )
        else:
            groups[-1][1].append(token)
    return groups


def _captured_parser(module) -> argparse.ArgumentParser:
    """The script's own parser, caught as its parse_args([]) uses it (built inside it)."""
    if hasattr(module, 'build_parser'):
        return module.build_parser()
    seen: list[argparse.ArgumentParser] = []
    real = argparse.ArgumentParser.parse_known_args

    def spy(self, args=None, namespace=None):
        seen.append(self)
        return real(self, args, namespace)

    with (
        mock.patch.object(argparse.ArgumentParser, 'parse_known_args', spy),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        try:
            module.parse_args([])
        except SystemExit:
            pass
    if not seen:
        raise SweepError(
            f'{module.__file__} has no parse_args(argv) to check its flags with; '
            'sweep a chapter script that has main(argv)'
        )
    return seen[0]


def _is_integer_flag(action: argparse.Action | None) -> bool:
    kind = getattr(action, 'type', None)
    return kind is int or getattr(kind, '__name__', '') == 'positive int'


def _writes_file(action: argparse.Action) -> bool:
    """A flag of type kit.output_file (--plot, --history, --save, --predict ...)."""
    return getattr(action.type, '__name__', '') == 'output file'


def make_plan(argv: Sequence[str]) -> Plan:
    """Read a sweep's command line (without the word sweep) into a Plan; SweepError if bad."""
    options, rest = split_line(argv)
    if not rest or _is_flag(rest[0]):
        raise SweepError(
            'give the script to sweep first, e.g. python -m d2l sweep ch_softmax/scratch.py '
            '--lr 0.03,0.1'
        )
    script = Path(rest[0])
    if not script.is_file():  # a chapter script named from another folder: ch_mlp/scratch.py
        script = Path(d2l.__file__).resolve().parent / rest[0]
    if not script.is_file():
        raise SweepError(
            f'no script {rest[0]}; give a chapter script such as ch_softmax/scratch.py'
        )
    module = load_module(script)
    if not hasattr(module, 'main') or not hasattr(module, 'parse_args'):
        raise SweepError(
            f'{rest[0]} has no main(argv) and parse_args(argv); sweep a chapter script'
        )
    parser = _captured_parser(module)
    actions = {o: a for a in parser._actions for o in a.option_strings}
    search = _count(options, '--search') if '--search' in options else None
    fixed: list[str] = []
    axes: list[Axis] = []
    file_flags = []
    for flag, values in script_flags(rest[1:]):
        if flag == '--seed':
            raise SweepError(
                '--seed is set by the sweep: give --seeds 0,1,2 (each run gets --seed S)'
            )
        action = actions.get(flag)
        # argparse would take a prefix for the flag it starts
        if action is None and flag.startswith('--'):
            matches = sorted(o for o in actions if o.startswith(flag))
            if '--seed' in matches:
                raise SweepError(
                    f'{flag} would be the script\'s --seed, which the sweep sets: give --seeds'
                    ' 0,1,2'
                )
            if matches:
                raise SweepError(
                    f'{flag}: write flags in full in a sweep (did you mean {" or ".join(matches)}?)'
                )
        if action is not None and _writes_file(action):
            file_flags.append(flag)  # one file per run under --out, whatever path was given
            continue
        axis = _axis(flag, values, search is not None, _is_integer_flag(action))
        if axis is None:
            fixed += [flag, *values]
        else:
            axes.append(axis)
    if search is not None and '--valid' not in fixed:
        raise SweepError(
            '--search chooses on a validation split: give --valid N too (e.g. --valid 10000), '
            'never the test set'
        )
    if search is not None and not any(a.is_range or len(a.values) > 1 for a in axes):
        raise SweepError('--search needs something to search: a range such as --lr 0.01..1')
    seeds = _seeds(options.get('--seeds', '0,1,2'))
    workers = _count(options, '--workers') if '--workers' in options else DEFAULT_WORKERS
    plan = Plan(
        script=script.resolve(),
        fixed=fixed,
        axes=axes,
        seeds=seeds,
        out=Path('.'),
        workers=workers,
        search=search,
        storage=options.get('--storage'),
        file_flags=file_flags,
        classifier='--valid' in actions,
        # linear regression (--num-examples) reports its errors in w and b; the others a test loss
        test_loss='--valid' not in actions and '--num-examples' not in actions,
    )
    digest = hashlib.sha1(json.dumps(plan.config(), sort_keys=True).encode()).hexdigest()[:8]
    plan.out = Path(
        options.get('--out') or f'sweeps/{script.resolve().parent.name}-{script.stem}-{digest}'
    )
    return plan


def _count(options: dict[str, str], name: str) -> int:
    text = options[name]
    if not text.isdigit() or int(text) < 1:
        raise SweepError(
            f'{name} takes a positive whole number, got {text!r}; e.g. {name} {_EXAMPLES[name]}'
        )
    return int(text)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(',')]
    except ValueError:
        raise SweepError(
            f'--seeds takes whole numbers separated by commas, got {text!r}; e.g. --seeds 0,1,2'
        ) from None
    if len(set(seeds)) != len(seeds):
        raise SweepError(f'--seeds {text} names a seed twice; give each once')
    return seeds


def _axis(flag: str, values: list[str], search: bool, integer: bool) -> Axis | None:
    """The axis that a flag's values make, or None for a fixed flag."""
    text = ' '.join(values)
    if any('..' in v for v in values):
        if not search:
            raise SweepError(
                f'{flag} {text}: a range lo..hi needs --search N; for a grid give values '
                f'separated by commas, e.g. {flag} 0.01,0.1,1'
            )
        low, _, high = text.partition('..')
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise SweepError(
                f'{flag} {text}: a range is two numbers lo..hi, e.g. {flag} 0.01..1'
            ) from None
        if not lo < hi:
            raise SweepError(
                f'{flag} {text}: the range is empty; give lo < hi, e.g. {flag} {hi}..{lo}'
            )
        if integer and not (lo.is_integer() and hi.is_integer()):
            raise SweepError(f'{flag} takes whole numbers: give a range such as {flag} 32..512')
        return Axis(flag, low=lo, high=hi, integer=integer)
    if not any(',' in v for v in values):
        return None
    if len(values) > 1:
        raise SweepError(
            f'{flag} {text}: to sweep a flag that takes several values, quote the whole axis, '
            f'spaces inside a setting and commas between settings, e.g. {flag} "128 256,512 512"'
        )
    settings = [' '.join(v.split()) for v in values[0].split(',')]
    if any(not s for s in settings):
        raise SweepError(
            f'{flag} {text}: an empty value in the axis; give values such as {flag} 0.03,0.1'
        )
    if len(set(settings)) != len(settings):
        raise SweepError(f'{flag} {text} names a value twice; give each once')
    return Axis(flag, values=settings)


def load_module(script: Path):
    """The script imported once (main() not run); a broken script is a bad file: D2LError."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return kit.load_script(script)
    except SyntaxError as e:
        raise d2l.D2LError(f'{script} does not compile: {e}') from None


# ---------------------------------------------------------------------------
# Each run's argv, and checking them all before the first run
# ---------------------------------------------------------------------------


def run_id(plan: Plan, index: int, seed: int) -> str:
    """A run's short unique id, its history file's stem: g003-s1 (setting 3, seed 1), t003-s1."""
    return f'{"t" if plan.search else "g"}{index:03d}-s{seed}'


def run_argv(
    plan: Plan, setting: dict[str, str], seed: int, run: str, final: bool = False
) -> list[str]:
    """One run's argv: fixed flags, the setting's values, --seed, its own file per file flag.

    final: a search's last run, on the full training set (no --valid) and writing no files."""
    argv = list(plan.fixed)
    if final and '--valid' in argv:
        i = argv.index('--valid')
        del argv[i : i + 2]
    for axis in plan.axes:
        argv += [axis.flag, *setting[axis.column].split()]
    argv += ['--seed', str(seed)]
    for flag in [] if final else plan.file_flags:
        argv += [flag, str(plan.out / 'files' / f'{run}-{flag.lstrip("-")}')]
    return argv


def check_argv(module, argv: list[str], what: str) -> argparse.Namespace:
    """The script's own parse_args on one run's argv; its refusal becomes one SweepError line."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return module.parse_args(argv)
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split('error: ', 1)[-1] if lines else 'refused'
        raise SweepError(f'{what}: {reason} (see {Path(module.__file__).name} --help)') from None


def check_runs(plan: Plan, module) -> list[argparse.Namespace]:
    """Parse every run's flags (for a search: both ends of each range) before any run starts."""
    if plan.search is None:
        settings = plan.settings()
    else:
        settings = []
        for which in (0, 1):
            s = {}
            for a in plan.axes:
                if a.is_range:
                    end = (a.low, a.high)[which]
                    s[a.column] = str(int(end)) if a.integer else repr(end)
                else:
                    s[a.column] = a.values[which % len(a.values)]
            settings.append(s)
        for a in plan.axes:  # every value of a listed axis
            for v in a.values:
                settings.append({**settings[0], a.column: v})
    parsed = []
    for setting in settings:
        for seed in plan.seeds:
            what = f'{plan.script.parent.name}/{plan.script.name}' + (
                ' with ' + ' '.join(f'{k}={v}' for k, v in setting.items()) if setting else ''
            )
            parsed.append(check_argv(module, run_argv(plan, setting, seed, 'check'), what))
    return parsed


# ---------------------------------------------------------------------------
# The sweep: check, prepare, run the workers, report
# ---------------------------------------------------------------------------


def sweep(argv: Sequence[str], show: bool = False) -> 'pandas.DataFrame':
    """Run a sweep from its command line (without the word sweep); return results.csv (DataFrame).

    Raises SweepError for a bad line (before anything is written), d2l.D2LError for a bad file.
    """
    import pandas as pd

    from d2lkit.sweep_runs import (
        Progress,
        existing_config,
        final_run,
        prepare_study,
        read_rows,
        run_workers,
    )

    plan = make_plan(argv)
    module = load_module(plan.script)
    loaded = check_runs(plan, module)
    config = existing_config(plan)
    if config is None and (plan.out / 'results.csv').exists():
        raise SweepError(f'{plan.out} holds a results.csv of no sweep here; give another --out')
    # {}: another command created the study a moment ago and has not written its config yet
    if config and config != json.loads(json.dumps(plan.config())):
        raise SweepError(
            f'{plan.out} holds another sweep ({_config_text(config)}); give another --out '
            'or rerun that sweep\'s own command'
        )
    plan.out.mkdir(parents=True, exist_ok=True)
    already, total = prepare_study(plan)
    if already == total:
        print(f'sweep: all {total} runs already done in {plan.out}', file=sys.stderr)
    elif already:
        print(
            f'sweep: {already} of {total} runs already done in {plan.out}; running the other'
            f' {total - already}',
            file=sys.stderr,
        )
    progress = Progress(plan, already, total)
    try:
        if already < total:
            run_workers(plan, module, loaded, progress, total - already)
        progress.update(final=True)
    except KeyboardInterrupt:
        done = min(len(read_rows(plan.out)), total)
        print(
            f'\ninterrupted: {done} of {total} runs done, kept in {plan.out}; run the same command'
            ' again to run the rest',
            file=sys.stderr,
        )
        raise
    rows = read_rows(plan.out)
    if len(rows) < total:
        print(
            f'sweep: {total - len(rows)} runs still running elsewhere (or lost); rerun the same'
            ' command to finish them',
            file=sys.stderr,
        )
    if plan.search:
        best = final_run(plan, module)
        with d2l.writing_to(plan.out / 'best.txt'), d2l.atomic_file(plan.out / 'best.txt') as f:
            f.write(f'{best}\n'.encode())  # the search's answer, kept beside summary.md
        print(best)
    report(plan, show)
    return pd.read_csv(plan.out / 'results.csv') if rows else pd.DataFrame(columns=plan.columns)


def report(plan: Plan, show: bool) -> None:
    """The report's files and its table printed (d2lkit.sweep_report)."""
    from d2lkit import sweep_report

    table = sweep_report.report(
        plan.out, [a.column for a in plan.axes], plan.metric, plan.higher_is_better, show=show
    )
    print(sweep_report.format_table(table))


def _config_text(config: dict) -> str:
    script = Path(config.get('script', '?'))
    flags = (
        ' '.join(config.get('fixed', []))
        + ' '
        + ' '.join(f'{k} {",".join(map(str, v))}' for k, v in config.get('axes', {}).items())
    )
    return f'{script.parent.name}/{script.name} {flags.strip()}, seeds {config.get("seeds")}'


def flags_argv(flags: dict) -> list[str]:
    """d2l.sweep's keywords as a command line: lr=[0.03, 0.1] -> --lr 0.03,0.1;
    hidden=[[128, 256], [512]]
    -> --hidden '128 256,512'; a tuple is one multi-value setting; True -> the bare flag."""
    argv: list[str] = []
    for name, value in flags.items():
        flag = '--' + name.replace('_', '-')
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv += [
                flag,
                ','.join(
                    ' '.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for v in value
                ),
            ]
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def cli(argv: Sequence[str]) -> None:
    """`python -m d2l sweep ...`: exit 2 with one line for a bad line, 130 after Ctrl-C."""
    argv = list(argv)
    if not argv or '-h' in argv or '--help' in argv:
        print(HELP % {'workers': DEFAULT_WORKERS})
        return
    try:
        sweep(argv)
    except SweepError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
