"""Generators (StyleGAN2 baseline and Spatially Stochastic Network) and the discriminator.

Both generators share one synthesis network (skip architecture, constant 4×4 input, noise
inputs); they differ in how styles reach a layer:

- ``conditioning="global"`` — StyleGAN2: one w vector per sample, modulated convolution (eq. 9).
- ``conditioning="smc"`` — SSN (§3.1–3.2): a w *grid* (N, w_dim, gh, gw), mapped per cell by 1×1
  convolutions; each layer's affine A_ℓ maps it to a style grid that is resized to the layer's
  resolution (each cell owns its pixel square) and drives a spatially modulated convolution (eq. 1).
- ``conditioning="spade"`` — the same grid through SPADE layers (eq. 3), for Figure 4.

Parameter names follow NVlabs stylegan2-ada-pytorch (``mapping.fc{i}``, ``synthesis.b{R}.conv0/
conv1/torgb``), so transfer (§3.4) is a copy of tensors with matching names.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    NOISE_MODES,
    SPADE,
    EqualConv2d,
    EqualLinear,
    ModulatedConv2d,
    NoiseInjection,
    SpatiallyModulatedConv2d,
)
from .ops import bias_leaky_relu, scaled_bias_leaky_relu, setup_filter, upsample2d

CONDITIONINGS = ("global", "smc", "spade")


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    """StyleGAN2's channel schedule: min(channel_base / resolution, channel_max)."""
    return min(channel_base // resolution, channel_max)


def check_resolution(resolution: int) -> int:
    log2 = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < 4 or 2**log2 != resolution:
        raise ValueError(f"resolution must be a power of two ≥ 4, got {resolution}")
    return log2


def resize_map(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a grid map to `size`: nearest when enlarging (each cell owns its pixel square),
    averaging when shrinking (several cells share a pixel of a coarse layer)."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    if size[0] >= h and size[1] >= w:
        return F.interpolate(x, size=size, mode="nearest")
    return F.adaptive_avg_pool2d(x, size)


def coarse_style_map(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A style grid as the SMC layers take it: unchanged where each cell owns a pixel square of
    `size` (the layer upsamples it implicitly), averaged where the layer is coarser than the grid."""
    h, w = x.shape[-2:]
    return x if size[0] >= h and size[1] >= w else F.adaptive_avg_pool2d(x, size)


class MappingNetwork(nn.Module):
    """z → w: pixel norm, then `num_layers` × (equalized FC + lrelu) with lr_mul 0.01 (§3.2).

    Given a grid (N, z_dim, gh, gw) the same MLP acts on every cell — the SSN's 1×1 convolutions;
    `w_avg` (for truncation) is tracked over samples and cells.
    """

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_layers: int = 8,
        lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
    ):
        super().__init__()
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        self.w_avg_beta = w_avg_beta
        for i in range(num_layers):
            layer = EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activation=True)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        w_avg = self.w_avg.reshape(1, -1, *([1] * (x.ndim - 2)))
        if update_w_avg:
            batch_mean = x.detach().transpose(0, 1).reshape(self.w_dim, -1).mean(1)
            self.w_avg.copy_(batch_mean.lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1:
            x = w_avg + truncation_psi * (x - w_avg)
        return x


class SpatialEncoder(nn.Module):
    """Per-layer w grids for the SSN synthesis (Figure 3's spatial encoder).

    The resize to each layer's resolution happens inside the layers, after the 1×1 affine A_ℓ
    (A_ℓ commutes with nearest resizing, and is much cheaper at grid resolution). With
    `refine=True` each layer also gets a learned residual 3×3 conv on the w grid, zero-initialised
    so a transferred SSN starts as the plain resize (§3.4).
    """

    def __init__(self, w_dim: int, num_ws: int, refine: bool = False):
        super().__init__()
        self.w_dim, self.num_ws, self.refine = w_dim, num_ws, refine
        if refine:
            self.refinements = nn.ModuleList(EqualConv2d(w_dim, w_dim, 3) for _ in range(num_ws))
            for conv in self.refinements:
                nn.init.zeros_(conv.weight)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        if not self.refine:
            return ws
        return torch.stack([w + conv(w) for w, conv in zip(ws.unbind(1), self.refinements)], 1)


class StyledConv(nn.Module):
    """Conditioned conv → noise → bias + lrelu: one synthesis layer, for any conditioning."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, conditioning: str,
                 up: int = 1, border: str = "interior", spade_hidden: int = 128):
        super().__init__()
        self.conditioning = conditioning
        if conditioning == "global":
            self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
            self.conv = ModulatedConv2d(in_channels, out_channels, 3, up=up)
        elif conditioning == "smc":
            self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
            self.conv = SpatiallyModulatedConv2d(in_channels, out_channels, 3, up=up, border=border)
        else:
            self.spade = SPADE(in_channels, w_dim, spade_hidden)
            self.conv = EqualConv2d(in_channels, out_channels, 3, bias=False, up=up)
        self.noise = NoiseInjection(resolution)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, noise: torch.Tensor | None) -> torch.Tensor:
        if self.conditioning == "spade":
            x = self.noise(self.conv(self.spade(x, resize_map(w, x.shape[-2:]))), noise_mode, noise)
            return bias_leaky_relu(x, self.bias)
        style = self.affine(w)
        if self.conditioning == "smc":
            style = coarse_style_map(style, x.shape[-2:])
        x, demodulation = self.conv.convolve(x, style)
        # demodulate, add noise and bias, lrelu: one fused epilogue (eq. 1 / eq. 9, then StyleGAN2's layer)
        return scaled_bias_leaky_relu(x, demodulation, self.bias, self.noise.noise_for(x, noise_mode, noise),
                                      self.noise.strength)


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB without demodulation (per pixel for grid conditionings) + bias."""

    def __init__(self, in_channels: int, w_dim: int, conditioning: str):
        super().__init__()
        self.conditioning = conditioning
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        if conditioning == "global":
            self.conv = ModulatedConv2d(in_channels, 3, 1, demodulate=False)
        else:
            self.conv = SpatiallyModulatedConv2d(in_channels, 3, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)
        if self.conditioning != "global":
            style = coarse_style_map(style, x.shape[-2:])
        y = self.conv(x, style)  # the image skip sums stay in float32 under autocast
        return torch.add(self.bias.reshape(1, -1, 1, 1), y.float())


class SynthesisBlock(nn.Module):
    """One resolution: [const] → conv0 (up, skipped at 4×4) → conv1 → ToRGB, skip-summed (StyleGAN2 'skip')."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, conditioning: str,
                 border: str, spade_hidden: int = 128):
        super().__init__()
        self.resolution = resolution
        self.is_first = resolution == 4
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = StyledConv(in_channels, out_channels, w_dim, resolution, conditioning, up=2, border=border,
                                    spade_hidden=spade_hidden)
        self.conv1 = StyledConv(out_channels, out_channels, w_dim, resolution, conditioning, border=border,
                                spade_hidden=spade_hidden)
        self.torgb = ToRGB(out_channels, w_dim, conditioning)
        self.num_conv = 1 if self.is_first else 2
        self.register_buffer("resample_filter", setup_filter(), persistent=False)

    def forward(self, x, img, ws: list[torch.Tensor], noise_mode: str, noise: list[torch.Tensor | None]):
        if self.is_first:
            x = self.const.unsqueeze(0).expand(ws[0].shape[0], -1, -1, -1)
            x = self.conv1(x, ws[0], noise_mode, noise[0])
        else:
            x = self.conv0(x, ws[0], noise_mode, noise[0])
            x = self.conv1(x, ws[1], noise_mode, noise[1])
        y = self.torgb(x, ws[self.num_conv])
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """w (per layer) → image: 4×4 constant, one `SynthesisBlock` per resolution up to `resolution`."""

    def __init__(self, resolution: int, w_dim: int, channel_base: int, channel_max: int, conditioning: str,
                 border: str = "interior", spade_hidden: int = 128):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        log2 = check_resolution(resolution)
        self.resolution, self.w_dim, self.conditioning = resolution, w_dim, conditioning
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        in_channels = 0
        for res in self.block_resolutions:
            out_channels = channels_for(res, channel_base, channel_max)
            block = SynthesisBlock(in_channels, out_channels, w_dim, res, conditioning, border, spade_hidden)
            setattr(self, f"b{res}", block)
            in_channels = out_channels
        self.num_ws = 2 * log2 - 2  # each block's ToRGB shares its w with the next block's conv0

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_resolutions(self) -> list[int]:
        """Resolution of each noise input, in the order `forward(noise=...)` takes them."""
        return [b.resolution for b in self.blocks() for _ in range(b.num_conv)]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise: list[torch.Tensor] | None = None):
        if ws.shape[1] != self.num_ws:
            raise ValueError(f"synthesis expects {self.num_ws} ws (dim 1), got shape {tuple(ws.shape)}")
        if noise is not None and len(noise) != len(self.noise_resolutions()):
            raise ValueError(f"expected {len(self.noise_resolutions())} noise tensors, got {len(noise)}")
        per_layer = ws.unbind(1)
        x = img = None
        w_index = noise_index = 0
        for block in self.blocks():
            block_noise = noise[noise_index: noise_index + block.num_conv] if noise else [None] * block.num_conv
            x, img = block(x, img, per_layer[w_index: w_index + block.num_conv + 1], noise_mode, block_noise)
            w_index += block.num_conv
            noise_index += block.num_conv
        return img


