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
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import io
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence
from unittest import mock

import d2l

if TYPE_CHECKING:  # optuna and pandas load only when a sweep runs
    import optuna
    import pandas

SWEEP_OPTIONS = ('--seeds', '--out', '--workers', '--search', '--storage')
FILE_FLAGS = ('--plot', '--history', '--save', '--predict')  # plus any flag of type d2l.output_file
STATUSES = ('ok', 'diverged', 'pruned', 'failed')
HOST = socket.gethostname()
DEFAULT_WORKERS = 1  # measured on 2 cores: see the report of benchmarks/ and docs/sweep.md

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
                     validation accuracy); prints the best trial's test accuracy at the end
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
        """The flag without its dashes, '-' -> '_': the results.csv column (--batch-size -> batch_size)."""
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

    @property
    def metric(self) -> str:
        if not self.classifier:
            return 'train_loss'
        return 'valid_acc' if '--valid' in self.fixed else 'test_acc'

    @property
    def higher_is_better(self) -> bool:
        return self.classifier

    @property
    def metrics(self) -> list[str]:
        return ['train_loss', 'train_acc', self.metric] if self.classifier else ['train_loss', 'w_error', 'b_error']

    @property
    def columns(self) -> list[str]:
        return ['run', *(a.column for a in self.axes), 'seed', *self.metrics, 'seconds', 'status', 'worker']

    def config(self) -> dict:
        """What makes this sweep this sweep (stored in the study; another one in --out is refused)."""
        return {'script': str(self.script), 'fixed': self.fixed,
                'axes': {a.flag: [a.low, a.high] if a.is_range else a.values for a in self.axes},
                'seeds': self.seeds, 'search': self.search}

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
    """Take the sweep's own options out of the line, wherever they stand; return them and the rest."""
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


_EXAMPLES = {'--seeds': '0,1,2', '--out': 'sweeps/lr', '--workers': '2', '--search': '20',
             '--storage': 'sqlite:///sweep.db'}


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
            raise SweepError(f'{token!r} is not a flag; give the script first, then flags such as --lr 0.1,0.3')
        else:
            groups[-1][1].append(token)
    return groups


def _captured_parser(module) -> argparse.ArgumentParser:
    """The script's own parser, caught as its parse_args([]) uses it (the scripts build it inside)."""
    if hasattr(module, 'build_parser'):
        return module.build_parser()
    seen: list[argparse.ArgumentParser] = []
    real = argparse.ArgumentParser.parse_known_args

    def spy(self, args=None, namespace=None):
        seen.append(self)
        return real(self, args, namespace)

    with mock.patch.object(argparse.ArgumentParser, 'parse_known_args', spy), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            module.parse_args([])
        except SystemExit:
            pass
    if not seen:
        raise SweepError(f'{module.__file__} has no parse_args(argv) to check its flags with; '
                         'sweep a chapter script that has main(argv)')
    return seen[0]


def _is_integer_flag(action: argparse.Action | None) -> bool:
    kind = getattr(action, 'type', None)
    return kind is int or getattr(kind, '__name__', '') == 'positive int'


def _writes_file(action: argparse.Action) -> bool:
    return any(o in FILE_FLAGS for o in action.option_strings) or \
        getattr(action.type, '__name__', '') == 'output file'


