"""python -m d2l sweep and d2l.sweep: a grid of settings and seeds on an Optuna study, run by worker
processes; rows and files in --out, each (setting, seed) run once even by two commands at once, a
killed sweep resumed, bad lines refused before anything is written, a search with pruning.
Runs are tiny (linear regression, or softmax on the tiny IDX data, 1-4 epochs). The report
(d2lkit.sweep_report) is another module's; here a stand-in takes its place."""
import csv
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types

import pandas as pd
import pytest
import torch

import d2l
import d2lkit
from conftest import ROOT, install_kit, is_png, program, train
from d2lkit import script as kit
from d2lkit import sweep, sweep_plan, sweep_report, sweep_runs

LINREG = str(ROOT / 'ch_linear_regression' / 'scratch.py')
SOFTMAX = str(ROOT / 'ch_softmax' / 'scratch.py')


@pytest.fixture(autouse=True)
def report_stand_in(monkeypatch):
    """A stand-in for d2lkit.sweep_report: records its call, returns a one-line table."""
    calls = []

    def report(out, axes, metric, higher_is_better, show=False, reference=None):
        calls.append((out, axes, metric, higher_is_better, show, reference))
        return pd.DataFrame({'setting': ['x'], metric: [1.0]})

    def importance_figure(study, path):
        calls.append(('importance', len(study.get_trials()), path))
        return {}

    stand_in = types.SimpleNamespace(report=report, format_table=lambda table: 'THE TABLE',
                                     importance_figure=importance_figure, calls=calls,
                                     # --more-seeds judges the verdicts: the real ones
                                     read_results=sweep_report.read_results,
                                     undecided=sweep_report.undecided,
                                     same_value=sweep_report.same_value)
    monkeypatch.setitem(sys.modules, 'd2lkit.sweep_report', stand_in)
    monkeypatch.setattr(d2lkit, 'sweep_report', stand_in, raising=False)
    return stand_in


def rows(out) -> list[dict]:
    with open(out / 'results.csv', newline='') as f:
        return list(csv.DictReader(f))


