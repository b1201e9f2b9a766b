"""The exercise settings of the classification scripts: --init, --weight-decay, and in the MLP
scripts several hidden layers, --dropout and --layer-stats. Each flag's effect, scratch and
concise agreeing under it, and bad values refused before any work.

All on the tiny generated data sets (`tiny_data`), a few epochs at most.
"""
import argparse
import json
import math

import pytest
import torch
from torch import nn

import d2l
from d2lkit import compare
from d2lkit import script as kit
from conftest import IMAGE_SCRIPTS, is_png, script, train

MLPS = ['ch_mlp/scratch', 'ch_mlp/concise']
SOFTMAX = ['ch_softmax/scratch', 'ch_softmax/concise']


def saved_weights(name: str, data, tmp_path, *flags: str) -> dict[str, torch.Tensor]:
    """Train with flags, --save the weights, and return them as saved (name -> tensor)."""
    path = tmp_path / f'{name.replace("/", "_")}.pt'
    train(name, *flags, '--save', str(path), data=data)
    return d2l.load_weights(path)


def hidden_weights(name: str, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """The first layer's weights as (inputs, hidden units), whichever script saved them."""
    return weights['W1'] if name.endswith('scratch') else weights['1.weight'].T


def trained_nets(monkeypatch, name: str, data, *flags: str) -> list:
    """Train a script for an epoch and return the net it handed to d2l.train_classifier."""
    nets = []
    original = d2l.train_classifier

    def spy(net, *args, **kwargs):
        nets.append(net)
        return original(net, *args, **kwargs)
    monkeypatch.setattr(d2l, 'train_classifier', spy)
    train(name, '--epochs', '1', *flags, data=data)
    return nets


# ---------------------------------------------------------------------------
# --init
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('default', kit.Init('default')), ('zero', kit.Init('zero')), ('xavier', kit.Init('xavier')),
    ('constant:0.5', kit.Init('constant', 0.5)), ('constant:-2', kit.Init('constant', -2.0)),
    ('normal:1', kit.Init('normal', 1.0)),
])
def test_init_flag_parses_each_form(text, expected):
    assert kit.init_flag(text) == expected
    spelled = text if ':' not in text else f'{expected.kind}:{expected.value:g}'
    assert str(kit.init_flag(text)) == spelled


@pytest.mark.parametrize('text', ['uniform', 'normal', 'normal:0', 'normal:-1', 'constant:x',
                                  'zero:1', 'constant:inf', 'xavier:2', ''])
def test_init_flag_refuses_anything_else(text):
    with pytest.raises(argparse.ArgumentTypeError):
        kit.init_flag(text)


@pytest.mark.parametrize('init', ['default', 'zero', 'constant:0.3', 'normal:0.5', 'xavier'])
def test_scratch_and_concise_initial_weights_are_identical(init):
    """init_weight (scratch) and linear_init (concise, nn.init): the same numbers."""
    spec, sizes = kit.init_flag(init), [784, 64, 32, 10]
    torch.manual_seed(3)
    scratch = [kit.init_weight(spec, (a, b)) for a, b in zip(sizes, sizes[1:])]
    torch.manual_seed(3)
    net = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
    torch.manual_seed(3)
    net.apply(kit.linear_init(spec))
    for W, layer in zip(scratch, net):
        assert W.requires_grad and W.shape == layer.weight.T.shape
        assert torch.equal(W.detach(), layer.weight.detach().T)
        assert torch.equal(layer.bias.detach(), torch.zeros_like(layer.bias))


def test_default_init_is_the_books_normal_as_before():
    """--init default draws exactly what d2l.init_normal (the scripts' old call) drew."""
    old, new = nn.Linear(784, 256), nn.Linear(784, 256)
    torch.manual_seed(0)
    old.apply(d2l.init_normal)
    torch.manual_seed(0)
    new.apply(kit.linear_init(kit.Init('default')))
    assert torch.equal(old.weight, new.weight)


def test_xavier_std_and_constant_values():
    torch.manual_seed(0)
    W = kit.init_weight(kit.init_flag('xavier'), (784, 256)).detach()
    assert float(W.std()) == pytest.approx(math.sqrt(2 / (784 + 256)), rel=0.01)
    assert abs(float(W.mean())) < 1e-3
    constant = kit.init_weight(kit.init_flag('constant:0.25'), (3, 4)).detach()
    assert torch.equal(constant, torch.full((3, 4), 0.25))
    assert not kit.init_weight(kit.init_flag('zero'), (3, 4)).any()
    W = kit.init_weight(kit.init_flag('normal:2'), (784, 256)).detach()
    assert float(W.std()) == pytest.approx(2, rel=0.01)


