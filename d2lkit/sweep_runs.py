"""The runs of a sweep (`python -m d2l sweep`, read and checked by d2lkit.sweep): its Optuna study,
the claim of each trial, the worker processes, results.csv and the histories.

Each key (a grid's setting and seed, or a search's trial slot) is one trial, enqueued WAITING
when the sweep starts. A worker claims one by asking the storage to turn it RUNNING: the journal
file's log (appended under its lock) or the database's update lets exactly one process win, and
of two trials of one key (two commands enqueued it at once) only the lowest-numbered ever runs.
A worker records its host and pid on the trial; a rerun on the same host turns the RUNNING
trials of dead pids into FAIL and enqueues them again (a database uses Optuna's heartbeat
instead, across machines). A run's row is appended to results.csv in one write before the
study is told, and a rerun completes a trial from its row when the worker died in between.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
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
from pathlib import Path
from typing import Callable, Iterator, Sequence

import d2l
from d2lkit.sweep import Plan, SweepError, load_module, run_argv, run_id

HOST = socket.gethostname()


# ---------------------------------------------------------------------------
# The study: open it, refuse another sweep's, plan the trials
# ---------------------------------------------------------------------------


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings('ignore', category=FutureWarning, module='optuna')


def open_storage(plan: Plan, heartbeat: bool = False):
    """The study's storage: the journal file out/study.log, or --storage URL (with a heartbeat)."""
    import optuna

    _quiet_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(plan.out / 'study.log')))
    kwargs = {}
    if heartbeat:  # a worker on a machine that died: its trial fails after a grace period, retried
        kwargs = dict(
            heartbeat_interval=HEARTBEAT_S,
            grace_period=3 * HEARTBEAT_S,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
        )
    try:
        return optuna.storages.RDBStorage(plan.storage, **kwargs)
    except Exception as e:  # a bad URL or an unreachable server
        raise SweepError(f'--storage {plan.storage}: {str(e).splitlines()[0]}') from None


HEARTBEAT_S = 30


def existing_config(plan: Plan) -> dict | None:
    """The config of the sweep already in --out (or in the database by this name), else None."""
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

    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and 'status' in trial.user_attrs
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_here(trial) -> bool:
    """A RUNNING trial whose worker was on this host and is gone (a journal has no heartbeat)."""
    attrs = trial.system_attrs
    if attrs.get('d2l_host', HOST) != HOST:
        return False
    if attrs.get('d2l_pid'):
        return not _alive(int(attrs['d2l_pid']))
    # claimed by a worker killed before it wrote its host or pid (claim() writes them at once):
    # dead once a minute has passed
    return trial.datetime_start is not None and time.time() - trial.datetime_start.timestamp() > 60


def prepare_study(plan: Plan) -> tuple[int, int]:
    """Create or load the study, recover runs of dead workers, enqueue what is missing.

    Returns (runs already done, runs in all). Each key (a grid setting and seed, or a search
    slot) gets one WAITING trial; claims then go through the storage (see claim()).
    """
    import optuna
    from optuna.trial import TrialState

    storage = open_storage(plan)
    direction = 'maximize' if plan.higher_is_better else 'minimize'
    study = optuna.create_study(
        study_name=plan.study_name, storage=storage, direction=direction, load_if_exists=True
    )
    if 'config' not in study.user_attrs:
        study.set_user_attr('config', plan.config())
        study.set_user_attr('columns', plan.columns)
    rows = {r['run']: r for r in read_rows(plan.out)}
    trials = study.get_trials(deepcopy=False)
    # a worker killed with its run: rerun it, unless its row made it to results.csv
    for t in trials:
        if t.state == TrialState.RUNNING and _key(t) and _dead_here(t):
            finish_from_rows(study, t, plan, rows)
    planned = plan_keys(plan)
    enqueue_missing(study, planned)
    trials = study.get_trials(deepcopy=False)
    done = {_key(t) for t in trials if _key(t) and _done(t)}
    _close(storage)
    per_key = len(plan.seeds) if plan.search else 1
    return len(done & set(planned)) * per_key, len(planned) * per_key


def enqueue_missing(study, planned: dict[str, dict]) -> int:
    """Enqueue one WAITING trial for each planned key that has no live trial; return how many."""
    trials = study.get_trials(deepcopy=False)
    live = {_key(t) for t in trials if _key(t) and not _ignored(t)}
    missing = [key for key in planned if key not in live]
    for key in missing:
        old = [t for t in trials if _key(t) == key and t.params]  # a search slot keeps its settings
        study.enqueue_trial(planned[key] or (old[-1].params if old else {}),
                            user_attrs={'key': key}, skip_if_exists=False)
    return len(missing)


