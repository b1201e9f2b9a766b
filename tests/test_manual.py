"""ch_mlp without autograd: hand-written gradients against autograd and finite differences, the
layer protocol and the optimizer apart from it, manual.py and fizzbuzz.py end to end (training
lines, save/load, errors, predictions)."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import d2l
from d2lkit import script as kit
from conftest import (EPOCH_LINE, FIZZBUZZ, MANUAL, PNG, REAL_FASHION, ROOT, SPEED_LINE,
                      program, script)

manual = script(MANUAL)
fizzbuzz = script(FIZZBUZZ)

AUTOGRAD_ACTIVATIONS = {'relu': torch.relu, 'sigmoid': torch.sigmoid, 'tanh': torch.tanh}


# ---------------------------------------------------------------------------
# Gradient checks
# ---------------------------------------------------------------------------

def rel_err(a, b):
    """Relative error of two tensors, ||a - b|| / max(||a||, ||b||)."""
    return float((a - b).norm() / max(a.norm(), b.norm(), torch.tensor(1e-30, dtype=a.dtype)))


def random_problem(sizes, activation, batch=7, seed=0):
    """A float64 network and random inputs and labels."""
    torch.manual_seed(seed)
    net = manual.MLP(sizes, activation, dtype=torch.float64)
    for linear in linears(net):  # nonzero biases, so a wrong db cannot hide behind zeros
        linear.params['b'].normal_()
    X = torch.randn(batch, sizes[0], dtype=torch.float64)
    y = torch.randint(0, sizes[-1], (batch,))
    return net, X, y


def linears(net):
    """The layers of net that hold weights, in order."""
    return [layer for layer in net.layers if isinstance(layer, manual.Linear)]


def weights(net):
    """[W1, b1, W2, b2, ...]: every parameter, read from each layer's own params."""
    return [linear.params[name] for linear in linears(net) for name in ('W', 'b')]


def hand_written(net, X, y):
    """Loss and [dW1, db1, dW2, ...] from the hand-written forward and backward.

    The gradients are read from each layer's grads."""
    loss = manual.SoftmaxCrossEntropy()
    l = loss.forward(net.forward(X), y)
    net.backward(loss.backward())
    return l, [linear.grads[name] for linear in linears(net) for name in ('W', 'b')]


def autograd(net, X, y, activation):
    """The same loss and gradients from torch's autograd, with torch's own functions."""
    params = [p.clone().requires_grad_() for p in weights(net)]
    A = X
    for k in range(0, len(params), 2):
        A = A @ params[k] + params[k + 1]
        if k < len(params) - 2:
            A = AUTOGRAD_ACTIVATIONS[activation](A)
    l = F.cross_entropy(A, y)
    l.backward()
    return l.detach(), [p.grad for p in params]


@pytest.mark.parametrize('activation', ['relu', 'sigmoid', 'tanh'])
@pytest.mark.parametrize('sizes', [[20, 16, 12, 8, 5], [784, 128, 128, 128, 64, 10]])
def test_every_gradient_matches_autograd(activation, sizes):
    net, X, y = random_problem(sizes, activation)
    l, grads = hand_written(net, X, y)
    l_ref, grads_ref = autograd(net, X, y, activation)
    assert abs(float(l - l_ref)) < 1e-12
    assert len(grads) == len(grads_ref) == 2 * (len(sizes) - 1)
    for i, (g, g_ref) in enumerate(zip(grads, grads_ref)):
        name = f'{"dW" if i % 2 == 0 else "db"}{i // 2 + 1}'
        assert g.shape == g_ref.shape, name
        assert g.abs().sum() > 0, f'{name} is all zeros'
        assert rel_err(g, g_ref) < 1e-6, f'{name}: relative error {rel_err(g, g_ref):.2e}'


