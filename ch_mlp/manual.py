"""A multilayer perceptron trained with backpropagation written out by hand.

No autograd, no nn.Linear, no torch.optim: tensors only, under torch.no_grad().
Every layer keeps one small contract (joelnet's): `forward` keeps what its
`backward` needs, and `backward` turns the gradient of the loss with respect to
its output into the gradient with respect to its input, storing the gradients of
its own parameters beside them (`params` and `grads`, by name):

    softmax + cross-entropy   dZ = (Y_hat - Y) / N                 (Y one-hot, N examples)
    linear  Z = A W + b       dW = A^T dZ,  db = sum_rows(dZ),  dA = dZ W^T
    ReLU    A = max(Z, 0)     dZ = dA * relu'(Z)                   (1 where Z > 0, else 0)

The network runs its layers in order, then backwards in reverse. The optimizer
stands apart from the layers: SGD moves every parameter against its gradient,
W -= lr * dW. The step size starts at --lr and falls along a half cosine over the
epochs (--schedule constant keeps it fixed). The epoch loop around it (timing,
testing, the printed lines) is d2l.train_epochs, train_ch3's loop for code of its own.

    python ch_mlp/manual.py                      # Fashion-MNIST, 784-128-128-128-64-10
    python ch_mlp/manual.py --dataset mnist      # handwritten digits
    python ch_mlp/manual.py --save mlp.pt --predict pred.png
    python ch_mlp/manual.py --load mlp.pt        # evaluate saved weights, no training
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

# Run from any folder: this repo's d2l.py goes first on the path, so it wins over
# the book's PyPI package of the same name if that is installed too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402

NUM_INPUTS, NUM_OUTPUTS = 28 * 28, 10


# ---------------------------------------------------------------------------
# Activation functions and their derivatives
# ---------------------------------------------------------------------------

def relu(z: torch.Tensor) -> torch.Tensor:
    """max(z, 0), elementwise."""
    return z.clamp(min=0)


def relu_grad(z: torch.Tensor) -> torch.Tensor:
    """Derivative of ReLU: 1 where z > 0, else 0 (we take 0 at the kink)."""
    return (z > 0).to(z.dtype)


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-z)), elementwise."""
    return torch.sigmoid(z)


def sigmoid_grad(z: torch.Tensor) -> torch.Tensor:
    """Derivative of the sigmoid: s(z) (1 - s(z))."""
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent, elementwise."""
    return torch.tanh(z)


def tanh_grad(z: torch.Tensor) -> torch.Tensor:
    """Derivative of tanh: 1 - tanh(z)^2."""
    return 1 - tanh(z) ** 2


ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    'relu': (relu, relu_grad), 'sigmoid': (sigmoid, sigmoid_grad), 'tanh': (tanh, tanh_grad)}


# ---------------------------------------------------------------------------
# Softmax and cross-entropy
# ---------------------------------------------------------------------------

def log_softmax(o: torch.Tensor) -> torch.Tensor:
    """log softmax(o) per row, computed without overflow."""
    # exp(100) overflows float32 to inf. Softmax does not change when the same
    # number is subtracted from a whole row, so subtract the row max: every
    # exponent is then <= 0 and the largest term is exactly exp(0) = 1.
    o = o - o.max(dim=1, keepdim=True).values
    return o - o.exp().sum(dim=1, keepdim=True).log()


def softmax(o: torch.Tensor) -> torch.Tensor:
    """Class probabilities per row: exp(o_j) / sum_k exp(o_k), numerically stable."""
    return log_softmax(o).exp()


def one_hot(y: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Rows of zeros with a single 1 at each label."""
    Y = torch.zeros(len(y), num_classes, dtype=dtype, device=y.device)
    Y[torch.arange(len(y), device=y.device), y] = 1
    return Y


