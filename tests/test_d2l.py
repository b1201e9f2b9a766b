"""Models, losses, the optimizer step, evaluation, training and the small utilities."""
import math
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

import d2l
from conftest import ROOT

EPOCH_LINE = re.compile(r'^epoch (\d+), loss (\d+\.\d{4}), train acc (\d\.\d{3}), test acc (\d\.\d{3})$')


def test_import_needs_no_matplotlib():
    code = 'import sys, d2l; print("matplotlib" in sys.modules, "IPython" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['False', 'False']


def test_linreg_and_squared_loss_values():
    X = torch.tensor([[1., 2.], [3., 4.]])
    w, b = torch.tensor([[0.5], [-1.]]), torch.tensor([2.])
    y_hat = d2l.linreg(X, w, b)
    assert torch.equal(y_hat, torch.tensor([[0.5], [-0.5]]))
    l = d2l.squared_loss(y_hat, torch.tensor([1.5, 0.5]))  # a flat y is reshaped like y_hat
    assert l.shape == (2, 1)  # per example, unreduced
    assert torch.allclose(l, torch.tensor([[0.5], [0.5]]))


def test_synthetic_data_statistics():
    torch.manual_seed(0)
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    X, y = d2l.synthetic_data(true_w, true_b, 20000)
    assert X.shape == (20000, 2) and y.shape == (20000, 1)
    assert abs(X.mean()) < 0.02 and abs(X.std() - 1) < 0.02
    noise = y[:, 0] - (X @ true_w + true_b)
    assert abs(noise.std() - 0.01) < 0.0005 and abs(noise.mean()) < 0.0005
    w_fit = torch.linalg.lstsq(torch.cat([X, torch.ones(20000, 1)], 1), y).solution[:, 0]
    assert torch.allclose(w_fit, torch.tensor([2, -3.4, 4.2]), atol=1e-3)


def test_sgd_arithmetic_and_zeroed_gradients():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    unused = torch.tensor([5.0], requires_grad=True)  # no gradient yet: left alone
    (w * torch.tensor([3.0, 4.0])).sum().backward()  # grad = [3, 4]
    d2l.sgd([w, unused], lr=0.5, batch_size=2)
    assert torch.allclose(w, torch.tensor([1 - 0.5 * 3 / 2, -2 - 0.5 * 4 / 2]))
    assert torch.equal(w.grad, torch.zeros(2)) and unused.grad is None and unused.item() == 5.0
    assert w.requires_grad and w.is_leaf


def test_accumulator_and_timer():
    metric = d2l.Accumulator(3)
    metric.add(1, 2.5, torch.tensor(3))
    metric.add(1, 0.5, 1)
    assert metric[0] == 2 and metric[1] == 3.0 and metric[2] == 4 and metric.data == [2, 3, 4]
    metric.reset()
    assert metric.data == [0.0, 0.0, 0.0]
    timer = d2l.Timer()
    for _ in range(3):
        timer.start()
        timer.stop()
    assert len(timer.times) == 3 and math.isclose(timer.cumsum()[-1], timer.sum())
    assert math.isclose(timer.avg(), timer.sum() / 3)


def test_flatten_layer():
    assert d2l.FlattenLayer()(torch.zeros(5, 1, 28, 28)).shape == (5, 784)


def test_autograd_trace_identity():
    """d/dX trace(A X B X) = A^T X^T B^T + B^T X^T A^T, for A, B 4x3 and X 3x4."""
    torch.manual_seed(0)
    A, B = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    X = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    torch.trace(A @ X @ B @ X).backward()
    assert torch.allclose(X.grad, A.T @ X.T @ B.T + B.T @ X.T @ A.T)


def known_batches():
    """Two batches whose labels a fixed rule predicts exactly half right (first 6 of 12)."""
    X = torch.eye(4).repeat(3, 1)  # one-hot rows: class = row % 4
    y = torch.arange(12) % 4
    y[6:] = (y[6:] + 1) % 4
    return [(X[:8], y[:8]), (X[8:], y[8:])]


