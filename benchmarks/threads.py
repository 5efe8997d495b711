"""How many torch threads should `fit` use for the chapters' tiny models? (``TINY_MODEL_THREADS``)

Trains the three kinds of model the chapters train — the 2-D MLP of chapter 01 on the synthetic
C+1 data, the MNIST-sized MLP of chapter 02, the SmallCNN of the CNN chapters — for a fixed number
of epochs with ``fit(threads=1)`` and ``fit(threads=2)``, several times each, and prints the median
time and the ratio 2 threads / 1 thread (> 1 means one thread is faster). The load average is
printed beside it: on a shared machine one thread wins by far more than on an idle one.

    python benchmarks/threads.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from cplus_edu import MLP, SmallCNN, fit
from cplus_edu.data import make_cplus_one_data


def workloads():
    data = make_cplus_one_data(n_per_class=200, n_background=800, seed=0)
    g = torch.Generator().manual_seed(0)
    mnist_x, mnist_y = torch.rand(2000, 1, 28, 28, generator=g), torch.randint(0, 4, (2000,))
    yield ("ch01 MLP 2-D, synthetic", lambda: MLP(data.dim, data.num_classes, 2, normalize=True),
           (data.x, data.y), 10)
    yield ("ch02 MLP 32-D, 28x28", lambda: MLP(784, 4, 32, hidden=(256, 128)),
           (mnist_x.flatten(1), mnist_y), 3)
    yield ("SmallCNN, 28x28", lambda: SmallCNN(1, 4, 32), (mnist_x, mnist_y), 1)


def time_fit(make_model, data, epochs: int, threads: int) -> float:
    model = make_model()
    start = time.perf_counter()
    fit(model, nn.CrossEntropyLoss(), data, epochs=epochs, progress=False, threads=threads)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip
    print(f"{'workload':28s} {'1 thread (s)':>13s} {'2 threads (s)':>14s} {'2 / 1':>7s}")
    for name, make_model, data, epochs in workloads():
        one, two = [], []
        for _ in range(args.repeats):  # interleaved, so a load spike hits both settings
            one.append(time_fit(make_model, data, epochs, 1))
            two.append(time_fit(make_model, data, epochs, 2))
        t1, t2 = statistics.median(one), statistics.median(two)
        print(f"{name:28s} {t1:13.2f} {t2:14.2f} {t2 / t1:7.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