@pytest.mark.parametrize('activation', ['relu', 'sigmoid', 'tanh'])
def test_gradients_match_finite_differences(activation):
    """Central differences (L(w + eps) - L(w - eps)) / 2 eps on every weight of a 4-5-3 network."""
    net, X, y = random_problem([4, 5, 3], activation, batch=6, seed=1)
    _, grads = hand_written(net, X, y)
    loss, eps = manual.SoftmaxCrossEntropy(), 1e-6
    for p, g in zip(weights(net), grads):
        numeric = torch.zeros_like(p)
        flat, out = p.view(-1), numeric.view(-1)
        for j in range(flat.numel()):
            old = float(flat[j])
            flat[j] = old + eps
            up = float(loss.forward(net.forward(X), y))
            flat[j] = old - eps
            down = float(loss.forward(net.forward(X), y))
            flat[j] = old
            out[j] = (up - down) / (2 * eps)
        assert rel_err(g, numeric) < 1e-6, f'relative error {rel_err(g, numeric):.2e}'


def broken_relu(monkeypatch):
    monkeypatch.setitem(manual.ACTIVATIONS, 'relu', (manual.relu, lambda z: torch.ones_like(z)))


def broken_loss(monkeypatch):
    monkeypatch.setattr(manual.SoftmaxCrossEntropy, 'backward', lambda self: self.Y_hat - self.Y)


def broken_linear(monkeypatch):
    def backward(self, dZ):  # forgets to sum db over the batch: takes the first row
        self.grads['W'], self.grads['b'] = self.A.T @ dZ, dZ[0]
        return dZ @ self.params['W'].T
    monkeypatch.setattr(manual.Linear, 'backward', backward)


@pytest.mark.parametrize('breakage', [broken_relu, broken_loss, broken_linear])
def test_the_gradient_check_catches_a_wrong_backward(breakage, monkeypatch):
    """The check can fail: each of three plausible slips gives a large error."""
    breakage(monkeypatch)
    net, X, y = random_problem([20, 16, 12, 5], 'relu')
    _, grads = hand_written(net, X, y)
    _, grads_ref = autograd(net, X, y, 'relu')
    assert max(rel_err(g, g_ref) for g, g_ref in zip(grads, grads_ref)) > 1e-2


def test_softmax_is_stable_and_cross_entropy_matches_torch():
    o = torch.tensor([[1000., 0., -1000.], [1., 2., 3.], [-800., -800., -800.]])
    p = manual.softmax(o)
    assert torch.isfinite(p).all() and torch.allclose(p.sum(dim=1), torch.ones(3))
    assert (torch.allclose(p[0], torch.tensor([1., 0., 0.]))
            and torch.allclose(p[2], torch.full((3,), 1 / 3)))
    assert torch.allclose(p, torch.softmax(o, dim=1))
    # the first row's label has probability exp(-2000): log(0) must not appear
    y = torch.tensor([2, 0, 1])
    l = manual.cross_entropy(o, manual.one_hot(y, 3, o.dtype))
    assert torch.isfinite(l) and torch.allclose(l, F.cross_entropy(o, y))


def test_activations_and_their_derivatives():
    z = torch.tensor([-2., -0.5, 0.5, 2.], dtype=torch.float64)
    assert torch.equal(manual.relu(z), torch.tensor([0, 0, 0.5, 2], dtype=torch.float64))
    assert torch.equal(manual.relu_grad(z), torch.tensor([0, 0, 1, 1], dtype=torch.float64))
    for name in ('sigmoid', 'tanh'):
        f, f_grad = manual.ACTIVATIONS[name]
        numeric = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
        assert torch.allclose(f_grad(z), numeric, atol=1e-9)


def test_he_initialisation_and_zero_biases():
    torch.manual_seed(0)
    net = manual.MLP([784, 512, 10])
    W1, W2 = net.layers[0].params['W'], net.layers[2].params['W']
    assert W1.shape == (784, 512) and W1.dtype == torch.float32
    assert abs(float(W1.std()) / math.sqrt(2 / 784) - 1) < 0.02 and abs(float(W1.mean())) < 1e-3
    assert abs(float(W2.std()) / math.sqrt(2 / 512) - 1) < 0.05
    assert all(float(linear.params['b'].abs().sum()) == 0 for linear in linears(net))
    assert [type(layer).__name__ for layer in net.layers] == ['Linear', 'Activation', 'Linear']
    assert list(net.state_dict()) == ['W1', 'b1', 'W2', 'b2']


