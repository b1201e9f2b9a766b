"""Weight decay, concisely: torch.optim.SGD's weight_decay on the weight (not on the bias).

The same data as scratch.py: 200 inputs, 20 training and 100 test examples of
y = 0.05 + sum_i 0.01 x_i + noise (std 0.01). The model is nn.Linear(200, 1) with its
weight from N(0, 1) and its bias 0, the loss half of nn.MSELoss (the mean of scratch.py's
squared_loss), batch 5, lr 0.003, 100 epochs. SGD with weight_decay lambd adds lambd * w to
the weight's gradient: the gradient of scratch.py's penalty lambd/2 ||w||^2, so the two take
the same steps. Defaults, initial weights and batch order are those of scratch.py, so the
two print the same numbers, --valid N's validation loss included:

    python ch_weight_decay/concise.py                     # no weight decay
    python ch_weight_decay/concise.py --weight-decay 3    # smaller ||w||, lower test loss
    python ch_weight_decay/concise.py --weight-decay 3 --plot wd.png   # loss curves, log axis
    python ch_weight_decay/concise.py --weight-decay 3 --valid 1000    # and a validation loss
    python -m d2l compare ch_weight_decay --weight-decay 3            # next to scratch.py
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

NUM_TRAIN, NUM_TEST, NUM_INPUTS = 20, 100, 200


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.003, batch_size=5, num_epochs=100, images=False,
                                 plot_help='write a PNG of the train and test loss (log axis)')
    parser.add_argument('--weight-decay', '--lambd', dest='weight_decay', default=0.0,
                        type=kit.non_negative_float, metavar='LAMBD',
                        help="lambd, the optimizer's weight decay on the weight; 0 is none")
    parser.add_argument('--valid', type=kit.positive_int, metavar='N',
                        help='draw N validation examples as the training ones are drawn (same '
                             'w, b and noise) and report their loss too: the loss to choose '
                             'lambd on, leaving the test set for the chosen one')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict:
    """Fit with the optimizer's weight decay (or --load weights); return the losses and ||w||."""
    args = parse_args(argv)
    net = nn.Sequential(nn.Linear(NUM_INPUTS, 1)).to(args.device)
    d2l.set_seed(args.seed)
    true_w, true_b = torch.ones((NUM_INPUTS, 1)) * 0.01, 0.05
    train_X, train_y = (t.to(args.device) for t in d2l.synthetic_data(true_w, true_b, NUM_TRAIN))
    test_X, test_y = (t.to(args.device) for t in d2l.synthetic_data(true_w, true_b, NUM_TEST))
    evaluated = [(train_X, train_y), (test_X, test_y)]  # the losses printed, in this order
    if args.valid:  # a validation set like the training set, from a random stream of its own
        with kit.held_out_stream(args.seed):
            valid = d2l.synthetic_data(true_w, true_b, args.valid)
        evaluated.append(tuple(t.to(args.device) for t in valid))
    train_iter = d2l.load_array((train_X, train_y), args.batch_size)
    d2l.init_normal(net[0], std=1)  # weight from N(0, 1) drawn as scratch.py draws w, bias 0

    mse = nn.MSELoss()
    loss = lambda y_hat, y: mse(y_hat, y) / 2  # noqa: E731  (scratch.py's squared_loss, averaged)
    # Decay the weight only: the bias is one number, and the book leaves it free.
    trainer = torch.optim.SGD([{'params': net[0].weight, 'weight_decay': args.weight_decay},
                               {'params': net[0].bias}], lr=args.lr)

    weights, settings = net.state_dict(), {'model': 'ch_weight_decay/concise.py'}
    history = {'train_loss': [], 'test_loss': [], 'seconds': []}

    def losses() -> tuple[float, ...]:  # the mean squared loss per example, without the decay
        with torch.no_grad():
            return tuple(float(loss(net(X), y)) for X, y in evaluated)

    if args.load:  # evaluate saved weights instead of training
        kit.restore_losses(args, weights, settings, losses)
    else:
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            for i, (X, y) in enumerate(train_iter, start=1):
                l = loss(net(X), y)
                d2l.check_loss(l, epoch, i)  # stop at once if training diverges
                trainer.zero_grad()
                l.backward()
                trainer.step()
            history['seconds'].append(time.perf_counter() - start)
            at_books_point = epoch % 5 == 0 or epoch == args.epochs
            kit.record_losses(history, epoch, losses(), at_books_point, on_epoch)

    # The chapter's result: how large the weights grew.
    w_norm = float(net[0].weight.detach().norm())
    print(f'L2 norm of w: {w_norm:f}')
    history['w_norm'] = w_norm

    kit.write_outputs(args, history, weights, settings, 'weight decay, concise',
                      plot=lambda path: kit.loss_curves(history, path))
    return history


if __name__ == '__main__':
    kit.run_script(main)
