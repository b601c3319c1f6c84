"""Train ProcNet, the offline metrics' feature network (`ssnlib.metrics.procnet`), on rendered
procedural faces and churches: attribute classification, part segmentation and deep supervision
of the small parts, seeded (data seeds 1000 for training and 2000 for the held-out split, a family
disjoint from the GANs' training data). Held-out metrics are stored in the weights' metadata.

    python -m ssnlib.train_procnet --out ssnlib/assets/procnet.safetensors
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .io.serialization import save_tensors
from .metrics.procnet import (
    DOMAINS,
    HEADS,
    HELD_OUT_SEED,
    IGNORE,
    MAX_RES,
    MIN_RES,
    PART_NAMES,
    PART_OFFSETS,
    TRAIN_SEED,
    ProcNet,
)
from .progress import progress_bar

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ data and augmentation


def render_split(seed: int, n: int, resolution: int) -> dict[str, torch.Tensor]:
    """n faces then n churches (cached on disk via `cached`): "images" float (2n, 3, r, r) in
    [-1, 1], "segmentation" int64 ProcNet part ids (2n, r, r), "domain" and one int64 label per
    head (`IGNORE` on the other domain's images)."""
    parts = []
    for k, (domain, cls) in enumerate(DOMAINS.items()):
        data = cls(resolution=resolution, length=n, seed=seed).cached(n)
        labels = {name: torch.full((n,), IGNORE) for name in HEADS}
        labels["domain"][:] = k
        labels.update({f"{domain}/{a}": torch.from_numpy(v) for a, v in data.labels.items()})
        parts.append({"images": torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0),
                      "segmentation": torch.from_numpy(data.segmentations).long() + PART_OFFSETS[domain], **labels})
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def augment(x: torch.Tensor, seg: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal flips, small colour jitter (±4% gain per channel, ±3% offset), Gaussian blur
    (σ up to 0.9 px on half the images) and pixel noise (σ up to 0.03): generated images, a bit
    blurry, stay in distribution; colour classes (eye colour, style) stay separable."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    seg = torch.where(flip[:, None, None], seg.flip(-1), seg)
    gain = 1.0 + 0.04 * (2 * torch.rand(b, 3, 1, 1, generator=gen) - 1)
    offset = 0.06 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1)
    x = (x + 1.0) * gain - 1.0 + offset
    sigma = 0.9 * torch.rand(b, generator=gen) * (torch.rand(b, generator=gen) < 0.5)
    taps = torch.arange(-2, 3, dtype=x.dtype)
    kernel = torch.exp(-taps.square() / (2 * sigma.clamp_min(1e-3).square()[:, None]))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (3b, 5)
    h, w = x.shape[-2:]
    y = F.pad(x.reshape(1, 3 * b, h, w), (2, 2, 2, 2), mode="reflect")
    y = F.conv2d(y, kernel[:, None, None, :], groups=3 * b)
    y = F.conv2d(y, kernel[:, None, :, None], groups=3 * b).reshape(b, 3, h, w)
    noise = 0.03 * torch.rand(b, 1, 1, 1, generator=gen) * torch.randn(y.shape, generator=gen)
    return (y + noise).clamp(-1.0, 1.0), seg


def segmentation_weights(segmentation: torch.Tensor, n_parts: int) -> torch.Tensor:
    """Per-part loss weights ∝ 1/√(pixel frequency), normalised to a weighted mean of 1, so
    small parts (eyes, glasses, windows) count."""
    freq = torch.bincount(segmentation.flatten(), minlength=n_parts).double()
    freq = freq / freq.sum()
    w = torch.where(freq > 0, freq.clamp_min(1e-12).rsqrt(), torch.zeros_like(freq))
    return (w / (w * freq).sum()).float()


def procnet_loss(net: ProcNet, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                 seg_weights: torch.Tensor) -> torch.Tensor:
    """Σ over heads of the cross-entropy on the images that have the label, + the weighted
    segmentation cross-entropy, + the part-attribute cross-entropies at the stage positions that
    hold any pixel of their parts."""
    loss = sum(F.cross_entropy(out[name], batch[name], ignore_index=IGNORE) for name in net.heads)
    seg = batch["segmentation"]
    loss = loss + F.cross_entropy(out["segmentation"], seg, weight=seg_weights)
    for name, parts in net.part_attributes.items():
        logits = out[f"parts/{name}"]
        on_part = torch.isin(seg, torch.tensor([net.part_names.index(p) for p in parts]))
        on_part = F.adaptive_max_pool2d(on_part[:, None].float(), logits.shape[-2:])[:, 0] > 0
        if on_part.any():
            target = torch.where(on_part, batch[name][:, None, None], IGNORE)
            loss = loss + F.cross_entropy(logits, target, ignore_index=IGNORE)
    return loss


