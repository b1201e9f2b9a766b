"""Linear regression, concisely: nn.Linear, nn.MSELoss and torch.optim.SGD.

The same 1000 synthetic examples of y = 2 x1 - 3.4 x2 + 4.2 + noise (std 0.01) as
scratch.py, batched by d2l.load_array. Defaults, initial weights, batch order and the
loss (half the squared error, see below) are those of scratch.py, so the two print
the same numbers:

    python ch_linear_regression/concise.py                    # batch 10, lr 0.03, 3 epochs
    python ch_linear_regression/concise.py --plot data.png    # the data and the fitted plane
    python -m d2l compare ch_linear_regression                # scratch.py next to concise.py
    python ch_linear_regression/concise.py --reduction sum --lr 0.003   # = --lr 0.03 on the mean

The exercises' settings: --loss squared|huber|abs (nn.MSELoss halved, nn.HuberLoss with
delta 1, nn.L1Loss: the same numbers as scratch.py's hand-written losses), --init (the initial
weight; the bias starts at 0), --num-examples N, and --reduction mean|sum: with sum the
optimizer steps on the loss summed over the batch, a step batch-size times larger than on
the mean at the same lr (the printed loss is the mean per example either way).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402


def make_loss(name: str, reduction: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The --loss as torch.nn's modules, reduced over the batch by the mean or the sum."""
    if name == 'squared':
        # nn.MSELoss is the mean of (y_hat - y)^2. Halved, it is the mean of scratch.py's
        # squared_loss, so the printed loss and the gradient (hence every step at the same lr)
        # are scratch.py's. The book's concise version leaves out the 1/2, which doubles its
        # step at the same lr.
        mse = nn.MSELoss(reduction=reduction)
        return lambda y_hat, y: mse(y_hat, y) / 2
    # HuberLoss(delta=1) is (y_hat - y)^2 / 2 up to 1, then |y_hat - y| - 1/2 (SmoothL1Loss too).
    if name == 'huber':
        return nn.HuberLoss(reduction=reduction, delta=1.0)
    return nn.L1Loss(reduction=reduction)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.03, batch_size=10, num_epochs=3, images=False,
                                 plot_help='write a PNG of the data and the fitted plane')
    parser.add_argument('--loss', choices=['squared', 'huber', 'abs'], default='squared',
                        help='squared: (y_hat - y)^2 / 2 (the book); huber: Huber with delta 1; '
                             'abs: |y_hat - y|')
    parser.add_argument('--reduction', choices=['mean', 'sum'], default='mean',
                        help='step on the mean of the batch\'s losses, or on their sum (a step '
                             'batch-size times larger)')
    parser.add_argument('--init', type=kit.init_flag, default='default', metavar='INIT',
                        help=kit.INIT_HELP)
    parser.add_argument('--num-examples', type=kit.positive_int, default=1000, metavar='N',
                        help='number of synthetic examples')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict:
    """Fit linear regression with torch.nn (or --load it); return its losses and the errors."""
    args = parse_args(argv)
    net = nn.Sequential(nn.Linear(2, 1)).to(args.device)
    d2l.set_seed(args.seed)
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, args.num_examples)
    features, labels = features.to(args.device), labels.to(args.device)
    data_iter = d2l.load_array((features, labels), args.batch_size)
    net.apply(kit.linear_init(args.init))  # by default w from N(0, 0.01^2), b = 0, as in scratch.py

    loss = make_loss(args.loss, args.reduction)  # what the optimizer steps on
    mean_loss = make_loss(args.loss, 'mean')  # what is printed: the mean per example
    trainer = torch.optim.SGD(net.parameters(), lr=args.lr)

    weights, settings = net.state_dict(), {'model': 'ch_linear_regression/concise.py'}

    history = {'train_loss': [], 'seconds': []}
    if args.load:  # evaluate saved weights instead of training
        kit.restore(args.load, weights, settings)
        with torch.no_grad():
            print(f'loaded {args.load}: loss {float(mean_loss(net(features), labels)):f}')
    else:
        for epoch in range(args.epochs):
            start = time.perf_counter()
            for i, (X, y) in enumerate(data_iter, start=1):
                l = loss(net(X), y)
                d2l.check_loss(l, epoch + 1, i)  # stop at once if training diverges
                trainer.zero_grad()
                l.backward()
                trainer.step()
            history['seconds'].append(time.perf_counter() - start)
            with torch.no_grad():
                train_l = mean_loss(net(features), labels)
            history['train_loss'].append(float(train_l))
            print(f'epoch {epoch + 1}, loss {float(train_l):f}')
            if on_epoch is not None:
                on_epoch(epoch + 1, {'train_loss': float(train_l)})

    # The chapter's result: how far the learned parameters are from those that made the data.
    w_fit, b_fit = net[0].weight.detach().cpu().reshape(-1), net[0].bias.item()
    w_error, b_error = (true_w - w_fit).tolist(), true_b - b_fit
    print(f'error in estimating w: [{", ".join(f"{e:.6f}" for e in w_error)}]')
    print(f'error in estimating b: {b_error:.6f}')
    history.update(w=w_fit.tolist(), b=b_fit, w_error=w_error, b_error=b_error)
    title = 'linear regression, concise'
    kit.write_outputs(args, history, weights, settings, title,
                      plot=lambda path: 'data and fitted plane written to '
                      f'{d2l.plot_regression(features, labels, w_fit, b_fit, path, title)}')
    return history


if __name__ == '__main__':
    kit.run_script(main)
