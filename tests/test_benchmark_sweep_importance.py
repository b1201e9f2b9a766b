"""benchmarks/sweep_importance.py: the importances of a search's flags come from its study.log,
the flag that decides the score ranks first, and the figure is a PNG."""
import pytest

import d2l
from conftest import is_png, script


@pytest.fixture(scope='module')
def importance():
    """The script, imported by path."""
    return script('benchmarks/sweep_importance')


def write_study(folder, n=40):
    """A study as a sweep's search keeps it: the score follows --lr, --flip is noise."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(folder / 'study.log')))
    study = optuna.create_study(study_name='sweep', storage=storage, direction='maximize')
    rng = __import__('random').Random(0)
    for _ in range(n):
        lr, flip = rng.uniform(0.001, 0.01), rng.uniform(0, 0.5)
        study.add_trial(optuna.trial.create_trial(
            params={'lr': lr, 'flip': flip}, value=0.8 + 10 * lr,
            distributions={'lr': FloatDistribution(0.001, 0.01),
                           'flip': FloatDistribution(0, 0.5)}))


def test_the_flag_that_decides_the_score_ranks_first(importance, tmp_path, capsys):
    write_study(tmp_path)
    found = importance.main([str(tmp_path), str(tmp_path / 'imp.png')])
    assert list(found) == ['lr', 'flip'] and found['lr'] > 0.8
    assert sum(found.values()) == pytest.approx(1)
    assert is_png(tmp_path / 'imp.png')
    out = capsys.readouterr().out.splitlines()
    assert out[0] == '40 finished trials; importance of each flag (PED-ANOVA):'
    assert out[1].split() == ['lr', f'{found["lr"]:.3f}']


def test_a_folder_without_a_study_is_one_error(importance, tmp_path):
    with pytest.raises(d2l.D2LError, match='holds no study.log'):
        importance.main([str(tmp_path), str(tmp_path / 'imp.png')])