def test_no_autograd_anywhere():
    """No weight asks for gradients; a whole training step, with grad mode on, builds no graph."""
    assert torch.is_grad_enabled()
    net, X, y = random_problem([20, 16, 5], 'relu')
    hand_written(net, X, y)
    manual.SGD(0.1).step(net)
    assert not any(p.requires_grad for p in net.state_dict().values())
    assert not any(g.requires_grad or g.grad_fn for _, g in net.params_and_grads())


def refuse(*_, **__):
    raise AssertionError('manual.py must not use autograd, nn.Module or torch.optim')


def test_training_runs_with_autograd_nn_and_optim_switched_off(tiny_data, monkeypatch):
    """The whole script trains and evaluates with autograd's entry points disabled.

    nn.Module and torch.optim are disabled too."""
    for owner, name in ((torch.Tensor, 'backward'), (torch.autograd, 'backward'),
                        (torch.autograd, 'grad'), (torch.nn.Module, '__init__'),
                        (torch.optim.Optimizer, '__init__')):
        monkeypatch.setattr(owner, name, refuse)
    with pytest.raises(AssertionError, match='must not'):  # the switches work
        torch.nn.Linear(2, 2)
    history = manual.main(tiny_args(tiny_data, '--epochs', '2'))
    assert history['train_loss'][-1] < history['train_loss'][0]


# ---------------------------------------------------------------------------
# The layer protocol, and the optimizer apart from the layers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('backward_done', [False, True])
def test_every_layer_pairs_params_with_grads(backward_done):
    """params and grads: the same names, shapes and dtypes, before and after a backward.

    Activations have none."""
    net, X, y = random_problem([6, 5, 4, 3], 'tanh')
    if backward_done:
        hand_written(net, X, y)
    assert ([type(layer).__name__ for layer in net.layers]
            == ['Linear', 'Activation'] * 2 + ['Linear'])
    for layer in net.layers:
        assert isinstance(layer, manual.Layer)
        expected = {'W', 'b'} if isinstance(layer, manual.Linear) else set()
        assert set(layer.params) == set(layer.grads) == expected
        for name, param in layer.params.items():
            grad = layer.grads[name]
            assert grad.shape == param.shape and grad.dtype == param.dtype, name
            assert (grad.abs().sum() > 0) == backward_done, name  # zeros until the first backward
    assert [p.shape for p, _ in net.params_and_grads()] == [
        (6, 5), (5,), (5, 4), (4,), (4, 3), (3,)]


def test_the_layer_base_class_states_a_contract_it_does_not_fulfil():
    layer = manual.Layer()
    assert layer.params == {} and layer.grads == {}
    for method in (layer.forward, layer.backward):
        with pytest.raises(NotImplementedError):
            method(torch.zeros(2, 3))


def test_sgd_step_moves_every_param_by_minus_lr_times_its_grad():
    net, X, y = random_problem([8, 6, 4, 3], 'relu')
    hand_written(net, X, y)
    tensors = [(p, p.clone(), g.clone()) for p, g in net.params_and_grads()]
    assert len(tensors) == 6 and all(g.abs().sum() > 0 for _, _, g in tensors)
    optimizer = manual.SGD(0.05)
    optimizer.step(net)
    for (p, before, grad), (p_after, grad_after) in zip(tensors, net.params_and_grads()):
        assert p_after is p  # in place: the layer keeps its own tensor
        assert torch.equal(p, before - 0.05 * grad)
        # the step reads the gradients, it does not use them up
        assert torch.equal(grad_after, grad)
    optimizer.lr = 0.5  # a schedule sets the rate between steps
    optimizer.step(net)
    assert all(torch.equal(p, before - 0.05 * grad - 0.5 * grad) for p, before, grad in tensors)


