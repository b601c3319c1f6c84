"""Procedural faces: a stand-in for aligned FFHQ crops, with attribute labels and part maps.

Global consistency by construction: both eyes share one iris colour, glasses always span both
eyes, eyebrows take the hair colour. Hair sits in the top part of the image. Eyebrows, ears,
nose and neck are "skin"; clothing is "background".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .procedural import ProceduralDataset
from .raster import Canvas, Frame, Shape, box, circle, ellipse, palette, rect, segment, union

BACKGROUND_GRADIENTS = {  # name: (top, bottom)
    "sky_blue": ((190, 215, 235), (110, 150, 195)),
    "beige": ((235, 225, 205), (185, 160, 125)),
    "teal": ((200, 230, 215), (90, 150, 140)),
    "lavender": ((215, 200, 235), (130, 100, 160)),
    "grey": ((215, 215, 215), (120, 120, 125)),
    "coral": ((250, 210, 190), (205, 120, 110)),
}
SKIN_TONES = {"very_light": (250, 222, 200), "light": (236, 192, 158), "medium": (205, 150, 110),
              "tan": (158, 106, 74), "dark": (100, 68, 48)}
HAIR_COLORS = {"black": (28, 24, 24), "dark_brown": (72, 46, 30), "brown": (125, 82, 45),
               "blonde": (222, 188, 115), "red": (170, 68, 30), "grey": (185, 185, 185)}
EYE_COLORS = {"brown": (105, 60, 28), "blue": (50, 115, 205), "green": (50, 145, 65), "grey": (130, 140, 150),
              "amber": (200, 140, 30)}
HAIR_STYLES = ("short", "long", "bun", "bald", "curly", "fringe")
EXPRESSIONS = ("neutral", "smile", "open", "frown")

BACKGROUNDS = [palette(*pair) for pair in BACKGROUND_GRADIENTS.values()]
SKIN = palette(*SKIN_TONES.values())
HAIR = palette(*HAIR_COLORS.values())
IRIS = palette(*EYE_COLORS.values())
FRAMES = palette((25, 25, 30), (115, 62, 30), (205, 165, 60), (175, 30, 40), (40, 70, 155))
SHIRTS = palette((45, 55, 90), (160, 40, 45), (230, 230, 230), (60, 110, 70), (90, 90, 95), (200, 150, 60))
LIP = palette((185, 70, 80))[0]
MOUTH_INSIDE = palette((85, 22, 30))[0]
TEETH = palette((245, 242, 235))[0]
EYE_WHITE = palette((248, 248, 245))[0]
LASH = palette((45, 32, 32))[0]
PUPIL = palette((15, 12, 12))[0]
LENS = palette((215, 235, 250))[0]
BLUSH = palette((220, 90, 90))[0]
_BACKGROUND, _SKIN, _HAIR, _EYES, _GLASSES, _MOUTH = range(6)  # indices into ProceduralFaces.PARTS


@dataclass(frozen=True)
class _Geometry:
    """Continuous face parameters, in the face frame (head centre at 0, head half-height 1)."""

    jaw: float
    eye_x: float
    eye_y: float
    gaze: float
    mouth_y: float
    mouth_w: float
    light: float


class ProceduralFaces(ProceduralDataset):
    """Anti-aliased cartoon faces with varied hair, skin, eyes, expression, glasses, backdrop."""

    PARTS = ("background", "skin", "hair", "eyes", "glasses", "mouth")
    CLASS_NAMES = {
        "hair_style": HAIR_STYLES,
        "hair_color": tuple(HAIR_COLORS),
        "skin_tone": tuple(SKIN_TONES),
        "eye_color": tuple(EYE_COLORS),
        "expression": EXPRESSIONS,
        "glasses": ("no", "yes"),
        "background": tuple(BACKGROUND_GRADIENTS),
    }
    ATTRIBUTES = {name: len(classes) for name, classes in CLASS_NAMES.items()}

    def draw(self, canvas: Canvas, rng: np.random.Generator) -> dict[str, int]:
        labels = {name: int(rng.integers(n)) for name, n in self.ATTRIBUTES.items()}
        geo = _Geometry(
            jaw=rng.uniform(0.5, 0.64),
            eye_x=rng.uniform(0.28, 0.33),
            eye_y=rng.uniform(-0.1, -0.02),
            gaze=rng.uniform(-0.035, 0.035),
            mouth_y=rng.uniform(0.5, 0.58),
            mouth_w=rng.uniform(0.15, 0.21),
            light=rng.choice((-1.0, 1.0)),
        )
        skin = SKIN[labels["skin_tone"]] * rng.uniform(0.95, 1.04)
        hair = HAIR[labels["hair_color"]] * rng.uniform(0.9, 1.08)
        style, expression = HAIR_STYLES[labels["hair_style"]], EXPRESSIONS[labels["expression"]]

        _background(canvas.world, rng, BACKGROUNDS[labels["background"]])
        face = canvas.frame(
            cx=0.5 + rng.uniform(-0.03, 0.03),
            cy=0.54 + rng.uniform(-0.025, 0.025),
            scale=0.36 * rng.uniform(0.93, 1.07),
            angle=math.radians(rng.uniform(-7.0, 7.0)),
        )
        face.paint(ellipse(0.0, 1.85, 1.55, 0.62), SHIRTS[rng.integers(len(SHIRTS))], _BACKGROUND)
        if style == "long":
            face.paint(rect(-0.9, -0.8, 0.9, 1.02, radius=0.4), _hair_colour(hair, geo.light), _HAIR)
        face.paint(rect(-0.3, 0.4, 0.3, 1.5), _skin_colour(skin * 0.86, geo.light), _SKIN)
        face.paint(ellipse(-0.73, 0.02, 0.11, 0.19) | ellipse(0.73, 0.02, 0.11, 0.19), skin * 0.93, _SKIN)
        head = ellipse(0.0, -0.08, 0.74, 0.92).blend(ellipse(0.0, 0.3, geo.jaw, 0.65), 0.25)
        face.paint(head, _skin_colour(skin, geo.light), _SKIN)
        face.paint(ellipse(-0.4, 0.3, 0.14, 0.09) | ellipse(0.4, 0.3, 0.14, 0.09), BLUSH, blur=0.08, opacity=0.18)
        _eyes(face, geo, IRIS[labels["eye_color"]], expression)
        _brows(face, geo, hair * 0.8, expression)
        _nose(face, skin)
        _mouth(face, geo, skin, expression)
        _hair(face, rng, style, hair, geo.light)
        if labels["glasses"]:
            _glasses(face, rng, geo)
        return labels


def _background(world: Frame, rng: np.random.Generator, colours: np.ndarray) -> None:
    top, bottom = colours * rng.uniform(0.94, 1.05, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(-0.6, 0.6)
    dx, dy = math.sin(angle), math.cos(angle)

    def gradient(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = np.clip((x - 0.5) * dx + (y - 0.5) * dy + 0.5, 0.0, 1.0)[..., None]
        return top + t * (bottom - top)

    world.fill(gradient, _BACKGROUND)
    for _ in range(rng.integers(0, 3)):
        spot = circle(rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.7), rng.uniform(0.08, 0.18))
        world.paint(spot, np.minimum(top * 1.15, 1.0), blur=0.08, opacity=0.45)


def _skin_colour(skin: np.ndarray, light: float):
    def colour(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        shade = 1.04 - 0.07 * light * x - 0.05 * np.clip(y, 0.0, None)
        return skin * shade[..., None]

    return colour


def _hair_colour(hair: np.ndarray, light: float):
    def colour(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        strands = 0.07 * np.sin(26.0 * x + 6.0 * np.sin(3.0 * y))
        shade = (1.0 + strands - 0.12 * np.clip(y + 0.4, 0.0, None) - 0.05 * light * x)[..., None]
        sheen = 0.1 * np.exp(-((x + 0.3 * light) ** 2 + (y + 0.75) ** 2) / 0.06)[..., None]
        return hair * shade + sheen

    return colour


def _eyes(face: Frame, geo: _Geometry, iris: np.ndarray, expression: str) -> None:
    ry = {"smile": 0.068, "open": 0.1}.get(expression, 0.085)
    for side in (-1.0, 1.0):
        x, y = side * geo.eye_x, geo.eye_y
        white = ellipse(x, y, 0.16, ry)
        face.paint(white.grow(0.018) & rect(x - 0.2, y - 0.2, x + 0.2, y + 0.01), LASH, _EYES)
        face.paint(white, EYE_WHITE, _EYES)
        face.paint(circle(x + geo.gaze, y, 0.085) & white, iris, _EYES)
        face.paint(circle(x + geo.gaze, y, 0.03) & white, PUPIL, _EYES)
        face.paint(circle(x + geo.gaze + 0.025, y - 0.025, 0.014), EYE_WHITE, _EYES)


def _brows(face: Frame, geo: _Geometry, colour: np.ndarray, expression: str) -> None:
    y = geo.eye_y - {"open": 0.27}.get(expression, 0.2)
    inner = {"frown": 0.06, "smile": -0.015}.get(expression, 0.0)
    for side in (-1.0, 1.0):
        face.paint(segment(side * 0.14, y + inner, side * 0.44, y + 0.015, 0.032), colour, _SKIN)


def _nose(face: Frame, skin: np.ndarray) -> None:
    face.paint(segment(0.0, 0.0, 0.04, 0.27, 0.02), skin * 0.8, blur=0.03, opacity=0.5)
    face.paint(ellipse(0.0, 0.31, 0.09, 0.035), skin * 0.7, blur=0.02, opacity=0.8)


def _mouth(face: Frame, geo: _Geometry, skin: np.ndarray, expression: str) -> None:
    y, w = geo.mouth_y, geo.mouth_w
    lip = 0.45 * skin + 0.55 * LIP
    if expression == "neutral":
        face.paint(ellipse(0.0, y, w, 0.042), lip, _MOUTH)
        face.paint(segment(-0.9 * w, y, 0.9 * w, y, 0.01), lip * 0.6, _MOUTH)
    elif expression == "smile":
        r = 1.15 * w
        grin = circle(0.0, y - 0.02 - 0.57 * w, r) & rect(-1.0, y - 0.02, 1.0, y + r)
        face.paint(grin.grow(0.02), lip, _MOUTH)
        face.paint(grin, MOUTH_INSIDE, _MOUTH)
        face.paint(grin & rect(-1.0, y - 0.03, 1.0, y + 0.025), TEETH, _MOUTH)
    elif expression == "open":
        mouth = ellipse(0.0, y + 0.02, 0.095, 0.11)
        face.paint(mouth.grow(0.025), lip, _MOUTH)
        face.paint(mouth, MOUTH_INSIDE, _MOUTH)
    else:  # frown
        arc = circle(0.0, y + 0.25, 0.3).outline(0.032) & rect(-w, y - 0.12, w, y + 0.02)
        face.paint(arc, lip, _MOUTH)


def _hair(face: Frame, rng: np.random.Generator, style: str, hair: np.ndarray, light: float) -> None:
    colour = _hair_colour(hair, light)
    opening = ellipse(0.0, 0.22, 0.69, 0.86)  # the face left free below the hairline
    if style == "bald":
        return
    if style == "short":
        shape = (ellipse(0.0, -0.2, 0.83, 0.9) - opening) & rect(-1.0, -1.2, 1.0, 0.0)
    elif style == "long":
        strands = rect(-0.82, -0.3, -0.56, 0.95, radius=0.12) | rect(0.56, -0.3, 0.82, 0.95, radius=0.12)
        shape = ((ellipse(0.0, -0.2, 0.84, 0.92) - ellipse(0.1, 0.2, 0.7, 0.84)) & rect(-1.0, -1.2, 1.0, 0.0))
        shape = shape | strands
    elif style == "bun":
        face.paint(circle(0.0, -1.02, 0.3), colour, _HAIR)
        shape = (ellipse(0.0, -0.2, 0.79, 0.86) - opening) & rect(-1.0, -1.2, 1.0, -0.1)
    elif style == "curly":
        curls = []
        for a in np.linspace(math.pi * 0.97, math.pi * 2.03, 11):
            r = rng.uniform(0.19, 0.25)
            curls.append(circle(0.82 * math.cos(a), -0.15 + 0.93 * math.sin(a), r))
        shape = (union(curls) | ellipse(0.0, -0.2, 0.85, 0.92)) - opening
        shape = shape & rect(-1.2, -1.4, 1.2, 0.2)
    else:  # fringe: a bob with straight-cut bangs
        bangs_free = box(0.0, 0.4, 0.62, 0.8, radius=0.18)
        shape = (ellipse(0.0, -0.15, 0.86, 0.95) - bangs_free) & rect(-1.0, -1.2, 1.0, 0.35)
    face.paint(shape, colour, _HAIR)


def _glasses(face: Frame, rng: np.random.Generator, geo: _Geometry) -> None:
    colour = FRAMES[rng.integers(len(FRAMES))]
    round_frames = bool(rng.integers(2))
    half = 0.19 if round_frames else 0.2
    y = geo.eye_y + 0.01

    def lens(x: float) -> Shape:
        return circle(x, y, 0.19) if round_frames else box(x, y, 0.2, 0.14, radius=0.05)

    lenses = lens(-geo.eye_x) | lens(geo.eye_x)
    face.paint(lenses, LENS, opacity=0.18)
    inner, outer = geo.eye_x - half, geo.eye_x + half
    t = max(0.022, 0.5 * face.pixel)  # strokes at least one pixel wide
    frame = (
        lenses.outline(t)
        | segment(-inner, y - 0.02, inner, y - 0.02, t)
        | segment(-outer, y - 0.03, -0.75, y - 0.06, t)
        | segment(outer, y - 0.03, 0.75, y - 0.06, t)
    )
    face.paint(frame, colour, _GLASSES)