class _Generator(nn.Module):
    """What both generators share: sampling z, noise, and z → w → image."""

    mapping: MappingNetwork
    synthesis: SynthesisNetwork

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    @property
    def latent_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _device(self, device) -> torch.device:
        return torch.device(device) if device is not None else self.synthesis.b4.conv1.bias.device

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """n latents from N(0, I), shaped (n, *latent_shape); drawn on `generator`'s device."""
        device = self._device(device)
        draw_on = generator.device if generator is not None else device
        return torch.randn(n, *self.latent_shape, generator=generator, device=draw_on).to(device)

    def make_noise(self, n: int, generator: torch.Generator | None = None, device=None) -> list[torch.Tensor]:
        """One random noise tensor (n, 1, r, r) per noise input — pass as `noise=` to reuse it."""
        device = self._device(device)
        draw_on = generator.device if generator is not None else device
        return [torch.randn(n, 1, r, r, generator=generator, device=draw_on).to(device)
                for r in self.synthesis.noise_resolutions()]

    def check_z(self, z: torch.Tensor) -> None:
        if z.ndim != len(self.latent_shape) + 1 or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(f"{type(self).__name__} expects z of shape (N, {', '.join(map(str, self.latent_shape))}),"
                             f" got {tuple(z.shape)}")

    def broadcast_ws(self, w: torch.Tensor) -> torch.Tensor:
        """One w (per sample, or per sample and cell) → the same w for every synthesis layer."""
        return w.unsqueeze(1).expand(-1, self.num_ws, *w.shape[1:])

    def forward(
        self,
        z: torch.Tensor,
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
        noise: list[torch.Tensor] | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        self.check_z(z)
        if noise is None and noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        w = self.mapping(z, truncation_psi=truncation_psi, update_w_avg=update_w_avg)
        return self.synthesize(self.broadcast_ws(w), noise_mode=noise_mode, noise=noise)

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "const", noise: list[torch.Tensor] | None = None):
        """Per-layer ws (N, num_ws, w_dim[, gh, gw]) → image (N, 3, H, W); used for style mixing."""
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)


