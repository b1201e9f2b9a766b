"""FizzBuzz learned by a 10-50-4 tanh network, trained with the hand-written backprop of manual.py.

The classic joke (Joel Grus, "Fizz Buzz in Tensorflow"): rather than write the
rule, learn it. Inputs are numbers in 10-bit binary, outputs one of four classes:
the number itself, fizz (divisible by 3), buzz (by 5) or fizzbuzz (by 15). We train
on 101..1023 and ask about 1..100, which the network has never seen; every miss
is printed. The weights are then saved, loaded into a fresh network, and the
reloaded network must answer exactly the same.

    python ch_mlp/fizzbuzz.py                   # about 16 s on a 2-core AMD EPYC (one core trains)
    python ch_mlp/fizzbuzz.py --save fizzbuzz.pt
    python ch_mlp/fizzbuzz.py --load fizzbuzz.pt  # answer 1..100 with saved weights

Without --save the round trip goes through a temporary file that is deleted afterwards.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Iterable, Sequence

# Run from any folder, or load by path (kit.load_script): this repo's d2l.py goes first
# on the path, so it wins over the book's PyPI package of the same name, and manual.py
# is found beside this file.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import torch  # noqa: E402

import d2l  # noqa: E402
from d2lkit import script as kit  # noqa: E402
from manual import MLP, train  # noqa: E402  (one set of layers and one backward for both scripts)

NUM_DIGITS = 10  # 2^10 = 1024: enough bits for every number up to 1023
CLASSES = ['number', 'fizz', 'buzz', 'fizzbuzz']
TRAIN_NUMBERS = range(101, 2 ** NUM_DIGITS)  # 101..1023
TEST_NUMBERS = range(1, 101)


def binary_encode(i: int, num_digits: int = NUM_DIGITS) -> list[int]:
    """The bits of i, least significant first: 5 -> [1, 0, 1, 0, 0, ...]."""
    return [i >> d & 1 for d in range(num_digits)]


def fizz_buzz_encode(i: int) -> int:
    """The class of i: 0 number, 1 fizz, 2 buzz, 3 fizzbuzz."""
    if i % 15 == 0:
        return 3
    if i % 5 == 0:
        return 2
    if i % 3 == 0:
        return 1
    return 0


def fizz_buzz_decode(i: int, prediction: int) -> str:
    """What to say for i given a class: the number itself, 'fizz', 'buzz' or 'fizzbuzz'."""
    return [str(i), 'fizz', 'buzz', 'fizzbuzz'][prediction]


def dataset(numbers: Iterable[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary inputs (n, 10) as float32 and class labels (n,) for the given numbers."""
    numbers = list(numbers)
    X = torch.tensor([binary_encode(i) for i in numbers], dtype=torch.float32)
    y = torch.tensor([fizz_buzz_encode(i) for i in numbers])
    return X, y


@torch.no_grad()
def predict(net: MLP, numbers: Iterable[int]) -> list[int]:
    """The class the network picks for each number."""
    X, _ = dataset(numbers)
    return net(X).argmax(dim=1).tolist()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The shared d2l flags (no image flags) plus --hidden and --schedule."""
    parser = kit.argument_parser(__doc__.splitlines()[0], lr=1.0, batch_size=128, num_epochs=2000,
                                 images=False)
    parser.add_argument('--hidden', type=kit.positive_int, default=50, metavar='N',
                        help='hidden units (tanh)')
    parser.add_argument('--schedule', choices=['constant', 'cosine'], default='constant',
                        help='learning rate per epoch: --lr throughout, '
                             'or decayed along a half cosine')
    return parser.parse_args(argv)


def round_trip(net: MLP, path: Path, numbers: Sequence[int], settings: dict) -> MLP:
    """Save net and its settings, load them into a new network that must answer alike; return it."""
    d2l.save_weights(net.state_dict(), path, settings)
    fresh = MLP(net.sizes, 'tanh', device=net.device)  # new random weights, then overwritten
    kit.restore(path, fresh.state_dict(), settings)  # the layers' own tensors, overwritten in place
    if predict(fresh, numbers) != predict(net, numbers):
        raise d2l.D2LError(f'the network reloaded from {path} answers differently; '
                           'the file is damaged')
    return fresh


def main(argv: Sequence[str] | None = None, on_epoch: d2l.EpochCallback | None = None) -> dict:
    """Train (or --load) the FizzBuzz network, report its misses on 1..100; return the results."""
    args = parse_args(argv)
    d2l.set_seed(args.seed)
    device = args.device
    sizes = [NUM_DIGITS, args.hidden, len(CLASSES)]
    net = MLP(sizes, 'tanh', device=device)
    settings = {'model': 'ch_mlp/fizzbuzz.py', 'hidden': args.hidden}
    history = {'train_loss': [], 'train_acc': [], 'test_acc': [], 'seconds': []}
    # Matrices of 10x50 are too small to share out: on a busy CPU, handing work to a
    # second thread costs ten times more than the arithmetic, so use one (and restore it).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if args.load:
            kit.restore(args.load, net.state_dict(), settings)
            print(f'loaded {args.load}')
        else:
            train_iter = d2l.ArrayLoader(dataset(TRAIN_NUMBERS), args.batch_size, shuffle=True)
            test_iter = d2l.ArrayLoader(dataset(TEST_NUMBERS), len(TEST_NUMBERS))
            print(f'training {"-".join(map(str, sizes))} on '
                  f'{TRAIN_NUMBERS.start}..{TRAIN_NUMBERS.stop - 1}, '
                  f'testing on {TEST_NUMBERS.start}..{TEST_NUMBERS.stop - 1}')
            history = train(net, train_iter, test_iter, args.lr, args.epochs, args.schedule,
                            print_every=max(1, args.epochs // 10), on_epoch=on_epoch)
            print(f'trained in {sum(history["seconds"]):.1f} s')
            # --save: below, with a check that it reloads
            kit.write_outputs(args, history, None, None,
                              f'FizzBuzz {"-".join(map(str, sizes))} tanh, hand-written backprop')

        numbers = list(TEST_NUMBERS)
        predictions = predict(net, numbers)
        answers = [fizz_buzz_decode(i, p) for i, p in zip(numbers, predictions)]
        print(textwrap.fill(' '.join(answers), width=79))
        misses = [i for i, p in zip(numbers, predictions) if p != fizz_buzz_encode(i)]
        for i in misses:
            print(f'miss: {i} -> {fizz_buzz_decode(i, predictions[i - 1])}, '
                  f'should be {fizz_buzz_decode(i, fizz_buzz_encode(i))}')
        accuracy = 1 - len(misses) / len(numbers)
        print(f'accuracy on 1..100: {accuracy:.2f} ({len(numbers) - len(misses)}/{len(numbers)})')

        if not args.load:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(args.save or Path(tmp) / 'fizzbuzz.pt')
                round_trip(net, path, numbers, settings)
                where = path if args.save else 'a temporary file'
                print(f'saved to {where} and reloaded into a fresh network: '
                      'identical answers on 1..100')
    finally:
        torch.set_num_threads(threads)
    return {'accuracy': accuracy, 'misses': misses, 'answers': answers, 'history': history}


if __name__ == '__main__':
    kit.run_script(main)
