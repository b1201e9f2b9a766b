"""Smoke test of benchmarks/inspect_cost.py on tiny data: the report's rows and arithmetic; no
timing is asserted."""
import re

import pytest
import torch

import d2l
from conftest import script


@pytest.fixture(scope='module')
def bench():
    """The benchmark script, imported by path."""
    return script('benchmarks/inspect_cost')


def test_inspect_once_computes_what_the_scripts_flags_do(bench, fashion):
    _, test_iter = fashion
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    matrix = bench.inspect_once(net, test_iter, torch.device('cpu'))
    assert torch.equal(matrix, d2l.confusion_matrix(net, test_iter))


def test_main_times_the_rounds_and_writes_the_report(bench, tiny_data, tmp_path, capsys):
    out = tmp_path / 'report' / 'inspect.md'
    report = bench.main(['--rounds', '2', '--warmup', '0', '--batch-size', '8',
                         '--data-root', str(tiny_data), '--out', str(out)])
    assert out.read_text() == report and report in capsys.readouterr().out
    rows = re.findall(r'^\| (one training epoch|--confusion|evaluate_accuracy)[^|]* \| '
                      r'(\d+\.\d{4}) \| (\d+\.\d)% \| (\d+\.\d{4}) (\d+\.\d{4}) \|$', report, re.M)
    assert [r[0] for r in rows] == ['one training epoch', '--confusion', 'evaluate_accuracy']
    assert '(50 images, batch 8)' in report and '(20 test images)' in report
    epoch = float(rows[0][1])
    for name, median, share, first, second in rows:
        # the median of two rounds is their mean; each share is of the epoch's median
        assert float(median) == pytest.approx((float(first) + float(second)) / 2, abs=1e-4)
        assert float(share) == pytest.approx(100 * float(median) / epoch, abs=0.1 + 1e-2 / epoch)
    assert re.search(r'^- --confusion and --mistakes cost \d+\.\d% of one training epoch '
                     r'\(goal < 10%: (met|NOT met)\)', report, re.M)
    assert '| load average at the end |' in report
    assert 'Reproduce: `python benchmarks/inspect_cost.py --rounds 2' in report
