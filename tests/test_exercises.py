"""`python -m d2l exercises`: the catalog is complete, its commands use the scripts' own flags, its
snippets run, the listing and one answer behave as documented, the answer key is written."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

import d2l

from conftest import ROOT, program, run_as_script
from d2lkit import exercises, sweep, sweep_plan

# Facts counted from the books' repositories (d2l-ai/d2l-en): the number of exercises on each page,
# in book order, the PyTorch tab's list where a page has framework tabs. Counts only, no text.
PAGES = {
    '0.17': [  # tag v0.17.6: chapter_linear-networks, chapter_multilayer-perceptrons
        ('linear-regression', 3), ('linear-regression-scratch', 7),
        ('linear-regression-concise', 3), ('softmax-regression', 3),
        ('image-classification-dataset', 3), ('softmax-regression-scratch', 5),
        ('softmax-regression-concise', 2), ('mlp', 4), ('mlp-scratch', 6), ('mlp-concise', 3),
        ('underfit-overfit', 4), ('weight-decay', 6), ('dropout', 7), ('backprop', 5),
        ('numerical-stability-and-init', 4), ('environment', 4), ('kaggle-house-price', 6)],
    # master (v1.0.3 counts the same): chapter_linear-regression, chapter_linear-classification,
    # chapter_multilayer-perceptrons
    '1.0': [
        ('linear-regression', 8), ('oo-design', 2), ('synthetic-regression-data', 4),
        ('linear-regression-scratch', 9), ('linear-regression-concise', 5), ('generalization', 7),
        ('weight-decay', 6), ('softmax-regression', 7), ('image-classification-dataset', 3),
        ('classification', 3), ('softmax-regression-scratch', 5), ('softmax-regression-concise', 4),
        ('generalization-classification', 4), ('environment-and-distribution-shift', 4), ('mlp', 7),
        ('mlp-implementation', 9), ('backprop', 5), ('numerical-stability-and-init', 4),
        ('generalization-deep', 5), ('dropout', 7), ('kaggle-house-price', 5)],
}
TOTALS = {'0.17': 75, '1.0': 113}
LINE = re.compile(r'^(\d\.\d+/[a-z-]+\.\d+) +(run|code|conceptual) +(\S.*)$')


def expected_ids() -> list[str]:
    return [f'{edition}/{page}.{n}' for edition, pages in PAGES.items()
            for page, count in pages for n in range(1, count + 1)]


def test_the_page_counts_add_up_to_the_books_totals():
    for edition, pages in PAGES.items():
        assert sum(count for _, count in pages) == TOTALS[edition]


def test_every_exercise_is_listed_once_in_book_order():
    assert [e.id for e in exercises.CATALOG] == expected_ids()
    for edition, total in TOTALS.items():
        assert sum(e.edition == edition for e in exercises.CATALOG) == total


def test_each_kind_carries_what_answers_it():
    for e in exercises.CATALOG:
        assert e.kind in exercises.KINDS, e.id
        assert e.gist and len(e.gist) < 110, e.id  # a gist, not a copy of the question
        assert bool(e.sweep) == (e.kind == 'run'), e.id
        assert (e.snippet in exercises.SNIPPETS) == (e.kind == 'code'), e.id
        assert bool(e.pointer) == (e.kind == 'conceptual'), e.id
        page = e.pointer.split(' § ')[0]
        assert e.kind != 'conceptual' or page in {p for p, _ in PAGES[e.edition]}, e.id


def test_same_question_pairs_cross_editions_both_ways():
    pairs = [(e.id, other) for e in exercises.CATALOG for other in e.same_as]
    assert len(pairs) > 60
    for a, b in pairs:
        assert a.split('/')[0] != b.split('/')[0]
        assert a in exercises.BY_ID[b].same_as
    assert '1.0/mlp-implementation.1' in exercises.BY_ID['0.17/mlp-scratch.1'].same_as
    assert '1.0/dropout.1' in exercises.BY_ID['0.17/dropout.1'].same_as


def test_each_run_answer_fits_ten_minutes_on_two_cores():
    # the joint answer apart: three searches, then its finalists, the confirmation and the test
    # runs (further sweeps, with a budget of their own)
    for e in exercises.CATALOG:
        if e.kind == 'run' and not e.stages:
            assert 0 < exercises.estimated_seconds(e) <= 600, e.id
    joint = exercises.BY_ID['0.17/mlp-scratch.4']
    alone = exercises.estimated_seconds(exercises.dataclasses.replace(joint, stages=()))
    assert 600 < alone < exercises.estimated_seconds(joint) <= 2 * 3600


def test_grid_expands_list_axes_and_search_ranges():
    dropout = exercises.BY_ID['0.17/dropout.1']
    runs = exercises.grid(dropout)
    assert len(runs) == 5
    assert ['--hidden', '256', '256', '--lr', '0.5', '--dropout', '0.5', '0.2',
            '--valid', '10000'] in runs
    joint = exercises.grid(exercises.BY_ID['0.17/mlp-scratch.4'])
    assert ['--lr', '0.03', '--hidden', '64', '--depth', '1', '--epochs', '10',
            '--batch-size', '32', '--valid', '10000'] in joint
    assert all('--search' not in argv for argv in joint)


def test_every_command_uses_the_scripts_own_flags():
    """The sweep's own check before its first run: each answer's plan, every run's argv (both
    ends of a search range) parsed by the script's parser."""
    problems: dict[str, str] = {}
    for e in exercises.CATALOG:
        if e.kind != 'run':
            continue
        try:
            sweep_plan.make_plan(e.sweep)  # every run's flags, through the script's parser
        except sweep.SweepError as error:
            problems[e.id] = str(error)
    assert not problems, problems


