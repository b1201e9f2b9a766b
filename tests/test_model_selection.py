"""The model-selection pages as scripts: polynomial regression (underfitting and overfitting by
the degree and the number of examples) and weight decay on high-dimensional linear regression
(the penalty by hand in scratch.py, the optimizer's weight_decay in concise.py)."""
import json
import re

import pytest
import torch

import d2l
from d2lkit import compare
from conftest import (POLYNOMIAL, WEIGHT_DECAY_SCRIPTS, assert_same_losses, is_png,
                      run_as_script, script, train)

LOSSES_LINE = re.compile(r'^epoch (\d+), train loss (\S+), test loss (\S+)$')


BOTH_LOSSES = ('train_loss', 'test_loss')


# ---------------------------------------------------------------------------
# Polynomial regression
# ---------------------------------------------------------------------------

def test_polynomial_data_follow_the_cubic():
    page = script(POLYNOMIAL)
    torch.manual_seed(0)
    features, labels = page.polynomial_data(500)
    assert features.shape == (500, 20) and labels.shape == (500, 1)
    x = features[:, 1]
    assert torch.allclose(features[:, 0], torch.ones(500))
    assert torch.allclose(features[:, 3], x ** 3 / 6)
    assert torch.allclose(features[:, 5], x ** 5 / 120)
    noise = labels.reshape(-1) - (5 + 1.2 * x - 3.4 * x ** 2 / 2 + 5.6 * x ** 3 / 6)
    assert abs(float(noise.std()) - 0.1) < 0.01 and abs(float(noise.mean())) < 0.02


def test_underfitting_normal_and_overfitting_order_the_test_loss():
    under = train(POLYNOMIAL, '--degree', '1', '--epochs', '100')
    normal = train(POLYNOMIAL, '--degree', '3', '--epochs', '100')
    over = train(POLYNOMIAL, '--degree', '19', '--num-train', '15', '--epochs', '100')
    test = {name: h['test_loss'][-1]
            for name, h in (('under', under), ('normal', normal), ('over', over))}
    # The right degree reaches the noise's variance (0.01) on the test set; the others stay above.
    assert test['normal'] < 0.02
    assert test['under'] > 100 * test['normal'] and test['over'] > 100 * test['normal']
    assert under['train_loss'][-1] > 1  # a line cannot fit the cubic even on its training set
    assert over['train_loss'][-1] < test['over'] / 10  # 20 weights, 15 examples: fits those only
    assert normal['w'] == pytest.approx([5, 1.2, -3.4, 5.6], abs=0.1)
    assert len(under['w']) == 2 and len(over['w']) == 20


def test_polynomial_prints_the_books_points_and_the_weights(tmp_path, capsys):
    picture, numbers = tmp_path / 'poly.png', tmp_path / 'poly.json'
    history = train(POLYNOMIAL, '--epochs', '45', '--plot', str(picture), '--history', str(numbers))
    lines = capsys.readouterr().out.splitlines()
    epochs = [int(m.group(1)) for line in lines if (m := LOSSES_LINE.match(line))]
    assert epochs == [1, 20, 40, 45]  # the first, every 20th and the last
    for line in lines[:4]:
        epoch, train_l, test_l = LOSSES_LINE.match(line).groups()
        assert float(train_l) == pytest.approx(history['train_loss'][int(epoch) - 1], rel=1e-5)
        assert float(test_l) == pytest.approx(history['test_loss'][int(epoch) - 1], rel=1e-5)
    assert lines[4] == 'learned w: [' + ' '.join(f'{v:.4f}' for v in history['w']) + ']'
    assert lines[5] == 'true w:    [5.0000 1.2000 -3.4000 5.6000]'
    assert is_png(picture) and f'train and test loss written to {picture}' in lines
    assert json.loads(numbers.read_text()) == history and len(history['test_loss']) == 45


def test_polynomial_steps_train_every_data_size_for_the_same_number_of_updates(monkeypatch):
    page = script(POLYNOMIAL)
    steps = []
    step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, 'step', lambda self, *a, **k: (steps.append(1),
                                                                         step(self, *a, **k))[1])
    epochs = {}
    for n in (10, 15, 40):  # 1, 2 (10 + 5) and 4 batches an epoch
        steps.clear()
        epochs[n] = len(page.main(['--num-train', str(n), '--steps', '40', '--degree', '2'])
                        ['train_loss'])
        assert len(steps) == 40, n
    assert epochs == {10: 40, 15: 20, 40: 10}
    # Without --steps, --epochs counts: the book's 400 epochs are 400 steps at 10 examples.
    assert page.parse_args(['--num-train', '10']).epochs == 400
    assert page.parse_args(['--num-train', '10', '--steps', '4000']).epochs == 4000


