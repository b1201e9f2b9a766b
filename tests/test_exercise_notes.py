"""The answers' notes take their numbers and verdicts from the stored results: a changed result
changes the key, a verdict the results no longer give refuses the key, and the committed key is
what the committed answers give."""
from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

from conftest import ROOT, program
from d2lkit import exercise_numbers, exercises

ANSWERS = ROOT / 'docs' / 'answers'
ID = '0.17/mlp-scratch.1'  # its note claims {tied@hidden=256}


def _copy(tmp_path, id: str = ID):
    """The stored answer of id copied under tmp_path/docs/answers; its folder."""
    folder = exercises.default_out(exercises.BY_ID[id], tmp_path / 'docs' / 'answers')
    shutil.copytree(ANSWERS / folder.name, folder)
    return folder


def _edit(folder, hidden: int, column: str, values: list[float]) -> None:
    """Set column of the runs with that hidden size, seed by seed, in folder's results.csv."""
    results = pd.read_csv(folder / 'results.csv')
    for seed, value in enumerate(values):
        results.loc[(results['hidden'] == hidden) & (results['seed'] == seed), column] = value
    results.to_csv(folder / 'results.csv', index=False)


def _key(tmp_path) -> str:
    root = tmp_path / 'docs' / 'answers'
    return exercises.write_doc(tmp_path / 'docs' / 'exercises.md', root, ids=[ID],
                               pending=True).read_text()


def test_a_changed_result_changes_the_number_in_the_note(tmp_path):
    folder = _copy(tmp_path)
    assert '0.39 ± 0.00 at 1024' in _key(tmp_path)
    _edit(folder, 1024, 'train_loss', [0.5] * 10)  # 1024, the best's nearest rival, ran 10 seeds
    text = _key(tmp_path)
    assert '0.50 ± 0.00 at 1024' in text and '0.39 ± 0.00 at 1024' not in text
    assert '| 1024 | 0.5000 ± 0.0000 |' in text  # the table, rebuilt from results.csv, agrees


def test_a_verdict_the_results_deny_refuses_the_key_in_one_line(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder, 256, 'valid_acc', [0.700, 0.701, 0.702])  # far below 128 on every seed: worse
    result = program([str(ROOT / 'd2l.py'), 'exercises', '--write-doc', 'docs/exercises.md',
                      '--root', 'docs/answers', '--no-run'], tmp_path, tmp_path)
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1 and result.stdout == ''
    line = result.stderr
    assert line.startswith(f'error: note {ID}: {{tied@hidden=256}} claims tied, ')
    assert 'verdict of hidden=256 is worse' in line
    assert not (tmp_path / 'docs' / 'exercises.md').exists()


@pytest.mark.parametrize('text, error', [
    ('{valid_acc@hidden=999}', 'no setting hidden=999'),
    ('{valid_ac@hidden=128}', 'no column valid_ac'),
    ('{valid_acc@lr=0.1}', "this table's axes are hidden"),
    ('{worse@hidden=256}', 'claims worse, but the computed verdict of hidden=256 is tied'),
])
def test_an_unknown_placeholder_is_one_line_naming_note_and_placeholder(text, error):
    answer = exercises.numbers(exercises.BY_ID[ID], ANSWERS / '0.17-mlp-scratch.1')
    with pytest.raises(exercise_numbers.NoteError, match=error) as caught:
        exercise_numbers.render(f'See {text}.', answer, f'note {ID}')
    assert str(caught.value).startswith(f'note {ID}: {text}') and '\n' not in str(caught.value)


def test_placeholders_render_in_their_default_formats():
    answer = exercises.numbers(exercises.BY_ID[ID], ANSWERS / '0.17-mlp-scratch.1')
    render = lambda text: exercise_numbers.render(text, answer, 'test')  # noqa: E731
    assert render('{valid_acc@hidden=128}') == '0.849 ± 0.005'
    assert render('{valid_acc.mean:.4f@hidden=128}') == '0.8490'
    assert render('{vs_best@hidden=256}') == '−0.017 ± 0.051'
    assert render('{tied@hidden=256}') == 'tied with the best (−0.017 ± 0.051 over 3 seeds)'
    assert render('{tied@hidden=1024}') == 'tied with the best (−0.005 ± 0.008 over 10 seeds)'
    assert render('{tied.word@hidden=256} {best@hidden=128}') == 'tied the best by mean valid_acc'
    assert render('{seconds@hidden=16}') == '2.5 ± 0.3'


