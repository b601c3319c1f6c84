"""The block picker's logic, without any widget code: "I like this church, but give me a new tower".

A `PickerSession` holds one generator, one image's latent with an undo/redo history, the
noise inputs (fixed for the session, so only the latents change the image — an opened projection
brings its own), the selected cells and the resampling strength. A history step's latent is a z
grid (N, z_dim, gh, gw) for the generator's own images, or a projected image's per-layer w grids
(N, num_ws, w_dim, gh, gw) (`open_projection`), resampled with `projection.resample_projected`.
`ssnlib.ui.widgets.BlockPicker` is a thin ipywidgets view over it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..blocks import BlockGrid, resample
from ..io.serialization import atomic_write, save_tensors
from ..projection import ProjectedLatent, resample_projected
from ..viz import to_uint8

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """What the last step changed: per-pixel squared change and where its energy went."""

    heatmap: np.ndarray  # (H, W) mean over RGB of the squared change
    inside: float  # mean squared change inside the selected cells
    outside: float  # mean squared change outside them
    locality: float  # fraction of the change energy inside the selection (nan if nothing changed)


class PickerSession:
    """Latent history + selection for one SSN image. Every mutation is a method; `image()` renders."""

    def __init__(self, G, seed: int = 0, truncation_psi: float = 1.0, device: str | torch.device = "cpu"):
        if not hasattr(G, "grid"):
            raise ValueError(f"{type(G).__name__} has no latent grid: the block picker needs an SSN generator")
        self.G = G.to(device).eval()
        self.device = torch.device(device)
        self.grid = BlockGrid.for_generator(G)
        self.truncation_psi = truncation_psi
        self.strength = 1.0
        self.selection: set[tuple[int, int]] = set()
        self._rng = torch.Generator().manual_seed(seed)  # resamples and candidates
        self.seed = seed
        self._noises: list[list[torch.Tensor]] = [G.make_noise(1, self._rng, device=self.device)]
        # the first image is the one `new_image(seed)` draws: a seed names one image
        self.history: list[torch.Tensor] = [G.sample_z(1, torch.Generator().manual_seed(seed), device=self.device)]
        self.noise_of: list[int] = [0]  # which of `_noises` each step renders with
        self.made_by: list[frozenset | None] = [None]  # the cells resampled to reach each step (None: new image)
        self.position = 0
        self._candidates_at: int | None = None  # the history position the shown candidates were drawn for
        self._candidate_cells: frozenset = frozenset()  # and the cells they resample
        self._cache: dict[str, torch.Tensor] = {}

    # -- latents and history ------------------------------------------------------------------
    @property
    def z(self) -> torch.Tensor:
        """The current step's latent: a z grid, or a projected image's w grids."""
        return self.history[self.position]

    @property
    def noise(self) -> list[torch.Tensor]:
        """The noise inputs the current step renders with."""
        return self._noises[self.noise_of[self.position]]

    @property
    def projected(self) -> bool:
        """Whether the current image is a projection (its latent is w grids, not z)."""
        return self.z.ndim == 5

    def _push(self, z: torch.Tensor, cells: frozenset | None, noise: int | None = None) -> None:
        noise = self.noise_of[self.position] if noise is None else noise
        del self.history[self.position + 1:]
        del self.made_by[self.position + 1:]
        del self.noise_of[self.position + 1:]
        self.history.append(z)
        self.made_by.append(cells)
        self.noise_of.append(noise)
        self.position += 1

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.history) - 1

    def undo(self) -> None:
        if self.can_undo:
            self.position -= 1

    def redo(self) -> None:
        if self.can_redo:
            self.position += 1

    def new_image(self, seed: int | None = None) -> bool:
        """A fresh latent (from `seed` if given, else the session's stream); the noise is kept.
        False, and nothing recorded, when `seed` gives the image already shown."""
        rng = torch.Generator().manual_seed(seed) if seed is not None else self._rng
        z = self.G.sample_z(1, rng, device=self.device)
        if not self.projected and torch.equal(z, self.z):
            return False
        self._push(z, None, noise=0)  # the session's own noise inputs, not a projection's
        return True

    def open_projection(self, latent: ProjectedLatent) -> None:
        """Show a projected image (`ssnlib.projection.project`) as a new step, with its noise inputs;
        its cells are then resampled in w (`resample_projected`)."""
        latent.check_for(self.G)
        if len(latent.ws) != 1:
            raise ValueError(f"the picker shows one image; this latent holds {len(latent.ws)}")
        self._noises.append([n.to(self.device) for n in latent.noise])
        self._push(latent.ws.to(self.device), None, noise=len(self._noises) - 1)

    # -- selection ----------------------------------------------------------------------------
    def toggle(self, cell: tuple[int, int]) -> None:
        cell = (int(cell[0]), int(cell[1]))
        self.grid.check_cell(cell)
        self.selection ^= {cell}

    def clear_selection(self) -> None:
        self.selection = set()

    def select_mask(self, pixel_mask: torch.Tensor | np.ndarray, add: bool = False, min_share: float = 0.0) -> None:
        """Select the cells an image-resolution boolean mask (e.g. a part's pixels) covers: every
        cell it touches, or with `min_share` > 0 those of whose pixels at least that share it covers."""
        mask = torch.as_tensor(np.asarray(pixel_mask), dtype=torch.bool)
        if min_share > 0:
            if tuple(mask.shape) != self.grid.image_size:
                raise ValueError(f"pixel mask of shape {tuple(mask.shape)} does not match the image size "
                                 f"{self.grid.image_size}")
            (gh, gw), (ch, cw) = self.grid.grid, self.grid.cell_size
            cells = mask.reshape(gh, ch, gw, cw).float().mean((1, 3)) >= min_share
        else:
            cells = self.grid.cells_of(mask)
        chosen = {(int(r), int(c)) for r, c in cells.nonzero().tolist()}
        self.selection = (self.selection | chosen) if add else chosen

    def set_strength(self, strength: float) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")
        self.strength = float(strength)

    def _require_selection(self) -> list[tuple[int, int]]:
        if not self.selection:
            raise ValueError("no cells selected: click the cells to resample first")
        return sorted(self.selection)

    # -- resampling ---------------------------------------------------------------------------
    def _redraw(self, cells: list[tuple[int, int]]) -> torch.Tensor:
        """The current latent with `cells` redrawn at `strength`: z by a variance-preserving mix
        (`ssnlib.resample`), a projection's w towards a prior draw (`resample_projected`)."""
        if self.projected:
            return resample_projected(self.G, ProjectedLatent(self.z, self.noise), cells, self.strength, self._rng).ws
        return resample(self.z, cells, self._rng, self.strength)

    def resample(self) -> None:
        """Redraw the selected cells."""
        cells = self._require_selection()
        self._push(self._redraw(cells), frozenset(cells))

    def candidates(self, k: int) -> list[torch.Tensor]:
        """k alternative latents for the selection (not applied: `choose` one)."""
        cells = self._require_selection()
        self._candidates_at, self._candidate_cells = self.position, frozenset(cells)
        return [self._redraw(cells) for _ in range(k)]

    @property
    def candidates_current(self) -> bool:
        """Whether the last `candidates` were drawn for the image shown now."""
        return self._candidates_at == self.position

    def choose(self, z: torch.Tensor) -> None:
        """Apply one of the last `candidates` (drawn for the current image, not an earlier one)."""
        if z.shape != self.z.shape:
            raise ValueError(f"candidate latent has shape {tuple(z.shape)}, expected {tuple(self.z.shape)}")
        if not self.candidates_current:
            raise ValueError("these candidates were drawn for another image: show candidates again")
        self._push(z, self._candidate_cells)
        self._candidates_at = None

    # -- rendering ----------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, z: torch.Tensor | None = None, noise: int | None = None) -> torch.Tensor:
        """(1, 3, H, W) in [-1, 1] for a latent (default: the current one) with the noise inputs
        `noise` (an index; default the current step's), cached per latent and noise."""
        z = self.z if z is None else z
        noise = self.noise_of[self.position] if noise is None else noise
        key = f"{noise}:" + hashlib.blake2b(z.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest()
        if key not in self._cache:
            inputs = self._noises[noise]
            self._cache[key] = (self.G.synthesize(z, noise=inputs) if z.ndim == 5 else
                                self.G(z, truncation_psi=self.truncation_psi, noise=inputs)).cpu()
            if len(self._cache) > 64:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    def image(self, z: torch.Tensor | None = None) -> np.ndarray:
        """(H, W, 3) uint8 of the current (or given) latent."""
        return to_uint8(self.render(z))[0]

    def last_change(self) -> Change | None:
        """How the current image differs from the previous one in the history, inside and outside
        the cells that were resampled to make it (not today's selection). None at the start and
        after a new image (nothing was resampled)."""
        cells = self.made_by[self.position]
        if not self.can_undo or cells is None:
            return None
        previous = self.render(self.history[self.position - 1], self.noise_of[self.position - 1])
        change = (self.render() - previous).square().mean(1)[0]
        mask = self.grid.pixel_mask(sorted(cells))
        total = change.sum().item()
        inside = change[mask].mean().item() if mask.any() else float("nan")
        outside = change[~mask].mean().item() if (~mask).any() else float("nan")
        locality = change[mask].sum().item() / total if total > 0 else float("nan")
        return Change(change.numpy(), inside, outside, locality)

    def save(self, stem: str | Path, size: int | None = None) -> list[Path]:
        """stem.png (the image, 1:1), stem.npy (the latent grid), stem.safetensors (latent, noise, ψ
        and the generator config: everything needed to regenerate the exact image) and, with `size`
        larger than the image, stem-<size>px.png (nearest-upscaled, as the picker shows it)."""
        stem = Path(stem)
        from PIL import Image

        stem.parent.mkdir(parents=True, exist_ok=True)
        png, npy, tensors = stem.with_suffix(".png"), stem.with_suffix(".npy"), stem.with_suffix(".safetensors")
        picture = Image.fromarray(self.image())
        atomic_write(png, lambda tmp: picture.save(tmp, format="PNG"))
        shown = []
        if size is not None and size > picture.width:
            large = picture.resize((size, size * picture.height // picture.width), Image.NEAREST)
            shown = [stem.with_name(f"{stem.name}-{size}px.png")]
            atomic_write(shown[0], lambda tmp: large.save(tmp, format="PNG"))
        atomic_write(npy, lambda tmp: np.save(open(tmp, "wb"), self.z.cpu().numpy()))
        save_tensors(tensors, {"z": self.z, **{f"noise.{i}": n for i, n in enumerate(self.noise)}},
                     {"latent": "ws" if self.projected else "z", "truncation_psi": self.truncation_psi,
                      "generator_class": type(self.G).__name__,
                      "generator_config": self.G.config, "selection": sorted(self.selection)})
        logger.info("saved %s", ", ".join(map(str, [png, npy, tensors, *shown])))
        return [png, npy, tensors, *shown]

    def describe(self) -> str:
        cells = ", ".join(f"({r},{c})" for r, c in sorted(self.selection)) or "none"
        return (f"step {self.position + 1}/{len(self.history)} · selected: {cells} · strength {self.strength:.2f}")


def load_saved(path: str | Path, G) -> torch.Tensor:
    """Regenerate an image saved by `PickerSession.save` with generator G."""
    from ..io.serialization import load_tensors

    tensors, meta = load_tensors(path)
    if meta.get("generator_config") != G.config:
        raise ValueError(f"{path} was made with generator config {json.dumps(meta.get('generator_config'))}, "
                         f"not {json.dumps(G.config)}")
    noise = [tensors[f"noise.{i}"] for i in range(len(G.synthesis.noise_resolutions()))]
    with torch.no_grad():
        if meta.get("latent") == "ws":  # a projected image: its w grids
            return G.synthesize(tensors["z"], noise=noise)
        return G(tensors["z"], truncation_psi=meta["truncation_psi"], noise=noise)
