"""The plumbing the chapter scripts share: their flags, data splits, outputs, --load, and errors.

A chapter script reads like the book's page and calls this module for everything around the
lesson (`from d2lkit import script as kit`):

- flags: argument_parser (the flags every script shares, with the book's defaults) and the
  argparse types (positive_int, non_negative_float, output_file, png_file, device_flag);
- data: script_splits and load_script_data (--dataset, --data-root, --valid, --num-train),
  eval_name;
- the exercises' settings: --init (init_flag, init_weight, linear_init), --weight-decay
  (l2_penalty, with_penalty), --dropout and --layer-stats (add_model_flags, parse_model_args,
  LayerStats);
- outputs: write_outputs (--save, --history, --plot), show_predictions and show_inspection
  (--predict, --confusion, --mistakes), evaluate_saved and restore (--load); for the
  regressions with a test set, record_losses (each epoch's line) and restore_losses (--load);
- the run: run_script (one line per expected error, the warning of shadowing_d2l, and the one
  exit hook of this module: gc.freeze, so that Python's shutdown skips its garbage collections)
  and load_script (a script imported by its path, for compare, sweep and the tests).

The book's API stays d2l.<name>; this module imports d2l, never the other way round.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gc
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

import d2l

Examples = tuple[torch.Tensor, torch.Tensor]  # (images, labels): a data set or a split of one
# A run's history as written to --history: per-epoch lists by name (train_loss ...), and a
# few final numbers (linear regression's b, w_error ...).
History = Mapping[str, list[float] | float]
# LayerStats.as_dict(): the layers' names, the epochs, and per key one list per epoch of one
# number per layer
LayerNumbers = dict[str, list[str] | list[int] | list[list[float]]]


def _positive(kind: type[int] | type[float],
              most: float | None = None) -> Callable[[str], int | float]:
    """An argparse type that accepts only positive numbers of `kind`, at most `most` if given."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = 'an integer' if kind is int else 'a number'
            raise argparse.ArgumentTypeError(f'{text!r} is not {what}') from None
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'must be positive, got {text}')
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f'must be at most {most:.6g}, got {text}')
        return value
    parse.__name__ = f'positive {kind.__name__}'
    return parse


positive_int = _positive(int)  # an argparse type for sizes such as --hidden


def non_negative_float(text: str) -> float:
    """An argparse type for a rate that may be 0, such as --weight-decay: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


def output_file(suffix: str = '') -> Callable[[str], str]:
    """An argparse type for a file the run will write, refused before training if it cannot be.

    A name without an extension gets `suffix` (e.g. '.png'). Missing folders are fine (they
    are made), but a path that is a folder, or under a folder we may not write, is refused.
    """
    def parse(text: str) -> str:
        path = Path(text).expanduser()
        if path.is_dir():
            raise argparse.ArgumentTypeError(f'{text} is a folder; give a file name, '
                                             f'e.g. {path / ("out" + suffix)}')
        if suffix and not path.suffix:
            path = path.with_suffix(suffix)
        # the nearest folder that exists: it would hold the file, or the folders to be made
        folder = next(p for p in path.absolute().parents if p.exists())
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f'cannot write {text}: '
                                             f'{folder} is not a writable folder')
        return str(path)
    parse.__name__ = 'output file'
    return parse


png_file = output_file('.png')  # an argparse type for figures such as --plot


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """--help with the defaults (but not "None") and a script docstring's line breaks (examples)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return action.help if action.default is None else super()._get_help_string(action)