def make_plan(argv: Sequence[str]) -> Plan:
    """Read a sweep's command line (without the word sweep) into a Plan; SweepError for a bad one."""
    options, rest = split_line(argv)
    if not rest or _is_flag(rest[0]):
        raise SweepError('give the script to sweep first, e.g. python -m d2l sweep ch_softmax/scratch.py '
                         '--lr 0.03,0.1')
    script = Path(rest[0])
    if not script.is_file():
        raise SweepError(f'no script {rest[0]}; give a chapter script such as ch_softmax/scratch.py')
    module = load_module(script)
    if not hasattr(module, 'main') or not hasattr(module, 'parse_args'):
        raise SweepError(f'{rest[0]} has no main(argv) and parse_args(argv); sweep a chapter script')
    parser = _captured_parser(module)
    actions = {o: a for a in parser._actions for o in a.option_strings}
    search = _count(options, '--search') if '--search' in options else None
    fixed: list[str] = []
    axes: list[Axis] = []
    file_flags = []
    for flag, values in script_flags(rest[1:]):
        if flag == '--seed':
            raise SweepError('--seed is set by the sweep: give --seeds 0,1,2 (each run gets --seed S)')
        action = actions.get(flag)
        if action is not None and _writes_file(action):
            file_flags.append(flag)  # one file per run under --out, whatever path was given
            continue
        axis = _axis(flag, values, search is not None, _is_integer_flag(action))
        if axis is None:
            fixed += [flag, *values]
        else:
            axes.append(axis)
    if search is not None and '--valid' not in fixed:
        raise SweepError('--search chooses on a validation split: give --valid N too (e.g. --valid 10000), '
                         'never the test set')
    if search is not None and not any(a.is_range or len(a.values) > 1 for a in axes):
        raise SweepError('--search needs something to search: a range such as --lr 0.01..1')
    seeds = _seeds(options.get('--seeds', '0,1,2'))
    workers = _count(options, '--workers') if '--workers' in options else DEFAULT_WORKERS
    plan = Plan(script=script.resolve(), fixed=fixed, axes=axes, seeds=seeds, out=Path('.'), workers=workers,
                search=search, storage=options.get('--storage'), file_flags=file_flags,
                classifier='--valid' in actions)
    digest = hashlib.sha1(json.dumps(plan.config(), sort_keys=True).encode()).hexdigest()[:8]
    plan.out = Path(options.get('--out') or f'sweeps/{script.resolve().parent.name}-{script.stem}-{digest}')
    return plan


def _count(options: dict[str, str], name: str) -> int:
    text = options[name]
    if not text.isdigit() or int(text) < 1:
        raise SweepError(f'{name} takes a positive whole number, got {text!r}; e.g. {name} {_EXAMPLES[name]}')
    return int(text)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(',')]
    except ValueError:
        raise SweepError(f'--seeds takes whole numbers separated by commas, got {text!r}; e.g. --seeds 0,1,2') from None
    if len(set(seeds)) != len(seeds):
        raise SweepError(f'--seeds {text} names a seed twice; give each once')
    return seeds


def _axis(flag: str, values: list[str], search: bool, integer: bool) -> Axis | None:
    """The axis that a flag's values make, or None for a fixed flag."""
    text = ' '.join(values)
    if any('..' in v for v in values):
        if not search:
            raise SweepError(f'{flag} {text}: a range lo..hi needs --search N; for a grid give values '
                             f'separated by commas, e.g. {flag} 0.01,0.1,1')
        low, _, high = text.partition('..')
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise SweepError(f'{flag} {text}: a range is two numbers lo..hi, e.g. {flag} 0.01..1') from None
        if not lo < hi:
            raise SweepError(f'{flag} {text}: the range is empty; give lo < hi, e.g. {flag} {hi}..{lo}')
        if integer and not (lo.is_integer() and hi.is_integer()):
            raise SweepError(f'{flag} takes whole numbers: give a range such as {flag} 32..512')
        return Axis(flag, low=lo, high=hi, integer=integer)
    if not any(',' in v for v in values):
        return None
    if len(values) > 1:
        raise SweepError(f'{flag} {text}: to sweep a flag that takes several values, quote the whole axis, '
                         f'spaces inside a setting and commas between settings, e.g. {flag} "128 256,512 512"')
    settings = [' '.join(v.split()) for v in values[0].split(',')]
    if any(not s for s in settings):
        raise SweepError(f'{flag} {text}: an empty value in the axis; give values such as {flag} 0.03,0.1')
    if len(set(settings)) != len(settings):
        raise SweepError(f'{flag} {text} names a value twice; give each once')
    return Axis(flag, values=settings)


def load_module(script: Path):
    """The script imported once (main() not run); a broken script is a bad file: D2LError."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return d2l.load_script(script)
    except SyntaxError as e:
        raise d2l.D2LError(f'{script} does not compile: {e}') from None


# ---------------------------------------------------------------------------
# Each run's argv, and checking them all before the first run
# ---------------------------------------------------------------------------

def run_id(plan: Plan, index: int, seed: int) -> str:
    """A run's short unique id, the stem of its history file: g003-s1 (grid setting 3, seed 1), t003-s1 (trial)."""
    return f'{"t" if plan.search else "g"}{index:03d}-s{seed}'


