"""What the books' own pages rely on: their import line, the alias families, each book's update
rule for every loss reduction, the port's is_training and .next(), and where figures go.

The pages themselves are not copied here; each test states one behaviour in its own words.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import d2l
from conftest import PNG, ROOT, make_idx_dataset


# --- the import line and the aliases ---------------------------------------------------------

def test_the_books_import_line_gives_d2l_itself_and_the_module_keeps_the_real_torch():
    from d2l import torch as book_d2l
    assert book_d2l is d2l
    assert book_d2l.torch is d2l  # however often the line is written
    assert d2l.train_ch3.__globals__['torch'] is torch  # the module's own code still uses PyTorch
    namespace = {}
    exec('from d2l import *', namespace)
    assert namespace['train_ch3'] is d2l.train_ch3 and 'torch' not in namespace


def test_torch_function_aliases_are_torchs_own():
    # d2l.tensor is torch.tensor plus pandas 2's object arrays: test_download tests it.
    for name, target in (('ones', torch.ones), ('zeros', torch.zeros),
                         ('arange', torch.arange), ('exp', torch.exp), ('log', torch.log),
                         ('normal', torch.normal), ('matmul', torch.matmul), ('concat', torch.cat),
                         ('stack', torch.stack), ('abs', torch.abs),
                         ('linspace', torch.linspace), ('sigmoid', torch.sigmoid),
                         ('batch_matmul', torch.bmm), ('randn', torch.randn)):
        assert getattr(d2l, name) is target, name
    assert (d2l.float32, d2l.int32, d2l.int64) == (torch.float32, torch.int32, torch.int64)


def test_method_aliases_call_the_tensor_method():
    x = torch.arange(6.).requires_grad_()
    assert d2l.reshape(x, (2, 3)).shape == (2, 3)
    assert d2l.reduce_sum(x).item() == 15 and d2l.reduce_mean(x).item() == 2.5
    assert d2l.size(d2l.reshape(x, (3, 2))) == 6
    assert d2l.argmax(torch.tensor([[0., 5., 1.]]), axis=1).tolist() == [1]
    assert d2l.astype(torch.tensor([1.7]), torch.int32).dtype == torch.int32
    assert d2l.transpose(torch.ones(2, 3)).shape == (3, 2)
    assert d2l.expand_dims(torch.ones(3), 0).shape == (1, 3)
    numbers = d2l.numpy(x * 2)  # needs detach: a tensor that requires grad has no .numpy()
    assert numbers.tolist() == [0, 2, 4, 6, 8, 10]
    assert d2l.to(torch.ones(1), torch.float64).dtype == torch.float64


def test_module_aliases_and_unknown_names():
    import matplotlib.pyplot as plt
    assert d2l.plt is plt
    assert d2l.F is torch.nn.functional and d2l.nn is nn
    with pytest.raises(AttributeError, match="no attribute 'no_such_helper'"):
        d2l.no_such_helper


def test_the_aliases_leave_the_builtins_of_d2ls_own_code_alone(capsys):
    assert d2l.abs is torch.abs and d2l.size(torch.ones(2, 3)) == 6  # served to the pages ...
    # ... while d2l's own code keeps Python's abs: a board prints a negative mean through
    # abs(value), which torch.abs would refuse (TypeError) on a float.
    board = d2l.ProgressBoard(display=False)
    board.draw(1, -0.25, 'loss')
    board.flush(1)
    assert capsys.readouterr().out == 'epoch 1, loss -0.2500\n'


# --- the update rules ---------------------------------------------------------------------------

def _batch():
    g = torch.Generator().manual_seed(3)
    return torch.randn(10, 5, generator=g), torch.randint(0, 3, (10,), generator=g)


def _fresh_net():
    torch.manual_seed(0)
    return nn.Linear(5, 3)


def _expected_weight(reduction, objective, divide_by):
    """One SGD step (lr 0.1) by hand: backward on objective(loss); w -= lr * grad / divide_by."""
    X, y = _batch()
    net = _fresh_net()
    l = nn.CrossEntropyLoss(reduction=reduction)(net(X), y)
    objective(l).backward()
    return (net.weight - 0.1 * net.weight.grad / divide_by).detach()


FORMS = {
    # form: (how train_ch3 is called, what the book backpropagates, what it divides the gradient by)
    # (the arguments after num_epochs, positional as the books pass them)
    'port params, lr': (lambda net: (10, list(net.parameters()), 0.1), torch.sum, 10),
    'port optimizer': (lambda net: (10, None, None, torch.optim.SGD(net.parameters(), lr=0.1)),
                       torch.sum, 1),
    'newer book optimizer': (lambda net: (torch.optim.SGD(net.parameters(), lr=0.1),),
                             torch.mean, 1),
    'newer book updater': (lambda net: (lambda n: d2l.sgd(list(net.parameters()), 0.1, n),),
                           torch.sum, 10),
}


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('form', FORMS)
def test_train_ch3_updates_exactly_as_the_book_of_its_call_form(form, reduction, capsys):
    X, y = _batch()
    call, objective, divide_by = FORMS[form]
    net = _fresh_net()
    d2l.train_ch3(net, [(X, y)], [(X, y)], nn.CrossEntropyLoss(reduction=reduction), 1, *call(net))
    expected = _expected_weight(reduction, objective, divide_by)
    assert torch.allclose(net.weight.detach(), expected, atol=1e-7), (form, reduction)
    # The printed loss is the mean per example before the step, whatever the reduction.
    first = nn.CrossEntropyLoss()(_fresh_net()(X), y).item()
    assert f'epoch 1, loss {first:.4f},' in capsys.readouterr().out


def test_a_mean_loss_with_the_ports_sgd_takes_steps_batch_size_times_smaller():
    """The port's MLP page: a mean nn.CrossEntropyLoss() and lr=100 train like lr=100/256 on it."""
    X, y = _batch()
    steps = []
    for reduction, lr in (('mean', 10 * 0.1), ('none', 0.1)):
        net = _fresh_net()
        d2l.train_ch3(net, [(X, y)], [(X, y)], nn.CrossEntropyLoss(reduction=reduction), 1, 10,
                      list(net.parameters()), lr)
        steps.append(net.weight.detach())
    assert torch.allclose(steps[0], steps[1], atol=1e-7)


