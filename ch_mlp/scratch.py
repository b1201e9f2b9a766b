"""A multilayer perceptron from scratch: one hidden layer, its activation written by hand.

Each image is flattened to x (784 pixels); the hidden layer is h = activation(xW1 + b1)
with 256 units, the output layer gives logits o = hW2 + b2, and autograd supplies the
gradients for minibatch SGD. Defaults, initial weights and batch order are those of
concise.py, so the two print the same numbers, up to a last digit after a few epochs:
nn.Linear adds its bias inside the matrix product and torch.optim steps on the mean
loss rather than on the sum divided by the batch size, so rounding differs by about
1e-7 per step, and a ReLU network, unlike a linear model, amplifies such differences.

    python ch_mlp/scratch.py                              # Fashion-MNIST, 784-256-10, ReLU, lr 0.1, 10 epochs
    python ch_mlp/scratch.py --activation tanh --hidden 512
    python ch_mlp/scratch.py --save mlp.pt && python ch_mlp/scratch.py --load mlp.pt --predict pred.png
    python -m d2l compare ch_mlp                          # scratch.py next to concise.py
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2l  # noqa: E402

NUM_INPUTS, NUM_OUTPUTS = 28 * 28, 10


def relu(X: torch.Tensor) -> torch.Tensor:
    """ReLU, max(x, 0), elementwise."""
    return torch.maximum(X, torch.zeros_like(X))


def sigmoid(X: torch.Tensor) -> torch.Tensor:
    """The sigmoid 1 / (1 + exp(-x)), elementwise, squashing into (0, 1)."""
    return 1 / (1 + torch.exp(-X))  # exp(-x) = inf for very negative x gives 1 / inf = 0: no NaN


def tanh(X: torch.Tensor) -> torch.Tensor:
    """tanh(x) = (1 - exp(-2x)) / (1 + exp(-2x)) = 2 sigmoid(2x) - 1, elementwise, into (-1, 1)."""
    return 2 * sigmoid(2 * X) - 1  # the sigmoid form: the ratio would be inf / inf = NaN for x << 0


ACTIVATIONS = {'relu': relu, 'sigmoid': sigmoid, 'tanh': tanh}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = d2l.argument_parser(__doc__, lr=0.1, batch_size=256, num_epochs=10)
    parser.add_argument('--hidden', type=d2l.positive_int, default=256, metavar='N', help='hidden units')
    parser.add_argument('--activation', choices=list(ACTIVATIONS), default='relu',
                        help='nonlinearity of the hidden layer')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict[str, list[float]]:
    """Train the MLP from scratch (or --load it); return the per-epoch history."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    device = args.device
    train_iter, test_iter = d2l.load_script_data(args)  # test_iter: with --valid, the held-out images

    W1 = torch.normal(0, 0.01, size=(NUM_INPUTS, args.hidden), device=device, requires_grad=True)
    b1 = torch.zeros(args.hidden, device=device, requires_grad=True)
    W2 = torch.normal(0, 0.01, size=(args.hidden, NUM_OUTPUTS), device=device, requires_grad=True)
    b2 = torch.zeros(NUM_OUTPUTS, device=device, requires_grad=True)
    params = [W1, b1, W2, b2]
    activation = ACTIVATIONS[args.activation]

    def net(X: torch.Tensor) -> torch.Tensor:
        """Logits HW2 + b2 of the hidden layer H = activation(XW1 + b1)."""
        H = activation(X.reshape(-1, NUM_INPUTS) @ W1 + b1)
        return H @ W2 + b2

    # Softmax and cross-entropy were written by hand in ch_softmax/scratch.py; here the fused
    # built-in, which works from log-softmax and so never takes log(0). One value per example.
    loss = nn.CrossEntropyLoss(reduction='none')

    # The update: minibatch SGD on the parameters, as in the softmax chapter.
    def updater(batch_size: int) -> None:
        d2l.sgd(params, args.lr, batch_size)

    weights = {'W1': W1, 'b1': b1, 'W2': W2, 'b2': b2}
    settings = {'model': 'ch_mlp/scratch.py', 'hidden': args.hidden, 'activation': args.activation,
                'dataset': args.dataset}
    if args.load:  # evaluate saved weights instead of training
        return d2l.evaluate_saved(args, net, weights, settings, test_iter)
    # The training loop is the one ch_softmax/scratch.py writes out, kept in d2l.py (the book calls
    # it as d2l.train_ch3, which also draws a figure and returns nothing; this form returns the numbers).
    history = d2l.train_classifier(net, train_iter, test_iter, loss, args.epochs, updater, device=device,
                                   on_epoch=on_epoch, eval_name=d2l.eval_name(args))
    d2l.write_outputs(args, history, weights, settings,
                      f'MLP 784-{args.hidden}-10 ({args.activation}) from scratch, {args.dataset}')
    d2l.show_predictions(args, net, test_iter, device)
    return history


if __name__ == '__main__':
    d2l.run_script(main)