@pytest.mark.parametrize('name', MLPS)
@pytest.mark.parametrize('init', ['zero', 'constant:0.01'])
def test_symmetric_init_leaves_an_mlps_hidden_units_identical(name, init, tiny_data, tmp_path):
    """Every hidden unit starts with the same weights, gets the same gradient: they stay copies."""
    weights = saved_weights(name, tiny_data, tmp_path, '--epochs', '2', '--init', init)
    W1 = hidden_weights(name, weights)
    assert torch.allclose(W1, W1[:, :1].expand_as(W1), atol=1e-6)  # every column: the first
    if init != 'zero':  # they did train (zero weights give the hidden layer no gradient at all)
        assert not torch.allclose(W1, torch.full_like(W1, 0.01))
    # the default init breaks the symmetry
    W1 = hidden_weights(name, saved_weights(name, tiny_data, tmp_path, '--epochs', '1'))
    assert not torch.allclose(W1, W1[:, :1].expand_as(W1), atol=1e-6)


@pytest.mark.parametrize('name', SOFTMAX)
def test_softmax_regression_learns_from_zero_weights(name, tiny_data):
    history = train(name, '--epochs', '3', '--init', 'zero', '--batch-size', '10', data=tiny_data)
    assert history['train_acc'][-1] > 0.5 and history['test_acc'][-1] > 0.5, history


# ---------------------------------------------------------------------------
# Several hidden layers and --dropout
# ---------------------------------------------------------------------------

def test_scratch_mlp_takes_several_hidden_layers(tiny_data, tmp_path):
    weights = saved_weights('ch_mlp/scratch', tiny_data, tmp_path,
                            '--epochs', '1', '--hidden', '64', '32')
    assert {k: tuple(v.shape) for k, v in weights.items()} == {
        'W1': (784, 64), 'b1': (64,), 'W2': (64, 32), 'b2': (32,), 'W3': (32, 10), 'b3': (10,)}


def test_scratch_dropout_layer_zeroes_about_p_and_keeps_the_mean():
    dropout_layer = script('ch_mlp/scratch').dropout_layer
    H = torch.ones(200, 500)
    torch.manual_seed(0)
    out = dropout_layer(H, 0.3)
    assert float((out == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.7))
    assert float(out.mean()) == pytest.approx(1, abs=0.02)
    assert dropout_layer(H, 0.0) is H


def test_scratch_dropout_draws_the_masks_nn_dropout_draws_on_the_cpu():
    H = torch.randn(64, 100)
    torch.manual_seed(5)
    scratch = script('ch_mlp/scratch').dropout_layer(H, 0.4)
    torch.manual_seed(5)
    assert torch.equal(scratch, nn.Dropout(0.4).train()(H))


@pytest.mark.parametrize('name', MLPS)
def test_dropout_is_off_at_evaluation(name, tiny_data, monkeypatch):
    [net] = trained_nets(monkeypatch, name, tiny_data, '--dropout', '0.5')
    X = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        if name.endswith('scratch'):
            training = net(X), net(X)
            evaluation = net(X, is_training=False), net(X, is_training=False)
        else:
            training = net.train()(X), net(X)
            evaluation = net.eval()(X), net(X)
    assert not torch.equal(*training)
    assert torch.equal(*evaluation)
    data = d2l.load_data_fashion_mnist(16, root=tiny_data)[1]
    assert d2l.evaluate_accuracy(net, data) == d2l.evaluate_accuracy(net, data)


@pytest.mark.parametrize('flags', [
    ['--dropout', '0'], ['--dropout', '0.3'], ['--hidden', '64', '32', '--dropout', '0.2', '0.5'],
    ['--weight-decay', '0.01'], ['--init', 'xavier'], ['--hidden', '64', '32'],
    ['--hidden', '64', '32', '--init', 'normal:0.1', '--weight-decay', '0.001', '--dropout', '0.1'],
])
def test_mlp_scratch_and_concise_agree_under_the_flags(flags, tiny_data):
    result = compare.compare('ch_mlp', ['--epochs', '2', '--data-root', str(tiny_data), *flags])
    assert result['agree'], (result['max_loss_rel_diff'], result['max_acc_diff'])


