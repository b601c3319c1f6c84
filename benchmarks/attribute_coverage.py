"""Which parts of the data's variety a generator misses: per procedural attribute, the class
frequencies of its samples against held-out real images, as ProcNet classifies both
(`ssnlib.metrics.attributes`), with ProcNet's own accuracy on those real images beside them (so a
gap is the generator's, not the classifier's) — and how much of a generator's FD-proc its mix alone
explains: the FD-proc of *real* images drawn with the generator's attribute frequencies (importance
weights Π_a q_a(class) / p_a(class) over a pool of held-out real images, each attribute's marginal).

    OMP_NUM_THREADS=1 python benchmarks/attribute_coverage.py NETWORK [NETWORK …] --dataset faces
                                                             [--n 2000] [--out results/cpu/F.md] [--png F.png]

NETWORK: a generator file, a run directory, a training checkpoint or a networks file
(RUN/best.safetensors, a base). Real images: the dataset's seed-0 images n … 2n − 1 (held out from
the reference set FD-proc uses, its first n); the pool for the mix-matched FD-proc n … 10n − 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ssnlib.data import open_dataset
from ssnlib.metrics import compute_feature_stats, dataset_feature_stats, fid_with_se, get_feature_extractor
from ssnlib.metrics.attributes import attribute_predictions, class_frequencies, compare_frequencies
from ssnlib.metrics.procnet import PROCNET_NAME
from ssnlib.train import read_network

DOMAIN = {"faces": "face", "churches": "church"}


POOL = 9  # the mix-matched draw picks n of POOL × n held-out real images


def real_images(dataset: str, n: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """The held-out real pool (images n … 10n − 1) and their true labels."""
    data = open_dataset(dataset, 32, length=(POOL + 1) * n)
    indices = range(n, (POOL + 1) * n)
    labels = [data.render(i).labels for i in indices[:n]]
    return torch.stack([data[i] for i in indices]), {a: np.array([lab[a] for lab in labels]) for a in labels[0]}


def mix_weights(pool_classes: dict[str, np.ndarray], mix: dict[str, np.ndarray]) -> np.ndarray:
    """(len(pool),) importance weights Π_a mix_a(class) / pool_a(class): under them one attribute's
    class frequencies are exactly `mix`'s, and all of them are where the attributes are independent."""
    weights = np.ones(len(next(iter(pool_classes.values()))))
    for attribute, classes in pool_classes.items():
        pool_freq = np.bincount(classes, minlength=len(mix[attribute])) / len(classes)
        weights *= mix[attribute][classes] / pool_freq[classes]
    return weights


def mix_matched_fd(pool: torch.Tensor, pool_classes: dict[str, np.ndarray], mix: dict[str, np.ndarray],
                   reference, n: int, seed: int = 0) -> float:
    """FD-proc (against `reference`) of n pool images drawn without replacement with weights
    Π_a mix_a(class) / pool_a(class): real images whose attribute marginals follow `mix`."""
    weights = mix_weights(pool_classes, mix)
    if np.count_nonzero(weights) < n:
        raise ValueError(f"the mix leaves {np.count_nonzero(weights)} of {len(pool)} pool images, fewer than n = {n}")
    chosen = torch.multinomial(torch.from_numpy(weights), n, replacement=False,
                               generator=torch.Generator().manual_seed(seed))
    extractor = get_feature_extractor(PROCNET_NAME)
    stats = compute_feature_stats([pool[chosen[i:i + 200]] for i in range(0, n, 200)], extractor, n, progress=False)
    return fid_with_se(stats, reference, n_boot=0)[0]


def samples(network: str, n: int, seed: int = 0) -> torch.Tensor:
    G = read_network(network, "NETWORK")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([G(G.sample_z(min(100, n - i), generator)) for i in range(0, n, 100)]).float()


