"""The command line of the kit: `python -m d2l COMMAND`.

d2l.py's `if __name__ == '__main__':` block hands over to main() here. `compare` is
d2lkit.compare's; `sweep`, `exercises` and `compare-models` read their own flags (and --help)
in their modules (d2lkit.sweep, .exercises, .compare_models), imported only when asked for:
optuna loads only for a sweep.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from d2lkit import compare as comparing
from d2lkit import script as kit


def cli(argv: Sequence[str] | None = None) -> None:
    """`python -m d2l COMMAND`: compare CHAPTER [--plot PATH] [script flags] (d2lkit.compare);
    sweep, exercises and compare-models hand over to d2lkit.sweep, .exercises, .compare_models."""
    parser = argparse.ArgumentParser(prog='python -m d2l', allow_abbrev=False,
                                     description='Commands of the d2l teaching kit.')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    compare_parser = commands.add_parser(
        'compare', allow_abbrev=False, formatter_class=kit.HelpFormatter,
        help="run a chapter's scratch.py and concise.py with the same flags; "
             'compare them epoch by epoch',
        description=("Run a chapter's scratch.py and concise.py with the same flags and print "
                     'their\nper-epoch loss and accuracies side by side, with the differences.'),
        epilog='Every other flag goes to both scripts, e.g.\n'
               '  python -m d2l compare ch_softmax --epochs 3 --seed 1\n'
               '  python -m d2l compare ch_mlp --activation tanh --plot mlp.png')
    compare_parser.add_argument('chapter', help='ch_linear_regression, ch_softmax, ch_mlp, '
                                'ch_weight_decay or a folder path')
    compare_parser.add_argument('--plot', metavar='PATH', type=kit.png_file,
                                help="write a PNG overlaying both scripts' curves")
    # The kit's other commands read their own flags (and --help) in their d2lkit module,
    # imported only when asked for (optuna only for a sweep); listed here for
    # `python -m d2l --help`.
    commands.add_parser('sweep', add_help=False,
                        help='run a chapter script over settings and seeds '
                             '(python -m d2l sweep --help)')
    commands.add_parser('exercises', add_help=False,
                        help="list the books' exercises and the command "
                             'answering each; run one answer (python -m d2l exercises --help)')
    commands.add_parser('compare-models', add_help=False,
                        help='two saved classifiers on the same test images: accuracies, the '
                             'images one gets right and the other wrong, the difference of '
                             'their confusion matrices')
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['sweep']:
        from d2lkit import sweep as sweeping
        return sweeping.cli(argv[1:])
    if argv[:1] == ['exercises']:
        from d2lkit import exercises
        return exercises.main(argv[1:])
    if argv[:1] == ['compare-models']:
        from d2lkit import compare_models
        return compare_models.cli(argv[1:])
    args, flags = parser.parse_known_args(argv)
    comparing.compare(args.chapter, flags, args.plot)


def main() -> None:
    """`python -m d2l`: run cli() as every chapter script runs its main (kit.run_script)."""
    kit.run_script(cli)
