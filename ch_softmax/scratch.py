"""Softmax regression from scratch: a linear model, softmax and cross-entropy written by hand.

Each 28x28 image is flattened to x (784 pixels); the model gives logits o = xW + b,
W of shape (784, 10), turned into class probabilities by softmax(o)_j = exp(o_j) / sum_k exp(o_k),
and is trained on the cross-entropy -log softmax(o)_y with minibatch SGD. The loss is
computed from the logits, as log softmax, so it stays finite even when a probability
rounds to 0 (the naive log(softmax(o)) turns into inf there, at larger learning rates).
train_epoch is one pass over the data (forward, loss, backward, the SGD step), the book's
train_epoch_ch3; train repeats it and tests after each epoch, the book's train_ch3, which
later chapters call as d2l.train_ch3. Defaults, initial weights and batch order are those
of concise.py, so the two print the same numbers:

    python ch_softmax/scratch.py                 # Fashion-MNIST, batch 256, lr 0.1, 10 epochs
    python ch_softmax/scratch.py --predict pred.png --save softmax.pt
    python ch_softmax/scratch.py --load softmax.pt   # evaluate saved weights, no training
    python ch_softmax/scratch.py --init zero --weight-decay 0.001   # the exercises' settings
    python -m d2l compare ch_softmax             # scratch.py next to concise.py
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

NUM_INPUTS, NUM_OUTPUTS = 28 * 28, 10


def log_softmax(O: torch.Tensor) -> torch.Tensor:
    """log softmax(O) of each row: o_j - log sum_k exp(o_k)."""
    # exp overflows float32 to inf above about 88. Subtracting the same number from a whole row
    # leaves softmax unchanged (exp(-m) cancels), and with m the row max every exponent is <= 0.
    O = O - O.max(dim=1, keepdim=True).values
    return O - torch.log(torch.exp(O).sum(dim=1, keepdim=True))


def softmax(O: torch.Tensor) -> torch.Tensor:
    """Softmax of each row: exp(o_j) / sum_k exp(o_k), class probabilities that sum to 1."""
    return torch.exp(log_softmax(O))


def cross_entropy(O: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each example, -log softmax(O)[i, y_i]: the true class's -log probability."""
    # From log_softmax, not log(softmax(O)): a probability that rounds to 0 would give -log 0 = inf.
    return -log_softmax(O)[range(len(O)), y]


def train_epoch(net: Callable, train_iter: Iterable, loss: Callable, params: list[torch.Tensor],
                lr: float, epoch: int) -> tuple[float, float]:
    """One pass of minibatch SGD over train_iter; return (mean loss per example, accuracy)."""
    device = params[0].device  # --device: each batch goes where the weights are
    metric = d2l.Accumulator(3)  # sum of the losses, correct predictions, examples
    for i, (X, y) in enumerate(train_iter, start=1):
        X, y = X.to(device), y.to(device)
        y_hat = net(X)
        l = loss(y_hat, y)  # one value per example
        d2l.check_loss(l.sum(), epoch, i)  # NaN or inf: training diverged, stop now and say where
        l.sum().backward()  # the gradient of the summed loss: sgd divides it by the batch size
        d2l.sgd(params, lr, len(y))
        metric.add(l.sum().item(), d2l.accuracy(y_hat, y), len(y))
    return metric[0] / metric[2], metric[1] / metric[2]


def train(net: Callable, train_iter: d2l.ArrayLoader, test_iter: Iterable, loss: Callable,
          num_epochs: int, params: list[torch.Tensor], lr: float,
          on_epoch: d2l.EpochCallback | None = None,
          eval_name: str = 'test acc') -> dict[str, list[float]]:
    """Train for num_epochs, testing after each and printing the classic line; return the history.

    on_epoch(epoch, numbers) hears each epoch's numbers (a sweep's pruner); eval_name says
    what test_iter holds ('valid acc' with --valid).
    """
    device = params[0].device
    history = {'train_loss': [], 'train_acc': [], eval_name.replace(' ', '_'): [], 'seconds': []}
    timer = d2l.Timer()
    for epoch in range(1, num_epochs + 1):
        timer.start()
        train_loss, train_acc = train_epoch(net, train_iter, loss, params, lr, epoch)
        seconds = timer.stop()
        test_acc = d2l.evaluate_accuracy(net, test_iter, device)
        for key, value in zip(history, (train_loss, train_acc, test_acc, seconds)):
            history[key].append(value)
        print(f'epoch {epoch}, loss {train_loss:.4f}, train acc {train_acc:.3f}, '
              f'{eval_name} {test_acc:.3f}')
        if on_epoch is not None:
            on_epoch(epoch, {key: values[-1] for key, values in history.items()})
    examples = num_epochs * train_iter.num_examples  # each epoch sees every training example
    print(f'{examples / timer.sum():.1f} examples/sec on {device}')
    return history


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.1, batch_size=256, num_epochs=10)
    kit.add_model_flags(parser)  # --init, --weight-decay: the same meaning as in concise.py
    return kit.parse_model_args(parser, argv)


def main(argv: list[str] | None = None,
         on_epoch: d2l.EpochCallback | None = None) -> dict[str, list[float]]:
    """Train softmax regression from scratch (or --load it); return the per-epoch history."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    device = args.device
    # test_iter: with --valid, the held-out images
    train_iter, test_iter = kit.load_script_data(args)

    # The book's W ~ N(0, 0.01^2), or what --init asks for (drawn as torch.normal would).
    W = kit.init_weight(args.init, (NUM_INPUTS, NUM_OUTPUTS), device)
    b = torch.zeros(NUM_OUTPUTS, device=device, requires_grad=True)

    def net(X: torch.Tensor) -> torch.Tensor:
        """Logits XW + b, each image a row of 784 pixels; softmax of a row gives probabilities."""
        return X.reshape(-1, NUM_INPUTS) @ W + b

    def loss(O: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per example, plus lambda/2 ||W||^2 with --weight-decay lambda."""
        l = cross_entropy(O, y)
        # Added to every example's loss: the summed loss then carries n times the penalty, and sgd's
        # division by the batch size n leaves lambda W in W's gradient (weight decay, 0.17 4.5).
        return l + args.weight_decay * kit.l2_penalty([W]) if args.weight_decay else l

    weights, settings = {'W': W, 'b': b}, {'model': 'ch_softmax/scratch.py',
                                           'dataset': args.dataset}
    if args.load:  # evaluate saved weights instead of training
        return kit.evaluate_saved(args, net, weights, settings, test_iter)
    history = train(net, train_iter, test_iter, loss, args.epochs, [W, b], args.lr,
                    on_epoch, kit.eval_name(args))
    kit.write_outputs(args, history, weights, settings,
                      f'softmax regression from scratch, {args.dataset}')
    kit.show_predictions(args, net, test_iter, device)
    return history


if __name__ == '__main__':
    kit.run_script(main)
