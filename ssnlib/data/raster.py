"""Anti-aliased rasterisation of signed-distance shapes onto an RGB canvas with a part map.

Shapes are signed distance functions (negative inside) plus a bounding box; they combine with
`|` (union), `&` (intersection) and `-` (difference). A pixel's coverage is
`clip(0.5 - d / pixel, 0, 1)` with `d` the distance at its centre, which anti-aliases edges at
any resolution from one sample per pixel; the part map takes a shape's class where `d <= 0`.

World coordinates: x right, y down, the image spans [0, 1]², pixel centres at (i + 0.5) / res.
A `Frame` paints shapes given in a local similarity frame (centre, scale, rotation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

Sdf = Callable[[np.ndarray, np.ndarray], np.ndarray]
BBox = tuple[float, float, float, float]  # x0, y0, x1, y1
ColourFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Colour = Union[Sequence[float], np.ndarray, ColourFn]


def _bbox_union(a: BBox, b: BBox) -> BBox:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _bbox_intersection(a: BBox, b: BBox) -> BBox:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _bbox_grow(a: BBox, r: float) -> BBox:
    return (a[0] - r, a[1] - r, a[2] + r, a[3] + r)


@dataclass(frozen=True)
class Shape:
    """A signed distance function (negative inside) and a box that contains its inside."""

    sdf: Sdf
    bbox: BBox

    def __or__(self, other: Shape) -> Shape:
        a, b = self.sdf, other.sdf
        return Shape(lambda x, y: np.minimum(a(x, y), b(x, y)), _bbox_union(self.bbox, other.bbox))

    def __and__(self, other: Shape) -> Shape:
        a, b = self.sdf, other.sdf
        return Shape(lambda x, y: np.maximum(a(x, y), b(x, y)), _bbox_intersection(self.bbox, other.bbox))

    def __sub__(self, other: Shape) -> Shape:
        a, b = self.sdf, other.sdf
        return Shape(lambda x, y: np.maximum(a(x, y), -b(x, y)), self.bbox)

    def grow(self, r: float) -> Shape:
        """Offset the boundary outwards by `r` (inwards if negative)."""
        a = self.sdf
        return Shape(lambda x, y: a(x, y) - r, _bbox_grow(self.bbox, max(r, 0.0)))

    def outline(self, t: float) -> Shape:
        """A band of half-width `t` around the boundary."""
        a = self.sdf
        return Shape(lambda x, y: np.abs(a(x, y)) - t, _bbox_grow(self.bbox, t))

    def blend(self, other: Shape, k: float) -> Shape:
        """Smooth union with blend radius `k` (polynomial smooth minimum)."""
        a, b = self.sdf, other.sdf

        def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            da, db = a(x, y), b(x, y)
            h = np.clip(0.5 + 0.5 * (db - da) / k, 0.0, 1.0)
            return db + (da - db) * h - k * h * (1.0 - h)

        return Shape(sdf, _bbox_grow(_bbox_union(self.bbox, other.bbox), k / 4))


def circle(cx: float, cy: float, r: float) -> Shape:
    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.hypot(x - cx, y - cy) - r

    return Shape(sdf, (cx - r, cy - r, cx + r, cy + r))


def ellipse(cx: float, cy: float, rx: float, ry: float) -> Shape:
    """Axis-aligned ellipse; the distance is exact on the boundary, approximate away from it."""

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = (x - cx) / rx, (y - cy) / ry
        k0 = np.sqrt(u * u + v * v)
        k1 = np.maximum(np.sqrt((u / rx) ** 2 + (v / ry) ** 2), 1e-9)
        return k0 * (k0 - 1.0) / k1

    return Shape(sdf, (cx - rx, cy - ry, cx + rx, cy + ry))


def box(cx: float, cy: float, hw: float, hh: float, radius: float = 0.0) -> Shape:
    """Axis-aligned box of half-size (hw, hh) with corners rounded by `radius`."""

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        qx = np.abs(x - cx) - (hw - radius)
        qy = np.abs(y - cy) - (hh - radius)
        outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
        return outside + np.minimum(np.maximum(qx, qy), 0.0) - radius

    return Shape(sdf, (cx - hw, cy - hh, cx + hw, cy + hh))


def rect(x0: float, y0: float, x1: float, y1: float, radius: float = 0.0) -> Shape:
    """Box from its corners."""
    return box((x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2, radius)


def segment(x0: float, y0: float, x1: float, y1: float, r: float) -> Shape:
    """Capsule: all points within `r` of the segment (x0, y0)-(x1, y1)."""
    ex, ey = x1 - x0, y1 - y0
    inv = 1.0 / max(ex * ex + ey * ey, 1e-12)

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        wx, wy = x - x0, y - y0
        t = np.clip((wx * ex + wy * ey) * inv, 0.0, 1.0)
        return np.hypot(wx - ex * t, wy - ey * t) - r

    return Shape(sdf, (min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r, max(y0, y1) + r))


def polygon(points: Sequence[tuple[float, float]]) -> Shape:
    """Convex polygon with exact distance (vertices in either winding order)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 3 or pts.shape[1] != 2:
        raise ValueError(f"polygon needs at least 3 (x, y) points, got shape {pts.shape}")
    nxt = np.roll(pts, -1, axis=0)
    area = float(np.sum(pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]))
    orient = 1.0 if area > 0 else -1.0
    edges = [(float(a[0]), float(a[1]), float(b[0] - a[0]), float(b[1] - a[1])) for a, b in zip(pts, nxt)]

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dist2 = None
        outside = None
        for ax, ay, ex, ey in edges:
            wx, wy = x - ax, y - ay
            t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            d2 = (wx - ex * t) ** 2 + (wy - ey * t) ** 2
            side = orient * (wx * ey - wy * ex) > 0
            dist2 = d2 if dist2 is None else np.minimum(dist2, d2)
            outside = side if outside is None else outside | side
        d = np.sqrt(dist2)
        return np.where(outside, d, -d)

    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return Shape(sdf, (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))


