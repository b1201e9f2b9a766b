"""The runs of a sweep (`python -m d2l sweep`, planned by d2lkit.sweep_plan): its Optuna study,
which is the one record of every run, and the worker processes that run them.

A trial's life, in the order of this file:
1. planned: each key (a grid's setting and seed, or a search's slot) without a live trial gets
   one, WAITING (`prepare`);
2. claimed: a worker asks the study for a trial (`study.ask` pops a WAITING one, and the storage
   lets exactly one process turn it RUNNING); of two trials of one key, enqueued by two commands
   at once, only the lowest-numbered runs (`claim`);
3. signed with the worker's host, pid and process start time (`sign`);
4. run: each of its seeds, a database's heartbeat beating meanwhile (`run_trial`);
5. recorded: its rows (flags, seed, metrics, seconds, status, worker, host) and histories are
   stored on the trial in one write, then the study is told its state (`finish`);
6. reported: results.csv and histories/ are written from the study (`write_results`), by every
   command when it ends, so the last one to finish, or any rerun, writes the whole sweep.

A worker that dies leaves its trial RUNNING. A database's heartbeat fails it after GRACE_S,
seen from any machine; on the worker's own host its trial is failed as soon as its process is
gone (its pid, with that start time, no longer runs). A failed trial without a record is
abandoned and its key is planned again. A run held by another host longer than HOLD_S is
waited for no longer: the command ends, naming it and the command that releases it.

The cores are shared among the command's workers (CoreShare): one that has nothing left to run
gives its share to those still running. A search's best setting is run once more (FinalRun).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import math
import multiprocessing
import os
import random
import signal
import socket
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

import d2l
from d2lkit.sweep_plan import Plan, SweepError, cores, load_module, run_argv, run_id

HOST = socket.gethostname()
HEARTBEAT_S = 10  # a database's trial beats this often while it runs ...
GRACE_S = 30  # ... and is failed (then retried) once it has been silent this long
SIGN_S = 60  # a trial claimed but never signed (its worker killed in between) is dead after this
HOLD_S = 600  # a run held this long by another host: this command stops waiting for it
WAIT_S = 0.25  # a worker with nothing to run looks again this often (a sweep ends within it)
RECORD = 'record'  # the trial's user attribute holding its rows and histories


# ---------------------------------------------------------------------------
# The study: its storage, creating it, refusing another sweep's
# ---------------------------------------------------------------------------


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings('ignore', category=FutureWarning, module='optuna')
    # study.ask() warns that a heartbeat is meant for study.optimize; this module beats itself
    warnings.filterwarnings('ignore', message='Heartbeat of storage', category=UserWarning)


def database_url(url: str) -> str:
    """A --storage URL as SQLAlchemy takes it: postgresql:// gets the installed driver."""
    scheme, sep, rest = url.partition('://')
    if scheme not in ('postgresql', 'postgres'):
        return url
    for driver in ('psycopg', 'psycopg2'):
        if importlib.util.find_spec(driver) is not None:
            return f'postgresql+{driver}{sep}{rest}'
    raise SweepError(
        f'--storage {url}: no PostgreSQL driver is installed; pip install "psycopg[binary]"'
    )


def open_storage(plan: Plan):
    """The study's storage: the journal file out/study.log, or --storage URL with a heartbeat.

    Two commands opening a fresh database at once both create its tables, and one of them fails:
    it tries again, and finds them made (an unreachable server is said after the last try)."""
    import optuna
    import sqlalchemy.exc

    _quiet_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(plan.out / 'study.log')))
    url = database_url(plan.storage)
    # SQLite lets one process write at a time: the others wait for it up to 60 s, not 5
    engine_kwargs = {'connect_args': {'timeout': 60}} if url.startswith('sqlite') else {}
    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S)
        # the other command is making them: a unique constraint (SQLite's alembic_version,
        # PostgreSQL's pg_type), or SQLite's "table studies already exists"
        except sqlalchemy.exc.DBAPIError as e:
            if attempt == 5:
                raise SweepError(f'--storage {plan.storage}: {str(e).splitlines()[0]}') from None
            time.sleep(0.2 + random.random() * attempt)
        except Exception as e:  # a bad URL, an unreachable server, a refused login
            raise SweepError(f'--storage {plan.storage}: {str(e).splitlines()[0]}') from None