@pytest.mark.parametrize('name', sorted(exercises.SNIPPETS))
def test_every_snippet_runs_and_gives_a_table(name):
    table = exercises.SNIPPETS[name](small=True)
    assert isinstance(table, pd.DataFrame) and len(table) > 0 and not table.columns.empty


def test_snippets_compute_what_they_claim():
    assert exercises.tanh_sigmoid(small=True).iloc[0, 1] < 1e-12
    last = exercises.last_batch().set_index('loader')
    assert last.loc['d2l.data_iter', 'batches'] == 16
    assert last.loc['d2l.data_iter', 'last batch'] == 1000 % 64
    assert last.loc['DataLoader(drop_last=True)', 'examples seen'] == 15 * 64
    overflow = exercises.softmax_overflow()
    overflow = overflow.set_index(overflow['logits'].map(str))
    assert pd.isna(overflow.loc['[50.0, 100.0, 0.0]', 'naive'][1])
    assert overflow.loc['[50.0, 100.0, 0.0]', 'shifted by max'][1] == 1.0
    assert all(pd.isna(v) for v in overflow.loc['[-120.0, -110.0, -105.0]', 'naive'])  # 0 / 0
    frob = exercises.frobenius()['value']
    assert frob.max() - frob.min() < 1e-12
    assert list(exercises.matmul_alignment(small=True)['n']) == [64, 65, 66, 68, 72]
    sizes = (1024, 1025, 1026, 1028, 1032)
    assert list(exercises.matmul_alignment.__code__.co_consts).count(sizes) == 1
    assert exercises.hyperparameters_kept()['has self.a'].tolist() == [True, False]
    fit = exercises.normal_equations(small=True)
    assert (fit['closed form'] - fit['true']).abs().max() < 0.01


def _cli(tmp_path, *args: str):
    return program([str(ROOT / 'd2l.py'), 'exercises', *args], tmp_path, tmp_path)


