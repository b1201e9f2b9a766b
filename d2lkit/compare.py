"""`python -m d2l compare CHAPTER`: a chapter's scratch.py and concise.py, epoch by epoch.

Both scripts run in this process with the same flags (each returns its history); the table lines
up their losses and accuracies with the differences, and --plot overlays their curves.

    python -m d2l compare ch_softmax --epochs 3
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

import d2l
from d2lkit import script as kit


# losses: compared relative; valid_acc: what test_acc is called in a run with --valid; a
# regression's --valid adds valid_loss beside its test_loss
_COMPARED = {'train_loss': 'train loss', 'valid_loss': 'valid loss', 'test_loss': 'test loss',
             'train_acc': 'train acc', 'test_acc': 'test acc', 'valid_acc': 'valid acc'}


def _plot_comparison(histories: dict[str, dict[str, list[float]]], keys: list[str],
                     path: d2l.PathLike, title: str) -> str | None:
    """Overlay the scratch and concise curves: loss on the left, accuracies on the right."""
    plt = d2l.pyplot()
    loss_keys = [k for k in keys if k.endswith('_loss')]
    panels = [p for p in (loss_keys, [k for k in keys if k not in loss_keys]) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        # one colour per quantity; solid scratch, dashed concise
        for color, key in enumerate(panel):
            for kind, fmt in (('scratch', 'o-'), ('concise', 'x--')):
                values = histories[kind][key]
                ax.plot(range(1, len(values) + 1), values, fmt, color=f'C{color}',
                        label=f'{_COMPARED[key]}, {kind}')
        losses = [v for key in panel for kind in histories for v in histories[kind][key]]
        if panel[0].endswith('_loss') and max(losses) > 100 * min(losses) > 0:
            # linear regression's loss falls 1000-fold: on a linear axis it looks like 0
            ax.set_yscale('log')
        ax.set_xlabel('epoch'), ax.set_ylabel('loss' if panel[0].endswith('_loss') else 'accuracy')
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True), ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return d2l.finish_figure(fig, path, 'compare')


def _chapter_dir(chapter: d2l.PathLike) -> Path:
    """The folder of a chapter named like ch_softmax (next to d2l.py) or given as a path."""
    here = Path(d2l.__file__).resolve().parent
    for folder in (Path(chapter), here / chapter):
        if (folder / 'scratch.py').is_file() and (folder / 'concise.py').is_file():
            return folder
    known = sorted(p.parent.name for p in here.glob('ch_*/scratch.py')
                   if (p.parent / 'concise.py').is_file())
    raise d2l.D2LError(f'no chapter {str(chapter)!r} with a scratch.py and a concise.py; '
                       f'choose one of: {", ".join(known) or "(none found)"}')


def _run_both(folder: Path, flags: list[str]) -> dict[str, dict[str, list[float]]]:
    """Run folder/scratch.py and folder/concise.py in this process with the same flags; return
    their histories."""
    histories = {}
    for kind in ('scratch', 'concise'):
        print(f'== {folder.name}/{kind}.py {" ".join(flags)}'.rstrip() + ' ==', flush=True)
        try:
            histories[kind] = kit.load_script(folder / f'{kind}.py').main(flags)
        except SystemExit as e:
            if e.code == 2:  # argparse refused a flag, maybe one only the other script takes
                print('compare passes every flag to both scripts; give only flags that '
                      f'{folder.name}/scratch.py and concise.py both take (see --help of each)',
                      file=sys.stderr)
            raise
    return histories


def _comparison_table(s: dict[str, list[float]], c: dict[str, list[float]], keys: list[str]
                      ) -> tuple[list[str], float, float]:
    """The per-epoch table of two histories; returns (lines, largest relative loss diff, largest
    accuracy diff)."""
    width = {k: 11 if k.endswith('_loss') else 10 for k in keys}  # a loss like 0.000143290 takes 11
    lines = [('     ' + ''.join(f'  {_COMPARED[k]:^{2 * width[k] + 11}}' for k in keys)).rstrip(),
             'epoch' + ''.join(f'  {"scratch":>{width[k]}} {"concise":>{width[k]}} '
                               f'{"rel diff" if k.endswith("_loss") else "diff":>9}' for k in keys)]
    loss_diff = acc_diff = 0.0
    for i in range(min((len(s[k]) for k in keys), default=0)):
        line = f'{i + 1:>5}'
        for k in keys:
            a, b = s[k][i], c[k][i]
            if k.endswith('_loss'):
                diff = abs(a - b) / max(abs(a), abs(b), 1e-30)
                loss_diff = max(loss_diff, diff)
                line += f'  {a:>#11.6g} {b:>#11.6g} {diff:>9.1e}'
            else:
                diff = abs(a - b)
                acc_diff = max(acc_diff, diff)
                line += f'  {a:>10.4f} {b:>10.4f} {diff:>9.4f}'
        lines.append(line)
    return lines, loss_diff, acc_diff


def compare(chapter: d2l.PathLike, flags: Sequence[str] = (),
            plot_path: d2l.PathLike | None = None, loss_rtol: float = 1e-4,
            acc_atol: float = 5e-4) -> dict[str, dict[str, list[float]] | float | bool]:
    """Run a chapter's scratch.py and concise.py on the same flags; print their epochs side by side.

    Returns both histories, the largest relative loss difference, the largest
    accuracy difference and whether they agree within the tolerances.
    """
    folder, flags = _chapter_dir(chapter), list(flags)
    histories = _run_both(folder, flags)
    s, c = histories['scratch'], histories['concise']
    keys = [k for k in _COMPARED if s.get(k) and c.get(k)]
    print(f'\n{folder.name}: scratch.py vs concise.py' + (f' ({" ".join(flags)})' if flags else ''))
    lines, loss_diff, acc_diff = _comparison_table(s, c, keys)
    print('\n'.join(lines))
    agree = loss_diff <= loss_rtol and acc_diff <= acc_atol
    has_acc = any(not k.endswith('_loss') for k in keys)  # regression has losses only
    print(f'largest difference: loss {loss_diff:.1e} relative'
          + (f', accuracy {acc_diff:.4f}' if has_acc else '')
          + f' -> they {"agree within" if agree else "differ by more than"} {loss_rtol:g} relative'
          + (f' and {acc_atol:g}' if has_acc else ''))
    if s.get('seconds') and c.get('seconds'):
        print(f'seconds per epoch: scratch {np.mean(s["seconds"]):.2f}, '
              f'concise {np.mean(c["seconds"]):.2f}')
    if plot_path and keys:
        path = _plot_comparison(histories, keys, plot_path, f'{folder.name}: scratch vs concise')
        print(f'comparison plot written to {path}')
    return {**histories, 'max_loss_rel_diff': loss_diff, 'max_acc_diff': acc_diff, 'agree': agree}