@pytest.mark.parametrize('form', ['port, batch_size given',
                                  'params and lr only', 'newer book updater'])
def test_the_last_partial_batch_is_divided_as_each_book_divides_it(form):
    """The port divides by its batch_size argument.

    The newer book, and a call without one, divide by the real size."""
    g = torch.Generator().manual_seed(4)
    X, y = torch.randn(14, 5, generator=g), torch.randint(0, 3, (14,), generator=g)
    batches = [(X[:10], y[:10]), (X[10:], y[10:])]
    net = _fresh_net()
    params = list(net.parameters())
    loss = nn.CrossEntropyLoss(reduction='none')
    if form == 'port, batch_size given':
        d2l.train_ch3(net, batches, [(X, y)], loss, 1, 10, params, 0.1)
    elif form == 'params and lr only':
        d2l.train_ch3(net, batches, [(X, y)], loss, 1, params=params, lr=0.1)
    else:
        d2l.train_ch3(net, batches, [(X, y)], loss, 1, lambda n: d2l.sgd(params, 0.1, n))
    reference = _fresh_net()
    for Xb, yb in batches:
        nn.CrossEntropyLoss(reduction='sum')(reference(Xb), yb).backward()
        d2l.sgd(reference.parameters(), 0.1, 10 if form == 'port, batch_size given' else len(yb))
    assert torch.allclose(net.weight.detach(), reference.weight.detach(), atol=1e-7)


def test_train_epoch_ch3_steps_an_optimizer_on_the_mean():
    X, y = _batch()
    net = _fresh_net()
    loss_value, acc = d2l.train_epoch_ch3(net, [(X, y)], nn.CrossEntropyLoss(reduction='none'),
                                          torch.optim.SGD(net.parameters(), lr=0.1))
    assert torch.allclose(net.weight.detach(), _expected_weight('none', torch.mean, 1), atol=1e-7)
    assert 0 <= acc <= 1 and loss_value == pytest.approx(
        nn.CrossEntropyLoss()(_fresh_net()(X), y).item())


# --- evaluation: is_training, evaluate_loss, .next() ------------------------------------------

def test_evaluate_accuracy_passes_is_training_false_to_a_function_net_that_takes_it():
    calls = []

    def net(X, is_training=True):
        calls.append(is_training)
        return torch.nn.functional.one_hot(torch.zeros(len(X), dtype=torch.long), 3).float()

    X = torch.zeros(6, 2)
    y = torch.tensor([0, 0, 0, 1, 2, 0])
    assert d2l.evaluate_accuracy([(X, y)], net) == pytest.approx(4 / 6)
    assert d2l.evaluate_accuracy(net, [(X, y)]) == pytest.approx(4 / 6)
    assert calls == [False, False]
    d2l.predict_ch3(net, [(torch.zeros(6, 28, 28), y)], n=2, path='p.png')
    assert calls[-1] is False


