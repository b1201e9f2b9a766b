"""The importance of each searched flag in a finished `python -m d2l sweep --search N` folder.

Reads the Optuna study the sweep kept (DIR/study.log), draws its flags' importances to a PNG
(d2lkit.sweep_report.importance_figure, as the sweep's own importance.png) and prints them,
largest first. The evaluator is PED-ANOVA (Optuna's, with no scikit-learn
to install): how differently each flag's values are spread in the best 10% of the finished trials
than in all of them, so a flag the best trials agree on ranks high:

    python benchmarks/sweep_importance.py /tmp/sw-study docs/best-importance.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's d2l.py, installed or not

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from d2lkit import sweep_report  # noqa: E402


def load_study(folder: Path):
    """The study of a sweep's search folder (its study.log holds that one study)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    log = folder / 'study.log'
    if not log.is_file():
        raise d2l.D2LError(f'{folder} holds no study.log: give the --out folder of a sweep with '
                           '--search N')
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(log)))
    [name] = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Draw and print the importances of a sweep folder's search; return them."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('folder', type=Path, help='the --out folder of the search')
    parser.add_argument('png', type=kit.png_file, help='the figure to write')
    args = parser.parse_args(argv)
    import optuna

    study = load_study(args.folder)
    found = sweep_report.importance_figure(study, args.png)
    if not found:
        raise d2l.D2LError(f'{args.folder}: too few finished trials (or one searched flag) to '
                           'weigh the flags')
    finished = len(study.get_trials(states=[optuna.trial.TrialState.COMPLETE]))
    print(f'{finished} finished trials; importance of each flag (PED-ANOVA):')
    for name, value in found.items():
        print(f'  {name:<16} {value:.3f}')
    print(f'figure written to {args.png}')
    return found


if __name__ == '__main__':
    kit.run_script(main)