class Halver(nn.Module):
    """Predicts the input's one-hot class, with a dropout that would scramble it in training mode."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(0.999)

    def forward(self, X):
        return self.dropout(X * self.scale)


def test_evaluate_accuracy_on_known_answers_and_mode_restored():
    batches = known_batches()
    net = Halver()
    net.train()
    assert d2l.evaluate_accuracy(batches, net) == 0.5  # exact: dropout was off
    assert net.training  # the mode it found
    net.eval()
    assert d2l.evaluate_accuracy(batches, net) == 0.5 and not net.training
    assert d2l.evaluate_accuracy(batches, lambda X: X) == 0.5  # a plain function
    assert d2l.evaluate_accuracy_ch3 is d2l.evaluate_accuracy
    assert torch.is_grad_enabled()  # gradients are on again afterwards


def test_evaluate_accuracy_takes_no_gradients():
    seen = []

    def net(X):
        seen.append(torch.is_grad_enabled())
        return X

    d2l.evaluate_accuracy(known_batches(), net)
    assert seen == [False, False]


def tiny_classification(n=64, seed=0):
    """A linearly separable 4-class problem on 8 features."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 8, generator=g)
    y = X[:, :4].argmax(dim=1)
    return X, y


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('style', ['params', 'optimizer'])
def test_train_ch3_prints_true_mean_loss_for_every_reduction_and_update_style(reduction, style, capsys):
    X, y = tiny_classification()
    d2l.set_seed(0)
    train_iter = d2l.load_array((X, y), 10)  # 64 = 6*10 + 4: a partial last batch
    test_iter = d2l.load_array((X, y), 10, is_train=False)
    net = nn.Linear(8, 4)
    with torch.no_grad():
        net.weight.zero_(), net.bias.zero_()
    loss = nn.CrossEntropyLoss(reduction=reduction)
    # As in the port, sgd divides by the batch size after backward on loss(...).sum(), and an
    # optimizer steps on that sum: a mean loss needs a 10x larger lr for sgd, a per-example one
    # a 10x smaller lr for the optimizer, to take the same steps.
    if style == 'params':
        lr = 5.0 if reduction == 'mean' else 0.5
        history = d2l.train_ch3(net, train_iter, test_iter, loss, 3, 10, list(net.parameters()), lr)
    else:
        lr = 0.5 if reduction == 'mean' else 0.05
        history = d2l.train_ch3(net, train_iter, test_iter, loss, 3, 10,
                                optimizer=torch.optim.SGD(net.parameters(), lr=lr))
    lines = capsys.readouterr().out.splitlines()
    assert [bool(EPOCH_LINE.match(l)) for l in lines[:3]] == [True] * 3
    assert re.match(r'^\d+\.\d examples/sec on cpu$', lines[3])
    # Zero weights predict uniformly: the first epoch starts at log 4 and must go down from there.
    assert history['train_loss'][0] < math.log(4)
    assert history['train_loss'][2] < history['train_loss'][0]
    assert history['test_acc'][-1] > 0.7  # chance is 0.25
    assert float(EPOCH_LINE.match(lines[2]).group(2)) == pytest.approx(history['train_loss'][2], abs=1e-4)
    assert set(history) == {'train_loss', 'train_acc', 'test_acc', 'seconds'}


def test_train_ch3_reductions_and_styles_agree():
    """Six ways of saying the same update (the port's rule, lr scaled to match) give the same trajectory."""
    X, y = tiny_classification(n=60, seed=1)  # whole batches only: a sum over 10 is 10 means
    results = []
    for reduction in ('none', 'mean', 'sum'):
        for style in ('params', 'optimizer'):
            d2l.set_seed(0)
            train_iter = d2l.load_array((X, y), 10)
            net = nn.Linear(8, 4)
            net.apply(d2l.init_normal)
            loss = nn.CrossEntropyLoss(reduction=reduction)
            mean = reduction == 'mean'
            kwargs = ({'params': list(net.parameters()), 'lr': 3.0 if mean else 0.3} if style == 'params'
                      else {'optimizer': torch.optim.SGD(net.parameters(), lr=0.3 if mean else 0.03)})
            results.append(d2l.train_ch3(net, train_iter, train_iter, loss, 2, 10, verbose=False, **kwargs))
    for other in results[1:]:
        assert other['train_loss'] == pytest.approx(results[0]['train_loss'], rel=1e-5)
        assert other['test_acc'] == results[0]['test_acc']


def test_train_ch3_scratch_function_net_with_params():
    X, y = tiny_classification()
    d2l.set_seed(0)
    W = torch.normal(0, 0.01, size=(8, 4), requires_grad=True)
    b = torch.zeros(4, requires_grad=True)

    def net(X):
        return torch.softmax(X @ W + b, dim=1)

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    history = d2l.train_ch3(net, d2l.load_array((X, y), 16), d2l.load_array((X, y), 16, False),
                            cross_entropy, 5, 16, [W, b], 0.5, verbose=False)
    assert history['test_acc'][-1] > 0.8 and W.grad is not None and W.grad.abs().sum() == 0


def test_train_ch3_without_an_update_rule_says_what_to_pass():
    with pytest.raises(d2l.D2LError, match='params and lr .* or an optimizer'):
        d2l.train_ch3(nn.Linear(2, 2), [], [], nn.CrossEntropyLoss(), 1, 10)


def test_train_ch3_stops_on_a_diverging_loss():
    X, y = tiny_classification()
    net = nn.Linear(8, 4)
    with pytest.raises(d2l.D2LError, match=r'the loss became (nan|inf) at epoch \d+, batch \d+.*lower the learning rate'):
        d2l.train_ch3(net, d2l.load_array((X * 1e6, y), 8), d2l.load_array((X, y), 8), nn.CrossEntropyLoss(),
                      3, 8, optimizer=torch.optim.SGD(net.parameters(), lr=1e30), verbose=False)


def test_set_seed_repeats_torch_numpy_and_python():
    import random

    import numpy as np
    d2l.set_seed(7)
    a = (torch.rand(3), np.random.rand(3), random.random())
    d2l.set_seed(7)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]


def test_devices_on_a_cpu_machine():
    assert d2l.try_gpu().type in ('cuda', 'mps', 'cpu')
    assert len(d2l.try_all_gpus()) >= 1
    if not torch.cuda.is_available():
        assert d2l.try_gpu(3) == torch.device('cpu')
        with pytest.raises(d2l.D2LError, match='no such CUDA GPU'):
            d2l.resolve_device('cuda')
    assert d2l.resolve_device('cpu') == torch.device('cpu')


def test_init_normal_matches_the_scratch_layout():
    d2l.set_seed(0)
    W = torch.normal(0, 0.01, size=(5, 3))
    layer = nn.Linear(5, 3)
    d2l.set_seed(0)  # after construction: nn.Linear's own init drew random numbers
    d2l.init_normal(layer)
    assert torch.equal(layer.weight, W.T) and torch.equal(layer.bias, torch.zeros(3))
