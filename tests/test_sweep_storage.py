"""python -m d2l sweep --storage URL: one sweep in a database, shared by commands started at the
same moment, by two checkouts in different folders, by two machines (here: two host names), one
of them killed mid-run. SQLite files in a temporary folder, and a throwaway PostgreSQL server on
127.0.0.1 (conftest.postgres_url). Runs are linear regression, a fraction of a second each."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, copy_checkout, other_host
from d2lkit import sweep_plan, sweep_runs

LRS = '0.01,0.02,0.03,0.04,0.05,0.06'


def rows(out: Path) -> list[dict]:
    with open(out / 'results.csv', newline='') as f:
        return list(csv.DictReader(f))


def study(url: str, name: str):
    import optuna
    return optuna.load_study(study_name=name,
                             storage=optuna.storages.RDBStorage(sweep_runs.database_url(url)))


def sweep_line(url: str, *flags: str, out: str = 'sweeps/shared') -> list[str]:
    return ['-m', 'd2l', 'sweep', 'ch_linear_regression/scratch.py', '--lr', LRS, '--seeds', '0,1',
            '--workers', '1', '--storage', url, '--out', out, *flags]


def at_the_same_moment(argv: list[str], folders: list[Path], prefixes=None
                       ) -> list[subprocess.Popen]:
    """Start `python ARGV` in each folder so that they reach the database together: each imports
    torch, optuna and SQLAlchemy first, then waits for one shared moment."""
    moment = time.time() + 8
    start = ('import time, runpy, sys, torch, optuna, sqlalchemy, pandas; '
             f'time.sleep(max(0, {moment} - time.time())); '
             f'sys.argv = ["d2l", *{argv[2:]!r}]; runpy.run_module("d2l", run_name="__main__", alter_sys=True)')
    prefixes = prefixes or [[] for _ in folders]
    return [subprocess.Popen([*prefix, sys.executable, '-c', start], cwd=folder,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, 'PYTHONPATH': os.pathsep.join(
                                 [str(folder), *filter(None, [os.environ.get('PYTHONPATH')])])})
            for prefix, folder in zip(prefixes, folders)]


def finished(processes: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    outputs = [p.communicate(timeout=timeout) for p in processes]
    assert [p.returncode for p in processes] == [0] * len(processes), outputs
    return [err for _, err in outputs]


def assert_each_run_once(table: list[dict]) -> None:
    assert len(table) == 12 and len({r['run'] for r in table}) == 12
    assert sorted((r['lr'], r['seed']) for r in table) == sorted(
        (lr, s) for lr in LRS.split(',') for s in '01')
    assert {r['status'] for r in table} == {'ok'}


# ---------------------------------------------------------------------------
# SQLite: one machine, one database file
# ---------------------------------------------------------------------------

def test_two_commands_started_at_once_on_a_fresh_sqlite_file_share_one_grid(tmp_path):
    # Both create the tables of the fresh file; the one that loses tries again and finds them.
    url = f'sqlite:///{tmp_path / "sweep.db"}'
    folders = [copy_checkout(tmp_path / 'a'), copy_checkout(tmp_path / 'b')]
    finished(at_the_same_moment(sweep_line(url), folders))
    tables = [rows(folder / 'sweeps' / 'shared') for folder in folders]
    assert_each_run_once(tables[0])
    assert tables[0] == tables[1]  # each command wrote the whole study when it ended
    assert len({r['worker'] for r in tables[0]}) == 2  # the work was split


def test_a_second_checkout_in_another_folder_is_the_same_sweep(tmp_path):
    url = f'sqlite:///{tmp_path / "sweep.db"}'
    first, second = copy_checkout(tmp_path / 'one'), copy_checkout(tmp_path / 'two')
    done = subprocess.run([sys.executable, *sweep_line(url)], cwd=first, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([sys.executable, *sweep_line(url)], cwd=second, capture_output=True,
                           text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert 'all 12 runs already done' in again.stderr
    assert rows(second / 'sweeps' / 'shared') == rows(first / 'sweeps' / 'shared')


def test_two_sweeps_with_outs_of_one_name_in_two_folders_are_two_studies(tmp_path, monkeypatch):
    import optuna
    url = f'sqlite:///{tmp_path / "sweep.db"}'
    monkeypatch.chdir(tmp_path)
    plans = [sweep_plan.make_plan([str(ROOT / 'ch_linear_regression' / 'scratch.py'), '--lr',
                                   '0.01,0.03', '--storage', url, '--out', out])
             for out in ('a/x', 'b/x/')]
    assert [p.study for p in plans] == ['a/x', 'b/x']
    for plan in plans:
        plan.out.mkdir(parents=True)
        sweep_runs.prepare(plan)
    assert sorted(optuna.get_all_study_names(url)) == ['a/x', 'b/x']
    named = sweep_plan.make_plan([str(ROOT / 'ch_linear_regression' / 'scratch.py'),
                                  '--storage', url, '--out', 'a/x', '--study', 'mine'])
    assert named.study == 'mine'


def test_a_bad_storage_url_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, *sweep_line('nosuchdb://x')], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count('\n') == 1, done.stderr
    assert done.stderr.startswith('error: --storage nosuchdb://x: ')


def test_a_plain_postgresql_url_gets_the_installed_driver():
    pytest.importorskip('psycopg')
    assert sweep_runs.database_url('postgresql://me@db:5432/sweeps') == (
        'postgresql+psycopg://me@db:5432/sweeps')
    assert sweep_runs.database_url('sqlite:///x.db') == 'sqlite:///x.db'


# ---------------------------------------------------------------------------
# PostgreSQL: two machines, one killed
# ---------------------------------------------------------------------------

def test_two_commands_started_at_once_on_a_fresh_postgresql_database(tmp_path, postgres_url):
    folders = [copy_checkout(tmp_path / 'a'), copy_checkout(tmp_path / 'b')]
    finished(at_the_same_moment(sweep_line(postgres_url), folders))
    assert_each_run_once(rows(folders[0] / 'sweeps' / 'shared'))
    assert rows(folders[0] / 'sweeps' / 'shared') == rows(folders[1] / 'sweeps' / 'shared')


@pytest.mark.slow
def test_two_machines_one_killed_the_other_finishes_every_run_once(tmp_path, postgres_url):
    # Two checkouts, two host names, one PostgreSQL study. Machine A is killed (kill -9) while it
    # holds a run: its heartbeat stops, B fails A's trial after the grace period and runs it.
    folders = [copy_checkout(tmp_path / 'a'), copy_checkout(tmp_path / 'b')]
    hosts = [other_host('machine-a'), other_host('machine-b')]
    line = sweep_line(postgres_url, '--epochs', '60')  # about 5 s a run
    a, b = at_the_same_moment(line, folders, hosts)

    def of_a(worker: dict | None) -> bool:
        """A trial signed by machine A: its host name, or (one host name) a worker of A's."""
        if worker is None:
            return False
        if hosts[0]:
            return worker['host'] == 'machine-a'
        stat = Path(f'/proc/{worker["pid"]}/stat')
        return stat.exists() and int(stat.read_text().rsplit(')', 1)[1].split()[1]) == a.pid
    name = 'sweeps/shared'
    deadline = time.time() + 120
    while True:  # A has finished a run and has just begun another (far from its end)
        assert time.time() < deadline, 'machine A never held a run'
        assert a.poll() is None and b.poll() is None
        time.sleep(0.1)
        try:
            trials = study(postgres_url, name).get_trials()
        except KeyError:
            continue
        if any(sweep_runs.recorded(t) for t in trials) and any(
                t.state.name == 'RUNNING' and of_a(t.user_attrs.get('worker'))
                and sweep_runs.held_for(t) < 1 for t in trials):
            break
    os.kill(a.pid, signal.SIGKILL)
    killed = time.time()
    a.wait()
    [held] = [t.user_attrs['key'] for t in study(postgres_url, name).get_trials()
              if t.state.name == 'RUNNING' and of_a(t.user_attrs.get('worker'))]
    [err] = finished([b])
    table = rows(folders[1] / 'sweeps' / 'shared')
    assert_each_run_once(table)
    trials = study(postgres_url, name).get_trials()
    # Both commands enqueue a fresh study's keys at once, so a key may also have a copy: claimed,
    # then abandoned unsigned (never run). The runs of the held key: A's, failed, and one retry.
    of_key = [t for t in trials if t.user_attrs.get('key') == held]
    assert all(t.state.name == 'FAIL' and sweep_runs.RECORD not in t.user_attrs
               for t in of_key if 'worker' not in t.user_attrs)
    of_held = sorted((t.number, t.state.name) for t in of_key if 'worker' in t.user_attrs)
    assert [state for _, state in of_held] == ['FAIL', 'COMPLETE'], of_held  # retried once
    retry = next(t for t in trials if t.number == of_held[1][0])
    assert retry.datetime_start.timestamp() - killed < 120  # within 2 minutes of the kill
    if hosts[0]:  # two host names: each row says which machine ran it
        assert {r['host'] for r in table} == {'machine-a', 'machine-b'}
        assert next(r for r in table if r['run'] == held)['host'] == 'machine-b'