def test_evaluate_loss_is_the_mean_per_example_without_gradients_or_dropout():
    g = torch.Generator().manual_seed(5)
    # labels (n,), predictions (n, 1)
    X, y = torch.randn(30, 4, generator=g), torch.randn(30, generator=g)
    net = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 1))
    net.train()
    batches = [(X[:16], y[:16]), (X[16:], y[16:])]
    expected = ((net[1](X) - y.reshape(-1, 1)) ** 2).mean().item()
    for reduction in ('none', 'mean', 'sum'):
        value = d2l.evaluate_loss(net, batches, nn.MSELoss(reduction=reduction))
        assert value == pytest.approx(expected, rel=1e-5), reduction
    assert net.training  # the mode it found is restored


def test_the_loaders_iterator_has_the_python2_next():
    loader = d2l.load_array((torch.arange(10.).reshape(5, 2), torch.arange(5)), 2, is_train=False)
    batches = iter(loader)
    assert batches.next()[1].tolist() == [0, 1]
    assert next(batches)[1].tolist() == [2, 3]
    assert [y.tolist() for _, y in batches] == [[4]]


# --- figures in a script -------------------------------------------------------------------------

def test_every_figure_of_a_run_gets_its_own_file_and_a_line(tmp_path, capsys):
    x = torch.arange(4.)
    d2l.plot(x, x)
    d2l.plot(x, [x, x ** 2])
    first, second = d2l.Animator(legend=['a']), d2l.Animator()
    for epoch in (1, 2):
        first.add(epoch, epoch)
        second.add(epoch, -epoch)
    d2l.semilogy(range(1, 4), [1, 10, 100], 'epochs', 'loss',
                 range(1, 4), [2, 20, 200], ['train', 'test'])
    d2l.show_fashion_mnist([torch.rand(28, 28)] * 2, ['a', 'b'])
    out = capsys.readouterr().out.splitlines()
    names = ['plot-1.png', 'plot-2.png', 'animator-1.png', 'animator-2.png',
             'semilogy-1.png', 'images-1.png']
    # an Animator says it once, not per point
    assert out == [f'figure written to {name}' for name in names]
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == PNG
    first.close(), second.close()


def test_figures_go_to_the_folder_in_D2L_FIGURES(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('D2L_FIGURES', str(tmp_path / 'figs'))
    d2l.plot(torch.arange(3.), torch.arange(3.))
    assert (tmp_path / 'figs' / 'plot-1.png').read_bytes()[:8] == PNG
    assert capsys.readouterr().out == f'figure written to {tmp_path / "figs" / "plot-1.png"}\n'


def test_newer_book_train_ch3_draws_the_animator_and_the_ports_form_does_not(tmp_path,
                                                                            capsys, monkeypatch):
    X, y = _batch()
    net = _fresh_net()
    points = []
    add = d2l.Animator.add
    monkeypatch.setattr(d2l.Animator, 'add',
                        lambda self, x, ys: (points.append((x, len(ys))), add(self, x, ys)))
    d2l.train_ch3(net, [(X, y)], [(X, y)],
                  nn.CrossEntropyLoss(), 2, 10, list(net.parameters()), 0.1)
    assert list(tmp_path.glob('*.png')) == [] and points == []
    d2l.train_ch3(net, [(X, y)], [(X, y)],
                  nn.CrossEntropyLoss(), 3, torch.optim.SGD(net.parameters(), lr=0.1))
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith('epoch ') for line in lines) == 5
    assert points == [(1, 3), (2, 3), (3, 3)]  # train loss, train acc, test acc after each epoch
    # Named once, when first drawn (after the newer book's epoch 1), then redrawn in place.
    assert lines[3].startswith('epoch 1,') and lines[4] == 'figure written to animator-1.png'
    assert sum(line.startswith('figure written') for line in lines) == 1
    assert (tmp_path / 'animator-1.png').read_bytes()[:8] == PNG


def test_a_script_saves_the_figures_it_left_open_at_exit(tmp_path):
    script = textwrap.dedent('''
        from d2l import torch as d2l
        d2l.set_figsize()
        d2l.plt.scatter([1, 2, 3], [3, 1, 2])   # drawn with plt and never shown, as the pages do
        animator = d2l.Animator()
        animator.add(1, 1)                      # already in its own file: not saved twice
        print('done')
    ''')
    env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT), 'HOME': str(tmp_path)}
    run = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ['figure written to animator-1.png', 'done',
                                       'figure written to figure-1.png']
    assert sorted(p.name for p in tmp_path.glob('*.png')) == ['animator-1.png', 'figure-1.png']