def test_polynomial_steps_must_make_whole_epochs(capsys):
    with pytest.raises(SystemExit):
        script(POLYNOMIAL).parse_args(['--num-train', '15', '--steps', '41'])
    assert ('--steps 41 is not a whole number of epochs of 2 steps (--num-train 15, batch 10); '
            'use a multiple of 2') in capsys.readouterr().err


def test_polynomial_weights_load_only_at_their_degree(tmp_path, capsys):
    path = tmp_path / 'poly.pt'
    trained = train(POLYNOMIAL, '--epochs', '5', '--save', str(path))
    loaded = train(POLYNOMIAL, '--load', str(path))
    assert loaded['w'] == trained['w'] and loaded['train_loss'] == []
    assert f'loaded {path}: train loss ' in capsys.readouterr().out
    with pytest.raises(d2l.D2LError, match='saved with degree=3, but this run has degree=5'):
        train(POLYNOMIAL, '--load', str(path), '--degree', '5')


# ---------------------------------------------------------------------------
# Weight decay
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', WEIGHT_DECAY_SCRIPTS)
def test_weight_decay_shrinks_w_and_lowers_the_test_loss(name, capsys):
    free = train(name)
    decayed = train(name, '--lambd', '3')
    assert decayed['w_norm'] < free['w_norm'] / 10  # about 0.39 against 14.1
    assert decayed['test_loss'][-1] < free['test_loss'][-1] / 100
    # Without decay the 20 examples are fitted almost exactly and the test loss does not move.
    assert free['train_loss'][-1] < 1e-4 < free['test_loss'][-1]
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f'L2 norm of w: {decayed["w_norm"]:f}'
    epochs = [int(m.group(1)) for line in lines if (m := LOSSES_LINE.match(line))]
    assert epochs == list(range(5, 101, 5)) * 2  # every 5 epochs, as the book plots them


@pytest.mark.parametrize('flags', [['--lambd', '3'],
                                   ['--weight-decay', '1', '--batch-size', '3', '--seed', '2']])
def test_weight_decay_scratch_and_concise_agree(flags):
    scratch = train('ch_weight_decay/scratch', *flags)
    concise = train('ch_weight_decay/concise', *flags)
    assert_same_losses(scratch, concise, rtol=1e-4, keys=BOTH_LOSSES)
    assert scratch['w_norm'] == pytest.approx(concise['w_norm'], rel=1e-5)


def test_weight_decay_scripts_agree_without_decay_up_to_float32_rounding():
    # At lambd 0 the training set is fitted to a loss of 6e-6: there the rounding of y_hat (a sum
    # of 200 products of size 1, about 1e-6) is 1e-4 of the loss: the train loss agrees to 1e-3.
    scratch, concise = train('ch_weight_decay/scratch'), train('ch_weight_decay/concise')
    assert_same_losses(scratch, concise, rtol=1e-3, keys=['train_loss'])
    assert_same_losses(scratch, concise, rtol=1e-5, keys=['test_loss'])
    assert scratch['w_norm'] == pytest.approx(concise['w_norm'], rel=1e-6)


def test_weight_decay_parity_needs_the_same_seed():
    scratch = train('ch_weight_decay/scratch', '--lambd', '3', '--epochs', '5')
    concise = train('ch_weight_decay/concise', '--lambd', '3', '--epochs', '5', '--seed', '1')
    with pytest.raises(AssertionError):
        assert_same_losses(scratch, concise, rtol=1e-4, keys=BOTH_LOSSES)


VALID_LINE = re.compile(r'^epoch (\d+), train loss (\S+), valid loss (\S+), test loss (\S+)$')


@pytest.mark.parametrize('name', WEIGHT_DECAY_SCRIPTS)
def test_weight_decay_valid_adds_a_validation_loss_and_changes_nothing_else(name, capsys):
    plain = train(name, '--lambd', '3', '--epochs', '12')
    plain_out = capsys.readouterr().out.splitlines()
    valid = train(name, '--lambd', '3', '--epochs', '12', '--valid', '50')
    valid_out = capsys.readouterr().out.splitlines()
    assert 'valid_loss' not in plain and len(valid['valid_loss']) == 12
    # The validation set is drawn from a stream of its own: the run is otherwise the same.
    for key in ('train_loss', 'test_loss', 'w_norm'):
        assert valid[key] == plain[key], key
    assert [LOSSES_LINE.match(line).groups() for line in plain_out[:-1]] == [
        (m.group(1), m.group(2), m.group(4)) for m in map(VALID_LINE.match, valid_out[:-1])]
    assert [float(VALID_LINE.match(line).group(3)) for line in valid_out[:-1]] == [
        pytest.approx(valid['valid_loss'][e - 1], rel=1e-5) for e in (5, 10, 12)]
    assert valid_out[-1] == plain_out[-1]  # L2 norm of w