@pytest.mark.parametrize('flags', [['--weight-decay', '0.05'], ['--init', 'xavier'],
                                   ['--init', 'zero']])
def test_softmax_scratch_and_concise_agree_under_the_flags(flags, tiny_data):
    result = compare.compare('ch_softmax', ['--epochs', '2', '--data-root', str(tiny_data), *flags])
    assert result['agree'], (result['max_loss_rel_diff'], result['max_acc_diff'])


def test_one_dropout_rate_applies_to_every_layer():
    args = script('ch_mlp/concise').parse_args(['--hidden', '64', '32', '16', '--dropout', '0.2'])
    assert args.dropout == [0.2, 0.2, 0.2]
    assert script('ch_mlp/scratch').parse_args([]).dropout == [0.0]
    args = script('ch_mlp/scratch').parse_args(['--hidden', '8', '4', '--dropout', '0.1', '0.2'])
    assert args.dropout == [0.1, 0.2]


def test_concise_puts_an_nn_dropout_after_each_activation_that_has_a_rate(tiny_data, monkeypatch):
    [net] = trained_nets(monkeypatch, 'ch_mlp/concise', tiny_data,
                         '--hidden', '16', '8', '--dropout', '0.2', '0')
    assert [type(m).__name__ for m in net] == ['FlattenLayer', 'Linear', 'ReLU', 'Dropout',
                                                'Linear', 'ReLU', 'Linear']
    assert net[3].p == 0.2


# ---------------------------------------------------------------------------
# --weight-decay
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', MLPS + SOFTMAX)
def test_weight_decay_lowers_the_weight_norm(name, tiny_data, tmp_path):
    def norm(weights: dict[str, torch.Tensor]) -> float:
        return sum(float((W ** 2).sum()) for k, W in weights.items()
                   if 'W' in k or k.endswith('weight'))
    plain = norm(saved_weights(name, tiny_data, tmp_path, '--epochs', '3'))
    decayed = norm(saved_weights(name, tiny_data, tmp_path,
                                 '--epochs', '3', '--weight-decay', '0.5'))
    assert decayed < 0.8 * plain, (plain, decayed)


@pytest.mark.parametrize('name', SOFTMAX)
def test_the_printed_loss_includes_the_penalty(name, tiny_data):
    """At a learning rate too small to move the weights, printed losses differ by lambda/2 ||W||^2.

    With --init constant:1 the softmax weights are all 1: ||W||^2 = 784 * 10, so 0.01 adds 39.2.
    """
    flags = ['--epochs', '1', '--init', 'constant:1', '--lr', '1e-9']
    plain = train(name, *flags, data=tiny_data)['train_loss'][0]
    penalised = train(name, *flags, '--weight-decay', '0.01', data=tiny_data)['train_loss'][0]
    assert penalised - plain == pytest.approx(0.01 * 784 * 10 / 2, rel=1e-4)


def test_weight_decay_leaves_the_biases_alone(tiny_data, monkeypatch):
    """concise passes weight_decay to the optimizer for the weights only (a param group)."""
    trainers = []
    original = d2l.train_classifier

    def spy(net, train_iter, test_iter, loss, num_epochs, updater, *args, **kwargs):
        trainers.append(updater)
        return original(net, train_iter, test_iter, loss, num_epochs, updater, *args, **kwargs)
    monkeypatch.setattr(d2l, 'train_classifier', spy)
    train('ch_mlp/concise', '--epochs', '1', '--weight-decay', '0.1', '--hidden', '8', '4',
          data=tiny_data)
    weights, biases = trainers[0].param_groups
    assert weights['weight_decay'] == 0.1 and [p.dim() for p in weights['params']] == [2, 2, 2]
    assert biases['weight_decay'] == 0 and [p.dim() for p in biases['params']] == [1, 1, 1]


# ---------------------------------------------------------------------------
# --layer-stats
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', MLPS)
def test_layer_stats_json_and_png_without_changing_the_numbers(name, tiny_data, tmp_path, capsys):
    flags = ['--epochs', '2', '--hidden', '16', '8', '4', '--activation', 'sigmoid']
    plain = train(name, *flags, data=tiny_data)
    path = tmp_path / 'stats.json'
    recorded = train(name, *flags, '--layer-stats', str(path), data=tiny_data)
    del recorded['seconds'], plain['seconds']
    assert recorded == plain
    png = path.with_suffix('.png')
    assert f'layer statistics written to {path} and {png}' in capsys.readouterr().out
    stats = json.loads(path.read_text())
    assert stats['layers'] == ['hidden 1', 'hidden 2', 'hidden 3'] and stats['epoch'] == [1, 2]
    for key in ('activation_mean', 'activation_var', 'grad_norm'):
        assert [len(epoch) for epoch in stats[key]] == [3, 3], key
    assert all(0 < m < 1 for epoch in stats['activation_mean'] for m in epoch)  # sigmoid outputs
    assert all(0 < v < 0.25 for epoch in stats['activation_var'] for v in epoch)  # values in (0, 1)
    assert all(g > 0 for epoch in stats['grad_norm'] for g in epoch)
    assert is_png(png)


