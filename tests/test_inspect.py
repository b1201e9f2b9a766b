"""Looking inside a trained classifier: d2l.confusion_matrix, most_confused, show_confusion and
show_mistakes on nets whose answers are known, --confusion and --mistakes on every classification
script (after training and with --load), and `python -m d2l compare-models`."""
import re

import pytest
import torch
from torch import nn

import d2l
from d2lkit import cli
from conftest import (BEST, IMAGE_SCRIPTS, MANUAL, data_args, is_png, leftovers, run_as_script,
                      script)

CLASSIFIERS = IMAGE_SCRIPTS + [MANUAL, BEST]
TINY = ['--epochs', '2', '--batch-size', '8']
PAIR_LINE = re.compile(r'^  (.+) -> (.+)  (\d+) \((\d+\.\d)% of (.+)\)$')


def pointing_net(num_classes: int = 3, margin: float = 5.0):
    """A net predicting the class written in each example's one feature: margin * one-hot logits."""
    return lambda X: margin * nn.functional.one_hot(X[:, 0].long(), num_classes).float()


# True classes and the classes the net is made to predict; the matrix counted by hand below.
TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
PREDICTED = [0, 1, 0, 1, 2, 2, 2, 0, 1, 1]
BY_HAND = [[2, 1, 0],   # class 0: twice right, once taken for 1
           [0, 1, 1],   # class 1: once right, once taken for 2
           [1, 2, 2]]   # class 2: twice right, once taken for 0, twice for 1


def known_data(batch_size: int = 4) -> d2l.ArrayLoader:
    X = torch.tensor(PREDICTED, dtype=torch.float32).reshape(-1, 1)
    return d2l.ArrayLoader((X, torch.tensor(TRUE)), batch_size)


def test_confusion_matrix_of_a_known_net_is_the_count_by_hand():
    matrix = d2l.confusion_matrix(pointing_net(), known_data())
    assert matrix.dtype == torch.int64 and matrix.tolist() == BY_HAND
    # rows sum to the class counts
    assert matrix.sum(dim=1).tolist() == torch.bincount(torch.tensor(TRUE)).tolist()
    # The diagonal over the total is the accuracy evaluate_accuracy gives.
    accuracy = d2l.evaluate_accuracy(pointing_net(), known_data())
    assert float(matrix.trace()) / matrix.sum() == accuracy
    # Batches of any size (one, a ragged last one) give the same counts.
    assert d2l.confusion_matrix(pointing_net(), known_data(batch_size=1)).tolist() == BY_HAND
    assert d2l.confusion_matrix(pointing_net(), known_data(batch_size=7)).tolist() == BY_HAND


def test_rows_sum_to_the_class_counts_and_the_diagonal_to_the_accuracy(fashion):
    _, test_iter = fashion
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Dropout(0.5))
    net.train()
    labels = torch.cat([y for _, y in test_iter])
    matrix = d2l.confusion_matrix(net, test_iter)
    assert matrix.shape == (10, 10)
    assert matrix.sum(dim=1).tolist() == torch.bincount(labels, minlength=10).tolist()
    # dropout off in both
    assert float(matrix.trace()) / len(labels) == d2l.evaluate_accuracy(net, test_iter)
    assert net.training  # the module's mode is given back
    assert torch.equal(matrix, d2l.confusion_matrix(net, test_iter))  # no randomness left on


def test_most_confused_orders_the_off_diagonal_cells_largest_first():
    assert d2l.most_confused(pointing_net(), known_data(), k=2) == [('pullover', 'trouser', 2),
                                                                    ('t-shirt', 'trouser', 1)]
    # Ties keep row order; a pair never confused is not listed, so k beyond them gives fewer.
    everything = d2l.most_confused(pointing_net(), known_data(), k=10, labels=d2l.get_mnist_labels)
    assert everything == [('2', '1', 2), ('0', '1', 1), ('1', '2', 1), ('2', '0', 1)]
    def perfect(X):
        return 5.0 * nn.functional.one_hot(torch.tensor(TRUE), 3).float()[:len(X)]
    assert d2l.most_confused(perfect, known_data(batch_size=len(TRUE))) == []


