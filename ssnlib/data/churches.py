"""Procedural churches: a stand-in for LSUN churches, with attribute labels and part maps.

Global consistency by construction: one building style (wall colour, roof colour, window
shape) for the body and every tower; windows are lit at dusk. Local, independently placed
parts: 0–2 towers with spires (always rising above roof and trees, so visible whenever
n_towers > 0), 0–3 trees, clouds. Spires and tower windows are "tower" and "window_door";
clouds are "sky"; the path to the door is "ground".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .procedural import ProceduralDataset
from .raster import Canvas, Frame, Shape, box, circle, palette, polygon, rect, segment, union, vertical_gradient


@dataclass(frozen=True)
class _Style:
    name: str
    wall: np.ndarray
    roof: np.ndarray
    window: str  # "pointed", "arched", "round" or "rect"


def _style(name: str, wall: tuple[int, int, int], roof: tuple[int, int, int], window: str) -> _Style:
    return _Style(name, *palette(wall, roof), window)


STYLES = (
    _style("grey_stone", (150, 150, 144), (70, 82, 104), "pointed"),  # slate roof
    _style("red_brick", (160, 78, 58), (42, 40, 44), "arched"),  # charcoal tiles
    _style("white_plaster", (236, 231, 220), (178, 72, 50), "rect"),  # red tiles
    _style("sandstone", (212, 182, 132), (88, 150, 128), "round"),  # copper
    _style("dark_stone", (98, 92, 92), (128, 66, 44), "pointed"),  # brown tiles
    _style("timber", (150, 102, 62), (45, 95, 60), "arched"),  # green shingles
)
SKY_GRADIENTS = {  # name: (top, horizon)
    "day": ((60, 120, 205), (175, 210, 240)),
    "dusk": ((55, 48, 110), (250, 170, 100)),
    "overcast": ((118, 124, 134), (195, 196, 200)),
}
GROUND_GRADIENTS = {  # name: (horizon, bottom)
    "grass": ((110, 150, 70), (55, 98, 38)),
    "pavement": ((160, 156, 150), (105, 100, 96)),
    "snow": ((225, 230, 240), (200, 208, 225)),
}
SKIES = [palette(*pair) for pair in SKY_GRADIENTS.values()]
GROUNDS = [palette(*pair) for pair in GROUND_GRADIENTS.values()]
CLOUDS = palette((250, 250, 252), (230, 170, 165), (150, 152, 160))  # per sky
PATHS = palette((185, 170, 140), (130, 125, 120), (190, 195, 205))  # per ground
LEAVES = palette((60, 120, 50), (40, 95, 55), (95, 135, 45), (200, 120, 40))
TRUNK = palette((90, 62, 40))[0]
GLASS = palette((40, 50, 72))[0]
LIT = palette((250, 205, 110))[0]
DOOR = palette((92, 56, 34))[0]

SKY, GROUND, BUILDING, ROOF, TOWER, TREE, WINDOW_DOOR = range(7)  # indices into ProceduralChurches.PARTS


class ProceduralChurches(ProceduralDataset):
    """Anti-aliased churches under varied skies, with towers, trees and one style per building."""

    PARTS = ("sky", "ground", "building", "roof", "tower", "tree", "window_door")
    CLASS_NAMES = {
        "style": tuple(style.name for style in STYLES),
        "roof": ("side", "gable_front"),
        "n_towers": ("0", "1", "2"),
        "n_trees": ("0", "1", "2", "3"),
        "sky": tuple(SKY_GRADIENTS),
        "clouds": ("no", "yes"),
        "ground": tuple(GROUND_GRADIENTS),
    }
    ATTRIBUTES = {name: len(classes) for name, classes in CLASS_NAMES.items()}

    def draw(self, canvas: Canvas, rng: np.random.Generator) -> dict[str, int]:
        labels = {name: int(rng.integers(n)) for name, n in self.ATTRIBUTES.items()}
        world = canvas.world
        horizon = rng.uniform(0.72, 0.8)
        _sky(world, rng, labels["sky"], labels["clouds"], horizon)
        top, bottom = GROUNDS[labels["ground"]]
        world.paint(rect(-0.1, horizon, 1.1, 1.1), vertical_gradient(top, bottom, horizon, 1.0), GROUND)

        style = STYLES[labels["style"]]
        window = LIT if self.CLASS_NAMES["sky"][labels["sky"]] == "dusk" else GLASS
        cx, half = rng.uniform(0.38, 0.62), rng.uniform(0.19, 0.3)
        wall_top = horizon - rng.uniform(0.22, 0.3)
        roof_top = wall_top - rng.uniform(0.09, 0.15)
        door_x = cx + (0.0 if labels["roof"] else rng.uniform(-0.5, 0.5) * half)
        world.paint(polygon([(door_x - 0.03, horizon), (door_x + 0.03, horizon), (door_x + 0.12, 1.0),
                             (door_x - 0.12, 1.0)]), PATHS[labels["ground"]], GROUND)
        _building(world, rng, style, window, cx, half, wall_top, roof_top, horizon, labels["roof"], door_x)
        for x, width, top_y in _tower_layout(rng, labels["n_towers"], cx, half, roof_top):
            _tower(world, style, window, x, width, top_y, horizon, rng.uniform(0.12, 0.2))
        for x, base, height in sorted(_tree_layout(rng, labels["n_trees"], horizon), key=lambda t: t[1]):
            _tree(world, rng, x, base, height, snowy=self.CLASS_NAMES["ground"][labels["ground"]] == "snow")
        return labels


def _sky(world: Frame, rng: np.random.Generator, kind: int, clouds: int, horizon: float) -> None:
    top, low = SKIES[kind] * rng.uniform(0.94, 1.05, size=(2, 3)).astype(np.float32)
    world.fill(vertical_gradient(top, low, 0.0, horizon), SKY)
    for _ in range(rng.integers(1, 4) if clouds else 0):
        x, y, size = rng.uniform(0.0, 1.0), rng.uniform(0.08, 0.4), rng.uniform(0.05, 0.09)
        puffs = [circle(x + dx * size, y - rng.uniform(0.2, 0.6) * size, rng.uniform(0.5, 0.9) * size)
                 for dx in np.linspace(-1.4, 1.4, 4)]
        cloud = union(puffs) | box(x, y, 1.9 * size, 0.45 * size, radius=0.4 * size)
        world.paint(cloud, CLOUDS[kind], SKY, opacity=0.92)


def _window(shape: str, x: float, y: float, hw: float, hh: float) -> Shape:
    """A window centred at (x, y) with half-width hw and half-height hh."""
    if shape == "round":
        return circle(x, y, hw * 1.25)
    if shape == "rect":
        return box(x, y, hw, hh)
    body = rect(x - hw, y - hh + hw, x + hw, y + hh)
    if shape == "arched":
        return body | circle(x, y - hh + hw, hw)
    return body | polygon([(x - hw, y - hh + hw), (x + hw, y - hh + hw), (x, y - hh - 0.6 * hw)])


def _building(world: Frame, rng: np.random.Generator, style: _Style, window: np.ndarray, cx: float,
              half: float, wall_top: float, roof_top: float, horizon: float, front_gable: int,
              door_x: float) -> None:
    wall = vertical_gradient(style.wall * 1.04, style.wall * 0.86, wall_top, horizon)
    if front_gable:  # the gable end faces us: a triangular pediment of wall under a pitched roof
        world.paint(polygon([(cx - half, wall_top), (cx + half, wall_top), (cx, roof_top)]), wall, BUILDING)
        eaves = (segment(cx - half - 0.025, wall_top + 0.012, cx, roof_top, 0.03)
                 | segment(cx, roof_top, cx + half + 0.025, wall_top + 0.012, 0.03))
        world.paint(eaves, style.roof, ROOF)
        world.paint(circle(cx, (wall_top * 2 + roof_top) / 3, 0.022), window, WINDOW_DOOR)
    else:  # the long side faces us: a trapezoid roof
        inset = rng.uniform(0.03, 0.08)
        world.paint(polygon([(cx - half - 0.02, wall_top), (cx + half + 0.02, wall_top),
                             (cx + half - inset, roof_top), (cx - half + inset, roof_top)]),
                    vertical_gradient(style.roof * 1.1, style.roof * 0.85, roof_top, wall_top), ROOF)
    world.paint(rect(cx - half, wall_top, cx + half, horizon + 0.01), wall, BUILDING)
    n_windows = int(rng.integers(2, 5))
    hw, hh = 0.022, rng.uniform(0.04, 0.055)
    wy = wall_top + 0.45 * (horizon - wall_top) - 0.02
    for x in np.linspace(cx - half, cx + half, n_windows + 2)[1:-1]:
        if abs(x - door_x) > 0.06:
            world.paint(_window(style.window, float(x), wy, hw, hh), window, WINDOW_DOOR)
    world.paint(_window("arched", door_x, horizon - 0.045, 0.032, 0.05), DOOR, WINDOW_DOOR)


def _tower_layout(rng: np.random.Generator, n: int, cx: float, half: float, roof_top: float):
    """(centre x, half-width, top y) of each tower; tops rise above the roof."""
    if n == 1:
        slots = [cx + rng.choice((-1.0, 0.0, 1.0)) * half + rng.uniform(-0.04, 0.04)]
    elif n == 2:
        slots = [cx - half + rng.uniform(-0.02, 0.05), cx + half - rng.uniform(-0.02, 0.05)]
    else:
        slots = []
    return [(x, rng.uniform(0.045, 0.07), roof_top - rng.uniform(0.03, 0.12)) for x in slots]


def _tower(world: Frame, style: _Style, window: np.ndarray, x: float, hw: float, top: float,
           horizon: float, spire: float) -> None:
    world.paint(rect(x - hw, top, x + hw, horizon + 0.01),
                vertical_gradient(style.wall * 0.98, style.wall * 0.8, top, horizon), TOWER)
    tip = max(top - spire, 0.07)  # keeps the cross inside the frame
    world.paint(polygon([(x - hw - 0.012, top + 0.004), (x + hw + 0.012, top + 0.004), (x, tip)]),
                vertical_gradient(style.roof * 1.15, style.roof * 0.9, tip, top), TOWER)
    world.paint(segment(x, tip, x, tip - 0.025, 0.004) | segment(x - 0.01, tip - 0.017, x + 0.01, tip - 0.017, 0.004),
                style.roof * 0.7, TOWER)
    world.paint(_window(style.window, x, top + 0.055, 0.45 * hw, 0.03), window, WINDOW_DOOR)


def _tree_layout(rng: np.random.Generator, n: int, horizon: float):
    """(x, base y, height) of each tree; nearer trees (lower base) are taller."""
    trees = []
    for _ in range(n):
        base = horizon + rng.uniform(0.0, 0.12)
        trees.append((rng.uniform(0.04, 0.96), base, rng.uniform(0.1, 0.2) + base - horizon))
    return trees


def _tree(world: Frame, rng: np.random.Generator, x: float, base: float, height: float, snowy: bool) -> None:
    leaves = LEAVES[rng.integers(len(LEAVES))] * rng.uniform(0.9, 1.1)
    if snowy or rng.integers(2):  # conifer: stacked triangles
        world.paint(rect(x - 0.008, base - 0.2 * height, x + 0.008, base), TRUNK, TREE)
        w = 0.3 * height
        crown = union([polygon([(x - w * s, base - (0.2 + 0.25 * k) * height),
                                (x + w * s, base - (0.2 + 0.25 * k) * height),
                                (x, base - (0.65 + 0.17 * k) * height)])
                       for k, s in enumerate((1.0, 0.8, 0.6))])
        world.paint(crown, vertical_gradient(leaves * 1.1, leaves * 0.8, base - height, base), TREE)
    else:  # broadleaf: trunk and a crown of blobs
        world.paint(segment(x, base, x, base - 0.55 * height, 0.011), TRUNK, TREE)
        r = 0.25 * height
        blobs = [circle(x + dx * r, base - height + r + dy * r, r * s)
                 for dx, dy, s in ((0.0, 0.0, 1.0), (-0.7, 0.7, 0.85), (0.7, 0.7, 0.85), (0.0, 1.0, 0.8))]
        world.paint(union(blobs), vertical_gradient(leaves * 1.15, leaves * 0.8, base - height, base - 0.4 * height),
                    TREE)