def test_layers_hold_no_optimizer_state():
    """Steps change parameter values and nothing else.

    No layer holds a rate, a velocity or a step count."""
    net, X, y = random_problem([8, 6, 3], 'relu')
    hand_written(net, X, y)  # forward and backward only: what a layer holds without any optimizer
    before = [dict(vars(layer)) for layer in net.layers]
    manual.SGD(0.1).step(net)
    for layer, attributes in zip(net.layers, before):
        assert vars(layer).keys() == attributes.keys()
        # the same objects, updated in place
        assert all(vars(layer)[k] is v for k, v in attributes.items())
    batches = d2l.ArrayLoader((X, y), 3)
    # the schedule and the steps of real training
    manual.train(net, batches, batches, 0.1, 2, print_every=100)
    assert ([vars(layer).keys() for layer in net.layers]
            == [attributes.keys() for attributes in before])
    assert not any(hasattr(obj, name) for obj in (net, *net.layers)
                   for name in ('sgd', 'step', 'lr'))
    assert vars(manual.SGD(0.1)) == {'lr': 0.1}


@pytest.mark.parametrize('schedule', ['cosine', 'constant'])
def test_each_epoch_steps_at_its_own_learning_rate(schedule, monkeypatch):
    """train sets the optimizer's rate per epoch: the cosine schedule's, or --lr throughout."""
    rates = []
    step = manual.SGD.step
    monkeypatch.setattr(manual.SGD, 'step',
                        lambda self, net: (rates.append(self.lr), step(self, net))[1])
    torch.manual_seed(0)
    X, y = torch.randn(30, 784), torch.arange(30) % 10
    net = manual.MLP([784, 8, 10])
    batches = d2l.ArrayLoader((X, y), 10)  # 3 steps per epoch
    history = manual.train(net, batches, batches, 0.2, 4, schedule, print_every=100)
    epoch_lrs = [manual.cosine_lr(0.2, epoch, 4) if schedule == 'cosine' else 0.2
                 for epoch in range(1, 5)]
    assert rates == [lr for lr in epoch_lrs for _ in range(3)]
    assert len(history['train_loss']) == 4


# ---------------------------------------------------------------------------
# manual.py end to end on tiny data
# ---------------------------------------------------------------------------

def tiny_args(tiny_data, *extra):
    return ['--data-root', str(tiny_data), '--layers', '784', '32', '10',
            '--batch-size', '10', *extra]


def test_training_prints_the_classic_lines_and_learns(tiny_data, capsys):
    history = manual.main(tiny_args(tiny_data, '--epochs', '4', '--history', 'h.json'))
    lines = capsys.readouterr().out.splitlines()
    epochs = [EPOCH_LINE.match(line) for line in lines[:4]]
    assert all(epochs), lines
    assert [int(m.group(1)) for m in epochs] == [1, 2, 3, 4]
    assert SPEED_LINE.match(lines[4]), lines[4]
    assert set(history) == {'train_loss', 'train_acc', 'test_acc', 'seconds'}
    assert all(len(v) == 4 for v in history.values())
    for m, loss, train_acc, test_acc in zip(epochs, history['train_loss'], history['train_acc'],
                                             history['test_acc']):
        assert (m.group(2) == f'{loss:.4f}' and m.group(3) == f'{train_acc:.3f}'
                and m.group(4) == f'{test_acc:.3f}')
    # about log(10) = 2.3 at the start: a mean per example
    assert 1.5 < history['train_loss'][0] < 3.5
    assert history['train_loss'][-1] < history['train_loss'][0] - 0.5  # it learns
    assert history['test_acc'][-1] >= 0.7 and all(0 <= a <= 1 for a in history['train_acc'])
    assert all(s > 0 for s in history['seconds'])
    assert json.loads(Path('h.json').read_text()) == history


def test_mnist_and_constant_schedule(tiny_data, capsys):
    history = manual.main(tiny_args(tiny_data, '--epochs', '2', '--dataset', 'mnist',
                                    '--schedule', 'constant', '--activation', 'tanh'))
    assert len(history['test_acc']) == 2
    assert sum(bool(EPOCH_LINE.match(line)) for line in capsys.readouterr().out.splitlines()) == 2


def test_cosine_schedule_starts_at_lr_and_falls():
    lrs = [manual.cosine_lr(0.1, epoch, 10) for epoch in range(1, 11)]
    assert lrs[0] == 0.1 and all(a > b for a, b in zip(lrs, lrs[1:])) and 0 < lrs[-1] < 0.005


