"""Training and evaluation: accuracy, evaluate_accuracy, train_epoch_ch3, train_ch3,
predict_ch3, save_weights; each call form of both books (the newer book's and the community
port's) on small data."""
import inspect
import math
import re

import pytest
import torch
from torch import nn

import d2l
from conftest import EPOCH_LINE, PNG


# ---------------------------------------------------------------------------
# evaluate_accuracy
# ---------------------------------------------------------------------------

def known_batches():
    """Two batches whose labels a fixed rule predicts exactly half right (first 6 of 12)."""
    X = torch.eye(4).repeat(3, 1)  # one-hot rows: class = row % 4
    y = torch.arange(12) % 4
    y[6:] = (y[6:] + 1) % 4
    return [(X[:8], y[:8]), (X[8:], y[8:])]


class Halver(nn.Module):
    """Predicts the input's one-hot class, with a dropout that scrambles it in training mode."""

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


def softmax_net():
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(784, 10))
    net.apply(d2l.init_normal)
    return net


def test_newer_book_evaluate_accuracy_order(fashion):
    train_iter, test_iter = fashion
    net = softmax_net()
    net.train()
    before = {name: p.clone() for name, p in net.named_parameters()}
    acc_new = d2l.evaluate_accuracy(net, test_iter)  # newer book: (net, data_iter)
    acc_old = d2l.evaluate_accuracy(test_iter, net)  # community port: (data_iter, net)
    acc_gpu = d2l.evaluate_accuracy_gpu(net, test_iter)
    assert acc_new == acc_old == acc_gpu and 0 <= acc_new <= 1
    assert net.training  # its mode is restored, and evaluating changed no weight
    assert all(torch.equal(before[name], p) for name, p in net.named_parameters())


# ---------------------------------------------------------------------------
# train_ch3 and train_epoch_ch3
# ---------------------------------------------------------------------------

def tiny_classification(n=64, seed=0):
    """A linearly separable 4-class problem on 8 features."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 8, generator=g)
    y = X[:, :4].argmax(dim=1)
    return X, y


def epoch_lines(out):
    """The (loss, train acc, test acc) of each classic epoch line printed."""
    return [tuple(map(float, m.groups()[1:])) for m in map(EPOCH_LINE.match, out.splitlines()) if m]


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('style', ['params', 'optimizer'])
def test_train_ch3_prints_true_mean_loss_for_every_reduction_and_update_style(reduction,
                                                                              style, capsys):
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
        returned = d2l.train_ch3(net, train_iter, test_iter, loss, 3, 10,
                                 list(net.parameters()), lr)
    else:
        lr = 0.5 if reduction == 'mean' else 0.05
        returned = d2l.train_ch3(net, train_iter, test_iter, loss, 3, 10,
                                 optimizer=torch.optim.SGD(net.parameters(), lr=lr))
    assert returned is None  # as in the books: a notebook cell ending with it shows no value
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [bool(EPOCH_LINE.match(l)) for l in lines[:3]] == [True] * 3
    assert re.match(r'^\d+\.\d examples/sec on cpu$', lines[3])
    epochs = epoch_lines(out)
    # Zero weights predict uniformly: the first epoch starts at log 4 and must go down from there.
    assert epochs[0][0] < math.log(4) and epochs[2][0] < epochs[0][0]
    assert epochs[2][2] > 0.7  # test accuracy; chance is 0.25
    final = nn.CrossEntropyLoss()(net(X), y).item()  # the trained model's true mean loss
    assert final < epochs[2][0] + 0.05


def test_train_ch3_reductions_and_styles_agree():
    """Six ways of saying the same update give the same weights.

    The port's rule is among them, its lr scaled to match."""
    X, y = tiny_classification(n=60, seed=1)  # whole batches only: a sum over 10 is 10 means
    weights = []
    for reduction in ('none', 'mean', 'sum'):
        for style in ('params', 'optimizer'):
            d2l.set_seed(0)
            train_iter = d2l.load_array((X, y), 10)
            net = nn.Linear(8, 4)
            net.apply(d2l.init_normal)
            loss = nn.CrossEntropyLoss(reduction=reduction)
            mean = reduction == 'mean'
            kwargs = ({'params': list(net.parameters()), 'lr': 3.0 if mean else 0.3}
                      if style == 'params' else
                      {'optimizer': torch.optim.SGD(net.parameters(), lr=0.3 if mean else 0.03)})
            d2l.train_ch3(net, train_iter, train_iter, loss, 2, 10, **kwargs)
            weights.append(net.weight.detach().clone())
    assert weights[0].abs().sum() > 0.1  # it trained
    for other in weights[1:]:
        assert torch.allclose(other, weights[0], rtol=1e-5, atol=1e-6)