def per_example_data(n: int = 40, num_classes: int = 4, seed: int = 1):
    """n examples whose features are the logits themselves (an identity net), random labels."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=g) * 3
    labels = torch.randint(0, num_classes, (n,), generator=g)
    return logits, labels


def test_the_worst_mistakes_are_the_examples_with_the_highest_loss():
    logits, labels = per_example_data()
    loss = nn.functional.cross_entropy(logits, labels, reduction='none')
    by_hand = loss.argsort(descending=True)[:16]
    for batch_size in (5, 16, 40):  # the running top 16 across batches, and one batch
        verdicts = d2l.evaluate_verdicts(lambda X: X,
                                         d2l.ArrayLoader((logits, labels), batch_size), None)
        assert verdicts.worst.tolist() == by_hand.tolist()
        assert torch.equal(verdicts.worst_images, logits[by_hand])
        assert torch.allclose(verdicts.loss, loss)
        assert torch.equal(verdicts.predicted, logits.argmax(dim=1))
        assert torch.allclose(verdicts.probability, logits.softmax(dim=1).max(dim=1).values)
    # A net that ends in softmax (the older port's) has the same losses and probabilities.
    from_probabilities = d2l.evaluate_verdicts(lambda X: X.softmax(dim=1),
                                       d2l.ArrayLoader((logits, labels), 8), None)
    assert from_probabilities.worst.tolist() == by_hand.tolist()
    assert torch.allclose(from_probabilities.loss, loss, atol=1e-5)


def test_show_mistakes_titles_true_class_prediction_and_probability(tmp_path, monkeypatch):
    logits, labels = per_example_data(n=30, num_classes=10)
    images = torch.arange(30.).reshape(30, 1, 1, 1).expand(30, 1, 28, 28).clone()  # image i: all i
    drawn = {}
    show_images = d2l.show_images
    monkeypatch.setattr(d2l, 'show_images', lambda imgs, *a, **kw: (
        drawn.update(imgs=imgs, args=a, **kw), show_images(imgs, *a, **kw)))
    net = lambda X: logits[X[:, 0, 0, 0].long()]  # noqa: E731  the logits of image i are logits[i]
    path = tmp_path / 'sub' / 'mistakes.png'
    d2l.show_mistakes(net, d2l.ArrayLoader((images, labels), 7), path=path)
    assert is_png(path) and not leftovers(tmp_path)
    loss = nn.functional.cross_entropy(logits, labels, reduction='none')
    worst = loss.argsort(descending=True)[:16]
    assert drawn['imgs'][:, 0, 0].tolist() == worst.tolist() and drawn['args'] == (4, 4)
    names = d2l.get_fashion_mnist_labels
    p = logits.softmax(dim=1)
    assert drawn['titles'] == [
        f'{names(int(labels[i]))[0]}\n-> {names(int(p[i].argmax()))[0]} {float(p[i].max()):.2f}'
        for i in worst]
    assert drawn['title_colors'] == ['black' if labels[i] == p[i].argmax() else 'red'
                                     for i in worst]


def test_show_confusion_draws_a_matrix_or_a_net_and_its_data(tmp_path, capsys):
    first, second = tmp_path / 'a.png', tmp_path / 'deep' / 'b.png'
    written = d2l.show_confusion(pointing_net(), known_data(), labels=d2l.get_mnist_labels,
                                 path=first)
    assert written == str(first)
    assert d2l.show_confusion(torch.tensor(BY_HAND), path=second) == str(second)
    assert is_png(first) and is_png(second)
    assert d2l.show_confusion(torch.tensor(BY_HAND)) == 'confusion-1.png'
    assert is_png(tmp_path / 'confusion-1.png')
    assert 'figure written to confusion-1.png' in capsys.readouterr().out
    with pytest.raises(d2l.D2LError, match='a square matrix of counts'):
        d2l.show_confusion(torch.zeros(3, 4))


def test_a_figure_that_fails_half_way_leaves_no_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, f, **kwargs):
        f.write(b'\x89PNG half')
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(Figure, 'savefig', broken)
    with pytest.raises(d2l.D2LError, match=r'cannot write .*m\.png: No space left on device'):
        d2l.show_confusion(torch.tensor(BY_HAND), path=tmp_path / 'm.png')
    assert not (tmp_path / 'm.png').exists() and not leftovers(tmp_path)


# --confusion and --mistakes on the scripts
# ---------------------------------------------------------------------------

def matrices_drawn(monkeypatch) -> list:
    """Record the matrix of every confusion figure drawn from now on."""
    drawn = []
    draw = d2l.draw_matrix
    monkeypatch.setattr(d2l, 'draw_matrix', lambda matrix, *a, **kw: (drawn.append(matrix.clone()),
                                                                        draw(matrix, *a, **kw))[1])
    return drawn


@pytest.mark.parametrize('name', CLASSIFIERS)
def test_load_draws_the_same_matrix_as_the_run_that_saved_the_weights(name, tiny_data, tmp_path,
                                                                       monkeypatch, capsys):
    drawn, weights = matrices_drawn(monkeypatch), tmp_path / 'w.pt'
    flags = data_args(name, tiny_data)
    # One epoch at a small learning rate: the tiny data set is easy, a better net confuses nothing.
    trained = script(name).main(['--epochs', '1', '--batch-size', '8', '--lr', '1e-5', *flags,
                                 '--save', str(weights),
                                 '--confusion', str(tmp_path / 'confusion-trained.png'),
                                 '--mistakes', str(tmp_path / 'mistakes-trained.png')])
    out_trained = capsys.readouterr().out.splitlines()
    loaded = script(name).main([*flags, '--load', str(weights), '--seed', '4',
                                '--confusion', str(tmp_path / 'confusion-loaded.png'),
                                '--mistakes', str(tmp_path / 'mistakes-loaded.png')])
    out_loaded = capsys.readouterr().out.splitlines()
    assert len(drawn) == 2 and torch.equal(drawn[0], drawn[1])
    matrix = drawn[0]
    labels = torch.tensor(loaded['labels'])
    assert len(labels) == 20
    assert matrix.sum(dim=1).tolist() == torch.bincount(labels, minlength=10).tolist()
    assert float(matrix.trace()) / 20 == trained['test_acc'][-1] == loaded['test_acc'][0]
    by_pairs = d2l.count_pairs(labels, torch.tensor(loaded['predicted']), 10)
    assert matrix.tolist() == by_pairs.tolist()
    for run in ('trained', 'loaded'):
        assert is_png(tmp_path / f'confusion-{run}.png')
        assert is_png(tmp_path / f'mistakes-{run}.png')
    # The same report after training and after --load: the file, up to three pairs, the mistakes.
    first = (f'confusion matrix written to {tmp_path / "confusion-trained.png"}; '
             'most confused, true -> predicted:')
    report = out_trained[out_trained.index(first):]
    assert report[-1] == (f'mistakes written to {tmp_path / "mistakes-trained.png"} '
                          '(the 16 test images with the highest loss)')
    pairs = [PAIR_LINE.match(line) for line in report[1:-1]]
    assert all(pairs) and 1 <= len(pairs) <= 3
    names = d2l.get_fashion_mnist_labels(range(10))
    expected = [(names[i], names[j], c) for i, j, c in d2l.confused_cells(matrix, 3)]
    assert [(m[1], m[2], int(m[3])) for m in pairs] == expected
    for m in pairs:
        row = int(matrix[names.index(m[1])].sum())
        assert m[4] == f'{100 * int(m[3]) / row:.1f}'
    assert out_loaded[1:] == [line.replace('-trained', '-loaded') for line in report]


def test_a_net_that_confuses_nothing_says_so(tiny_data, tmp_path, capsys):
    path = tmp_path / 'cm.png'
    history = script('ch_softmax/scratch').main([*TINY, '--data-root', str(tiny_data),
                                                 '--confusion', str(path)])
    assert history['test_acc'][-1] == 1.0 and is_png(path)  # the tiny data set is easy
    assert capsys.readouterr().out.splitlines()[-1] == (
        f'confusion matrix written to {path}; no test image was taken for another class')


def test_without_the_new_flags_nothing_more_is_printed_or_drawn(tiny_data, tmp_path, monkeypatch,
                                                                capsys):
    drawn = matrices_drawn(monkeypatch)
    script('ch_softmax/scratch').main([*TINY, '--data-root', str(tiny_data)])
    out = capsys.readouterr().out
    assert 'confusion' not in out and 'mistakes' not in out
    assert not drawn and not list(tmp_path.glob('*.png'))


def test_valid_names_the_split_it_looks_at(tiny_data, tmp_path, capsys):
    script('ch_softmax/concise').main([*TINY, '--data-root', str(tiny_data), '--valid', '10',
                                       '--mistakes', str(tmp_path / 'm.png')])
    assert capsys.readouterr().out.splitlines()[-1] == (
        f'mistakes written to {tmp_path / "m.png"} (the 10 valid images with the highest loss)')


@pytest.mark.parametrize('flag', ['--confusion', '--mistakes'])
def test_a_figure_path_that_cannot_be_written_is_refused_before_training(flag, tiny_data, tmp_path,
                                                                         capsys):
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')
    status, out, err = run_as_script(script('ch_mlp/scratch').main,
                                     [*TINY, '--data-root', str(tiny_data), flag,
                                      str(blocker / 'cm.png')], capsys)
    assert status == 2 and out == ''
    assert err.strip().splitlines()[-1] == (
        f'scratch.py: error: argument {flag}: cannot write {blocker / "cm.png"}: '
        f'{blocker} is not a writable folder')


def test_best_records_dropout_which_changes_the_layer_layout(tiny_data, tmp_path):
    weights = tmp_path / 'best.pt'
    flags = ['--data-root', str(tiny_data)]
    script(BEST).main([*TINY, *flags, '--dropout', '0.2', '--save', str(weights)])
    saved = torch.load(weights, weights_only=True)['settings']
    assert saved['dropout'] == 0.2
    with pytest.raises(d2l.D2LError,
                       match=r'saved with dropout=0\.2, but this run has dropout=0\.0'):
        script(BEST).main([*flags, '--load', str(weights)])
    loaded = script(BEST).main([*flags, '--load', str(weights), '--dropout', '0.2'])
    assert len(loaded['test_acc']) == 1


# python -m d2l compare-models
# ---------------------------------------------------------------------------

@pytest.fixture
def two_models(tiny_data, tmp_path):
    """Weights of softmax regression (scratch) and of an MLP with other flags (concise)."""
    a, b = tmp_path / 'softmax.pt', tmp_path / 'mlp.pt'
    script('ch_softmax/scratch').main([*TINY, '--data-root', str(tiny_data), '--save', str(a)])
    script('ch_mlp/concise').main([*TINY, '--lr', '0.5', '--hidden', '32', '16',
                                   '--activation', 'tanh',
                                   '--data-root', str(tiny_data), '--save', str(b)])
    return a, b


def test_compare_models_lines_up_two_saved_models(two_models, tiny_data, tmp_path, capsys):
    a, b = two_models
    runs = [script(name).main(['--load', str(path), *flags, '--data-root', str(tiny_data)])
            for name, path, flags in (('ch_softmax/scratch', a, []),
                                      ('ch_mlp/concise', b,
                                       ['--hidden', '32', '16', '--activation', 'tanh']))]
    capsys.readouterr()
    diff = tmp_path / 'figs' / 'diff.png'
    status, out, err = run_as_script(cli.cli, ['compare-models', str(a), str(b),
                                               '--data-root', str(tiny_data),
                                               '--confusion-diff', str(diff)], capsys)
    assert status == 0 and err == '' and is_png(diff)
    labels = torch.tensor(runs[0]['labels'])
    right = [torch.tensor(run['predicted']) == labels for run in runs]
    assert (f'A: {a} (ch_softmax/scratch.py --dataset fashion-mnist): '
            f'test acc {runs[0]["test_acc"][0]:.4f}') in out
    assert (f'B: {b} (ch_mlp/concise.py --hidden 32 16 --activation tanh --dataset fashion-mnist): '
            f'test acc {runs[1]["test_acc"][0]:.4f}') in out
    assert (f'right in A only: {int((right[0] & ~right[1]).sum())} images; '
            f'right in B only: {int((right[1] & ~right[0]).sum())}; '
            f'both right: {int((right[0] & right[1]).sum())}; '
            f'both wrong: {int((~right[0] & ~right[1]).sum())} (of 20)') in out
    assert f'difference of the confusion matrices written to {diff}' in out
    from d2lkit import compare_models
    result = compare_models.cli([str(a), str(b), '--data-root', str(tiny_data)])
    matrices = [d2l.count_pairs(labels, torch.tensor(run['predicted']), 10) for run in runs]
    assert torch.equal(result['difference'], matrices[1] - matrices[0])
    assert result['only_a'] == int((right[0] & ~right[1]).sum())
    assert result['test_acc_b'] == runs[1]['test_acc'][0]


def test_compare_models_rebuilds_best_and_manual_from_their_settings(tiny_data, tmp_path, capsys):
    best, manual = tmp_path / 'best.pt', tmp_path / 'manual.pt'
    flags = ['--data-root', str(tiny_data)]
    script(BEST).main([*TINY, *flags, '--hidden', '24', '--depth', '1', '--batchnorm',
                       '--dropout', '0.1', '--no-pca', '--no-mirror-average',
                       '--save', str(best)])
    script(MANUAL).main([*TINY, *flags, '--layers', '784', '20', '10', '--save', str(manual)])
    from d2lkit import compare_models
    assert compare_models.script_flags(torch.load(best, weights_only=True)['settings']) == [
        '--hidden', '24', '--batchnorm', '--dropout', '0.1', '--pca', '0',
        '--no-mirror-average', '--dataset', 'fashion-mnist', '--depth', '1']
    result = compare_models.cli([str(best), str(manual), *flags])
    assert result['confusion_a'].sum() == result['confusion_b'].sum() == 20


def test_compare_models_refuses_bad_files_in_one_line_before_any_work(two_models, tiny_data,
                                                                       tmp_path, capsys):
    a, _ = two_models
    linreg, corrupt, mnist = tmp_path / 'linreg.pt', tmp_path / 'corrupt.pt', tmp_path / 'mnist.pt'
    script('ch_linear_regression/scratch').main(['--epochs', '1', '--save', str(linreg)])
    corrupt.write_bytes(a.read_bytes()[:100])
    script('ch_softmax/scratch').main([*TINY, '--data-root', str(tiny_data), '--dataset', 'mnist',
                                       '--save', str(mnist)])
    capsys.readouterr()
    cases = {linreg: 'holds weights of ch_linear_regression/scratch.py, '
                     'not of a Fashion-MNIST classifier',
             tmp_path / 'missing.pt': 'no weights file at',
             corrupt: 'is not a weights file saved by torch.save',
             mnist: 'was trained on fashion-mnist and .* on mnist; '
                    'compare models of the same data set'}
    for bad, message in cases.items():
        argv = ['compare-models', str(a), str(bad), '--data-root', str(tiny_data)]
        status, out, err = run_as_script(cli.cli, argv, capsys)
        assert status == 1 and out == '' and re.fullmatch(f'error: .*{message}.*\n', err), err
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    status, out, err = run_as_script(cli.cli, ['compare-models', str(a), str(a), '--confusion-diff',
                                               str(blocker / 'd.png')], capsys)
    assert status == 2 and out == ''
    assert f'--confusion-diff: cannot write {blocker / "d.png"}' in err


def test_compare_models_is_listed_in_the_help(capsys):
    status, out, _ = run_as_script(cli.cli, ['--help'], capsys)
    assert status == 0 and 'compare-models' in out
    status, out, _ = run_as_script(cli.cli, ['compare-models', '--help'], capsys)
    assert status == 0 and '--confusion-diff PATH' in out and 'A.pt' in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_on_the_gpu_the_figures_and_numbers_match_the_cpu(tiny_data, tmp_path, monkeypatch, capsys):
    drawn = matrices_drawn(monkeypatch)
    weights = tmp_path / 'w.pt'
    flags = ['--data-root', str(tiny_data)]
    script('ch_mlp/concise').main([*TINY, *flags, '--save', str(weights)])
    on = {device: script('ch_mlp/concise').main([*flags, '--load', str(weights), '--device', device,
                                                 '--confusion', str(tmp_path / f'{device}.png'),
                                                 '--mistakes', str(tmp_path / f'm-{device}.png')])
          for device in ('cpu', 'cuda')}
    assert on['cpu']['predicted'] == on['cuda']['predicted'] and torch.equal(drawn[0], drawn[1])
    assert is_png(tmp_path / 'cuda.png') and is_png(tmp_path / 'm-cuda.png')
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).cuda()
    test_iter = d2l.load_data_fashion_mnist(8, root=tiny_data)[1]
    on_gpu = d2l.confusion_matrix(net, test_iter)
    assert on_gpu.tolist() == d2l.confusion_matrix(net.cpu(), test_iter).tolist()
