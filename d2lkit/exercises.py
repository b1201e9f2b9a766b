"""The books' exercises on the linear-network and MLP chapters, and how the kit answers each one.

`python -m d2l exercises` lists every exercise of two editions, in book order:
d2l-en 0.17.6 (d2l-zh 2.0 numbers them the same way), chapter_linear-networks and
chapter_multilayer-perceptrons, 75 exercises; d2l-en 1.0, chapter_linear-regression,
chapter_linear-classification and chapter_multilayer-perceptrons, 113 exercises. Where a page has
framework tabs, the PyTorch tab's list is the one counted; sub-questions belong to their exercise.

An exercise's ID is EDITION/PAGE.N, PAGE being the page's file name in the book's repository
(`0.17/mlp-scratch.1`, `1.0/mlp-implementation.7`). Its kind says how it is answered:
  run         a sweep of the kit's chapter scripts (`python -m d2l sweep ...`) measures the answer;
  code        a small snippet below computes it (`python -m d2l exercises ID` runs it);
  conceptual  no run answers it: a derivation or a discussion; the page's section to read.

    python -m d2l exercises                          # the list: ID  KIND  COMMAND
    python -m d2l exercises 0.17/mlp-scratch.1       # run that answer (a sweep folder per ID)
    python -m d2l exercises --write-doc docs/exercises.md --root exercises
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import difflib
import importlib
import inspect
import itertools
import math
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch

import d2l

# Two or three sentences per answer, written from the numbers of its run, printed under its
# table in docs/exercises.md; keyed by ID (the first ID of a pair's heading).
from d2lkit.exercise_notes import NOTES
from d2lkit import exercise_numbers, sweep_report
from d2lkit.sweep_plan import SWEEP_OPTIONS, seeds_of  # the sweep's own flags, not a script's

# The chapter scripts the answers run, in one place: a path that moves is changed here only.
SCRIPTS = {
    'linreg': 'ch_linear_regression/scratch.py',
    'linreg_concise': 'ch_linear_regression/concise.py',
    'softmax': 'ch_softmax/scratch.py',
    'softmax_concise': 'ch_softmax/concise.py',
    'mlp': 'ch_mlp/scratch.py',
    'mlp_concise': 'ch_mlp/concise.py',
    'polynomial': 'ch_model_selection/polynomial.py',
    'weight_decay': 'ch_weight_decay/scratch.py',
}
VALID = ('--valid', '10000')  # answers that pick a best setting pick it on held-out training images
# ... and where seeds 0, 1, 2 cannot tell the best from its nearest rival, both get seeds up to 9
PICK = (*VALID, '--more-seeds', '10')
KINDS = ('run', 'code', 'conceptual')


@dataclasses.dataclass(frozen=True)
class Stage:
    """A further sweep of a run answer, run after its first into FOLDER/NAME. Its flags may name
    the answer's chosen setting (best_setting: the best trial of its searches, on validation):
    '0.1,{lr}' is the book's 0.1, then the chosen --lr."""

    name: str                # its folder under the answer's; notes read it as ID#NAME
    what: str                # what it measures, in a few words
    sweep: tuple[str, ...]   # the script and its flags for `python -m d2l sweep`
    # K > 0: the sweep runs the K best trials of the answer's searches (finalists), zipped, and
    # the best of them by mean is the chosen setting
    finalists: int = 0

    def argv(self, folder: Path, flags: Sequence[str] = ()) -> list[str]:
        """Its sweep's argv with flags (with_flags), the chosen setting of the answer in folder
        (or its finalists) filled in. A search's own flags (--search, --prune) in flags are for
        the searches: a stage that runs a grid leaves them out."""
        if '--search' not in self.sweep:
            flags = _without(flags, ('--search', '--prune'))
        template = with_flags(self.sweep, flags)
        if self.finalists:
            settings = finalists(folder, self.finalists)
            zipped = [t for column in settings[0] for t in (
                '--' + column.replace('_', '-'), ','.join(s[column] for s in settings))]
            return [*template, '--grid', 'zip', *zipped]
        if not any('{' in token for token in template):
            return template
        chosen = best_setting(folder)
        try:
            return [token.format(**chosen) for token in template]
        except KeyError as e:
            flags = ' '.join(f'--{k} {v}' for k, v in chosen.items())
            raise d2l.D2LError(f'the setting chosen in {folder} ({flags}) chooses no '
                               f'{e.args[0]}') from None


def _searches(folder: Path) -> list[Path]:
    """An answer's search folders: its own and its stages' that hold a best.txt."""
    return [f for f in [folder, *sorted(folder.iterdir())] if (f / 'best.txt').is_file()]


def finalists(folder: Path, k: int) -> list[dict[str, str]]:
    """The k best trials of an answer's searches by validation accuracy (each trial one seed),
    distinct settings, {column: value as results.csv writes it}, best first."""
    rows = []
    for search in _searches(Path(folder)):
        results = pd.read_csv(search / 'results.csv', dtype=str)
        axes = sweep_report.axis_columns(results)
        for _, row in results[results['status'] == 'ok'].iterrows():
            rows.append((float(row['valid_acc']), {a: row[a] for a in axes}))
    chosen: list[dict[str, str]] = []
    for _, setting in sorted(rows, key=lambda r: -r[0]):
        if setting not in chosen:
            chosen.append(setting)
    if not chosen:
        raise d2l.D2LError(f'no search of {folder} has a finished trial: run the searches first')
    return chosen[:k]


def best_setting(folder: Path) -> dict[str, str]:
    """The flags of an answer's chosen setting, {column: value}: where its finalists ran (a
    stage's results.csv in FOLDER/finalists), the best of them by mean validation accuracy over
    their seeds; else, of its searches (folder's and its stages' best.txt lines, 'best of N
    trials: --lr 0.3 --hidden 512 (valid acc 0.8912, ...'), the one with the highest
    validation accuracy."""
    folder = Path(folder)
    if (folder / 'finalists' / 'results.csv').is_file():
        text = pd.read_csv(folder / 'finalists' / 'results.csv', dtype=str)  # values as written
        axes = sweep_report.axis_columns(text)
        table = sweep_report.summarize(sweep_report.read_results(folder / 'finalists'), axes,
                                       'valid_acc', True)
        for _, best in table[table['best']].iterrows():  # none where no finalist finished
            for _, row in text.iterrows():
                if all(sweep_report.same_value(row[a], best[a]) for a in axes):
                    return {a: row[a] for a in axes}
    best, found = None, []
    for path in [folder / 'best.txt', *sorted(folder.glob('*/best.txt'))]:
        line = path.read_text() if path.is_file() else ''
        chosen = re.match(r'best of \d+ trials: (.*?) \(valid acc ([0-9.]+)', line)
        found.append(f'{path}: {line.strip() or "no file"}')
        if chosen and (best is None or float(chosen[2]) > float(best[2])):
            best = chosen
    if best is None:
        raise d2l.D2LError(f'no search of {folder} names a chosen setting (run the search '
                           f'first): {found[0]}')
    tokens = best[1].split()
    return {flag[2:].replace('-', '_'): value for flag, value in zip(tokens[::2], tokens[1::2])}


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise: its ID, kind, a gist in the kit's words and what answers it."""

    id: str                        # EDITION/PAGE.N
    kind: str                      # run | code | conceptual
    gist: str                      # what it asks, in a few words (never the book's sentences)
    sweep: tuple[str, ...] = ()    # run: the script and its flags for `python -m d2l sweep`
    snippet: str = ''              # code: the name of a function in SNIPPETS
    pointer: str = ''              # conceptual: the page and section to read
    same_as: tuple[str, ...] = ()  # the other edition's exercises that ask the same question
    stages: tuple[Stage, ...] = ()  # run: further sweeps, run after the first

    @property
    def edition(self) -> str:
        return self.id.split('/')[0]

    @property
    def page(self) -> str:
        return self.id.split('/')[1].rsplit('.', 1)[0]

    @property
    def command(self) -> str:
        """The command line that answers it ('' for a conceptual exercise)."""
        if self.kind == 'run':
            return 'python -m d2l sweep ' + shlex.join(self.sweep)
        if self.kind == 'code':
            return f'python -m d2l exercises {self.id}'
        return ''


def list_axis(*values: Sequence[float | int]) -> str:
    """One sweep axis of a flag that takes several numbers (--hidden, --dropout), as one argument.

    Commas separate the axis's values, spaces the numbers of one value: list_axis([256], [256, 256])
    is '256,256 256', i.e. `--hidden 256` or `--hidden 256 256`. The sweep reads it this way.
    """
    return ','.join(' '.join(str(v) for v in value) for value in values)


def _sweep(script: str, *flags: str) -> tuple[str, ...]:
    return (SCRIPTS[script], *flags)


def _run(id: str, gist: str, sweep: tuple[str, ...], *same_as: str,
         stages: tuple[Stage, ...] = ()) -> Exercise:
    return Exercise(id, 'run', gist, sweep=sweep, same_as=same_as, stages=stages)


def _code(id: str, gist: str, snippet: str, *same_as: str) -> Exercise:
    return Exercise(id, 'code', gist, snippet=snippet, same_as=same_as)


def _idea(id: str, gist: str, pointer: str, *same_as: str) -> Exercise:
    return Exercise(id, 'conceptual', gist, pointer=pointer, same_as=same_as)


# Commands that answer a question asked in both editions, shared by both entries.
# the book's N(0, 0.01^2), zero weights, and a variance of 1000 (sigma 31.62)
_INIT_LINREG = _sweep('linreg', '--init', 'normal:0.01,zero,normal:31.62')
_LR_LINREG = _sweep('linreg', '--lr', '0.001,0.003,0.01,0.03,0.1', '--epochs', '3,10')
_REDUCTION = _sweep('linreg_concise', '--reduction', 'mean,sum', '--lr', '0.003,0.03,0.3')
_HUBER = _sweep('linreg_concise', '--loss', 'squared,huber,abs')
_SOFTMAX_EPOCHS = _sweep('softmax_concise', '--epochs', '50')
_HIDDEN = _sweep('mlp', '--hidden', '16,32,64,128,256,512,1024', *PICK)
_ONE_MORE_LAYER = _sweep('mlp', '--hidden', list_axis([256], [256, 256], [256, 128]), *PICK)
_MLP_LR = _sweep('mlp', '--lr', '0.01,0.03,0.1,0.3,1', *PICK)
# The joint search: the four hyperparameters the exercise names and the batch size, one seed a
# trial on validation, searched three times: Hyperband (one of its brackets never prunes, so slow
# starters survive), successive halving judging no trial before epoch 5, and no pruning, to show
# what pruning buys. One seed flatters the luckiest trial (the last epoch of constant-rate SGD
# jumps by +-0.02), so the 3 best trials of all three run again on two fresh seeds, and the best
# of those by mean is the chosen setting; it then meets the book's over 3 seeds, up to 10 where
# they are tied. Batches go down to 32, which make 8 times as many SGD steps an epoch as the
# book's 256 (and cost more per image on a CPU), so the epochs stop at 40.
_JOINT_SEARCH = ('mlp_concise', '--search', '24', '--lr', '0.03..1', '--hidden', '64..1024',
                 '--depth', '1..2', '--epochs', '10..40', '--batch-size', '32..512',
                 '--seeds', '0', *VALID)
_JOINT = _sweep(*_JOINT_SEARCH, '--prune', 'hyperband')
_BOOK_VS_CHOSEN = ('--grid', 'zip', '--lr', '0.1,{lr}', '--hidden', '256,{hidden}',
                   '--depth', '1,{depth}', '--epochs', '10,{epochs}',
                   '--batch-size', '256,{batch_size}')