def existing_config(plan: Plan) -> dict | None:
    """The config of the sweep already in --out (or in the database by this name), else None."""
    import optuna

    if plan.storage is None and not (plan.out / 'study.log').exists():
        return None
    storage = open_storage(plan)
    try:
        study = optuna.load_study(study_name=plan.study, storage=storage)
    except KeyError:
        return None
    finally:
        _close(storage)
    return study.user_attrs.get('config', {})


def check_out(plan: Plan) -> None:
    """Refuse an --out (or a study of that name) that holds another sweep, before any write."""
    config = existing_config(plan)
    if config is None and (plan.out / 'results.csv').exists():
        raise SweepError(f'{plan.out} holds a results.csv of no sweep here; give another --out')
    # {}: another command created the study a moment ago and has not written its config yet
    if config and config != json.loads(json.dumps(plan.config())):
        raise SweepError(
            f'{plan.out} holds another sweep ({_config_text(config)}); give another --out '
            "or rerun that sweep's own command"
        )


def _config_text(config: dict) -> str:
    axes = ' '.join(f'{k} {",".join(map(str, v))}' for k, v in config.get('axes', {}).items())
    flags = f'{" ".join(config.get("fixed", []))} {axes}'.strip()
    seeds = f', seeds {config["seeds"]}' if 'seeds' in config else ''
    return f'{config.get("script", "?")} {flags}{seeds}'


def _close(storage) -> None:
    """Let go of a database's connections before forking (each worker opens its own)."""
    engine = getattr(storage, 'engine', None)
    if engine is not None:
        storage.remove_session()
        engine.dispose()


def load(plan: Plan, search: bool = False):
    """The study (a search's with its sampler and pruner, unless --prune none) and its storage."""
    import optuna

    storage = open_storage(plan)
    # a grid's trials have their values fixed: the sampler is never asked
    sampler = optuna.samplers.TPESampler(seed=None) if search else optuna.samplers.RandomSampler()
    pruner = pruner_of(plan.prune) if search else None
    study = optuna.load_study(
        study_name=plan.study, storage=storage, sampler=sampler, pruner=pruner
    )
    return study, storage


def pruner_of(prune: str):
    """Optuna's pruner for --prune: successive halving, with its first rung at epoch N for
    halving:N (no trial is judged on fewer epochs), Hyperband, or none."""
    import optuna

    name, _, epochs = prune.partition(':')
    if name == 'halving':
        first_rung = int(epochs) if epochs else 'auto'  # 'auto': from the first trial's epochs
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first_rung)
    if name == 'hyperband':
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


@contextlib.contextmanager
def opened(plan: Plan) -> Iterator:
    """The sweep's study, for reading (the report's importance figure); closed after."""
    study, storage = load(plan)
    try:
        yield study
    finally:
        _close(storage)


# ---------------------------------------------------------------------------
# Reading the trials: whose key, recorded, abandoned, held by a dead worker
# ---------------------------------------------------------------------------


def _key(trial) -> str | None:
    return trial.user_attrs.get('key')


def recorded(trial) -> bool:
    """A finished trial that holds its runs' rows (whatever their status)."""
    return trial.state.is_finished() and RECORD in trial.user_attrs


def abandoned(trial) -> bool:
    """A trial that does not count: failed without a record (a dead worker's), or a copy."""
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and RECORD not in trial.user_attrs