def cross_entropy(o: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_j Y_j log softmax(o)_j, for logits o and one-hot Y."""
    # Taken from log_softmax, not log(softmax): a probability that underflows to 0 would give -inf.
    return -(Y * log_softmax(o)).sum(dim=1).mean()


# ---------------------------------------------------------------------------
# Layers: forward keeps what backward needs
# ---------------------------------------------------------------------------

class Layer:
    """The contract every layer keeps (joelnet's, in tensors).

    forward(inputs) -> outputs, keeping whatever backward will need.
    backward(grad) -> the gradient of the loss w.r.t. the inputs, given the gradient
        w.r.t. the outputs; it stores the gradient of each parameter in `grads`.
    params, grads: dicts by name, {'W': ..., 'b': ...}, with the same names and shapes;
        both empty for a layer without parameters.
    A layer never updates its own parameters: that is the optimizer's job.
    """

    def __init__(self) -> None:
        self.params: dict[str, torch.Tensor] = {}
        self.grads: dict[str, torch.Tensor] = {}

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Linear(Layer):
    """A fully connected layer Z = A W + b, W of shape (inputs, outputs) as in the book."""

    def __init__(self, num_in: int, num_out: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = 'cpu') -> None:
        super().__init__()
        # He initialisation, N(0, 1) * sqrt(2 / fan_in): a ReLU zeroes half of its
        # inputs, so doubling the variance keeps activations the same size layer after layer.
        self.params['W'] = torch.randn(num_in, num_out, dtype=dtype,
                                       device=device) * math.sqrt(2 / num_in)
        self.params['b'] = torch.zeros(num_out, dtype=dtype, device=device)
        # Zeros until the first backward, so params and grads always pair up by name and shape.
        self.grads = {name: torch.zeros_like(p) for name, p in self.params.items()}

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        """Z = A W + b; keeps A, which the weight gradient needs."""
        self.A = A
        return A @ self.params['W'] + self.params['b']

    def backward(self, dZ: torch.Tensor) -> torch.Tensor:
        """Store dW = A^T dZ and db = sum of dZ over the batch; return dA = dZ W^T."""
        self.grads['W'] = self.A.T @ dZ
        # b was added to every row, so every row's gradient flows back to it
        self.grads['b'] = dZ.sum(dim=0)
        return dZ @ self.params['W'].T


class Activation(Layer):
    """An elementwise nonlinearity A = f(Z): relu, sigmoid or tanh. No parameters."""

    def __init__(self, name: str = 'relu') -> None:
        super().__init__()
        if name not in ACTIVATIONS:
            raise d2l.D2LError(f'unknown activation {name!r}; '
                               f'choose one of {", ".join(ACTIVATIONS)}')
        self.name = name
        self.f, self.f_grad = ACTIVATIONS[name]

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """A = f(Z); keeps Z, where backward takes the derivative."""
        self.Z = Z
        return self.f(Z)

    def backward(self, dA: torch.Tensor) -> torch.Tensor:
        """dZ = dA * f'(Z), elementwise (the chain rule for a function of one number)."""
        return dA * self.f_grad(self.Z)


class SoftmaxCrossEntropy:
    """The loss layer: mean cross-entropy of softmax(logits) against the labels.

    Not a Layer: its forward takes the labels too and returns one number, and its
    backward starts the chain, so it takes no incoming gradient.
    """

    def forward(self, o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return the mean loss over the batch; keeps softmax(o) and one-hot y for backward."""
        self.Y = one_hot(y, o.shape[1], o.dtype)
        self.Y_hat = softmax(o)
        return cross_entropy(o, self.Y)

    def backward(self) -> torch.Tensor:
        """Gradient of the mean loss with respect to the logits: (Y_hat - Y) / N."""
        return (self.Y_hat - self.Y) / len(self.Y)


# ---------------------------------------------------------------------------
# The network: layers in order, then backwards in reverse
# ---------------------------------------------------------------------------

class MLP:
    """Linear layers with an activation between each pair; the last layer gives logits."""

    def __init__(self, sizes: Sequence[int], activation: str = 'relu',
                 dtype: torch.dtype = torch.float32, device: torch.device | str = 'cpu') -> None:
        self.sizes, self.dtype, self.device = list(sizes), dtype, torch.device(device)
        self.layers: list[Layer] = []
        for i, (num_in, num_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(Linear(num_in, num_out, dtype, device))
            if i < len(sizes) - 2:  # no activation after the output layer: softmax does that job
                self.layers.append(Activation(activation))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Flatten each example, run the layers in order, return the logits."""
        A = X.reshape(len(X), -1).to(self.device, self.dtype)
        for layer in self.layers:
            A = layer.forward(A)
        return A

    __call__ = forward  # net(X), as d2l.evaluate_accuracy and d2l.predict_ch3 call it

    def backward(self, dO: torch.Tensor) -> None:
        """Run the layers backwards from the gradient of the loss w.r.t. the logits."""
        for layer in reversed(self.layers):
            dO = layer.backward(dO)

    def params_and_grads(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every parameter of every layer with the gradient the last backward stored for it."""
        for layer in self.layers:
            for name, param in layer.params.items():
                yield param, layer.grads[name]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights by name (W1, b1, W2 ...), the layers' own tensors: --load overwrites them."""
        layers = [layer for layer in self.layers if layer.params]
        return {f'{name}{i}': param for i, layer in enumerate(layers, start=1)
                for name, param in layer.params.items()}


# ---------------------------------------------------------------------------
# The optimizer: apart from the layers
# ---------------------------------------------------------------------------

class SGD:
    """Minibatch stochastic gradient descent: param -= lr * grad, for every parameter of a net.

    The gradients are of the mean loss over the batch, so no division by the batch
    size here. The only state is lr; set it between steps to follow a schedule.
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, net: MLP) -> None:
        """Move every parameter against its stored gradient, in place: layers keep their tensors."""
        for param, grad in net.params_and_grads():
            param -= self.lr * grad


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

@torch.no_grad()
def train_epoch(net: MLP, train_iter: d2l.Batches, loss: SoftmaxCrossEntropy, optimizer: SGD,
                epoch: int) -> tuple[float, float]:
    """One pass of forward, backward and an SGD step per batch; return (mean loss, accuracy)."""
    metric = d2l.Accumulator(3)  # loss sum, correct predictions, examples
    for i, (X, y) in enumerate(train_iter):
        y = y.to(net.device)
        o = net.forward(X)
        l = float(loss.forward(o, y))
        d2l.check_loss(l, epoch, i + 1)  # NaN or inf: stop now, saying where
        net.backward(loss.backward())
        optimizer.step(net)
        metric.add(l * len(y), d2l.accuracy(o, y), len(y))
    return metric[0] / metric[2], metric[1] / metric[2]


def cosine_lr(lr: float, epoch: int, num_epochs: int) -> float:
    """The learning rate of epoch 1, 2 ...: lr at first, falling along a half cosine towards 0."""
    return lr * (1 + math.cos(math.pi * (epoch - 1) / num_epochs)) / 2


@torch.no_grad()
def train(net: MLP, train_iter: d2l.ArrayLoader, test_iter: d2l.ArrayLoader, lr: float,
          num_epochs: int, schedule: str = 'cosine', print_every: int = 1,
          on_epoch: d2l.EpochCallback | None = None,
          eval_name: str = 'test acc') -> dict[str, list[float]]:
    """Train, test after every epoch, print the classic line every print_every; return the history.

    schedule='cosine' lowers the step size epoch by epoch: big steps make fast early
    progress, and small final steps stop SGD from jittering around the minimum.
    The epoch loop itself (timing, testing, printing) is d2l.train_epochs, train_ch3's loop.
    """
    loss, optimizer = SoftmaxCrossEntropy(), SGD(lr)

    def train_epoch_at_its_lr(batches: d2l.Batches, epoch: int) -> tuple[float, float]:
        optimizer.lr = cosine_lr(lr, epoch, num_epochs) if schedule == 'cosine' else lr
        return train_epoch(net, batches, loss, optimizer, epoch)

    return d2l.train_epochs(train_epoch_at_its_lr, net, train_iter, test_iter, num_epochs,
                            net.device, print_every=print_every, on_epoch=on_epoch,
                            eval_name=eval_name)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The shared d2l flags plus --layers and --activation."""
    parser = kit.argument_parser(__doc__.splitlines()[0], lr=0.1, batch_size=64, num_epochs=10)
    parser.add_argument('--layers', type=int, nargs='+', default=[784, 128, 128, 128, 64, 10],
                        metavar='N', help='layer sizes, inputs first (784) and classes last (10)')
    parser.add_argument('--schedule', choices=['cosine', 'constant'], default='cosine',
                        help='learning rate per epoch: --lr decayed along a half cosine, '
                             'or --lr throughout')
    parser.add_argument('--activation', choices=list(ACTIVATIONS), default='relu',
                        help='nonlinearity of the hidden layers')
    args = parser.parse_args(argv)
    if len(args.layers) < 2 or min(args.layers) < 1:
        parser.error(f'--layers needs at least two positive sizes, got {args.layers}')
    if args.layers[0] != NUM_INPUTS or args.layers[-1] != NUM_OUTPUTS:
        parser.error(f'--layers must start with {NUM_INPUTS} (28x28 pixels) and end with '
                     f'{NUM_OUTPUTS} (classes), got {" ".join(map(str, args.layers))}')
    return args


def main(argv: Sequence[str] | None = None, on_epoch: d2l.EpochCallback | None = None
         ) -> dict[str, list[float]]:
    """Train (or --load) the hand-written MLP; return the per-epoch history."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    device = args.device
    # test_iter: with --valid, the held-out images
    train_iter, test_iter = kit.load_script_data(args)
    net = MLP(args.layers, args.activation, device=device)
    title = f'hand-written backprop MLP {"-".join(map(str, args.layers))}, {args.dataset}'
    settings = {'model': 'ch_mlp/manual.py', 'layers': args.layers, 'activation': args.activation,
                'dataset': args.dataset}

    if args.load:  # evaluate saved weights instead of training
        return kit.evaluate_saved(args, net, net.state_dict(), settings, test_iter)
    history = train(net, train_iter, test_iter, args.lr, args.epochs, args.schedule,
                    on_epoch=on_epoch, eval_name=kit.eval_name(args))
    kit.write_outputs(args, history, net.state_dict(), settings, title)
    kit.show_predictions(args, net, test_iter, net.device)
    return history


if __name__ == '__main__':
    kit.run_script(main)
