"""Linear regression's exercise settings: --loss, --reduction (concise), --num-examples, --init,
and the shared --init parser d2l.init_flag. Without them the scripts print what they always did."""
import argparse
import math

import pytest
import torch
from torch import nn

import d2l
from conftest import LINREG_SCRIPTS, run_as_script, script

SCRATCH, CONCISE = LINREG_SCRIPTS


def train(name: str, *flags: str) -> dict:
    """Run a script's main() with flags; return its history."""
    return script(name).main(list(flags))


def assert_same_run(a: dict, b: dict, rtol: float = 1e-4) -> None:
    """Equal per-epoch losses within rtol (relative) and the same fitted w and b to 1e-5."""
    assert len(a['train_loss']) == len(b['train_loss']) > 0
    for x, y in zip(a['train_loss'], b['train_loss']):
        assert abs(x - y) <= rtol * abs(y), (a['train_loss'], b['train_loss'])
    assert a['w'] == pytest.approx(b['w'], abs=1e-5) and a['b'] == pytest.approx(b['b'], abs=1e-5)


@pytest.mark.parametrize('name', LINREG_SCRIPTS)
def test_the_new_flags_at_their_defaults_change_nothing(name):
    plain = train(name, '--epochs', '2')
    explicit = ['--epochs', '2', '--loss', 'squared', '--init', 'default', '--num-examples', '1000']
    if name == CONCISE:
        explicit += ['--reduction', 'mean']
    spelled_out = train(name, *explicit)
    for key in ('train_loss', 'w', 'b'):
        assert spelled_out[key] == plain[key], key  # the very same numbers, not merely close


@pytest.mark.parametrize('loss', ['huber', 'abs'])
def test_each_loss_gives_the_same_numbers_in_scratch_and_concise(loss):
    scratch, concise = train(SCRATCH, '--loss', loss), train(CONCISE, '--loss', loss)
    assert_same_run(scratch, concise)
    squared = train(SCRATCH)
    assert scratch['train_loss'][0] != pytest.approx(squared['train_loss'][0], rel=1e-2)


def test_the_hand_written_losses_are_torchs():
    page = script(SCRATCH)
    y_hat = torch.linspace(-3, 3, 61).reshape(-1, 1)  # errors either side of 1, exactly +-1 and 0
    y = torch.zeros(61)
    huber = page.huber_loss(y_hat, y)
    assert torch.allclose(huber, nn.HuberLoss(reduction='none', delta=1.0)(y_hat, y.reshape(-1, 1)))
    assert torch.allclose(huber, nn.SmoothL1Loss(reduction='none')(y_hat, y.reshape(-1, 1)))
    assert torch.equal(page.abs_loss(y_hat, y), nn.L1Loss(reduction='none')(y_hat, y[:, None]))
    small = y_hat.abs() <= 1  # inside delta Huber is the squared loss, outside it grows linearly
    assert torch.equal(page.huber_loss(y_hat, y)[small], page.squared_loss(y_hat, y)[small])
    assert page.huber_loss(torch.tensor([[3.0]]), torch.zeros(1)).item() == 2.5


def test_sum_reduction_is_the_mean_at_a_batch_size_times_smaller_lr():
    mean = train(CONCISE)  # batch 10, lr 0.03, 100 full batches per epoch
    summed = train(CONCISE, '--reduction', 'sum', '--lr', '0.003')
    assert_same_run(mean, summed, rtol=1e-3)
    assert_same_run(train(SCRATCH), summed, rtol=1e-3)  # scratch's sgd divides the summed gradient
    faster = train(CONCISE, '--reduction', 'sum', '--epochs', '1')  # lr 0.03 on the sum: 10x
    assert faster['train_loss'][0] != pytest.approx(mean['train_loss'][0], rel=0.1)


@pytest.mark.parametrize('name', LINREG_SCRIPTS)
def test_num_examples_sets_the_size_of_the_data(name, monkeypatch):
    sizes = []
    synthetic_data = d2l.synthetic_data
    monkeypatch.setattr(d2l, 'synthetic_data',
                        lambda w, b, n: (sizes.append(n), synthetic_data(w, b, n))[1])
    history = train(name, '--num-examples', '200', '--epochs', '1')
    assert sizes == [200]
    # 20 steps in the epoch, not 100: further from the fit
    assert history['train_loss'][0] > train(name, '--epochs', '1')['train_loss'][0]


