"""Linear regression's exercise settings: --loss, --reduction (concise), --num-examples, --init,
and the shared --init parser kit.init_flag. Without them the scripts print what they always did."""

import pytest
import torch
from torch import nn

import d2l
from d2lkit import script as kit
from conftest import LINREG_SCRIPTS, assert_same_losses, run_as_script, script, train

SCRATCH, CONCISE = LINREG_SCRIPTS


def assert_same_run(a: dict, b: dict, rtol: float = 1e-4) -> None:
    """Equal per-epoch losses within rtol (relative) and the same fitted w and b to 1e-5."""
    assert_same_losses(a, b, rtol)
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


@pytest.mark.parametrize('init', ['default', 'zero', 'constant:0.5', 'normal:2', 'xavier'])
def test_each_init_starts_scratch_and_concise_from_the_same_weights(init):
    # The scripts draw w through kit.init_weight (scratch) and kit.linear_init (concise).
    spec = kit.init_flag(init)
    torch.manual_seed(3)
    w = kit.init_weight(spec, (2, 1))
    layer = nn.Linear(2, 1)
    torch.manual_seed(3)
    layer.apply(kit.linear_init(spec))
    assert torch.equal(layer.weight.detach(), w.detach().T)
    assert torch.equal(layer.bias.detach(), torch.zeros(1))


@pytest.mark.parametrize('init', ['zero', 'constant:-1.5', 'xavier'])
def test_scripts_agree_under_every_init(init):
    assert_same_run(train(SCRATCH, '--init', init), train(CONCISE, '--init', init))


@pytest.mark.parametrize('name, flags, message', [
    (SCRATCH, ['--init', 'he'], "argument --init: 'he' is not an init"),
    (CONCISE, ['--init', 'normal:0'],
     "argument --init: 'normal:0': the value after normal: must be a positive number"),
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
        assert 'constant:C, normal:SIGMA' in flat and '--num-examples N' in flat
