"""The command line: `python -m d2l compare CHAPTER`, the flags every script shares (refused before
anything runs, status 2), output paths checked before training, and what the user sees of an error
(exit code, one line on stderr, no traceback), checked in fresh processes."""
import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

import d2l
from d2lkit import cli
from d2lkit import compare
from d2lkit import script as kit
from conftest import (BEST, IMAGE_SCRIPTS, MANUAL, PNG, ROOT, TRAINING_SCRIPTS, data_args, is_png,
                      leftovers, make_idx_dataset, program, run_as_script, script)


# ---------------------------------------------------------------------------
# python -m d2l compare
# ---------------------------------------------------------------------------

ROW = re.compile(r'^\s+(\d+)((?:\s+\S+){3,9})$')


def table_rows(out: str) -> list[list[float]]:
    """The numbers of each row of the side-by-side table, epoch first."""
    table = out.split('scratch.py vs concise.py', 1)[1]
    return [[float(m.group(1))] + [float(x) for x in m.group(2).split()]
            for line in table.splitlines() if (m := ROW.match(line))]


def test_compare_softmax_prints_both_runs_and_the_differences(tiny_data, tmp_path, capsys):
    plot = tmp_path / 'compare.png'
    result = compare.compare('ch_softmax', ['--epochs', '3', '--batch-size', '8',
                                            '--data-root', str(tiny_data)], plot)
    out = capsys.readouterr().out
    assert out.count('== ch_softmax/scratch.py --epochs 3 --batch-size 8') == 1
    assert out.count('== ch_softmax/concise.py --epochs 3 --batch-size 8') == 1
    assert len(re.findall(r'^epoch \d, loss', out, re.M)) == 6  # both scripts' own lines
    rows = table_rows(out)
    assert [r[0] for r in rows] == [1, 2, 3]
    s, c = result['scratch'], result['concise']
    for i, row in enumerate(rows):
        # loss: scratch, concise, relative difference; then train and test accuracy likewise
        assert row[1:3] == pytest.approx([s['train_loss'][i], c['train_loss'][i]], rel=1e-5)
        assert row[3] <= 1e-4
        assert row[4:6] == pytest.approx([s['train_acc'][i], c['train_acc'][i]], abs=1e-4)
        assert row[7:9] == pytest.approx([s['test_acc'][i], c['test_acc'][i]], abs=1e-4)
    assert result['agree'] and result['max_loss_rel_diff'] <= 1e-4 and result['max_acc_diff'] == 0
    assert 'they agree within 0.0001 relative' in out
    assert plot.read_bytes()[:8] == PNG and f'comparison plot written to {plot}' in out


def test_compare_linear_regression_has_loss_columns_only(capsys):
    result = compare.compare('ch_linear_regression', ['--epochs', '2'])
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 2 and all(len(row) == 4 for row in rows)
    assert [row[1] for row in rows] == pytest.approx(result['scratch']['train_loss'], rel=1e-5)
    assert result['agree']


def test_compare_reports_scripts_that_differ(tmp_path, capsys):
    """The verdict can say no: a made-up chapter whose two scripts disagree."""
    chapter = tmp_path / 'ch_made_up'
    chapter.mkdir()
    for kind, loss, acc in (('scratch', 0.5, 0.80), ('concise', 0.6, 0.79)):
        (chapter / f'{kind}.py').write_text(textwrap.dedent(f'''
            def main(argv=None):
                assert argv == ['--epochs', '1']
                return {{'train_loss': [{loss}], 'train_acc': [{acc}],
                         'test_acc': [{acc}], 'seconds': [1.0]}}
        '''))
    result = compare.compare(chapter, ['--epochs', '1'])
    out = capsys.readouterr().out
    assert not result['agree']
    assert (result['max_loss_rel_diff'] == pytest.approx(0.1 / 0.6)
            and result['max_acc_diff'] == pytest.approx(0.01))
    assert 'they differ by more than 0.0001 relative' in out


def test_compare_lines_up_the_valid_accuracy_of_runs_with_valid(tmp_path, capsys):
    """With --valid the scripts' histories say valid_acc: that column is compared too."""
    chapter = tmp_path / 'ch_held_out'
    chapter.mkdir()
    for kind, acc in (('scratch', 0.80), ('concise', 0.79)):
        (chapter / f'{kind}.py').write_text(textwrap.dedent(f'''
            def main(argv=None):
                return {{'train_loss': [0.5], 'train_acc': [0.8], 'valid_acc': [{acc}]}}
        '''))
    result = compare.compare(chapter, ['--valid', '10'])
    out = capsys.readouterr().out
    assert 'valid acc' in out and table_rows(out) == [[1, 0.5, 0.5, 0, 0.8, 0.8, 0, 0.8, 0.79,
                                                       pytest.approx(0.01)]]
    assert not result['agree'] and result['max_acc_diff'] == pytest.approx(0.01)