class StyleGAN2Generator(_Generator):
    """StyleGAN2 (config F, skip generator): z (N, z_dim) → image (N, 3, R, R) in about [-1, 1]."""

    def __init__(self, resolution: int, z_dim: int = 512, w_dim: int = 512, channel_base: int = 16384,
                 channel_max: int = 512, mapping_layers: int = 8):
        super().__init__()
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, w_dim
        self.config = dict(resolution=resolution, z_dim=z_dim, w_dim=w_dim, channel_base=channel_base,
                           channel_max=channel_max, mapping_layers=mapping_layers)
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(resolution, w_dim, channel_base, channel_max, "global")

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.z_dim,)


class SSNGenerator(_Generator):
    """Spatially Stochastic Network (§3, Figure 3): z grid (N, z_dim, gh, gw) → image.

    Each cell of z is an independent block; resampling cell a (see `ssnlib.resample`) changes
    mostly image block a once trained with the distortion regularizer (eq. 2).
    `border="interior"` is the default normalizer border mode: it makes a transferred SSN with a
    constant grid equal to its StyleGAN2 source (the README gives the measurement).
    """

    def __init__(self, resolution: int, grid: tuple[int, int] = (4, 4), z_dim: int = 512, w_dim: int = 512,
                 channel_base: int = 16384, channel_max: int = 512, mapping_layers: int = 8,
                 conditioning: str = "smc", border: str = "interior", refine: bool = False, spade_hidden: int = 128):
        super().__init__()
        if conditioning not in ("smc", "spade"):
            raise ValueError(f"SSN conditioning must be 'smc' or 'spade', got {conditioning!r}")
        check_resolution(resolution)
        grid = tuple(int(g) for g in grid)
        if len(grid) != 2 or any(g < 1 or resolution % g or g & (g - 1) for g in grid):
            raise ValueError(f"grid must be two powers of two dividing the resolution {resolution}, got {grid}")
        self.resolution, self.grid, self.z_dim, self.w_dim = resolution, grid, z_dim, w_dim
        self.config = dict(resolution=resolution, grid=list(grid), z_dim=z_dim, w_dim=w_dim,
                           channel_base=channel_base, channel_max=channel_max, mapping_layers=mapping_layers,
                           conditioning=conditioning, border=border, refine=refine)
        if conditioning == "spade":
            self.config["spade_hidden"] = spade_hidden
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(resolution, w_dim, channel_base, channel_max, conditioning, border,
                                          spade_hidden)
        self.encoder = SpatialEncoder(w_dim, self.synthesis.num_ws, refine)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.z_dim, *self.grid)

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "const", noise: list[torch.Tensor] | None = None):
        return self.synthesis(self.encoder(ws), noise_mode=noise_mode, noise=noise)

    @classmethod
    def from_stylegan2(cls, source: StyleGAN2Generator, grid: tuple[int, int] = (4, 4), **kwargs) -> "SSNGenerator":
        """Transfer (§3.4): mapping MLP → 1×1 convs, each layer's conv and affine A_ℓ → its SMC layer,
        ToRGB → ToRGB; noise strengths, noise buffers, the constant input and w_avg copied. Only
        the spatial encoder's refinement (if any) starts fresh, at zero."""
        ssn = cls(grid=grid, **source.config, **kwargs).to(source.synthesis.b4.const.device)
        target = ssn.state_dict()
        copied = {}
        for name, tensor in source.state_dict().items():
            if name not in target:
                raise KeyError(f"no SSN counterpart for StyleGAN2 tensor {name!r}")
            copied[name] = tensor
        missing, unexpected = ssn.load_state_dict(copied, strict=False)
        fresh = [name for name in missing if not name.startswith("encoder.")]
        if fresh or unexpected:
            raise KeyError(f"transfer left SSN tensors {fresh} uncopied and StyleGAN2 tensors {unexpected} unused")
        return ssn