def test_train_ch3_scratch_function_net_with_params(capsys):
    X, y = tiny_classification()
    d2l.set_seed(0)
    W = torch.normal(0, 0.01, size=(8, 4), requires_grad=True)
    b = torch.zeros(4, requires_grad=True)

    def net(X):
        return torch.softmax(X @ W + b, dim=1)

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    d2l.train_ch3(net, d2l.load_array((X, y), 16), d2l.load_array((X, y), 16, False),
                  cross_entropy, 5, 16, [W, b], 0.5)
    assert epoch_lines(capsys.readouterr().out)[-1][2] > 0.8
    assert d2l.evaluate_accuracy(net, d2l.load_array((X, y), 16, False)) > 0.8
    assert W.grad is not None and W.grad.abs().sum() == 0  # sgd zeroed it after the last step


def test_train_ch3_without_an_update_rule_says_what_to_pass():
    with pytest.raises(d2l.D2LError, match='params and lr .* or an optimizer'):
        d2l.train_ch3(nn.Linear(2, 2), [], [], nn.CrossEntropyLoss(), 1, 10)


def test_train_ch3_stops_on_a_diverging_loss():
    X, y = tiny_classification()
    net = nn.Linear(8, 4)
    with pytest.raises(d2l.D2LError, match=r'the loss became (nan|inf) at epoch \d+, batch \d+'
                                           r'.*lower the learning rate'):
        d2l.train_ch3(net, d2l.load_array((X * 1e6, y), 8), d2l.load_array((X, y), 8),
                      nn.CrossEntropyLoss(), 3, 8,
                      optimizer=torch.optim.SGD(net.parameters(), lr=1e30))


def test_newer_book_train_ch3_with_an_optimizer_and_reduction_none(fashion, capsys):
    train_iter, test_iter = fashion
    net = softmax_net()
    loss = nn.CrossEntropyLoss(reduction='none')
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    assert d2l.train_ch3(net, train_iter, test_iter, loss, 4, trainer) is None
    out = capsys.readouterr().out
    epochs = epoch_lines(out)
    assert len(epochs) == 4 and 'examples/sec' in out and 'figure written to animator-1.png' in out
    assert epochs[-1][0] < epochs[0][0]
    assert epochs[-1][2] >= 0.5  # tiny learnable data; chance is 0.1
    assert net.training  # left in training mode, as after any training step


def test_newer_book_train_ch3_with_a_custom_updater(fashion, capsys):
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

    d2l.train_ch3(net, train_iter, test_iter, cross_entropy, 3, updater)
    assert sizes[:4] == [16, 16, 16, 2]  # the last partial batch is scaled by its real size
    assert epoch_lines(capsys.readouterr().out)[-1][2] >= 0.5