def test_the_listing_has_one_line_per_exercise_in_book_order(tmp_path):
    result = _cli(tmp_path)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:3] == ['ID', 'KIND', 'COMMAND']
    matches = [LINE.match(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches) if not m][:3]
    assert [m.group(1) for m in matches] == expected_ids()
    by_id = {m.group(1): m for m in matches}
    assert by_id['0.17/mlp-scratch.1'].group(3).startswith(
        'python -m d2l sweep ch_mlp/scratch.py --hidden ')
    assert by_id['1.0/mlp-implementation.7'].group(3) == (
        'python -m d2l exercises 1.0/mlp-implementation.7')


def test_an_unknown_id_gives_one_line_with_the_nearest_and_exit_2(tmp_path):
    result = _cli(tmp_path, '1.0/mlp-implementaton.7')
    assert result.returncode == 2 and result.stdout == ''
    assert len(result.stderr.strip().splitlines()) == 1
    assert '1.0/mlp-implementation.7' in result.stderr


def test_a_conceptual_answer_prints_its_pointer(tmp_path):
    result = _cli(tmp_path, '0.17/dropout.4')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ('0.17/dropout.4 is conceptual: no run answers it. '
                                     'Read the page dropout § Dropout in Practice.')


def test_a_code_answer_prints_its_table(tmp_path):
    result = _cli(tmp_path, '1.0/softmax-regression-concise.1')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ['format', 'bits'] and len(lines) == 5
    float32 = next(line for line in lines if line.split()[0] == 'float32').split()
    assert abs(float(float32[-1]) - 88.7228) < 1e-3  # log of float32's largest value


def _fake_sweep(folder, flag='hidden'):
    folder.mkdir(parents=True)
    (folder / 'summary.md').write_text('# sweep\n\n| hidden | valid acc |\n|---|---|\n'
                                       '| 64 | 0.840 ± 0.002 |\n| 256 | **0.851 ± 0.001** |\n')
    (folder / f'{flag}.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    (folder / 'curves.png').write_bytes(b'\x89PNG\r\n\x1a\n')


def test_a_run_answer_prints_only_the_table_and_figure(monkeypatch, capsys, tmp_path):
    calls = []

    def fake_sweep(argv):
        calls.append(argv)
        print('progress the sweep prints')
        _fake_sweep(tmp_path / 'out')
    monkeypatch.setattr(exercises, '_run_sweep', fake_sweep)
    exercises.main(['0.17/mlp-scratch.1', '--out', str(tmp_path / 'out')])
    out, err = capsys.readouterr()
    assert calls == [[*exercises.BY_ID['0.17/mlp-scratch.1'].sweep, '--out', str(tmp_path / 'out')]]
    assert out.splitlines() == ['| hidden | valid acc |', '|---|---|', '| 64 | 0.840 ± 0.002 |',
                                '| 256 | **0.851 ± 0.001** |',
                                f'figure: {tmp_path / "out" / "hidden.png"}']
    assert 'progress the sweep prints' in err


def test_the_default_results_folder_is_one_per_id():
    assert str(exercises.default_out(exercises.BY_ID['1.0/dropout.1'])) == 'exercises/1.0-dropout.1'


def test_the_answer_key_from_a_sweep_folder(tmp_path, monkeypatch):
    root = tmp_path / 'answers'
    _fake_sweep(exercises.default_out(exercises.BY_ID['0.17/mlp-scratch.1'], root))
    monkeypatch.setitem(exercises.NOTES, '0.17/mlp-scratch.1', 'Wider is better up to 256 units.')
    doc = exercises.write_doc(tmp_path / 'docs' / 'exercises.md', root, run=False, small=True,
                              ids=['0.17/mlp-scratch.1', '1.0/mlp-implementation.1',
                                   '1.0/mlp-implementation.7', '0.17/dropout.4'])
    text = doc.read_text()
    # one heading for the pair
    assert text.count('## 0.17/mlp-scratch.1 · 1.0/mlp-implementation.1\n') == 1
    section = text.split('## 0.17/mlp-scratch.1')[1].split('\n## ')[0]
    assert exercises.BY_ID['0.17/mlp-scratch.1'].command in section
    assert '| 256 | **0.851 ± 0.001** |' in section
    assert '![0.17/mlp-scratch.1](../answers/0.17-mlp-scratch.1/hidden.png)' in section
    assert 'Wider is better up to 256 units.' in section
    code = text.split('## 1.0/mlp-implementation.7')[1].split('\n## ')[0]
    assert 'def matmul_alignment' in code and 'GFLOP/s' in code
    slowest = code.split('the slowest size, n = ')[1].split(',')[0]  # its note, filled in
    table = code.split('```')[5]  # the snippet's table, under its code
    seconds = {line.split()[0]: float(line.split()[2]) for line in table.strip().splitlines()[1:]}
    # the note reads the unrounded seconds: sizes that print alike may tie for the slowest
    assert seconds[slowest] == max(seconds.values())
    assert '| 0.17/dropout.4 |' in text and 'dropout § Dropout in Practice' in text
    assert '| 0.17/mlp-scratch.1 | 1.0/mlp-implementation.1 |' in text
    assert 'Machine: ' in text and ' cores' in text
    assert not list(doc.parent.glob('*.tmp'))


def test_the_answer_key_says_where_and_when_the_answers_ran_not_where_it_is_written(
        tmp_path, monkeypatch):
    root = tmp_path / 'answers'
    monkeypatch.setitem(exercises.NOTES, '0.17/mlp-scratch.1', 'A note.')  # a fake: no results.csv
    folder = exercises.default_out(exercises.BY_ID['0.17/mlp-scratch.1'], root)
    _fake_sweep(folder)
    (folder / 'ran.txt').write_text('2026-01-02; a 64-core machine, torch 9, Python 3.99\n')
    text = exercises.write_doc(tmp_path / 'exercises.md', root, run=False,
                               ids=['0.17/mlp-scratch.1']).read_text()
    assert 'Machine: a 64-core machine, torch 9, Python 3.99.' in text
    assert 'Run on 2026-01-02; results in' in text


def test_the_answer_key_names_a_missing_sweep_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='0.17-mlp-scratch.1/summary.md is missing'):
        exercises.write_doc(tmp_path / 'exercises.md', tmp_path / 'none',
                            ids=['0.17/mlp-scratch.1'], run=False)
    assert not (tmp_path / 'exercises.md').exists()