class DiscriminatorBlock(nn.Module):
    """Residual block (StyleGAN2 'resnet' D): two 3×3 convs, the second downsampling, plus a
    downsampling 1×1 skip, summed with gain √½."""

    def __init__(self, in_channels: int, out_channels: int, from_rgb: bool):
        super().__init__()
        self.fromrgb = EqualConv2d(3, in_channels, 1, activation=True) if from_rgb else None
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True, down=2, gain=math.sqrt(0.5))
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, down=2, gain=math.sqrt(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        return self.conv1(self.conv0(x)) + self.skip(x)  # each branch carries its gain √½


class MinibatchStdLayer(nn.Module):
    """Appends the std of features over groups of `group_size` samples as extra channels."""

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"batch size {n} must be divisible by the minibatch-std group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()
        y = y.mean((2, 3, 4)).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], 1)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator with minibatch standard deviation: image → logit (N, 1)."""

    def __init__(self, resolution: int, channel_base: int = 16384, channel_max: int = 512, mbstd_group: int = 4,
                 mbstd_channels: int = 1):
        super().__init__()
        log2 = check_resolution(resolution)
        self.resolution = resolution
        self.config = dict(resolution=resolution, channel_base=channel_base, channel_max=channel_max,
                           mbstd_group=mbstd_group, mbstd_channels=mbstd_channels)
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels_for(res, channel_base, channel_max),
                                       channels_for(res // 2, channel_base, channel_max), from_rgb=res == resolution)
            setattr(self, f"b{res}", block)
        c4 = channels_for(4, channel_base, channel_max)
        self.fromrgb4 = EqualConv2d(3, c4, 1, activation=True) if resolution == 4 else None
        self.mbstd = MinibatchStdLayer(mbstd_group, mbstd_channels)
        self.conv = EqualConv2d(c4 + mbstd_channels, c4, 3, activation=True)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1:] != (3, self.resolution, self.resolution):
            raise ValueError(f"Discriminator expects images (N, 3, {self.resolution}, {self.resolution}), "
                             f"got {tuple(img.shape)}")
        x = img
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        if self.fromrgb4 is not None:
            x = self.fromrgb4(x)
        x = self.conv(self.mbstd(x))
        x = self.fc(x.flatten(1))
        return self.out(x)

    def forward_pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D(a), D(b)) in one pass over a batch of 2N: the two batches are interleaved so that
        every minibatch-std group holds samples of one batch only, as two separate calls would."""
        if a.shape != b.shape:
            raise ValueError(f"forward_pair needs two batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        n = a.shape[0]
        g = min(self.mbstd.group_size, n)
        if n % g:
            raise ValueError(f"batch size {n} must be divisible by the minibatch-std group size {g}")
        # MinibatchStdLayer groups sample i·(N/g) + j over i for each j: stack each batch's j's side by side
        both = torch.stack([a.reshape(g, n // g, *a.shape[1:]), b.reshape(g, n // g, *b.shape[1:])], 1)
        both = both.reshape(2 * n, *a.shape[1:])
        if a.is_contiguous(memory_format=torch.channels_last):
            both = both.contiguous(memory_format=torch.channels_last)
        logits = self(both).reshape(g, 2, n // g, -1)
        return logits[:, 0].reshape(n, -1), logits[:, 1].reshape(n, -1)
