"""Plotting: matplotlib only when asked, figures saved (and named) on a headless machine, the
book's helpers."""
import subprocess
import sys

import pytest
import torch

import d2l
from conftest import PNG, ROOT


def test_import_needs_no_matplotlib():
    code = 'import sys, d2l; print("matplotlib" in sys.modules, "IPython" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['False', 'False']


def test_show_images_returns_axes_and_show_fashion_mnist(fashion, tmp_path):
    X, y = next(iter(fashion[0]))
    axes = d2l.show_images(X[:6].reshape(6, 28, 28), 2, 3,
                           titles=d2l.get_fashion_mnist_labels(y[:6]), path=tmp_path / 'grid.png')
    assert len(axes) == 6 and axes[0].get_title() == d2l.get_fashion_mnist_labels(y[:1])[0]
    axes = d2l.show_fashion_mnist([X[i] for i in range(4)], d2l.get_fashion_mnist_labels(y[:4]),
                                  path=tmp_path / 'row.png')
    assert len(axes) == 4
    assert ((tmp_path / 'grid.png').read_bytes()[:8] == PNG
            and (tmp_path / 'row.png').read_bytes()[:8] == PNG)


def test_figure_helpers_are_harmless_in_a_script(tmp_path, capsys):
    d2l.use_svg_display()
    d2l.set_figsize((4, 3))
    import matplotlib.pyplot as plt
    assert tuple(plt.rcParams['figure.figsize']) == (4, 3)
    x = torch.arange(0, 3, 0.1)
    axes = plt.figure().gca()
    assert d2l.plot(x, [x ** 2, 2 * x - 3], 'x', 'f(x)',
                    legend=['f(x)', 'tangent'], axes=axes) is None
    assert len(axes.get_lines()) == 2 and axes.get_xlabel() == 'x'
    # on the caller's axes: drawing only, the figure is the caller's
    assert capsys.readouterr().out == ''
    d2l.plot(x, [x ** 2, 2 * x - 3], 'x', 'f(x)', legend=['f(x)', 'tangent'])
    # No display and no notebook: the book's call saves its figure and says where,
    # rather than vanish.
    assert (tmp_path / 'plot-1.png').read_bytes()[:8] == PNG
    assert capsys.readouterr().out == 'figure written to plot-1.png\n'
    d2l.plot(x, x ** 3, path=tmp_path / 'cube')
    assert (tmp_path / 'cube.png').read_bytes()[:8] == PNG and capsys.readouterr().out == ''
    d2l.set_axes(axes, 'a', 'b', [0, 1], [0.1, 2], 'linear', 'log', ['one'])
    assert axes.get_yscale() == 'log' and axes.get_xlim() == (0, 1)
    plt.close('all')


def test_animator_writes_a_png_instead_of_printing(tmp_path, capsys):
    animator = d2l.Animator(xlabel='epoch', xlim=[1, 3], legend=['train loss', 'test acc'],
                            path=tmp_path / 'anim.png')
    for epoch in range(1, 4):
        animator.add(epoch, (1 / epoch, 0.5 + epoch / 10))
    assert capsys.readouterr().out == ''  # no '<Figure size ...>' lines
    assert (tmp_path / 'anim.png').read_bytes()[:8] == PNG
    assert animator.Y == [[1, 0.5, 1 / 3], [0.6, 0.7, 0.8]]
    import matplotlib.pyplot as plt
    # a page's next drawing with plt starts a figure of its own, as in a notebook
    plt.plot([0, 1], [1, 0])
    assert plt.gcf() is not animator.fig
    assert all(plt.figure(n) is not animator.fig for n in plt.get_fignums())
    # untouched by that drawing
    assert animator.axes[0].get_lines()[0].get_ydata().tolist() == [1, 0.5, 1 / 3]


def test_a_figure_that_cannot_be_written_is_one_line(tmp_path):
    # The folder exists and is writable, but the file cannot be made: a name too long.
    with pytest.raises(d2l.D2LError, match='^cannot write'):
        d2l.plot_history({'train_loss': [1.0], 'test_acc': [0.5]}, tmp_path / ('y' * 300 + '.png'))
    assert list(tmp_path.iterdir()) == []
