"""Polynomial regression: underfitting and overfitting, by the model's degree and the data's size.

The data: y = 5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3! + noise, x from N(0, 1), noise from
N(0, 0.1^2). Each x becomes the features x^i / i! for i = 0 .. 19 (dividing by i! keeps the
high powers, and their gradients, from exploding; x^0 = 1 stands for the bias). The model
is linear in the first --degree + 1 features, y_hat = sum_{i <= degree} w_i x^i / i! (an
nn.Linear without a bias), trained by minibatch SGD on the mean squared error (y_hat - y)^2,
the book's nn.MSELoss: the noise alone leaves 0.01, its variance, on the test set.
The true weights are [5, 1.2, -3.4, 5.6, 0, 0, ...]. 100 test examples (drawn first, so
they stay the same whatever --num-train), --num-train training examples, batch
min(10, --num-train), lr 0.01, 400 epochs; every 20 epochs the train and test loss.
400 epochs are 4,000 SGD steps at 100 examples but 400 at 10: --steps S trains for S steps
whatever --num-train, to compare data sizes at the same amount of training.

    python ch_model_selection/polynomial.py                   # degree 3: the right model
    python ch_model_selection/polynomial.py --degree 1        # a line: underfits
    python ch_model_selection/polynomial.py --degree 19 --num-train 15   # overfits
    python ch_model_selection/polynomial.py --degree 19 --epochs 1500    # the book's third run
    python ch_model_selection/polynomial.py --degree 9 --num-train 10 --steps 4000   # 4000 epochs
    python ch_model_selection/polynomial.py --plot poly.png   # train and test loss, log axis
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

MAX_DEGREE = 19  # features x^0 .. x^19
TRUE_W = torch.zeros(MAX_DEGREE + 1)
TRUE_W[:4] = torch.tensor([5, 1.2, -3.4, 5.6])
NUM_TEST = 100


def polynomial_data(num_examples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features x^i / i! for i = 0..19, labels TRUE_W . features + N(0, 0.1^2) noise) of new x."""
    x = torch.normal(0, 1, (num_examples, 1))
    powers = torch.arange(MAX_DEGREE + 1)
    features = x ** powers / torch.exp(torch.lgamma(powers + 1.0))  # i! = Gamma(i + 1)
    labels = features @ TRUE_W + torch.normal(0, 0.1, (num_examples,))
    return features, labels.reshape(-1, 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.01, batch_size=10, num_epochs=400, images=False,
                                 plot_help='write a PNG of the train and test loss (log axis)')
    parser.add_argument('--degree', type=int, choices=range(MAX_DEGREE + 1), default=3, metavar='D',
                        help=f'degree of the fitted polynomial, 0 to {MAX_DEGREE}: 3 is the '
                             'truth, 1 underfits, 19 overfits on few examples')
    parser.add_argument('--num-train', type=kit.positive_int, default=100, metavar='N',
                        help='number of training examples; the batch is at most N')
    parser.add_argument('--steps', type=kit.positive_int, metavar='S',
                        help='train for S minibatch SGD steps in all, in place of --epochs: '
                             'the same number of updates whatever --num-train (S must be a '
                             'whole number of epochs)')
    args = parser.parse_args(argv)
    if args.steps:  # --steps S: as many epochs as make S steps
        per_epoch = math.ceil(args.num_train / min(args.batch_size, args.num_train))
        if args.steps % per_epoch:
            parser.error(f'--steps {args.steps} is not a whole number of epochs of '
                         f'{per_epoch} steps (--num-train {args.num_train}, batch '
                         f'{min(args.batch_size, args.num_train)}); use a multiple of {per_epoch}')
        args.epochs = args.steps // per_epoch
    return args


def main(argv: list[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict:
    """Fit a polynomial of --degree (or --load one); return the per-epoch train and test losses."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    test_features, test_labels = polynomial_data(NUM_TEST)
    train_features, train_labels = polynomial_data(args.num_train)
    columns = args.degree + 1  # the model sees 1, x, ..., x^degree
    train_X, test_X = train_features[:, :columns], test_features[:, :columns]
    train_X, train_y = train_X.to(args.device), train_labels.to(args.device)
    test_X, test_y = test_X.to(args.device), test_labels.to(args.device)
    train_iter = d2l.load_array((train_X, train_y), min(args.batch_size, args.num_train))

    net = nn.Sequential(nn.Linear(columns, 1, bias=False)).to(args.device)  # w_0 is the bias
    loss = nn.MSELoss()
    trainer = torch.optim.SGD(net.parameters(), lr=args.lr)

    weights = net.state_dict()
    settings = {'model': 'ch_model_selection/polynomial.py', 'degree': args.degree}
    history = {'train_loss': [], 'test_loss': [], 'seconds': []}

    def losses() -> tuple[float, float]:
        with torch.no_grad():
            return float(loss(net(train_X), train_y)), float(loss(net(test_X), test_y))

    if args.load:  # evaluate saved weights instead of training
        kit.restore_losses(args, weights, settings, losses)
    else:
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            # the book's page trains with d2l.train_epoch_ch3 too (it stops on a diverging loss)
            d2l.train_epoch_ch3(net, train_iter, loss, trainer, epoch=epoch)
            history['seconds'].append(time.perf_counter() - start)
            at_books_point = epoch == 1 or epoch % 20 == 0 or epoch == args.epochs
            kit.record_losses(history, epoch, losses(), at_books_point, on_epoch)

    # The chapter's result: the learned weights next to those that made the data.
    w = net[0].weight.detach().cpu().reshape(-1)
    print(f'learned w: [{" ".join(f"{v:.4f}" for v in w.tolist())}]')
    print(f'true w:    [{" ".join(f"{v:.4f}" for v in TRUE_W[:columns].tolist())}]')
    history.update(w=w.tolist(), true_w=TRUE_W[:columns].tolist())

    title = f'polynomial of degree {args.degree}'
    kit.write_outputs(args, history, weights, settings, title,
                      plot=lambda path: kit.loss_curves(history, path))
    return history


if __name__ == '__main__':
    kit.run_script(main)