def run_argv(plan: Plan, setting: dict[str, str], seed: int, run: str, valid: bool = True) -> list[str]:
    """The script's argv of one run: fixed flags, the setting's values, --seed, one file per file flag."""
    argv = list(plan.fixed)
    if not valid and '--valid' in argv:  # the final run of a search: the full training set
        i = argv.index('--valid')
        del argv[i:i + 2]
    for axis in plan.axes:
        argv += [axis.flag, *setting[axis.column].split()]
    argv += ['--seed', str(seed)]
    for flag in plan.file_flags:
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
            what = ' '.join(f'{k}={v}' for k, v in setting.items()) or 'the runs'
            parsed.append(check_argv(module, run_argv(plan, setting, seed, 'check'), what))
    return parsed


# ---------------------------------------------------------------------------
# The study: open it, refuse another sweep's, plan the trials
# ---------------------------------------------------------------------------

def _quiet_optuna() -> None:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings('ignore', category=FutureWarning, module='optuna')


def open_storage(plan: Plan, heartbeat: bool = False):
    """The study's storage: the journal file out/study.log, or --storage URL (with Optuna's heartbeat)."""
    import optuna
    _quiet_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage
        return JournalStorage(JournalFileBackend(str(plan.out / 'study.log')))
    kwargs = {}
    if heartbeat:  # a worker on a machine that died: its trial fails after the grace period and is retried
        kwargs = dict(heartbeat_interval=HEARTBEAT_S, grace_period=3 * HEARTBEAT_S,
                      heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback())
    try:
        return optuna.storages.RDBStorage(plan.storage, **kwargs)
    except Exception as e:  # a bad URL or an unreachable server
        raise SweepError(f'--storage {plan.storage}: {str(e).splitlines()[0]}') from None


HEARTBEAT_S = 30


def existing_config(plan: Plan) -> dict | None:
    """The config of the sweep already in --out (or in the database under this name), None if none."""
    import optuna
    if plan.storage is None and not (plan.out / 'study.log').exists():
        return None
    storage = open_storage(plan)
    try:
        study = optuna.load_study(study_name=plan.study_name, storage=storage)
    except KeyError:
        return None
    finally:
        _close(storage)
    return study.user_attrs.get('config', {})


def _close(storage) -> None:
    """Let go of a database's connections before forking (each worker opens its own)."""
    engine = getattr(storage, 'engine', None)
    if engine is not None:
        storage.remove_session()
        engine.dispose()


def _key(trial) -> str | None:
    return trial.user_attrs.get('key')


def _ignored(trial) -> bool:
    """A trial that does not count: abandoned by a dead worker, or a second copy of a key."""
    from optuna.trial import TrialState
    return trial.state == TrialState.FAIL and 'status' not in trial.user_attrs