def process_identity(pid: int) -> str | None:
    """What tells a process from a later one with the same pid: on Linux its start time since
    this boot; elsewhere the pid alone while it runs. None when no process has that pid."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except FileNotFoundError:
        if Path('/proc/self/stat').exists():
            return None  # Linux: no such process
    except OSError:
        return None
    else:
        boot = Path('/proc/sys/kernel/random/boot_id').read_text().strip()
        return f'{boot}:{stat.rsplit(")", 1)[1].split()[19]}'  # field 22: start time in ticks
    try:
        os.kill(pid, 0)  # POSIX: signal 0 only asks whether the process exists
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return str(pid)


def worker_gone(trial) -> bool | None:
    """Whether the worker holding a RUNNING trial is gone: True or False on its own host; None
    when it ran elsewhere (or here, on a system where a process cannot be told from another)."""
    worker = trial.user_attrs.get('worker')
    if worker is None:  # claimed, then killed before it signed (sign() follows the claim at once)
        started = trial.datetime_start
        return started is not None and time.time() - started.timestamp() > SIGN_S
    if worker['host'] != HOST or sys.platform == 'win32':
        return None
    return process_identity(worker['pid']) != worker['identity']


def held_for(trial) -> float:
    """Seconds since a trial was claimed."""
    started = trial.datetime_start
    return 0.0 if started is None else time.time() - started.timestamp()


# ---------------------------------------------------------------------------
# 1. Planned: the study created, dead workers' trials cleared, missing keys enqueued
# ---------------------------------------------------------------------------


def prepare(plan: Plan) -> tuple[int, int]:
    """Create or load the study, clear dead workers' trials, enqueue what is missing.

    Returns (runs already done, runs in all) of this command's plan."""
    import optuna

    storage = open_storage(plan)
    direction = 'maximize' if plan.higher_is_better else 'minimize'
    study = optuna.create_study(
        study_name=plan.study, storage=storage, direction=direction, load_if_exists=True
    )
    if 'config' not in study.user_attrs:
        study.set_user_attr('config', plan.config())
    if plan.release:
        release(study, plan.release)
    clear_dead(study)
    enqueue_missing(plan, study)
    done = done_keys(study)
    _close(storage)
    runs = plan.runs()
    return sum(len(r.seeds) for r in runs if r.key in done), sum(len(r.seeds) for r in runs)


def done_keys(study) -> set[str]:
    return {_key(t) for t in study.get_trials(deepcopy=False) if _key(t) and recorded(t)}


def release(study, host: str) -> int:
    """--release HOST: its unfinished runs are abandoned, to be run again; returns how many."""
    from optuna.trial import TrialState

    held = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get('worker', {}).get('host') == host
    ]
    for t in held:
        abandon(study, t.number)
    print(f'sweep: released {len(held)} runs held by {host}', file=sys.stderr)
    return len(held)


def clear_dead(study) -> int:
    """The RUNNING trials whose worker is gone (this host's, or silent past a database's grace
    period): finished from their record if they wrote it, else abandoned. Returns how many."""
    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)  # a database: trials whose heartbeat stopped
    dead = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if worker_gone(t)
    ]
    for t in dead:
        if RECORD in t.user_attrs:  # killed between its record and telling the study
            finish(study, t.number, t.user_attrs[RECORD]['rows'], t.user_attrs['metric'])
        else:
            abandon(study, t.number)
    return len(dead)


def enqueue_missing(plan: Plan, study) -> int:
    """Enqueue one WAITING trial for each planned key with no live trial; return how many."""
    trials = study.get_trials(deepcopy=False)
    live = {_key(t) for t in trials if _key(t) and not abandoned(t)}
    missing = [run for run in plan.runs() if run.key not in live]
    for run in missing:
        # a search slot run again keeps its sampled setting
        old = [t.params for t in trials if _key(t) == run.key and t.params]
        study.enqueue_trial(
            run.setting or (old[-1] if old else {}),
            user_attrs={'key': run.key, 'seeds': run.seeds, 'index': run.index,
                        'metric': plan.metric},
            skip_if_exists=False,
        )
    return len(missing)


# ---------------------------------------------------------------------------
# 2-3. Claimed and signed
# ---------------------------------------------------------------------------


def claim(study):
    """Pop one WAITING trial (the storage lets exactly one process take it) and sign it; None
    when none is waiting. A copy of a key (two commands enqueued it at once) is abandoned: only
    the lowest-numbered live trial of a key ever runs."""
    from optuna.trial import TrialState

    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial = study.ask()
        key = _key(trial)
        if key is None:  # the last one went to another worker meanwhile: ask() made a new trial
            abandon(study, trial.number)
            return None
        first = min(
            t.number for t in study.get_trials(deepcopy=False) if _key(t) == key
            and not abandoned(t)
        )
        if first != trial.number:
            abandon(study, trial.number)
            continue
        sign(trial)
        return trial
    return None


def sign(trial) -> None:
    """Write on the trial which worker holds it: host, pid, and the process's start time."""
    pid = os.getpid()
    trial.set_user_attr(
        'worker', {'host': HOST, 'pid': pid, 'identity': process_identity(pid)}
    )


def abandon(study, number: int) -> None:
    """Fail a trial without a record: it does not count, and its key is planned again."""
    import optuna
    from optuna.trial import TrialState

    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


# ---------------------------------------------------------------------------
# 4. Run: each seed of the trial, its heartbeat beating
# ---------------------------------------------------------------------------


