"""Linear regression from scratch: y = Xw + b fitted by minibatch SGD, gradients by autograd.

The data are 1000 synthetic examples of y = 2 x1 - 3.4 x2 + 4.2 + noise (std 0.01).
The page's four functions are written out below: data_iter (minibatches in a fresh random
order), the model linreg(X, w, b) = Xw + b, the loss squared_loss = (y_hat - y)^2 / 2 and
the update sgd (param -= lr * grad / batch_size); later pages call the same four from
d2l.py (the book's weight-decay page d2l.linreg and d2l.squared_loss, the softmax and MLP
scratch pages d2l.sgd). Defaults, initial weights and batch order are those of concise.py,
so the two print the same numbers:

    python ch_linear_regression/scratch.py                    # batch 10, lr 0.03, 3 epochs
    python ch_linear_regression/scratch.py --plot data.png    # the data and the fitted plane
    python -m d2l compare ch_linear_regression                # scratch.py next to concise.py
    python -m d2l compare ch_linear_regression --loss huber   # Huber's loss in both

The exercises' settings: --loss squared|huber|abs (huber_loss and abs_loss are written below
beside squared_loss), --init (the initial w; b starts at 0) and --num-examples N.
The mean or the sum of the loss: sgd steps on the gradient of the summed loss divided by
the batch size, which is the step of the mean loss, as concise.py's default --reduction mean.
concise.py --reduction sum steps on the summed loss itself, a step batch-size times larger, so
`concise.py --reduction sum --lr 0.003` is this script's --lr 0.03 at batch 10.
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


def data_iter(batch_size: int, features: torch.Tensor, labels: torch.Tensor):
    """Yield (X, y) minibatches of batch_size examples in a new random order, the last smaller."""
    num_examples = len(features)
    # A new order every epoch, drawn from torch's seeded generator (as d2l.load_array draws it in
    # concise.py).
    indices = torch.randperm(num_examples)
    for i in range(0, num_examples, batch_size):
        batch_indices = indices[i:i + batch_size]
        yield features[batch_indices], labels[batch_indices]


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model: y_hat = Xw + b."""
    return X @ w + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Half the squared error of each example, (y_hat - y)^2 / 2: the derivative has no 2."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def huber_loss(y_hat: torch.Tensor, y: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Huber's loss per example: (y_hat - y)^2 / 2 up to delta, then delta (|y_hat - y| - delta/2).

    Quadratic near 0 like squared_loss, linear for large errors like abs_loss, so an outlier pulls
    with a force of at most delta. delta = 1 is torch's nn.HuberLoss() (= nn.SmoothL1Loss()).
    """
    error = (y_hat - y.reshape(y_hat.shape)).abs()
    return torch.where(error <= delta, error ** 2 / 2, delta * (error - delta / 2))


def abs_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The absolute error of each example, |y_hat - y| (torch's nn.L1Loss)."""
    return (y_hat - y.reshape(y_hat.shape)).abs()


LOSSES = {'squared': squared_loss, 'huber': huber_loss, 'abs': abs_loss}


def sgd(params: list[torch.Tensor], lr: float, batch_size: int) -> None:
    """Minibatch SGD: param -= lr * grad / batch_size, then the gradient is zeroed."""
    # The gradient is that of the loss summed over the batch: dividing by the batch size
    # makes the step that of the mean loss, so lr means the same whatever the batch size.
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.03, batch_size=10, num_epochs=3, images=False,
                                 plot_help='write a PNG of the data and the fitted plane')
    parser.add_argument('--loss', choices=list(LOSSES), default='squared',
                        help='squared: (y_hat - y)^2 / 2 (the book); huber: Huber with delta 1; '
                             'abs: |y_hat - y|')
    parser.add_argument('--init', type=kit.init_flag, default='default', metavar='INIT',
                        help=kit.INIT_HELP)
    parser.add_argument('--num-examples', type=kit.positive_int, default=1000, metavar='N',
                        help='number of synthetic examples')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict:
    """Fit linear regression from scratch (or --load it); return its losses and the errors."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, args.num_examples)
    features, labels = features.to(args.device), labels.to(args.device)
    w = kit.init_weight(args.init, (2, 1), args.device)  # the book's: N(0, 0.01^2)
    b = torch.zeros(1, device=args.device, requires_grad=True)
    loss = LOSSES[args.loss]

    weights, settings = {'w': w, 'b': b}, {'model': 'ch_linear_regression/scratch.py'}

    history = {'train_loss': [], 'seconds': []}
    if args.load:  # evaluate saved weights instead of training
        kit.restore(args.load, weights, settings)
        with torch.no_grad():
            train_l = loss(linreg(features, w, b), labels).mean()
            print(f'loaded {args.load}: loss {float(train_l):f}')
    else:
        for epoch in range(args.epochs):
            start = time.perf_counter()
            for i, (X, y) in enumerate(data_iter(args.batch_size, features, labels), start=1):
                l = loss(linreg(X, w, b), y)
                d2l.check_loss(l.mean(), epoch + 1, i)  # stop at once if training diverges
                l.sum().backward()  # the gradient of the summed loss: sgd divides by the batch size
                sgd([w, b], args.lr, len(y))
            history['seconds'].append(time.perf_counter() - start)
            with torch.no_grad():
                train_l = loss(linreg(features, w, b), labels).mean()
            history['train_loss'].append(float(train_l))
            print(f'epoch {epoch + 1}, loss {float(train_l):f}')
            if on_epoch is not None:
                on_epoch(epoch + 1, {'train_loss': float(train_l)})

    # The chapter's result: how far the learned parameters are from those that made the data.
    w_fit, b_fit = w.detach().cpu().reshape(-1), b.item()
    w_error, b_error = (true_w - w_fit).tolist(), true_b - b_fit
    print(f'error in estimating w: [{", ".join(f"{e:.6f}" for e in w_error)}]')
    print(f'error in estimating b: {b_error:.6f}')
    history.update(w=w_fit.tolist(), b=b_fit, w_error=w_error, b_error=b_error)
    title = 'linear regression from scratch'
    kit.write_outputs(args, history, weights, settings, title,
                      plot=lambda path: 'data and fitted plane written to '
                      f'{d2l.plot_regression(features, labels, w_fit, b_fit, path, title)}')
    return history


if __name__ == '__main__':
    kit.run_script(main)
