"""Models and losses: linreg, squared_loss, sgd, FlattenLayer, init_normal."""
import torch
from torch import nn

import d2l


def test_linreg_and_squared_loss_values():
    X = torch.tensor([[1., 2.], [3., 4.]])
    w, b = torch.tensor([[0.5], [-1.]]), torch.tensor([2.])
    y_hat = d2l.linreg(X, w, b)
    assert torch.equal(y_hat, torch.tensor([[0.5], [-0.5]]))
    l = d2l.squared_loss(y_hat, torch.tensor([1.5, 0.5]))  # a flat y is reshaped like y_hat
    assert l.shape == (2, 1)  # per example, unreduced
    assert torch.allclose(l, torch.tensor([[0.5], [0.5]]))


def test_sgd_arithmetic_and_zeroed_gradients():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    unused = torch.tensor([5.0], requires_grad=True)  # no gradient yet: left alone
    (w * torch.tensor([3.0, 4.0])).sum().backward()  # grad = [3, 4]
    d2l.sgd([w, unused], lr=0.5, batch_size=2)
    assert torch.allclose(w, torch.tensor([1 - 0.5 * 3 / 2, -2 - 0.5 * 4 / 2]))
    assert torch.equal(w.grad, torch.zeros(2)) and unused.grad is None and unused.item() == 5.0
    assert w.requires_grad and w.is_leaf


def test_flatten_layer():
    assert d2l.FlattenLayer()(torch.zeros(5, 1, 28, 28)).shape == (5, 784)


def test_init_normal_matches_the_scratch_layout():
    d2l.set_seed(0)
    W = torch.normal(0, 0.01, size=(5, 3))
    layer = nn.Linear(5, 3)
    d2l.set_seed(0)  # after construction: nn.Linear's own init drew random numbers
    d2l.init_normal(layer)
    assert torch.equal(layer.weight, W.T) and torch.equal(layer.bias, torch.zeros(3))


def test_linear_regression_helpers_in_the_book_style():
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, 1000)
    assert labels.shape == (1000, 1)
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    for epoch in range(3):
        for X, y in d2l.data_iter(10, features, labels):
            l = d2l.squared_loss(d2l.linreg(X, w, b), y)
            assert l.shape == (len(y), 1)  # unreduced: the reader sums or averages
            l.sum().backward()
            d2l.sgd([w, b], 0.03, len(y))
    assert (w.reshape(true_w.shape) - true_w).abs().max() < 0.01 and abs(b.item() - true_b) < 0.01