@pytest.mark.parametrize('name', WEIGHT_DECAY_SCRIPTS)
def test_weight_decay_valid_loss_is_on_new_examples_drawn_like_the_training_set(
        name, tmp_path, monkeypatch):
    drawn = []  # (w, b, examples, (X, y)) of each call of d2l.synthetic_data

    def recorded(w, b, num_examples):
        data = synthetic_data(w, b, num_examples)
        drawn.append((w, b, num_examples, data))
        return data
    synthetic_data = d2l.synthetic_data
    monkeypatch.setattr(d2l, 'synthetic_data', recorded)
    weights = tmp_path / 'wd.pt'
    history = train(name, '--lambd', '1', '--epochs', '3', '--valid', '400', '--save', str(weights))
    (train_w, train_b, n_train, (train_X, _)), _, (w, b, n_valid, (X, y)) = drawn
    assert (n_train, n_valid) == (20, 400)
    assert torch.equal(w, train_w) and b == train_b  # the same w, b (and noise) as training
    assert not any(torch.equal(row, x) for row in X for x in train_X)  # new examples
    # The noise left after the true line is N(0, 0.01^2), as synthetic_data draws it.
    assert float((y - X @ w - b).std()) == pytest.approx(0.01, rel=0.15)
    # The loss reported is the final model's mean squared loss / 2 on those 400 examples.
    saved = d2l.load_weights(weights)
    weight = saved['w'] if 'w' in saved else saved['0.weight'].T
    bias = saved['b'] if 'b' in saved else saved['0.bias']
    expected = float(((X @ weight + bias - y) ** 2 / 2).mean())
    assert history['valid_loss'][-1] == pytest.approx(expected, rel=1e-5)


def test_compare_lines_up_train_and_test_loss(capsys):
    result = compare.compare('ch_weight_decay', ['--lambd', '3', '--epochs', '3'])
    out = capsys.readouterr().out
    table = out.split('scratch.py vs concise.py', 1)[1].splitlines()
    assert 'train loss' in table[1] and 'test loss' in table[1]
    rows = [line.split() for line in table if re.match(r'^\s+\d+\s', line)]
    assert [len(row) for row in rows] == [7, 7, 7]  # epoch; scratch, concise, rel diff per loss
    for i, row in enumerate(rows):
        assert float(row[4]) == pytest.approx(result['scratch']['test_loss'][i], rel=1e-5)
        assert float(row[5]) == pytest.approx(result['concise']['test_loss'][i], rel=1e-5)
    assert result['agree'] and 'they agree within 0.0001 relative' in out


@pytest.mark.parametrize('name', WEIGHT_DECAY_SCRIPTS)
def test_weight_decay_save_load_and_plot(name, tmp_path, capsys):
    path, picture = tmp_path / 'wd.pt', tmp_path / 'wd.png'
    trained = train(name, '--lambd', '3', '--epochs', '10', '--save', str(path),
                    '--plot', str(picture))
    assert is_png(picture)
    capsys.readouterr()
    loaded = train(name, '--load', str(path), '--plot', str(tmp_path / 'none.png'))
    out = capsys.readouterr().out.splitlines()
    train_l, test_l = trained['train_loss'][-1], trained['test_loss'][-1]
    assert out[0] == f'loaded {path}: train loss {train_l:.6g}, test loss {test_l:.6g}'
    assert loaded['w_norm'] == trained['w_norm'] and not (tmp_path / 'none.png').exists()
    none = tmp_path / 'none.png'
    assert out[-1] == f'note: no training curves to plot with --load; {none} not written'


# ---------------------------------------------------------------------------
# Bad flags (--help: test_chapters.py's test_help_shows_the_docstring_and_book_defaults)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('name, flags, message', [
    (POLYNOMIAL, ['--degree', '20'], "argument --degree: invalid choice: 20"),
    (POLYNOMIAL, ['--degree', 'three'], "argument --degree: invalid int value: 'three'"),
    (POLYNOMIAL, ['--num-train', '0'], 'argument --num-train: must be positive, got 0'),
    ('ch_weight_decay/scratch', ['--lambd', '-1'],
     'argument --weight-decay/--lambd: must be 0 or more, got -1'),
    ('ch_weight_decay/concise', ['--weight-decay', 'nan'], 'must be 0 or more, got nan'),
    ('ch_weight_decay/concise', ['--weight-decay', 'lots'], "'lots' is not a number"),
    ('ch_weight_decay/scratch', ['--degree', '3'], 'unrecognized arguments: --degree 3'),
])
def test_bad_flags_are_one_line_and_status_2(name, flags, message, capsys):
    status, out, err = run_as_script(script(name).main, flags, capsys)
    assert status == 2 and out == ''
    lines = err.strip().splitlines()
    assert lines[0].startswith('usage: ') and ': error: ' in lines[-1]
    assert message in lines[-1] and 'Traceback' not in err, err