def sweep_cli(argv, capsys) -> tuple[int, str, str]:
    """sweep.cli(argv) in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        sweep.cli([str(a) for a in argv])
        status = 0
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def cli_program(argv) -> list[str]:
    """`python -m d2l sweep ARGV` as a user types it, from the repository folder."""
    return ['-m', 'd2l', 'sweep', *map(str, argv)]


# ---------------------------------------------------------------------------
# A grid: its rows and files
# ---------------------------------------------------------------------------

def test_a_grid_gives_one_row_and_one_history_per_run_and_one_file_per_run(
        tiny_data, tmp_path, capsys, report_stand_in):
    out = tmp_path / 'out'
    status, stdout, stderr = sweep_cli([SOFTMAX, '--lr', '0.03,0.1', '--epochs', '2',
                                        '--seeds', '0,1',
                                        '--data-root', tiny_data, '--history', 'h.json',
                                        '--workers', '1', '--out', out], capsys)
    assert status == 0, stderr
    assert stdout == 'THE TABLE\n'  # the sweep's stdout is the report's table only
    table = rows(out)
    assert list(table[0]) == ['run', 'lr', 'seed', 'train_loss', 'train_acc', 'test_acc', 'seconds',
                              'status', 'worker', 'host']
    assert {r['host'] for r in table} == {socket.gethostname()}
    assert {r['worker'].split('/')[0] for r in table} == {socket.gethostname()}
    assert sorted((r['lr'], r['seed']) for r in table) == [
        ('0.03', '0'), ('0.03', '1'), ('0.1', '0'), ('0.1', '1')]
    assert {r['status'] for r in table} == {'ok'}
    for r in table:
        history = json.loads((out / 'histories' / f'{r["run"]}.json').read_text())
        assert len(history['test_acc']) == 2
        assert float(r['test_acc']) == pytest.approx(history['test_acc'][-1], abs=1e-6)
        assert (out / 'files' / f'{r["run"]}-history.json').is_file()  # --history: one file per run
    assert not (tmp_path / 'h.json').exists()
    assert (out / 'study.log').is_file()
    # the script's default, the book's lr 0.1, is the setting each is compared with
    assert report_stand_in.calls == [(out, ['lr'], 'test_acc', True, False, {'lr': '0.1'})]
    # The same seed gives the same numbers as the script run alone.
    alone = kit.load_script(SOFTMAX).main(['--lr', '0.1', '--epochs', '2', '--seed', '1',
                                            '--data-root', str(tiny_data)])
    row = next(r for r in table if (r['lr'], r['seed']) == ('0.1', '1'))
    assert float(row['train_loss']) == pytest.approx(alone['train_loss'][-1], rel=1e-5)


def test_a_multi_value_flag_is_one_axis_value(tiny_data, tmp_path, capsys):
    out = tmp_path / 'out'
    status, _, stderr = sweep_cli([ROOT / 'ch_mlp' / 'concise.py', '--hidden', '8 4,16',
                                   '--epochs', '1',
                                   '--workers', '1', '--seeds', '0', '--data-root', tiny_data,
                                   '--save', 'w.pt', '--out', out], capsys)
    assert status == 0, stderr
    assert sorted(r['hidden'] for r in rows(out)) == ['16', '8 4']
    for r in rows(out):  # '8 4' is two hidden layers: 3 weight matrices; '16' is one: 2
        saved = torch.load(out / 'files' / f'{r["run"]}-save', weights_only=True)
        matrices = [t for t in saved['weights'].values() if t.dim() == 2]
        assert len(matrices) == len(r['hidden'].split()) + 1, saved.keys()


def test_a_diverging_learning_rate_is_an_answer_and_the_sweep_goes_on(tmp_path, capsys):
    out = tmp_path / 'out'
    status, _, stderr = sweep_cli([LINREG, '--lr', '0.03,100', '--seeds', '0', '--workers', '1',
                                   '--out', out], capsys)
    assert status == 0, stderr
    by_lr = {r['lr']: r for r in rows(out)}
    assert by_lr['100']['status'] == 'diverged' and by_lr['0.03']['status'] == 'ok'
    assert float(by_lr['0.03']['w_error']) < 0.01 and float(by_lr['0.03']['b_error']) < 0.01


def test_rerunning_the_same_command_runs_nothing_and_says_so(tmp_path, capsys):
    argv = [LINREG, '--lr', '0.01,0.03', '--epochs', '1', '--seeds', '0', '--out', tmp_path / 'out']
    assert sweep_cli(argv, capsys)[0] == 0
    before = (tmp_path / 'out' / 'results.csv').read_text()
    status, _, stderr = sweep_cli(argv, capsys)
    assert status == 0 and 'all 2 runs already done' in stderr
    assert (tmp_path / 'out' / 'results.csv').read_text() == before


# ---------------------------------------------------------------------------
# Each (setting, seed) exactly once: two workers, two commands, a killed sweep
# ---------------------------------------------------------------------------

def trials_per_key(out) -> dict[str, int]:
    """How many finished trials of each key the study holds (each key must have exactly one)."""
    import optuna
    backend = optuna.storages.journal.JournalFileBackend(str(out / 'study.log'))
    storage = optuna.storages.JournalStorage(backend)
    study = optuna.load_study(study_name='sweep', storage=storage)
    counts: dict[str, int] = {}
    for t in study.get_trials():
        if sweep_runs.recorded(t):
            counts[t.user_attrs['key']] = counts.get(t.user_attrs['key'], 0) + 1
    return counts


def recorded_rows(out) -> dict[str, dict]:
    """The rows the study in out/study.log holds, by run (before any results.csv is written)."""
    import optuna
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / 'study.log')))
    try:
        study = optuna.load_study(study_name='sweep', storage=storage)
    except KeyError:  # not created yet
        return {}
    return {row['run']: row for t in study.get_trials() if sweep_runs.recorded(t)
            for row in t.user_attrs['record']['rows']}


def test_two_commands_on_one_sweep_run_each_setting_and_seed_once(tmp_path):
    out = tmp_path / 'out'
    argv = cli_program([LINREG, '--lr', '0.01,0.02,0.03,0.04,0.05,0.06', '--epochs', '2',
                        '--seeds', '0,1',
                        '--workers', '2', '--out', out])
    env = {**os.environ, 'XDG_CACHE_HOME': str(tmp_path / 'cache')}
    both = [subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], results
    table = rows(out)
    assert sorted(r['run'] for r in table) == sorted({r['run'] for r in table}) and len(table) == 12
    assert sorted((r['lr'], r['seed']) for r in table) == sorted(
        (lr, s) for lr in ('0.01', '0.02', '0.03', '0.04', '0.05', '0.06') for s in '01')
    assert set(trials_per_key(out).values()) == {1} and len(trials_per_key(out)) == 12
    assert len({r['worker'] for r in table}) >= 2  # the work was split


def test_kill_9_mid_sweep_then_a_rerun_completes_without_duplicates(tmp_path):
    out = tmp_path / 'out'
    argv = cli_program([LINREG, '--lr', '0.01,0.02,0.03,0.04', '--epochs', '40', '--seeds', '0,1',
                        '--workers', '1', '--out', out])
    env = {**os.environ, 'XDG_CACHE_HOME': str(tmp_path / 'cache')}
    first = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (out / 'study.log').exists() or not recorded_rows(out):
        assert time.time() < deadline, 'no run finished within 60 s'
        assert first.poll() is None, 'the sweep ended before it could be killed'
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(0.5)  # its worker dies with it (PR_SET_PDEATHSIG)
    before = recorded_rows(out)
    assert 1 <= len(before) < 8
    assert not (out / 'results.csv').exists()  # written from the study when a command ends
    done = program(argv, ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f'{len(before)} of 8 runs already done' in done.stderr
    table = rows(out)
    assert len(table) == 8 and len({r['run'] for r in table}) == 8
    for run, row in before.items():  # finished runs were not rerun: their rows are the first's
        assert [float(r['seconds']) for r in table if r['run'] == run] == [
            pytest.approx(row['seconds'], rel=1e-5)]
    assert not list(out.rglob('*.tmp'))
    assert set(trials_per_key(out).values()) == {1}


# ---------------------------------------------------------------------------
# Bad lines: one line, exit 2, nothing written
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('flags, says', [
    (['--lrr', '0.1'], 'unrecognized arguments: --lrr'),
    (['--lr', '0.1,x'], "lr=x: argument --lr: 'x' is not a number"),
    (['--lr', '0.1,'], 'an empty value in the axis'),
    (['--lr', ','], 'an empty value in the axis'),
    (['--seed', '1'], 'give --seeds 0,1,2'),
    (['--lr', '0.1..1'], 'a range lo..hi needs --search N'),
    (['--search', '3', '--lr', '0.01..1'], 'give --valid N too'),
    (['--seeds', '0,x'], '--seeds takes whole numbers'),
    (['--workers', '0'], '--workers takes a positive whole number'),
    (['--workers', '999'], 'give at most --workers'),
    (['--out='], '--out is empty'),
    (['--seeds', '3..1'], 'is an empty range'),
    (['--study', 'x'], 'give --storage too'),
    (['--prune', 'median', '--search', '3', '--valid', '10', '--lr', '0.01..1'],
     "--prune takes halving, halving:N, hyperband, none (N: the epochs before any pruning), "
     "got 'median'"),
    (['--prune', 'halving:0', '--search', '3', '--valid', '10', '--lr', '0.01..1'],
     "got 'halving:0'"),
    (['--grid', 'zip', '--lr', '0.1,0.3', '--epochs', '1,2,3'],
     '--grid zip pairs the k-th values of the swept flags, which need as many values each; '
     'got --lr 2, --epochs 3'),
    (['--grid', 'zip', '--search', '3', '--valid', '10', '--lr', '0.01..1'],
     '--grid zip is for a grid'),
    (['--grid', 'diagonal', '--lr', '0.1,0.3'], "--grid takes product or zip, got 'diagonal'"),
    (['--lr', '0.1,0.3,0.1'], '--lr 0.1,0.3,0.1 names a value twice'),
    (['--grid', 'zip', '--lr', '0.1,0.3,0.1', '--epochs', '1,2,1'],
     '--grid zip names a setting twice'),
    (['--prune', 'none', '--lr', '0.01,0.1'], '--prune is for a search: give --search N too'),
    (['--hidden', '64,128', '256'], 'quote the whole axis'),
])
def test_a_bad_line_is_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, flags, says):
    script = ROOT / 'ch_mlp' / 'concise.py' if '--hidden' in flags else LINREG
    status, stdout, stderr = sweep_cli([script, *flags, '--out', tmp_path / 'out'], capsys)
    assert status == 2 and stdout == ''
    assert stderr.startswith('error: ') and stderr.count('\n') == 1 and says in stderr, stderr
    assert not (tmp_path / 'out').exists()


def test_another_sweep_in_the_same_out_is_refused_and_nothing_changes(tmp_path, capsys):
    out = tmp_path / 'out'
    argv = [LINREG, '--lr', '0.01,0.03', '--epochs', '1', '--seeds', '0', '--out', out]
    assert sweep_cli(argv, capsys)[0] == 0
    before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    status, stdout, stderr = sweep_cli([LINREG, '--lr', '0.01,0.03', '--epochs', '2',
                                        '--seeds', '0',
                                        '--out', out], capsys)
    assert status == 2 and stdout == '' and stderr.count('\n') == 1
    assert f'{out} holds another sweep' in stderr and '--epochs 1' in stderr
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == before


def test_the_sweep_options_are_never_abbreviated_nor_taken_for_the_script_s(tmp_path, capsys):
    assert sweep_plan.split_line(['s.py', '--seeds', '1,2', '--lr', '0.1', '--out=o']) == (
        {'--seeds': '1,2', '--out': 'o'}, ['s.py', '--lr', '0.1'])
    assert sweep_plan.split_line(['s.py', '--see', '1'])[0] == {}  # not --seeds: the script's flag
    status, _, stderr = sweep_cli([LINREG, '--see', '1', '--out', tmp_path / 'out'], capsys)
    assert status == 2 and "--see would be the script's --seed" in stderr  # argparse: --seed
    status, _, stderr = sweep_cli([LINREG, '--epoch', '1', '--out', tmp_path / 'out'], capsys)
    assert status == 2 and 'write flags in full in a sweep (did you mean --epochs?)' in stderr


def test_help_says_how_to_sweep_a_multi_value_flag(capsys):
    status, stdout, _ = sweep_cli(['--help'], capsys)
    assert status == 0 and '--hidden "128 256,512 512"' in stdout and '--seeds 0,1,2' in stdout


# ---------------------------------------------------------------------------
# d2l.sweep, and the command through d2l's own command line
# ---------------------------------------------------------------------------

def test_d2l_sweep_returns_one_row_per_run_and_optuna_stays_out_of_d2l(tmp_path):
    table = d2l.sweep(LINREG, seeds=(0, 1), out=tmp_path / 'out', lr=[0.01, 0.03], epochs=1,
                      workers=1)
    assert isinstance(table, pd.DataFrame) and len(table) == 4
    assert list(table.attrs['summary']['setting']) == ['x']  # the report's table, verdicts and all
    assert sorted(zip(table['lr'], table['seed'])) == [(0.01, 0), (0.01, 1), (0.03, 0), (0.03, 1)]
    with pytest.raises(d2l.D2LError, match='unrecognized arguments: --lrr'):
        d2l.sweep(LINREG, out=tmp_path / 'bad', lrr=[0.1, 0.2])
    done = program(['-c', 'import d2l, sys; print("optuna" in sys.modules)'], ROOT, tmp_path)
    assert done.stdout == 'False\n'


def test_python_m_d2l_sweep_runs_from_the_command_line(tmp_path):
    done = program(cli_program([LINREG, '--epochs', '1', '--lr', '0.01,0.03', '--seeds', '0',
                                '--out',
                                tmp_path / 'out']), ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(rows(tmp_path / 'out')) == 2
    assert 'sweep: 2/2 runs' in done.stderr
    bad = program(cli_program([LINREG, '--seed', '3']), ROOT, tmp_path)
    assert bad.returncode == 2 and bad.stderr.count('\n') == 1


# ---------------------------------------------------------------------------
# --search: Optuna's sampler over ranges, pruned on validation accuracy
# ---------------------------------------------------------------------------

def test_a_search_prunes_poor_trials_and_chooses_on_validation(tiny_data, tmp_path, capsys,
                                                               report_stand_in):
    # On the tiny data, epoch 1's validation accuracy is 0.0 below lr 0.035 and 0.8 from lr 0.2:
    # a trial survives its first rung only if it ties the best so far. 8 random trials all do
    # so about 1 time in 100 (CI saw it once); 16, under 1 in 20,000 (a simulation of the rule).
    trials = 16
    out = tmp_path / 'out'
    status, stdout, stderr = sweep_cli([SOFTMAX, '--valid', '10', '--search', str(trials),
                                        '--lr', '0.001..3',
                                        '--epochs', '4', '--seeds', '0', '--data-root', tiny_data,
                                        '--history', 'h.json', '--workers', '1', '--out', out],
                                       capsys)
    assert status == 0, stderr
    table = rows(out)
    assert len(table) == trials and 'valid_acc' in table[0] and 'test_acc' not in table[0]
    # one --history file per run that finished; the final run without --valid writes none
    assert sorted(p.name for p in (out / 'files').iterdir()) == sorted(
        f'{r["run"]}-history.json' for r in table if r['status'] == 'ok')
    assert 'pruned' in {r['status'] for r in table}
    best_line = stdout.splitlines()[0]
    assert best_line.startswith(f'best of {trials} trials: --lr ') and 'test acc ' in best_line
    finished = [r for r in table if r['status'] == 'ok']
    best_valid = max(float(r['valid_acc']) for r in finished)
    assert f'valid acc {best_valid:.4f}' in best_line  # chosen on the validation split
    assert stdout.splitlines()[1:] == ['THE TABLE']
    assert (out / 'best.txt').read_text() == best_line + '\n'  # kept beside the summary
    # the search's study weighs its flags: importance.png (d2lkit.sweep_report)
    assert report_stand_in.calls[-1] == ('importance', trials, out / 'importance.png')


def test_from_the_command_line_the_final_run_is_forked_and_answers_as_the_script_does(
        tiny_data, tmp_path):
    # `python -m d2l` forks its workers and the search's final run (which goes on while the
    # report is written); its test accuracy is the script's own for the best setting.
    out = tmp_path / 'out'
    done = program(cli_program([SOFTMAX, '--valid', '10', '--search', '3', '--lr', '0.01..1',
                                '--epochs', '2', '--seeds', '0', '--data-root', tiny_data,
                                '--workers', '2', '--out', out]), ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    best_line = done.stdout.splitlines()[0]
    assert (out / 'best.txt').read_text() == best_line + '\n'
    lr = re.search(r'best of 3 trials: --lr ([0-9.e-]+) ', best_line).group(1)
    test_acc = float(re.search(r'seed 0: test acc ([0-9.]+)$', best_line).group(1))
    assert re.search(r'the final run took [0-9.]+ s', done.stderr)
    assert (out / 'summary.md').exists() and is_png(out / 'curves.png')
    again = train('ch_softmax/scratch', '--lr', lr, '--epochs', '2', '--seed', '0', data=tiny_data)
    assert test_acc == pytest.approx(again['test_acc'][-1], abs=5e-5)


@pytest.mark.parametrize('argv, fresh', [(['sweep', 'x.py'], True),
                                         (['exercises', '--write-doc', 'x'], False), ([], False)])
def test_only_the_sweep_command_itself_forks_its_workers(monkeypatch, argv, fresh):
    # `python -m d2l exercises` ran snippets (torch's OpenMP threads started) before its sweeps:
    # a forked worker given 2 threads by CoreShare then waited for ever on the missing threads
    monkeypatch.setitem(sys.modules, '__main__', types.SimpleNamespace(__file__=d2l.__file__))
    monkeypatch.setattr(sys, 'argv', [d2l.__file__, *argv])
    assert sweep_runs.fork_safe() is fresh
    monkeypatch.setitem(sys.modules, '__main__', types.SimpleNamespace(__file__=__file__))
    monkeypatch.setattr(sys, 'argv', [__file__, 'sweep'])
    assert sweep_runs.fork_safe() is False


def test_a_worker_with_nothing_left_gives_its_cores_to_those_still_running(monkeypatch):
    monkeypatch.setattr(sweep_runs, 'cores', lambda: 4)
    live = multiprocessing.Value('i', 2)
    first, second = sweep_runs.CoreShare(live), sweep_runs.CoreShare(live)
    threads = torch.get_num_threads()
    try:
        first.take()
        assert torch.get_num_threads() == 2  # two workers on four cores
        second.leave()
        second.leave()  # said twice, counted once
        assert live.value == 1
        hook_saw = []
        first.each_epoch(lambda epoch, numbers: hook_saw.append(torch.get_num_threads()))(1, {})
        assert hook_saw == [4]  # the next epoch runs on all four
        second.back()  # it claimed a retried run: two again
        first.take()
        assert live.value == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_the_sweep_imports_from_any_folder_after_installing_the_kit(tmp_path):
    """pyproject.toml lists d2lkit beside d2l: pip installs both (no dependencies fetched here)."""
    site = install_kit(tmp_path)
    done = program(['-c', 'import d2lkit.sweep, d2lkit.sweep_runs; print(d2lkit.sweep.__file__)'],
                   tmp_path, tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(site / 'd2lkit' / 'sweep.py')


def test_a_results_csv_of_no_sweep_is_never_appended_to(tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'results.csv').write_text('mine\n')
    status, _, stderr = sweep_cli([LINREG, '--lr', '0.01,0.03', '--out', out], capsys)
    assert status == 2 and 'holds a results.csv of no sweep here' in stderr
    assert sorted(p.name for p in out.iterdir()) == ['results.csv']
    assert (out / 'results.csv').read_text() == 'mine\n'


def test_a_regression_with_a_test_set_reports_its_test_loss(tmp_path, capsys, report_stand_in):
    # The polynomial (and weight decay) scripts keep a test set of their own: the sweep's answer is
    # its test loss, lower is better, not linear regression's errors in w and b.
    out = tmp_path / 'out'
    status, _, stderr = sweep_cli([str(ROOT / 'ch_model_selection' / 'polynomial.py'),
                                   '--degree', '1,3', '--epochs', '20', '--seeds', '0',
                                   '--workers', '1', '--out', out], capsys)
    assert status == 0, stderr
    table = {r['degree']: r for r in rows(out)}
    assert list(table['1'])[2:5] == ['seed', 'train_loss', 'test_loss']
    history = json.loads((out / 'histories' / f'{table["3"]["run"]}.json').read_text())
    assert float(table['3']['test_loss']) == pytest.approx(history['test_loss'][-1], rel=1e-5)
    assert float(table['3']['test_loss']) < float(table['1']['test_loss'])  # degree 1 underfits


def test_weight_decay_with_valid_chooses_on_its_validation_loss(tmp_path, capsys,
                                                                report_stand_in):
    # With --valid N fixed, weight decay's sweep chooses on the validation loss (lower is
    # better) and still shows the test loss of every run; without it, on the test loss.
    script = str(ROOT / 'ch_weight_decay' / 'scratch.py')
    plain = sweep_plan.make_plan([script, '--weight-decay', '0,3'])
    assert (plain.classifier, plain.metric) == (False, 'test_loss')
    assert plain.metrics == ['train_loss', 'test_loss']
    out = tmp_path / 'out'
    status, _, stderr = sweep_cli([script, '--valid', '200', '--weight-decay', '0,3',
                                   '--epochs', '10', '--seeds', '0', '--workers', '1',
                                   '--out', out], capsys)
    assert status == 0, stderr
    (call,) = report_stand_in.calls
    assert call[2:4] == ('valid_loss', False)  # the metric chosen on, lower is better
    table = {r['weight_decay']: r for r in rows(out)}
    assert list(table['0'])[2:6] == ['seed', 'train_loss', 'valid_loss', 'test_loss']
    history = json.loads((out / 'histories' / f'{table["3"]["run"]}.json').read_text())
    for key in ('valid_loss', 'test_loss'):
        assert float(table['3'][key]) == pytest.approx(history[key][-1], rel=1e-5)
    assert float(table['3']['valid_loss']) < float(table['0']['valid_loss'])


def test_a_history_half_written_by_a_killed_process_goes_when_the_rerun_writes_it(tmp_path,
                                                                                 capsys):
    # kill -9 between a history's temporary file and its rename leaves the temporary file (and
    # no history); the rerun writes every missing history from the study, which sweeps it away.
    out = tmp_path / 'out'
    argv = [LINREG, '--lr', '0.01,0.03', '--epochs', '1', '--seeds', '0', '--out', out]
    assert sweep_cli(argv, capsys)[0] == 0
    history = (out / 'histories' / 'g000-s0.json').read_text()
    (out / 'histories' / 'g000-s0.json').unlink()
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    (out / 'histories' / f'.g000-s0.json.{dead}.tmp').write_text('{"train_lo')
    status, _, stderr = sweep_cli(argv, capsys)
    assert status == 0 and 'all 2 runs already done' in stderr
    assert (out / 'histories' / 'g000-s0.json').read_text() == history
    assert not list(out.rglob('*.tmp'))


def study_of(plan):
    import optuna
    return optuna.load_study(study_name=plan.study, storage=sweep_runs.open_storage(plan))


def test_a_trial_claimed_by_a_worker_killed_before_it_signed_it_is_run_again(tmp_path,
                                                                             monkeypatch):
    # kill -9 between the claim (WAITING -> RUNNING) and the worker writing its host and pid on
    # the trial: after a minute the rerun takes it for dead, instead of waiting on it for ever.
    plan = sweep_plan.make_plan([LINREG, '--lr', '0.01,0.03', '--seeds', '0',
                                 '--out', str(tmp_path)])
    assert sweep_runs.prepare(plan) == (0, 2)
    study = study_of(plan)
    study.ask()  # claimed, never signed
    running = study.get_trials(deepcopy=False)[0]
    assert running.state.name == 'RUNNING'
    assert not sweep_runs.worker_gone(running)  # it may be signing it this very moment
    later = time.time() + sweep_runs.SIGN_S + 1
    monkeypatch.setattr(sweep_runs.time, 'time', lambda: later)
    assert sweep_runs.worker_gone(running)
    assert sweep_runs.prepare(plan) == (0, 2)
    states = [(t.user_attrs['key'], t.state.name) for t in study.get_trials(deepcopy=False)]
    assert sorted(states) == [('g000-s0', 'FAIL'), ('g000-s0', 'WAITING'), ('g001-s0', 'WAITING')]


# ---------------------------------------------------------------------------
# Workers that are gone, runs held elsewhere, a failing heartbeat
# ---------------------------------------------------------------------------

def claimed_by(study, **worker):
    """Claim the first waiting trial and sign it as the given worker (host, pid, identity)."""
    trial = study.ask()
    trial.set_user_attr('worker', worker)
    return study.get_trials(deepcopy=False)[trial.number]


def test_a_worker_whose_pid_was_reused_is_gone_and_its_run_is_run_again(tmp_path):
    # The pid lives on (this very test's), but another process has it now: its start time differs.
    plan = sweep_plan.make_plan([LINREG, '--lr', '0.01,0.03', '--seeds', '0',
                                 '--out', str(tmp_path)])
    sweep_runs.prepare(plan)
    study = study_of(plan)
    me = os.getpid()
    alive = claimed_by(study, host=socket.gethostname(), pid=me,
                       identity=sweep_runs.process_identity(me))
    reused = claimed_by(study, host=socket.gethostname(), pid=me, identity='an earlier process')
    assert sweep_runs.worker_gone(alive) is False
    assert sweep_runs.worker_gone(reused) is True
    assert sweep_runs.clear_dead(study) == 1
    assert sweep_runs.enqueue_missing(plan, study) == 1
    states = sorted((t.user_attrs['key'], t.state.name) for t in study.get_trials(deepcopy=False))
    assert states == [('g000-s0', 'RUNNING'), ('g001-s0', 'FAIL'), ('g001-s0', 'WAITING')]


def test_a_run_held_by_another_host_is_waited_for_a_bounded_time_then_released(
        tmp_path, capsys, monkeypatch):
    out = tmp_path / 'out'
    argv = [LINREG, '--lr', '0.03', '--epochs', '1', '--seeds', '0', '--out', out]  # one run
    plan = sweep_plan.make_plan([str(a) for a in argv])
    out.mkdir()
    sweep_runs.prepare(plan)
    study = study_of(plan)
    held = claimed_by(study, host='a-machine-that-is-gone', pid=1, identity='1')
    assert sweep_runs.worker_gone(held) is None  # another host's: nothing here can tell
    assert sweep_runs.prepare(plan) == (0, 1)  # neither cleared nor planned again
    assert [t.state.name for t in study.get_trials(deepcopy=False)] == ['RUNNING']
    sleeps = []
    monkeypatch.setattr(sweep_runs.time, 'sleep', sleeps.append)
    assert sweep_runs.wait_for_others(plan, study) is True and sleeps == [sweep_runs.WAIT_S]
    monkeypatch.setattr(sweep_runs, 'HOLD_S', 0)  # held longer than that: waited for no longer
    assert sweep_runs.wait_for_others(plan, study) is False and sleeps == [sweep_runs.WAIT_S]
    [(key, host, minutes)] = sweep_runs.held_elsewhere(plan)
    assert (key, host) == ('g000-s0', 'a-machine-that-is-gone') and 0 <= minutes < 1
    monkeypatch.undo()
    status, _, stderr = sweep_cli([*argv, '--release', 'a-machine-that-is-gone'], capsys)
    assert status == 0, stderr
    assert 'released 1 runs held by a-machine-that-is-gone' in stderr
    assert [(r['run'], r['status']) for r in rows(out)] == [('g000-s0', 'ok')]


def optuna_state(name: str):
    import optuna
    return optuna.trial.TrialState[name]


def test_a_failing_heartbeat_is_said_once_and_beats_on(capsys):
    # One "database is locked" must not stop the beats: the trial would be failed and retried
    # while it runs, and the run recorded twice.
    beats = []

    class Storage:
        def get_heartbeat_interval(self):
            return 0.01

        def get_study_id_from_name(self, name):
            return 7

        def get_trial_id_from_study_id_trial_number(self, study_id, number):
            return study_id * 100 + number

        def record_heartbeat(self, trial_id):
            beats.append(trial_id)
            if len(beats) in (2, 3):
                raise RuntimeError('database is locked')

    heart = sweep_runs.Heartbeat(Storage(), types.SimpleNamespace(study_name='s'),
                                 types.SimpleNamespace(number=5))
    deadline = time.time() + 10
    while len(beats) < 6 and time.time() < deadline:
        time.sleep(0.01)
    heart.stop.set()
    assert len(beats) >= 6 and set(beats) == {705}
    err = capsys.readouterr().err
    assert err.count('heartbeat failed (RuntimeError: database is locked)') == 1


# ---------------------------------------------------------------------------
# The plan: seeds, ranges and paths, ids past 999, the script named relative to the kit
# ---------------------------------------------------------------------------

def test_seeds_take_ranges_and_more_seeds_run_only_the_new_ones(tmp_path, capsys):
    assert sweep_plan.seeds_of('0..4') == [0, 1, 2, 3, 4]
    assert sweep_plan.seeds_of('0..2,7') == [0, 1, 2, 7]
    out = tmp_path / 'out'
    argv = [LINREG, '--lr', '0.01,0.03', '--epochs', '1', '--out', out]
    assert sweep_cli([*argv, '--seeds', '0,1'], capsys)[0] == 0
    first = {r['run']: r for r in rows(out)}
    status, _, stderr = sweep_cli([*argv, '--seeds', '0..3'], capsys)
    assert status == 0, stderr
    assert '4 of 8 runs already done' in stderr
    table = rows(out)
    assert sorted((r['lr'], r['seed']) for r in table) == sorted(
        (lr, s) for lr in ('0.01', '0.03') for s in '0123')
    for r in table:  # the first two seeds' rows are the first command's, not run again
        if r['run'] in first:
            assert r == first[r['run']]


def write_losses(plan, losses: dict[str, list[float]]) -> None:
    """plan.out/results.csv by hand: each lr's train_loss over seeds 0, 1, 2, ..."""
    plan.out.mkdir(parents=True)
    lines = ['run,lr,seed,train_loss,w_error,b_error,seconds,status,worker,host']
    for index, (lr, values) in enumerate(losses.items()):
        lines += [f'g{index:03d}-s{seed},{lr},{seed},{v},0,0,1.0,ok,0,box'
                  for seed, v in enumerate(values)]
    (plan.out / 'results.csv').write_text('\n'.join(lines) + '\n')