_JOINT_STAGES = (
    Stage('halving', 'the same search, successive halving judging no trial before epoch 5',
          _sweep(*_JOINT_SEARCH, '--prune', 'halving:5')),
    Stage('no-pruning', 'the same search without pruning',
          _sweep(*_JOINT_SEARCH, '--prune', 'none')),
    Stage('finalists', 'the 3 best trials of the three searches again, on seeds 1 and 2',
          _sweep('mlp_concise', *VALID, '--seeds', '1,2'), finalists=3),
    Stage('confirm', "the book's setting against the chosen one, on validation: 3 seeds, up to "
          '10 where they are tied',
          _sweep('mlp_concise', *_BOOK_VS_CHOSEN, *PICK, '--seeds', '0..2')),
    Stage('test', 'both on all the training images: test accuracy, seeds 0, 1, 2',
          _sweep('mlp_concise', *_BOOK_VS_CHOSEN, '--seeds', '0..2')),
)
_ACTIVATION = _sweep('mlp_concise', '--activation', 'relu,sigmoid,tanh', *PICK)
_MLP_INIT = _sweep('mlp_concise', '--init', 'normal:0.01,xavier,zero,constant:0.01,normal:1',
                   *PICK)
# lambda chosen on 1,000 validation examples drawn like the 20 training ones; the grid runs on
# until the larger values tie or lose on validation, and 1000 diverges (lr * lambda = 3)
WD_VALID = ('--valid', '1000')
TEN_SEEDS = '0,1,2,3,4,5,6,7,8,9'  # spelled out: estimated_seconds counts the commas
_LAMBDA = _sweep('weight_decay', *WD_VALID, '--weight-decay',
                 '0,0.001,0.003,0.01,0.03,0.1,0.3,1,3,10,30,100,300,1000', '--seeds', TEN_SEEDS)
_LAMBDA_SEEDS = _sweep('weight_decay', *WD_VALID, '--weight-decay', '0,1,3,10,30,100,300,1000',
                       '--seeds', TEN_SEEDS)
_DROPOUT = ('--hidden', '256', '256', '--lr', '0.5')  # the dropout page's network: 784-256-256-10
_DROPOUT_RATES = _sweep('mlp', *_DROPOUT, '--dropout',
                        list_axis([0, 0], [0.2, 0.5], [0.5, 0.2], [0.2, 0.2], [0.5, 0.5]), *PICK)
_DROPOUT_EPOCHS = _sweep('mlp', *_DROPOUT, '--dropout', list_axis([0, 0], [0.2, 0.5]),
                         '--epochs', '30')
_DROPOUT_STATS = _sweep('mlp', *_DROPOUT, '--dropout', list_axis([0, 0], [0.2, 0.5]),
                        '--layer-stats', 'stats.json')
_DROPOUT_DECAY = _sweep('mlp', *_DROPOUT, '--dropout', list_axis([0, 0], [0.2, 0.5]),
                        '--weight-decay', '0,0.0001,0.001', *PICK)
_SAME_INIT = _sweep('softmax', '--init', 'normal:0.01,zero,constant:0.5')
# 4,000 SGD steps whatever the data size (the book's 400 epochs of 100 examples)
_POLYNOMIAL = _sweep('polynomial', '--steps', '4000', '--degree', '1,2,3,5,9,12,19',
                     '--num-train', '10,20,50,100')


