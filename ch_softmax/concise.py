"""Softmax regression, concisely: nn.Linear, nn.CrossEntropyLoss and torch.optim.SGD.

The model of scratch.py, o = xW + b on the 784 pixels of each image, built from torch.nn;
nn.CrossEntropyLoss applies the softmax itself. Defaults, initial weights and batch
order are those of scratch.py, so the two print the same numbers. --show-weights draws
what the linear classifier learned: one 28x28 template per class.

    python ch_softmax/concise.py                 # Fashion-MNIST, batch 256, lr 0.1, 10 epochs
    python ch_softmax/concise.py --show-weights w.png --predict pred.png
    python ch_softmax/concise.py --save softmax.pt && python ch_softmax/concise.py --load softmax.pt
    python ch_softmax/concise.py --init zero --weight-decay 0.001   # the exercises' settings
    python -m d2l compare ch_softmax             # scratch.py next to concise.py
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


def show_weights(W: torch.Tensor, dataset: str, path: str) -> None:
    """Draw each class's row of W as a 28x28 image: the template its logit matches images to."""
    # o_j = sum over pixels of W[j, p] x_p: bright pixels are where ink raises class j's score.
    templates = W.detach().cpu().reshape(NUM_OUTPUTS, 28, 28)
    d2l.show_images(templates, 2, 5, titles=d2l.text_labels(dataset)(range(NUM_OUTPUTS)), path=path)
    print(f'weights written to {path}')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's flags, the book's defaults (a sweep checks its runs' flags here first)."""
    parser = kit.argument_parser(__doc__, lr=0.1, batch_size=256, num_epochs=10)
    parser.add_argument('--show-weights', metavar='PATH', type=kit.png_file,
                        help='write the learned weights as ten 28x28 templates to this PNG')
    kit.add_model_flags(parser)  # --init, --weight-decay: the same meaning as in scratch.py
    return kit.parse_model_args(parser, argv)


def main(argv: list[str] | None = None,
         on_epoch: d2l.EpochCallback | None = None) -> dict[str, list[float]]:
    """Train softmax regression with torch.nn (or --load it); return the per-epoch history."""
    args = parse_args(argv)
    # test_iter: with --valid, the held-out images
    train_iter, test_iter = kit.load_script_data(args)

    net = nn.Sequential(d2l.FlattenLayer(), nn.Linear(NUM_INPUTS, NUM_OUTPUTS)).to(args.device)
    d2l.set_seed(args.seed)
    net.apply(kit.linear_init(args.init))  # W from N(0, 0.01^2) or --init, b = 0, as in scratch.py

    # Softmax and cross-entropy in one: it works from log-softmax, so a probability that
    # underflows to 0 never reaches log(0).
    loss = nn.CrossEntropyLoss()
    # Weight decay on W only: the optimizer adds lambda W to its gradient, as scratch.py's penalty.
    W, b = net[1].weight, net[1].bias
    groups = [{'params': [W], 'weight_decay': args.weight_decay}, {'params': [b]}]
    trainer = torch.optim.SGD(groups, lr=args.lr)
    # print the penalised loss, as scratch.py; the optimizer does its gradient
    if args.weight_decay:
        loss = kit.with_penalty(loss, [W], args.weight_decay)

    weights, settings = net.state_dict(), {'model': 'ch_softmax/concise.py',
                                           'dataset': args.dataset}
    if args.load:  # evaluate saved weights instead of training
        history = kit.evaluate_saved(args, net, weights, settings, test_iter)
    else:
        # d2l.train_ch3's loop (the book calls train_ch3, which draws its figure and returns
        # nothing)
        history = d2l.train_classifier(net, train_iter, test_iter, loss, args.epochs, trainer,
                                       on_epoch=on_epoch, eval_name=kit.eval_name(args))
        kit.write_outputs(args, history, weights, settings,
                          f'softmax regression, concise, {args.dataset}')
        kit.show_predictions(args, net, test_iter, args.device)
    if args.show_weights:
        show_weights(net[1].weight, args.dataset, args.show_weights)
    return history


if __name__ == '__main__':
    kit.run_script(main)