def argument_parser(description: str, *, lr: float, batch_size: int, num_epochs: int,
                    images: bool = True, plot_help: str = 'write the training curves to this PNG'
                    ) -> argparse.ArgumentParser:
    """An argparse parser with the flags every chapter script shares, with the book's defaults."""
    # Usage lines name the script that asks for the parser, also when `compare` loads it.
    caller = sys._getframe(1).f_globals.get('__file__') or sys.argv[0]
    parser = argparse.ArgumentParser(prog=Path(caller).name, description=description,
                                     formatter_class=HelpFormatter)
    parser.add_argument('--epochs', type=_positive(int), default=num_epochs,
                        help='number of epochs')
    # A learning rate beyond float32's range would overflow inside the update, not fail cleanly.
    float32_max = float(torch.finfo(torch.float32).max)
    parser.add_argument('--lr', type=_positive(float, most=float32_max), default=lr,
                        help='learning rate')
    parser.add_argument('--batch-size', type=_positive(int), default=batch_size,
                        help='mini-batch size')
    parser.add_argument('--seed', type=int, default=0, help='random seed (weights and batch order)')
    parser.add_argument('--device', type=device_flag, default='cpu',
                        help='cpu, cuda, cuda:N, mps or auto (best available)')
    parser.add_argument('--plot', metavar='PATH', type=png_file, help=plot_help)
    parser.add_argument('--history', metavar='PATH', type=output_file('.json'),
                        help='write the per-epoch numbers to this JSON file')
    parser.add_argument('--save', metavar='PATH', type=output_file(),
                        help='save the trained weights (tensors only) here')
    parser.add_argument('--load', metavar='PATH',
                        help='load weights saved with --save and evaluate them '
                        'instead of training')
    if images:
        parser.add_argument('--dataset', choices=['fashion-mnist', 'mnist'],
                            default='fashion-mnist', help='which data set to train on')
        parser.add_argument('--data-root', metavar='DIR',
                            help='folder holding the IDX files '
                                 '(default: $D2L_DATA, ~/.cache/d2l, system copy)')
        parser.add_argument('--predict', metavar='PATH', type=png_file,
                            help='write a PNG of test images with true and predicted labels')
        parser.add_argument('--confusion', metavar='PATH', type=png_file,
                            help='write the confusion matrix of the test images to this PNG '
                                 'and print the three most-confused pairs of classes')
        parser.add_argument('--mistakes', metavar='PATH', type=png_file,
                            help='write the 16 test images with the highest loss to this PNG')
        parser.add_argument('--valid', type=_positive(int), metavar='N',
                            help='hold out the last N training images and report accuracy '
                                 'on them instead of test')
        parser.add_argument('--num-train', type=_positive(int), metavar='N',
                            help='train on the first N training images only '
                                 '(after --valid holds its own out)')
    return parser


def script_splits(args: argparse.Namespace) -> tuple[Examples, Examples]:
    """The (images, labels) an image script trains on and evaluates on, as its flags say.

    Images are uint8 (N, 1, 28, 28) of --dataset. Evaluation is on the test set, or with
    --valid N on the last N training images, then held out of training; --num-train N keeps
    the first N of the training images that are left.
    """
    arrays = d2l.load_mnist_arrays(args.dataset, root=args.data_root)
    X, y = arrays['train_images'].unsqueeze(1), arrays['train_labels']
    X_eval, y_eval = arrays['test_images'].unsqueeze(1), arrays['test_labels']
    if args.valid:
        if args.valid >= len(y):
            raise d2l.D2LError(f'--valid {args.valid} leaves no training images '
                               f'(there are {len(y)}); hold out fewer, e.g. --valid {len(y) // 6}')
        X, X_eval, y, y_eval = X[:-args.valid], X[-args.valid:], y[:-args.valid], y[-args.valid:]
    if args.num_train:
        if args.num_train > len(y):
            beside = f' beside --valid {args.valid}' if args.valid else ''
            raise d2l.D2LError(f'--num-train {args.num_train} is more than the {len(y)} training '
                               f'images there are{beside}; give at most {len(y)}')
        X, y = X[:args.num_train], y[:args.num_train]
    return (X, y), (X_eval, y_eval)


def load_script_data(args: argparse.Namespace) -> tuple[d2l.ArrayLoader, d2l.ArrayLoader]:
    """(train_iter, eval_iter) of an image script: --batch-size batches of script_splits(args).

    The training batches are reshuffled every epoch.
    """
    (X, y), (X_eval, y_eval) = script_splits(args)
    return (d2l.ArrayLoader((X, y), args.batch_size, shuffle=True, uint8_images=True),
            d2l.ArrayLoader((X_eval, y_eval), args.batch_size, uint8_images=True))


def eval_name(args: argparse.Namespace) -> str:
    """'valid acc' with --valid, else 'test acc': what an image script calls its evaluation."""
    return 'valid acc' if getattr(args, 'valid', None) else 'test acc'


# --init, --weight-decay, --dropout and --layer-stats: the settings the books' exercises ask about,
# with one meaning in a chapter's scratch.py and concise.py, so `compare` lines them up.

class Init(NamedTuple):
    """An --init setting: 'default' (the book's N(0, 0.01^2)), 'zero', 'constant' (value C),
    'normal' (value SIGMA) or 'xavier' (Xavier/Glorot normal); biases always start at 0."""
    kind: str
    value: float = 0.01

    def __str__(self) -> str:
        return f'{self.kind}:{self.value:g}' if self.kind in ('constant', 'normal') else self.kind


