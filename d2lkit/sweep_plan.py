"""The line of `python -m d2l sweep`, read and checked into a Plan before anything runs.

A Plan says which script, which fixed flags, which axes (a grid's values or a search's ranges),
which seeds, where the results go and which study holds the runs; it gives each run its id and
its argv, and checks every run's flags with the script's own parser. Nothing here trains, opens
a study or writes a file: d2lkit.sweep_runs runs the plan, d2lkit.sweep_report reports it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from unittest import mock

import d2l
from d2lkit import script as kit

SWEEP_OPTIONS = ('--seeds', '--out', '--workers', '--search', '--prune', '--storage', '--study',
                 '--release', '--grid', '--more-seeds')
# --prune: successive halving (the default; halving:N prunes no trial before epoch N), Hyperband
# (several halvings side by side, one of them never pruning), or no early stop
PRUNERS = ('halving', 'halving:N', 'hyperband', 'none')
GRIDS = ('product', 'zip')  # --grid: every combination of the values, or the k-th values together
# 2 workers of 1 torch thread each: on 2 cores, 8 runs of ch_softmax/scratch.py (2 epochs) took
# 25-29 s against 134-374 s for 1 worker of 2 threads, whose threads wait on each other whenever
# another program takes a core (measured on a shared 2-core machine).
DEFAULT_WORKERS = 2


class SweepError(Exception):
    """A bad sweep line: printed as one line, exit 2, before anything is written."""


# ---------------------------------------------------------------------------
# The plan
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
class Run:
    """One planned trial: a grid's (setting, seed), or a search's slot (its setting sampled)."""

    key: str  # the trial's key; a grid's is also its run id (g003-s1), a search's t003
    index: int  # the setting's (or slot's) number
    setting: dict[str, str]  # a grid's values by column; empty for a search slot
    seeds: list[int]  # a grid point: its seed; a search trial runs every seed in turn


@dataclass
class Plan:
    """Everything a sweep needs to know, checked before the first run."""

    script: Path  # resolved
    name: str  # the script as the study records it: relative to the kit (ch_mlp/concise.py)
    fixed: list[str]  # the script's flags that every run gets, as argv tokens
    axes: list[Axis]
    seeds: list[int]
    out: Path
    study: str  # the study's name in a --storage database
    workers: int
    search: int | None = None
    prune: str = 'halving'  # how a search stops poor trials early: one of PRUNERS
    zip: bool = False  # --grid zip: setting k is the k-th value of every swept flag
    # --more-seeds N: where --seeds cannot tell the best from its nearest rival, both run N seeds
    more_seeds: int | None = None
    extra: dict[int, list[int]] = field(default_factory=dict)  # setting index -> its added seeds
    storage: str | None = None
    release: str | None = None  # --release HOST: that host's unfinished runs are run again
    file_flags: list[str] = field(default_factory=list)  # flags given one path per run
    classifier: bool = True
    # a regression script with a test set of its own (polynomial, weight decay): its test loss,
    # and its validation loss where --valid is among the fixed flags (weight decay)
    test_loss: bool = False
    # the data sets the runs read, (--dataset, --data-root): read once before forking workers
    datasets: list[tuple[str, str | None]] = field(default_factory=list)
    # the script's defaults of the swept flags (the book's setting): {column: value text}, or
    # None for a search or where a swept flag has no default
    defaults: dict[str, str] | None = None

    @property
    def metric(self) -> str:
        if not self.classifier:  # a regression with --valid N chooses on its validation loss
            if self.test_loss:
                return 'valid_loss' if '--valid' in self.fixed else 'test_loss'
            return 'train_loss'
        return 'valid_acc' if '--valid' in self.fixed else 'test_acc'

    @property
    def higher_is_better(self) -> bool:
        return self.classifier

    @property
    def metrics(self) -> list[str]:
        if self.classifier:
            return ['train_loss', 'train_acc', self.metric]
        if self.test_loss:  # the test loss shown beside a validation loss chosen on
            return list(dict.fromkeys(['train_loss', self.metric, 'test_loss']))
        return ['train_loss', 'w_error', 'b_error']

    @property
    def columns(self) -> list[str]:
        """results.csv's columns, in order."""
        axes = [a.column for a in self.axes]
        return ['run', *axes, 'seed', *self.metrics, 'seconds', 'status', 'worker', 'host']

    def config(self) -> dict:
        """What makes this sweep this one (kept in the study; another in --out is refused).

        A grid's seeds are not part of it: the same grid with more seeds is the same sweep, and
        a rerun runs only the new seeds. A search trial scores the mean over its seeds, so a
        search's seeds are."""
        config = {
            'script': self.name,
            'fixed': self.fixed,
            'axes': {a.flag: [a.low, a.high] if a.is_range else a.values for a in self.axes},
            'search': self.search,
            'files': self.file_flags,
            # only when not the default: the sweeps kept before --prune and --grid keep their
            # folders
            **({} if self.prune == 'halving' else {'prune': self.prune}),
            **({'grid': 'zip'} if self.zip else {}),
        }
        if self.search:
            config['seeds'] = self.seeds
        return config

    def settings(self) -> list[dict[str, str]]:
        """Every grid setting, {column: value text}, the first axis varying slowest (--grid zip:
        the k-th value of each axis together)."""
        if self.zip:
            return [{a.column: a.values[k] for a in self.axes}
                    for k in range(len(self.axes[0].values))]
        grid: list[dict[str, str]] = [{}]
        for axis in self.axes:
            grid = [{**s, axis.column: v} for s in grid for v in axis.values]
        return grid

    def runs(self) -> list[Run]:
        """Every trial the sweep needs, in order: a grid's settings x seeds, a search's slots."""
        if self.search:
            return [Run(f't{slot:03d}', slot, {}, list(self.seeds)) for slot in range(self.search)]
        settings = self.settings()
        return [
            Run(run_id(self, i, seed), i, setting, [seed])
            for i, setting in enumerate(settings)
            for seed in self.seeds
        ] + [
            Run(run_id(self, i, seed), i, settings[i], [seed])
            for i, seeds in sorted(self.extra.items())
            for seed in seeds
        ]

    def added_seeds(self) -> list[int]:
        """--more-seeds N: the seeds after --seeds' last that bring a setting to N seeds."""
        count = (self.more_seeds or 0) - len(self.seeds)
        return [max(self.seeds) + 1 + k for k in range(max(count, 0))]