def test_each_set_figsize_starts_a_figure_of_its_own_in_a_script(tmp_path):
    script = textwrap.dedent('''
        from d2l import torch as d2l
        for name, ys in (('relu', [0, 0, 1]), ('sigmoid', [0.3, 0.5, 0.7]), ('tanh', [-1, 0, 1])):
            # the port's xyplot: a figure per call, as its notebook shows them
            d2l.set_figsize(figsize=(5, 2.5))
            d2l.plt.plot([-1, 0, 1], ys)
            d2l.plt.ylabel(name + '(x)')
            print('drew', name, 'lines on this figure:', len(d2l.plt.gca().get_lines()))
        # the kit's own figures keep their own files
        d2l.semilogy([1, 2], [1, 10], 'epochs', 'loss')
    ''')
    # MPLBACKEND set, as many headless setups have it: the backend is then known before pyplot is
    # imported, and the last figure must still be saved at exit.
    env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT),
           'HOME': str(tmp_path), 'MPLBACKEND': 'Agg'}
    run = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        'drew relu lines on this figure: 1', 'figure written to figure-1.png',
        'drew sigmoid lines on this figure: 1', 'figure written to figure-2.png',
        'drew tanh lines on this figure: 1',
        'figure written to semilogy-1.png', 'figure written to figure-3.png']
    pngs = {p.name: p.read_bytes() for p in tmp_path.glob('*.png')}
    assert sorted(pngs) == ['figure-1.png', 'figure-2.png', 'figure-3.png', 'semilogy-1.png']
    assert len(set(pngs.values())) == 4 and all(b[:8] == PNG for b in pngs.values())


def test_a_figure_drawn_with_plt_after_use_svg_display_is_saved_at_exit(tmp_path):
    script = textwrap.dedent('''
        import d2l
        from matplotlib import pyplot as plt
        # the port's own show_fashion_mnist: then plt, then show()
        d2l.use_svg_display()
        plt.plot([1, 2, 3])
        plt.show()  # nothing to show on a headless machine
    ''')
    env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT), 'HOME': str(tmp_path)}
    run = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == 'figure written to figure-1.png\n'
    assert (tmp_path / 'figure-1.png').read_bytes()[:8] == PNG


def test_accumulator_takes_a_loss_that_requires_grad_without_a_warning():
    import warnings
    metric = d2l.Accumulator(2)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        metric.add((torch.ones(3, requires_grad=True) * 2).sum(), 3)
    assert (metric[0], metric[1]) == (6.0, 3.0)


def test_a_pages_own_animator_drawing_through_ipython_display_writes_a_file_in_a_script(tmp_path):
    script = textwrap.dedent('''
        from IPython import display
        from d2l import torch as d2l
        fig, axes = d2l.plt.subplots()         # a page's own Animator: display, then clear_output
        for epoch in range(1, 4):
            axes.plot([1, epoch], [0, epoch])
            display.display(fig)
            display.clear_output(wait=True)
        display.display('not a figure')
    ''')
    env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(ROOT), 'HOME': str(tmp_path)}
    run = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    # no '<Figure size', no escapes
    assert run.stdout == 'figure written to figure-1.png\nnot a figure\n'
    assert [p.name for p in tmp_path.glob('*.png')] == ['figure-1.png']


# --- in a notebook --------------------------------------------------------------------------------

# One real kernel (ipykernel, through nbclient) runs the cells of both tests below, one after the
# other, in one notebook: starting a kernel costs seconds. Under pytest-xdist they share a worker.
BOOK_CELLS = [  # the 0.17 / 2.0 pages' calls
    '''
    import sys; sys.path.insert(0, {root!r})
    from d2l import torch as d2l
    import torch
    from torch import nn
    train_iter, test_iter = d2l.load_data_fashion_mnist(16, root={data!r})
    ''',
    '''
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    d2l.train_ch3(net, train_iter, test_iter, nn.CrossEntropyLoss(reduction='none'), 2,
                  torch.optim.SGD(net.parameters(), lr=0.1))
    ''',
    '''
    d2l.predict_ch3(net, test_iter)
    ''',
    '''
    x = torch.arange(0, 3, 0.5)
    d2l.plot(x, [x, x ** 2], 'x', 'f(x)', legend=['x', 'x^2'])
    ''',
    '''
    X, y = next(iter(test_iter))
    d2l.show_images(X[:4].reshape(4, 28, 28), 1, 4, titles=d2l.get_fashion_mnist_labels(y[:4]));
    ''',
    '''
    d2l.use_svg_display()
    d2l.plot(x, x)
    ''',
]
V1_CELLS = [  # the 1.0 pages': a Trainer fitting a model draws its ProgressBoard
    'import d2l, torch\ntorch.manual_seed(0)',
    'data = d2l.SyntheticRegressionData(w=torch.tensor([1.5, -2.0]), b=0.3, num_train=96, '
    'num_val=32, batch_size=8)\nmodel = d2l.LinearRegressionScratch(2, lr=0.05)\n'
    'd2l.Trainer(max_epochs=2).fit(model, data)',
    'print(d2l.__file__, len(model.board.data["train_loss"]), model.board.path)',
]