def test_best_and_book_name_rows_and_the_totals_count_the_whole_sweep():
    answer = exercises.numbers(exercises.BY_ID[ID], ANSWERS / '0.17-mlp-scratch.1')
    render = lambda text: exercise_numbers.render(text, answer, 'test')  # noqa: E731
    assert render('{valid_acc@best}') == render('{valid_acc@hidden=128}')  # 128 is the best
    assert render('{valid_acc@book}') == render('{valid_acc@hidden=256}')  # the script's default
    # a swept flag's value in a setting: what was chosen, not a number typed into the note
    assert render('{hidden@best} of {hidden@book}') == '128 of 256'
    assert render('{hidden:05d@best}') == '00128'
    with pytest.raises(exercise_numbers.NoteError, match='hidden is a swept flag'):
        render('{hidden.mean@best}')
    results = answer.results
    assert render('{runs} {pruned_runs}') == f'{len(results)} 0'
    assert render('{worker_minutes}') == f'{results["seconds"].sum() / 60:.1f}'
    one_pruned = results.assign(status=['pruned'] + ['ok'] * (len(results) - 1))
    assert exercise_numbers.render('{pruned_runs}', dataclasses.replace(answer, results=one_pruned),
                                   'test') == '1'
    with pytest.raises(exercise_numbers.NoteError, match='counts the whole sweep'):
        render('{runs@hidden=128}')


def test_a_note_reads_a_stage_of_another_answer(tmp_path, monkeypatch):
    # the joint answer's confirm stage: the book's recipe against the search's chosen one
    root = tmp_path / 'docs' / 'answers'
    _copy(tmp_path)
    joint = exercises.default_out(exercises.BY_ID['0.17/mlp-scratch.4'], root)
    (joint / 'confirm').mkdir(parents=True)
    (joint / 'best.txt').write_text('best of 24 trials: --lr 0.3 --hidden 512 --depth 2 '
                                    '--epochs 30 --batch-size 64 (valid acc 0.9, seed 0, '
                                    'trial 3); ...\n')
    rows = [{'run': f'g{i}-s{seed}', 'lr': lr, 'hidden': hidden, 'depth': depth,
             'epochs': epochs, 'batch_size': batch, 'seed': seed, 'train_loss': 0.3,
             'train_acc': 0.9, 'valid_acc': acc + 0.001 * seed, 'seconds': 10.0, 'status': 'ok',
             'worker': 'w', 'host': 'h'}
            for i, (lr, hidden, depth, epochs, batch, acc) in enumerate(
                [(0.1, 256, 1, 10, 256, 0.85), (0.3, 512, 2, 30, 64, 0.89)])
            for seed in range(3)]
    pd.DataFrame(rows).to_csv(joint / 'confirm' / 'results.csv', index=False)
    monkeypatch.setitem(exercises.NOTES, ID, 'Book {valid_acc.mean@0.17/mlp-scratch.4#confirm:book}'
                        ', {worse@0.17/mlp-scratch.4#confirm:book}.')
    text = _key(tmp_path)
    assert 'Book 0.851, worse than the best (−0.040 ± 0.000 over 3 seeds).' in text
    monkeypatch.setitem(exercises.NOTES, ID, '{valid_acc@0.17/mlp-scratch.4#nope:book}')
    with pytest.raises(exercise_numbers.NoteError, match='has no stage nope'):
        _key(tmp_path)


