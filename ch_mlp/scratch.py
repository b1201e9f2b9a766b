"""A multilayer perceptron from scratch: hidden layers, activation and dropout written by hand.

Each image is flattened to x (784 pixels); the hidden layer is h = activation(xW1 + b1)
with 256 units, the output layer gives logits o = hW2 + b2, and autograd supplies the
gradients for minibatch SGD. --hidden 256 128 stacks hidden layers, h2 = activation(h1W2 + b2)
and so on. --dropout p zeroes each hidden unit with probability p during training and scales
the others by 1/(1-p) (dropout_layer); --weight-decay adds the L2 penalty to the loss.
Defaults, initial weights and batch order are those of concise.py, so the two print
the same numbers, up to a last digit after a few epochs:
nn.Linear adds its bias inside the matrix product and torch.optim steps on the mean
loss rather than on the sum divided by the batch size, so rounding differs by about
1e-7 per step, and a ReLU network, unlike a linear model, amplifies such differences.
dropout_layer draws its mask as nn.Dropout does on the CPU, so with --dropout the two drop
the same units; on a GPU nn.Dropout uses a fused kernel with random numbers of its own,
and the two then agree only in distribution.

    python ch_mlp/scratch.py                    # Fashion-MNIST, 784-256-10, ReLU, lr 0.1, 10 epochs
    python ch_mlp/scratch.py --activation tanh --hidden 512
    python ch_mlp/scratch.py --hidden 256 256 --dropout 0.2 0.5 --weight-decay 0.0001
    python ch_mlp/scratch.py --activation sigmoid --hidden 256 256 256 256 --init normal:1 \\
        --layer-stats stats.json                # vanishing gradients, per layer and epoch
    python ch_mlp/scratch.py --save mlp.pt      # then --load mlp.pt --predict pred.png: no training
    python -m d2l compare ch_mlp                # scratch.py next to concise.py
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

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


def dropout_layer(H: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout: zero each element of H with probability p, scale the rest by 1/(1-p); E[out] = H."""
    if p == 0:
        return H
    # mask = 1 keeps a unit, with probability 1 - p. The book compares torch.rand(H.shape) > p, the
    # same distribution; bernoulli_ is the draw nn.Dropout makes on the CPU, so concise.py drops the
    # same units under the same seed.
    mask = torch.empty_like(H).bernoulli_(1 - p)
    return H * (mask / (1 - p))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.1, batch_size=256, num_epochs=10)
    parser.add_argument('--hidden', type=kit.positive_int, nargs='+', default=[256], metavar='N',
                        help='hidden layer sizes, first to last (--hidden 128 256: 784-128-256-10)')
    parser.add_argument('--activation', choices=list(ACTIVATIONS), default='relu',
                        help='nonlinearity of the hidden layers')
    kit.add_model_flags(parser, hidden_layers=True)  # --init --weight-decay --dropout --layer-stats
    return kit.parse_model_args(parser, argv)


def main(argv: list[str] | None = None,
         on_epoch: d2l.EpochCallback | None = None) -> dict[str, list[float]]:
    """Train the MLP from scratch (or --load it); return the per-epoch history."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    device = args.device
    # test_iter: with --valid, the held-out images
    train_iter, test_iter = kit.load_script_data(args)

    # One weight matrix and bias per layer, W1 (784 x hidden) first: the book's W ~ N(0, 0.01^2)
    # or what --init asks for (kit.init_weight draws it as torch.normal would), and b = 0.
    sizes = [NUM_INPUTS, *args.hidden, NUM_OUTPUTS]
    Ws = [kit.init_weight(args.init, (n_in, n_out), device)
          for n_in, n_out in zip(sizes, sizes[1:])]
    bs = [torch.zeros(n_out, device=device, requires_grad=True) for n_out in sizes[1:]]
    params = [p for W, b in zip(Ws, bs) for p in (W, b)]
    activation = ACTIVATIONS[args.activation]
    stats = kit.layer_stats(args, len(args.hidden), summed_loss=True)  # records only if asked
    stats.watch(Ws[:-1])  # --layer-stats: each hidden layer's weight gradient norm, in backward

    def net(X: torch.Tensor, is_training: bool = True) -> torch.Tensor:
        """Logits HW + b of the last hidden layer H; each hidden layer is H = activation(HW + b) of
        the one before, then dropout while training (evaluation calls net(X, is_training=False))."""
        H = X.reshape(-1, NUM_INPUTS)
        for i, (W, b, p) in enumerate(zip(Ws, bs, args.dropout), start=1):
            H = activation(H @ W + b)
            stats.activation(i, H)
            if is_training:
                H = dropout_layer(H, p)
        return H @ Ws[-1] + bs[-1]

    # Softmax and cross-entropy were written by hand in ch_softmax/scratch.py; here the fused
    # built-in, which works from log-softmax and so never takes log(0). One value per example.
    cross_entropy = nn.CrossEntropyLoss(reduction='none')

    def loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per example, plus lambda/2 sum ||W||^2 with --weight-decay lambda."""
        l = cross_entropy(y_hat, y)
        # Added to every example's loss: sgd's division of the summed loss by the batch size n
        # then leaves lambda W in each W's gradient (weight decay, 0.17 sec. 4.5). Not on biases.
        return l + args.weight_decay * kit.l2_penalty(Ws) if args.weight_decay else l

    # The update: minibatch SGD on the parameters, as in the softmax chapter.
    def updater(batch_size: int) -> None:
        d2l.sgd(params, args.lr, batch_size)

    weights = {}
    for i, (W, b) in enumerate(zip(Ws, bs), start=1):
        weights[f'W{i}'], weights[f'b{i}'] = W, b
    # One hidden layer is saved as its size alone, as before there could be more: old files load.
    hidden = args.hidden[0] if len(args.hidden) == 1 else args.hidden
    settings = {'model': 'ch_mlp/scratch.py', 'hidden': hidden, 'activation': args.activation,
                'dataset': args.dataset}
    if any(args.dropout):  # --load then asks for the same --dropout (concise's layers depend on it)
        settings['dropout'] = args.dropout
    if args.load:  # evaluate saved weights instead of training
        return kit.evaluate_saved(args, net, weights, settings, test_iter)
    # The training loop is the one ch_softmax/scratch.py writes out, kept in d2l.py (the book calls
    # it as d2l.train_ch3, which also draws a figure and returns nothing; this form returns the
    # numbers).
    history = d2l.train_classifier(net, train_iter, test_iter, loss, args.epochs, updater,
                                   device=device,
                                   on_epoch=stats.after_epochs(on_epoch),
                                   eval_name=kit.eval_name(args))
    title = f'MLP {"-".join(map(str, sizes))} ({args.activation}) from scratch, {args.dataset}'
    kit.write_outputs(args, history, weights, settings, title)
    stats.write(title)
    kit.show_predictions(args, net, test_iter, device)
    return history


if __name__ == '__main__':
    kit.run_script(main)
