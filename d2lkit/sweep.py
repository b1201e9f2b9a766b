"""`python -m d2l sweep`: run a chapter script over settings and seeds, on an Optuna study.

    python -m d2l sweep ch_softmax/scratch.py --lr 0.03,0.1,0.3 --epochs 2
    python -m d2l sweep ch_mlp/concise.py --hidden 64,256 --lr 0.1,0.3 --seeds 0..4 --out mlp
    python -m d2l sweep ch_mlp/concise.py --valid 10000 --search 20 --lr 0.01..1 --hidden 32..512

A script flag given comma-separated values is an axis of the grid; every (setting, seed) is one
run, `main(argv, on_epoch)` of the script called in a worker process that imported it (and
read the data) once. Every sweep is an Optuna study, the one record of its runs: a journal file
in --out (no server), or --storage URL (a database; several machines on one sweep).

sweep(argv) reads the line into a plan (d2lkit.sweep_plan), runs it on the study with worker
processes (d2lkit.sweep_runs), which write results.csv and the histories from the study, then
reports them (d2lkit.sweep_report): summary.md, the figures, the table printed. A search's
final run (the best setting on all the training images) runs while the report is written.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Sequence

from d2lkit import sweep_plan
from d2lkit.sweep_plan import DEFAULT_WORKERS, SweepError
from d2lkit.sweep_runs import GRACE_S, HOLD_S

if TYPE_CHECKING:  # pandas (and optuna, in d2lkit.sweep_runs) load only when a sweep runs
    import pandas

HELP = """\
usage: python -m d2l sweep SCRIPT [sweep options] [the script's own flags]

Run a chapter script over a grid of settings and seeds (or an Optuna search), in worker
processes that import the script and read the data once; print the summary table.

A script flag with comma-separated values is an axis of the grid; a flag with one value is
fixed. Each run gets --seed S for each of --seeds.
  python -m d2l sweep ch_softmax/scratch.py --lr 0.03,0.1,0.3 --epochs 2
  python -m d2l sweep ch_mlp/concise.py --lr 0.1,0.3 --activation relu,tanh --seeds 0,1

A flag that takes several values (--hidden 128 256 in ch_mlp/concise.py): the values of one
setting are separated by spaces, settings by commas, the whole axis in quotes:
  --hidden 64,256               two runs of one hidden layer (64 units, then 256)
  --hidden "128 256,512 512"    two settings of two hidden layers each
  --hidden 128 256              fixed: every run has two hidden layers

sweep options (anywhere on the line, never abbreviated):
  --seeds 0,1,2      the seeds of each setting (default 0,1,2), or a range: 0..9 is 0 to 9;
                     --seed itself is refused. A grid rerun with more seeds runs only the new ones
  --out DIR          the results folder (default sweeps/<chapter>-<script>-<hash of the flags>);
                     rerunning the same command there runs only what is missing
  --workers N        worker processes, at most one per core (default %(workers)d, the faster on
                     2 cores); each gets cores / N torch threads
  --search N         N trials of Optuna's TPE sampler over ranges written lo..hi (log-uniform
                     where lo > 0 and hi/lo >= 10, integer for integer flags); needs --valid N;
                     poor trials are stopped early (successive halving on each epoch's
                     validation accuracy); prints the best trial's test accuracy at the end.
                     A trial runs each seed in turn and scores their mean; the pruner watches
                     its first seed, and a trial it stops gets 'pruned' rows for the others
  --prune P          with --search, how poor trials stop early: halving (the default:
                     successive halving, its first judgement after 1 epoch or so), halving:N
                     (no trial judged before epoch N: slow starters survive), hyperband
                     (several halvings side by side, one of them never pruning), or none (every
                     trial to its last epoch: for a script whose early epochs say little about
                     its last, such as a one-cycle schedule that peaks a third of the way in)
  --more-seeds N     after --seeds, if those seeds cannot tell the best from its nearest rival
                     (of the settings `tied` with it, the best mean), run both on more seeds,
                     N in all: --seeds 0..2 --more-seeds 10 gives them seeds 3 to 9. Judged on
                     --seeds' runs alone, once, so a rerun plans the same runs
  --grid zip         pair the values instead of combining them: setting k is the k-th value of
                     every swept flag (--lr 0.1,0.3 --hidden 256,512: two settings, not four);
                     to compare whole recipes, e.g. the book's against a search's best
  --storage URL      keep the study in a database (sqlite:///sweep.db,
                     postgresql://user@host:5432/db) instead of DIR/study.log; the same command
                     on several machines splits the work, and a machine's runs lost mid-way are
                     retried (Optuna's heartbeat: after %(grace)d s of silence)
  --study NAME       the study's name in the database (default: --out as typed)
  --release HOST     run again the runs that HOST holds (a machine that is gone; a journal file
                     has no heartbeat, so a run held elsewhere for %(hold)d min is reported)

Files in --out: results.csv (one row per run), histories/<run>.json, summary.md, curves.png,
one PNG per swept flag; flags that write files (--plot, --history, --save, --predict) write one
file per run under DIR/files/.
"""


# ---------------------------------------------------------------------------
# The sweep: plan -> study and workers -> report
# ---------------------------------------------------------------------------


def sweep(argv: Sequence[str], show: bool = False) -> 'pandas.DataFrame':
    """Run a sweep from its command line (without the word sweep); return results.csv (DataFrame),
    with summary.md's table (the verdicts of d2lkit.sweep_report) as its .attrs['summary'].

    Raises SweepError for a bad line (before anything is written), d2l.D2LError for a bad file.
    """
    import pandas as pd

    from d2lkit import sweep_report, sweep_runs

    plan = sweep_plan.make_plan(argv)
    final = sweep_runs.run_sweep(plan)  # a search's final run goes on while the report is written
    if plan.more_seeds and plan_more_seeds(plan):
        sweep_runs.run_sweep(plan)
    if not (plan.out / 'results.csv').exists():
        if final is not None:
            print(final.answer())
        return pd.DataFrame(columns=plan.columns)
    table = sweep_report.report(plan.out, [a.column for a in plan.axes], plan.metric,
                                plan.higher_is_better, show=show, reference=plan.defaults)
    if plan.search:  # which searched flags explain the score: importance.png
        with sweep_runs.opened(plan) as study:
            sweep_report.importance_figure(study, plan.out / 'importance.png')
    if final is not None:
        print(final.answer())
    print(sweep_report.format_table(table))
    results = pd.read_csv(plan.out / 'results.csv')
    results.attrs['summary'] = table  # one row per setting: mean, std, the verdict against the best
    return results


def plan_more_seeds(plan: sweep_plan.Plan) -> bool:
    """--more-seeds N: when --seeds cannot tell the best from its nearest rival (undecided), give
    both the seeds up to N, in plan.extra; True if so. Judged on --seeds' runs only, so a rerun
    or a resumed sweep plans the same runs; nothing while one of those is missing."""
    from d2lkit import sweep_report

    results, settings = sweep_report.read_results(plan.out), plan.settings()
    if results['seed'].isin(plan.seeds).sum() < len(settings) * len(plan.seeds):
        return False  # runs still held elsewhere: their command decides when they are done
    axes = [a.column for a in plan.axes]
    rows = sweep_report.undecided(results, axes, plan.metric, plan.higher_is_better, plan.seeds)
    chosen = [i for i, setting in enumerate(settings)
              if any(all(sweep_report.same_value(setting[a], row[a]) for a in axes)
                     for _, row in rows.iterrows())]
    if not chosen:
        return False
    added = plan.added_seeds()
    plan.extra = {i: added for i in chosen}
    described = '; '.join(' '.join(f'{a}={settings[i][a]}' for a in axes) for i in chosen)
    print(f'sweep: {len(plan.seeds)} seeds cannot tell the best from its nearest rival '
          f'({described}): seeds {added[0]}..{added[-1]} for both (--more-seeds {plan.more_seeds})',
          file=sys.stderr)
    return True


def flags_argv(flags: dict) -> list[str]:
    """d2l.sweep's keywords as a command line: lr=[0.03, 0.1] -> --lr 0.03,0.1;
    hidden=[[128, 256], [512]]
    -> --hidden '128 256,512'; a tuple is one multi-value setting; True -> the bare flag."""
    argv: list[str] = []
    for name, value in flags.items():
        flag = '--' + name.replace('_', '-')
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv += [
                flag,
                ','.join(
                    ' '.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for v in value
                ),
            ]
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def cli(argv: Sequence[str]) -> None:
    """`python -m d2l sweep ...`: exit 2 with one line for a bad line, 130 after Ctrl-C."""
    argv = list(argv)
    if not argv or '-h' in argv or '--help' in argv:
        print(HELP % {'workers': DEFAULT_WORKERS, 'grace': GRACE_S, 'hold': HOLD_S // 60})
        return
    try:
        sweep(argv)
    except SweepError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
