"""The utilities: seeds, devices, Timer, Accumulator; and what holds for the whole library."""
import random
import time

import numpy as np
import pytest
import torch

import d2l


def test_set_seed_repeats_torch_numpy_and_python():
    d2l.set_seed(7)
    a = (torch.rand(3), np.random.rand(3), random.random())
    d2l.set_seed(7)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]


@pytest.mark.parametrize('cuda, mps, best, every', [
    (0, False, 'cpu', ['cpu']),
    (0, True, 'mps', ['mps']),
    (2, True, 'cuda:0', ['cuda:0', 'cuda:1']),
])
def test_try_gpu_and_try_all_gpus(monkeypatch, cuda, mps, best, every):
    # Whatever this machine has: torch is made to see `cuda` CUDA GPUs, and Apple's MPS or not.
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: mps)
    assert d2l.try_gpu() == d2l.try_gpu(0) == torch.device(best)
    # there is only one MPS device
    assert d2l.try_gpu(1) == torch.device('cuda:1' if cuda > 1 else 'cpu')
    assert d2l.try_gpu(2) == torch.device('cpu')
    assert d2l.try_all_gpus() == [torch.device(d) for d in every]  # never empty


def test_accumulator_adds_and_resets():
    metric = d2l.Accumulator(3)
    metric.add(1, 2.5, torch.tensor(3))
    metric.add(1, 0.5, 1)
    assert metric[0] == 2 and metric[1] == 3.0 and metric[2] == 4 and metric.data == [2, 3, 4]
    metric.reset()
    assert metric.data == [0.0, 0.0, 0.0]


def test_timer_records_sums_and_averages_its_times():
    timer = d2l.Timer()  # started on creation, as the book's
    time.sleep(0.02)
    first = timer.stop()
    timer.start()
    time.sleep(0.01)
    second = timer.stop()
    assert first >= 0.02 and second >= 0.01 and timer.times == [first, second]
    assert (timer.sum() == pytest.approx(first + second)
            and timer.avg() == pytest.approx((first + second) / 2))
    assert timer.cumsum() == pytest.approx([first, first + second])


def test_no_accuracy_asserts_in_the_library():
    source = open(d2l.__file__).read()
    assert 'assert ' not in source