def test_a_run_answer_end_to_end_through_the_sweep(tmp_path):
    result = _cli(tmp_path, '0.17/linear-regression-concise.2', '--out', str(tmp_path / 'huber'))
    assert result.returncode == 0, result.stderr
    *table, figure = result.stdout.strip().splitlines()
    assert table[0].startswith('|') and len(table) == 2 + 3  # header, rule, squared/huber/abs
    assert figure.startswith('figure: ') and (tmp_path / 'huber' / 'results.csv').is_file()
    # run again in the same folder: nothing is missing, so nothing runs, and the wall time kept
    # is the first run's plus the second's (a resumed answer's cost is the sum of its parts)
    first = exercises._ran(tmp_path / 'huber')[2]
    again = _cli(tmp_path, '0.17/linear-regression-concise.2', '--out', str(tmp_path / 'huber'))
    assert again.returncode == 0 and again.stdout == result.stdout
    assert first < exercises._ran(tmp_path / 'huber')[2] < first + 30


def test_questions_asked_alike_share_one_heading():
    assert exercises.same_question(exercises.BY_ID['0.17/softmax-regression-scratch.3']) == [
        '0.17/softmax-regression-scratch.1', '0.17/softmax-regression-scratch.3',
        '1.0/softmax-regression-scratch.1']
    # 1.0's joint tuning also covers two 0.17 questions no run answers: they stay out of its heading
    assert exercises.same_question(exercises.BY_ID['1.0/mlp-implementation.5']) == [
        '0.17/mlp-scratch.4', '1.0/mlp-implementation.5']