def test_more_seeds_go_to_the_best_and_its_nearest_rival_tied_at_the_first_seeds(tmp_path,
                                                                                  capsys):
    argv = [LINREG, '--lr', '0.01,0.03,0.1,0.3', '--more-seeds', '10', '--out', str(tmp_path / 'o')]
    plan = sweep_plan.make_plan(argv)
    assert plan.more_seeds == 10 and plan.added_seeds() == [3, 4, 5, 6, 7, 8, 9]
    # 0.03 is best (mean 0.1); 0.1 differs by 0, -0.03, +0.05 (tied, mean 0.1067) and 0.3 by
    # +0.1, -0.02, +0.1 (tied, mean 0.16: not the nearest); 0.01 is worse on each seed. Seeds
    # 3-6 (a rerun's, which the choice must not read) would make 0.1 clearly the best.
    write_losses(plan, {'0.01': [0.5, 0.51, 0.49], '0.03': [0.1, 0.12, 0.08] + [0.5] * 4,
                        '0.1': [0.1, 0.09, 0.13] + [0.01] * 4, '0.3': [0.2, 0.1, 0.18]})
    assert sweep.plan_more_seeds(plan)
    assert plan.extra == {1: list(range(3, 10)), 2: list(range(3, 10))}
    keys = [r.key for r in plan.runs()]
    assert keys[:12] == [f'g{i:03d}-s{s}' for i in range(4) for s in range(3)]
    assert keys[12:] == [f'g{i:03d}-s{s}' for i in (1, 2) for s in range(3, 10)]
    assert 'cannot tell the best from its nearest rival (lr=0.03; lr=0.1): seeds 3..9 for both' \
        in capsys.readouterr().err
    # the best standing alone: nothing more to run
    plan = sweep_plan.make_plan([*argv[:-1], str(tmp_path / 'p')])
    write_losses(plan, {'0.01': [0.5, 0.51, 0.49], '0.03': [0.1, 0.12, 0.08],
                        '0.1': [0.2, 0.21, 0.22], '0.3': [0.3, 0.31, 0.32]})
    assert not sweep.plan_more_seeds(plan) and plan.extra == {}