def _done(trial) -> bool:
    from optuna.trial import TrialState
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or \
        (trial.state == TrialState.FAIL and 'status' in trial.user_attrs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_here(trial) -> bool:
    """A RUNNING trial whose worker was on this host and is gone (the journal file has no heartbeat)."""
    attrs = trial.system_attrs
    if attrs.get('d2l_host') != HOST:
        return False
    return not _alive(int(attrs.get('d2l_pid', 0))) if attrs.get('d2l_pid') else \
        (trial.datetime_start is not None and time.time() - trial.datetime_start.timestamp() > 60)


def prepare_study(plan: Plan) -> tuple[int, int]:
    """Create or load the study, recover runs of dead workers, enqueue what is missing.

    Returns (runs already done, runs in all). Each key (a grid setting and seed, or a search
    slot) gets one WAITING trial; claims then go through the storage (see claim()).
    """
    import optuna
    from optuna.trial import TrialState
    storage = open_storage(plan)
    direction = 'maximize' if plan.higher_is_better else 'minimize'
    study = optuna.create_study(study_name=plan.study_name, storage=storage, direction=direction,
                                load_if_exists=True)
    if 'config' not in study.user_attrs:
        study.set_user_attr('config', plan.config())
        study.set_user_attr('columns', plan.columns)
    rows = {r['run']: r for r in read_rows(plan.out)}
    trials = study.get_trials(deepcopy=False)
    for t in trials:  # a worker killed with its run: rerun it, unless its row made it to results.csv
        if t.state == TrialState.RUNNING and _key(t) and _dead_here(t):
            finish_from_rows(study, t, plan, rows)
    trials = study.get_trials(deepcopy=False)
    live = {_key(t) for t in trials if _key(t) and not _ignored(t)}
    planned = plan_keys(plan)
    for key, params in planned.items():
        if key in live:
            continue
        old = [t for t in trials if _key(t) == key and t.params]  # a search slot keeps its settings
        study.enqueue_trial(params or (old[-1].params if old else {}), user_attrs={'key': key},
                            skip_if_exists=False)
    trials = study.get_trials(deepcopy=False)
    done = {_key(t) for t in trials if _key(t) and _done(t)}
    _close(storage)
    per_key = len(plan.seeds) if plan.search else 1
    return len(done & set(planned)) * per_key, len(planned) * per_key


def plan_keys(plan: Plan) -> dict[str, dict]:
    """Each trial's key and fixed params: a grid (setting, seed), or a search slot (params sampled later)."""
    if plan.search:
        return {f't{slot:03d}': {} for slot in range(plan.search)}
    return {run_id(plan, i, seed): {**setting, 'seed': seed}
            for i, setting in enumerate(plan.settings()) for seed in plan.seeds}


def finish_from_rows(study, trial, plan: Plan, rows: dict[str, dict]) -> None:
    """A dead worker's trial: complete it from its rows if they were written, else mark it abandoned."""
    from optuna.trial import TrialState
    key = _key(trial)
    runs = [f'{key}-s{s}' for s in plan.seeds] if plan.search else [key]
    storage = study._storage
    try:
        if all(r in rows for r in runs):
            statuses = [rows[r]['status'] for r in runs]
            value = _mean([rows[r].get(plan.metric) for r in runs])
            storage.set_trial_user_attr(trial._trial_id, 'status', statuses[0])
            if 'pruned' in statuses:
                storage.set_trial_state_values(trial._trial_id, TrialState.PRUNED)
            elif value is not None and all(s == 'ok' for s in statuses):
                storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [value])
            else:
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        else:
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # no 'status': ignored, re-enqueued
    except Exception:  # another process finished it first
        pass


def _mean(values: Sequence) -> float | None:
    numbers = [float(v) for v in values if v not in (None, '')]
    numbers = [v for v in numbers if math.isfinite(v)]
    return sum(numbers) / len(numbers) if numbers and len(numbers) == len(values) else None


# ---------------------------------------------------------------------------
# Files: results.csv appended a whole row at a time, histories written atomically
# ---------------------------------------------------------------------------

def read_rows(out: Path) -> list[dict[str, str]]:
    path = out / 'results.csv'
    if not path.exists():
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def _line(values: Sequence) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='\n').writerow(values)
    return buffer.getvalue().encode()


def append_row(out: Path, columns: list[str], row: dict) -> None:
    """Append one row to results.csv in one write (then fsync): a kill leaves whole rows only.

    The header is put in place with a link, which fails if another worker made the file first.
    """
    path = out / 'results.csv'
    if not path.exists():
        tmp = out / f'.results.csv.{os.getpid()}.tmp'
        tmp.write_bytes(_line(columns))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, _line([_text(row.get(c)) for c in columns]))
        os.fsync(fd)
    finally:
        os.close(fd)


def _text(value) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return f'{value:.6g}'
    return str(value)