def union(shapes: Sequence[Shape]) -> Shape:
    out = shapes[0]
    for s in shapes[1:]:
        out = out | s
    return out


def vertical_gradient(top: np.ndarray, bottom: np.ndarray, y0: float, y1: float) -> ColourFn:
    """Colour function blending `top` at y0 to `bottom` at y1 (clamped outside)."""
    top, bottom = np.asarray(top, np.float32), np.asarray(bottom, np.float32)

    def colour(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = np.clip((y - y0) / (y1 - y0), 0.0, 1.0)[..., None]
        return top + t * (bottom - top)

    return colour


class Canvas:
    """A float RGB image in [0, 1] and a uint8 part map, painted back to front."""

    def __init__(self, resolution: int, part: int = 0):
        self.resolution = resolution
        centres = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
        self.x = np.broadcast_to(centres[None, :], (resolution, resolution))
        self.y = np.broadcast_to(centres[:, None], (resolution, resolution))
        self.image = np.zeros((resolution, resolution, 3), np.float32)
        self.parts = np.full((resolution, resolution), part, np.uint8)
        self.world = Frame(self, 0.0, 0.0, 1.0, 0.0)

    def frame(self, cx: float, cy: float, scale: float, angle: float = 0.0) -> Frame:
        """A frame whose local point p lands at (cx, cy) + scale · R(angle) p (angle in radians)."""
        return Frame(self, cx, cy, scale, angle)

    def to_uint8(self) -> np.ndarray:
        return (np.clip(self.image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class Frame:
    """Paints shapes given in local coordinates of a similarity transform of the canvas."""

    def __init__(self, canvas: Canvas, cx: float, cy: float, scale: float, angle: float):
        self.canvas, self.cx, self.cy, self.scale = canvas, cx, cy, scale
        self.pixel = 1.0 / (canvas.resolution * scale)  # one pixel in local units
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        dx, dy = canvas.x - cx, canvas.y - cy
        if angle == 0.0:
            self.lx, self.ly = dx / scale, dy / scale
        else:
            self.lx = (self.cos * dx + self.sin * dy) / scale
            self.ly = (-self.sin * dx + self.cos * dy) / scale

    def _window(self, bbox: BBox) -> tuple[slice, slice] | None:
        x0, y0, x1, y1 = bbox
        if x1 < x0 or y1 < y0:
            return None
        xs, ys = [], []
        for u, v in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
            xs.append(self.cx + self.scale * (self.cos * u - self.sin * v))
            ys.append(self.cy + self.scale * (self.sin * u + self.cos * v))
        res = self.canvas.resolution
        j0, j1 = max(int(math.floor(min(xs) * res)) - 1, 0), min(int(math.ceil(max(xs) * res)) + 1, res)
        i0, i1 = max(int(math.floor(min(ys) * res)) - 1, 0), min(int(math.ceil(max(ys) * res)) + 1, res)
        if j1 <= j0 or i1 <= i0:
            return None
        return slice(i0, i1), slice(j0, j1)

    def paint(
        self,
        shape: Shape,
        colour: Colour,
        part: int | None = None,
        *,
        blur: float = 0.0,
        opacity: float = 1.0,
    ) -> None:
        """Composite `shape` filled with `colour` (RGB in [0, 1] or a function of local x, y).

        `blur` (local units) widens the edge ramp beyond one pixel; `part` labels the pixels
        whose centre is inside the shape.
        """
        win = self._window(_bbox_grow(shape.bbox, blur))
        if win is None:
            return
        lx, ly = self.lx[win], self.ly[win]
        d = shape.sdf(lx, ly)
        ramp = max(self.pixel, blur)
        cover = np.clip(0.5 - d / ramp, 0.0, 1.0)
        if opacity != 1.0:
            cover *= opacity
        fill = colour(lx, ly) if callable(colour) else np.asarray(colour, np.float32)
        target = self.canvas.image[win]
        target += cover[..., None] * (fill - target)
        if part is not None:
            np.copyto(self.canvas.parts[win], part, where=d <= 0.0)

    def fill(self, colour: Colour, part: int | None = None) -> None:
        """Cover the whole canvas."""
        canvas = self.canvas
        fill = colour(self.lx, self.ly) if callable(colour) else np.asarray(colour, np.float32)
        canvas.image[...] = fill
        if part is not None:
            canvas.parts[...] = part


def palette(*colours: tuple[int, int, int]) -> np.ndarray:
    """Rows of 0–255 RGB triples as float32 in [0, 1]."""
    return np.asarray(colours, np.float32) / 255.0