def test_a_sweep_with_more_seeds_runs_only_the_undecided_settings_once_more(tmp_path, capsys):
    out = tmp_path / 'out'
    # 0.0001 learns nothing in 2 epochs; 0.1 and 0.3 end on the same noise floor
    argv = [LINREG, '--lr', '0.0001,0.1,0.3', '--epochs', '2', '--more-seeds', '5',
            '--out', out]
    status, _, stderr = sweep_cli(argv, capsys)
    assert status == 0, stderr
    table = rows(out)
    seeds = {lr: sorted(int(r['seed']) for r in table if r['lr'] == lr)
             for lr in ('0.0001', '0.1', '0.3')}
    assert seeds == {'0.0001': [0, 1, 2], '0.1': [0, 1, 2, 3, 4], '0.3': [0, 1, 2, 3, 4]}
    assert '9 of 13 runs already done' in stderr
    status, _, stderr = sweep_cli(argv, capsys)  # again: the same 13 runs, all done
    assert status == 0 and 'all 13 runs already done' in stderr and len(rows(out)) == 13


def test_more_seeds_is_refused_for_a_search_or_with_nothing_to_add():
    with pytest.raises(sweep.SweepError, match='--more-seeds is for a grid'):
        sweep_plan.make_plan([SOFTMAX, '--search', '3', '--lr', '0.1..1', '--valid', '100',
                              '--more-seeds', '5'])
    with pytest.raises(sweep.SweepError, match='--more-seeds 3 adds nothing to 3 seeds'):
        sweep_plan.make_plan([LINREG, '--lr', '0.1,0.3', '--more-seeds', '3'])
    with pytest.raises(sweep.SweepError, match='--more-seeds takes a positive whole number'):
        sweep_plan.make_plan([LINREG, '--lr', '0.1,0.3', '--more-seeds', 'x'])


