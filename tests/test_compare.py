"""`python -m d2l compare CHAPTER`: both scripts of a chapter under the same flags, side by side."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

import d2l
from conftest import ROOT

PNG = b'\x89PNG\r\n\x1a\n'
ROW = re.compile(r'^\s+(\d+)((?:\s+\S+){3,9})$')


@pytest.fixture(autouse=True)
def headless(monkeypatch, tmp_path):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.chdir(tmp_path)


def table_rows(out: str) -> list[list[float]]:
    """The numbers of each row of the side-by-side table, epoch first."""
    table = out.split('scratch.py vs concise.py', 1)[1]
    return [[float(m.group(1))] + [float(x) for x in m.group(2).split()]
            for line in table.splitlines() if (m := ROW.match(line))]


def test_compare_softmax_prints_both_runs_and_the_differences(tiny_data, tmp_path, capsys):
    plot = tmp_path / 'compare.png'
    result = d2l.compare('ch_softmax', ['--epochs', '3', '--batch-size', '8', '--data-root', str(tiny_data)], plot)
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
    result = d2l.compare('ch_linear_regression', ['--epochs', '2'])
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
                return {{'train_loss': [{loss}], 'train_acc': [{acc}], 'test_acc': [{acc}], 'seconds': [1.0]}}
        '''))
    result = d2l.compare(chapter, ['--epochs', '1'])
    out = capsys.readouterr().out
    assert not result['agree']
    assert result['max_loss_rel_diff'] == pytest.approx(0.1 / 0.6) and result['max_acc_diff'] == pytest.approx(0.01)
    assert 'they differ by more than 0.0001 relative' in out


def test_unknown_chapter_lists_the_real_ones():
    with pytest.raises(d2l.D2LError) as error:
        d2l.compare('ch_nonexistent')
    assert all(name in str(error.value) for name in ('ch_linear_regression', 'ch_mlp', 'ch_softmax'))


def test_cli_passes_other_flags_through_and_keeps_plot(tiny_data, tmp_path, capsys):
    plot = tmp_path / 'mlp.png'
    d2l.cli(['compare', 'ch_mlp', '--epochs', '2', '--plot', str(plot), '--activation', 'tanh',
             '--data-root', str(tiny_data)])
    out = capsys.readouterr().out
    assert '== ch_mlp/concise.py --epochs 2 --activation tanh --data-root' in out
    assert 'training curves written' not in out  # --plot is compare's, not the scripts'
    assert plot.read_bytes()[:8] == PNG and len(table_rows(out)) == 2


def test_a_flag_only_one_script_takes_is_refused_with_a_hint(capsys):
    with pytest.raises(SystemExit) as exit_info:
        d2l.cli(['compare', 'ch_mlp', '--optimizer', 'adam'])  # concise.py takes it, scratch.py does not
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('usage: scratch.py ')  # the script is named, not d2l.py
    assert 'unrecognized arguments: --optimizer adam' in err[-2]
    assert err[-1].startswith('compare passes every flag to both scripts')


def test_python_m_d2l_compare(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != 'DISPLAY'}
    done = subprocess.run([sys.executable, '-m', 'd2l', 'compare', 'ch_linear_regression', '--epochs', '1'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'ch_linear_regression: scratch.py vs concise.py (--epochs 1)' in done.stdout
    assert 'they agree' in done.stdout
    done = subprocess.run([sys.executable, '-m', 'd2l', 'compare', 'ch_nope'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.startswith('error: no chapter')