# ---------------------------------------------------------------------------
# The line: sweep options, the script, its fixed flags and its axes
# ---------------------------------------------------------------------------


def make_plan(argv: Sequence[str]) -> Plan:
    """Read a sweep's command line (without the word sweep) into a Plan, every run's flags
    checked by the script's own parser; SweepError if bad, before anything runs."""
    options, rest = split_line(argv)
    script = find_script(rest)
    module = load_module(script)
    actions = script_actions(module, rest[0])
    search = _count(options, '--search') if '--search' in options else None
    fixed, axes, file_flags = read_flags(rest[1:], actions, search is not None)
    if search is not None:
        check_search(fixed, axes)
    prune = _pruner(options, search)
    zipped = _zipped(options, search, axes)
    plan = Plan(
        script=script.resolve(),
        name=script_name(script),
        fixed=fixed,
        axes=axes,
        seeds=seeds_of(options.get('--seeds', '0,1,2')),
        out=Path('.'),
        study='',
        workers=_workers(options),
        search=search,
        prune=prune,
        zip=zipped,
        more_seeds=_more_seeds(options, search),
        storage=options.get('--storage'),
        release=options.get('--release'),
        file_flags=file_flags,
        classifier='--dataset' in actions,  # the image scripts
        # linear regression (--num-examples) reports its errors in w and b; the others a test loss
        test_loss='--dataset' not in actions and '--num-examples' not in actions,
    )
    if plan.more_seeds is not None and plan.more_seeds <= len(plan.seeds):
        raise SweepError(f'--more-seeds {plan.more_seeds} adds nothing to {len(plan.seeds)} seeds'
                         f' (--seeds {options.get("--seeds", "0,1,2")}); give more, e.g. '
                         f'--more-seeds {len(plan.seeds) + 7}')
    plan.out, plan.study = out_and_study(plan, options)
    plan.defaults = None if search else _defaults(axes, actions)
    parsed = check_runs(plan, module)
    plan.datasets = sorted({(a.dataset, a.data_root) for a in parsed if getattr(a, 'dataset', None)},
                           key=str)
    return plan