def test_the_answer_key_runs_a_missing_answer(tmp_path, monkeypatch):
    ran = []

    def fake_sweep(argv):
        ran.append(argv)
        _fake_sweep(Path(argv[argv.index('--out') + 1]), flag='lr')
    monkeypatch.setattr(exercises, '_run_sweep', fake_sweep)
    monkeypatch.setitem(exercises.NOTES, '0.17/mlp-scratch.3', 'A note.')  # a fake: no results.csv
    doc = exercises.write_doc(tmp_path / 'exercises.md', tmp_path / 'answers',
                              ids=['0.17/mlp-scratch.3'])
    assert len(ran) == 1 and ran[0][0] == 'ch_mlp/scratch.py'
    assert '(answers/0.17-mlp-scratch.3/lr.png)' in doc.read_text()


def test_a_note_may_read_an_answer_that_runs_after_its_own(tmp_path, monkeypatch):
    # afresh, the key runs answers in book order; a note naming a later answer's numbers waits
    def fake_sweep(argv):
        out = Path(argv[argv.index('--out') + 1])
        flag, values = argv[1], argv[2].split(',')
        _fake_sweep(out, flag=flag[2:])
        pd.DataFrame([{'run': f'g{i}-s{seed}', flag[2:]: v, 'seed': seed, 'train_loss': 0.4,
                       'train_acc': 0.85, 'valid_acc': 0.8 + 0.01 * i + 0.001 * seed,
                       'seconds': 1.0, 'status': 'ok', 'worker': 'w', 'host': 'h'}
                      for i, v in enumerate(values) for seed in range(3)]
                     ).to_csv(out / 'results.csv', index=False)
    monkeypatch.setattr(exercises, '_run_sweep', fake_sweep)
    monkeypatch.setitem(exercises.NOTES, '0.17/mlp-scratch.3',
                        'tanh: {valid_acc.mean@0.17/mlp-concise.2:activation=tanh}.')
    monkeypatch.setitem(exercises.NOTES, '0.17/mlp-concise.2', 'Its own note.')
    doc = exercises.write_doc(tmp_path / 'exercises.md', tmp_path / 'answers',
                              ids=['0.17/mlp-scratch.3', '0.17/mlp-concise.2'])
    assert 'tanh: 0.821.' in doc.read_text()  # tanh is the third value: 0.8 + 0.02 + 0.001


def test_flags_after_an_id_replace_the_answers_own_values():
    sweep = exercises.BY_ID['0.17/mlp-scratch.3'].sweep
    assert exercises.with_flags(sweep, ['--epochs', '1', '--valid', '10', '--seeds', '0']) == [
        'ch_mlp/scratch.py', '--lr', '0.01,0.03,0.1,0.3,1', '--more-seeds', '10', '--epochs', '1',
        '--valid', '10', '--seeds', '0']
    joint = exercises.BY_ID['0.17/mlp-scratch.4'].sweep
    assert exercises.with_flags(joint, ['--search', '2'])[-2:] == ['--search', '2']
    # the script's flags first, then the sweep's own options
    assert exercises.with_flags(joint, [])[1:] == [
        '--lr', '0.03..1', '--hidden', '64..1024', '--depth', '1..2', '--epochs', '10..40',
        '--batch-size', '32..512', '--valid', '10000', '--search', '24', '--seeds', '0',
        '--prune', 'hyperband']


def test_flags_for_a_snippet_or_without_an_id_are_refused(tmp_path):
    for args in (['1.0/mlp-implementation.7', '--epochs', '1'], ['--epochs', '1'],
                 ['0.17/mlp-scratch.3', '5', '--epochs', '1']):  # a value before any flag
        result = _cli(tmp_path, *args)
        assert result.returncode == 2 and result.stdout == ''
        assert result.stderr.strip().splitlines()[-1].startswith('usage:') is False
        assert '--epochs 1' in result.stderr
        assert 'Traceback' not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith('python -m d2l exercises: error:')


def test_an_image_answer_end_to_end_on_tiny_data(tmp_path, tiny_data):
    result = _cli(tmp_path, '0.17/mlp-scratch.3', '--out', str(tmp_path / 'lr'), '--epochs', '1',
                  '--seeds', '0', '--valid', '10', '--data-root', str(tiny_data))
    assert result.returncode == 0, result.stderr
    *table, figure = result.stdout.strip().splitlines()
    assert len(table) == 2 + 5 and figure.startswith('figure: ')


