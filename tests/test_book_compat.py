"""Code in the style of both books runs unchanged: each call form on small generated data.

Written fresh in a reader's style; each test checks the result and the model's mode and device after.
"""
import os

import pytest
import torch
from torch import nn

import d2l

PNG = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Figures a script would save land in a temporary folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('D2L_FIGURES', raising=False)
    monkeypatch.setattr(d2l, '_FIGURE_COUNTS', {})  # each test's figures are numbered from 1
    return tmp_path


@pytest.fixture
def fashion(tiny_data):
    """The book's call: batches of tiny Fashion-MNIST."""
    d2l.set_seed(0)
    return d2l.load_data_fashion_mnist(16, root=tiny_data)


def softmax_net():
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(784, 10))
    net.apply(d2l.init_normal)
    return net


def test_newer_book_evaluate_accuracy_order(fashion):
    train_iter, test_iter = fashion
    net = softmax_net()
    net.train()
    acc_new = d2l.evaluate_accuracy(net, test_iter)  # newer book: (net, data_iter)
    acc_old = d2l.evaluate_accuracy(test_iter, net)  # community port: (data_iter, net)
    acc_gpu = d2l.evaluate_accuracy_gpu(net, test_iter)
    assert acc_new == acc_old == acc_gpu and 0 <= acc_new <= 1
    assert net.training and next(net.parameters()).device.type == 'cpu'


def test_newer_book_train_ch3_with_an_optimizer_and_reduction_none(fashion, capsys):
    train_iter, test_iter = fashion
    net = softmax_net()
    loss = nn.CrossEntropyLoss(reduction='none')
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    history = d2l.train_ch3(net, train_iter, test_iter, loss, 4, trainer)
    out = capsys.readouterr().out
    assert out.count('epoch ') == 4 and 'examples/sec' in out
    assert history['train_loss'][-1] < history['train_loss'][0]
    assert history['test_acc'][-1] >= 0.5  # tiny learnable data; chance is 0.1
    assert net.training  # left in training mode, as after any training step


def test_newer_book_train_ch3_with_a_custom_updater(fashion):
    train_iter, test_iter = fashion
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    sizes = []

    def updater(batch_size):
        sizes.append(batch_size)
        return d2l.sgd([W, b], 0.5, batch_size)

    def net(X):
        return torch.softmax(X.reshape((-1, W.shape[0])) @ W + b, dim=1)

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    history = d2l.train_ch3(net, train_iter, test_iter, cross_entropy, 3, updater)
    assert sizes[:4] == [16, 16, 16, 2]  # the last partial batch is scaled by its real size
    assert history['test_acc'][-1] >= 0.5


def test_community_port_train_ch3_positional_form(fashion, capsys):
    train_iter, test_iter = fashion
    net = softmax_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    d2l.train_ch3(net, train_iter, test_iter, nn.CrossEntropyLoss(), 2, 16, None, None, optimizer)
    first = capsys.readouterr().out.splitlines()[0]
    loss = float(first.split('loss ')[1].split(',')[0])
    assert 0.5 < loss < 3  # a mean per example (about log 10 at first), not 0.0030


def test_train_epoch_ch3_returns_mean_loss_and_accuracy(fashion):
    train_iter, _ = fashion
    net = softmax_net()
    net.eval()
    loss, acc = d2l.train_epoch_ch3(net, train_iter, nn.CrossEntropyLoss(reduction='none'),
                                    torch.optim.SGD(net.parameters(), lr=0.1))
    assert 2.0 < loss < 2.4 and 0 <= acc <= 1  # about log 10 from N(0, 0.01^2) weights
    assert net.training  # train_epoch_ch3 switches to training mode, as the book's does


def test_predict_ch3_writes_titled_images(fashion, in_tmp):
    _, test_iter = fashion
    net = softmax_net()
    net.train()
    pairs = d2l.predict_ch3(net, test_iter, n=6, path=in_tmp / 'pred.png')
    assert len(pairs) == 6
    trues = d2l.get_fashion_mnist_labels(next(iter(test_iter))[1][:6])
    assert [t for t, _ in pairs] == trues
    assert (in_tmp / 'pred.png').read_bytes()[:8] == PNG
    assert net.training
    d2l.predict_ch3(net, test_iter)  # the book's call: no display here, so a PNG appears
    assert (in_tmp / 'images-1.png').read_bytes()[:8] == PNG