def _pruner(options: dict[str, str], search: int | None) -> str:
    """--prune: one of PRUNERS (halving:N with N a positive number of epochs), for a search."""
    prune = options.get('--prune', PRUNERS[0])
    name, _, epochs = prune.partition(':')
    if not (prune in PRUNERS or name == 'halving' and epochs.isdigit() and int(epochs) > 0):
        raise SweepError(f'--prune takes {", ".join(PRUNERS)} (N: the epochs before any pruning),'
                         f' got {prune!r}')
    if prune != PRUNERS[0] and search is None:
        raise SweepError('--prune is for a search: give --search N too (a grid runs every epoch)')
    return prune


def _zipped(options: dict[str, str], search: int | None, axes: list[Axis]) -> bool:
    """--grid zip: the swept flags have as many values each; --grid product: the default."""
    grid = options.get('--grid', GRIDS[0])
    if grid not in GRIDS:
        raise SweepError(f'--grid takes {" or ".join(GRIDS)}, got {grid!r}')
    if grid == GRIDS[0]:
        for a in axes:  # a value twice would be a setting twice
            if not a.is_range and len(set(a.values)) != len(a.values):
                raise SweepError(f'{a.flag} {",".join(a.values)} names a value twice; give each '
                                 'once')
        return False
    if search is not None:
        raise SweepError('--grid zip is for a grid; a search draws its settings itself')
    counts = {a.flag: len(a.values) for a in axes}
    if len(set(counts.values())) > 1:
        listed = ', '.join(f'{flag} {n}' for flag, n in counts.items())
        raise SweepError(f'--grid zip pairs the k-th values of the swept flags, which need as many '
                         f'values each; got {listed}')
    settings = list(zip(*(a.values for a in axes)))
    if len(set(settings)) != len(settings):  # a flag may repeat a value, a whole setting not
        raise SweepError('--grid zip names a setting twice (the same k-th values); give each once')
    return True


def _more_seeds(options: dict[str, str], search: int | None) -> int | None:
    """--more-seeds N, for a grid: N seeds in all for the best and its nearest rival."""
    if '--more-seeds' not in options:
        return None
    if search is not None:
        raise SweepError('--more-seeds is for a grid; a search scores each trial on --seeds')
    return _count(options, '--more-seeds')