def write_json(path: Path, obj: dict) -> None:
    """Write JSON through a temporary file and a rename: never a half-written history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    tmp.write_text(json.dumps(obj, indent=1, default=float) + '\n')
    os.replace(tmp, path)


def row_metrics(plan: Plan, history: dict) -> dict[str, float | None]:
    """The final numbers of a run from its history (its last finished epoch)."""
    def last(key: str) -> float | None:
        values = history.get(key)
        if isinstance(values, list):
            return float(values[-1]) if values else None
        return None if values is None else float(values)

    if plan.classifier:
        return {k: last(k) for k in plan.metrics}
    w_error, b_error = history.get('w_error'), history.get('b_error')
    return {'train_loss': last('train_loss'),
            'w_error': math.sqrt(sum(e * e for e in w_error)) if w_error else None,
            'b_error': abs(b_error) if b_error is not None else None}


# ---------------------------------------------------------------------------
# Workers: claim a trial, run it, write its row, tell the study
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def cached_data() -> Iterator[None]:
    """d2l.load_mnist_arrays answered from memory after its first call: a worker reads the data once."""
    real = d2l.load_mnist_arrays

    @functools.lru_cache(maxsize=None)
    def cached(name: str, root: str | None, download: bool) -> dict:
        return real(name, root, download)

    def load(name: str = 'fashion-mnist', root=None, download: bool = True) -> dict:
        return dict(cached(name, None if root is None else str(root), download))

    d2l.load_mnist_arrays = load
    try:
        yield
    finally:
        d2l.load_mnist_arrays = real


def claim(study, storage, study_id: int):
    """Pop one WAITING trial: the storage lets exactly one process turn it RUNNING. None when none is left.

    A second trial of the same key (two commands enqueued it at once) is marked and skipped:
    only the lowest-numbered live trial of a key ever runs.
    """
    import optuna
    from optuna.trial import TrialState
    while True:
        waiting = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
        if not waiting:
            return None
        for frozen in waiting:
            try:
                if not storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            storage.set_trial_system_attr(frozen._trial_id, 'd2l_host', HOST)
            storage.set_trial_system_attr(frozen._trial_id, 'd2l_pid', os.getpid())
            key = _key(frozen)
            first = min(t.number for t in storage.get_all_trials(study_id, deepcopy=False)
                        if _key(t) == key and not _ignored(t))
            if first != frozen.number:  # a copy: the first one runs
                storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
                continue
            return optuna.trial.Trial(study, frozen._trial_id)
        # every waiting trial was taken by others meanwhile: look again


class _Heartbeat:
    """Optuna's heartbeat for the running trial (database storage), pumped from a thread."""

    def __init__(self, storage, trial_id: int):
        from optuna.storages._heartbeat import is_heartbeat_enabled
        self.stop = threading.Event()
        if is_heartbeat_enabled(storage):
            storage.record_heartbeat(trial_id)
            threading.Thread(target=self._beat, args=(storage, trial_id), daemon=True).start()

    def _beat(self, storage, trial_id: int) -> None:
        while not self.stop.wait(storage.get_heartbeat_interval()):
            storage.record_heartbeat(trial_id)


def run_once(module, argv: list[str], on_epoch: Callable | None) -> tuple[str, dict, str]:
    """main(argv) with stdout silenced; returns (status, history, message). The pruner's exception
    and a NaN loss end the run as 'pruned' and 'diverged' with the epochs finished so far."""
    import optuna
    partial: dict[str, list] = {}

    def record(epoch: int, numbers: dict[str, float]) -> None:
        for k, v in numbers.items():
            partial.setdefault(k, []).append(v)
        if on_epoch is not None:
            on_epoch(epoch, numbers)

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            history = module.main(argv, on_epoch=record)
        return 'ok', history if isinstance(history, dict) else partial, ''
    except optuna.TrialPruned:
        return 'pruned', partial, ''
    except d2l.Diverged as e:
        return 'diverged', partial, str(e)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a run's failure is its row's answer; the sweep goes on
        message = f'{type(e).__name__}: {e}' if not isinstance(e, SystemExit) else f'exit {e.code}'
        return 'failed', partial, message