def test_run_answers_call_the_sweeps_cli(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType('d2lkit.sweep')
    fake.cli = lambda argv: (calls.append(argv), _fake_sweep(tmp_path / 'out', flag='lr'))
    monkeypatch.setitem(sys.modules, 'd2lkit.sweep', fake)
    printed = exercises.answer(exercises.BY_ID['1.0/mlp-implementation.4'], tmp_path / 'out')
    sweep = exercises.BY_ID['1.0/mlp-implementation.4'].sweep
    assert calls == [[*sweep, '--out', str(tmp_path / 'out')]]
    assert printed.endswith(f'figure: {tmp_path / "out" / "lr.png"}')


def test_without_the_sweep_a_run_answer_says_so_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'd2lkit.sweep', None)  # import fails as for a missing module
    status, out, err = run_as_script(exercises.main, ['0.17/mlp-scratch.1'], capsys)
    assert status == 1 and out == ''
    assert err.strip().splitlines() == [err.strip()] and 'python -m d2l sweep' in err


def test_the_answer_key_lists_answers_not_run_yet_with_no_run(tmp_path, monkeypatch):
    root = tmp_path / 'answers'
    monkeypatch.setitem(exercises.NOTES, '0.17/mlp-scratch.1', 'A note.')  # a fake: no results.csv
    _fake_sweep(exercises.default_out(exercises.BY_ID['0.17/mlp-scratch.1'], root))
    doc = exercises.write_doc(tmp_path / 'exercises.md', root, pending=True,
                              ids=['0.17/mlp-scratch.1', '0.17/mlp-scratch.3'])
    text = doc.read_text()
    ran, waiting = text.split('## 0.17/mlp-scratch.3')
    assert '| 256 | **0.851 ± 0.001** |' in ran and 'Not run for this key yet' not in ran
    assert 'Not run for this key yet' in waiting.split('\n## ')[0]
    assert '## Answers not run yet' in text and ': 0.17/mlp-scratch.3' in text


def test_a_code_answers_table_is_kept_and_read_back_and_no_run_runs_no_snippet(tmp_path,
                                                                               monkeypatch):
    root, ids = tmp_path / 'answers', ['1.0/mlp-implementation.7', '0.17/mlp.3']
    first = exercises.write_doc(tmp_path / 'a.md', root, ids=ids, small=True).read_text()
    table = exercises.default_out(exercises.BY_ID['1.0/mlp-implementation.7'], root) / 'table.txt'
    assert 'GFLOP/s' in table.read_text() and table.read_text() in first  # timed: one run's numbers
    (exercises.default_out(exercises.BY_ID['0.17/mlp.3'], root) / 'table.txt').unlink()

    def refuse(small=False):
        raise AssertionError('a snippet ran with --no-run')
    monkeypatch.setitem(exercises.SNIPPETS, 'matmul_alignment', refuse)
    monkeypatch.setitem(exercises.SNIPPETS, 'tanh_sigmoid', refuse)
    again = exercises.write_doc(tmp_path / 'b.md', root, ids=ids, pending=True).read_text()
    assert table.read_text() in again  # the same numbers, read back, not timed again
    assert 'Not run for this key yet' in again.split('## 0.17/mlp.3')[1].split('\n## ')[0]
    assert ': 0.17/mlp.3.' in again


def write_best(folder, line):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'best.txt').write_text(line + '\n')