def test_train_classifier_is_train_ch3s_loop_returning_the_history(fashion, capsys):
    train_iter, test_iter = fashion
    runs = []
    for train in (d2l.train_ch3, d2l.train_classifier):
        d2l.set_seed(0)
        net = softmax_net()
        returned = train(net, train_iter, test_iter, nn.CrossEntropyLoss(), 3,
                         torch.optim.SGD(net.parameters(), lr=0.5))
        runs.append((returned, net[2].weight.detach().clone(), capsys.readouterr().out))
    (none, w_book, out_book), (history, w_kit, out_kit) = runs
    assert none is None and torch.equal(w_book, w_kit)  # the same steps
    assert set(history) == {'train_loss', 'train_acc', 'test_acc', 'seconds'}
    assert epoch_lines(out_kit) == epoch_lines(out_book) == [
        (round(l, 4), round(a, 3), round(t, 3))
        for l, a, t in zip(*(history[k] for k in ('train_loss', 'train_acc', 'test_acc')))]
    assert 'animator' in out_book and 'animator' not in out_kit  # the book's form draws its figure
    assert len(history['seconds']) == 3 and all(s > 0 for s in history['seconds'])


def test_train_epochs_runs_an_epoch_function_of_train_epoch_ch3s_shape(fashion, capsys):
    """train_epochs gives train_epoch(batches, epoch) each epoch's batches and takes back
    (mean loss, accuracy): train_epoch_ch3 itself plugs in and trains as train_classifier does."""
    train_iter, test_iter = fashion
    runs, epochs = [], []
    for kit_loop in (False, True):
        d2l.set_seed(0)
        net = softmax_net()
        loss, updater = nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=0.5)
        if kit_loop:
            def train_epoch(batches, epoch):
                epochs.append(epoch)
                return d2l.train_epoch_ch3(net, batches, loss, updater, epoch=epoch)
            history = d2l.train_epochs(train_epoch, net, train_iter, test_iter, 3)
        else:
            history = d2l.train_classifier(net, train_iter, test_iter, loss, 3, updater)
        runs.append((history, net[2].weight.detach().clone(), capsys.readouterr().out))
    (book, w_book, out_book), (kit, w_kit, out_kit) = runs
    assert epochs == [1, 2, 3] and torch.equal(w_book, w_kit)
    assert {k: v for k, v in kit.items() if k != 'seconds'} == {
        k: v for k, v in book.items() if k != 'seconds'}
    assert epoch_lines(out_kit) == epoch_lines(out_book) and len(epoch_lines(out_kit)) == 3
    assert 'examples/sec on cpu' in out_kit.splitlines()[-1]


def test_train_classifier_quiet_with_a_function_net_on_a_named_device(fashion, capsys):
    train_iter, test_iter = fashion
    W = torch.zeros(784, 10, requires_grad=True)
    history = d2l.train_classifier(lambda X: X.reshape(-1, 784) @ W, train_iter, test_iter,
                                   nn.CrossEntropyLoss(reduction='none'), 2,
                                   lambda n: d2l.sgd([W], 0.5, n), device='cpu', verbose=False)
    assert capsys.readouterr().out == ''
    # from uniform (zero weights), down within the epoch
    assert 1 < history['train_loss'][0] < math.log(10)
    assert history['train_loss'][1] < history['train_loss'][0] and history['test_acc'][-1] >= 0.5


def test_train_epoch_ch3_returns_mean_loss_and_accuracy(fashion):
    train_iter, _ = fashion
    net = softmax_net()
    net.eval()
    loss, acc = d2l.train_epoch_ch3(net, train_iter, nn.CrossEntropyLoss(reduction='none'),
                                    torch.optim.SGD(net.parameters(), lr=0.1))
    assert 2.0 < loss < 2.4 and 0 <= acc <= 1  # about log 10 from N(0, 0.01^2) weights
    assert net.training  # train_epoch_ch3 switches to training mode, as the book's does


# Every way of calling train_ch3 (the arguments after num_epochs, as the books pass them).
CALL_FORMS = {
    'newer book, optimizer': lambda net: (torch.optim.SGD(net.parameters(), lr=0.1),),
    'newer book, function updater': lambda net: (lambda n: d2l.sgd(net.parameters(), 0.1, n),),
    'port, params and lr': lambda net: (4, list(net.parameters()), 0.1),
    'port, optimizer': lambda net: (4, None, None, torch.optim.SGD(net.parameters(), lr=0.1)),
}


