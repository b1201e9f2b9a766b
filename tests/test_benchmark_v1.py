"""Smoke test of benchmarks/trainer_v1.py on tiny data: both data modules train the same model.

No timing is asserted."""
import re

import pytest
import torch

import d2l
from conftest import script


@pytest.fixture(scope='module')
def bench():
    """The benchmark script, imported by path."""
    return script('benchmarks/trainer_v1')


def test_the_classic_data_module_yields_what_d2l_fashion_mnist_yields(bench, tiny_data,
                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv('D2L_DATA', str(tiny_data))
    files = d2l.locate_idx_files('fashion-mnist', tiny_data)
    tv_root = bench.torchvision_root(files, tmp_path / 'tv')
    classic = bench.TorchvisionFashionMNIST(str(tv_root), 8, num_workers=0)
    ours = d2l.FashionMNIST(batch_size=8)
    for loader_a, loader_b in ((classic.val_dataloader(), ours.val_dataloader()),):
        (Xa, ya), (Xb, yb) = (list(map(torch.cat, zip(*loader))) for loader in (loader_a, loader_b))
        # ToTensor == d2l's uint8 / 255, same order
        assert torch.equal(Xa, Xb) and torch.equal(ya, yb)
    assert len(classic.train_dataloader()) == len(ours.train_dataloader()) == 7


def test_a_quick_run_reports_every_data_module(bench, tiny_data, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ('D2L_DATA', 'D2L_FIGURES'):  # main sets them for its run; restored after the test
        monkeypatch.setenv(var, '')
    report = bench.main(['--data-root', str(tiny_data), '--epochs', '1', '--warmup', '0',
                         '--workers', '0'])
    rows = re.findall(r'^\| (`d2l.FashionMNIST.*|torchvision .*) '
                      r'\| (\d+\.\d{3}) \| (\d\.\d{3}) \| (\d+\.\dx) \|$', report, re.M)
    assert [r[0].split('`')[1] for r in rows] == ['d2l.FashionMNIST(batch_size=256)', 'ToTensor']
    # Both data modules really train the model:
    # well above chance (0.1) on the tiny learnable images.
    assert rows[0][3] == '1.0x' and all(float(r[2]) >= 0.4 for r in rows)
    # no PNG left
    assert 'num_workers=0 (goal >= 10x)' in report and list(tmp_path.glob('**/*.png')) == []
