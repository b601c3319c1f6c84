"""Which parts of the data's variety a generator misses: per procedural attribute, the class
frequencies of its samples against held-out real images, as ProcNet classifies both
(`ssnlib.metrics.attributes`), with ProcNet's own accuracy on those real images beside them (so a
gap is the generator's, not the classifier's).

    OMP_NUM_THREADS=1 python benchmarks/attribute_coverage.py NETWORK [NETWORK …] --dataset faces
                                                             [--n 2000] [--out results/cpu/F.md]

NETWORK: a generator file, a run directory, a training checkpoint or a networks file
(RUN/best.safetensors, a base). Real images: the dataset's seed-0 images n … 2n − 1 (held out from
the reference set FD-proc uses).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ssnlib.__main__ import _read_generator
from ssnlib.data import open_dataset
from ssnlib.metrics.attributes import attribute_coverage, attribute_predictions

DOMAIN = {"faces": "face", "churches": "church"}


def real_images(dataset: str, n: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """The held-out real images and their true labels."""
    data = open_dataset(dataset, 32, length=2 * n)
    images = torch.stack([data[i] for i in range(n, 2 * n)])
    labels = [data.render(i).labels for i in range(n, 2 * n)]
    return images, {a: np.array([lab[a] for lab in labels]) for a in labels[0]}


def samples(network: str, n: int, seed: int = 0) -> torch.Tensor:
    G = _read_generator(network, "NETWORK")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([G(G.sample_z(min(100, n - i), generator)) for i in range(0, n, 100)]).float()


def markdown(dataset: str, accuracy: dict[str, float], coverage: dict[str, dict[str, dict]]) -> str:
    lines = [f"**{dataset}**: total-variation distance of each attribute's class mix from the held-out real "
             "images' (0: the same mix), and the classes drawn least often against how often the real "
             "images show them (generated / real)", "",
             "| attribute | ProcNet accuracy on real | " + " | ".join(f"{m}: TV" for m in coverage) +
             " | " + " | ".join(f"{m}: most under-drawn" for m in coverage) + " |",
             "|---|---|" + "---|" * (2 * len(coverage))]
    for attribute, acc in accuracy.items():
        tvs, worst = [], []
        for cov in coverage.values():
            c = cov[attribute]
            k = int(np.argmin(c["generated"] - c["real"]))
            tvs.append(f"{c['tv']:.3f}")
            worst.append(f"{c['classes'][k]} {c['generated'][k]:.2f} / {c['real'][k]:.2f}")
        lines.append(f"| {attribute} | {acc:.3f} | " + " | ".join(tvs) + " | " + " | ".join(worst) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("networks", nargs="+", metavar="NETWORK")
    parser.add_argument("--dataset", required=True, choices=sorted(DOMAIN))
    parser.add_argument("--n", type=int, default=2000, help="real and generated images (2000, as quality.csv)")
    parser.add_argument("--names", nargs="+", help="a column label per NETWORK (default: the file names)")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    args = parser.parse_args()
    names = args.names or [Path(n).stem if Path(n).stem != "best" else Path(n).parent.name for n in args.networks]
    if len(names) != len(args.networks):
        parser.error(f"--names: {len(names)} labels for {len(args.networks)} networks")
    domain = DOMAIN[args.dataset]
    real, labels = real_images(args.dataset, args.n)
    predicted = attribute_predictions(real, domain)
    accuracy = {a: float((predicted[a] == labels[a]).mean()) for a in predicted}
    coverage = {name: attribute_coverage(samples(network, args.n), real, domain)
                for name, network in zip(names, args.networks)}
    table = markdown(args.dataset, accuracy, coverage)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