def others_still_running(plan: Plan, study) -> bool:
    """Nothing left to claim: wait for the runs other workers hold. One whose worker died on this
    host (a journal has no heartbeat) is finished from its rows or queued again. False once no run
    of the sweep is running anywhere: the sweep is complete."""
    from optuna.trial import TrialState

    running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if _key(t)]
    if not running:
        return False
    dead = [t for t in running if _dead_here(t)]
    if dead:
        rows = {r['run']: r for r in read_rows(plan.out)}
        for t in dead:
            finish_from_rows(study, t, plan, rows)
        enqueue_missing(study, plan_keys(plan))
    else:
        time.sleep(1)
    return True


def plan_keys(plan: Plan) -> dict[str, dict]:
    """Each trial's key and fixed params: a grid (setting, seed), or a search slot."""
    if plan.search:
        return {f't{slot:03d}': {} for slot in range(plan.search)}
    return {
        run_id(plan, i, seed): {**setting, 'seed': seed}
        for i, setting in enumerate(plan.settings())
        for seed in plan.seeds
    }


def finish_from_rows(study, trial, plan: Plan, rows: dict[str, dict]) -> None:
    """A dead worker's trial: complete it from its rows if written, else mark it abandoned."""
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
        else:  # no 'status': ignored, enqueued again
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
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
    """Write JSON whole or not at all (d2l.atomic_file: a temporary file renamed into place; the
    temporary file of a worker killed mid-write goes when the rerun writes that history)."""
    with d2l.atomic_file(path) as f:
        f.write((json.dumps(obj, indent=1, default=float) + '\n').encode())


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
# Workers: claim a trial, run it, write its row, tell the study
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def cached_data() -> Iterator[None]:
    """d2l.load_mnist_arrays answered from memory after its first call: data read once a worker."""
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
    """Pop one WAITING trial: the storage lets exactly one process turn it RUNNING; None if none is.

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
            first = min(
                t.number
                for t in storage.get_all_trials(study_id, deepcopy=False)
                if _key(t) == key and not _ignored(t)
            )
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
    study = optuna.load_study(
        study_name=plan.study_name, storage=storage, sampler=sampler, pruner=pruner
    )
    # the study's own storage (a database's is wrapped in a cache that must see each claim)
    storage = study._storage
    study_id = storage.get_study_id_from_name(plan.study_name)
    while True:
        optuna.storages.fail_stale_trials(study)
        trial = claim(study, storage, study_id)
        if trial is None:
            if others_still_running(plan, study):
                continue
            return
        beat = _Heartbeat(storage, trial._trial_id)
        try:
            status, value = run_trial(plan, module, study, trial, worker)
        finally:
            beat.stop.set()
        trial.set_user_attr('status', status)
        state = {'ok': TrialState.COMPLETE, 'pruned': TrialState.PRUNED}.get(
            status, TrialState.FAIL
        )
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL
        study.tell(
            trial,
            state=state,
            values=[value] if state == TrialState.COMPLETE else None,
            skip_if_finished=True,
        )
        progress()


def run_trial(plan: Plan, module, study, trial, worker: str) -> tuple[str, float | None]:
    """Run a trial's runs (a grid point: one seed; a search trial: each); return (status, value)."""
    key = _key(trial)
    if plan.search:
        setting = suggest(plan, trial)
        seeds = plan.seeds
        index = int(key[1:])
    else:
        # The enqueued params come back from suggest: the trial records them (for optuna-dashboard).
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
            print(
                f'run {run} ({_describe(setting)}, seed {seed}) failed: {message}', file=sys.stderr
            )
        metrics = record(plan, run, setting, seed, status, history, seconds, worker)
        statuses.append(status)
        values.append(metrics.get(plan.metric))
    status = next((s for s in ('pruned', 'failed', 'diverged') if s in statuses), 'ok')
    return status, _mean(values)


def record(
    plan: Plan,
    run: str,
    setting: dict,
    seed: int,
    status: str,
    history: dict,
    seconds: float,
    worker: str,
) -> dict:
    """Write a run's history (atomically) and then its row; return its metrics."""
    write_json(plan.out / 'histories' / f'{run}.json', history)
    metrics = row_metrics(plan, history)
    append_row(
        plan.out,
        plan.columns,
        {
            'run': run,
            **setting,
            'seed': seed,
            **metrics,
            'seconds': seconds,
            'status': status,
            'worker': worker,
        },
    )
    return metrics