def test_same_seed_same_run(tiny_data):
    first = manual.main(tiny_args(tiny_data, '--epochs', '2', '--seed', '3'))
    second = manual.main(tiny_args(tiny_data, '--epochs', '2', '--seed', '3'))
    assert first['train_loss'] == second['train_loss'] and first['test_acc'] == second['test_acc']


def test_save_then_load_gives_the_same_test_accuracy(tiny_data, tmp_path, capsys):
    trained = manual.main(tiny_args(tiny_data, '--epochs', '2', '--save', str(tmp_path / 'w.pt')))
    # plain tensors and settings: loads with weights_only
    saved = torch.load(tmp_path / 'w.pt', weights_only=True)
    state = saved['weights']
    assert list(state) == ['W1', 'b1', 'W2', 'b2'] and state['W1'].shape == (784, 32)
    assert saved['settings'] == {'model': 'ch_mlp/manual.py', 'layers': [784, 32, 10],
                                 'activation': 'relu', 'dataset': 'fashion-mnist'}
    capsys.readouterr()
    loaded = manual.main(tiny_args(tiny_data, '--load', str(tmp_path / 'w.pt'), '--seed', '99'))
    assert loaded['test_acc'] == [trained['test_acc'][-1]]
    out = capsys.readouterr().out
    assert 'test acc' in out and not EPOCH_LINE.search(out)  # evaluated, not trained


def test_load_errors_are_one_clear_message(tiny_data, tmp_path):
    manual.main(tiny_args(tiny_data, '--epochs', '1', '--save', str(tmp_path / 'w.pt')))
    other = ['--data-root', str(tiny_data), '--layers', '784', '16', '10']
    with pytest.raises(d2l.D2LError, match=r'saved with layers=\[784, 32, 10\], '
                                           r'but this run has layers=\[784, 16, 10\]'):
        manual.main(other + ['--load', str(tmp_path / 'w.pt')])
    (tmp_path / 'junk.pt').write_bytes(b'not a model at all')
    with pytest.raises(d2l.D2LError, match='not a weights file'):
        manual.main(other + ['--load', str(tmp_path / 'junk.pt')])
    with pytest.raises(d2l.D2LError, match='no weights file'):
        manual.main(other + ['--load', str(tmp_path / 'missing.pt')])


def test_predict_writes_a_png(tiny_data, tmp_path):
    manual.main(tiny_args(tiny_data, '--epochs', '1', '--predict', str(tmp_path / 'pred.png')))
    data = (tmp_path / 'pred.png').read_bytes()
    assert data[:8] == PNG and len(data) > 5000


def test_divergence_stops_with_one_line(tiny_data):
    with pytest.raises(d2l.D2LError, match=r'loss became nan at epoch 1, batch \d+: .*--lr'):
        manual.main(['--data-root', str(tiny_data), '--batch-size', '10', '--lr', '1000'])


@pytest.mark.parametrize('layers', [['100', '10'], ['784', '12'], ['784']])
def test_bad_layer_sizes_are_refused(layers, capsys):
    with pytest.raises(SystemExit) as exit_info:
        manual.main(['--layers', *layers])
    assert exit_info.value.code == 2 and '--layers' in capsys.readouterr().err


def test_a_script_error_from_its_own_folder_is_one_line_not_a_traceback(tmp_path):
    run = program(['manual.py', '--load', str(tmp_path / 'none.pt')], ROOT / 'ch_mlp', tmp_path)
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith('error: no weights file')
    # the one warning, if any
    assert len(run.stderr.strip().splitlines()) == 1 + bool(kit.shadowing_d2l())


# ---------------------------------------------------------------------------
# fizzbuzz.py
# ---------------------------------------------------------------------------