def test_a_path_with_two_dots_is_a_value_and_a_range_only_for_numbers(tiny_data, tmp_path):
    plan = sweep_plan.make_plan([SOFTMAX, '--data-root', '../data', '--lr', '0.1,0.3'])
    assert plan.fixed == ['--data-root', '../data'] and [a.flag for a in plan.axes] == ['--lr']
    with pytest.raises(sweep.SweepError, match='a range lo..hi needs --search N'):
        sweep_plan.make_plan([SOFTMAX, '--lr', '0.1..1'])


def test_runs_past_the_999th_setting_keep_their_own_values(tmp_path, capsys):
    # g1000-s0 was read back as setting 100: it took that row as its own, or wrote a second one.
    import optuna
    out = tmp_path / 'out'
    lrs = [f'{0.001 + i * 1e-5:.5f}' for i in range(1001)]
    argv = [LINREG, '--lr', ','.join(lrs), '--epochs', '1', '--seeds', '0', '--out', out]
    plan = sweep_plan.make_plan([str(a) for a in argv])
    # every run but settings 100 and 1000 already done, as a study holds them
    out.mkdir()
    study = optuna.create_study(study_name='sweep', storage=sweep_runs.open_storage(plan))
    study.set_user_attr('config', plan.config())
    done = [r for r in plan.runs() if r.index not in (100, 1000)]
    study.add_trials([optuna.trial.create_trial(
        state=optuna_state('COMPLETE'), value=1.0,
        user_attrs={'key': r.key, 'seeds': r.seeds, 'index': r.index, 'metric': plan.metric,
                    'record': {'rows': [{'run': r.key, 'lr': r.setting['lr'], 'seed': 0,
                                         'status': 'ok'}], 'histories': {r.key: {}}}})
        for r in done])
    status, _, stderr = sweep_cli(argv, capsys)
    assert status == 0, stderr
    table = {r['run']: r for r in rows(out)}
    assert len(table) == len(rows(out)) == 1001
    assert table['g100-s0']['lr'] == lrs[100] and table['g100-s0']['train_loss']
    assert table['g1000-s0']['lr'] == lrs[1000] and table['g1000-s0']['train_loss']
    assert table['g1000-s0']['train_loss'] != table['g100-s0']['train_loss']