INIT_HELP = ("initial weights: default (the book's N(0, 0.01^2)), zero, constant:C, "
             'normal:SIGMA (N(0, SIGMA^2)) or xavier (Xavier/Glorot normal, '
             'N(0, 2/(inputs+outputs))); biases start at 0')


def init_flag(text: str) -> Init:
    """An argparse type for --init: default, zero, constant:C, normal:SIGMA or xavier."""
    kind, colon, value = text.partition(':')
    if kind in ('default', 'zero', 'xavier') and not colon:
        return Init(kind)
    if kind in ('constant', 'normal') and colon:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and (kind == 'constant' or number > 0):
            return Init(kind, number)
        want = ('a number, e.g. constant:0.5' if kind == 'constant'
                else 'a positive number, e.g. normal:1')
        raise argparse.ArgumentTypeError(f'{text!r}: the value after {kind}: must be {want}')
    raise argparse.ArgumentTypeError(f'{text!r} is not an init; use default, zero, constant:C, '
                                     'normal:SIGMA or xavier')


def init_weight(init: Init, shape: tuple[int, int],
                device: torch.device | str | None = None) -> torch.Tensor:
    """A scratch weight matrix W, shape (inputs, outputs), as --init says, with requires_grad (kit).

    The book's default is N(0, 0.01^2) (0.17 sec. 3.6); Xavier's normal form has variance
    2 / (inputs + outputs), which keeps the variance of activations and gradients steady from
    layer to layer (0.17 sec. 4.8). Zero and constant weights make every hidden unit the same.
    """
    num_in, num_out = shape
    if init.kind == 'zero':
        W = torch.zeros(shape, device=device)
    elif init.kind == 'constant':
        W = torch.full(shape, init.value, device=device)
    else:
        sigma = math.sqrt(2 / (num_in + num_out)) if init.kind == 'xavier' else init.value
        W = torch.normal(0, sigma, size=shape, device=device)
    return W.requires_grad_()


def linear_init(init: Init) -> Callable[[nn.Module], None]:
    """A function for net.apply: each nn.Linear's weight set by nn.init per --init, bias 0 (kit).

    The weight is drawn as a scratch (inputs, outputs) matrix and stored transposed (nn.Linear
    keeps W.T), so a concise net starts from init_weight's numbers under the same seed.
    """
    def apply(module: nn.Module) -> None:
        if not isinstance(module, nn.Linear):
            return
        W = torch.empty(module.weight.shape[::-1], device=module.weight.device)  # (inputs, outputs)
        if init.kind == 'zero':
            nn.init.zeros_(W)
        elif init.kind == 'constant':
            nn.init.constant_(W, init.value)
        elif init.kind == 'xavier':
            nn.init.xavier_normal_(W)
        else:
            nn.init.normal_(W, 0, init.value)
        with torch.no_grad():
            module.weight.copy_(W.T)
            module.bias.zero_()
    return apply