def test_a_stage_runs_the_chosen_setting_of_the_search_before_it(tmp_path):
    write_best(tmp_path, 'best of 24 trials: --lr 0.3121 --hidden 411 --depth 2 --epochs 33 '
                         '--batch-size 45 (valid acc 0.8950, seed 0, trial 7); one more run ...')
    assert exercises.best_setting(tmp_path) == {'lr': '0.3121', 'hidden': '411', 'depth': '2',
                                                'epochs': '33', 'batch_size': '45'}
    confirm = next(t for t in exercises.BY_ID['0.17/mlp-scratch.4'].stages
                   if t.name == 'confirm')
    argv = confirm.argv(tmp_path)
    assert argv[argv.index('--lr') + 1] == '0.1,0.3121'  # the book's value, then the chosen one
    assert argv[argv.index('--depth') + 1] == '1,2' and argv[argv.index('--grid') + 1] == 'zip'
    assert argv[argv.index('--batch-size') + 1] == '256,45'
    assert argv[argv.index('--seeds') + 1] == '0..2'
    assert argv[argv.index('--more-seeds') + 1] == '10'  # up to 10 seeds where they are tied
    quick = confirm.argv(tmp_path, ['--epochs', '1', '--seeds', '0'])  # a quick try's flags
    assert '--epochs' in quick and quick[quick.index('--epochs') + 1] == '1'
    # a quick try's --search and --prune are the searches': this grid leaves them out
    fewer = confirm.argv(tmp_path, ['--search', '2', '--epochs', '1', '--prune', 'none'])
    assert fewer == confirm.argv(tmp_path, ['--epochs', '1'])
    assert fewer != confirm.argv(tmp_path)
    # every run of the stage parses (the sweep's own check), and it is a zip of two settings
    plan = sweep_plan.make_plan([*argv, '--out', str(tmp_path / 'confirm')])
    assert len(plan.settings()) == 2 and plan.defaults == {
        'lr': '0.1', 'hidden': '256', 'depth': '1', 'epochs': '10', 'batch_size': '256'}
    # the answer's other searches (its stages): the best on validation of them all is chosen
    write_best(tmp_path / 'halving', 'best of 40 trials: --lr 0.25 --hidden 540 --depth 1 '
                                     '--epochs 39 --batch-size 64 (valid acc 0.9012, seed 0, '
                                     'trial 38); ...')
    write_best(tmp_path / 'none', 'best of 40 trials: --lr 0.2 --hidden 99 --depth 3 '
                                  '--epochs 9 --batch-size 32 (valid acc 0.8800, seed 0, '
                                  'trial 1); ...')
    assert exercises.best_setting(tmp_path) == {'lr': '0.25', 'hidden': '540', 'depth': '1',
                                                'epochs': '39', 'batch_size': '64'}
    for name in ('halving', 'none'):
        (tmp_path / name / 'best.txt').unlink()
    write_best(tmp_path, 'search: no trial finished (all pruned, diverged or failed); ...')
    with pytest.raises(d2l.D2LError, match='names a chosen setting'):
        confirm.argv(tmp_path)
    write_best(tmp_path, 'best of 3 trials: --lr 0.3 (valid acc 0.8, seed 0, trial 1); ...')
    with pytest.raises(d2l.D2LError, match='chooses no hidden'):
        confirm.argv(tmp_path)


def test_a_zip_grid_is_costed_as_its_settings_not_their_combinations():
    def estimate(*flags):
        return exercises.estimated_seconds(exercises.Exercise(
            'x/y.1', 'run', 'a test', sweep=exercises._sweep('mlp_concise', *flags)))
    paired = estimate('--grid', 'zip', '--lr', '0.1,0.3', '--epochs', '10,20', '--seeds', '0')
    combined = estimate('--lr', '0.1,0.3', '--epochs', '10,20', '--seeds', '0')
    assert combined == pytest.approx(2 * paired)  # 4 runs (10+10+20+20) against 2 (10+20)
    deeper = estimate('--hidden', '256', '--depth', '3', '--seeds', '0')
    assert deeper == pytest.approx(estimate('--hidden', '256 256 256', '--seeds', '0'))