def suggest(plan: Plan, trial) -> dict[str, str]:
    """A search trial's setting from Optuna's sampler: ranges (log if hi/lo >= 10), lists."""
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


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


_MODULES: dict[Path, object] = {}  # the scripts this process imported: a forked worker reuses them


def _worker_main(plan: Plan, number: int, threads: int, parent: int) -> None:
    """A worker process: torch threads = its share of the cores, stdout silenced, then work()."""
    _die_with_parent(parent)
    import torch

    torch.set_num_threads(threads)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the sweep's stdout is the final table only
    # Ctrl-C reaches the parent, which stops its workers with SIGTERM: raised as KeyboardInterrupt,
    # it unwinds the run and releases the journal's lock on its way out.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # forked: the script the sweep imported; spawned: imported here, once
        module = _MODULES.get(plan.script) or load_module(plan.script)
        with cached_data():
            work(plan, module, f'{HOST}/{os.getpid()}')
    except KeyboardInterrupt:
        # the run in flight stays RUNNING under this pid: a rerun sees it died and reruns it
        os._exit(130)
    except Exception as e:  # the storage failing under a worker: say it, the others go on
        print(f'worker {number} stopped: {type(e).__name__}: {e}', file=sys.stderr)
        os._exit(1)


# ---------------------------------------------------------------------------
# The sweep's process: the workers, the progress line, a search's final run
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


def _fresh_process() -> bool:
    """True in `python -m d2l sweep` itself, which has run no torch computation before its workers
    start: forking it is safe. Elsewhere (a notebook, a test) torch may have started its OpenMP
    threads, and a forked child that computes would hang on them: workers are spawned instead."""
    main_file = getattr(sys.modules.get('__main__'), '__file__', None)
    return main_file is not None and Path(main_file).resolve() == Path(d2l.__file__).resolve()


def run_workers(
    plan: Plan, module, loaded: list[argparse.Namespace], progress: Progress, todo: int
) -> None:
    """Start plan.workers processes (at most todo) and wait. Forked (on Linux, from the command),
    they share the data read here; spawned, each imports the script and reads the data once."""
    method = 'fork' if sys.platform.startswith('linux') and _fresh_process() else 'spawn'
    context = multiprocessing.get_context(method)
    _MODULES[plan.script] = module
    workers = min(plan.workers, todo)  # no idle process for a sweep that is nearly done
    threads = max(1, _cores() // workers)
    with cached_data():
        if method == 'fork':  # read once here; the forked workers inherit the tensors
            for args in loaded:
                if getattr(args, 'dataset', None):
                    d2l.load_mnist_arrays(args.dataset, root=args.data_root)
        processes = [
            context.Process(target=_worker_main, args=(plan, n, threads, os.getpid()), daemon=True)
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


def final_run(plan: Plan, module) -> str:
    """--search: the best trial's settings, and its test accuracy from one run without --valid."""
    import optuna

    storage = open_storage(plan)
    study = optuna.load_study(study_name=plan.study_name, storage=storage)
    try:
        best = study.best_trial
    except ValueError:
        return 'search: no trial finished (all pruned, diverged or failed); widen the ranges'
    finally:
        _close(storage)
    setting = {
        a.column: (
            str(best.params[a.column])
            if not isinstance(best.params[a.column], float)
            else f'{best.params[a.column]:.4g}'
        )
        for a in plan.axes
    }
    flags = ' '.join(f'{a.flag} {setting[a.column]}' for a in plan.axes)
    seed = plan.seeds[0]
    with cached_data():
        status, history, message = run_once(
            module, run_argv(plan, setting, seed, 'best', final=True), None
        )
    test = _last(history, 'test_acc')
    result = (
        f'test acc {test:.4f}'
        if status == 'ok' and test is not None
        else f'the final run {status} {message}'
    )
    seeds = f'mean of {len(plan.seeds)} seeds' if len(plan.seeds) > 1 else f'seed {plan.seeds[0]}'
    return (
        f'best of {plan.search} trials: {flags} (valid acc {best.value:.4f}, {seeds}, trial'
        f' {best.number}); one more run without --valid (all the training images), seed {seed}:'
        f' {result}'
    )