def fraction(text: str) -> float:
    """An argparse type for a rate in [0, 1), such as a dropout rate or label smoothing."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 0 and below 1, got {text}')
    return value


def add_model_flags(parser: argparse.ArgumentParser, hidden_layers: bool = False) -> None:
    """Add --init, --weight-decay (hidden_layers: --dropout, --layer-stats) to a script's parser.

    Parse with parse_model_args, which checks --dropout against --hidden.
    """
    parser.add_argument('--init', type=init_flag, default=Init('default'), metavar='INIT',
                        help=INIT_HELP)
    parser.add_argument('--weight-decay', type=non_negative_float, default=0.0, metavar='LAMBDA',
                        help='L2 penalty LAMBDA/2 * sum of ||W||^2 over the weight matrices '
                        '(not the biases); the printed loss includes it, in scratch.py and '
                        'concise.py alike')
    if hidden_layers:
        parser.add_argument('--depth', type=positive_int, default=1, metavar='D',
                            help="D hidden layers of --hidden's one size (--hidden 512 --depth 3 "
                            'gives 784-512-512-512-10): depth as one number, for a sweep')
        parser.add_argument('--dropout', type=fraction, nargs='+', default=[0.0], metavar='P',
                            help="dropout rate after each hidden layer's activation, one per "
                            '--hidden size (one value: the same for all layers); off at evaluation')
        parser.add_argument('--layer-stats', metavar='PATH', type=output_file('.json'),
                            help='record per hidden layer and epoch the mean and variance of its '
                            'activations and the mean norm of its weight gradient: JSON here, '
                            'a PNG beside it')


def parse_model_args(parser: argparse.ArgumentParser,
                     argv: list[str] | None = None) -> argparse.Namespace:
    """parser.parse_args(argv), --hidden repeated --depth times, --dropout made one rate per
    --hidden layer (exit 2: wrong count)."""
    args = parser.parse_args(argv)
    if getattr(args, 'depth', 1) != 1:
        if len(args.hidden) != 1:
            parser.error(f'--depth {args.depth} repeats one --hidden size, got {len(args.hidden)}; '
                         'give one size, or every layer\'s size without --depth')
        args.hidden = args.hidden * args.depth
    if hasattr(args, 'dropout'):
        hidden = args.hidden if isinstance(args.hidden, list) else [args.hidden]
        if len(args.dropout) == 1:
            args.dropout = args.dropout * len(hidden)
        elif len(args.dropout) != len(hidden):
            parser.error(f'--dropout gives {len(args.dropout)} rates for {len(hidden)} hidden '
                         'layers; give one rate per --hidden size, or one for all')
    return args


def l2_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """The L2 penalty sum of ||W||^2 / 2 over the given weight matrices (0.17 sec. 4.5)."""
    return sum((W ** 2).sum() for W in weights) / 2


def with_penalty(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 weights: Sequence[torch.Tensor],
                 lambd: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(y_hat, y), a batch mean, plus lambd * l2_penalty(weights) without a gradient (kit).

    For concise code whose optimizer applies the weight decay (weight_decay=lambd adds
    lambd W to the gradient): the printed loss is then the objective scratch code minimises.
    """
    def penalised(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            penalty = lambd * l2_penalty(weights)
        return loss(y_hat, y) + penalty
    return penalised


class LayerStats:
    """--layer-stats: per hidden layer and epoch, the mean and variance of its activations over
    the epoch's training batches, and the mean over those batches of its weight gradient norm (kit).

    Scratch code calls activation(i, H) in its net and watch(weights); concise code calls
    watch_modules(activations) and watch(weights). Only forward passes with gradients count
    (training, not evaluation). Gradient norms are of the mean loss over the batch: with
    summed_loss=True (scratch: backward on the summed loss) they are divided by the batch size.
    """

    def __init__(self, num_layers: int, path: str | None, summed_loss: bool = False) -> None:
        self.path, self.summed_loss, self.num_layers = path, summed_loss, num_layers
        self._batch = 1
        self._sums = np.zeros((num_layers, 3))  # per layer: sum of H, sum of H^2, number of values
        self._grads = np.zeros((num_layers, 2))  # per layer: sum of gradient norms, batches
        self.epochs: dict[str, list[list[float]]] = {
            'activation_mean': [], 'activation_var': [], 'grad_norm': []}

    def activation(self, layer: int, H: torch.Tensor) -> None:
        """Record hidden layer `layer`'s (1 = first) activations H of a training batch."""
        if self.path is None or not torch.is_grad_enabled():
            return
        H = H.detach().double()
        self._sums[layer - 1] += (float(H.sum()), float((H ** 2).sum()), H.numel())
        self._batch = H.shape[0]

    def watch(self, weights: Sequence[torch.Tensor]) -> None:
        """Record each hidden layer's weight gradient norm (weights[0]: the first's) in backward."""
        if self.path is None:
            return
        for i, W in enumerate(weights):
            W.register_hook(functools.partial(self._gradient, i))

    def watch_modules(self, activations: Sequence[nn.Module]) -> None:
        """Record the outputs of these activation modules, one per hidden layer, first to last."""
        if self.path is None:
            return
        for i, module in enumerate(activations, start=1):
            module.register_forward_hook(lambda _module, _inputs, H, i=i: self.activation(i, H))

    def _gradient(self, i: int, grad: torch.Tensor) -> None:
        norm = float(grad.detach().norm()) / (self._batch if self.summed_loss else 1)
        self._grads[i] += (norm, 1)

    def end_epoch(self) -> None:
        """Turn the batches recorded since the last call into this epoch's numbers."""
        total, squares, count = self._sums.T.copy()
        count = np.maximum(count, 1)
        mean = total / count
        self.epochs['activation_mean'].append(mean.tolist())
        self.epochs['activation_var'].append(np.maximum(squares / count - mean ** 2, 0).tolist())
        batches = np.maximum(self._grads[:, 1], 1)
        self.epochs['grad_norm'].append((self._grads[:, 0] / batches).tolist())
        self._sums[:], self._grads[:] = 0, 0

    def after_epochs(self, on_epoch: d2l.EpochCallback | None) -> d2l.EpochCallback | None:
        """on_epoch for the training loop: close the epoch's numbers, then call on_epoch, if any."""
        if self.path is None:
            return on_epoch

        def callback(epoch: int, numbers: dict[str, float]) -> None:
            self.end_epoch()
            if on_epoch is not None:
                on_epoch(epoch, numbers)
        return callback

    def as_dict(self) -> LayerNumbers:
        """The numbers as written: per key, one list per epoch of one value per hidden layer."""
        return {'layers': [f'hidden {i}' for i in range(1, self.num_layers + 1)],
                'epoch': list(range(1, len(self.epochs['grad_norm']) + 1)), **self.epochs}

    def write(self, title: str) -> None:
        """Write the JSON to the --layer-stats path and its PNG beside it, and say where."""
        if self.path is None:
            return
        path, png = Path(self.path), Path(self.path).with_suffix('.png')
        with d2l.writing_to(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.as_dict(), indent=1) + '\n')
        plot_layer_stats(self.as_dict(), png, title)
        print(f'layer statistics written to {path} and {png}')