@pytest.fixture(scope='session')  # not 'module': xdist may run other modules' tests between the two
def notebook(tmp_path_factory):
    """(the executed notebook of BOOK_CELLS then V1_CELLS, its working folder).

    One real kernel runs it."""
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    pytest.importorskip('ipykernel')
    folder = tmp_path_factory.mktemp('notebook')
    make_idx_dataset(folder / 'data' / 'fashion-mnist', seed=1)
    cells = [textwrap.dedent(c).format(root=str(ROOT), data=str(folder / 'data'))
             for c in BOOK_CELLS] + V1_CELLS
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata['kernelspec'] = {'name': 'python3',
                                 'display_name': 'Python 3', 'language': 'python'}
    saved = {var: os.environ.pop(var) for var in ('MPLBACKEND', 'DISPLAY', 'D2L_FIGURES')
             if var in os.environ}
    try:  # the kernel inherits the environment: let Jupyter choose the backend, as for a reader
        nbclient.NotebookClient(nb, timeout=300, kernel_name='python3',
                                resources={'metadata': {'path': str(folder)}}).execute()
    finally:
        os.environ.update(saved)
    return nb, folder


def _outputs(cell):
    """(mime types of rich outputs, the text a reader sees) of one executed cell.

    A figure's display bundle carries '<Figure size ...>' as its text/plain fallback beside the
    image, which the notebook shows instead; the text counted here is what has no image beside it.
    """
    rich = [o for o in cell.outputs if o.output_type in ('display_data', 'execute_result')]
    mimes = [m for o in rich for m in o.data]
    text = ''.join(o.get('text', '') for o in cell.outputs) + ''.join(
        o.data['text/plain'] for o in rich if set(o.data) == {'text/plain'})
    return mimes, text


@pytest.mark.xdist_group('notebook')
def test_in_a_notebook_figures_display_inline_and_write_no_files(notebook):
    nb, folder = notebook
    book = nb.cells[:len(BOOK_CELLS)]
    for cell in book[1:]:
        mimes, text = _outputs(cell)
        assert {'image/png', 'image/svg+xml'} & set(mimes), (cell.source, mimes)
        assert '<Figure size' not in text and '<Axes' not in text, text
    # train_ch3 and predict_ch3 return nothing, as in the books: no Out[] value
    for cell in book[1:3]:
        assert [o.output_type for o in cell.outputs
                if o.output_type == 'execute_result'] == [], cell.source
    _, train_text = _outputs(book[1])
    assert train_text.count('epoch ') == 2  # the classic lines, beside the live figure
    train_images = [o for o in book[1].outputs if o.output_type == 'display_data']
    assert len(train_images) == 1  # redrawn in place: one figure left, not one per epoch
    assert 'image/svg+xml' in _outputs(book[5])[0]
    assert list(folder.rglob('*.png')) == []


@pytest.mark.xdist_group('notebook')
def test_board_displays_inline_in_a_notebook_and_writes_no_file(notebook):
    nb, folder = notebook
    fit, board = nb.cells[len(BOOK_CELLS) + 1:]
    images, texts = 0, []
    for o in fit.outputs:
        if o.output_type == 'stream':
            texts.append(o.text)
        elif {'image/png', 'image/svg+xml'} & set(o.get('data', {})):
            images += o.output_type == 'display_data'
        else:  # a figure shown as text only would read '<Figure size 350x250 with 1 Axes>'
            texts.append(o.get('data', {}).get('text/plain', ''))
    assert images >= 1, fit.outputs
    assert not any('<Figure size' in t or 'epoch 1' in t for t in texts), texts
    assert board.outputs[0].text.split() == [str(ROOT / 'd2l.py'), '4', 'None']
    assert list(folder.rglob('*.png')) == []