@pytest.mark.parametrize('train, form', [('train_ch3', form) for form in CALL_FORMS] + [
    ('train_classifier', form) for form in CALL_FORMS if form.startswith('newer book')])
def test_train_ch3_calls_train_epoch_ch3_which_calls_backward(train, form, monkeypatch, capsys):
    """The book's shape: from train_ch3 a reader reaches backward() in one call, train_epoch_ch3,
    in every call form; train_classifier is train_ch3's loop, one frame above it."""
    callers = []  # per backward(): the three frames under it, innermost first
    backward = torch.Tensor.backward

    def recording_backward(self, *args, **kwargs):
        frames = inspect.stack(context=0)[1:4]  # [0] is this function
        callers.append([(f.function, f.frame.f_globals['__name__']) for f in frames])
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, 'backward', recording_backward)
    X, y = tiny_classification(n=8)
    net = nn.Linear(8, 4)
    batches = [(X[:4], y[:4]), (X[4:], y[4:])]
    getattr(d2l, train)(net, batches, batches, nn.CrossEntropyLoss(reduction='none'), 2,
                        *CALL_FORMS[form](net))
    test = (inspect.stack(context=0)[0].function, __name__)
    caller = (train, 'd2l') if train == 'train_classifier' else test
    expected = [('train_epoch_ch3', 'd2l'), ('train_ch3', 'd2l'), caller]
    assert callers == [expected] * 4, callers[0]  # two batches in each of two epochs


# ---------------------------------------------------------------------------
# predict_ch3 and saved weights
# ---------------------------------------------------------------------------

def test_predict_ch3_writes_titled_images(fashion, tmp_path):
    _, test_iter = fashion
    net = softmax_net()
    net.train()
    # as in the book
    assert d2l.predict_ch3(net, test_iter, n=6, path=tmp_path / 'pred.png') is None
    assert (tmp_path / 'pred.png').read_bytes()[:8] == PNG
    assert net.training
    d2l.predict_ch3(net, test_iter)  # the book's call: no display here, so a PNG appears
    assert (tmp_path / 'images-1.png').read_bytes()[:8] == PNG


def test_predict_ch3_grid_spans_batches_and_marks_wrong_ones_red(fashion, tmp_path, monkeypatch):
    _, test_iter = fashion  # batches of 16: 18 images need two of them
    always_trouser = lambda X: torch.eye(10)[torch.ones(len(X), dtype=torch.long)]  # noqa: E731
    drawn = {}
    monkeypatch.setattr(d2l, 'show_images',
                        lambda imgs, rows, cols, **kw: drawn.update(kw, shape=(rows, cols)))
    d2l.predict_ch3(always_trouser, test_iter, n=18, num_rows=2)
    labels = torch.cat([y for _, y in test_iter])[:18]
    assert drawn['titles'] == [f'{t}\ntrouser' + ('' if t == 'trouser' else ' (wrong)')
                               for t in d2l.get_fashion_mnist_labels(labels)]
    assert drawn['shape'] == (2, 9)
    assert drawn['title_colors'] == ['black' if int(c) == 1 else 'red' for c in labels]
    assert ('red' in drawn['title_colors']
            and all(t.endswith('(wrong)') == (c == 'red')
                    for t, c in zip(drawn['titles'], drawn['title_colors'])))


def test_a_weights_file_that_cannot_be_written_is_one_line(tmp_path):
    # The folder exists and is writable, but the file cannot be made: a name too long.
    one_line = r'^cannot write .*: File name too long; choose a file in a writable folder$'
    with pytest.raises(d2l.D2LError, match=one_line):
        d2l.save_weights({'w': torch.zeros(2)}, tmp_path / ('x' * 300 + '.pt'))
    assert list(tmp_path.iterdir()) == []