def test_the_script_is_named_relative_to_the_kit_wherever_it_runs_from(tmp_path, monkeypatch):
    by_path = sweep_plan.make_plan([LINREG, '--lr', '0.01,0.03'])
    monkeypatch.chdir(tmp_path)
    by_name = sweep_plan.make_plan(['ch_linear_regression/scratch.py', '--lr', '0.01,0.03'])
    assert by_path.config()['script'] == 'ch_linear_regression/scratch.py'
    assert by_name.config() == by_path.config() and by_name.out == by_path.out


def test_the_book_setting_is_the_script_s_defaults_of_the_swept_flags():
    mlp = str(ROOT / 'ch_mlp' / 'concise.py')
    assert sweep_plan.make_plan([mlp, '--hidden', '64,256 256', '--lr', '0.1,0.5']).defaults == {
        'hidden': '256', 'lr': '0.1'}
    assert sweep_plan.make_plan([mlp, '--valid', '10', '--search', '2',
                                 '--lr', '0.1..1']).defaults is None
    # one setting, made by fixed flags only: not labelled the book's (--no-batchnorm is not)
    assert sweep_plan.make_plan([str(ROOT / 'ch_mlp' / 'best.py'), '--no-batchnorm']).defaults is None


def test_grid_zip_pairs_the_values_and_marks_the_book_s_recipe(tmp_path, capsys,
                                                               report_stand_in):
    # two recipes that differ in two flags: two settings, not the four of every combination
    out = tmp_path / 'out'
    status, stdout, stderr = sweep_cli([LINREG, '--grid', 'zip', '--lr', '0.03,0.01',
                                        '--epochs', '3,1', '--seeds', '0,1', '--workers', '1',
                                        '--out', out], capsys)
    assert status == 0, stderr
    assert sorted((r['lr'], r['epochs'], r['seed']) for r in rows(out)) == [
        ('0.01', '1', '0'), ('0.01', '1', '1'), ('0.03', '3', '0'), ('0.03', '3', '1')]
    [call] = report_stand_in.calls
    assert call[1] == ['lr', 'epochs'] and call[5] == {'lr': '0.03', 'epochs': '3'}  # the book's
    # the same values combined are another sweep: refused in that folder
    status, _, stderr = sweep_cli([LINREG, '--lr', '0.03,0.01', '--epochs', '3,1',
                                   '--seeds', '0,1', '--out', out], capsys)
    assert status == 2 and 'holds another sweep' in stderr