def layer_stats(args: argparse.Namespace, num_layers: int, summed_loss: bool = False) -> LayerStats:
    """The --layer-stats recorder of a script's hidden layers; without the flag, a no-op."""
    return LayerStats(num_layers, getattr(args, 'layer_stats', None), summed_loss)


def plot_layer_stats(stats: LayerNumbers, path: d2l.PathLike,
                     title: str | None = None) -> str | None:
    """Draw LayerStats numbers: activation mean (solid) and variance (dashed) per layer, and the
    gradient norms per layer on a log axis, against the epoch (kit)."""
    plt = d2l.pyplot()
    fig, (ax_act, ax_grad) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = stats['epoch']
    for i, name in enumerate(stats['layers']):
        color = f'C{i}'
        ax_act.plot(epochs, [e[i] for e in stats['activation_mean']], 'o-', color=color,
                    label=f'{name} mean')
        ax_act.plot(epochs, [e[i] for e in stats['activation_var']], 's--', color=color,
                    label=f'{name} variance')
        ax_grad.plot(epochs, [e[i] for e in stats['grad_norm']], 'o-', color=color, label=name)
    ax_act.set_ylabel('activations (training batches)')
    ax_grad.set_ylabel('mean ||dL/dW|| per batch')
    ax_grad.set_yscale('log')
    for ax in (ax_act, ax_grad):
        ax.set_xlabel('epoch')
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True), ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return d2l.finish_figure(fig, path, 'layer-stats')


def resolve_device(name: str) -> torch.device:
    """Turn a --device flag into a device, with a clear error when it is not there."""
    if name == 'auto':
        return d2l.try_gpu()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise d2l.D2LError(f'unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto') from None
    if device.type == 'cuda' and torch.cuda.device_count() <= (device.index or 0):
        raise d2l.D2LError(f'no such CUDA GPU here ({name!r}; torch sees '
                           f'{torch.cuda.device_count()}); use --device cpu or --device auto')
    mps = getattr(torch.backends, 'mps', None)
    if device.type == 'mps' and not (mps and mps.is_available()):
        raise d2l.D2LError("Apple MPS is not available here ('mps'); "
                           'use --device cpu or --device auto')
    return device


def device_flag(name: str) -> torch.device:
    """An argparse type for --device: a missing GPU is a bad flag (exit 2), before data is read."""
    try:
        return resolve_device(name)
    except d2l.D2LError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def restore(path: d2l.PathLike, weights: dict[str, torch.Tensor],
            settings: d2l.Settings) -> None:
    """--load: copy a weights file into these tensors in place, once it fits them.

    Its settings, names and shapes must all match (else d2l.load_weights's one D2LError line).
    """
    state = d2l.load_weights(path, expected=weights, settings=settings)
    with torch.no_grad():
        for name, tensor in weights.items():
            tensor.copy_(state[name])