def work(plan: Plan, module, worker: str, progress: Callable[[], None] = lambda: None) -> None:
    """One worker's loop: claim a trial, run its seeds, write rows and histories, tell the study."""
    import optuna
    from optuna.trial import TrialState
    storage = open_storage(plan, heartbeat=True)
    sampler = optuna.samplers.TPESampler(seed=None) if plan.search else None
    pruner = optuna.pruners.SuccessiveHalvingPruner() if plan.search else None
    study = optuna.load_study(study_name=plan.study_name, storage=storage, sampler=sampler, pruner=pruner)
    study_id = storage.get_study_id_from_name(plan.study_name)
    while True:
        optuna.storages.fail_stale_trials(study)
        trial = claim(study, storage, study_id)
        if trial is None:
            return
        beat = _Heartbeat(storage, trial._trial_id)
        try:
            status, value = run_trial(plan, module, study, trial, worker)
        finally:
            beat.stop.set()
        trial.set_user_attr('status', status)
        state = {'ok': TrialState.COMPLETE, 'pruned': TrialState.PRUNED}.get(status, TrialState.FAIL)
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL
        study.tell(trial, state=state, values=[value] if state == TrialState.COMPLETE else None,
                   skip_if_finished=True)
        progress()


def run_trial(plan: Plan, module, study, trial, worker: str) -> tuple[str, float | None]:
    """Run a trial's runs (a grid point: one seed; a search trial: each seed); return (status, value)."""
    key = _key(trial)
    if plan.search:
        setting = suggest(plan, trial)
        seeds = plan.seeds
        index = int(key[1:])
    else:
        # The enqueued params come back from suggest: the trial records them (optuna-dashboard shows them).
        setting = {a.column: trial.suggest_categorical(a.column, a.values) for a in plan.axes}
        seeds = [trial.suggest_categorical('seed', plan.seeds)]
        index = int(key[1:4])
    done = {r['run']: r for r in read_rows(plan.out)}
    statuses, values = [], []
    for n, seed in enumerate(seeds):
        run = run_id(plan, index, seed)
        if run in done:  # a resumed search trial: this seed's row is there already
            statuses.append(done[run]['status'])
            values.append(done[run].get(plan.metric))
            continue
        if 'pruned' in statuses:  # the pruner stopped the first seed: the others are not run
            record(plan, run, setting, seed, 'pruned', {}, 0.0, worker)
            statuses.append('pruned')
            values.append(None)
            continue
        on_epoch = pruning(plan, trial) if plan.search and n == 0 else None
        start = time.perf_counter()
        status, history, message = run_once(module, run_argv(plan, setting, seed, run), on_epoch)
        seconds = time.perf_counter() - start
        if message and status == 'failed':
            print(f'run {run} ({_describe(setting)}, seed {seed}) failed: {message}', file=sys.stderr)
        metrics = record(plan, run, setting, seed, status, history, seconds, worker)
        statuses.append(status)
        values.append(metrics.get(plan.metric))
    status = next((s for s in ('pruned', 'failed', 'diverged') if s in statuses), 'ok')
    return status, _mean(values)


def record(plan: Plan, run: str, setting: dict, seed: int, status: str, history: dict, seconds: float,
           worker: str) -> dict:
    """Write a run's history (atomically) and then its row; return its metrics."""
    write_json(plan.out / 'histories' / f'{run}.json', history)
    metrics = row_metrics(plan, history)
    append_row(plan.out, plan.columns, {'run': run, **setting, 'seed': seed, **metrics,
                                        'seconds': seconds, 'status': status, 'worker': worker})
    return metrics


def suggest(plan: Plan, trial) -> dict[str, str]:
    """A search trial's setting from Optuna's sampler: ranges (log where lo > 0 and hi/lo >= 10), lists."""
    setting = {}
    for a in plan.axes:
        if a.is_range:
            log = a.low > 0 and a.high / a.low >= 10
            if a.integer:
                value = trial.suggest_int(a.column, int(a.low), int(a.high), log=log)
            else:
                value = trial.suggest_float(a.column, a.low, a.high, log=log)
            setting[a.column] = str(value) if a.integer else f'{value:.4g}'
        else:
            setting[a.column] = trial.suggest_categorical(a.column, a.values)
    return setting


def pruning(plan: Plan, trial) -> Callable[[int, dict], None]:
    """on_epoch for a search trial's first seed: report the validation accuracy, stop when told."""
    import optuna

    def on_epoch(epoch: int, numbers: dict[str, float]) -> None:
        trial.report(numbers[plan.metric], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f'pruned at epoch {epoch}')
    return on_epoch


def _describe(setting: dict[str, str]) -> str:
    return ', '.join(f'{k} {v}' for k, v in setting.items()) or 'fixed flags'