@pytest.mark.parametrize('prune, pruner, first_rung', [
    ('halving', 'SuccessiveHalvingPruner', None), ('halving:3', 'SuccessiveHalvingPruner', 3),
    ('hyperband', 'HyperbandPruner', 1), ('none', 'NopPruner', None)])
def test_each_prune_choice_is_its_optuna_pruner(prune, pruner, first_rung):
    made = sweep_runs.pruner_of(prune)
    assert type(made).__name__ == pruner
    if first_rung is not None:
        assert made._min_resource == first_rung


def test_depth_repeats_one_hidden_size_and_refuses_several():
    for name in ('ch_mlp/scratch', 'ch_mlp/concise'):
        module = kit.load_script(ROOT / f'{name}.py')
        assert module.parse_args(['--hidden', '64', '--depth', '3']).hidden == [64, 64, 64]
        assert module.parse_args(['--hidden', '64', '32']).hidden == [64, 32]  # depth 1: as given
        assert module.parse_args(['--depth', '2', '--dropout', '0.1']).dropout == [0.1, 0.1]
        with pytest.raises(SystemExit) as stop:
            module.parse_args(['--hidden', '64', '32', '--depth', '2'])
        assert stop.value.code == 2
    plan = sweep_plan.make_plan([str(ROOT / 'ch_mlp' / 'concise.py'), '--depth', '1,2',
                                 '--hidden', '32', '--seeds', '0'])
    assert [s['depth'] for s in plan.settings()] == ['1', '2'] and plan.defaults == {'depth': '1'}


def test_a_search_with_prune_none_runs_every_trial_to_its_last_epoch(tiny_data, tmp_path,
                                                                     capsys):
    out = tmp_path / 'out'
    # the line of the search above, whose pruner stops some trials
    line = [SOFTMAX, '--valid', '10', '--search', '8', '--lr', '0.001..3', '--epochs', '4',
            '--seeds', '0', '--data-root', tiny_data, '--workers', '1']
    status, _, stderr = sweep_cli([*line, '--prune', 'none', '--out', out], capsys)
    assert status == 0, stderr
    table = rows(out)
    assert len(table) == 8 and {r['status'] for r in table} == {'ok'}
    assert all(len(json.loads((out / 'histories' / f'{r["run"]}.json').read_text())['valid_acc'])
               == 4 for r in table)
    # a folder is one sweep: the same line with the pruner on is another
    status, _, stderr = sweep_cli([*line, '--out', out], capsys)
    assert status == 2 and 'holds another sweep' in stderr
