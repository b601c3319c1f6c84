"""Global-consistency rates for procedural faces and churches (the paper's Figures 7–8, in numbers).

The procedural data are consistent by construction (both eyes share one iris colour, glasses span
both eyes, every tower has the building's wall and roof colours); a generator that resamples
blocks independently can break that. The checks read ProcNet's part probabilities (so they work
on generated images) and compare part colours (RGB in [0, 1]):

- faces, eyes: split by the face's vertical midline (mean column of the "skin" pixels). Each
  side's iris colour is the mean colour weighted by the "eyes" probability and by how far a pixel
  is from the eye white and the pupil/lash black (ramps on the min / max channel, `IRIS_WHITE`,
  `IRIS_BLACK`); the eyes match when the two colours are within the eye threshold. A side with
  less than one pixel's worth of eye probability: no match.
- faces, glasses: a segmenter that has only seen symmetric glasses fills in the missing side, so
  each side is judged alone: the image with the other side replaced by this side's mirror image
  is segmented and its "glasses" pixels counted. Consistent unless the larger count reaches 1.5%
  of the image and the smaller one is below 0.3 × the larger (on 1000 real faces, seed 3000, this
  rule accepts 99.5% / 99.0% at 32 / 64 px and flags 97.7% / 94.0% of faces whose glasses were
  erased on one side).
- churches: towers are the column runs of "tower" pixels (≥ 0.4% of the image each). Wall: the
  lower half of each tower against the "building" pixels; roof: the top 18% of each tower (the
  spire) against the "roof" pixels; colours compared as ‖log(a + 0.1) − log(b + 0.1)‖ so that the
  shading (a common factor) counts alike for light and dark styles. Images with no tower pass.

Thresholds are the 99th percentile of each distance on 1000 real images (dataset seed 3000) per
resolution, rounded up to 0.005 (`calibrate`); other resolutions use the nearest calibrated one.
On held-out real images (seed 2000, 1000 per dataset; 32 / 64 px) the checks pass: eyes 98.6% /
99.7%, glasses 99.8% / 99.3%, tower walls 98.3% / 97.7%, tower roofs 99.6% / 99.4%. Synthetic
inconsistencies made from the same images (renders with a changed palette composited in) are
flagged: one eye recoloured (the next iris colour of the dataset) 24% / 87% — at 32 px an iris is
about one pixel and the check is weak —; glasses erased on one side 98% / 94%; one tower in the
next style (wall and spire; wall check 96% / 99%, roof check 50% / 37%) 97% / 99%. The numbers
hold for the shipped ProcNet weights; recalibrate after retraining.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .procnet import DOMAINS, ProcNet, shipped_procnet

# resolution -> distance threshold: the 99th percentile on real images, rounded up to 0.005
# (`calibrate(shipped_procnet())`, 1000 images per dataset and resolution, dataset seed 3000)
THRESHOLDS = {
    "eye_colour": {32: 0.205, 64: 0.12},
    "tower_wall": {32: 0.29, 64: 0.235},
    "tower_roof": {32: 0.59, 64: 0.73},
}
CALIBRATION_SEED, CALIBRATION_QUANTILE, CALIBRATION_STEP = 3000, 0.99, 0.005
IRIS_WHITE, IRIS_BLACK = (0.6, 0.9), (0.3, 0.1)  # min / max channel ramps that fade out white and black
GLASSES_MIN_FRACTION, GLASSES_MIN_RATIO = 0.015, 0.3
LOG_EPS = 0.1
TOWER_MIN_FRACTION, SPIRE_FRACTION, BODY_FRACTION = 0.004, 0.18, 0.5


def threshold(name: str, resolution: int) -> float:
    """The calibrated threshold of `name` for the nearest calibrated resolution (log scale)."""
    table = THRESHOLDS[name]
    return table[min(table, key=lambda r: abs(math.log(r / resolution)))]


def _check(images: torch.Tensor) -> None:
    shape = tuple(getattr(images, "shape", ()))
    if not torch.is_tensor(images) or len(shape) != 4 or shape[1] != 3 or shape[2] != shape[3]:
        raise ValueError(f"expected square images (B, 3, H, H) in [-1, 1], got {shape}")


@torch.no_grad()
def _probabilities(images: torch.Tensor, net, domain: str, batch_size: int) -> tuple[np.ndarray, list[str]]:
    """(B, P, H, W) float32 probabilities of the domain's parts and their names (without the domain
    prefix): ProcNet's softmax, or the one-hot `segment` of another part segmenter."""
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    chunks = []
    for chunk in images.split(batch_size):
        if isinstance(net, ProcNet):
            chunks.append(net.part_probabilities(chunk.to(device), domain).cpu())
        else:
            ids = [i for i, n in enumerate(net.part_names) if n.startswith(f"{domain}/")]
            one_hot = F.one_hot(net.segment(chunk.to(device), domain=domain).cpu(), len(net.part_names))
            chunks.append(one_hot.permute(0, 3, 1, 2)[:, ids].float())
    names = [n.split("/", 1)[1] for n in net.part_names if n.startswith(f"{domain}/")]
    return torch.cat(chunks).float().numpy(), names