def test_predict_ch3_grid_spans_batches_and_marks_wrong_ones_red(fashion, in_tmp, monkeypatch):
    _, test_iter = fashion  # batches of 16: 18 images need two of them
    always_trouser = lambda X: torch.eye(10)[torch.ones(len(X), dtype=torch.long)]  # noqa: E731
    drawn = {}
    monkeypatch.setattr(d2l, 'show_images', lambda imgs, rows, cols, **kw: drawn.update(kw, shape=(rows, cols)))
    pairs = d2l.predict_ch3(always_trouser, test_iter, n=18, num_rows=2)
    labels = torch.cat([y for _, y in test_iter])[:18]
    assert [t for t, _ in pairs] == d2l.get_fashion_mnist_labels(labels)
    assert {p for _, p in pairs} == {'trouser'} and drawn['shape'] == (2, 9)
    assert drawn['title_colors'] == ['black' if int(c) == 1 else 'red' for c in labels]
    assert 'red' in drawn['title_colors'] and all(t.endswith('(wrong)') == (c == 'red')
                                                  for t, c in zip(drawn['titles'], drawn['title_colors']))


def test_show_images_returns_axes_and_show_fashion_mnist(fashion, in_tmp):
    X, y = next(iter(fashion[0]))
    axes = d2l.show_images(X[:6].reshape(6, 28, 28), 2, 3, titles=d2l.get_fashion_mnist_labels(y[:6]),
                           path=in_tmp / 'grid.png')
    assert len(axes) == 6 and axes[0].get_title() == d2l.get_fashion_mnist_labels(y[:1])[0]
    axes = d2l.show_fashion_mnist([X[i] for i in range(4)], d2l.get_fashion_mnist_labels(y[:4]),
                                  path=in_tmp / 'row.png')
    assert len(axes) == 4
    assert (in_tmp / 'grid.png').read_bytes()[:8] == PNG and (in_tmp / 'row.png').read_bytes()[:8] == PNG


def test_figure_helpers_are_harmless_in_a_script(in_tmp, capsys):
    d2l.use_svg_display()
    d2l.set_figsize((4, 3))
    import matplotlib.pyplot as plt
    assert tuple(plt.rcParams['figure.figsize']) == (4, 3)
    x = torch.arange(0, 3, 0.1)
    axes = plt.figure().gca()
    assert d2l.plot(x, [x ** 2, 2 * x - 3], 'x', 'f(x)', legend=['f(x)', 'tangent'], axes=axes) is None
    assert len(axes.get_lines()) == 2 and axes.get_xlabel() == 'x'
    assert capsys.readouterr().out == ''  # on the caller's axes: drawing only, the figure is the caller's
    d2l.plot(x, [x ** 2, 2 * x - 3], 'x', 'f(x)', legend=['f(x)', 'tangent'])
    # No display and no notebook: the book's call saves its figure and says where, rather than vanish.
    assert (in_tmp / 'plot-1.png').read_bytes()[:8] == PNG
    assert capsys.readouterr().out == 'figure written to plot-1.png\n'
    d2l.plot(x, x ** 3, path=in_tmp / 'cube')
    assert (in_tmp / 'cube.png').read_bytes()[:8] == PNG and capsys.readouterr().out == ''
    d2l.set_axes(axes, 'a', 'b', [0, 1], [0.1, 2], 'linear', 'log', ['one'])
    assert axes.get_yscale() == 'log' and axes.get_xlim() == (0, 1)
    plt.close('all')


def test_animator_writes_a_png_instead_of_printing(in_tmp, capsys):
    animator = d2l.Animator(xlabel='epoch', xlim=[1, 3], legend=['train loss', 'test acc'],
                            path=in_tmp / 'anim.png')
    for epoch in range(1, 4):
        animator.add(epoch, (1 / epoch, 0.5 + epoch / 10))
    assert capsys.readouterr().out == ''  # no '<Figure size ...>' lines
    assert (in_tmp / 'anim.png').read_bytes()[:8] == PNG
    assert animator.Y == [[1, 0.5, 1 / 3], [0.6, 0.7, 0.8]]
    import matplotlib.pyplot as plt
    n = len(plt.get_fignums())
    animator.close()
    assert len(plt.get_fignums()) == n - 1


def test_timer_accumulator_and_devices():
    timer = d2l.Timer()
    timer.stop()
    timer.start()
    timer.stop()
    assert len(timer.cumsum()) == 2 and timer.avg() >= 0 and timer.sum() >= 0
    metric = d2l.Accumulator(2)
    metric.add(3, 4)
    assert (metric[0], metric[1]) == (3.0, 4.0)
    metric.reset()
    assert metric[0] == 0
    assert isinstance(d2l.try_gpu(), torch.device) and isinstance(d2l.try_gpu(0), torch.device)
    devices = d2l.try_all_gpus()
    assert devices and all(isinstance(d, torch.device) for d in devices)


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


def test_no_accuracy_asserts_in_the_library():
    source = open(d2l.__file__).read()
    assert 'assert ' not in source