def markdown(dataset: str, accuracy: dict[str, float], coverage: dict[str, dict[str, dict]],
             fd: dict[str, tuple[float, float]]) -> str:
    """`fd`: per generator (its FD-proc, the FD-proc of real images with its attribute mix)."""
    lines = [f"**{dataset}**: total-variation distance of each attribute's class mix from the held-out real "
             "images' (0: the same mix), and the class drawn least often against how often the real "
             "images show it (generated / real)", "",
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
    lines += ["", "| generator | its FD-proc | FD-proc of real images with its attribute mix |", "|---|---|---|"]
    lines += [f"| {m} | {own:.1f} | {mixed:.1f} |" for m, (own, mixed) in fd.items()]
    return "\n".join(lines) + "\n"


def plot(dataset: str, coverage: dict[str, dict[str, dict]], path: Path) -> None:
    """One panel per attribute: the real images' class frequencies beside each generator's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attributes = list(next(iter(coverage.values())))
    cols = 4
    rows = -(-len(attributes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    width = 0.8 / (len(coverage) + 1)
    for ax, attribute in zip(axes.flat, attributes):
        first = next(iter(coverage.values()))[attribute]
        x = np.arange(len(first["classes"]))
        ax.bar(x, first["real"], width, label="real", color="0.55")
        for i, (name, cov) in enumerate(coverage.items(), start=1):
            ax.bar(x + i * width, cov[attribute]["generated"], width, label=name)
        ax.set_xticks(x + width * len(coverage) / 2, [c[:9] for c in first["classes"]], rotation=30, fontsize=7)
        tv = " / ".join(f"{cov[attribute]['tv']:.2f}" for cov in coverage.values())
        ax.set_title(f"{attribute} — TV {tv}", fontsize=9)
    spare = list(axes.flat)[len(attributes):]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    (spare[0] if spare else fig).legend(handles, labels, loc="center", fontsize=8)
    fig.suptitle(f"{dataset}: class frequencies as ProcNet classifies them", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("networks", nargs="+", metavar="NETWORK")
    parser.add_argument("--dataset", required=True, choices=sorted(DOMAIN))
    parser.add_argument("--n", type=int, default=2000, help="real and generated images (2000, as quality.csv)")
    parser.add_argument("--names", nargs="+", help="a column label per NETWORK (default: the file names)")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    parser.add_argument("--png", type=Path, help="plot the class frequencies here")
    args = parser.parse_args()
    names = args.names or [Path(n).stem if Path(n).stem != "best" else Path(n).parent.name for n in args.networks]
    if len(names) != len(args.networks):
        parser.error(f"--names: {len(names)} labels for {len(args.networks)} networks")
    domain = DOMAIN[args.dataset]
    pool, labels = real_images(args.dataset, args.n)
    pool_classes = attribute_predictions(pool, domain)
    accuracy = {a: float((pool_classes[a][:args.n] == labels[a]).mean()) for a in pool_classes}
    extractor = get_feature_extractor(PROCNET_NAME)
    reference = dataset_feature_stats(open_dataset(args.dataset, 32, length=args.n), extractor, args.n, progress=False)
    real_freq = class_frequencies({a: c[:args.n] for a, c in pool_classes.items()}, domain)
    coverage, fd = {}, {}
    for name, network in zip(names, args.networks):
        fake = samples(network, args.n)
        mix = class_frequencies(attribute_predictions(fake, domain), domain)
        coverage[name] = compare_frequencies(real_freq, mix, domain)
        own = fid_with_se(compute_feature_stats([fake[i:i + 200] for i in range(0, args.n, 200)], extractor, args.n,
                                                progress=False), reference, n_boot=0)[0]
        fd[name] = own, mix_matched_fd(pool, pool_classes, mix, reference, args.n)
    table = markdown(args.dataset, accuracy, coverage, fd)
    print(table)
    if args.out:
        args.out.write_text(table)
    if args.png:
        plot(args.dataset, coverage, args.png)


if __name__ == "__main__":
    main()