def test_fizzbuzz_encodings():
    assert fizzbuzz.binary_encode(5) == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert fizzbuzz.binary_encode(1023) == [1] * 10 and fizzbuzz.binary_encode(512) == [0] * 9 + [1]
    assert all(sum(b << d for d, b in enumerate(fizzbuzz.binary_encode(i))) == i
               for i in range(1024))
    assert [fizzbuzz.fizz_buzz_encode(i) for i in (15, 9, 10, 7, 30, 3, 5, 1)] == [
        3, 1, 2, 0, 3, 1, 2, 0]
    assert [fizzbuzz.fizz_buzz_decode(i, fizzbuzz.fizz_buzz_encode(i)) for i in (15, 9, 10, 7)] == \
        ['fizzbuzz', 'fizz', 'buzz', '7']
    X, y = fizzbuzz.dataset(fizzbuzz.TRAIN_NUMBERS)
    assert X.shape == (923, 10) and X.dtype == torch.float32 and y.shape == (923,)
    assert y.bincount().tolist() == [
        sum(fizzbuzz.fizz_buzz_encode(i) == k for i in range(101, 1024)) for k in range(4)]
    assert not set(fizzbuzz.TRAIN_NUMBERS) & set(fizzbuzz.TEST_NUMBERS)


def test_fizzbuzz_uses_the_layers_of_manual():
    for shared in (fizzbuzz.MLP, fizzbuzz.train):
        assert Path(sys.modules[shared.__module__].__file__) == ROOT / 'ch_mlp' / 'manual.py'
    assert not [v for v in vars(fizzbuzz).values()
                if isinstance(v, type) and v.__module__ == fizzbuzz.__name__]


def test_fizzbuzz_learns_quickly_and_round_trips(tmp_path, capsys):
    """200 epochs (a tenth of the default) already beat always saying the number (0.53) by far."""
    result = fizzbuzz.main(['--epochs', '200', '--save', str(tmp_path / 'fb.pt')])
    out = capsys.readouterr().out
    assert result['accuracy'] >= 0.8, out
    assert len(result['answers']) == 100
    for i, answer in enumerate(result['answers'], start=1):  # right exactly where there is no miss
        right = fizzbuzz.fizz_buzz_decode(i, fizzbuzz.fizz_buzz_encode(i))
        assert (answer == right) == (i not in result['misses']), (i, answer)
    assert sum(bool(EPOCH_LINE.match(line)) for line in out.splitlines()) == 10  # every 20th epoch
    assert f'accuracy on 1..100: {result["accuracy"]:.2f}' in out
    assert out.count('miss: ') == len(result['misses']) == round(100 * (1 - result['accuracy']))
    assert 'identical answers' in out
    again = fizzbuzz.main(['--load', str(tmp_path / 'fb.pt')])
    assert again['answers'] == result['answers'] and again['accuracy'] == result['accuracy']
    with pytest.raises(d2l.D2LError, match='saved with hidden=50, but this run has hidden=20'):
        fizzbuzz.main(['--load', str(tmp_path / 'fb.pt'), '--hidden', '20'])


@pytest.mark.slow
def test_fizzbuzz_default_run_reaches_95_percent(capsys):
    """The default 2000 epochs: at least 0.95 on 1..100, which the network has never seen."""
    result = fizzbuzz.main([])
    out = capsys.readouterr().out
    assert result['accuracy'] >= 0.95, out
    assert (len(result['history']['train_loss']) == 2000
            and result['history']['train_acc'][-1] >= 0.99)


def test_fizzbuzz_loads_by_path_under_any_module_name():
    module = script(FIZZBUZZ)
    assert (module.__name__ != 'fizzbuzz'
            and module.fizz_buzz_decode(30, module.fizz_buzz_encode(30)) == 'fizzbuzz')


def test_fizzbuzz_restores_the_thread_count():
    before = torch.get_num_threads()
    # not 1, which fizzbuzz uses while it trains, and likely not this machine's default
    torch.set_num_threads(3)
    try:
        fizzbuzz.main(['--epochs', '2'])
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------
# The accuracy promise on the real data
# ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not REAL_FASHION.is_dir(),
                    reason='Debian dataset-fashion-mnist is not installed')
def test_defaults_reach_87_percent_on_fashion_mnist(capsys):
    history = manual.main([])
    assert len(history['test_acc']) == 10
    assert history['test_acc'][-1] >= 0.87, capsys.readouterr().out