CATALOG: list[Exercise] = [
    # ---- d2l-en 0.17.6, chapter_linear-networks --------------------------------------------
    _idea('0.17/linear-regression.1',
          'the constant b minimising squared deviations; its link to the Gaussian',
          'linear-regression § Analytic Solution; § The Normal Distribution and Squared Loss'),
    _code('0.17/linear-regression.2',
          'closed-form least squares via the normal equations; when it beats SGD, when it fails',
          'normal_equations'),
    _idea('0.17/linear-regression.3',
          'Laplace noise: its likelihood, closed form, SGD near the optimum',
          'linear-regression § The Normal Distribution and Squared Loss'),
    _run('0.17/linear-regression-scratch.1', 'does training still work from all-zero weights?',
         _INIT_LINREG),
    _code('0.17/linear-regression-scratch.2', "fit Ohm's law (resistance) with autograd", 'ohm'),
    _idea('0.17/linear-regression-scratch.3', "recover a temperature from Planck's law by fitting",
          'linear-regression-scratch § Defining the Optimization Algorithm'),
    _code('0.17/linear-regression-scratch.4',
          'second derivatives: what goes wrong, how to get them', 'second_derivative'),
    _code('0.17/linear-regression-scratch.5', 'why the squared loss reshapes y',
          'reshape_broadcast'),
    _run('0.17/linear-regression-scratch.6', 'how fast the loss falls for several learning rates',
         _LR_LINREG),
    _code('0.17/linear-regression-scratch.7',
          'data_iter when the batch size does not divide the data', 'last_batch'),
    _run('0.17/linear-regression-concise.1', 'sum versus mean loss: the learning rate that matches',
         _REDUCTION),
    _run('0.17/linear-regression-concise.2', "swap in Huber's loss", _HUBER),
    _code('0.17/linear-regression-concise.3', "reach the gradient of the linear layer's weight",
          'grad_access'),
    _idea('0.17/softmax-regression.1',
          "cross-entropy's second derivative equals softmax's variance",
          'softmax-regression § Softmax and Derivatives'),
    _idea('0.17/softmax-regression.2',
          'binary codes for three equally likely classes; coding blocks',
          'softmax-regression § Information Theory Basics'),
    _idea('0.17/softmax-regression.3',
          'log-sum-exp as the real soft maximum: bounds, limit, softmin',
          'softmax-regression § Softmax Operation'),
    _code('0.17/image-classification-dataset.1', 'does a small batch size slow reading down?',
          'loader_batch_size'),
    _idea('0.17/image-classification-dataset.2',
          'is the data iterator fast enough; ways to speed it up',
          'image-classification-dataset § Reading a Minibatch'),
    _code('0.17/image-classification-dataset.3', 'which other data sets the framework offers',
          'datasets_available'),
    _code('0.17/softmax-regression-scratch.1', 'naive softmax overflows (exp(50) and beyond)',
          'softmax_overflow'),
    _code('0.17/softmax-regression-scratch.2', 'naive cross-entropy takes log(0)', 'log_of_zero'),
    _code('0.17/softmax-regression-scratch.3', 'fixes for both: subtract the max, log-sum-exp',
          'softmax_overflow'),
    _idea('0.17/softmax-regression-scratch.4',
          'is the most likely label always the right output (medicine)?',
          'softmax-regression § Model Prediction and Evaluation'),
    _idea('0.17/softmax-regression-scratch.5', 'softmax over a huge vocabulary: what breaks',
          'softmax-regression § Parameterization Cost of Fully-Connected Layers'),
    _run('0.17/softmax-regression-concise.1', 'vary batch size, epochs and learning rate',
         _sweep('softmax_concise', '--lr', '0.03,0.1,0.3', '--batch-size', '64,256,1024', *PICK)),
    _run('0.17/softmax-regression-concise.2', 'train longer: does held-out accuracy fall, and why?',
         _SOFTMAX_EPOCHS),
    # ---- d2l-en 0.17.6, chapter_multilayer-perceptrons -------------------------------------
    _idea('0.17/mlp.1', "pReLU's derivative", 'mlp § Activation Functions'),
    _idea('0.17/mlp.2', 'a ReLU network is continuous and piecewise linear',
          'mlp § ReLU Function'),
    _code('0.17/mlp.3', 'tanh(x) + 1 = 2 sigmoid(2x)', 'tanh_sigmoid'),
    _idea('0.17/mlp.4', 'a nonlinearity computed per minibatch: the trouble it brings',
          'mlp § From Linear to Nonlinear'),
    _run('0.17/mlp-scratch.1', 'the best number of hidden units, all else fixed', _HIDDEN),
    _run('0.17/mlp-scratch.2', 'add a second hidden layer', _ONE_MORE_LAYER),
    _run('0.17/mlp-scratch.3', 'the best learning rate for a fixed model and epochs', _MLP_LR),
    _run('0.17/mlp-scratch.4',
         'the best result tuning learning rate, epochs, depth, width and batch size jointly', _JOINT,
         stages=_JOINT_STAGES),
    _idea('0.17/mlp-scratch.5', 'why several hyperparameters at once are hard to tune',
          'underfit-overfit § Model Selection'),
    _idea('0.17/mlp-scratch.6', 'a smart strategy for searching several hyperparameters',
          'underfit-overfit § Validation Dataset; § K-Fold Cross-Validation'),
    _run('0.17/mlp-concise.1', 'how many hidden layers (and which learning rate) work best',
         _sweep('mlp_concise',
                '--hidden', list_axis([256], [256, 256], [256, 256, 256], [512, 256, 128]),
                '--lr', '0.1,0.3', *PICK)),
    _run('0.17/mlp-concise.2', 'which activation works best', _ACTIVATION),
    _run('0.17/mlp-concise.3', 'which weight initialisation works best', _MLP_INIT),
    _code('0.17/underfit-overfit.1', 'solve polynomial regression exactly with linear algebra',
          'exact_polynomial'),
    _run('0.17/underfit-overfit.2', 'training and test loss against degree and amount of data',
         _POLYNOMIAL),
    _code('0.17/underfit-overfit.3',
          'drop the 1/i! scaling of the features: what happens, other fixes', 'feature_scaling'),
    _idea('0.17/underfit-overfit.4', 'can generalisation error ever be zero?',
          'underfit-overfit § Training Error and Generalization Error'),
    _run('0.17/weight-decay.1', 'training and held-out error against lambda', _LAMBDA),
    _run('0.17/weight-decay.2', 'pick lambda on a validation set; is that choice stable?',
         _LAMBDA_SEEDS),
    _idea('0.17/weight-decay.3', 'the update rule under an L1 penalty',
          'weight-decay § Norms and Weight Decay'),
    _code('0.17/weight-decay.4', "the Frobenius norm as the matrices' w^T w", 'frobenius'),
    _idea('0.17/weight-decay.5', 'other remedies for overfitting',
          'underfit-overfit § Underfitting or Overfitting?'),
    _idea('0.17/weight-decay.6', 'weight decay as a prior P(w)',
          'weight-decay § Norms and Weight Decay'),
    _run('0.17/dropout.1', "change and swap the two layers' dropout rates", _DROPOUT_RATES),
    _run('0.17/dropout.2', 'with and without dropout over many more epochs', _DROPOUT_EPOCHS),
    _run('0.17/dropout.3',
         "variance of each hidden layer's activations over training, with and without dropout",
         _DROPOUT_STATS),
    _idea('0.17/dropout.4', 'why dropout is off at test time', 'dropout § Dropout in Practice'),
    _run('0.17/dropout.5', 'dropout and weight decay, alone and together', _DROPOUT_DECAY),
    _idea('0.17/dropout.6', 'drop single weights instead of activations',
          'dropout § Robustness through Perturbations'),
    _idea('0.17/dropout.7', 'invent another noise-injection method that beats dropout',
          'dropout § Robustness through Perturbations'),
    _idea('0.17/backprop.1', 'the shape of a gradient with respect to a matrix input',
          'backprop § Backpropagation'),
    _idea('0.17/backprop.2', 'add a hidden bias: its graph, forward and backward equations',
          'backprop § Computational Graph of Forward Propagation; § Backpropagation'),
    _idea('0.17/backprop.3', 'memory needed for training versus prediction',
          'backprop § Training Neural Networks'),
    _idea('0.17/backprop.4', 'second derivatives: the graph and the cost',
          'backprop § Backpropagation'),
    _idea('0.17/backprop.5', 'a graph too large for one GPU: split it, or smaller batches?',
          'backprop § Training Neural Networks'),
    _idea('0.17/numerical-stability-and-init.1', 'symmetries beyond permuting hidden units',
          'numerical-stability-and-init § Breaking the Symmetry'),
    _run('0.17/numerical-stability-and-init.2',
         'may all weights of linear or softmax regression start equal?', _SAME_INIT),
    _idea('0.17/numerical-stability-and-init.3',
          "eigenvalue bounds of a matrix product and gradients' conditioning",
          'numerical-stability-and-init § Vanishing and Exploding Gradients'),
    _idea('0.17/numerical-stability-and-init.4',
          'repair divergence after the fact (layer-wise rate scaling)',
          'numerical-stability-and-init § Beyond'),
    _idea('0.17/environment.1', 'a search engine changes: how users and advertisers react',
          'environment § Nonstationary Distributions; § Considering the Environment'),
    _code('0.17/environment.2', 'a covariate shift detector: a classifier telling the sets apart',
          'covariate_shift'),
    _code('0.17/environment.3', 'a covariate shift corrector: reweight training examples',
          'covariate_shift'),
    _idea('0.17/environment.4', 'besides shift, what else makes empirical risk miss the risk',
          'environment § Empirical Risk and Risk'),
    _idea('0.17/kaggle-house-price.1', 'submit to Kaggle and report the score (needs Kaggle)',
          'kaggle-house-price § Submitting Predictions on Kaggle'),
    _idea('0.17/kaggle-house-price.2', 'predict the log price directly',
          'kaggle-house-price § Training'),
    _idea('0.17/kaggle-house-price.3', 'is filling gaps with the mean always fine?',
          'kaggle-house-price § Data Preprocessing'),
    _idea('0.17/kaggle-house-price.4',
          'tune by K-fold cross-validation (house data, no kit script)',
          'kaggle-house-price § K-Fold Cross-Validation'),
    _idea('0.17/kaggle-house-price.5', 'a better model: layers, weight decay, dropout (house data)',
          'kaggle-house-price § Model Selection'),
    _idea('0.17/kaggle-house-price.6', 'skip standardising the numeric features',
          'kaggle-house-price § Data Preprocessing'),
    # ---- d2l-en 1.0, chapter_linear-regression ---------------------------------------------
    _idea('1.0/linear-regression.1',
          'the best constant under squared and absolute loss; the Gaussian',
          'linear-regression § Analytic Solution', '0.17/linear-regression.1'),
    _idea('1.0/linear-regression.2', 'affine in x is linear in (x, 1)',
          'linear-regression § Model'),
    _idea('1.0/linear-regression.3', 'quadratic functions of x as a network',
          'linear-regression § Model'),
    _idea('1.0/linear-regression.4', 'a rank-deficient design matrix: effects, noise as a fix, SGD',
          'linear-regression § Analytic Solution'),
    _idea('1.0/linear-regression.5', 'Laplace noise: likelihood, closed form, minibatch SGD',
          'linear-regression § The Normal Distribution and Squared Loss',
          '0.17/linear-regression.3'),
    _idea('1.0/linear-regression.6', 'why two stacked linear layers add nothing',
          'linear-regression § Linear Regression as a Neural Network'),
    _idea('1.0/linear-regression.7',
          'prices: why Gaussian noise fits badly, log prices, penny stocks',
          'linear-regression § The Normal Distribution and Squared Loss'),
    _idea('1.0/linear-regression.8', 'counts: Poisson losses for the rate and the log rate',
          'linear-regression § The Normal Distribution and Squared Loss'),
    _idea('1.0/oo-design.1', "find the classes' full code in the d2l library (here: d2l.py)",
          'oo-design § Utilities'),
    _code('1.0/oo-design.2', 'without save_hyperparameters, are the arguments still attributes?',
          'hyperparameters_kept'),
    _code('1.0/synthetic-regression-data.1', 'a last batch that does not fill up; dropping it',
          'last_batch', '0.17/linear-regression-scratch.7'),
    _idea('1.0/synthetic-regression-data.2', 'data larger than memory; shuffling it on disk',
          'synthetic-regression-data § Reading the Dataset'),
    _code('1.0/synthetic-regression-data.3', 'generate fresh data on every pass', 'generated_data'),
    _code('1.0/synthetic-regression-data.4', 'a generator that gives the same data every pass',
          'generated_data'),
    _run('1.0/linear-regression-scratch.1', 'zero initial weights; and a variance of 1000',
         _INIT_LINREG, '0.17/linear-regression-scratch.1'),
    _code('1.0/linear-regression-scratch.2', "fit Ohm's law (resistance) with autograd", 'ohm',
          '0.17/linear-regression-scratch.2'),
    _idea('1.0/linear-regression-scratch.3', "fit Planck's law to find a temperature",
          'linear-regression-scratch § Defining the Optimization Algorithm',
          '0.17/linear-regression-scratch.3'),
    _code('1.0/linear-regression-scratch.4', 'second derivatives of the loss: problems and fixes',
          'second_derivative', '0.17/linear-regression-scratch.4'),
    _code('1.0/linear-regression-scratch.5', 'why the loss reshapes y', 'reshape_broadcast',
          '0.17/linear-regression-scratch.5'),
    _run('1.0/linear-regression-scratch.6',
         'learning rates and more epochs: how fast the loss falls', _LR_LINREG,
         '0.17/linear-regression-scratch.6'),
    _code('1.0/linear-regression-scratch.7',
          'data_iter at the end of an epoch that does not divide', 'last_batch',
          '0.17/linear-regression-scratch.7'),
    _code('1.0/linear-regression-scratch.8',
          'absolute loss on clean data and with one wild label; a compromise', 'robust_losses'),
    _idea('1.0/linear-regression-scratch.9', 'why reshuffle; a data order that breaks SGD',
          'synthetic-regression-data § Reading the Dataset'),
    _run('1.0/linear-regression-concise.1',
         'mean instead of summed loss: how the learning rate changes', _REDUCTION,
         '0.17/linear-regression-concise.1'),
    _run('1.0/linear-regression-concise.2', "Huber's robust loss", _HUBER,
         '0.17/linear-regression-concise.2'),
    _code('1.0/linear-regression-concise.3', "reach the weights' gradient", 'grad_access',
          '0.17/linear-regression-concise.3'),
    _run('1.0/linear-regression-concise.4',
         'learning rate and epochs: does the estimate keep improving?',
         _sweep('linreg_concise', '--lr', '0.003,0.03,0.3', '--epochs', '3,10,30')),
    _run('1.0/linear-regression-concise.5',
         'estimation error of w and b against the amount of data',
         _sweep('linreg_concise', '--num-examples', '5,10,20,50,100,200,500,1000,2000,5000,10000')),
    _code('1.0/generalization.1', 'when polynomial regression can be solved exactly',
          'exact_polynomial', '0.17/underfit-overfit.1'),
    _idea('1.0/generalization.2', 'five cases where dependence breaks the IID assumption',
          'generalization § Training Error and Generalization Error'),
    _idea('1.0/generalization.3', 'zero training error; zero generalisation error',
          'generalization § Underfitting or Overfitting?', '0.17/underfit-overfit.4'),
    _idea('1.0/generalization.4', 'why K-fold cross-validation costs so much',
          'generalization § Cross-Validation'),
    _idea('1.0/generalization.5', 'why the K-fold estimate is biased',
          'generalization § Cross-Validation'),
    _idea('1.0/generalization.6', 'why the VC dimension can mislead about complexity',
          'generalization § Model Complexity'),
    _run('1.0/generalization.7', 'argue for more data by training on less (a learning curve)',
         _sweep('mlp', '--num-train', '1000,3000,10000,30000,50000', *VALID)),
    _run('1.0/weight-decay.1', 'training and validation error against lambda', _LAMBDA,
         '0.17/weight-decay.1'),
    _run('1.0/weight-decay.2', 'choose lambda on validation data; is it really optimal?',
         _LAMBDA_SEEDS, '0.17/weight-decay.2'),
    _idea('1.0/weight-decay.3', 'the update rule under an l1 penalty',
          'weight-decay § Norms and Weight Decay', '0.17/weight-decay.3'),
    _code('1.0/weight-decay.4', "the Frobenius norm as the matrices' w^T w", 'frobenius',
          '0.17/weight-decay.4'),
    _idea('1.0/weight-decay.5', 'other remedies for overfitting',
          'generalization § Underfitting or Overfitting?', '0.17/weight-decay.5'),
    _idea('1.0/weight-decay.6', 'weight decay as a prior P(w)',
          'weight-decay § Norms and Weight Decay', '0.17/weight-decay.6'),
    # ---- d2l-en 1.0, chapter_linear-classification -----------------------------------------
    _idea('1.0/softmax-regression.1', "cross-entropy's second derivative equals softmax's variance",
          'softmax-regression § Softmax and Cross-Entropy Loss', '0.17/softmax-regression.1'),
    _idea('1.0/softmax-regression.2',
          'binary codes for three equally likely classes; coding blocks',
          'softmax-regression § Information Theory Basics', '0.17/softmax-regression.2'),
    _idea('1.0/softmax-regression.3', 'ternary (PAM-3) signalling of 0..7',
          'softmax-regression § Entropy'),
    _idea('1.0/softmax-regression.4', 'Bradley-Terry preferences with softmax; a "neither" option',
          'softmax-regression § The Softmax'),
    _idea('1.0/softmax-regression.5',
          'log-sum-exp as the real soft maximum: bounds, limit, softmin',
          'softmax-regression § The Softmax', '0.17/softmax-regression.3'),
    _idea('1.0/softmax-regression.6', 'the log-partition function: convex, shift rule, stable form',
          'softmax-regression § Softmax and Cross-Entropy Loss'),
    _idea('1.0/softmax-regression.7', 'temperature as a power of the probabilities',
          'softmax-regression § The Softmax'),
    _code('1.0/image-classification-dataset.1', 'does a small batch size slow reading down?',
          'loader_batch_size', '0.17/image-classification-dataset.1'),
    _idea('1.0/image-classification-dataset.2', 'is the data iterator fast enough; profile it',
          'image-classification-dataset § Reading a Minibatch',
          '0.17/image-classification-dataset.2'),
    _code('1.0/image-classification-dataset.3', 'which other data sets the framework offers',
          'datasets_available', '0.17/image-classification-dataset.3'),
    _idea('1.0/classification.1',
          'exact validation loss from the per-batch average and the last batch',
          'classification § The Classifier Class'),
    _idea('1.0/classification.2',
          'the per-batch average is unbiased; why still prefer the exact one',
          'classification § The Classifier Class'),
    _idea('1.0/classification.3', 'the decision minimising expected loss under p(y | x)',
          'classification § Accuracy'),
    _code('1.0/softmax-regression-scratch.1',
          'naive softmax with inputs of 100 and below -100; the fix', 'softmax_overflow',
          '0.17/softmax-regression-scratch.1', '0.17/softmax-regression-scratch.3'),
    _code('1.0/softmax-regression-scratch.2', 'cross-entropy by its definition: speed, and log(0)',
          'log_of_zero', '0.17/softmax-regression-scratch.2'),
    _idea('1.0/softmax-regression-scratch.3', 'is the most likely label always the right output?',
          'softmax-regression-scratch § Prediction', '0.17/softmax-regression-scratch.4'),
    _idea('1.0/softmax-regression-scratch.4', 'softmax over a huge vocabulary: what breaks',
          'softmax-regression § Vectorization', '0.17/softmax-regression-scratch.5'),
    _run('1.0/softmax-regression-scratch.5',
         'learning rate and minibatch size against the held-out numbers',
         _sweep('softmax', '--lr', '0.03,0.1,0.3,1', '--batch-size', '32,256,2048', *PICK)),
    _code('1.0/softmax-regression-concise.1',
          "the exponential's safe input range per number format", 'exp_range'),
    _idea('1.0/softmax-regression-concise.2', "widening INT8's range without more bits",
          'softmax-regression-concise § Softmax Revisited'),
    _run('1.0/softmax-regression-concise.3',
         'train longer: does validation accuracy fall, and why?', _SOFTMAX_EPOCHS,
         '0.17/softmax-regression-concise.2'),
    _run('1.0/softmax-regression-concise.4', 'raise the learning rate: loss curves side by side',
         _sweep('softmax_concise', '--lr', '0.01,0.1,1,3,10')),
    _idea('1.0/generalization-classification.1',
          'samples needed for an error estimate within 1e-4 at 99.9%',
          'generalization-classification § The Test Set'),
    _idea('1.0/generalization-classification.2', 'how many queried models leak a hidden test set',
          'generalization-classification § Test Set Reuse'),
    _idea('1.0/generalization-classification.3', 'VC dimension of fifth-order polynomials',
          'generalization-classification § Statistical Learning Theory'),
    _idea('1.0/generalization-classification.4', 'VC dimension of axis-aligned rectangles',
          'generalization-classification § Statistical Learning Theory'),
    _idea('1.0/environment-and-distribution-shift.1',
          'a search engine changes: how users and advertisers react',
          'environment-and-distribution-shift § Nonstationary Distributions',
          '0.17/environment.1'),
    _code('1.0/environment-and-distribution-shift.2', 'a covariate shift detector',
          'covariate_shift', '0.17/environment.2'),
    _code('1.0/environment-and-distribution-shift.3', 'a covariate shift corrector',
          'covariate_shift', '0.17/environment.3'),
    _idea('1.0/environment-and-distribution-shift.4',
          'besides shift, what else makes empirical risk miss the risk',
          'environment-and-distribution-shift § Empirical Risk and Risk', '0.17/environment.4'),
    # ---- d2l-en 1.0, chapter_multilayer-perceptrons ----------------------------------------
    _idea('1.0/mlp.1', 'depth without nonlinearity adds nothing, and can remove',
          'mlp § Limitations of Linear Models'),
    _idea('1.0/mlp.2', "pReLU's derivative", 'mlp § ReLU Function', '0.17/mlp.1'),
    _idea('1.0/mlp.3', "Swish's derivative", 'mlp § Activation Functions'),
    _idea('1.0/mlp.4', 'a ReLU network is continuous and piecewise linear', 'mlp § ReLU Function',
          '0.17/mlp.2'),
    _code('1.0/mlp.5', 'tanh(x) + 1 = 2 sigmoid(2x); both give the same function class',
          'tanh_sigmoid', '0.17/mlp.3'),
    _idea('1.0/mlp.6', 'a nonlinearity computed per minibatch (batch norm): the trouble it brings',
          'mlp § From Linear to Nonlinear', '0.17/mlp.4'),
    _code('1.0/mlp.7', 'an input where the sigmoid gradient vanishes', 'sigmoid_vanishing'),
    _run('1.0/mlp-implementation.1', 'accuracy against the number of hidden units; the best',
         _HIDDEN, '0.17/mlp-scratch.1'),
    _run('1.0/mlp-implementation.2', 'add a hidden layer', _ONE_MORE_LAYER, '0.17/mlp-scratch.2'),
    _run('1.0/mlp-implementation.3', 'a one-unit hidden layer as a bottleneck',
         _sweep('mlp_concise', '--hidden', list_axis([256], [256, 1], [256, 1, 256]))),
    _run('1.0/mlp-implementation.4', 'the best learning rate; its link to the epochs', _MLP_LR,
         '0.17/mlp-scratch.3'),
    _run('1.0/mlp-implementation.5', 'tune all hyperparameters jointly; why hard; a strategy',
         _JOINT, '0.17/mlp-scratch.4', '0.17/mlp-scratch.5', '0.17/mlp-scratch.6',
         stages=_JOINT_STAGES),
    _code('1.0/mlp-implementation.6', 'speed of hand-written versus nn layers as the network grows',
          'framework_speed'),
    _code('1.0/mlp-implementation.7', 'matrix products at 1024, 1025, 1026, 1028, 1032: alignment',
          'matmul_alignment'),
    _run('1.0/mlp-implementation.8', 'which activation works best', _ACTIVATION,
         '0.17/mlp-concise.2'),
    _run('1.0/mlp-implementation.9', 'does the weight initialisation matter?', _MLP_INIT,
         '0.17/mlp-concise.3'),
    _idea('1.0/backprop.1', 'the shape of a gradient with respect to a matrix input',
          'backprop § Backpropagation', '0.17/backprop.1'),
    _idea('1.0/backprop.2', 'add a hidden bias: its graph, forward and backward equations',
          'backprop § Computational Graph of Forward Propagation', '0.17/backprop.2'),
    _idea('1.0/backprop.3', 'memory needed for training versus prediction',
          'backprop § Training Neural Networks', '0.17/backprop.3'),
    _idea('1.0/backprop.4', 'second derivatives: the graph and the cost',
          'backprop § Backpropagation', '0.17/backprop.4'),
    _idea('1.0/backprop.5', 'a graph too large for one GPU: split it, or smaller batches?',
          'backprop § Training Neural Networks', '0.17/backprop.5'),
    _idea('1.0/numerical-stability-and-init.1', 'symmetries beyond permuting hidden units',
          'numerical-stability-and-init § Breaking the Symmetry',
          '0.17/numerical-stability-and-init.1'),
    _run('1.0/numerical-stability-and-init.2',
         'may all weights of linear or softmax regression start equal?', _SAME_INIT,
         '0.17/numerical-stability-and-init.2'),
    _idea('1.0/numerical-stability-and-init.3',
          "eigenvalue bounds of a matrix product and gradients' conditioning",
          'numerical-stability-and-init § Vanishing and Exploding Gradients',
          '0.17/numerical-stability-and-init.3'),
    _idea('1.0/numerical-stability-and-init.4',
          'repair divergence after the fact (layer-wise rate scaling)',
          'numerical-stability-and-init § Beyond', '0.17/numerical-stability-and-init.4'),
    _idea('1.0/generalization-deep.1', 'where complexity-based bounds fail for deep networks',
          'generalization-deep § Revisiting Overfitting and Regularization'),
    _idea('1.0/generalization-deep.2', 'early stopping as a regulariser',
          'generalization-deep § Early Stopping'),
    _idea('1.0/generalization-deep.3', 'how a stopping criterion is usually set',
          'generalization-deep § Early Stopping'),
    _idea('1.0/generalization-deep.4', 'when early stopping helps most (label noise)',
          'generalization-deep § Early Stopping'),
    _idea('1.0/generalization-deep.5', 'a benefit of early stopping besides generalisation',
          'generalization-deep § Early Stopping'),
    _run('1.0/dropout.1', "change and swap the two layers' dropout rates", _DROPOUT_RATES,
         '0.17/dropout.1'),
    _run('1.0/dropout.2', 'with and without dropout over many more epochs', _DROPOUT_EPOCHS,
         '0.17/dropout.2'),
    _run('1.0/dropout.3',
         "variance of each hidden layer's activations over training, with and without dropout",
         _DROPOUT_STATS, '0.17/dropout.3'),
    _idea('1.0/dropout.4', 'why dropout is off at test time', 'dropout § Dropout in Practice',
          '0.17/dropout.4'),
    _run('1.0/dropout.5', 'dropout and weight decay, alone and together', _DROPOUT_DECAY,
         '0.17/dropout.5'),
    _idea('1.0/dropout.6', 'drop single weights instead of activations',
          'dropout § Dropout in Practice', '0.17/dropout.6'),
    _idea('1.0/dropout.7', 'invent another noise-injection method that beats dropout',
          'dropout § Dropout in Practice', '0.17/dropout.7'),
    _idea('1.0/kaggle-house-price.1', 'submit to Kaggle and report the score (needs Kaggle)',
          'kaggle-house-price § Submitting Predictions on Kaggle', '0.17/kaggle-house-price.1'),
    _idea('1.0/kaggle-house-price.2', 'is filling gaps with the mean always fine?',
          'kaggle-house-price § Data Preprocessing', '0.17/kaggle-house-price.3'),
    _idea('1.0/kaggle-house-price.3', 'tune by K-fold cross-validation (house data, no kit script)',
          'kaggle-house-price § K-Fold Cross-Validation', '0.17/kaggle-house-price.4'),
    _idea('1.0/kaggle-house-price.4', 'a better model: layers, weight decay, dropout (house data)',
          'kaggle-house-price § Model Selection', '0.17/kaggle-house-price.5'),
    _idea('1.0/kaggle-house-price.5', 'skip standardising the numeric features',
          'kaggle-house-price § Data Preprocessing', '0.17/kaggle-house-price.6'),
]


