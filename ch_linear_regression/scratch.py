"""Linear regression from scratch: y = Xw + b fitted by minibatch SGD, gradients by autograd.

The data are 1000 synthetic examples of y = 2 x1 - 3.4 x2 + 4.2 + noise (std 0.01).
The model linreg(X, w, b) = Xw + b, the loss squared_loss = (y_hat - y)^2 / 2 and the
update sgd (param -= lr * grad / batch_size) are the book's few lines, kept in d2l.py.
Defaults, initial weights and batch order are those of concise.py, so the two print
the same numbers:

    python ch_linear_regression/scratch.py                    # batch 10, lr 0.03, 3 epochs
    python ch_linear_regression/scratch.py --plot data.png    # the data and the fitted plane
    python -m d2l compare ch_linear_regression                # scratch.py next to concise.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's d2l.py, from any folder

import torch  # noqa: E402

import d2l  # noqa: E402
from d2l import data_iter, linreg, sgd, squared_loss  # noqa: E402  (the book's few lines, in d2l.py)


def main(argv: list[str] | None = None) -> dict:
    """Fit linear regression from scratch (or --load it); return the per-epoch losses and the errors."""
    args = d2l.argument_parser(__doc__, lr=0.03, batch_size=10, num_epochs=3, images=False,
                               plot_help='write a PNG of the data and the fitted plane').parse_args(argv)
    d2l.set_seed(args.seed)
    true_w, true_b = torch.tensor([2, -3.4]), 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, 1000)
    features, labels = features.to(args.device), labels.to(args.device)
    w = torch.normal(0, 0.01, size=(2, 1), device=args.device, requires_grad=True)
    b = torch.zeros(1, device=args.device, requires_grad=True)

    history = {'train_loss': [], 'seconds': []}
    if args.load:  # evaluate saved weights instead of training
        d2l.load_into({'w': w, 'b': b}, args.load)
        with torch.no_grad():
            print(f'loaded {args.load}: loss {float(squared_loss(linreg(features, w, b), labels).mean()):f}')
    else:
        for epoch in range(args.epochs):
            start = time.perf_counter()
            for i, (X, y) in enumerate(data_iter(args.batch_size, features, labels), start=1):
                l = squared_loss(linreg(X, w, b), y)
                d2l.check_loss(l.mean(), epoch + 1, i)  # stop at once if training diverges
                l.sum().backward()  # the gradient of the summed loss: sgd divides by the batch size
                sgd([w, b], args.lr, len(y))
            history['seconds'].append(time.perf_counter() - start)
            with torch.no_grad():
                train_l = squared_loss(linreg(features, w, b), labels).mean()
            history['train_loss'].append(float(train_l))
            print(f'epoch {epoch + 1}, loss {float(train_l):f}')

    # The chapter's result: how far the learned parameters are from those that made the data.
    w_fit, b_fit = w.detach().cpu().reshape(-1), b.item()
    w_error, b_error = (true_w - w_fit).tolist(), true_b - b_fit
    print(f'error in estimating w: [{", ".join(f"{e:.6f}" for e in w_error)}]')
    print(f'error in estimating b: {b_error:.6f}')
    history.update(w=w_fit.tolist(), b=b_fit, w_error=w_error, b_error=b_error)
    d2l.after_regression(args, history, {'w': w, 'b': b}, features, labels, 'linear regression from scratch')
    return history


if __name__ == '__main__':
    d2l.run_script(main)