def write_outputs(args: argparse.Namespace, history: History,
                  weights: dict[str, torch.Tensor] | None, settings: d2l.Settings | None,
                  title: str, plot: Callable[[str], str] | None = None) -> None:
    """Write what --save, --history and --plot asked for, and say where.

    --save keeps the weights with the settings that made them (weights=None: the script saves
    its own); --plot draws the training curves, or calls plot(path), which draws the script's
    own figure there and returns the line to print.
    """
    if weights is not None and getattr(args, 'save', None):
        d2l.save_weights(weights, args.save, settings)
        print(f'weights saved to {args.save}')
    if getattr(args, 'history', None):
        with d2l.writing_to(args.history):
            Path(args.history).parent.mkdir(parents=True, exist_ok=True)
            Path(args.history).write_text(json.dumps(history, indent=1) + '\n')
        print(f'history written to {args.history}')
    if getattr(args, 'plot', None):
        if plot:
            print(plot(args.plot))
        else:
            path = d2l.plot_history(history, args.plot, title)
            print(f'training curves written to {path}')


def _plural(name: str) -> str:
    """'shirts', 'dresses', '3s': the class name for 'n% of ...'."""
    return name + ('es' if name.endswith('s') else 's')


def record_losses(history: dict[str, list[float]], epoch: int, losses: tuple[float, ...],
                  shown: bool, on_epoch: d2l.EpochCallback | None) -> None:
    """After an epoch of a regression with a test set of its own (polynomial, weight decay):
    keep its (train loss, test loss) in history, or (train, test, validation loss) with
    --valid, print them if `shown` (at the book's points), then hand them to on_epoch."""
    numbers = dict(zip(('train_loss', 'test_loss', 'valid_loss'), losses))
    for key, value in numbers.items():
        history.setdefault(key, []).append(value)
    if shown:
        print(f'epoch {epoch}, {_loss_words(numbers)}')
    if on_epoch is not None:
        on_epoch(epoch, numbers)


def _loss_words(numbers: dict[str, float]) -> str:
    """'train loss 0.1, test loss 0.2', or with a validation loss 'train loss 0.1, valid loss
    0.15, test loss 0.2'."""
    order = [k for k in ('train_loss', 'valid_loss', 'test_loss') if k in numbers]
    return ', '.join(f'{k.split("_")[0]} loss {numbers[k]:.6g}' for k in order)


def restore_losses(args: argparse.Namespace, weights: dict[str, torch.Tensor],
                   settings: d2l.Settings, losses: Callable[[], tuple[float, ...]]) -> None:
    """--load of such a regression: restore the saved weights, print losses() = (train loss,
    test loss[, validation loss]) of them (evaluate_saved does this for a classifier)."""
    restore(args.load, weights, settings)
    numbers = dict(zip(('train_loss', 'test_loss', 'valid_loss'), losses()))
    print(f'loaded {args.load}: {_loss_words(numbers)}')


@contextlib.contextmanager
def held_out_stream(seed: int) -> Iterator[None]:
    """A random stream of its own for drawing a validation set (--valid of a regression): the
    CPU generator is set aside and seeded apart from --seed's, and given back afterwards, so
    the rest of the run (its other data, initial weights, batch order) is the same with or
    without the validation set. Its seed is a hash of --seed: the CPU generator keeps 32 bits
    of a seed (2**32 + s is s again), and a hash keeps it clear of the small seeds runs use."""
    digest = hashlib.sha256(f'--valid {seed}'.encode()).digest()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int.from_bytes(digest[:4], 'big'))
        yield


def loss_curves(history: dict[str, list[float]], path: str) -> str:
    """--plot of a regression with a test set of its own: train and test loss per epoch on a log
    axis (the book's semilogy), and the validation loss with --valid; return the line to print."""
    if not history['train_loss']:
        return f'note: no training curves to plot with --load; {path} not written'
    epochs = range(1, len(history['train_loss']) + 1)
    if 'valid_loss' in history:
        plt = d2l.pyplot()
        fig = plt.figure(figsize=(5, 3.5))
        axes = fig.gca()
        axes.set_xlabel('epoch'), axes.set_ylabel('loss')
        for key, style in (('train_loss', '-'), ('valid_loss', '--'), ('test_loss', ':')):
            axes.semilogy(epochs, history[key], linestyle=style, label=key.split('_')[0])
        axes.legend()
        d2l.finish_figure(fig, path, 'semilogy')
        return f'train, valid and test loss written to {path}'
    d2l.semilogy(epochs, history['train_loss'], 'epoch', 'loss', epochs, history['test_loss'],
                 ['train', 'test'], figsize=(5, 3.5), path=path)
    return f'train and test loss written to {path}'