def _to_unit(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] → (B, H, W, 3) float64 in [0, 1]."""
    return ((images.detach().cpu().double().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()


def _mean_colour(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted mean colour (3,), NaN when the weights are all zero."""
    total = weight.sum()
    return (rgb * weight[..., None]).sum((0, 1)) / total if total > 0 else np.full(3, np.nan)


def _log_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖log(a + ε) − log(b + ε)‖ of two colours: a shading factor shifts every style alike."""
    return float(np.linalg.norm(np.log(a + LOG_EPS) - np.log(b + LOG_EPS)))


def _mirrored(images: torch.Tensor, midlines: np.ndarray, keep_left: bool) -> torch.Tensor:
    """Each image with one side of its vertical midline replaced by the mirror image of the other."""
    w = images.shape[-1]
    cols = np.arange(w)[None, :]
    mid = midlines[:, None]
    replace = cols >= mid if keep_left else cols < mid
    source = np.where(replace, np.clip(np.rint(2 * mid - cols), 0, w - 1), cols).astype(np.int64)
    index = torch.from_numpy(source)[:, None, None, :].expand_as(images)
    return images.gather(-1, index.to(images.device))


def _summary(flags: dict[str, np.ndarray], scores: dict[str, np.ndarray], thresholds: dict[str, float]) -> dict:
    return {
        "n": len(next(iter(flags.values()))),
        "per_image": flags,
        "scores": scores,
        "counts": {k: int(v.sum()) for k, v in flags.items()},
        "rates": {k: float(v.mean()) for k, v in flags.items()},
        "thresholds": thresholds,
    }


def face_consistency(images: torch.Tensor, net=None, batch_size: int = 100) -> dict:
    """Eye-colour and glasses consistency of face images (B, 3, H, H) in [-1, 1].

    Returns {"n", "per_image": {name: (B,) bool}, "scores": {name: (B,) float}, "counts",
    "rates", "thresholds"}; per-image flags: "eyes_detected", "eye_colour_match",
    "glasses_consistent", "consistent" (both checks pass).
    """
    _check(images)
    net = shipped_procnet() if net is None else net
    prob, names = _probabilities(images, net, "face", batch_size)
    skin, eyes, glasses = (names.index(p) for p in ("skin", "eyes", "glasses"))
    rgb = _to_unit(images)
    b, _, h, w = prob.shape
    cols = np.arange(w)
    seg = prob.argmax(1)
    midlines = np.array([np.nonzero(s == skin)[1].mean() if (s == skin).any() else (w - 1) / 2 for s in seg])
    eye_mass = np.zeros((b, 2))
    distance = np.full(b, np.nan)
    white = np.clip((rgb.min(-1) - IRIS_WHITE[0]) / (IRIS_WHITE[1] - IRIS_WHITE[0]), 0, 1)
    black = np.clip((IRIS_BLACK[0] - rgb.max(-1)) / (IRIS_BLACK[0] - IRIS_BLACK[1]), 0, 1)
    iris = prob[:, eyes] * (1 - white) * (1 - black)
    for i in range(b):
        left = (cols < midlines[i])[None, :]
        eye_mass[i] = [(prob[i, eyes] * left).sum(), (prob[i, eyes] * ~left).sum()]
        distance[i] = np.linalg.norm(_mean_colour(rgb[i], iris[i] * left) - _mean_colour(rgb[i], iris[i] * ~left))
    glasses_pixels = np.stack([
        (_probabilities(_mirrored(images, midlines, keep_left), net, "face", batch_size)[0].argmax(1) == glasses)
        .sum((1, 2)) for keep_left in (True, False)
    ], axis=1)
    eye_thr, min_glasses = threshold("eye_colour", h), GLASSES_MIN_FRACTION * h * w
    detected = (eye_mass >= 1.0).all(1)
    match = detected & (np.nan_to_num(distance, nan=np.inf) <= eye_thr)
    most, least = glasses_pixels.max(1), glasses_pixels.min(1)
    glasses_ok = (most < min_glasses) | (least >= GLASSES_MIN_RATIO * most)
    flags = {"eyes_detected": detected, "eye_colour_match": match, "glasses_consistent": glasses_ok,
             "consistent": match & glasses_ok}
    scores = {"eye_colour_distance": distance, "glasses_pixels_left": glasses_pixels[:, 0],
              "glasses_pixels_right": glasses_pixels[:, 1]}
    return _summary(flags, scores, {"eye_colour": eye_thr, "glasses_min_pixels": min_glasses,
                                    "glasses_min_ratio": GLASSES_MIN_RATIO})


def _towers(tower: np.ndarray, min_pixels: float) -> list[tuple[int, int]]:
    """(first, last + 1) columns of each run of adjacent columns holding tower pixels; runs with
    fewer than min_pixels pixels are dropped."""
    occupied = np.concatenate([[False], tower.any(0), [False]])
    runs = np.flatnonzero(occupied[1:] != occupied[:-1]).reshape(-1, 2)
    return [(int(a), int(b)) for a, b in runs if tower[:, a:b].sum() >= min_pixels]


def church_consistency(images: torch.Tensor, net=None, batch_size: int = 100) -> dict:
    """One building style per church image (B, 3, H, H) in [-1, 1]: every tower's wall (lower half)
    matches the building's wall colour and its spire matches the roof colour.

    Returns the same structure as `face_consistency`; per-image flags: "towers_detected",
    "wall_match", "roof_match", "consistent"; scores are the worst tower's distances (NaN when
    there is nothing to compare).
    """
    _check(images)
    net = shipped_procnet() if net is None else net
    prob, names = _probabilities(images, net, "church", batch_size)
    building, roof, tower = (names.index(p) for p in ("building", "roof", "tower"))
    rgb = _to_unit(images)
    b, _, h, w = prob.shape
    seg = prob.argmax(1)
    wall_thr, roof_thr = threshold("tower_wall", h), threshold("tower_roof", h)
    rows = np.arange(h)[:, None]
    wall_d, roof_d, n_towers = np.full(b, np.nan), np.full(b, np.nan), np.zeros(b, int)
    for i in range(b):
        wall_colour, roof_colour = _mean_colour(rgb[i], prob[i, building]), _mean_colour(rgb[i], prob[i, roof])
        towers = _towers(seg[i] == tower, TOWER_MIN_FRACTION * h * w)
        n_towers[i] = len(towers)
        for start, stop in towers:
            top, bottom = np.flatnonzero((seg[i, :, start:stop] == tower).any(1))[[0, -1]]
            weight = np.zeros((h, w))
            weight[:, start:stop] = prob[i, tower, :, start:stop]
            body = weight * (rows >= top + BODY_FRACTION * (bottom - top))
            spire = weight * (rows <= top + SPIRE_FRACTION * (bottom - top))
            wall_d[i] = np.fmax(wall_d[i], _log_distance(_mean_colour(rgb[i], body), wall_colour))
            roof_d[i] = np.fmax(roof_d[i], _log_distance(_mean_colour(rgb[i], spire), roof_colour))
    wall_ok = ~(np.nan_to_num(wall_d, nan=0.0) > wall_thr)
    roof_ok = ~(np.nan_to_num(roof_d, nan=0.0) > roof_thr)
    flags = {"towers_detected": n_towers > 0, "wall_match": wall_ok, "roof_match": roof_ok,
             "consistent": wall_ok & roof_ok}
    scores = {"wall_distance": wall_d, "roof_distance": roof_d, "n_towers": n_towers}
    return _summary(flags, scores, {"tower_wall": wall_thr, "tower_roof": roof_thr})


def _real_images(dataset, n: int) -> torch.Tensor:
    images = torch.from_numpy(dataset.render_batch(range(n))[0]).permute(0, 3, 1, 2)
    return images.float().div_(127.5).sub_(1.0)


def calibrate(
    net: ProcNet | None = None, resolutions: Sequence[int] = (32, 64), n: int = 1000,
    seed: int = CALIBRATION_SEED, quantile: float = CALIBRATION_QUANTILE,
) -> dict[str, dict[int, float]]:
    """The `quantile` of each distance on n real images per resolution, rounded up to
    `CALIBRATION_STEP`: how `THRESHOLDS` was set (rerun after retraining ProcNet)."""
    net = shipped_procnet() if net is None else net
    out: dict[str, dict[int, float]] = {name: {} for name in THRESHOLDS}
    for res in resolutions:
        images = {d: _real_images(cls(res, length=n, seed=seed), n) for d, cls in DOMAINS.items()}
        faces = face_consistency(images["face"], net)["scores"]
        churches = church_consistency(images["church"], net)["scores"]
        for name, values in (("eye_colour", faces["eye_colour_distance"]), ("tower_wall", churches["wall_distance"]),
                             ("tower_roof", churches["roof_distance"])):
            value = np.nanquantile(values, quantile)
            out[name][res] = round(math.ceil(value / CALIBRATION_STEP - 1e-9) * CALIBRATION_STEP, 6)
    return out