def _symmetric(catalog: list[Exercise]) -> list[Exercise]:
    """The catalog with same_as filled in on both sides (it is written on the 1.0 entries)."""
    partners: dict[str, list[str]] = {e.id: list(e.same_as) for e in catalog}
    for e in catalog:
        for other in e.same_as:
            if e.id not in partners[other]:
                partners[other].append(e.id)
    return [dataclasses.replace(e, same_as=tuple(partners[e.id])) for e in catalog]


CATALOG = _symmetric(CATALOG)
BY_ID = {e.id: e for e in CATALOG}



# ============================================================================
# Snippets: the `code` answers. Each takes small=True for a quick check (the tests) and returns
# its table; `python -m d2l exercises ID` prints it.
# ============================================================================

def _timed(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of fn() over `repeat` calls, in seconds (the best is the least disturbed)."""
    fn()  # a first call pays for allocations and thread start-up, not for the work timed
    timer = d2l.Timer()
    for _ in range(repeat):
        timer.start()
        fn()
        timer.stop()
    return min(timer.times)


def normal_equations(small: bool = False) -> pd.DataFrame:
    """Least squares in closed form, w = (X^T X)^-1 X^T y, on the book's synthetic data (3.1)."""
    torch.manual_seed(0)
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    X, y = d2l.synthetic_data(true_w, true_b, 100 if small else 1000)
    X1 = torch.cat([X, torch.ones(len(X), 1)], dim=1)  # a column of ones carries the bias
    w = torch.linalg.solve(X1.T @ X1, X1.T @ y).flatten()
    true = torch.tensor([2, -3.4, 4.2])
    return pd.DataFrame({'parameter': ['w1', 'w2', 'b'], 'true': true.tolist(),
                         'closed form': w.tolist(), 'error': (w - true).abs().tolist()})


def ohm(small: bool = False) -> pd.DataFrame:
    """Fit V = R I with autograd and SGD on noisy measurements of a 47-ohm resistor."""
    torch.manual_seed(0)
    current = torch.rand(50) * 0.1                                  # amperes
    voltage = 47.0 * current + torch.normal(0, 0.05, current.shape)  # volts, with meter noise
    R = torch.zeros(1, requires_grad=True)
    for _ in range(200 if small else 2000):
        loss = ((R * current - voltage) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            R -= 50.0 * R.grad
            R.grad.zero_()
    return pd.DataFrame({'quantity': ['R (ohm), fitted', 'R (ohm), true'],
                         'value': [R.item(), 47.0]})


def second_derivative(small: bool = False) -> pd.DataFrame:
    """d2/dw2 of a squared loss: backward() alone frees the graph; create_graph=True keeps it."""
    w = torch.tensor(1.5, requires_grad=True)
    x, y = torch.tensor(2.0), torch.tensor(1.0)
    loss = (w * x - y) ** 2
    (dw,) = torch.autograd.grad(loss, w, create_graph=True)  # the gradient is itself differentiable
    (d2w,) = torch.autograd.grad(dw, w)
    return pd.DataFrame({'derivative': ['first', 'second'], 'autograd': [dw.item(), d2w.item()],
                         'by hand': [2 * x.item() * (1.5 * x.item() - y.item()),
                                     2 * x.item() ** 2]})


def reshape_broadcast(small: bool = False) -> pd.DataFrame:
    """y_hat (n, 1) minus y (n,) broadcasts to (n, n): the loss becomes n^2 wrong terms."""
    n = 4
    y_hat, y = torch.ones(n, 1), torch.zeros(n)
    return pd.DataFrame({'loss of': ['y_hat - y', 'y_hat - y.reshape(y_hat.shape)'],
                         'shape': [str(tuple((y_hat - y).shape)),
                                   str(tuple((y_hat - y.reshape(y_hat.shape)).shape))],
                         'terms summed': [(y_hat - y).numel(),
                                          (y_hat - y.reshape(y_hat.shape)).numel()]})


def last_batch(small: bool = False) -> pd.DataFrame:
    """Batch sizes per epoch when 1000 examples are cut into batches of 64 (and with drop_last)."""
    X, y = torch.zeros(1000, 2), torch.zeros(1000, 1)
    sizes = [len(b) for b, _ in d2l.data_iter(64, X, y)]
    kept = [len(b) for b, _ in torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X, y), batch_size=64, drop_last=True)]
    return pd.DataFrame({'loader': ['d2l.data_iter', 'DataLoader(drop_last=True)'],
                         'batches': [len(sizes), len(kept)], 'last batch': [sizes[-1], kept[-1]],
                         'examples seen': [sum(sizes), sum(kept)]})