def test_unknown_chapter_lists_the_real_ones(capsys):
    with pytest.raises(d2l.D2LError) as error:
        compare.compare('ch_nonexistent')
    assert all(name in str(error.value)
               for name in ('ch_linear_regression', 'ch_mlp', 'ch_softmax'))
    # as `python -m d2l` runs it
    status, _, stderr = run_as_script(cli.cli, ['compare', 'ch_nope'], capsys)
    assert (status == 1 and stderr.startswith("error: no chapter 'ch_nope'")
            and len(stderr.splitlines()) == 1)


def test_cli_passes_other_flags_through_and_keeps_plot(tiny_data, tmp_path, capsys):
    plot = tmp_path / 'mlp.png'
    cli.cli(['compare', 'ch_mlp', '--epochs', '2', '--plot', str(plot), '--activation', 'tanh',
             '--data-root', str(tiny_data)])
    out = capsys.readouterr().out
    assert '== ch_mlp/concise.py --epochs 2 --activation tanh --data-root' in out
    assert 'training curves written' not in out  # --plot is compare's, not the scripts'
    assert plot.read_bytes()[:8] == PNG and len(table_rows(out)) == 2


def test_a_flag_only_one_script_takes_is_refused_with_a_hint(capsys):
    with pytest.raises(SystemExit) as exit_info:
        # concise.py takes it, scratch.py does not
        cli.cli(['compare', 'ch_mlp', '--optimizer', 'adam'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('usage: scratch.py ')  # the script is named, not d2l.py
    assert 'unrecognized arguments: --optimizer adam' in err[-2]
    assert err[-1].startswith('compare passes every flag to both scripts')


# ---------------------------------------------------------------------------
# The shared flags
# ---------------------------------------------------------------------------

BAD_NUMBERS = [
    ('--lr', '0', 'must be positive, got 0'), ('--lr', '-0.1', 'must be positive, got -0.1'),
    ('--lr', 'nan', 'must be positive, got nan'), ('--lr', 'inf', 'must be positive, got inf'),
    ('--lr', 'fast', "'fast' is not a number"),
    ('--batch-size', '0', 'must be positive, got 0'),
    ('--batch-size', '-8', 'must be positive, got -8'),
    ('--batch-size', '2.5', "'2.5' is not an integer"),
    ('--epochs', '0', 'must be positive, got 0'), ('--epochs', '-1', 'must be positive, got -1'),
]


@pytest.mark.parametrize('flag, value, message', BAD_NUMBERS)
def test_the_shared_parser_refuses_non_positive_numbers(flag, value, message, capsys):
    parser = kit.argument_parser('test', lr=0.1, batch_size=256, num_epochs=10)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f'error: argument {flag}: {message}'), err[-1]


@pytest.mark.parametrize('name', TRAINING_SCRIPTS)
def test_every_script_refuses_a_bad_number_before_anything_runs(name, isolated, capsys):
    with pytest.raises(SystemExit) as exit_:
        # isolated: no data anywhere, so a run would fail otherwise
        script(name).main(['--batch-size', '0'])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].endswith(
        'error: argument --batch-size: must be positive, got 0')
    assert out == ''


@pytest.mark.parametrize('name', IMAGE_SCRIPTS + [MANUAL, BEST])
def test_unknown_dataset_lists_the_choices(name, isolated, capsys):
    with pytest.raises(SystemExit) as exit_:
        script(name).main(['--dataset', 'cifar10'])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert ("argument --dataset: invalid choice: 'cifar10'" in err
            and 'fashion-mnist' in err and 'mnist' in err)