class Heartbeat:
    """A database's heartbeat for the running trial, from a thread; a failed beat (a locked
    database, a dropped connection) is said once and the next beat tried."""

    def __init__(self, storage, study, trial):
        self.stop = threading.Event()
        self.said = False
        if getattr(storage, 'get_heartbeat_interval', lambda: None)():
            study_id = storage.get_study_id_from_name(study.study_name)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            self.beat = functools.partial(storage.record_heartbeat, trial_id)
            self.interval = storage.get_heartbeat_interval()
            self._once()
            threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._once()

    def _once(self) -> None:
        try:
            self.beat()
        except Exception as e:
            if not self.said:
                print(f'sweep: a heartbeat failed ({type(e).__name__}: {e}); trying again',
                      file=sys.stderr)
                self.said = True


class CoreShare:
    """The cores split among the sweep's workers, counted in a shared integer: a worker that has
    no more runs leaves, and those still running take its share at their next epoch. So the last
    long run of a search does not train on one core while the others idle. (The thread count can
    change the order of a run's float sums: its figures may differ in the last digits.)"""

    def __init__(self, live):
        self.live = live  # a multiprocessing.Value('i'): the workers still working
        self.left = False

    def take(self) -> None:
        """Set this worker's torch threads to its share of the cores now."""
        import torch

        threads = max(1, cores() // max(1, self.live.value))
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def leave(self) -> None:
        """This worker has nothing to run: its share goes to the others (once)."""
        if not self.left:
            self.left = True
            with self.live.get_lock():
                self.live.value -= 1

    def back(self) -> None:
        """This worker claimed a run again (a dead worker's, retried): it counts once more."""
        if self.left:
            self.left = False
            with self.live.get_lock():
                self.live.value += 1

    def each_epoch(self, on_epoch: Callable | None) -> Callable[[int, dict], None]:
        """on_epoch, after taking this epoch's share."""
        def hook(epoch: int, numbers: dict[str, float]) -> None:
            self.take()
            if on_epoch is not None:
                on_epoch(epoch, numbers)

        return hook


def run_trial(plan: Plan, module, study, storage, trial, worker: str,
              share: CoreShare | None = None) -> None:
    """Run a claimed trial's seeds (a grid point: one; a search trial: each), record it."""
    setting = suggest(plan, trial)
    rows: list[dict] = []
    histories: dict[str, dict] = {}
    beat = Heartbeat(storage, study, trial)
    try:
        for n, seed in enumerate(trial.user_attrs['seeds']):
            run = run_id(plan, trial.user_attrs['index'], seed)
            if rows and rows[0]['status'] == 'pruned':  # the first seed was stopped: not run
                status, history, seconds = 'pruned', {}, 0.0
            else:
                watched = plan.search and plan.prune != 'none' and n == 0
                on_epoch = pruning(plan, trial) if watched else None
                if share is not None:
                    share.take()
                    on_epoch = share.each_epoch(on_epoch)
                start = time.perf_counter()
                status, history, message = run_once(
                    module, run_argv(plan, setting, seed, run), on_epoch
                )
                seconds = time.perf_counter() - start
                if status == 'failed':
                    print(f'run {run} ({_describe(setting)}, seed {seed}) failed: {message}',
                          file=sys.stderr)
            histories[run] = history
            rows.append({'run': run, **setting, 'seed': seed, **row_metrics(plan, history),
                         'seconds': seconds, 'status': status, 'worker': worker, 'host': HOST})
    except KeyboardInterrupt:
        abandon(study, trial.number)  # stopped mid-run: the rerun runs it again
        raise
    finally:
        beat.stop.set()
    record(study, trial, rows, histories, plan.metric)


def suggest(plan: Plan, trial) -> dict[str, str]:
    """The trial's setting: a grid's enqueued values (suggested back, so the study records them
    as its params), or a search's from the sampler: ranges (log if hi/lo >= 10), lists."""
    setting = {}
    for a in plan.axes:
        if not a.is_range:
            setting[a.column] = trial.suggest_categorical(a.column, a.values)
            continue
        log = a.low > 0 and a.high / a.low >= 10
        if a.integer:
            setting[a.column] = str(trial.suggest_int(a.column, int(a.low), int(a.high), log=log))
        else:
            setting[a.column] = f'{trial.suggest_float(a.column, a.low, a.high, log=log):.4g}'
    return setting


def pruning(plan: Plan, trial) -> Callable[[int, dict], None]:
    """on_epoch for a search trial's first seed: report the validation accuracy, stop when told."""
    import optuna

    def on_epoch(epoch: int, numbers: dict[str, float]) -> None:
        trial.report(numbers[plan.metric], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f'pruned at epoch {epoch}')

    return on_epoch


def run_once(module, argv: list[str], on_epoch: Callable | None) -> tuple[str, dict, str]:
    """main(argv) with stdout silenced; returns (status, history, message). The pruner's exception
    and a NaN loss end the run as 'pruned' and 'diverged' with the epochs finished so far."""
    import optuna

    partial: dict[str, list] = {}

    def record_epoch(epoch: int, numbers: dict[str, float]) -> None:
        for k, v in numbers.items():
            partial.setdefault(k, []).append(v)
        if on_epoch is not None:
            on_epoch(epoch, numbers)

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            history = module.main(argv, on_epoch=record_epoch)
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


def _last(history: dict, key: str) -> float | None:
    """A history's final number of key: the last epoch's of a list, or the number itself."""
    values = history.get(key)
    if isinstance(values, list):
        return float(values[-1]) if values else None
    return None if values is None else float(values)


def row_metrics(plan: Plan, history: dict) -> dict[str, float | None]:
    """The final numbers of a run from its history (its last finished epoch)."""
    if plan.classifier or plan.test_loss:
        return {k: _last(history, k) for k in plan.metrics}
    w_error, b_error = history.get('w_error'), history.get('b_error')
    return {
        'train_loss': _last(history, 'train_loss'),
        'w_error': math.sqrt(sum(e * e for e in w_error)) if w_error else None,
        'b_error': abs(b_error) if b_error is not None else None,
    }


# ---------------------------------------------------------------------------
# 5. Recorded: rows and histories on the trial in one write, then its state
# ---------------------------------------------------------------------------


def record(study, trial, rows: list[dict], histories: dict, metric: str) -> None:
    """Store the runs on the trial (one write: whole or not at all), then tell the study. A
    trial taken from this worker meanwhile (its heartbeat went silent, it was retried) is left
    to its retry."""
    import optuna

    try:
        trial.set_user_attr(RECORD, {'rows': rows, 'histories': histories})
    except optuna.exceptions.UpdateFinishedTrialError:
        print(f'sweep: trial {trial.number} ({_key(trial)}) was failed for a silent heartbeat '
              'while it ran; its retry records it', file=sys.stderr)
        return
    finish(study, trial.number, rows, metric)


def worst_status(statuses: Sequence[str]) -> str:
    """A trial's status from its runs': pruned, failed or diverged if any run was, else ok."""
    return next((s for s in ('pruned', 'failed', 'diverged') if s in statuses), 'ok')


def finish(study, number: int, rows: list[dict], metric: str) -> None:
    """Tell the study a recorded trial's state and value (the mean of its seeds' metric)."""
    from optuna.trial import TrialState

    status = worst_status([r['status'] for r in rows])
    value = _mean([r.get(metric) for r in rows])
    state = {'ok': TrialState.COMPLETE, 'pruned': TrialState.PRUNED}.get(status, TrialState.FAIL)
    if state == TrialState.COMPLETE and value is None:
        state = TrialState.FAIL
    study.tell(number, state=state, values=[value] if state == TrialState.COMPLETE else None,
               skip_if_finished=True)


def _mean(values: Sequence) -> float | None:
    numbers = [float(v) for v in values if v not in (None, '')]
    numbers = [v for v in numbers if math.isfinite(v)]
    return sum(numbers) / len(numbers) if numbers and len(numbers) == len(values) else None


# ---------------------------------------------------------------------------
# 6. Reported: results.csv and the histories, written from the study
# ---------------------------------------------------------------------------


def recorded_rows(plan: Plan, study) -> tuple[list[dict], dict[str, dict]]:
    """Every recorded run of the study, the plan's order first: (rows, histories by run).

    One trial counts per key, the lowest-numbered recorded one."""
    by_key: dict[str, object] = {}
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if _key(t) and recorded(t):
            by_key.setdefault(_key(t), t)
    order = [r.key for r in plan.runs()]
    keys = [k for k in order if k in by_key] + sorted(set(by_key) - set(order))
    rows, histories = [], {}
    for key in keys:
        record = by_key[key].user_attrs[RECORD]
        rows += record['rows']
        histories.update(record['histories'])
    return rows, histories


def write_results(plan: Plan, study) -> int:
    """results.csv (whole, then renamed into place) and each missing history; returns the rows."""
    import pandas as pd

    rows, histories = recorded_rows(plan, study)
    if not rows:
        return 0
    table = pd.DataFrame(rows).reindex(columns=plan.columns)
    text = table.to_csv(index=False, float_format='%.6g', lineterminator='\n')
    with d2l.writing_to(plan.out / 'results.csv'), d2l.atomic_file(plan.out / 'results.csv') as f:
        f.write(text.encode())
    for run, history in histories.items():
        path = plan.out / 'histories' / f'{run}.json'
        if not path.exists():  # a run's history never changes once recorded
            write_json(path, history)
    return len(rows)


def read_rows(out: Path) -> list[dict[str, str]]:
    """results.csv as written: one dict of text per row (none before the first report)."""
    import csv

    path = out / 'results.csv'
    if not path.exists():
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def write_json(path: Path, obj: dict) -> None:
    """Write JSON whole or not at all (d2l.atomic_file: a temporary file renamed into place)."""
    with d2l.atomic_file(path) as f:
        f.write((json.dumps(obj, indent=1, default=float) + '\n').encode())


# ---------------------------------------------------------------------------
# The workers: claim, run, record, until nothing is left to run here
# ---------------------------------------------------------------------------


def work(plan: Plan, module, worker: str, share: CoreShare | None = None) -> None:
    """One worker's loop: claim a trial and run it; with none waiting, wait for the runs others
    hold (retrying those whose worker died) until none is left that this command waits for.
    share: the cores, shared with this command's other workers."""
    study, storage = load(plan, search=bool(plan.search))
    while True:
        trial = claim(study)
        if trial is not None:
            if share is not None:
                share.back()
            run_trial(plan, module, study, storage, trial, worker, share)
            continue
        if share is not None:  # nothing to claim: this worker's cores go to the runs going on
            share.leave()
        if not wait_for_others(plan, study):
            return


def wait_for_others(plan: Plan, study) -> bool:
    """Nothing to claim: clear dead workers' trials and plan them again; True while a run that
    this command waits for is held by another worker (then after WAIT_S)."""
    from optuna.trial import TrialState

    clear_dead(study)
    if enqueue_missing(plan, study):  # a dead worker's run, or one released or failed elsewhere
        return True
    running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if _key(t)]
    if not [t for t in running if worker_gone(t) is not None or held_for(t) < HOLD_S]:
        return False  # nothing, or only runs another host has held past HOLD_S
    time.sleep(WAIT_S)
    return True