def grad_access(small: bool = False) -> pd.DataFrame:
    """After backward(), net[0].weight.grad holds the gradient, shaped like the weight."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 1))
    X, y = torch.randn(10, 2), torch.randn(10, 1)
    torch.nn.functional.mse_loss(net(X), y).backward()
    grad = net[0].weight.grad
    return pd.DataFrame({'tensor': ['net[0].weight', 'net[0].weight.grad'],
                         'shape': [str(tuple(net[0].weight.shape)), str(tuple(grad.shape))],
                         'values': [net[0].weight.detach().flatten().tolist(),
                                    grad.flatten().tolist()]})


def loader_batch_size(small: bool = False) -> pd.DataFrame:
    """Seconds to read 10,000 images once, per batch size (small batches pay per-batch overhead)."""
    n = 1000 if small else 10000
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,))
    rows = []
    for batch_size in (1, 16, 256, 1024):
        loader = d2l.ArrayLoader((images, labels), batch_size, shuffle=True, uint8_images=True)
        seconds = _timed(lambda: [None for _ in loader], 1 if small else 3)
        rows.append({'batch size': batch_size, 'seconds': seconds, 'images/s': n / seconds})
    table = pd.DataFrame(rows)
    table['vs fastest'] = table['seconds'] / table['seconds'].min()
    return table


def datasets_available(small: bool = False) -> pd.DataFrame:
    """The data set classes torchvision ships (the framework's own catalog)."""
    import torchvision
    names = sorted(n for n in dir(torchvision.datasets)
                   if n[0].isupper() and isinstance(getattr(torchvision.datasets, n), type)
                   and issubclass(getattr(torchvision.datasets, n), torch.utils.data.Dataset))
    return pd.DataFrame({'torchvision.datasets': names})


def softmax_overflow(small: bool = False) -> pd.DataFrame:
    """exp(o) / sum exp(o) overflows or underflows; subtracting max(o) first does not."""
    def naive(o: torch.Tensor) -> torch.Tensor:
        return torch.exp(o) / torch.exp(o).sum()

    def shifted(o: torch.Tensor) -> torch.Tensor:
        e = torch.exp(o - o.max())
        return e / e.sum()

    rows = []
    for o in ([1.0, 2.0, 3.0], [50.0, 100.0, 0.0], [-120.0, -110.0, -105.0]):
        t = torch.tensor(o)
        rows.append({'logits': o, 'naive': [round(v, 4) for v in naive(t).tolist()],
                     'shifted by max': [round(v, 4) for v in shifted(t).tolist()]})
    return pd.DataFrame(rows)


def log_of_zero(small: bool = False) -> pd.DataFrame:
    """-log(y_hat[y]) is inf once a probability rounds to 0; the fused log-softmax stays finite."""
    logits = torch.tensor([[120.0, 0.0, -5.0]])
    y = torch.tensor([1])
    y_hat = torch.softmax(logits, dim=1)
    by_definition = -torch.log(y_hat[0, y])
    fused = torch.nn.functional.cross_entropy(logits, y)
    return pd.DataFrame({'cross-entropy': ['-log(softmax(o)[y])', 'F.cross_entropy(o, y)'],
                         'value': [by_definition.item(), fused.item()]})


def tanh_sigmoid(small: bool = False) -> pd.DataFrame:
    """The largest gap between tanh(x) + 1 and 2 sigmoid(2x) on a grid, in float64."""
    x = torch.linspace(-10, 10, 1001 if small else 100001, dtype=torch.float64)
    gap = (torch.tanh(x) + 1 - 2 * torch.sigmoid(2 * x)).abs().max()
    return pd.DataFrame({'points': [len(x)], 'max |tanh(x) + 1 - 2 sigmoid(2x)|': [gap.item()]})


def _polynomial_data(n: int, degree: int = 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features x^i / i! (i < degree) of x ~ N(0, 1); labels from the book's cubic plus noise."""
    x = torch.randn(n, 1, dtype=torch.float64)
    powers = torch.arange(degree, dtype=torch.float64)
    features = x ** powers / torch.exp(torch.lgamma(powers + 1))  # x^i / i!
    w = torch.zeros(degree, dtype=torch.float64)
    w[:4] = torch.tensor([5, 1.2, -3.4, 5.6], dtype=torch.float64)
    return features, features @ w + torch.normal(0, 0.1, (n,), dtype=torch.float64), w


def exact_polynomial(small: bool = False) -> pd.DataFrame:
    """Least squares on the polynomial features (torch.linalg.lstsq): exact without noise."""
    torch.manual_seed(0)
    features, labels, w = _polynomial_data(100)
    noiseless = features @ w
    rows = []
    for name, target in (('noisy labels', labels), ('noiseless labels', noiseless)):
        w_hat = torch.linalg.lstsq(features[:, :4], target.unsqueeze(1)).solution.flatten()
        rows.append({'labels': name, 'w_hat (first 4)': [round(v, 4) for v in w_hat.tolist()],
                     'max |w_hat - w|': (w_hat - w[:4]).abs().max().item()})
    return pd.DataFrame(rows)


def feature_scaling(small: bool = False) -> pd.DataFrame:
    """Largest feature and condition number of X^T X with and without the 1/i! scaling."""
    torch.manual_seed(0)
    x = torch.randn(100, 1, dtype=torch.float64)
    powers = torch.arange(20, dtype=torch.float64)
    raw = x ** powers
    rest = raw[:, 1:]  # x^0 = 1 stays as it is
    standardised = torch.cat([raw[:, :1], (rest - rest.mean(0)) / rest.std(0)], dim=1)
    rows = []
    for name, X in (('x^i', raw), ('x^i / i!', raw / torch.exp(torch.lgamma(powers + 1))),
                    ('x^i, standardised (but x^0)', standardised)):
        rows.append({'features': name, 'largest |feature|': X.abs().max().item(),
                     'cond(X^T X)': torch.linalg.cond(X.T @ X).item()})
    return pd.DataFrame(rows)


def frobenius(small: bool = False) -> pd.DataFrame:
    """||W||_F^2 = trace(W^T W) = sum of squares, checked on a random matrix."""
    torch.manual_seed(0)
    W = torch.randn(3, 5, dtype=torch.float64)
    return pd.DataFrame({'quantity': ['||W||_F^2', 'trace(W^T W)', 'sum of W_ij^2'],
                         'value': [torch.linalg.matrix_norm(W).item() ** 2,
                                   torch.trace(W.T @ W).item(), (W ** 2).sum().item()]})


def covariate_shift(small: bool = False) -> pd.DataFrame:
    """Detect a shift with a source-vs-target classifier; correct with weights exp(logit)."""
    torch.manual_seed(0)
    n = 500 if small else 5000

    def label(x: torch.Tensor) -> torch.Tensor:  # the same labelling rule on both sides
        return torch.sin(2 * x) + 0.1 * torch.randn_like(x)

    source, target = torch.randn(n, 1), torch.randn(n, 1) + 1.5  # inputs move, the rule does not
    x_both = torch.cat([source, target])
    is_target = torch.cat([torch.zeros(n), torch.ones(n)])
    detector = torch.nn.Linear(1, 1)
    optimizer = torch.optim.LBFGS(detector.parameters(), max_iter=100)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            detector(x_both).flatten(), is_target)
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        accuracy = ((detector(x_both).flatten() > 0).float() == is_target).float().mean().item()
        weights = torch.exp(detector(source).flatten())  # q(x) / p(x), from the detector's odds
    y_source, y_target = label(source).flatten(), label(target).flatten()
    features = lambda x: torch.cat([x, torch.ones_like(x)], dim=1)  # noqa: E731  a line fit
    rows = [{'step': 'detector: source vs target accuracy', 'value': accuracy}]
    for name, w in (('fit unweighted', torch.ones(n)), ('fit reweighted', weights)):
        A, s = features(source), w.sqrt().unsqueeze(1)
        coef = torch.linalg.lstsq(A * s, y_source.unsqueeze(1) * s).solution
        error = ((features(target) @ coef).flatten() - y_target).pow(2).mean().item()
        rows.append({'step': f'{name}: squared error on target', 'value': error})
    return pd.DataFrame(rows)


def hyperparameters_kept(small: bool = False) -> pd.DataFrame:
    """A d2l.HyperParameters subclass with and without save_hyperparameters(): is self.a set?"""

    class Saved(d2l.HyperParameters):
        def __init__(self, a: int, b: int) -> None:
            self.save_hyperparameters()

    class Forgotten(d2l.HyperParameters):
        def __init__(self, a: int, b: int) -> None:
            pass

    return pd.DataFrame({'class': ['with save_hyperparameters()', 'without'],
                         'has self.a': [hasattr(Saved(1, 2), 'a'), hasattr(Forgotten(1, 2), 'a')]})


def generated_data(small: bool = False) -> pd.DataFrame:
    """Batches made on the fly: fresh from a running generator, the same from a reseeded one."""
    def batches(generator: torch.Generator, count: int = 3) -> list[float]:
        return [torch.randn(8, 2, generator=generator).sum().item() for _ in range(count)]

    running = torch.Generator().manual_seed(0)
    fresh = [batches(running), batches(running)]             # one generator, two passes: new data
    same = [batches(torch.Generator().manual_seed(0)) for _ in range(2)]  # reseeded each pass
    return pd.DataFrame({'generator': ['kept running', 'reseeded each pass'],
                         'pass 1 (batch sums)': [fresh[0], same[0]],
                         'pass 2 (batch sums)': [fresh[1], same[1]],
                         'passes equal': [fresh[0] == fresh[1], same[0] == same[1]]})


def robust_losses(small: bool = False) -> pd.DataFrame:
    """Errors in w and b after SGD: squared, absolute and Huber loss; clean, and with y[5] = 1e4."""
    rows = []
    for corrupt in (False, True):
        for name, loss in (('squared', lambda a, b: (a - b) ** 2 / 2),
                           ('absolute', lambda a, b: (a - b).abs()),
                           ('huber', lambda a, b: torch.nn.functional.huber_loss(
                               a, b, reduction='none'))):
            torch.manual_seed(0)
            true_w, true_b = torch.tensor([2, -3.4]), 4.2
            X, y = d2l.synthetic_data(true_w, true_b, 1000)
            if corrupt:
                y[5] = 10000.0
            w = torch.normal(0, 0.01, (2, 1), requires_grad=True)
            b = torch.zeros(1, requires_grad=True)
            for _ in range(1 if small else 3):
                for Xb, yb in d2l.data_iter(10, X, y):
                    loss(d2l.linreg(Xb, w, b), yb).sum().backward()
                    d2l.sgd([w, b], 0.03, len(yb))
            rows.append({'labels': 'y[5] = 10000' if corrupt else 'clean', 'loss': name,
                         'error in w': (w.detach().flatten() - true_w).abs().max().item(),
                         'error in b': abs(b.item() - true_b)})
    return pd.DataFrame(rows)


def exp_range(small: bool = False) -> pd.DataFrame:
    """Per float format, the x range where exp(x) is neither 0 (below: smallest normal) nor inf."""
    rows = []
    for dtype in (torch.float64, torch.float32, torch.bfloat16, torch.float16):
        info = torch.finfo(dtype)
        smallest, largest = torch.log(torch.tensor([info.tiny, info.max], dtype=torch.float64))
        rows.append({'format': str(dtype).replace('torch.', ''), 'bits': info.bits,
                     'smallest x (normal result)': smallest.item(), 'largest x': largest.item()})
    return pd.DataFrame(rows)


def sigmoid_vanishing(small: bool = False) -> pd.DataFrame:
    """The sigmoid's gradient sigma(x)(1 - sigma(x)) at a few inputs, and through 10 such layers."""
    x = torch.tensor([0.0, 2.0, 5.0, 10.0, 20.0], requires_grad=True)
    torch.sigmoid(x).sum().backward()
    return pd.DataFrame({'x': x.detach().tolist(), 'd sigmoid / dx': x.grad.tolist(),
                         'product over 10 layers': (x.grad ** 10).tolist()})


def framework_speed(small: bool = False) -> pd.DataFrame:
    """Seconds per forward+backward pass of an MLP: hand-written matrices versus nn.Sequential."""
    torch.manual_seed(0)
    X, y = torch.randn(256, 784), torch.randint(0, 10, (256,))
    rows = []
    for width, depth in ((64, 1), (256, 1), (1024, 2)) if not small else ((16, 1),):
        sizes = [784] + [width] * depth + [10]
        params = [(torch.randn(a, b, requires_grad=True), torch.zeros(b, requires_grad=True))
                  for a, b in zip(sizes, sizes[1:])]

        def scratch() -> None:
            H = X
            for i, (W, b) in enumerate(params):
                H = H @ W + b
                H = torch.relu(H) if i < len(params) - 1 else H
            torch.nn.functional.cross_entropy(H, y).backward()

        layers: list[torch.nn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])

        def concise() -> None:
            torch.nn.functional.cross_entropy(net(X), y).backward()

        repeat = 2 if small else 20
        rows.append({'network': '-'.join(map(str, sizes)),
                     'multiply-adds': sum(a * b for a, b in zip(sizes, sizes[1:])),
                     'scratch s': _timed(scratch, repeat),
                     'nn.Sequential s': _timed(concise, repeat)})
    table = pd.DataFrame(rows)
    table['nn / scratch'] = table['nn.Sequential s'] / table['scratch s']
    return table