# ------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate_procnet(
    net: ProcNet, n: int = 1000, resolutions: Sequence[int] = (32, 64), seed: int = HELD_OUT_SEED,
    batch_size: int = 100,
) -> dict[str, dict[str, float]]:
    """Held-out metrics per resolution ("32px", ...): accuracy per head ("acc/<head>"),
    segmentation pixel accuracy and mIoU per domain (over that domain's parts), on the first n
    images of each dataset at `seed`."""
    net.eval()
    metrics = {}
    for res in resolutions:
        split = render_split(seed, n, res)
        correct = {name: 0 for name in net.heads}
        counts = {name: 0 for name in net.heads}
        n_parts = len(net.part_names)
        confusion = torch.zeros(n_parts, n_parts, dtype=torch.long)
        for k, domain in enumerate(DOMAINS):
            ids = net.domain_parts(domain)
            for start in range(k * n, (k + 1) * n, batch_size):
                batch = {key: v[start:min(start + batch_size, (k + 1) * n)] for key, v in split.items()}
                out = net.predict(batch["images"])
                for name in net.heads:
                    known = batch[name] != IGNORE
                    correct[name] += int((out[name].argmax(1) == batch[name])[known].sum())
                    counts[name] += int(known.sum())
                pred = torch.as_tensor(ids)[out["segmentation"][:, ids].argmax(1)]
                confusion += torch.bincount(batch["segmentation"].flatten() * n_parts + pred.flatten(),
                                            minlength=n_parts ** 2).reshape(n_parts, n_parts)
        result = {f"acc/{k}": correct[k] / counts[k] for k in net.heads}
        for domain in DOMAINS:
            ids = net.domain_parts(domain)
            conf = confusion[ids][:, ids]
            inter, union = conf.diag().double(), (conf.sum(0) + conf.sum(1) - conf.diag()).double()
            result[f"{domain}/seg_pixel_acc"] = float(inter.sum() / conf.sum())
            result[f"{domain}/seg_miou"] = float((inter[union > 0] / union[union > 0]).mean())
        metrics[f"{res}px"] = result
    return metrics


# ------------------------------------------------------------------ training


def train_procnet(
    out_path: str | Path | None,
    n_train: int = 10000,
    resolutions: Sequence[int] = (32, 64),
    steps: int = 1600,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    n_held_out: int = 1000,
    progress: bool = True,
) -> tuple[ProcNet, dict]:
    """Train ProcNet on `n_train` renders per dataset and resolution (dataset seed 1000), report
    held-out metrics (seed 2000) with the fp16-rounded weights, and save them to `out_path` (if
    given). Steps cycle through `resolutions`; each batch is half faces, half churches.
    Returns (net, report) with report keys "losses", "held_out_metrics", "seconds"."""
    if batch_size < 2 or batch_size % 2 or steps < 1 or n_train < 1:
        raise ValueError(f"need an even batch_size ≥ 2, steps ≥ 1 and n_train ≥ 1; "
                         f"got {batch_size}, {steps}, {n_train}")
    for res in resolutions:
        if not MIN_RES <= res <= MAX_RES:
            raise ValueError(f"training resolution {res} outside {MIN_RES}–{MAX_RES}")
    t0 = time.perf_counter()
    splits = {res: render_split(TRAIN_SEED, n_train, res) for res in resolutions}
    seg_weights = segmentation_weights(torch.cat([s["segmentation"].flatten() for s in splits.values()]),
                                       len(PART_NAMES))
    torch.manual_seed(seed)
    net = ProcNet()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    losses = []
    net.train()
    bar = progress_bar(range(steps), desc="train ProcNet", shown=progress)
    for step in bar:
        split = splits[resolutions[step % len(resolutions)]]
        idx = torch.randint(n_train, (batch_size,), generator=gen)
        idx[batch_size // 2:] += n_train  # half faces, half churches
        batch = {k: v[idx] for k, v in split.items()}
        batch["images"], batch["segmentation"] = augment(batch["images"], batch["segmentation"], gen)
        loss = procnet_loss(net, net.predict(batch["images"]), batch, seg_weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 25 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-25:]):.3f}")
    train_seconds = time.perf_counter() - t0
    net.eval()
    state = {k: v.detach().half() for k, v in net.state_dict().items()}
    net.load_state_dict({k: v.float() for k, v in state.items()})  # report what the file holds
    held_out = evaluate_procnet(net, n=n_held_out, resolutions=resolutions)
    for res, m in held_out.items():
        log.info("held-out %s: %s", res, ", ".join(f"{k}={v:.4f}" for k, v in m.items()))
    training = {"n_train": n_train, "resolutions": list(resolutions), "steps": steps, "batch_size": batch_size,
                "lr": lr, "seed": seed, "train_seed": TRAIN_SEED, "held_out_seed": HELD_OUT_SEED,
                "n_held_out": n_held_out, "seconds": round(train_seconds, 1),
                "final_loss": float(np.mean(losses[-25:])), "segmentation_weights": seg_weights.tolist(),
                "torch": torch.__version__, "threads": torch.get_num_threads()}
    net.metadata = {"class": "ProcNet", "config": net.config, "training": training, "held_out_metrics": held_out}
    if out_path is not None:
        save_tensors(out_path, state, net.metadata)
        log.info("saved ProcNet weights to %s (training %.0f s)", out_path, train_seconds)
    return net.requires_grad_(False), {"losses": losses, "held_out_metrics": held_out, "seconds": train_seconds}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ssnlib.train_procnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="weights file to write (.safetensors)")
    parser.add_argument("--n-train", type=int, default=10000, help="renders per dataset and resolution")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--batch-size", type=int, default=64, help="half faces, half churches")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-held-out", type=int, default=1000, help="held-out images per dataset and resolution")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (recorded in the metadata)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    train_procnet(args.out, n_train=args.n_train, resolutions=args.resolutions, steps=args.steps,
                  batch_size=args.batch_size, lr=args.lr, seed=args.seed, n_held_out=args.n_held_out)


if __name__ == "__main__":
    main()