def held_elsewhere(plan: Plan) -> list[tuple[str, str, float]]:
    """The runs still held by other hosts' workers: (key, host, minutes held)."""
    from optuna.trial import TrialState

    study, storage = load(plan)
    held = [(_key(t), t.user_attrs['worker']['host'], held_for(t) / 60)
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if _key(t) and worker_gone(t) is None]
    _close(storage)
    return held


@contextlib.contextmanager
def cached_data() -> Iterator[None]:
    """d2l.load_mnist_arrays answered from memory after its first call: data read once a worker."""
    real = d2l.load_mnist_arrays

    @functools.lru_cache(maxsize=None)
    def cached(name: str, root: str | None, download: bool) -> dict:
        return real(name, root, download)

    def load_arrays(name: str = 'fashion-mnist', root=None, download: bool = True) -> dict:
        return dict(cached(name, None if root is None else str(root), download))

    d2l.load_mnist_arrays = load_arrays
    try:
        yield
    finally:
        d2l.load_mnist_arrays = real


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


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _worker_main(plan: Plan, number: int, live, parent: int) -> None:
    """A worker process: torch threads = its share of the cores, stdout silenced, then work()."""
    _die_with_parent(parent)
    share = CoreShare(live)
    share.take()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the sweep's stdout is the final table only
    # Ctrl-C reaches the parent, which stops its workers with SIGTERM: raised as KeyboardInterrupt,
    # it abandons the run in flight (run again by a rerun) on its way out.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with cached_data():
            work(plan, load_module(plan.script), f'{HOST}/{os.getpid()}', share)
    except KeyboardInterrupt:
        os._exit(130)
    except Exception as e:  # the storage failing under a worker: say it, the others go on
        print(f'worker {number} stopped: {type(e).__name__}: {e}', file=sys.stderr)
        os._exit(1)