@pytest.mark.parametrize('name', TRAINING_SCRIPTS)
def test_cuda_without_a_gpu(name, tiny_data, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as exit_:
        script(name).main(['--device', 'cuda', '--epochs', '1', *data_args(name, tiny_data)])
    assert exit_.value.code == 2  # a bad flag, refused by the parser before any data is read
    out, err = capsys.readouterr()
    assert err.splitlines()[-1].endswith(
        "error: argument --device: no such CUDA GPU here ('cuda'; torch sees 0); "
        'use --device cpu or --device auto')
    assert 'epoch' not in out


@pytest.mark.parametrize('device, message', [('cuda:7', 'no such CUDA GPU'),
                                             ('tpu', "unknown device 'tpu'")])
def test_unavailable_device_is_a_bad_flag(tiny_data, capsys, device, message):
    with pytest.raises(SystemExit) as exit_info:
        script('ch_mlp/concise').main(['--epochs', '1', '--device', device,
                                       '--data-root', str(tiny_data)])
    assert exit_info.value.code == 2
    assert 'argument --device: ' in (err := capsys.readouterr().err) and message in err


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)  # whatever this machine has
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    assert kit.resolve_device('cpu') == torch.device('cpu')
    assert kit.resolve_device('cuda:0') == kit.resolve_device('auto') == torch.device('cuda:0')
    with pytest.raises(d2l.D2LError, match=r"no such CUDA GPU here \('cuda:1'; torch sees 1\)"):
        kit.resolve_device('cuda:1')
    with pytest.raises(d2l.D2LError, match='Apple MPS is not available'):
        kit.resolve_device('mps')
    with pytest.raises(d2l.D2LError, match="unknown device 'gpu'"):
        kit.resolve_device('gpu')
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    assert kit.resolve_device('auto') == torch.device('cpu')
    with pytest.raises(d2l.D2LError, match='no such CUDA GPU'):
        kit.resolve_device('cuda')


