"""Weight decay from scratch: the L2 penalty lambda/2 ||w||^2 added to the loss by hand.

High-dimensional linear regression, where a linear model overfits: 200 inputs and only 20
training examples (100 test), y = 0.05 + sum_i 0.01 x_i + noise, x from N(0, 1), noise
from N(0, 0.01^2). The model is d2l.linreg (y_hat = Xw + b, w from N(0, 1), b = 0), the
loss d2l.squared_loss (y_hat - y)^2 / 2 plus lambd * l2_penalty(w), the update d2l.sgd:
batch 5, lr 0.003, 100 epochs. The penalty's gradient is lambd * w, so each step also
shrinks w by lr * lambd * w: the weights decay. The train and test losses printed (every
5 epochs) are the squared loss alone, without the penalty; at the end, the L2 norm of w.
With lambd 0 the 20 examples are fitted exactly and the test loss stays high; lambd 3
keeps w small and the test loss falls. Defaults, initial weights and batch order are those
of concise.py, so the two print the same numbers. --valid N draws N more examples the way
the training set is drawn, a validation set, and prints its loss too: choose lambd on it
and keep the test loss for the lambd chosen (the run is otherwise the same, its validation
set drawn from a random stream of its own):

    python ch_weight_decay/scratch.py                     # lambd 0: no weight decay
    python ch_weight_decay/scratch.py --lambd 3           # smaller ||w||, lower test loss
    python ch_weight_decay/scratch.py --lambd 3 --plot wd.png   # train and test loss, log axis
    python ch_weight_decay/scratch.py --lambd 3 --valid 1000    # and a validation loss
    python -m d2l compare ch_weight_decay --weight-decay 3      # scratch.py next to concise.py
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

NUM_TRAIN, NUM_TEST, NUM_INPUTS = 20, 100, 200


def l2_penalty(w: torch.Tensor) -> torch.Tensor:
    """The L2 penalty ||w||^2 / 2 (the 1/2 makes its gradient w)."""
    return torch.sum(w ** 2) / 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.003, batch_size=5, num_epochs=100, images=False,
                                 plot_help='write a PNG of the train and test loss (log axis)')
    parser.add_argument('--weight-decay', '--lambd', dest='weight_decay', default=0.0,
                        type=kit.non_negative_float, metavar='LAMBD',
                        help='lambd, the weight of the L2 penalty lambd/2 ||w||^2; 0 is none')
    parser.add_argument('--valid', type=kit.positive_int, metavar='N',
                        help='draw N validation examples as the training ones are drawn (same '
                             'w, b and noise) and report their loss too: the loss to choose '
                             'lambd on, leaving the test set for the chosen one')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict:
    """Fit the model with weight decay by hand (or --load it); return the losses and ||w||."""
    args = parse_args(argv)
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
    w = torch.normal(0, 1, size=(NUM_INPUTS, 1), device=args.device, requires_grad=True)
    b = torch.zeros(1, device=args.device, requires_grad=True)
    lambd = args.weight_decay

    weights, settings = {'w': w, 'b': b}, {'model': 'ch_weight_decay/scratch.py'}
    history = {'train_loss': [], 'test_loss': [], 'seconds': []}

    def losses() -> tuple[float, ...]:  # the mean squared loss per example, without the penalty
        with torch.no_grad():
            return tuple(float(d2l.squared_loss(d2l.linreg(X, w, b), y).mean())
                         for X, y in evaluated)

    if args.load:  # evaluate saved weights instead of training
        kit.restore_losses(args, weights, settings, losses)
    else:
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            for i, (X, y) in enumerate(train_iter, start=1):
                # The penalty is added to every example's loss: summed over the batch and
                # divided by its size in sgd, its gradient is lambd * w.
                l = d2l.squared_loss(d2l.linreg(X, w, b), y) + lambd * l2_penalty(w)
                d2l.check_loss(l.mean(), epoch, i)  # stop at once if training diverges
                l.sum().backward()
                d2l.sgd([w, b], args.lr, len(y))
            history['seconds'].append(time.perf_counter() - start)
            at_books_point = epoch % 5 == 0 or epoch == args.epochs
            kit.record_losses(history, epoch, losses(), at_books_point, on_epoch)

    # The chapter's result: how large the weights grew.
    w_norm = float(torch.norm(w.detach()))
    print(f'L2 norm of w: {w_norm:f}')
    history['w_norm'] = w_norm

    kit.write_outputs(args, history, weights, settings, 'weight decay from scratch',
                      plot=lambda path: kit.loss_curves(history, path))
    return history


if __name__ == '__main__':
    kit.run_script(main)