def test_layer_stats_agree_between_scratch_and_concise(tiny_data, tmp_path):
    flags = ['--epochs', '1', '--hidden', '16', '8', '--dropout', '0.3', '--weight-decay', '0']
    for name in MLPS:
        train(name, *flags, '--layer-stats', str(tmp_path / f'{name[7:]}.json'), data=tiny_data)
    scratch, concise = (json.loads((tmp_path / f'{kind}.json').read_text())
                        for kind in ('scratch', 'concise'))
    for key in ('activation_mean', 'activation_var', 'grad_norm'):
        flat = [value for epoch in concise[key] for value in epoch]
        mine = [value for epoch in scratch[key] for value in epoch]
        assert mine == pytest.approx(flat, rel=1e-4), key


def test_layer_stats_mean_and_variance_are_of_the_activations():
    """The recorder's numbers for two batches are those of all their values together."""
    stats = kit.LayerStats(1, 'unused.json')
    a, b = torch.rand(4, 5), torch.rand(6, 5)
    stats.activation(1, a), stats.activation(1, b)
    with torch.no_grad():
        stats.activation(1, torch.full((3, 5), 100.0))  # evaluation does not count
    stats.end_epoch()
    both = torch.cat([a, b]).double()
    assert stats.epochs['activation_mean'] == [[pytest.approx(float(both.mean()))]]
    assert stats.epochs['activation_var'] == [[pytest.approx(float(both.var(unbiased=False)))]]


# ---------------------------------------------------------------------------
# Bad values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('name, flags, message', [
    ('ch_softmax/scratch', ['--init', 'uniform'], "'uniform' is not an init"),
    ('ch_softmax/concise', ['--init', 'normal:0'], 'must be a positive number'),
    ('ch_mlp/scratch', ['--init', 'constant:'], 'must be a number'),
    ('ch_mlp/concise', ['--weight-decay', '-1'], 'must be 0 or more'),
    ('ch_softmax/scratch', ['--weight-decay', 'nan'], 'must be 0 or more'),
    ('ch_mlp/scratch', ['--dropout', '1'], 'below 1'),
    ('ch_mlp/concise', ['--dropout', '-0.1'], 'at least 0'),
    ('ch_mlp/scratch', ['--hidden', '64', '32', '16', '--dropout', '0.1', '0.2'],
     '2 rates for 3 hidden layers'),
    ('ch_mlp/concise', ['--dropout', '0.1', '0.2'], '2 rates for 1 hidden layers'),
])
def test_bad_exercise_flags_exit_2_with_one_line(name, flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        script(name).main([*flags, '--data-root', str(tmp_path / 'nowhere')])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if 'error:' in line]
    assert len(errors) == 1 and message in errors[0], err
    assert 'Traceback' not in err


@pytest.mark.parametrize('name', IMAGE_SCRIPTS)
def test_help_names_the_new_flags(name, capsys):
    with pytest.raises(SystemExit):
        script(name).main(['--help'])
    out = ' '.join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert '--init' in out and 'xavier' in out and '--weight-decay' in out
    assert 'the printed loss includes it' in out
    assert ('--dropout' in out and '--layer-stats' in out) == name.startswith('ch_mlp')


@pytest.mark.parametrize('name', MLPS)
def test_a_dropout_model_loads_under_its_own_dropout(name, tiny_data, tmp_path, capsys):
    path = tmp_path / 'dropout.pt'
    train(name, '--epochs', '1', '--dropout', '0.5', '--save', str(path), data=tiny_data)
    with pytest.raises(d2l.D2LError, match=r'saved with dropout=\[0.5\]'):
        train(name, '--load', str(path), data=tiny_data)
    capsys.readouterr()
    train(name, '--load', str(path), '--dropout', '0.5', data=tiny_data)
    assert capsys.readouterr().out.startswith(f'loaded {path}: test acc ')