def test_the_committed_key_is_what_the_committed_answers_give(tmp_path):
    shutil.copytree(ANSWERS, tmp_path / 'docs' / 'answers')
    result = program([str(ROOT / 'd2l.py'), 'exercises', '--write-doc', 'docs/exercises.md',
                      '--root', 'docs/answers', '--no-run'], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    drop = lambda text: [line for line in text.splitlines()  # noqa: E731
                         if not line.startswith('Generated on ')]
    assert drop((tmp_path / 'docs' / 'exercises.md').read_text()) == drop(
        (ROOT / 'docs' / 'exercises.md').read_text())
    for summary in ANSWERS.glob('*/summary.md'):  # nothing to rebuild: they are current
        assert (tmp_path / 'docs' / 'answers' / summary.parent.name / 'summary.md').read_text() \
            == summary.read_text()


# ---------------------------------------------------------------------------
# A code answer's note: the cells of its snippet's table
# ---------------------------------------------------------------------------

TABLE = pd.DataFrame({'n': [1024, 1025, 1026], 'loss': ['squared', 'abs', 'abs'],
                      'seconds': [0.0125, 0.0151, 0.0102], 'sums': ['[1.5, -2.25]'] * 3,
                      'cond(X^T X)': [6.6e22, 2.0e9, 1.0], 'ok': [True, False, True]})


@pytest.mark.parametrize('text, shown', [
    ('{seconds@n=1025}', '0.0151'),  # 4 significant digits by default
    ('{seconds:.2f@n=1025.0}', '0.02'),  # a number names its row by value
    ('{cond(X^T X):.2g@n=1024}', '6.6e22'),  # no + and no leading zero in an exponent
    ('{sums:.1f@n=1024}', '1.5, −2.2'),  # a list, element by element
    ('{seconds.max} {seconds.min:.3f}', '0.0151 0.010'),
    ('{seconds.argmax} {seconds.argmin}', '1025 1026'),  # the first column of that row
    ('{n.count}', '3'),
    ('{n@loss=abs & seconds=0.0102}', '1026'),  # two columns name one row
    ('{ok@n=1025}', 'False'),
])
def test_a_code_note_names_cells_of_its_table(text, shown):
    assert exercise_numbers.render_table(f'<{text}>', TABLE, 'note x') == f'<{shown}>'


@pytest.mark.parametrize('text, error', [
    ('{second@n=1025}', "no column 'second'"),
    ('{seconds@n=9}', '0 rows with n=9'),
    ('{seconds@loss=abs}', '2 rows with loss=abs; name one'),
    ('{seconds}', 'the table has 3 rows; name one with @n=VALUE'),
    ('{seconds.max@n=1025}', '.max takes the whole column'),
    ('{seconds@1025}', 'a row is named KEY=VALUE'),
])
def test_a_code_note_naming_no_cell_is_one_line(text, error):
    with pytest.raises(exercise_numbers.NoteError, match=error) as caught:
        exercise_numbers.render_table(f'See {text}.', TABLE, 'note x')
    assert str(caught.value).startswith(f'note x: {text}') and '\n' not in str(caught.value)


def test_a_changed_code_table_changes_the_note(tmp_path):
    id = '1.0/mlp-implementation.7'  # its note names the slowest size and each one's ratio
    folder = _copy(tmp_path, id)
    table = pd.read_csv(folder / 'table.csv')
    key = lambda: exercises.write_doc(tmp_path / 'e.md', tmp_path / 'docs' / 'answers',  # noqa
                                      ids=[id], pending=True).read_text()
    before = key()
    slowest = table.loc[table['n'] != 1025, 'seconds'].max() * 3
    table.loc[table['n'] == 1025, ['seconds', 'vs fastest']] = [slowest, 9.876]
    table.to_csv(folder / 'table.csv', index=False)
    after = key()
    assert 'the slowest size, n = 1025, took 9.88 times' in after
    assert '9.88' not in before
    (folder / 'table.csv').unlink()
    with pytest.raises(exercise_numbers.NoteError, match='no .*table.csv; delete its table.txt'):
        key()


def test_the_key_states_the_answers_measured_time_and_estimates_only_the_unmeasured(tmp_path):
    ids = ['0.17/mlp-scratch.1', '0.17/mlp-scratch.3']
    folders = [_copy(tmp_path, id) for id in ids]
    (folders[0] / 'ran.txt').write_text('2026-01-02; a 2-core machine, torch 9; 1500.0 s\n')
    (folders[1] / 'ran.txt').write_text('2026-01-02; a 2-core machine, torch 9\n')  # no time kept
    text = exercises.write_doc(tmp_path / 'e.md', tmp_path / 'docs' / 'answers', ids=ids,
                               pending=True).read_text()
    estimate = exercises.estimated_seconds(exercises.BY_ID[ids[1]]) / 60
    assert 'the answers took 25 minutes of wall time in all on 2 quiet cores' in text
    assert (f'0.17/mlp-scratch.3, run before their times were kept, take about {estimate:.0f} '
            'minutes by the estimate') in text
    assert 'Machine: a 2-core machine, torch 9.' in text