def matmul_alignment(small: bool = False) -> pd.DataFrame:
    """Seconds and GFLOP/s of an n x n matrix product for n = 1024, 1025, 1026, 1028, 1032."""
    sizes = (64, 65, 66, 68, 72) if small else (1024, 1025, 1026, 1028, 1032)
    rows = []
    for n in sizes:
        A, B = torch.randn(n, n), torch.randn(n, n)
        seconds = _timed(lambda: A @ B, 3 if small else 10)
        rows.append({'n': n, 'n mod 8': n % 8, 'seconds': seconds,
                     'GFLOP/s': 2 * n ** 3 / seconds / 1e9})
    table = pd.DataFrame(rows)
    table['vs fastest'] = table['seconds'] / table['seconds'].min()
    return table


SNIPPETS: dict[str, Callable[..., pd.DataFrame]] = {
    f.__name__: f for f in (
        normal_equations, ohm, second_derivative, reshape_broadcast, last_batch, grad_access,
        loader_batch_size, datasets_available, softmax_overflow, log_of_zero, tanh_sigmoid,
        exact_polynomial, feature_scaling, frobenius, covariate_shift, hyperparameters_kept,
        generated_data, robust_losses, exp_range, sigmoid_vanishing,
        framework_speed, matmul_alignment)}


# ============================================================================
# Commands: the grid a run answer spans, its cost, the list, one answer, the answer key.
# ============================================================================

def _split_sweep(tokens: Sequence[str]) -> tuple[str, list[tuple[str, list[str]]], dict[str, str]]:
    """(script, [(flag, its argument tokens)], the sweep's own options) of a sweep's argv."""
    script, flags, options = tokens[0], [], {}
    for token in tokens[1:]:
        if token.startswith('--'):
            flags.append((token, []))
        else:
            flags[-1][1].append(token)
    for flag, values in list(flags):
        if flag in SWEEP_OPTIONS:
            options[flag] = ' '.join(values)
            flags.remove((flag, values))
    return script, flags, options


def _axis_values(value: str, search: bool) -> list[str]:
    """The values one argument stands for: a comma list, or with --search lo..hi (its two ends)."""
    if search and '..' in value:
        return value.split('..')
    return value.split(',')


def grid(exercise: Exercise) -> list[list[str]]:
    """Every script argv (no --seed) a run answer's sweep runs: one per grid point or range end."""
    _, flags, options = _split_sweep(exercise.sweep)
    search = '--search' in options
    choices = []
    for flag, values in flags:
        if len(values) == 1:  # one argument: an axis of scalars, or of lists (list_axis)
            choices.append([[flag, *v.split()] for v in _axis_values(values[0], search)])
        else:  # several arguments: one fixed value of a flag taking several
            choices.append([[flag, *values]])
    if options.get('--grid') == 'zip' and choices:  # the k-th values together, fixed flags in all
        n = max(map(len, choices))
        combos = zip(*(c if len(c) > 1 else c * n for c in choices))
    else:
        combos = itertools.product(*choices)
    return [[token for part in combo for token in part] for combo in combos]


# Seconds per epoch on the full 60,000 images, fitted to runs with --epochs 3 on 2 cores: softmax
# 0.27 s; MLP 784-64-10 0.27 s, 784-256-10 0.52 s, 784-256-256-10 0.82 s, 784-1024-10 3.35 s (the
# cost per weight grows once the weights outgrow the caches). The regression scripts cost per step.
_IMAGE_BASE_S, _IMAGE_PER_WEIGHT_S, _CACHE_WEIGHTS = 0.25, 1.3e-6, 300_000
_TINY_STEP_S, _RUN_OVERHEAD_S = 2.5e-4, 0.5
_TINY = {'linreg': (1000, 10, 3), 'linreg_concise': (1000, 10, 3),  # (examples, batch, epochs)
         'polynomial': (100, 10, 400), 'weight_decay': (20, 5, 100)}


def _flag(argv: list[str], name: str, default: list[str]) -> list[str]:
    if name not in argv:
        return default
    i = argv.index(name) + 1
    values = []
    while i < len(argv) and not argv[i].startswith('--'):
        values.append(argv[i])
        i += 1
    return values


def _quantiles(sweep: Sequence[str]) -> dict[str, list[str]]:
    """{flag: its 5 quantiles (10%, 30%, 50%, 70%, 90%)} of each lo..hi range of a search, as
    the sampler draws it: log-uniform where lo > 0 and hi/lo >= 10, integers for integer ranges."""
    _, flags, options = _split_sweep(sweep)
    found = {}
    for flag, values in flags:
        if '--search' not in options or len(values) != 1 or '..' not in values[0]:
            continue
        lo_text, hi_text = values[0].split('..')
        lo, hi = float(lo_text), float(hi_text)
        log = lo > 0 and hi / lo >= 10
        points = [math.exp(math.log(lo) + q * math.log(hi / lo)) if log else lo + q * (hi - lo)
                  for q in (0.1, 0.3, 0.5, 0.7, 0.9)]
        integer = '.' not in lo_text + hi_text and 'e' not in lo_text + hi_text
        found[flag] = [str(round(v)) if integer else f'{v:.4g}' for v in points]
    return found