@pytest.mark.parametrize('name', TRAINING_SCRIPTS)
def test_learning_rate_beyond_float32_is_refused(name, tiny_data, capsys):
    # 1e39 is a finite Python float but overflows float32
    # (torch.optim.SGD would raise a RuntimeError).
    with pytest.raises(SystemExit) as exit_:
        script(name).main(['--lr', '1e39', '--batch-size', '8', '--epochs', '2',
                           *data_args(name, tiny_data)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.endswith('error: argument --lr: must be at most 3.40282e+38, got 1e39'), err


@pytest.mark.parametrize('flag', ['--save', '--history', '--plot'])
def test_an_output_path_that_is_a_folder_is_refused_before_training(flag, tiny_data,
                                                                    tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        script('ch_mlp/scratch').main([flag, str(tmp_path), '--data-root', str(tiny_data)])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert (f'error: argument {flag}: {tmp_path} is a folder; give a file name'
            in err.splitlines()[-1])
    assert 'epoch' not in out


def test_an_output_under_a_folder_we_may_not_write_is_refused(tiny_data, tmp_path,
                                                              monkeypatch, capsys):
    locked = tmp_path / 'locked'
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, 'access', lambda p, mode: Path(p) != locked and real_access(p, mode))
    with pytest.raises(SystemExit) as exit_:
        script('ch_softmax/scratch').main(['--plot', str(locked / 'new' / 'curves.png'),
                                           '--data-root', str(tiny_data)])
    assert exit_.value.code == 2
    assert f'{locked} is not a writable folder' in capsys.readouterr().err


def test_a_figure_name_without_an_extension_gets_png_and_is_named_right(tiny_data,
                                                                        tmp_path, capsys):
    script('ch_softmax/scratch').main(['--epochs', '1', '--plot', str(tmp_path / 'curves'),
                                       '--history', str(tmp_path / 'run'),
                                       '--data-root', str(tiny_data)])
    out = capsys.readouterr().out
    assert is_png(tmp_path / 'curves.png') and not (tmp_path / 'curves').exists()
    assert f'training curves written to {tmp_path / "curves.png"}' in out
    assert json.loads((tmp_path / 'run.json').read_text())['train_loss']


# ---------------------------------------------------------------------------
# What the user sees: exit code, one line, no traceback (fresh processes)
# ---------------------------------------------------------------------------

def test_missing_data_is_one_line_and_status_1(isolated):
    with pytest.raises(SystemExit) as exit_info:
        kit.run_script(lambda: script('ch_softmax/scratch').main(['--epochs', '1']))
    message = str(exit_info.value.code)
    assert message.startswith('error: Fashion-MNIST not found') and '\n' not in message


def test_a_script_s_exit_freezes_its_objects_after_the_other_exit_hooks(tmp_path):
    # Python's shutdown skips frozen objects in its garbage collections: the hook that freezes
    # runs after the hooks a page registers (a hook registered before it runs after it, and sees).
    code = ('import atexit, gc; from d2lkit import script as kit; '
            'atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0)); '
            'kit.run_script(lambda: kit.run_script(lambda: print("ran", gc.get_freeze_count())))')
    done = program(['-c', code], ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ['ran 0', 'frozen True']


BOOT = '''
import runpy, sys
sys.path.insert(0, {root!r})
import d2l
for spec in d2l._DATASETS.values():  # no system copy and no download: only what the test provides
    spec['system'] = [{system!r}]
d2l._download = lambda name, home: (None, 'download failed: offline (test)')
sys.argv = [{script!r}] + {args!r}
runpy.run_path({script!r}, run_name='__main__')
'''


def run_cli(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a chapter script as a user would, its data lookup isolated as `isolated` does it."""
    code = BOOT.format(root=str(ROOT), system=str(tmp_path / 'system'),
                       script=str(ROOT / script), args=list(args))
    return program(['-c', code], tmp_path, tmp_path, MPLBACKEND='Agg', CUDA_VISIBLE_DEVICES='')


def assert_clean_error(status: int, stderr: str, code: int, *fragments: str) -> str:
    """Exit status `code`, no traceback, and the error on one line holding every fragment.

    Returns that line."""
    assert status == code, (status, stderr)
    assert 'Traceback' not in stderr, stderr
    lines = stderr.strip().splitlines()
    if code == 2:  # argparse: the usage, then one error line
        assert lines[0].startswith('usage:'), stderr
    else:
        assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]


def bad_data_roots(folder: Path) -> None:
    """folder/data: a tiny Fashion-MNIST; folder/broken: the same, training images cut short."""
    make_idx_dataset(folder / 'data' / 'fashion-mnist', seed=1)
    make_idx_dataset(folder / 'broken' / 'fashion-mnist', seed=1)
    image_file = folder / 'broken' / 'fashion-mnist' / 'train-images-idx3-ubyte.gz'
    image_file.write_bytes(image_file.read_bytes()[:1000])


NOT_A_GOOD_RUN = [  # (flags, exit status, what the one line must say)
    (['--lr', '0'], 2, ['error: argument --lr: must be positive, got 0']),
    (['--batch-size', '-1'], 2, ['error: argument --batch-size: must be positive']),
    (['--dataset', 'cifar10'], 2, ["error: argument --dataset: invalid choice: 'cifar10'"]),
    (['--data-root', 'nowhere'], 1,
     ['error: Fashion-MNIST not found', 'nowhere', 'apt-get install', 'D2L_DATA']),
    (['--device', 'cuda', '--data-root', 'data'], 2,
     ['error: argument --device:', 'no such CUDA GPU', '--device cpu']),
    (['--lr', '3e38', '--data-root', 'data', '--batch-size', '8'], 1,
     ['error: the loss became', 'at epoch 1, batch', 'lower the learning rate (--lr)']),
    (['--load', 'missing.pt', '--data-root', 'data'], 1, ['error: no weights file at missing.pt']),
    (['--load', 'data/fashion-mnist/train-labels-idx1-ubyte.gz', '--data-root', 'data'], 1,
     ['is not a weights file']),
    (['--data-root', 'broken'], 1,
     ['train-images-idx3-ubyte.gz is corrupt or truncated', 'delete it']),
]


@pytest.mark.parametrize('args, code, fragments', NOT_A_GOOD_RUN)
def test_the_user_sees_one_line_and_no_traceback(isolated, monkeypatch, capsys,
                                                 args, code, fragments):
    # In this process, through run_script as the script's last line calls it (the next test runs
    # one of these cases as a real process, from the interpreter's start to its exit).
    bad_data_roots(isolated)
    # no GPU, as CUDA_VISIBLE_DEVICES='' makes it
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    status, _, stderr = run_as_script(script('ch_softmax/scratch').main, args, capsys)
    assert_clean_error(status, stderr, code, *fragments)
    assert leftovers(isolated) == [] and list(isolated.rglob('*.png')) == []
    assert not (isolated / 'broken' / 'fashion-mnist' / 'fashion-mnist.pt').exists()


# a NaN loss in the middle of training
@pytest.mark.parametrize('args, code, fragments', [NOT_A_GOOD_RUN[5]])
def test_a_real_process_ends_with_one_line_and_the_status(tmp_path, args, code, fragments):
    bad_data_roots(tmp_path)
    done = run_cli(tmp_path, 'ch_softmax/scratch.py', *args)
    assert_clean_error(done.returncode, done.stderr, code, *fragments)
    # nor a figure saved at exit
    assert leftovers(tmp_path) == [] and list(tmp_path.rglob('*.png')) == []