def test_the_cost_estimate_counts_seed_ranges_and_polynomial_steps():
    def estimate(*flags):
        return exercises.estimated_seconds(exercises.Exercise(
            'x/y.1', 'run', 'a test', sweep=exercises._sweep('polynomial', *flags)))
    one = estimate('--degree', '1,3', '--seeds', '0')
    assert estimate('--degree', '1,3', '--seeds', '0..9') == pytest.approx(10 * one)
    assert estimate('--degree', '1,3', '--seeds', '0,1,2,3,4,5,6,7,8,9') == pytest.approx(10 * one)
    # --steps 4000 is ten times the default 400 epochs x 1 step of a 10-example set
    longer = estimate('--degree', '1,3', '--seeds', '0', '--steps', '4000', '--num-train', '10')
    default = estimate('--degree', '1,3', '--seeds', '0', '--num-train', '10')
    overhead = exercises._RUN_OVERHEAD_S
    assert (longer / 2 - overhead) == pytest.approx(4000 * exercises._TINY_STEP_S)
    assert longer > default


def write_search(folder, trials: list[tuple[float, int, float]]) -> None:
    """folder/results.csv of a search over lr and hidden, one seed a trial (lr, hidden, valid
    accuracy), a pruned trial last; and its best.txt, as the sweep writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{'run': f't{i:03d}-s0', 'lr': lr, 'hidden': hidden, 'seed': 0, 'train_loss': 0.3,
             'train_acc': 0.9, 'valid_acc': acc, 'seconds': 5.0, 'status': 'ok', 'worker': 'w',
             'host': 'h'} for i, (lr, hidden, acc) in enumerate(trials)]
    rows.append({**rows[0], 'run': 't999-s0', 'valid_acc': 0.99, 'status': 'pruned'})
    pd.DataFrame(rows).to_csv(folder / 'results.csv', index=False)
    lr, hidden, acc = max(trials, key=lambda t: t[2])
    write_best(folder, f'best of {len(trials)} trials: --lr {lr} --hidden {hidden} (valid acc '
                       f'{acc}, seed 0, trial 0); ...')


def test_the_finalists_are_the_best_trials_of_all_searches_and_the_best_of_them_is_chosen(
        tmp_path):
    write_search(tmp_path, [(0.1, 256, 0.85), (0.3, 512, 0.89), (0.2, 64, 0.80)])
    write_search(tmp_path / 'halving', [(0.3, 512, 0.87), (0.25, 128, 0.88), (0.05, 32, 0.70)])
    # distinct settings, best first: 0.3/512 once (its better trial), the pruned one never
    assert exercises.finalists(tmp_path, 3) == [{'lr': '0.3', 'hidden': '512'},
                                                {'lr': '0.25', 'hidden': '128'},
                                                {'lr': '0.1', 'hidden': '256'}]
    stage = exercises.Stage('finalists', 'again', exercises._sweep('mlp_concise', '--valid', '100',
                                                                   '--seeds', '1,2'), finalists=3)
    argv = stage.argv(tmp_path)
    assert argv[argv.index('--grid') + 1] == 'zip'
    assert argv[argv.index('--lr') + 1] == '0.3,0.25,0.1'
    assert argv[argv.index('--hidden') + 1] == '512,128,256'
    plan = sweep_plan.make_plan([*argv, '--out', str(tmp_path / 'finalists')])
    assert len(plan.settings()) == 3 and plan.seeds == [1, 2]
    # before the finalists ran: the best single trial; after: the best of them by mean
    assert exercises.best_setting(tmp_path) == {'lr': '0.3', 'hidden': '512'}
    finals = [(0.3, 512, 0.861), (0.3, 512, 0.869), (0.25, 128, 0.874), (0.25, 128, 0.872),
              (0.1, 256, 0.85), (0.1, 256, 0.852)]
    write_search(tmp_path / 'finalists', finals)
    (tmp_path / 'finalists' / 'best.txt').unlink()  # a grid writes none
    assert exercises.best_setting(tmp_path) == {'lr': '0.25', 'hidden': '128'}
    assert exercises._chosen_line(tmp_path, stage) == [
        'chosen: --lr 0.25 --hidden 128 (the best finalist by mean validation accuracy)']