def estimated_seconds(exercise: Exercise) -> float:
    """A rough wall time of a run answer's default sweep and its stages on 2 cores (0 for other
    kinds). A search is costed as its sampler draws, unpruned: the mean over 5 quantiles of each
    range (log-spaced where the sampler is log-uniform); a stage that runs the search's chosen
    setting, at the ranges' medians."""
    if exercise.kind != 'run':
        return 0.0
    if exercise.stages:
        median = {flag[2:].replace('-', '_'): values[2]
                  for flag, values in _quantiles(exercise.sweep).items()}
        return estimated_seconds(dataclasses.replace(exercise, stages=())) + sum(
            estimated_seconds(dataclasses.replace(
                exercise, sweep=tuple(t.format(**median) for t in stage.sweep), stages=()))
            for stage in exercise.stages)
    script, _, options = _split_sweep(exercise.sweep)
    key = next(k for k, path in SCRIPTS.items() if path == script)
    seeds = len(seeds_of(options.get('--seeds', '0,1,2')))
    points = grid(exercise)
    if '--search' in options:  # the ranges' quantiles, every combination
        ranges = _quantiles(exercise.sweep)
        fixed = [t for flag, values in _split_sweep(exercise.sweep)[1] if flag not in ranges
                 for t in (flag, *values)]
        points = [[*fixed, *(t for flag, value in zip(ranges, combo) for t in (flag, value))]
                  for combo in itertools.product(*ranges.values())]
    trials = int(options['--search']) if '--search' in options else len(points)
    total = 0.0
    for argv in points:
        if key in _TINY:
            examples, batch, epochs = _TINY[key]
            # linear regression's --num-examples, polynomial's and weight decay's --num-train
            examples = int(_flag(argv, '--num-examples', _flag(argv, '--num-train',
                                                             [str(examples)]))[0])
            epochs = int(_flag(argv, '--epochs', [str(epochs)])[0])
            steps = _flag(argv, '--steps', [str(epochs * -(-examples // batch))])  # polynomial's
            seconds = int(steps[0]) * _TINY_STEP_S
        else:
            hidden = _flag(argv, '--hidden', [] if 'softmax' in key else ['256'])
            hidden = hidden * int(_flag(argv, '--depth', ['1'])[0])  # --depth D: D layers of one
            sizes = [784, *map(int, hidden), 10]
            weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
            images = 60000 if '--num-train' not in argv else int(_flag(argv, '--num-train', [])[0])
            batch = int(_flag(argv, '--batch-size', ['256'])[0])
            epochs = int(_flag(argv, '--epochs', ['10'])[0])
            per_weight = _IMAGE_PER_WEIGHT_S * (1 + weights / _CACHE_WEIGHTS)
            per_image = (_IMAGE_BASE_S + per_weight * weights) / 60000 * (1 + 16 / batch)
            seconds = epochs * (images * per_image + 10000 * _IMAGE_BASE_S / 60000)  # + evaluation
        total += seconds + _RUN_OVERHEAD_S
    return total / len(points) * trials * seeds


def listing() -> list[str]:
    """The lines of `python -m d2l exercises`: a header, then `ID  KIND  COMMAND` in book order."""
    width = max(len(e.id) for e in CATALOG)
    lines = [f'{"ID":<{width}}  {"KIND":<10}  COMMAND (conceptual: the section to read)']
    for e in CATALOG:
        lines.append(f'{e.id:<{width}}  {e.kind:<10}  {e.command or "see " + e.pointer}')
    return lines


def nearest(id: str, count: int = 3) -> list[str]:
    """The catalog's IDs closest in spelling to id."""
    return difflib.get_close_matches(id, list(BY_ID), n=count, cutoff=0.0)


def default_out(exercise: Exercise, root: d2l.PathLike = 'exercises') -> Path:
    """The sweep folder of an answer: ROOT/EDITION-PAGE.N."""
    return Path(root) / exercise.id.replace('/', '-')


def _run_sweep(argv: list[str]) -> None:
    """Run `python -m d2l sweep ARGV`: the one place this module calls the sweep."""
    try:
        sweep = importlib.import_module('d2lkit.sweep')  # lazily: listing works without it
    except ModuleNotFoundError as e:
        if e.name != 'd2lkit.sweep':
            raise
        raise d2l.D2LError('running a run answer needs `python -m d2l sweep` (d2lkit/sweep.py), '
                           'which this checkout lacks; the listing shows the command') from None
    sweep.cli(argv)


def _figures(folder: Path, sweep: Sequence[str]) -> list[Path]:
    """The figures of a sweep that answer: with --layer-stats, each setting's statistics (seed 0);
    a search's importance of each flag and its curves; else the heatmap of two swept flags, the
    one swept flag's PNG, or the curves."""
    if (folder / 'importance.png').is_file():
        return [folder / 'importance.png', folder / 'curves.png']
    if '--layer-stats' in sweep:
        return sorted(folder.glob('files/*-s0-layer-stats.png')) or [folder / 'curves.png']
    if (folder / 'heatmap.png').is_file():  # two swept flags: both at once
        return [folder / 'heatmap.png']
    _, flags, options = _split_sweep(sweep)
    if options.get('--grid') == 'zip':  # whole recipes side by side: their curves
        return [folder / 'curves.png']
    for flag, values in flags:
        if len(values) == 1 and (',' in values[0] or ('--search' in options and '..' in values[0])):
            candidate = folder / f'{flag.lstrip("-").replace("-", "_")}.png'
            if candidate.is_file():
                return [candidate]
    return [folder / 'curves.png']


def numbers(exercise: Exercise, folder: Path) -> exercise_numbers.Answer:
    """A run answer's results.csv summarized as its sweep reports it: the sweep's axes, metric and
    book's setting, read from its command (nothing runs)."""
    return sweep_numbers(exercise.sweep, folder)


def sweep_numbers(sweep: Sequence[str], folder: Path) -> exercise_numbers.Answer:
    """A sweep's results.csv in folder summarized as the sweep reports it (nothing runs)."""
    from d2lkit import sweep_plan
    plan = sweep_plan.make_plan([*sweep, '--out', str(folder)])
    return exercise_numbers.load(folder, [a.column for a in plan.axes], plan.metric,
                                 plan.higher_is_better, plan.defaults)


def _rebuild_summary(answer: exercise_numbers.Answer) -> None:
    """Write the answer's summary.md afresh from its results.csv with the current report code,
    so that its table (with the verdicts) and the notes read the same numbers; figures are kept."""
    text = sweep_report.summary_markdown(answer.table, answer.metric, answer.higher_is_better)
    if not (answer.folder / 'summary.md').is_file() or \
            (answer.folder / 'summary.md').read_text() != text:
        _write_atomic(answer.folder / 'summary.md', text)


def _summary_table(folder: Path) -> str:
    """The table of the sweep's summary.md (mean ± std over seeds, the best marked)."""
    text = (folder / 'summary.md').read_text()
    return '\n'.join(line for line in text.splitlines() if line.startswith('|')) or text.strip()


def _without(flags: Sequence[str], names: Sequence[str]) -> list[str]:
    """flags (a flag and its values, in turn) less the flags named and their values."""
    kept, skipping = [], False
    for token in flags:
        if token.startswith('--'):
            skipping = token in names
        if not skipping:
            kept.append(token)
    return kept


def with_flags(sweep: Sequence[str], flags: Sequence[str]) -> list[str]:
    """The sweep's argv with flags added; a flag given replaces the answer's own value(s) of it."""
    script, own, options = _split_sweep(sweep)
    extra = _split_sweep(['', *flags])[1:]
    given = {flag for flag, _ in extra[0]} | set(extra[1])
    argv = [script]
    for flag, values in [*own, *((k, v.split(' ')) for k, v in options.items())]:
        if flag not in given:
            argv += [flag, *values]
    return argv + list(flags)


def answer(exercise: Exercise, out: d2l.PathLike | None = None, small: bool = False,
           flags: Sequence[str] = ()) -> str:
    """Run one answer; return what it prints: table and figure path, snippet's table, or pointer.

    flags (run answers) go to the sweep, replacing the answer's own value of a flag they name:
    e.g. ['--epochs', '1'] for a quick try.
    """
    if exercise.kind == 'conceptual':
        return f'{exercise.id} is conceptual: no run answers it. Read the page {exercise.pointer}.'
    if flags and exercise.kind != 'run':
        raise ValueError(f'{exercise.id} is answered by a snippet; it takes no script flags')
    if exercise.kind == 'code':
        table = SNIPPETS[exercise.snippet](small=small)
        return table.to_string(index=False)
    folder = Path(out) if out else default_out(exercise)
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the sweep's progress and tables go to stderr
        _run_sweep([*with_flags(exercise.sweep, flags), '--out', str(folder)])
    _record_run(folder, time.perf_counter() - start)
    lines = [_summary_table(folder), *_best_line(folder),
             *(f'figure: {f}' for f in _figures(folder, exercise.sweep))]
    for stage in exercise.stages:  # after the first: they may run its chosen setting
        argv, start = stage.argv(folder, flags), time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            _run_sweep([*argv, '--out', str(folder / stage.name)])
        _record_run(folder / stage.name, time.perf_counter() - start)
        lines += ['', f'{stage.name}: {stage.what}', _summary_table(folder / stage.name),
                  *_best_line(folder / stage.name), *_chosen_line(folder, stage),
                  *(f'figure: {f}' for f in _figures(folder / stage.name, argv))]
    return '\n'.join(lines)


def _best_line(folder: Path) -> list[str]:
    """A search's best.txt line (its chosen setting and test accuracy), or nothing."""
    best = folder / 'best.txt'
    return [best.read_text().strip()] if best.is_file() else []


def _chosen_line(folder: Path, stage: Stage) -> list[str]:
    """After a finalists stage: the chosen setting's flags (best_setting), or nothing."""
    if not stage.finalists or not (folder / stage.name / 'results.csv').is_file():
        return []
    flags = ' '.join(f'--{k.replace("_", "-")} {v}' for k, v in best_setting(folder).items())
    return [f'chosen: {flags} (the best finalist by mean validation accuracy)']


def _record_run(folder: Path, seconds: float | None = None) -> None:
    """Keep the date, the machine and the wall time (where this command ran it) of an answer's
    run beside its results (ran.txt: `2026-12-07; AMD EPYC, 2 cores, ...; 81.2 s`): the key reads
    them back, so a key regenerated elsewhere or later still says where the numbers ran and what
    they cost. A rerun in the same folder runs only what is missing, so its seconds add to those
    kept: the total is what the answer cost (less an attempt killed before it finished)."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
    if seconds is not None and (folder / 'ran.txt').is_file():
        seconds += _ran(folder)[2] or 0.0
    took = '' if seconds is None else f'; {seconds:.1f} s'
    _write_atomic(folder / 'ran.txt', f'{today}; {_machine()}{took}\n')


def _ran(folder: Path) -> tuple[str, str, float | None]:
    """(date, machine, wall seconds or None) of an answer's run, from its ran.txt."""
    date, machine, *took = (folder / 'ran.txt').read_text().strip().split('; ')
    return date, machine, float(took[0].removesuffix(' s')) if took else None


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    return (f'{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, '
            f'Python {platform.python_version()}')


def same_question(exercise: Exercise) -> list[str]:
    """The IDs answered together with exercise, in book order: those linked to it through same_as
    that are answered the same way (same kind, same sweep or snippet)."""
    group, todo = {exercise.id}, [exercise]
    while todo:
        for other in (BY_ID[i] for i in todo.pop().same_as):
            if other.id not in group and (other.kind, other.sweep, other.snippet) == (
                    exercise.kind, exercise.sweep, exercise.snippet):
                group.add(other.id)
                todo.append(other)
    return [e.id for e in CATALOG if e.id in group]


_INTRO = """# Answers to the books' exercises

`python -m d2l exercises` lists every exercise of d2l-en 0.17.6 (d2l-zh 2.0 numbers them the same
way) on linear networks and MLPs, and of d2l 1.0 on linear regression, linear classification and
MLPs, with its kind: `run` (a sweep of the chapter scripts measures the answer), `code` (a snippet
computes it) or `conceptual` (a derivation or discussion: the page's section to read).
`python -m d2l exercises ID` runs one answer.

Below, each `run` and `code` answer: its command, its table and figure, and what the numbers show.
A sweep's table is mean ± std over seeds 0, 1 and 2, or over the seeds its command names (its n
column says), from the sweep's summary.md, with each setting's difference from the best paired by
seed, its 95% interval and the verdict (`tied`, `worse` ...; [reading
them](sweep.md#reading-error-bars-and-verdicts)); `book` marks the script's defaults. Answers that
pick a setting pick it on a validation split (`--valid 10000`, the last 10,000 training images;
`--valid N` new examples for the regressions): the test set is never used for choosing. An answer
that picks the best setting runs the best and its nearest rival on seeds 3 to 9 too where seeds 0,
1 and 2 cannot tell them apart (`--more-seeds 10`), so that verdict rests on 10 pairs; if still
tied, the two cannot be told apart at 10 seeds. Every measured number and comparison in a note is
read from its answer's results (a sweep's results.csv, a snippet's table.csv) when this key is
written. Each answer's folder keeps its results (a sweep's summary.md and results.csv, a snippet's
table.txt and table.csv) and ran.txt, the date, machine and wall time of its run, which this key
reads back. An answer may run further sweeps after its first, in subfolders (the joint search's:
two more searches, its finalists on fresh seeds, then the book's setting against the chosen one);
each is shown with its command, and a note names its numbers as ID#STAGE.
"""


def write_doc(path: d2l.PathLike, root: d2l.PathLike = 'exercises',
              ids: Sequence[str] | None = None, run: bool = True, small: bool = False,
              pending: bool = False) -> Path:
    """Write the answer key: each run/code answer's command, table, figure and notes; the rest.

    A run answer's table comes from ROOT/EDITION-PAGE.N/summary.md, a code answer's from
    ROOT/EDITION-PAGE.N/table.txt; a missing run answer is run first (run=False: an error
    instead), a missing code answer's snippet is run and its table kept there (small: quick
    sizes). pending=True runs nothing: the key says a missing answer is not run yet, and lists it
    at the end.
    """
    path, start = Path(path), time.perf_counter()
    chosen = [BY_ID[i] for i in ids] if ids else CATALOG
    done: set[str] = set()
    body: list[str] = []
    not_run: list[str] = []
    answered: list[str] = []  # the first ID of each heading
    answers: dict[str, exercise_numbers.Answer] = {}  # run answers' numbers, for their notes
    notes: list[tuple[int, Exercise]] = []  # where each answer's note goes in body
    refused: list[exercise_numbers.NoteError] = []  # notes the numbers deny: the key is not written
    for e in chosen:
        if e.kind == 'conceptual' or e.id in done:
            continue
        heading = same_question(e)
        done.update(heading)
        answered.append(e.id)
        body += [f'## {" · ".join(heading)}', '', f'*{e.gist}*', '', '```', e.command, '```', '']
        folder = default_out(e, root)
        stored = [folder / ('table.txt' if e.kind == 'code' else 'summary.md'),
                  *(folder / t.name / 'summary.md' for t in e.stages)]
        if pending and not all(f.is_file() for f in stored):
            not_run.append(e.id)
            body += ['Not run for this key yet: the command above answers it.', '']
            continue
        if e.kind == 'code':
            snippet = SNIPPETS[e.snippet]
            if not stored[0].is_file():  # kept: the key and its notes show one run's numbers
                folder.mkdir(parents=True, exist_ok=True)
                took, table = time.perf_counter(), snippet(small=small)
                _write_atomic(stored[0], table.to_string(index=False) + '\n')
                # the same table for the note's numbers (exercise_numbers.render_table)
                _write_atomic(folder / 'table.csv', table.to_csv(index=False))
                _record_run(folder, time.perf_counter() - took)
            body += ['```python', inspect.getsource(snippet).rstrip(), '```', '',
                     '```', stored[0].read_text().rstrip('\n'), '```', '']
        else:
            missing = [f for f in stored if not f.is_file()]
            if missing:
                if not run:
                    raise FileNotFoundError(f'{missing[0]} is missing; run `python -m d2l '
                                            f'exercises {e.id} --out {folder}` first')
                print(answer(e, folder), file=sys.stderr)
            found = _sweep_section(body, e.id, e.sweep, folder, path)
            if found is not None:
                answers[e.id] = found
            for stage in e.stages:  # each further sweep under its own command
                name, argv = f'{e.id}#{stage.name}', stage.argv(folder)
                body += [f'**{stage.what}** (`{name}`):', '', '```',
                         'python -m d2l sweep ' + shlex.join(argv), '```', '']
                found = _sweep_section(body, name, argv, folder / stage.name, path)
                if found is not None:
                    answers[name] = found
                for line in _chosen_line(folder, stage):  # the finalists' best: the chosen one
                    body += [f'C{line[1:]}.', '']
        notes.append((len(body), e))  # filled in once every answer has run: notes read others'
        body += ['', '']
    for at, e in notes:
        try:
            note = _filled_in(e, NOTES.get(e.id), answers, root)
        except exercise_numbers.NoteError as error:
            refused.append(error)
            continue
        body[at] = note if note else f'<!-- notes: NOTES[{e.id!r}] in d2lkit/exercises.py -->'
    if refused:
        more = f' (and {len(refused) - 1} more notes)' if len(refused) > 1 else ''
        raise exercise_numbers.NoteError(f'{refused[0]}{more}')
    if not_run:
        body += ['## Answers not run yet', '', 'Their commands are under their headings above: '
                 + ', '.join(not_run) + '.', '']
    body += ['## Exercises no run answers', '',
             'A derivation or a discussion: the page and section to read.', '',
             '| ID | asks | read |', '|---|---|---|']
    body += [f'| {e.id} | {e.gist} | {e.pointer} |' for e in chosen if e.kind == 'conceptual']
    body += ['', '## The same question in both editions', '', '| d2l 0.17 | d2l 1.0 |', '|---|---|']
    body += [f'| {e.id} | {", ".join(e.same_as)} |'
             for e in CATALOG if e.edition == '0.17' and e.same_as]
    minutes = (time.perf_counter() - start) / 60
    today = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
    # Where the answers ran (each answer's ran.txt), not where this key is written.
    machines = sorted({_ran(default_out(BY_ID[i], root))[1] for i in answered
                       if (default_out(BY_ID[i], root) / 'ran.txt').is_file()})
    head = [_INTRO, f'Machine: {"; ".join(machines) or _machine()}.',
            f'Generated on {today} by `python -m d2l exercises --write-doc {path} --root {root}`, '
            f'in {minutes:.1f} minutes (answers already in `{root}` are read, not rerun). '
            + _cost_sentence([BY_ID[i] for i in answered], root), '']
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, '\n'.join(head + body) + '\n')
    return path


def _cost_sentence(answered: Sequence[Exercise], root: d2l.PathLike) -> str:
    """What running the answers afresh costs: the wall times their ran.txt files keep (measured
    where they ran), the answers with further sweeps apart; an estimate for any run before."""
    took = {False: 0.0, True: 0.0}  # seconds, without and with further sweeps
    unmeasured = []
    for e in (e for e in answered if e.kind != 'conceptual'):
        folder = default_out(e, root)
        ran = [folder / 'ran.txt', *(folder / t.name / 'ran.txt' for t in e.stages)]
        seconds = [_ran(f.parent)[2] if f.is_file() else None for f in ran]
        if None in seconds:
            unmeasured.append(e)
        else:
            took[bool(e.stages)] += sum(seconds)
    staged = [e.id for e in answered if e.stages and e not in unmeasured]
    text = (f'Run afresh into an empty `--root`, the answers took {took[False] / 60:.0f} minutes '
            f'of wall time in all on 2 quiet cores')
    if staged:
        text += f', and the answers with further sweeps ({", ".join(staged)}) ' \
                f'{took[True] / 60:.0f} more'
    text += " (each answer's own time, kept in its ran.txt)"
    if unmeasured:
        estimate = sum(estimated_seconds(e) for e in unmeasured) / 60
        text += (f'; {", ".join(e.id for e in unmeasured)}, run before their times were kept, '
                 f'take about {estimate:.0f} minutes by the estimate from the scripts\' measured '
                 'seconds per epoch, searches counted unpruned')
    return text + ". A table's seconds column says how long its runs took where they ran."


def _sweep_section(body: list[str], name: str, sweep: Sequence[str], folder: Path,
                   doc: Path) -> exercise_numbers.Answer | None:
    """Add one sweep's part of an answer to body: its table (summary.md rebuilt from
    results.csv), a search's best line, where and when it ran, its figures; return its numbers."""
    if not (folder / 'ran.txt').is_file():  # results from a sweep run by hand
        _record_run(folder)
    found = None
    if (folder / 'results.csv').is_file():
        found = sweep_numbers(sweep, folder)
        _rebuild_summary(found)
    figures = [Path(os.path.relpath(f, doc.parent)).as_posix() for f in _figures(folder, sweep)]
    body += [_summary_table(folder), '']
    for line in _best_line(folder):  # a search's best trial, run once more for the test set
        body += [line + '.', '']
    body += [f'Run on {_ran(folder)[0]}; results in `{folder}`.', '',
             *(f'![{name}]({figure})' for figure in figures), '']
    return found


def _filled_in(exercise: Exercise, note: str | None, answers: dict[str, exercise_numbers.Answer],
               root: d2l.PathLike) -> str | None:
    """A note with its {placeholders} filled in from its answer's results (exercise_numbers);
    NoteError (one line) for a placeholder that names nothing or a verdict the numbers deny."""
    if not note or not exercise_numbers.has_placeholders(note):
        return note
    if exercise.kind == 'code':
        table = default_out(exercise, root) / 'table.csv'
        if not table.is_file():
            raise exercise_numbers.NoteError(f'note {exercise.id} names numbers, but its answer '
                                             f'has no {table}; delete its table.txt to rerun it')
        return exercise_numbers.render_table(note, pd.read_csv(table), f'note {exercise.id}')
    def other(id: str) -> exercise_numbers.Answer:
        if id not in answers:
            base, _, stage = id.partition('#')
            if base not in BY_ID or BY_ID[base].kind != 'run':
                raise exercise_numbers.NoteError(f'note {exercise.id}: {base} is not a run answer')
            folder = default_out(BY_ID[base], root)
            if not stage:
                answers[id] = numbers(BY_ID[base], folder)
            else:
                stages = {t.name: t for t in BY_ID[base].stages}
                if stage not in stages:
                    raise exercise_numbers.NoteError(f'note {exercise.id}: {base} has no stage '
                                                     f'{stage} ({", ".join(stages) or "none"})')
                answers[id] = sweep_numbers(stages[stage].argv(folder), folder / stage)
        return answers[id]
    if exercise.id not in answers:
        raise exercise_numbers.NoteError(f'note {exercise.id} names numbers, but its answer has '
                                         f'no results.csv under {root}')
    return exercise_numbers.render(note, answers[exercise.id], f'note {exercise.id}', other)


def _write_atomic(path: Path, text: str) -> None:
    """Write text to path through a temporary file beside it: never a half-written file."""
    with d2l.atomic_file(path) as f:
        f.write(text.encode())


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m d2l exercises [ID [--out DIR] [flags]] [--write-doc PATH [--root DIR]]`."""
    parser = argparse.ArgumentParser(
        prog='python -m d2l exercises', allow_abbrev=False,
        description="List the books' exercises on linear networks and MLPs (both editions) "
                    'with the command answering each, or run one answer.',
        epilog='Flags after a run answer\'s ID go to its sweep and replace the answer\'s own value '
               'of that flag, e.g. a quick try:\n  python -m d2l exercises 0.17/mlp-scratch.3 '
               '--epochs 1 --seeds 0 --out /tmp/try',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('id', nargs='?', metavar='ID', help='an exercise, e.g. 0.17/mlp-scratch.1')
    parser.add_argument('--out', metavar='DIR', help='results folder of a run answer '
                        '(default: exercises/EDITION-PAGE.N)')
    parser.add_argument('--write-doc', metavar='PATH',
                        help='write the answer key (runs the answers missing under --root)')
    parser.add_argument('--root', metavar='DIR', default='exercises',
                        help="where --write-doc finds and puts the answers' sweep folders")
    parser.add_argument('--no-run', action='store_true',
                        help='with --write-doc: use only the answers already under --root and '
                             'list the others as not run yet')
    argv = list(sys.argv[1:] if argv is None else argv)
    args, flags = parser.parse_known_args(argv)
    if flags and (args.id is None or '/' not in args.id or args.write_doc):  # `--epochs 1`: no ID
        given = ' '.join(a for a in argv if a in flags or a == args.id)
        parser.error(f"unrecognized arguments: {given} (script flags follow a run answer's ID)")
    if flags and not flags[0].startswith('-'):  # `ID 5`: a value with no flag before it
        parser.error(f'unrecognized arguments: {" ".join(flags)} (after the ID come script flags, '
                     'each with its value, e.g. --epochs 1)')
    if args.write_doc:
        try:
            print(write_doc(args.write_doc, args.root, pending=args.no_run))
        except exercise_numbers.NoteError as e:  # one line: which note, which number or claim
            print(f'error: {e}', file=sys.stderr)
            raise SystemExit(1) from None
        return
    if args.id is None:
        print('\n'.join(listing()))
        return
    if args.id not in BY_ID:
        print(f'no exercise {args.id!r}; nearest: {", ".join(nearest(args.id))} '
              '(`python -m d2l exercises` lists them all)', file=sys.stderr)
        raise SystemExit(2)
    exercise = BY_ID[args.id]
    if flags and exercise.kind != 'run':
        parser.error(f'{args.id} is {exercise.kind}: it takes no script flags ({" ".join(flags)})')
    print(answer(exercise, args.out, flags=flags))


if __name__ == '__main__':
    main()
