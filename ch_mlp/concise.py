"""A multilayer perceptron, concisely: nn.Sequential of nn.Linear layers and activations.

By default the network of scratch.py, 784-256-10 with ReLU, trained with SGD; same
defaults, initial weights and batch order, so the two print the same numbers.
--hidden takes several sizes for deeper networks and --optimizer adam switches
torch.optim.Adam in, so the popular recipe is a matter of flags. --dropout puts an
nn.Dropout after each hidden activation (on the CPU it drops the units scratch.py's
dropout_layer drops); --weight-decay is the optimizer's weight_decay on the weights:

    python ch_mlp/concise.py                    # Fashion-MNIST, 784-256-10, ReLU, lr 0.1, 10 epochs
    python ch_mlp/concise.py --hidden 128 256 --optimizer adam --lr 0.001 --batch-size 64
    python ch_mlp/concise.py --save mlp.pt      # then --load mlp.pt --predict pred.png: no training
    python ch_mlp/concise.py --hidden 256 256 --dropout 0.2 0.5 --weight-decay 0.0001
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
ACTIVATIONS = {'relu': nn.ReLU, 'sigmoid': nn.Sigmoid, 'tanh': nn.Tanh}
OPTIMIZERS = {'sgd': torch.optim.SGD, 'adam': torch.optim.Adam}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.1, batch_size=256, num_epochs=10)
    parser.add_argument('--hidden', type=kit.positive_int, nargs='+', default=[256], metavar='N',
                        help='hidden layer sizes, first to last '
                             '(--hidden 128 256 gives 784-128-256-10)')
    parser.add_argument('--activation', choices=list(ACTIVATIONS), default='relu',
                        help='nonlinearity of the hidden layers')
    parser.add_argument('--optimizer', choices=list(OPTIMIZERS), default='sgd',
                        help='sgd (the book) or adam (try --lr 0.001 --batch-size 64)')
    kit.add_model_flags(parser, hidden_layers=True)  # --init --weight-decay --dropout --layer-stats
    return kit.parse_model_args(parser, argv)


def main(argv: list[str] | None = None,
         on_epoch: d2l.EpochCallback | None = None) -> dict[str, list[float]]:
    """Train the MLP with torch.nn (or --load it); return the per-epoch history."""
    args = parse_args(argv)
    # test_iter: with --valid, the held-out images
    train_iter, test_iter = kit.load_script_data(args)

    sizes = [NUM_INPUTS, *args.hidden]
    layers = [d2l.FlattenLayer()]
    for num_in, num_out, p in zip(sizes, sizes[1:], args.dropout):
        layers += [nn.Linear(num_in, num_out), ACTIVATIONS[args.activation]()]
        if p > 0:
            layers.append(nn.Dropout(p))  # on in net.train(), off in net.eval()
    net = nn.Sequential(*layers, nn.Linear(sizes[-1], NUM_OUTPUTS)).to(args.device)
    d2l.set_seed(args.seed)
    # Weights from N(0, 0.01^2) or as --init says, layer by layer, biases 0, as in scratch.py
    net.apply(kit.linear_init(args.init))
    linears = [m for m in net if isinstance(m, nn.Linear)]
    stats = kit.layer_stats(args, len(args.hidden))  # --layer-stats; else records nothing
    stats.watch_modules([m for m in net if isinstance(m, ACTIVATIONS[args.activation])])
    stats.watch([m.weight for m in linears[:-1]])

    loss = nn.CrossEntropyLoss()
    # Weight decay on the weights, not the biases: the optimizer adds lambda W to each W's gradient.
    Ws, bs = [m.weight for m in linears], [m.bias for m in linears]
    groups = [{'params': Ws, 'weight_decay': args.weight_decay}, {'params': bs}]
    trainer = OPTIMIZERS[args.optimizer](groups, lr=args.lr)
    # print the penalised loss, as scratch.py; the optimizer does its gradient
    if args.weight_decay:
        loss = kit.with_penalty(loss, Ws, args.weight_decay)

    weights = net.state_dict()
    settings = {'model': 'ch_mlp/concise.py', 'hidden': args.hidden, 'activation': args.activation,
                'dataset': args.dataset}
    if any(args.dropout):  # --load then asks for the same --dropout (its layers shift the names)
        settings['dropout'] = args.dropout
    if args.load:  # evaluate saved weights instead of training
        return kit.evaluate_saved(args, net, weights, settings, test_iter)
    # d2l.train_ch3's loop (the book calls train_ch3, which draws its figure and returns nothing)
    history = d2l.train_classifier(net, train_iter, test_iter, loss, args.epochs, trainer,
                                   on_epoch=stats.after_epochs(on_epoch),
                                   eval_name=kit.eval_name(args))
    layout = '-'.join(map(str, [*sizes, NUM_OUTPUTS]))
    title = (f'MLP {layout} ({args.activation}, {args.optimizer}), '
             f'concise, {args.dataset}')
    kit.write_outputs(args, history, weights, settings, title)
    stats.write(title)
    kit.show_predictions(args, net, test_iter, args.device)
    return history


if __name__ == '__main__':
    kit.run_script(main)