def show_predictions(args: argparse.Namespace, net: d2l.Net, test_iter: d2l.Batches,
                     device: torch.device, verdicts: d2l.Verdicts | None = None) -> None:
    """--predict: draw the first 24 test images titled with true and predicted labels, and count
    the wrong ones; then --confusion and --mistakes (show_inspection, given `verdicts`, the
    evaluation pass, if one was made)."""
    if getattr(args, 'predict', None):
        X, y, y_hat = d2l.first_predictions(net, test_iter, 24, device)
        labels = d2l.text_labels(args.dataset)
        trues, preds = labels(y), labels(y_hat)
        d2l.draw_predictions(X, trues, preds, 3, args.predict)
        wrong = sum(true != predicted for true, predicted in zip(trues, preds))
        print(f'predictions written to {args.predict} '
              f'({wrong} of {len(trues)} wrong, titled in red)')
    show_inspection(args, net, test_iter, device, verdicts)


def show_inspection(args: argparse.Namespace, net: d2l.Net, test_iter: d2l.Batches,
                    device: torch.device | None, verdicts: d2l.Verdicts | None = None) -> None:
    """--confusion: draw the confusion matrix and print the three most-confused pairs; --mistakes:
    draw the 16 highest-loss images. Both from one evaluation pass over test_iter (`verdicts`, made
    here if None)."""
    if not (getattr(args, 'confusion', None) or getattr(args, 'mistakes', None)):
        return
    verdicts = verdicts or d2l.evaluate_verdicts(net, test_iter, device)
    labels = d2l.text_labels(args.dataset)
    what = eval_name(args).split()[0]  # 'test', or 'valid' with --valid
    if args.confusion:
        matrix = d2l.confusion_of(verdicts)
        accuracy = float(matrix.diagonal().sum()) / len(verdicts.labels)
        names, cells = labels(range(len(matrix))), d2l.confused_cells(matrix, 3)
        d2l.draw_matrix(matrix, names, args.confusion,
                        f'confusion matrix, {len(verdicts.labels)} {what} images, '
                        f'{what} acc {accuracy:.3f}')
        print(f'confusion matrix written to {args.confusion}; ' + (
            'most confused, true -> predicted:' if cells
            else f'no {what} image was taken for another class'))
        for i, j, count in cells:
            share = count / int(matrix[i].sum())
            print(f'  {names[i]} -> {names[j]}  {count} ({share:.1%} of {_plural(names[i])})')
    if args.mistakes:
        d2l.draw_mistakes(verdicts, labels, args.mistakes, what)
        print(f'mistakes written to {args.mistakes} '
              f'(the {len(verdicts.worst)} {what} images with the highest loss)')


def evaluate_saved(args: argparse.Namespace, net: d2l.Net,
                   weights: dict[str, torch.Tensor], settings: d2l.Settings,
                   test_iter: d2l.Batches) -> dict[str, list[float]]:
    """--load: restore the saved weights, print the test accuracy, draw --predict, --confusion and
    --mistakes; return that one number as a history, with each test image's true class and
    prediction (labels, predicted)."""
    restore(args.load, weights, settings)
    device = next(iter(weights.values())).device  # a scratch net runs where its weights are
    verdicts = d2l.evaluate_verdicts(net, test_iter, device)  # one pass: accuracy and figures
    test_acc = int((verdicts.predicted == verdicts.labels).sum()) / len(verdicts.labels)
    print(f'loaded {args.load}: {eval_name(args)} {test_acc:.3f}')
    if getattr(args, 'plot', None):
        print(f'note: no training curves to plot with --load; {args.plot} not written')
    if getattr(args, 'layer_stats', None):
        print(f'note: no training to record with --load; {args.layer_stats} not written')
    show_predictions(args, net, test_iter, device, verdicts)
    return {'train_loss': [], 'train_acc': [], eval_name(args).replace(' ', '_'): [test_acc],
            'seconds': [], 'labels': verdicts.labels.tolist(),
            'predicted': verdicts.predicted.tolist()}


def _reader_path() -> list[str]:
    """sys.path as the reader's own code in another folder has it.

    That is without this kit's folder, the running script's folder and the working folder,
    which only the chapter scripts (and `python -m d2l`) put first. Entries named in
    $PYTHONPATH stay: those the reader put there.
    """
    def real(entry: str) -> Path:
        return Path(entry or '.').resolve()  # '' is the working folder

    chosen = {real(p) for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p}
    started = {Path(d2l.__file__).resolve().parent, real('')}
    main_file = getattr(sys.modules.get('__main__'), '__file__', None)
    if main_file:
        started.add(Path(main_file).resolve().parent)
    return [p for p in sys.path
            if isinstance(p, str) and (real(p) not in started or real(p) in chosen)]


