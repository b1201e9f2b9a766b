"""`python -m d2l compare-models A.pt B.pt`: two saved classifiers on the same test images.

A weights file written with a chapter script's --save records the script and the flags that shape
its model (d2l.save_weights(..., settings)). Each model is rebuilt by running that script's
main(['--load', FILE, flags...]): the script restores and evaluates it as its own --load does, and
returns each test image's true class and prediction in its history
(d2lkit.script.evaluate_saved). This module lines the two up: each one's accuracy, the images one
gets right and the other wrong, the pairs of classes whose confusion changed most, and with
--confusion-diff a PNG of the difference of the two confusion matrices (B minus A).

    python ch_softmax/scratch.py --save softmax.pt && python ch_mlp/scratch.py --save mlp.pt
    python -m d2l compare-models softmax.pt mlp.pt --confusion-diff diff.png
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import torch

import d2l
from d2lkit import script as kit

ROOT = Path(d2l.__file__).resolve().parent
# The classification scripts whose saved weights can be compared (all take --load on the test set).
CLASSIFIERS = ('ch_softmax/scratch.py', 'ch_softmax/concise.py', 'ch_mlp/scratch.py',
               'ch_mlp/concise.py', 'ch_mlp/best.py', 'ch_mlp/manual.py')


def read_settings(path: d2l.PathLike) -> d2l.Settings:
    """The settings a weights file records; one D2LError line for a missing, bad or foreign one."""
    d2l.load_weights(path)  # a missing file, not a weights file, no dict of tensors: its own line
    saved = torch.load(path, map_location='cpu', weights_only=True)
    settings = saved['settings'] if d2l.is_weights_file(saved) else {}
    model = settings.get('model')
    if model is None:
        raise d2l.D2LError(f'{path} records no settings (saved before they were recorded); '
                           'train again with --save to compare it')
    if model not in CLASSIFIERS:
        raise d2l.D2LError(f'{path} holds weights of {model}, not of a Fashion-MNIST classifier; '
                           f'compare files saved with --save by {", ".join(CLASSIFIERS)}')
    return settings


def script_flags(settings: d2l.Settings) -> list[str]:
    """The flags that rebuild the model a weights file's settings describe: ['--hidden', '256' ...].

    Each key is its script's flag (hidden -> --hidden); lists give several values; a switch
    (True or False) gives --KEY or --no-KEY (best.py's --batchnorm, --no-mirror-average) where
    it is not the script's default. If a flag is missing, the script's --load refuses the file
    in one line naming the setting that differs.
    """
    defaults = vars(kit.load_script(ROOT / settings['model']).parse_args([]))
    flags = []
    for key, value in settings.items():
        flag = '--' + key.replace('_', '-')
        if key == 'model' or (isinstance(value, bool) and value == defaults.get(key, True)):
            continue
        if isinstance(value, bool):
            flags.append(flag if value else '--no-' + key.replace('_', '-'))
        elif isinstance(value, (list, tuple)):
            flags += [flag, *map(str, value)]
        else:
            flags += [flag, str(value)]
    if settings['model'] == 'ch_mlp/best.py':  # one width is repeated --depth times (default 2)
        flags += ['--depth', str(len(settings['hidden']))]
    return flags


def evaluate(path: d2l.PathLike, settings: d2l.Settings,
             extra: Sequence[str]) -> dict[str, list[float]]:
    """Run the file's script with --load and its flags; return its history (with predictions)."""
    argv = ['--load', str(path), *script_flags(settings), *extra]
    print(f'== {settings["model"]} {" ".join(argv)} ==', flush=True)
    return kit.load_script(ROOT / settings['model']).main(argv)


def compare_models(a: d2l.PathLike, b: d2l.PathLike, diff_path: d2l.PathLike | None = None,
                   data_root: str | None = None,
                   device: str | None = None) -> dict[str, torch.Tensor | float]:
    """Evaluate two saved classifiers on the same test images and print how they differ.

    Returns both confusion matrices, their difference (B - A), the accuracies, and how many
    images only A (only_a) or only B (only_b) gets right.
    """
    settings = {'A': read_settings(a), 'B': read_settings(b)}  # every file checked before any work
    if settings['A'].get('dataset') != settings['B'].get('dataset'):
        raise d2l.D2LError(f'{a} was trained on {settings["A"].get("dataset")} and {b} on '
                           f'{settings["B"].get("dataset")}; compare models of the same data set')
    extra = ((['--data-root', data_root] if data_root else [])
             + (['--device', device] if device else []))
    runs = {name: evaluate(path, settings[name], extra) for name, path in (('A', a), ('B', b))}
    labels = torch.tensor(runs['A']['labels'])
    if runs['B']['labels'] != runs['A']['labels']:  # not with one data set; checked all the same
        raise d2l.D2LError('the two runs saw different test images; give both the same --data-root')
    predicted = {name: torch.tensor(run['predicted']) for name, run in runs.items()}
    right = {name: p == labels for name, p in predicted.items()}
    names = d2l.text_labels(settings['A'].get('dataset', 'fashion-mnist'))(range(10))
    matrices = {name: d2l.count_pairs(labels, p, len(names)) for name, p in predicted.items()}
    difference = matrices['B'] - matrices['A']
    only_a, only_b = int((right['A'] & ~right['B']).sum()), int((right['B'] & ~right['A']).sum())
    n = len(labels)
    accuracy = {name: int(r.sum()) / n for name, r in right.items()}  # as the scripts count it

    print()
    for name, path in (('A', a), ('B', b)):
        flags = ' '.join(script_flags(settings[name]))
        print(f'{name}: {path} ({settings[name]["model"]}{" " + flags if flags else ""}): '
              f'test acc {accuracy[name]:.4f}')
    both_right = int((right['A'] & right['B']).sum())
    both_wrong = int((~right['A'] & ~right['B']).sum())
    print(f'right in A only: {only_a} images; right in B only: {only_b}; both right: {both_right}; '
          f'both wrong: {both_wrong} (of {n})')
    k = len(names)
    changes = [(int(difference[i, j]), i, j) for i in range(k) for j in range(k) if i != j]
    fewer = sorted(c for c in changes if c[0] < 0)[:3]  # the largest drops first
    more = sorted((c for c in changes if c[0] > 0), key=lambda c: (-c[0], c[1], c[2]))[:3]
    for title, chosen in (('mistakes B makes less often than A', fewer),
                          ('mistakes B makes more often than A', more)):
        if chosen:
            print(f'{title} (true -> predicted: A, B):')
            for change, i, j in chosen:
                print(f'  {names[i]} -> {names[j]}  {int(matrices["A"][i, j])}, '
                      f'{int(matrices["B"][i, j])} ({change:+d})')
    if diff_path:
        d2l.draw_matrix(difference, names, diff_path,
                        f'B - A: {Path(b).name} minus {Path(a).name}\n'
                        'diagonal > 0: B gets more right; '
                        'elsewhere < 0: B makes fewer of those mistakes',
                        difference=True)
        print(f'difference of the confusion matrices written to {diff_path}')
    return {'confusion_a': matrices['A'], 'confusion_b': matrices['B'], 'difference': difference,
            'test_acc_a': accuracy['A'], 'test_acc_b': accuracy['B'],
            'only_a': only_a, 'only_b': only_b}


def cli(argv: Sequence[str] | None = None) -> dict[str, torch.Tensor | float]:
    """`python -m d2l compare-models A.pt B.pt [--confusion-diff PATH] [--data-root DIR] ...`."""
    parser = argparse.ArgumentParser(
        prog='python -m d2l compare-models', formatter_class=kit.HelpFormatter, allow_abbrev=False,
        description='Evaluate two classifiers saved with --save (softmax or MLP, any chapter\n'
                    'script) on the same test images: the accuracy of each, how many images each\n'
                    'gets right that the other gets wrong, the confusions that changed most, and\n'
                    'the difference of the two confusion matrices. Each file records its script\n'
                    'and flags, so the models rebuild themselves.',
        epilog='e.g.\n  python ch_softmax/scratch.py --save softmax.pt\n'
               '  python ch_mlp/scratch.py --save mlp.pt\n'
               '  python -m d2l compare-models softmax.pt mlp.pt --confusion-diff diff.png')
    parser.add_argument('a', metavar='A.pt', help='the first weights file')
    parser.add_argument('b', metavar='B.pt', help='the second weights file')
    parser.add_argument('--confusion-diff', metavar='PATH', type=kit.png_file,
                        help="write B's confusion matrix minus A's to this PNG")
    parser.add_argument('--data-root', metavar='DIR',
                        help='folder holding the IDX files (as for the scripts)')
    parser.add_argument('--device', type=kit.device_flag, help='cpu, cuda, cuda:N, mps or auto')
    args = parser.parse_args(argv)
    return compare_models(args.a, args.b, args.confusion_diff, args.data_root,
                          str(args.device) if args.device is not None else None)