def split_line(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Take the sweep's own options out of the line, wherever they stand; return them, the rest."""
    options: dict[str, str] = {}
    rest: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, value = token.partition('=')
        if name not in SWEEP_OPTIONS:
            rest.append(token)
            i += 1
            continue
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith('--'):
                raise SweepError(f'{name} needs a value, e.g. {name} {_EXAMPLES[name]}')
            value = tokens[i + 1]
            i += 1
        if not value.strip():
            raise SweepError(f'{name} is empty; give a value, e.g. {name} {_EXAMPLES[name]}')
        if name in options:
            raise SweepError(f'{name} is given twice; give it once')
        options[name] = value
        i += 1
    return options, rest


_EXAMPLES = {
    '--seeds': '0,1,2',
    '--out': 'sweeps/lr',
    '--workers': '2',
    '--search': '20',
    '--prune': 'none',
    '--storage': 'sqlite:///sweep.db',
    '--study': 'mlp-lr',
    '--release': 'HOSTNAME',
    '--grid': 'zip',
    '--more-seeds': '10',
}


def find_script(rest: list[str]) -> Path:
    """The chapter script the line names first: as a path, or relative to the kit's folder."""
    if not rest or _is_flag(rest[0]):
        raise SweepError(
            'give the script to sweep first, e.g. python -m d2l sweep ch_softmax/scratch.py '
            '--lr 0.03,0.1'
        )
    script = Path(rest[0])
    if not script.is_file():  # a chapter script named from another folder: ch_mlp/scratch.py
        script = KIT / rest[0]
    if not script.is_file():
        raise SweepError(
            f'no script {rest[0]}; give a chapter script such as ch_softmax/scratch.py'
        )
    return script


KIT = Path(d2l.__file__).resolve().parent  # the checkout (or install) the chapter scripts are in


def script_name(script: Path) -> str:
    """The script as a study records it: relative to the kit's folder (ch_mlp/concise.py), so
    two checkouts in different folders, on two machines, run the same sweep; else its full path."""
    path = script.resolve()
    return path.relative_to(KIT).as_posix() if path.is_relative_to(KIT) else str(path)


def script_actions(module, name: str) -> dict[str, argparse.Action]:
    """The script's flags ({'--lr': its argparse action}), read from its own parser."""
    if not hasattr(module, 'main') or not hasattr(module, 'parse_args'):
        raise SweepError(f'{name} has no main(argv) and parse_args(argv); sweep a chapter script')
    parser = _captured_parser(module)
    return {o: a for a in parser._actions for o in a.option_strings}


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


def _is_numeric_flag(action: argparse.Action | None) -> bool:
    """A flag whose type turns '1' and '0.5' (or '1' alone, for integers) into numbers."""
    kind = getattr(action, 'type', None)
    if kind is None:
        return False
    for probe in ('0.5', '1'):
        try:
            value = kind(probe)
        except (argparse.ArgumentTypeError, TypeError, ValueError):
            continue
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _writes_file(action: argparse.Action) -> bool:
    """A flag of type kit.output_file (--plot, --history, --save, --predict ...)."""
    return getattr(action.type, '__name__', '') == 'output file'


def read_flags(
    tokens: Sequence[str], actions: dict[str, argparse.Action], search: bool
) -> tuple[list[str], list[Axis], list[str]]:
    """The script's part of the line: (fixed flags as argv tokens, axes, file-writing flags)."""
    fixed: list[str] = []
    axes: list[Axis] = []
    file_flags: list[str] = []
    for flag, values in script_flags(tokens):
        action = _action(flag, actions)
        if action is not None and _writes_file(action):
            file_flags.append(flag)  # one file per run under --out, whatever path was given
            continue
        axis = _axis(flag, values, search, action)
        if axis is None:
            fixed += [flag, *values]
        else:
            axes.append(axis)
    return fixed, axes, file_flags


def _action(flag: str, actions: dict[str, argparse.Action]) -> argparse.Action | None:
    """The script's action for a flag written in full; refuse --seed and abbreviations."""
    if flag == '--seed':
        raise SweepError('--seed is set by the sweep: give --seeds 0,1,2 (each run gets --seed S)')
    action = actions.get(flag)
    if action is None and flag.startswith('--'):  # argparse would take a prefix for its flag
        matches = sorted(o for o in actions if o.startswith(flag))
        if '--seed' in matches:
            raise SweepError(
                f"{flag} would be the script's --seed, which the sweep sets: give --seeds 0,1,2"
            )
        if matches:
            raise SweepError(
                f'{flag}: write flags in full in a sweep (did you mean {" or ".join(matches)}?)'
            )
    return action


def _defaults(axes: list[Axis], actions: dict[str, argparse.Action]) -> dict[str, str] | None:
    """The script's default value of each swept flag, as a setting's text ('256 256' for a list);
    None with no swept flag: the one setting is then whatever the fixed flags make it (best.py
    --batchnorm is not the book's), and there is nothing beside it to compare."""
    if not axes:
        return None
    defaults = {}
    for a in axes:
        value = getattr(actions.get(a.flag), 'default', None)
        if value is None:
            return None
        defaults[a.column] = ' '.join(map(str, value)) if isinstance(value, list) else str(value)
    return defaults


def check_search(fixed: list[str], axes: list[Axis]) -> None:
    """A search chooses on validation, over something to search."""
    if '--valid' not in fixed:
        raise SweepError(
            '--search chooses on a validation split: give --valid N too (e.g. --valid 10000), '
            'never the test set'
        )
    if not any(a.is_range or len(a.values) > 1 for a in axes):
        raise SweepError('--search needs something to search: a range such as --lr 0.01..1')


def out_and_study(plan: Plan, options: dict[str, str]) -> tuple[Path, str]:
    """--out (default: a folder named by the script and a hash of its flags) and the study's name.

    The name in a database is --out as typed, relative to where the command runs (so
    `--out sweeps/shared` in two checkouts is one study), unless --study names it; a journal
    file holds one study, 'sweep'."""
    digest = hashlib.sha1(json.dumps(plan.config(), sort_keys=True).encode()).hexdigest()[:8]
    out = options.get('--out') or f'sweeps/{plan.script.parent.name}-{plan.script.stem}-{digest}'
    if plan.storage is None:
        if '--study' in options:
            raise SweepError('--study names a study in a --storage database; give --storage too')
        return Path(out), 'sweep'
    return Path(out), options.get('--study') or Path(os.path.normpath(out)).as_posix()


def _count(options: dict[str, str], name: str) -> int:
    text = options[name]
    if not text.isdigit() or int(text) < 1:
        raise SweepError(
            f'{name} takes a positive whole number, got {text!r}; e.g. {name} {_EXAMPLES[name]}'
        )
    return int(text)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _workers(options: dict[str, str]) -> int:
    """--workers: 1 to the number of cores (more would only make the runs wait on each other)."""
    if '--workers' not in options:
        return min(DEFAULT_WORKERS, cores())
    workers = _count(options, '--workers')
    if workers > cores():
        raise SweepError(
            f'--workers {workers}: this machine has {cores()} cores, each worker needs one; '
            f'give at most --workers {cores()}'
        )
    return workers


def seeds_of(text: str) -> list[int]:
    """The seeds of --seeds: 0,1,2, or an inclusive range 0..9, or both: 0..4,10."""
    seeds: list[int] = []
    try:
        for part in text.split(','):
            low, dots, high = part.partition('..')
            seeds += list(range(int(low), int(high) + 1)) if dots else [int(part)]
    except ValueError:
        raise SweepError(
            f'--seeds takes whole numbers separated by commas, or a range lo..hi, got {text!r};'
            ' e.g. --seeds 0,1,2 or --seeds 0..9'
        ) from None
    if not seeds:
        raise SweepError(f'--seeds {text} is an empty range; give lo <= hi, e.g. --seeds 0..9')
    if len(set(seeds)) != len(seeds):
        raise SweepError(f'--seeds {text} names a seed twice; give each once')
    return seeds


def _axis(flag: str, values: list[str], search: bool, action: argparse.Action | None
          ) -> Axis | None:
    """The axis that a flag's values make, or None for a fixed flag.

    lo..hi is a range only for a numeric flag (--data-root ../data is a path)."""
    text = ' '.join(values)
    if _is_numeric_flag(action) and any('..' in v for v in values):
        return _range(flag, text, search, _is_integer_flag(action))
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
    return Axis(flag, values=settings)


def _range(flag: str, text: str, search: bool, integer: bool) -> Axis:
    """A search range lo..hi of a numeric flag."""
    if not search:
        raise SweepError(
            f'{flag} {text}: a range lo..hi needs --search N; for a grid give values '
            f'separated by commas, e.g. {flag} 0.01,0.1,1'
        )
    low, _, high = text.partition('..')
    try:
        lo, hi = float(low), float(high)
    except ValueError:
        raise SweepError(f'{flag} {text}: a range is two numbers lo..hi, e.g. {flag} 0.01..1'
                         ) from None
    if not lo < hi:
        raise SweepError(
            f'{flag} {text}: the range is empty; give lo < hi, e.g. {flag} {hi}..{lo}'
        )
    if integer and not (lo.is_integer() and hi.is_integer()):
        raise SweepError(f'{flag} takes whole numbers: give a range such as {flag} 32..512')
    return Axis(flag, low=lo, high=hi, integer=integer)


@functools.lru_cache(maxsize=None)
def load_module(script: Path):
    """The script imported once a process (main() not run; a forked worker inherits it); a
    broken script is a bad file: D2LError."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return kit.load_script(script)
    except SyntaxError as e:
        raise d2l.D2LError(f'{script} does not compile: {e}') from None


# ---------------------------------------------------------------------------
# Each run's id and argv, and checking them all before the first run
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
    settings = plan.settings() if plan.search is None else _search_corners(plan)
    parsed = []
    for setting in settings:
        for seed in plan.seeds:
            what = plan.name + (
                ' with ' + ' '.join(f'{k}={v}' for k, v in setting.items()) if setting else ''
            )
            parsed.append(check_argv(module, run_argv(plan, setting, seed, 'check'), what))
    return parsed


def _search_corners(plan: Plan) -> list[dict[str, str]]:
    """A search's settings to check: both ends of every range, every value of every list."""
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
    for a in plan.axes:
        for v in a.values:
            settings.append({**settings[0], a.column: v})
    return settings