def fork_safe() -> bool:
    """Whether this process may fork processes that compute with torch (see _fresh_process)."""
    return sys.platform.startswith('linux') and _fresh_process()


def _fresh_process() -> bool:
    """True in `python -m d2l sweep` itself, which has run no torch computation before its workers
    start: forking it is safe. Elsewhere torch may have started its OpenMP threads, and a forked
    child inherits their pool without the threads: once it computes on 2 threads (CoreShare, a
    final run), it waits for them for ever. So a notebook, a test and `python -m d2l exercises`
    (which runs snippets, then sweep after sweep, in one process) spawn their workers."""
    main_file = getattr(sys.modules.get('__main__'), '__file__', None)
    return (main_file is not None and Path(main_file).resolve() == Path(d2l.__file__).resolve()
            and sys.argv[1:2] == ['sweep'])


# ---------------------------------------------------------------------------
# The sweep's process: prepare, start the workers, show progress, report
# ---------------------------------------------------------------------------


class Progress:
    """The live line on stderr: runs done of total, elapsed, ETA, best so far (from the study)."""

    def __init__(self, plan: Plan, already: int, total: int):
        self.plan, self.already, self.total = plan, already, total
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.last_line, self.last_time, self.last_done = '', 0.0, -1
        self.study = None

    def update(self, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self.last_time < (1 if self.tty else 5):
            return
        if self.study is None:  # opened after the workers started: none inherits its connections
            self.study, _ = load(self.plan)
        rows, _ = recorded_rows(self.plan, self.study)
        done = min(len(rows), self.total)
        if not self.tty and not final and done == self.last_done:
            return
        elapsed = now - self.start
        new = done - self.already
        eta = f'{elapsed / new * (self.total - done):.0f} s' if new > 0 else '?'
        line = (
            f'sweep: {done}/{self.total} runs, {elapsed:.0f} s elapsed, ETA {eta}{self._best(rows)}'
        )
        if self.tty:
            sys.stderr.write('\r' + line.ljust(len(self.last_line)) + ('\n' if final else ''))
        else:
            sys.stderr.write(line + '\n')
        sys.stderr.flush()
        self.last_line, self.last_time, self.last_done = line, now, done

    def _best(self, rows: list[dict]) -> str:
        metric = self.plan.metric
        scored = [(r[metric], r) for r in rows
                  if r.get('status') == 'ok' and isinstance(r.get(metric), (int, float))]
        if not scored:
            return ''
        value, row = (max if self.plan.higher_is_better else min)(scored, key=lambda p: p[0])
        setting = _describe({a.column: row.get(a.column, '') for a in self.plan.axes})
        return f', best {metric} {value:.4g} ({setting}, seed {row["seed"]})'


def run_workers(plan: Plan, progress: Progress, todo: int) -> None:
    """Start plan.workers processes (at most todo) and wait. Forked (on Linux, from the command),
    they share the data read here; spawned, each imports the script and reads the data once."""
    method = 'fork' if fork_safe() else 'spawn'
    context = multiprocessing.get_context(method)
    workers = min(plan.workers, todo)  # no idle process for a sweep that is nearly done
    live = context.Value('i', workers)  # CoreShare's count of the workers still working
    if method == 'fork':  # read once here (run_sweep's cache); the forked workers inherit it
        for dataset, root in plan.datasets:
            d2l.load_mnist_arrays(dataset, root=root)
    processes = [
        context.Process(target=_worker_main, args=(plan, n, live, os.getpid()), daemon=True)
        for n in range(workers)
    ]
    for p in processes:
        p.start()
    try:
        while any(p.is_alive() for p in processes):
            for p in processes:
                p.join(timeout=0.5 / len(processes))
            progress.update()
    except KeyboardInterrupt:
        for p in processes:
            p.terminate()
        for p in processes:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        raise


class FinalRun:
    """--search: the best trial's setting run once more without --valid (all the training
    images), for its test accuracy. Where workers are forked it runs in a process of its own,
    started at once, while this process writes the report; elsewhere it runs in answer()."""

    def __init__(self, plan: Plan):
        self.plan, self.process = plan, None
        study, storage = load(plan)
        try:
            self.best = study.best_trial
        except ValueError:
            self.best = None  # no trial finished
        finally:
            _close(storage)
        if self.best is not None and fork_safe():
            context = multiprocessing.get_context('fork')
            self.answers, send = context.Pipe(duplex=False)
            self.process = context.Process(target=self._main, args=(send, os.getpid()),
                                           daemon=True)
            self.process.start()
            send.close()

    def setting(self) -> dict[str, str]:
        """The best trial's flags as text, floats to 4 significant digits."""
        params = self.best.params
        return {a.column: f'{params[a.column]:.4g}' if isinstance(params[a.column], float)
                else str(params[a.column]) for a in self.plan.axes}

    def run(self) -> tuple[str, float | None, str, float]:
        """(status, test accuracy, message, seconds) of the run."""
        argv = run_argv(self.plan, self.setting(), self.plan.seeds[0], 'best', final=True)
        start = time.perf_counter()
        status, history, message = run_once(load_module(self.plan.script), argv, None)
        return status, _last(history, 'test_acc'), message, time.perf_counter() - start

    def _main(self, send, parent: int) -> None:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        send.send(self.run())
        send.close()

    def answer(self) -> str:
        """Wait for the run; write best.txt and return its line (the search's answer)."""
        plan = self.plan
        if self.best is None:
            line = 'search: no trial finished (all pruned, diverged or failed); widen the ranges'
        else:
            if self.process is None:
                status, test, message, seconds = self.run()
            else:
                try:
                    status, test, message, seconds = self.answers.recv()
                except EOFError:  # the process died without a word (killed, out of memory)
                    self.process.join()
                    status, test, message, seconds = (
                        'failed', None, f'(its process ended, exit {self.process.exitcode})', 0.0)
                self.process.join()
            print(f'sweep: the final run took {seconds:.1f} s', file=sys.stderr)
            result = (f'test acc {test:.4f}' if status == 'ok' and test is not None
                      else f'the final run {status} {message}')
            seed = plan.seeds[0]
            seeds = f'mean of {len(plan.seeds)} seeds' if len(plan.seeds) > 1 else f'seed {seed}'
            flags = ' '.join(f'{a.flag} {v}' for a, v in zip(plan.axes, self.setting().values()))
            line = (f'best of {plan.search} trials: {flags} (valid acc {self.best.value:.4f},'
                    f' {seeds}, trial {self.best.number}); one more run without --valid (all the'
                    f' training images), seed {seed}: {result}')
        with d2l.writing_to(plan.out / 'best.txt'), d2l.atomic_file(plan.out / 'best.txt') as f:
            f.write(f'{line}\n'.encode())  # the search's answer, kept beside summary.md
        return line


def run_sweep(plan: Plan) -> FinalRun | None:
    """The whole sweep of this command: check --out, prepare the study, run the workers, write
    results.csv and the histories from the study. A search's final run is started, and returned:
    its answer() (best.txt) is the caller's to wait for."""
    check_out(plan)
    plan.out.mkdir(parents=True, exist_ok=True)
    with cached_data():  # the data read once: for the forked workers and a search's final run
        _run_sweep(plan)
        return FinalRun(plan) if plan.search else None


def _run_sweep(plan: Plan) -> int:
    """Prepare, run the workers, write results.csv; return the plan's runs still missing."""
    already, total = prepare(plan)
    if already == total:
        print(f'sweep: all {total} runs already done in {plan.out}', file=sys.stderr)
    elif already:
        print(f'sweep: {already} of {total} runs already done in {plan.out}; running the other'
              f' {total - already}', file=sys.stderr)
    progress = Progress(plan, already, total)
    try:
        if already < total:
            run_workers(plan, progress, total - already)
        progress.update(final=True)
    except KeyboardInterrupt:
        study, storage = load(plan)
        done = min(write_results(plan, study), total)
        _close(storage)
        print(f'\ninterrupted: {done} of {total} runs done, kept in {plan.out}; run the same'
              ' command again to run the rest', file=sys.stderr)
        raise
    study, storage = load(plan)
    write_results(plan, study)
    done = done_keys(study)
    missing = sum(len(r.seeds) for r in plan.runs() if r.key not in done)
    _close(storage)
    if missing:
        print(f'sweep: {missing} runs not done here: still running elsewhere, or lost; rerun the'
              ' same command to finish them', file=sys.stderr)
        for key, host, minutes in held_elsewhere(plan):
            print(f'  {key} is held by {host} ({minutes:.0f} min); if {host} is gone, run it'
                  f' again with the same command and --release {host}', file=sys.stderr)
    return missing
