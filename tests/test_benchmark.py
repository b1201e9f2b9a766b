"""Smoke test of benchmarks/data_pipeline.py on tiny data: the pieces work and agree.

No timing is asserted."""
import sys
import tempfile

import pytest
import torch

import d2l
from conftest import script


@pytest.fixture(scope='module')
def bench():
    """The benchmark script, imported by path."""
    return script('benchmarks/data_pipeline')


def test_every_source_yields_the_same_examples_as_d2l(bench, tiny_data, tmp_path):
    # the .gz files the benchmark copies, uncompressed
    files = d2l.locate_idx_files('fashion-mnist', tiny_data)
    tv_root = bench.torchvision_root(files, tmp_path / 'tv')
    assert (sorted(p.name for p in (tv_root / 'FashionMNIST' / 'raw').iterdir())
            == sorted(files) == ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte',
                                 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte'])
    reference = None
    for source in ('classic-0', 'd2l', 'bare'):
        train_iter, test_iter = bench.make_loaders(source, 8, tiny_data, tv_root,
                                                   torch.device('cpu'))
        X, y = map(torch.cat, zip(*test_iter))  # the test split keeps its order in every source
        assert X.shape == (20, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
        if reference is None:
            reference = X, y
        # ToTensor == d2l's /255
        assert torch.equal(X, reference[0]) and torch.equal(y, reference[1])
        train = [b for b in train_iter]
        assert [len(b[1]) for b in train] == [8] * 6 + [2]
        assert sorted(torch.cat([b[1] for b in train]).tolist()) == sorted(d2l.load_mnist_arrays(
            'fashion-mnist', root=tiny_data)['train_labels'].tolist())


def test_bare_loop_keeps_one_fixed_shuffled_order(bench):
    images = torch.arange(10, dtype=torch.uint8).repeat_interleave(784).reshape(10, 28, 28)
    labels = torch.arange(10)
    torch.manual_seed(0)
    loader = bench.TensorSlices(images, labels, 4, True, torch.device('cpu'))
    first, second = (torch.cat([y for _, y in loader]) for _ in range(2))
    assert torch.equal(first, second) and not torch.equal(first, labels) and len(loader) == 3
    X = torch.cat([x for x, _ in loader])
    assert torch.equal(X[:, 0, 0, 0] * 255, first.float())  # images still match their labels


@pytest.mark.parametrize('model', ['softmax', 'mlp'])
def test_time_training_returns_timed_epochs_and_accuracy(bench, tiny_data, tmp_path, model):
    files = d2l.locate_idx_files('fashion-mnist', tiny_data)
    tv_root = bench.torchvision_root(files, tmp_path / 'tv')
    results = bench.time_training(model, ['classic-0', 'd2l', 'bare'], 2, 1, tiny_data, tv_root)
    assert [r['source'] for r in results] == ['classic-0', 'd2l', 'bare']
    for r in results:
        assert len(r['seconds']) == 2 and r['median'] > 0 and r['epochs'] == 3
    # 50 training images in one batch of 256: every source takes the same full-batch steps from the
    # same initial weights, so they must end at the same test accuracy (like is compared with like).
    assert len({r['test_acc'] for r in results}) == 1
    report = bench.training_report(results, [model], ['classic-0', 'd2l', 'bare'])
    assert 'classic DataLoader, num_workers=0' in report and '| 1.00x |' in report
    assert f'- {model}: d2l is' in report and 'faster than the best classic configuration' in report


def test_markdown_table(bench):
    assert bench.markdown_table(['a', 'b'], [[1, 'x']]) == '| a | b |\n| --- | --- |\n| 1 | x |'


def test_bad_flags_exit_2(bench, capsys):
    for flags in (['--epochs', '0'], ['--workers', '-1'], ['--models', 'resnet']):
        with pytest.raises(SystemExit) as exit_:
            bench.main(flags)
        assert exit_.value.code == 2
    assert 'error: argument --epochs' in capsys.readouterr().err


def test_main_quick_run_on_tiny_data_writes_the_report(bench, tiny_data, tmp_path,
                                                       capsys, monkeypatch):
    # The fresh-process measurements (first batch, peak memory) are skipped here: each would start
    # Python and import torch again; the next two tests run their two measuring tools.
    out, scratch = tmp_path / 'report' / 'bench.md', tmp_path / 'tmp'
    scratch.mkdir()
    # where the benchmark makes its scratch folder
    monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
    report = bench.main(['--quick', '--data-root', str(tiny_data), '--workers', '0',
                         '--models', 'softmax', '--skip-processes', '--out', str(out)])
    assert out.read_text() == report and report in capsys.readouterr().out
    for expected in ('| machine |', 'torch 2', '| device | cpu |', 'softmax s/epoch',
                     'd2l.load_data_fashion_mnist', 'bare loop over float tensors (floor)',
                     'classic DataLoader, num_workers=0',
                     'Reproduce: `python benchmarks/data_pipeline.py --quick'):
        assert expected in report, expected
    assert 'peak RSS' not in report and 'first batch' not in report  # skipped, not reported empty
    # the scratch folder (torchvision copy, cold cache) is removed
    assert list(scratch.glob('d2l-bench-*')) == []


def test_a_child_process_reports_its_json_and_its_wall_time(bench):
    result = bench.run_child('import json, time; t = time.perf_counter(); print("noise"); '
                             'print(json.dumps({"first_batch": 0.25}))')
    assert result['first_batch'] == 0.25 and result['process'] > 0
    with pytest.raises(RuntimeError, match='(?s)child process failed.*ZeroDivisionError'):
        bench.run_child('1 / 0')


def test_peak_rss_sees_what_the_command_allocated(bench, tmp_path):
    small = bench.peak_rss([sys.executable, '-c', 'pass'], tmp_path)
    big = bench.peak_rss([sys.executable, '-c', 'b = bytearray(300 * 2**20); '
                          'b[::4096] = b"x" * len(b[::4096])'], tmp_path)
    assert 280 <= big['rss_mib'] - small['rss_mib'] < 400 and small['seconds'] > 0
    with pytest.raises(RuntimeError, match='failed \\(3\\)'):
        bench.peak_rss([sys.executable, '-c', 'raise SystemExit(3)'], tmp_path)


def test_load_average_reads_three_numbers_or_says_there_are_none(bench, monkeypatch):
    numbers = bench.load_average().split()
    assert len(numbers) == 3 and all(float(x) >= 0 for x in numbers)
    # Windows has none: the reports must still be written
    monkeypatch.delattr(bench.os, 'getloadavg')
    assert bench.load_average() == 'n/a'
    assert bench.machine_info('cpu')['load average (1, 5, 15 min)'] == 'n/a'
