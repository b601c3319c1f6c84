"""`BlockPicker`: click cells of the latent grid over a generated image, resample them.

A thin ipywidgets view over `ssnlib.ui.picker.PickerSession` (all logic lives there). Pure
ipywidgets — no custom front-end extension — so it runs in JupyterLab and in Voilà:
the image sits in a CSS grid and one transparent toggle button per cell lies on top of it.
"""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from pathlib import Path

import ipywidgets as W
import numpy as np
import torch
from PIL import Image

from .picker import PickerSession

logger = logging.getLogger(__name__)

SELECTED = "rgba(255, 40, 40, 0.08)"  # a faint tint: the outline marks the cell, the pixels stay visible
UNSELECTED = "rgba(0, 0, 0, 0)"
SELECTED_BORDER = "3px solid rgb(255, 40, 40)"
UNSELECTED_BORDER = "1px solid rgba(255, 255, 255, 0.35)"


OUTLINE_RGB = (255, 40, 40)
DEFAULT_SAVE = Path.home() / "ssnlib-picker" / "image"  # outside the repository's notebooks/


def png_bytes(pixels: np.ndarray, size: int | None = None, grid: tuple[int, int] | None = None,
              outline: frozenset | set | None = None) -> bytes:
    """PNG of an (H, W, 3) uint8 image, nearest-upscaled to `size` px, with optional grid lines and
    the cells of `outline` ((row, col) of `grid`) outlined in red."""
    image = Image.fromarray(pixels)
    if size is not None and size != image.width:
        image = image.resize((size, size * image.height // image.width), Image.NEAREST)
    if grid is not None:
        arr = np.asarray(image).copy()
        h, w = arr.shape[:2]
        for r in range(1, grid[0]):
            arr[r * h // grid[0], :] = (255, 255, 255)
        for c in range(1, grid[1]):
            arr[:, c * w // grid[1]] = (255, 255, 255)
        for r, c in outline or ():
            top, bottom = r * h // grid[0], (r + 1) * h // grid[0] - 1
            left, right = c * w // grid[1], (c + 1) * w // grid[1] - 1
            arr[[top, bottom], left:right + 1] = OUTLINE_RGB
            arr[top:bottom + 1, [left, right]] = OUTLINE_RGB
        image = Image.fromarray(arr)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def heatmap_pixels(values: np.ndarray) -> np.ndarray:
    """(H, W) non-negative values → (H, W, 3) uint8 with matplotlib's 'inferno' map (0 → black)."""
    from matplotlib import colormaps

    top = float(values.max())
    scaled = values / top if top > 0 else values
    return (colormaps["inferno"](scaled)[..., :3] * 255).astype(np.uint8)


CURRENT_MODEL = "the generator given (this notebook's)"
PART_DOMAINS = {"faces": "face", "churches": "church"}  # dataset → the prefix of its part names
PART_MIN_SHARE = 0.25  # "Select part" takes the cells at least this much covered by the part


class BlockPicker(W.VBox):
    """The picker widget. `BlockPicker(G)` for a generator in memory, or
    `BlockPicker(models={name: file})` to choose among generator files (the reproduction's
    `ssnlib.paper.runs.available_models()`). `segmenter` (e.g. the
    procedural part network, `ssnlib.metrics.procnet.load_procnet()`) enables "select by part":
    it needs `part_names` and `segment(images) -> (N, H, W)` part ids."""

    def __init__(self, G=None, models: dict[str, Path] | None = None, seed: int = 0, truncation_psi: float = 1.0,
                 display_size: int = 384, segmenter=None, projection_steps: int = 200, dataset: str | None = None):
        if G is None and not models:
            raise ValueError("BlockPicker needs a generator G or a non-empty dict of model files")
        self.models = dict(models or {})
        self.display_size = display_size
        self.segmenter = segmenter
        self.dataset = dataset  # "faces" / "churches": which of the segmenter's parts to offer
        self.projection_steps = projection_steps
        self.session: PickerSession | None = None
        self._candidates: list = []

        self.given = G  # the generator passed in, listed first as CURRENT_MODEL when models are offered too
        options = ([CURRENT_MODEL] if G is not None else []) + list(self.models)
        self.model_choice = W.Dropdown(options=options, description="model", layout=W.Layout(width="420px"))
        self.seed_box = W.IntText(value=seed, description="seed", layout=W.Layout(width="160px"))
        self.psi_slider = W.FloatSlider(value=truncation_psi, min=0.0, max=1.0, step=0.05, description="ψ")
        self.strength_slider = W.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="strength")
        self.resample_button = W.Button(description="Resample", button_style="primary")
        self.new_button = W.Button(description="New image")
        self.undo_button = W.Button(description="Undo")
        self.redo_button = W.Button(description="Redo")
        self.clear_button = W.Button(description="Clear selection")
        self.k_slider = W.IntSlider(value=4, min=2, max=8, description="candidates")
        self.candidates_button = W.Button(description="Show candidates")
        self.diff_toggle = W.ToggleButton(value=False, description="Difference view")
        self.save_path = W.Text(value=str(DEFAULT_SAVE), description="save as", layout=W.Layout(width="300px"))
        self.save_button = W.Button(description="Save")
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="Open image…")
        self.upload.add_class("ssn-open-image")
        self.progress = W.IntProgress(min=0, max=projection_steps, layout=W.Layout(display="none", width="300px"))
        self.part_choice = W.Dropdown(options=[], description="part", layout=W.Layout(width="260px"))
        self.part_button = W.Button(description="Select part")
        self.status = W.HTML()
        self.image = W.Image(format="png")
        self.image.add_class("ssn-picker-image")
        self.diff_image = W.Image(format="png", layout=W.Layout(display="none"))
        self.diff_label = W.HTML()
        self.candidate_box = W.HBox()
        self.cell_buttons: dict[tuple[int, int], W.Button] = {}
        self.canvas = W.GridBox()

        self.model_choice.observe(lambda _: self._load_model(), names="value")
        self.psi_slider.observe(lambda _: self._set_psi(), names="value")
        self.strength_slider.observe(lambda change: self.session.set_strength(change["new"]), names="value")
        self.resample_button.on_click(lambda _: self._act(self.session.resample))
        self.new_button.on_click(lambda _: self._new_image())
        self.undo_button.on_click(lambda _: self._act(self.session.undo))
        self.redo_button.on_click(lambda _: self._act(self.session.redo))
        self.clear_button.on_click(lambda _: self._act(self.session.clear_selection))
        self.candidates_button.on_click(lambda _: self._show_candidates())
        self.diff_toggle.observe(lambda _: self._refresh(), names="value")
        self.save_button.on_click(lambda _: self._save())
        self.part_button.on_click(lambda _: self._select_part())
        self.upload.observe(lambda _: self._open_image(), names="value")

        controls = W.VBox([
            W.HBox([self.resample_button, self.new_button, self.seed_box]),
            W.HBox([self.undo_button, self.redo_button, self.clear_button]),
            self.strength_slider, self.psi_slider,
            W.HBox([self.k_slider, self.candidates_button]),
            W.HBox([self.part_choice, self.part_button]),
            self.diff_toggle, W.HBox([self.save_path, self.save_button]),
            W.HBox([self.upload, self.progress]),
        ])
        top = [self.model_choice] if self.models else []
        # two columns that fit a 1440×900 screen: the image, its status and the candidates on the
        # left; the controls and the difference view on the right
        self.diff_label.layout = W.Layout(width="300px")
        left = W.VBox([self.canvas, self.status, self.candidate_box])
        right = W.VBox([controls, W.HBox([self.diff_image, self.diff_label])])
        super().__init__([*top, W.HBox([left, right])])
        if G is not None:
            self._start(G)
        else:
            self._load_model()

    # -- setup --------------------------------------------------------------------------------
    def _load_model(self) -> None:
        from ..io.serialization import load_generator

        if self.model_choice.value == CURRENT_MODEL:
            self._start(self.given)
            return
        from ..io.serialization import load_metadata

        path = self.models[self.model_choice.value]
        with self._busy(f"loading {path.name} …"):
            self.dataset = load_metadata(path).get("train_config", {}).get("dataset", self.dataset)
            self._start(load_generator(path))

    def _start(self, G) -> None:
        self.session = PickerSession(G, seed=self.seed_box.value, truncation_psi=self.psi_slider.value)
        self._shown_seed = self.seed_box.value
        gh, gw = self.session.grid.grid
        cell_w, cell_h = self.display_size // gw, self.display_size // gh
        self.cell_buttons = {}
        for r, c in self.session.grid.cells():
            button = W.Button(tooltip=f"cell ({r},{c})",
                              layout=W.Layout(grid_area=f"{r + 1} / {c + 1} / {r + 2} / {c + 2}",
                                              width="auto", height="auto", margin="0",
                                              border=UNSELECTED_BORDER))
            button.style.button_color = UNSELECTED
            button.add_class(f"ssn-cell-{r}-{c}")
            button.on_click(lambda _, cell=(r, c): self.toggle(cell))
            self.cell_buttons[(r, c)] = button
        self.image.layout = W.Layout(grid_area=f"1 / 1 / {gh + 1} / {gw + 1}", width="100%", height="100%")
        self.canvas.children = [self.image, *self.cell_buttons.values()]
        self.canvas.layout = W.Layout(grid_template_columns=f"repeat({gw}, {cell_w}px)",
                                      grid_template_rows=f"repeat({gh}, {cell_h}px)", width=f"{cell_w * gw}px")
        self.part_choice.options = self._part_names()
        self._refresh()

    def _part_names(self) -> list[str]:
        """The segmenter's parts of this model's dataset ("face/…" for faces), all if unknown."""
        if self.segmenter is None:
            return []
        domain = PART_DOMAINS.get(Path(self.dataset).name if self.dataset else "")
        return [name for name in self.segmenter.part_names if domain is None or name.startswith(domain + "/")]

    # -- actions ------------------------------------------------------------------------------
    @contextmanager
    def _busy(self, message: str):
        self.status.value = f"<i>{message}</i>"
        buttons = [self.resample_button, self.new_button, self.candidates_button, self.save_button]
        for b in buttons:
            b.disabled = True
        try:
            yield
        except ValueError as err:  # the session's own messages ("no cells selected", …)
            self.status.value = f"<b style='color:#b00'>{err}</b>"
            raise
        finally:
            for b in buttons:
                b.disabled = False

    def _act(self, action) -> None:
        try:
            with self._busy("working …"):
                action()
        except ValueError:
            return
        self._refresh()

    def _new_image(self) -> None:
        """The image of the seed in the box; when the box still holds the shown image's seed, the
        next seed (so New image always gives a new image)."""
        if self.seed_box.value == self._shown_seed:
            self.seed_box.value += 1
        self.session.new_image(self.seed_box.value)
        self._shown_seed = self.seed_box.value
        self._refresh()

    def toggle(self, cell: tuple[int, int]) -> None:
        """What a click on a cell does: flip its selection."""
        self.session.toggle(cell)
        self._sync_buttons()
        self.status.value = self.session.describe()

    def _set_psi(self) -> None:
        self.session.truncation_psi = self.psi_slider.value
        self.session._cache.clear()
        self._refresh()

    def _show_candidates(self) -> None:
        try:
            with self._busy(f"rendering {self.k_slider.value} candidates …"):
                self._candidates = self.session.candidates(self.k_slider.value)
                tiles = []
                for i, z in enumerate(self._candidates):
                    thumb = W.Image(value=png_bytes(self.session.image(z), self.display_size // 4), format="png")
                    use = W.Button(description=f"Use #{i + 1}", layout=W.Layout(width="auto"))
                    use.on_click(lambda _, z=z: self._use_candidate(z))
                    tiles.append(W.VBox([thumb, use]))
                self.candidate_box.children = tiles
        except ValueError:
            return
        self.status.value = self.session.describe()

    def _use_candidate(self, z) -> None:
        self.session.choose(z)
        self.candidate_box.children = []
        self._refresh()

    def _select_part(self) -> None:
        if self.segmenter is None:
            self.status.value = "<b>no part segmenter for this model</b>"
            return
        if not self.part_choice.value:
            self.status.value = "<b>choose a part first</b>"
            return
        with torch.no_grad():
            parts = self.segmenter.segment(self.session.render())[0]
        mask = (parts == self.segmenter.part_names.index(self.part_choice.value)).cpu()
        if not mask.any():
            self.status.value = f"<b>no '{self.part_choice.value}' pixels in this image</b>"
            return
        self.session.select_mask(mask, min_share=PART_MIN_SHARE)
        self._sync_buttons()
        self.status.value = self.session.describe()

    def _open_image(self) -> None:
        """"Open image…": project the uploaded picture into this SSN and show it as a new step."""
        if not self.upload.value:
            return
        from ..data import DatasetError, load_image
        from ..projection import fit_target, project

        upload = self.upload.value[0]
        name = upload["name"]
        try:
            target, note = fit_target(load_image(bytes(upload["content"]), name=name), self.session.G.resolution)
        except DatasetError:
            self.status.value = f"<b style='color:#b00'>{name}: cannot read this image</b>"
            self.upload.value = ()
            return
        self.progress.value, self.progress.layout.display = 0, ""
        with self._busy(f"projecting {name} ({self.projection_steps} steps) …"):
            result = project(self.session.G, target, steps=self.projection_steps, progress=False,
                             on_step=lambda step: setattr(self.progress, "value", step + 1))
            self.session.open_projection(result.latent)
        self.progress.layout.display = "none"
        self.upload.value = ()
        self._refresh()
        self.status.value += (f" · projected {name}{' (' + note + ')' if note else ''}: "
                              f"PSNR {result.latent.meta['psnr'][0]:.1f} dB, {result.distance} distance")

    def _save(self) -> None:
        with self._busy("saving …"):
            paths = self.session.save(self.save_path.value, size=self.display_size)
        self.status.value = "saved " + ", ".join(str(p.resolve()) for p in paths)

    # -- view ---------------------------------------------------------------------------------
    def _sync_buttons(self) -> None:
        for cell, button in self.cell_buttons.items():
            selected = cell in self.session.selection
            button.style.button_color = SELECTED if selected else UNSELECTED
            button.layout.border = SELECTED_BORDER if selected else UNSELECTED_BORDER

    def _refresh(self) -> None:
        s = self.session
        self.image.value = png_bytes(s.image(), self.display_size, s.grid.grid)
        self.undo_button.disabled, self.redo_button.disabled = not s.can_undo, not s.can_redo
        self._sync_buttons()
        if not s.candidates_current:  # candidates belong to the image they were drawn for
            self.candidate_box.children = []
        change = s.last_change() if self.diff_toggle.value else None
        if change is None:
            self.diff_image.layout.display = "none"
            self.diff_label.value = ("" if not self.diff_toggle.value else
                                     "no resample to compare: this image was not made by resampling cells")
        else:
            self.diff_image.layout.display = ""
            self.diff_image.value = png_bytes(heatmap_pixels(change.heatmap), self.display_size // 2, s.grid.grid,
                                              s.made_by[s.position])
            self.diff_label.value = (f"mean squared change — inside selection: {change.inside:.4f}, "
                                     f"outside: {change.outside:.4f}, locality: {change.locality:.2f}")
        self.status.value = s.describe()