def shadowing_d2l() -> str | None:
    """One warning line when `import d2l` in the reader's own code would give another d2l.

    Another d2l than this kit is usually the books' own package (`pip install d2l`); the line
    gives its name, version and place, and the fix. None when `import d2l` gives the kit's
    d2l.py, another copy of this kit, or nothing.

    The scripts put the kit's folder first on sys.path, so importlib.util.find_spec would
    always answer the kit's d2l.py. Instead Python's own search is replayed over the reader's
    path (_reader_path): every finder of sys.meta_path in order (PathFinder, then the finders
    of editable installs, which come after it: that is why a d2l in site-packages wins over
    the kit installed with `pip install -e`). Nothing is imported; a few milliseconds (a
    `python -c` child process would take about 85).
    """
    import importlib.machinery
    here = Path(d2l.__file__).resolve()
    path, spec = _reader_path(), None
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            spec = finder.find_spec('d2l', path)
        elif hasattr(finder, 'find_spec'):
            try:
                spec = finder.find_spec('d2l', None)
            except Exception:  # another tool's finder failing says nothing about d2l
                spec = None
        if spec is not None:
            break
    if spec is None:
        return None
    is_package = spec.submodule_search_locations is not None
    origin = Path(spec.origin) if spec.origin and spec.has_location else None
    if origin is not None and origin.resolve() == here:
        return None
    if origin is None:  # a folder d2l/ without __init__.py (a namespace package)
        location = Path(next(iter(spec.submodule_search_locations)))
    else:
        location = origin.parent if is_package else origin
    if not is_package:  # a d2l.py: another checkout of this kit (same first line) is still the kit
        try:
            with open(origin, encoding='utf-8') as other, open(here, encoding='utf-8') as this:
                if other.readline() == this.readline():
                    return None
        except (OSError, UnicodeDecodeError):
            pass
    name, version = _distribution_of(location, origin)
    what = f'{name} {version}' if version else f'{name} (version unknown)'
    fix = (f'pip uninstall {name}' if version
           else f'pip uninstall d2l if pip installed it, else move {location} away')
    return (f'warning: `import d2l` outside this folder gives another package, {what} at '
            f'{location}, not this kit ({here}); the chapter scripts still use the kit, your '
            f"own code and the books' pages would not. Fix: {fix} (or use a fresh venv)")


def _distribution_of(location: Path, origin: Path | None) -> tuple[str, str | None]:
    """(distribution name, version) of the d2l at location: its .dist-info, else its __version__."""
    import importlib.metadata
    import re
    # the d2l-1.0.3.dist-info beside it
    for dist in importlib.metadata.distributions(name='d2l', path=[str(location.parent)]):
        return dist.metadata['Name'] or 'd2l', dist.version
    if origin is None:
        return 'd2l', None
    try:  # an editable or hand-placed package has no .dist-info beside it
        found = re.search(r'''^__version__\s*=\s*['"]([^'"]+)['"]''',
                          origin.read_text(encoding='utf-8'), re.M)
    except (OSError, UnicodeDecodeError):
        found = None
    return 'd2l', found.group(1) if found else None


def run_script(main: Callable[[], object]) -> None:
    """Run a script's main(); expected errors print one line and exit 1, not a traceback.

    Every chapter script and `python -m d2l` start here, once per process, so this is where the
    one warning about another d2l shadowing the kit (shadowing_d2l) is printed, to stderr, and
    where the exit hook that freezes the process's objects (below) is registered.
    """
    shadowed = shadowing_d2l()
    if shadowed:
        print(shadowed, file=sys.stderr)
    # At exit, after the other exit hooks (registered later, run first), freeze the objects:
    # Python's shutdown would otherwise run full garbage collections over every object torch,
    # pandas and matplotlib made, about a second on a slow core, for a process that is ending.
    atexit.unregister(gc.freeze)  # once, however many times a test calls run_script
    atexit.register(gc.freeze)
    try:
        main()
    except d2l.D2LError as e:
        sys.exit(f'error: {e}')
    except KeyboardInterrupt:
        sys.exit('interrupted')
    except BrokenPipeError:  # `script.py | head` closed the pipe: stop quietly, as Unix tools do
        # stdout to /dev/null, so that the flush at exit cannot fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def load_script(path: d2l.PathLike) -> ModuleType:
    """Import a chapter script by its file path (its main() is not run) and return the module."""
    import importlib.util
    path = Path(path).resolve()
    name = f'_d2l_script_{path.parent.name}_{path.stem}'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
