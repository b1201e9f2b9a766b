"""benchmarks/paired_runs.py: one setting of a sweep against one of another, paired by seed."""
import pytest

import d2l
from conftest import script

HEADER = 'run,flip,seed,train_loss,valid_acc,seconds,status,worker,host\n'


@pytest.fixture
def paired_runs():
    return script('benchmarks/paired_runs')


def results(folder, rows):
    """A results.csv in folder, one row per (flip, seed, valid_acc[, status])."""
    folder.mkdir()
    lines = [f'g-{flip}-{seed},{flip},{seed},1.0,{acc},10.0,{status},w,h\n'
             for flip, seed, acc, status in (row if len(row) == 4 else (*row, 'ok')
                                             for row in rows)]
    (folder / 'results.csv').write_text(HEADER + ''.join(lines))
    return folder


def test_differences_by_seed_their_interval_and_verdict(paired_runs, tmp_path, capsys):
    a = results(tmp_path / 'a', [(0.5, 0, 0.91), (0.5, 1, 0.92), (0.5, 2, 0.93), (0.2, 0, 0.5),
                                 (0.5, 3, 0.99, 'failed')])
    b = results(tmp_path / 'b', [(0.2, 0, 0.90), (0.2, 1, 0.90), (0.2, 2, 0.91),
                                 (0.2, 3, 0.80)])
    result = paired_runs.main([str(a), 'flip=0.5', str(b), 'flip=0.20'])
    # seed 3 failed in A: three pairs, differences 0.01, 0.02, 0.02
    assert result['seeds'] == [0, 1, 2]
    assert result['diffs'] == pytest.approx([0.01, 0.02, 0.02])
    mean, sd = 0.05 / 3, (1 / 3 * 1e-4 / 1) ** 0.5  # stdev of (0.01, 0.02, 0.02): 0.005774
    assert result['mean'] == pytest.approx(mean)
    assert result['half'] == pytest.approx(4.302652729911275 * sd / 3 ** 0.5, rel=1e-6)
    assert result['verdict'] == 'better'  # 0.0167 ± 0.0143 lies above 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == 'seed 0: A 0.9100, B 0.9000, A - B +0.0100'
    assert out[-1].endswith('A - B +0.0167 ± 0.0143 (95% interval, 3 seeds paired): A better')
    assert paired_runs.main([str(b), 'flip=0.2', str(a), 'flip=0.5'])['verdict'] == 'worse'
    tied = results(tmp_path / 'c', [(0.2, 0, 0.92), (0.2, 1, 0.89), (0.2, 2, 0.93)])
    assert paired_runs.main([str(tied), '-', str(b), 'flip=0.2'])['verdict'] == 'tied'


@pytest.mark.parametrize('setting, message', [
    ('flip=0.7', 'has no finished run with flip=0.7'),
    ('lr=0.1', "has no column 'lr'"),
    ('flip', "setting 'flip': write FLAG=VALUE pairs"),
])
def test_a_setting_it_cannot_find_is_one_line(paired_runs, tmp_path, setting, message):
    a = results(tmp_path / 'a', [(0.5, 0, 0.91), (0.5, 1, 0.92)])
    with pytest.raises(d2l.D2LError, match=message):
        paired_runs.main([str(a), setting, str(a), 'flip=0.5'])
    with pytest.raises(d2l.D2LError, match=r'1 seed\(s\) in common'):
        paired_runs.main([str(a), 'flip=0.5', str(results(tmp_path / 'b', [(0.5, 1, 0.9)])), '-'])