def _die_with_parent(parent: int) -> None:
    """A worker ends when the sweep's process does (kill -9 included): none runs on unseen."""
    if sys.platform.startswith('linux'):
        import ctypes
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _worker_main(plan: Plan, module, number: int, threads: int, parent: int) -> None:
    """A worker process: torch threads = its share of the cores, stdout silenced, then work()."""
    _die_with_parent(parent)
    import torch
    torch.set_num_threads(threads)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the sweep's stdout is the final table only
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # Ctrl-C: the parent says how to resume
    try:
        work(plan, module, f'{HOST}/{os.getpid()}')
    except Exception as e:  # the storage failing under a worker: say it, the others go on
        print(f'worker {number} stopped: {type(e).__name__}: {e}', file=sys.stderr)
        os._exit(1)


# ---------------------------------------------------------------------------
# The sweep: check, prepare, run the workers with a progress line, report
# ---------------------------------------------------------------------------

class Progress:
    """The live line on stderr: runs done of total, elapsed, ETA, best so far."""

    def __init__(self, plan: Plan, already: int, total: int):
        self.plan, self.already, self.total = plan, already, total
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.last_line, self.last_time, self.last_done = '', 0.0, -1

    def update(self, final: bool = False) -> None:
        rows = read_rows(self.plan.out)
        done = min(len(rows), self.total)
        now = time.perf_counter()
        if not self.tty and not final and (done == self.last_done or now - self.last_time < 5):
            return
        elapsed = now - self.start
        new = done - self.already
        eta = f'{elapsed / new * (self.total - done):.0f} s' if new > 0 else '?'
        line = f'sweep: {done}/{self.total} runs, {elapsed:.0f} s elapsed, ETA {eta}{self._best(rows)}'
        if self.tty:
            sys.stderr.write('\r' + line.ljust(len(self.last_line)) + ('\n' if final else ''))
        else:
            sys.stderr.write(line + '\n')
        sys.stderr.flush()
        self.last_line, self.last_time, self.last_done = line, now, done

    def _best(self, rows: list[dict]) -> str:
        metric = self.plan.metric
        scored = [(float(r[metric]), r) for r in rows if r.get('status') == 'ok' and r.get(metric)]
        if not scored:
            return ''
        value, row = (max if self.plan.higher_is_better else min)(scored, key=lambda p: p[0])
        setting = _describe({a.column: row.get(a.column, '') for a in self.plan.axes})
        return f', best {metric} {value:.4g} ({setting}, seed {row["seed"]})'


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_workers(plan: Plan, module, loaded: list[argparse.Namespace], progress: Progress) -> None:
    """Start plan.workers processes (forked after the data is read, so they share it) and wait."""
    method = 'fork' if sys.platform.startswith('linux') else 'spawn'
    context = multiprocessing.get_context(method)
    threads = max(1, _cores() // plan.workers)
    with cached_data():
        if method == 'fork':  # read once here; the forked workers inherit the tensors
            for args in loaded:
                if getattr(args, 'dataset', None):
                    d2l.load_mnist_arrays(args.dataset, root=args.data_root)
        processes = [context.Process(target=_worker_main, args=(plan, module, n, threads, os.getpid()),
                                     daemon=True) for n in range(plan.workers)]
        for p in processes:
            p.start()
        try:
            while any(p.is_alive() for p in processes):
                for p in processes:
                    p.join(timeout=0.5 / len(processes))
                progress.update()
        except KeyboardInterrupt:
            for p in processes:
                p.join(timeout=2)
            raise


def _final_run(plan: Plan, module) -> str:
    """--search: the best trial's settings, and its test accuracy from one run on the full training set."""
    import optuna
    storage = open_storage(plan)
    study = optuna.load_study(study_name=plan.study_name, storage=storage)
    try:
        best = study.best_trial
    except ValueError:
        return 'search: no trial finished (all pruned, diverged or failed); widen the ranges'
    finally:
        _close(storage)
    setting = {a.column: (str(best.params[a.column]) if not isinstance(best.params[a.column], float)
                          else f'{best.params[a.column]:.4g}') for a in plan.axes}
    flags = ' '.join(f'{a.flag} {setting[a.column]}' for a in plan.axes)
    seed = plan.seeds[0]
    argv = [t for t in run_argv(plan, setting, seed, 'best', valid=False)]
    argv = _without_files(plan, argv)
    with cached_data():
        status, history, message = run_once(module, argv, None)
    test = row_metrics(Plan(**{**plan.__dict__, 'fixed': _without_valid(plan.fixed)}), history).get('test_acc')
    result = f'test acc {test:.4f}' if status == 'ok' and test is not None else f'the final run {status} {message}'
    return (f'best of {plan.search} trials: {flags} (valid acc {best.value:.4f}, mean of {len(plan.seeds)} '
            f'seeds, trial {best.number}); one more run on the full training set, seed {seed}: {result}')


def _without_valid(fixed: list[str]) -> list[str]:
    if '--valid' not in fixed:
        return fixed
    i = fixed.index('--valid')
    return fixed[:i] + fixed[i + 2:]


def _without_files(plan: Plan, argv: list[str]) -> list[str]:
    out = []
    skip = 0
    for token in argv:
        if skip:
            skip -= 1
            continue
        if token in plan.file_flags:
            skip = 1
            continue
        out.append(token)
    return out


def sweep(argv: Sequence[str], show: bool = False) -> 'pandas.DataFrame':
    """Run a sweep from its command line (without the word sweep); return results.csv as a DataFrame.

    Raises SweepError for a bad line (before anything is written), d2l.D2LError for a bad file.
    """
    import pandas as pd
    plan = make_plan(argv)
    module = load_module(plan.script)
    loaded = check_runs(plan, module)
    config = existing_config(plan)
    if config is not None and config != json.loads(json.dumps(plan.config())):
        raise SweepError(f'{plan.out} holds another sweep ({_config_text(config)}); give another --out '
                         'or rerun that sweep\'s own command')
    plan.out.mkdir(parents=True, exist_ok=True)
    already, total = prepare_study(plan)
    if already:
        print(f'sweep: {already} of {total} runs already done in {plan.out}; running the other {total - already}',
              file=sys.stderr)
    progress = Progress(plan, already, total)
    try:
        if already < total:
            run_workers(plan, module, loaded, progress)
        progress.update(final=True)
    except KeyboardInterrupt:
        done = min(len(read_rows(plan.out)), total)
        print(f'\ninterrupted: {done} of {total} runs done, kept in {plan.out}; run the same command again '
              'to run the rest', file=sys.stderr)
        raise
    rows = read_rows(plan.out)
    if len(rows) < total:
        print(f'sweep: {total - len(rows)} runs still running elsewhere (or lost); rerun the same command '
              'to finish them', file=sys.stderr)
    if plan.search:
        print(_final_run(plan, module))
    report(plan, show)
    return pd.read_csv(plan.out / 'results.csv') if rows else pd.DataFrame(columns=plan.columns)


def report(plan: Plan, show: bool) -> None:
    """The report's files and the printed table (d2lkit.sweep_report), or a note where it is missing."""
    try:
        from d2lkit import sweep_report
    except ImportError:
        print(f'note: the report (d2lkit.sweep_report) is not here; the runs are in {plan.out / "results.csv"}',
              file=sys.stderr)
        return
    table = sweep_report.report(plan.out, [a.column for a in plan.axes], plan.metric, plan.higher_is_better,
                                show=show)
    print(sweep_report.format_table(table))


def _config_text(config: dict) -> str:
    script = Path(config.get('script', '?'))
    flags = ' '.join(config.get('fixed', [])) + ' ' + ' '.join(
        f'{k} {",".join(map(str, v))}' for k, v in config.get('axes', {}).items())
    return f'{script.parent.name}/{script.name} {flags.strip()}, seeds {config.get("seeds")}'


def flags_argv(flags: dict) -> list[str]:
    """d2l.sweep's keywords as a command line: lr=[0.03, 0.1] -> --lr 0.03,0.1; hidden=[[128, 256], [512]]
    -> --hidden '128 256,512'; a tuple is one multi-value setting; True -> the bare flag."""
    argv: list[str] = []
    for name, value in flags.items():
        flag = '--' + name.replace('_', '-')
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, ','.join(' '.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
                                    for v in value)]
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