@pytest.mark.parametrize('init', [('default', None), ('zero', None), ('constant', 0.5),
                                  ('normal', 2.0), ('xavier', None)])
def test_each_init_starts_scratch_and_concise_from_the_same_weights(init):
    torch.manual_seed(3)
    w = script(SCRATCH).init_weights(init, (2, 1), torch.device('cpu'))
    layer = nn.Linear(2, 1)
    torch.manual_seed(3)
    script(CONCISE).init_weights(layer, init)
    assert torch.equal(layer.weight.detach(), w.T)
    assert torch.equal(layer.bias.detach(), torch.zeros(1))
    name, number = init
    if name == 'zero':
        assert torch.equal(w, torch.zeros(2, 1))
    elif name == 'constant':
        assert torch.equal(w, torch.full((2, 1), 0.5))
    elif name == 'xavier':  # U(-a, a) with a = sqrt(6 / (2 + 1)) = sqrt(2)
        torch.manual_seed(0)
        many = script(SCRATCH).init_weights(init, (20000, 1), torch.device('cpu'))
        assert many.abs().max() <= math.sqrt(6 / 20001)
        assert float(many.std()) == pytest.approx(math.sqrt(2 / 20001), rel=0.05)
    else:
        torch.manual_seed(0)
        many = script(SCRATCH).init_weights(init, (20000, 1), torch.device('cpu'))
        assert float(many.std()) == pytest.approx(0.01 if number is None else number, rel=0.05)


@pytest.mark.parametrize('init', ['zero', 'constant:-1.5', 'xavier'])
def test_scripts_agree_under_every_init(init):
    assert_same_run(train(SCRATCH, '--init', init), train(CONCISE, '--init', init))


@pytest.mark.parametrize('text, parsed', [
    ('default', ('default', None)), ('zero', ('zero', None)), ('xavier', ('xavier', None)),
    ('constant:0.5', ('constant', 0.5)), ('constant:-2', ('constant', -2.0)),
    ('constant:0', ('constant', 0.0)), ('normal:0.01', ('normal', 0.01)),
    ('normal:1e-3', ('normal', 0.001))])
def test_init_flag_parses_the_syntax(text, parsed):
    assert d2l.init_flag(text) == parsed


@pytest.mark.parametrize('text', ['he', 'normal', 'normal:', 'normal:0', 'normal:-1', 'normal:inf',
                                  'constant', 'constant:x', 'constant:nan', 'zero:1', 'xavier:2',
                                  'Normal:1', ''])
def test_init_flag_refuses_anything_else_in_one_line(text):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        d2l.init_flag(text)
    assert str(err.value) == (f'{text!r} is not an initialisation; give default, zero, constant:C, '
                              'normal:SIGMA (SIGMA > 0) or xavier')


@pytest.mark.parametrize('name, flags, message', [
    (SCRATCH, ['--init', 'he'], "argument --init: 'he' is not an initialisation"),
    (CONCISE, ['--init', 'normal:0'], "argument --init: 'normal:0' is not an initialisation"),
    (SCRATCH, ['--loss', 'hinge'], "argument --loss: invalid choice: 'hinge'"),
    (CONCISE, ['--reduction', 'max'], "argument --reduction: invalid choice: 'max'"),
    (SCRATCH, ['--reduction', 'sum'], 'unrecognized arguments: --reduction sum'),  # sgd divides
    (CONCISE, ['--num-examples', '0'], 'argument --num-examples: must be positive, got 0'),
])
def test_bad_flags_are_one_line_and_status_2(name, flags, message, capsys):
    status, out, err = run_as_script(script(name).main, flags, capsys)
    assert status == 2 and out == '' and 'Traceback' not in err
    assert message in err.strip().splitlines()[-1], err


def test_help_says_how_sum_and_mean_correspond(capsys):
    for name in LINREG_SCRIPTS:
        with pytest.raises(SystemExit):
            script(name).main(['--help'])
        flat = ' '.join(capsys.readouterr().out.split())
        assert '--reduction sum --lr 0.003' in flat and '--loss {squared,huber,abs}' in flat
        assert 'constant:C, normal:SIGMA or xavier' in flat and '--num-examples N' in flat
