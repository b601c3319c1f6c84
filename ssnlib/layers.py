"""Layers: equalized-learning-rate linear/conv, StyleGAN2's modulated convolution (eq. 9), the
spatially modulated convolution (eq. 1, normalizer eq. 14), SPADE (eq. 3) and noise injection.

Equation numbers refer to the paper (Appendix A derives eqs. 9–14).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .ops import bias_leaky_relu, blur, setup_filter, window_sums

DEMOD_EPS = 1e-8
BORDER_MODES = ("interior", "zero_padded")
NOISE_MODES = ("const", "random", "none")


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (weights stored at unit scale, scaled at run time).

    On a map (N, C, *spatial) it acts on dim 1 at every position — a 1×1 convolution, computed
    as the same matrix product as on vectors so that per-cell and per-sample results agree bitwise.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = x.movedim(1, -1)  # a no-op for (N, C)
        y = F.linear(channels_last, self.weight * self.weight_gain)
        if self.bias is not None:
            y = y + (self.bias * self.lr_mul).to(y.dtype)  # broadcasts over the last (channel) dim
        if self.activation:
            y = bias_leaky_relu(y)
        return y.movedim(-1, 1)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv with equalized learning rate; `down=2` blurs then strides (StyleGAN2's discriminator),
    `up=2` is a transposed conv followed by a blur (StyleGAN2's synthesis upsampling)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
        up: int = 1,
        down: int = 1,
        gain: float = 1.0,
    ):
        super().__init__()
        if up not in (1, 2) or down not in (1, 2) or (up > 1 and down > 1):
            raise ValueError(f"EqualConv2d supports up=2 or down=2 (not both), got up={up}, down={down}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init))) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_channels * kernel_size**2)
        self.lr_mul = lr_mul
        self.activation = activation
        self.up, self.down = up, down
        self.gain = gain  # multiplies the output (folded into the weight or the activation's scale)
        self.register_buffer("resample_filter", setup_filter(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * (self.weight_gain * (1.0 if self.activation else self.gain))
        if self.down > 1:
            p = (self.resample_filter.shape[0] - 2) + (self.kernel_size - 1)
            x = blur(x, self.resample_filter, pad=((p + 1) // 2, p // 2))
            x = F.conv2d(x, w, stride=2)
        else:
            x = conv2d_same(x, w, self.up, self.resample_filter)
        if self.activation:
            return bias_leaky_relu(x, self.bias * self.lr_mul if self.bias is not None else None, gain=self.gain)
        if self.bias is None:
            return x
        return x + (self.bias * (self.lr_mul * self.gain)).to(x.dtype).reshape(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, up={self.up}, "
                f"down={self.down}, lr_mul={self.lr_mul}, activation={self.activation}, gain={self.gain}")


def conv2d_same(x: torch.Tensor, weight: torch.Tensor, up: int, resample_filter: torch.Tensor) -> torch.Tensor:
    """'Same' convolution (`up=1`), or StyleGAN2's upsampling convolution (`up=2`): stride-2
    transposed conv followed by a [1,3,3,1] blur with gain 4, giving exactly twice the size."""
    k = weight.shape[-1]
    if up == 1:
        return F.conv2d(x, weight, padding=k // 2)
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    p = (resample_filter.shape[0] - 2) - (k - 1)
    return blur(x, resample_filter, pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)


def demodulation_factor(sigma_sq: torch.Tensor) -> torch.Tensor:
    """1/σ = (σ² + ε)^(-1/2), in at least float32 (σ² may come out of a bf16 matmul under autocast)."""
    return torch.rsqrt(sigma_sq.to(torch.promote_types(sigma_sq.dtype, torch.float32)) + DEMOD_EPS)


def _check_modulation_args(kernel_size: int, up: int) -> None:
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if up not in (1, 2):
        raise ValueError(f"up must be 1 or 2, got {up}")


class ModulatedConv2d(nn.Module):
    """StyleGAN2's modulated convolution with demodulation (eq. 9).

    `forward(x, style)` with x (N, C_in, H, W) and style (N, C_in): the input is scaled per channel,
    convolved with the shared weight, and divided by σ = sqrt(Σ_{c,u,v} w² s² + ε) per output
    channel (mathematically identical to scaling the weights, computed without grouped convs).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, up: int = 1, demodulate: bool = True):
        super().__init__()
        _check_modulation_args(kernel_size, up)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.up, self.demodulate = up, demodulate
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.register_buffer("resample_filter", setup_filter(), persistent=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        if x.ndim != 4 or c != self.in_channels or style.shape != (n, c):
            raise ValueError(f"ModulatedConv2d expects x (N, {self.in_channels}, H, W) and style (N, "
                             f"{self.in_channels}), got {tuple(x.shape)} and {tuple(style.shape)}")
        x, demodulation = self.convolve(x, style)
        return x if demodulation is None else x * demodulation.to(x.dtype)[:, :, None, None]

    def convolve(self, x: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(w ∗ (s ⊙ x), 1/σ (N, C_out) or None): the demodulation left for the caller to fuse."""
        w = self.weight * self.weight_gain
        x = conv2d_same(x * style.to(x.dtype)[:, :, None, None], w, self.up, self.resample_filter)
        if not self.demodulate:
            return x, None
        sigma_sq = torch.einsum("oc,nc->no", w.square().sum((2, 3)), style.square())
        return x, demodulation_factor(sigma_sq)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, up={self.up}, "
                f"demodulate={self.demodulate}")


def upsampling_factors(style_map: torch.Tensor, size: tuple[int, int]) -> tuple[int, int]:
    """How many times a block-constant style map is nearest-upsampled to reach `size` (H, W)."""
    h, w = style_map.shape[-2:]
    if h < 1 or w < 1 or size[0] % h or size[1] % w:
        raise ValueError(f"style map of spatial size {(h, w)} does not divide the feature size {tuple(size)}")
    return size[0] // h, size[1] // w


def modulate(x: torch.Tensor, style_map: torch.Tensor) -> torch.Tensor:
    """s ⊙ h with s nearest-upsampled to h's size by broadcasting (never materialised)."""
    n, c, height, width = x.shape
    fh, fw = upsampling_factors(style_map, (height, width))
    if fh == fw == 1:
        return x * style_map
    h, w = style_map.shape[-2:]
    return (x.reshape(n, c, h, fh, w, fw) * style_map.reshape(n, c, h, 1, w, 1)).reshape(n, c, height, width)


def expected_sigma_sq(weight: torch.Tensor, style_map: torch.Tensor, border: str,
                      size: tuple[int, int] | None = None) -> torch.Tensor:
    """σ_E² of eq. 14: (1/HW) Σ_ij (w² ∗ s²)_{c',ij}, shape (N, C_out), without a second conv.

    Σ_ij (w² ∗ s²)_{c',ij} = Σ_{c,u,v} w²_{c'cuv} · S_{ncuv}, where S_{ncuv} sums s² over the H×W
    window that kernel tap (u, v) reads. `border="zero_padded"` takes eq. 14 literally (zero padding
    shrinks the border windows); `border="interior"` counts every window as full (S = Σ_ij s²),
    which equals StyleGAN2's eq. 9 when the style is spatially constant. `size` (H, W) is the
    feature size when the style map is a coarser block-constant map (default: the map's own size).
    """
    if border not in BORDER_MODES:
        raise ValueError(f"border must be one of {BORDER_MODES}, got {border!r}")
    size = tuple(size) if size is not None else tuple(style_map.shape[-2:])
    fh, fw = upsampling_factors(style_map, size)
    s2 = style_map.square()
    w2 = weight.square()
    if border == "interior":  # equal-area cells: the coarse map's mean is the upsampled map's mean
        return torch.einsum("oc,nc->no", w2.sum((2, 3)), s2.mean((2, 3)))
    k = weight.shape[-1]
    windows = window_sums(window_sums(s2, 2, k, fh), 3, k, fw)  # (N, C, k, k)
    return torch.einsum("ocuv,ncuv->no", w2, windows) / (size[0] * size[1])


class SpatiallyModulatedConv2d(nn.Module):
    """Spatially modulated convolution (eq. 1): y = (w ∗ (s ⊙ h)) / σ_E(w, s), σ_E from eq. 14.

    `forward(x, style_map)`: x (N, C_in, H, W); style_map (N, C_in, h, w) at the input resolution,
    or coarser (h | H, w | W) meaning its nearest upsampling — each style pixel owns an
    (H/h)×(W/w) square, as an SSN grid cell does. Coarse maps are never upsampled in memory: the
    modulation broadcasts and σ_E is computed on the coarse map exactly. Modulation, convolution
    and demodulation only (no bias, noise or activation). With `up=2` the modulated input goes
    through StyleGAN2's transposed conv + blur and σ_E is computed at the input resolution, so a
    constant style gives exactly StyleGAN2's up-layer. The raw weight is `.weight` (C_out, C_in, k, k).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        up: int = 1,
        demodulate: bool = True,
        border: str = "interior",
    ):
        super().__init__()
        _check_modulation_args(kernel_size, up)
        if border not in BORDER_MODES:
            raise ValueError(f"border must be one of {BORDER_MODES}, got {border!r}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.up, self.demodulate, self.border = up, demodulate, border
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.register_buffer("resample_filter", setup_filter(), persistent=False)

    def forward(self, x: torch.Tensor, style_map: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or style_map.shape[:2] != x.shape[:2]:
            raise ValueError(f"SpatiallyModulatedConv2d expects x (N, {self.in_channels}, H, W) and a style_map "
                             f"(N, {self.in_channels}, h, w), got {tuple(x.shape)} and {tuple(style_map.shape)}")
        x, demodulation = self.convolve(x, style_map)
        return x if demodulation is None else x * demodulation.to(x.dtype)[:, :, None, None]

    def convolve(self, x: torch.Tensor, style_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(w ∗ (s ⊙ x), 1/σ_E (N, C_out) or None): the demodulation left for the caller to fuse."""
        w = self.weight * self.weight_gain
        x_size = tuple(x.shape[-2:])
        x = conv2d_same(modulate(x, style_map.to(x.dtype)), w, self.up, self.resample_filter)
        if not self.demodulate:
            return x, None
        sigma_sq = expected_sigma_sq(w, style_map, self.border, x_size)
        return x, demodulation_factor(sigma_sq)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, up={self.up}, "
                f"demodulate={self.demodulate}, border={self.border!r}")


class SPADE(nn.Module):
    """Spatially-adaptive normalization (eq. 3): γ(c) ⊙ (h − µ_D(h)) / σ_D(h) + β(c).

    µ_D, σ_D are per-channel statistics over the current batch and all positions (eqs. 4–5) —
    always the batch's own, as in the paper's analysis of droplet artifacts. γ and β come from the
    spatial conditioning c through a shared 3×3 conv + ReLU and two 3×3 convs, as in SPADE;
    γ is parameterised as 1 + Δγ.
    """

    def __init__(self, num_channels: int, cond_channels: int, hidden_channels: int = 128, eps: float = 1e-5):
        super().__init__()
        self.num_channels, self.eps = num_channels, eps
        self.shared = EqualConv2d(cond_channels, hidden_channels, 3)
        self.gamma = EqualConv2d(hidden_channels, num_channels, 3)
        self.beta = EqualConv2d(hidden_channels, num_channels, 3)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.num_channels or cond.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"SPADE expects x (N, {self.num_channels}, H, W) and cond (N, C, H, W) at the same "
                             f"resolution, got {tuple(x.shape)} and {tuple(cond.shape)}")
        mean = x.mean((0, 2, 3), keepdim=True)
        var = x.var((0, 2, 3), keepdim=True, unbiased=False)
        normalized = (x - mean) * torch.rsqrt(var + self.eps)
        hidden = F.relu(self.shared(cond))
        return normalized * (1 + self.gamma(hidden)) + self.beta(hidden)


class NoiseInjection(nn.Module):
    """Per-pixel noise scaled by a learned strength (init 0), with a fixed `const` noise buffer."""

    def __init__(self, resolution: int):
        super().__init__()
        self.resolution = resolution
        self.strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("const", torch.randn(resolution, resolution))

    def forward(self, x: torch.Tensor, noise_mode: str = "random", noise: torch.Tensor | None = None) -> torch.Tensor:
        noise = self.noise_for(x, noise_mode, noise)
        return x if noise is None else x + noise * self.strength

    def noise_for(self, x: torch.Tensor, noise_mode: str = "random",
                  noise: torch.Tensor | None = None) -> torch.Tensor | None:
        """The noise image that `forward` adds to features `x` (unscaled), or None for "none"."""
        if noise is None:
            if noise_mode not in NOISE_MODES:
                raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
            if noise_mode == "none":
                return None
            if noise_mode == "const":
                return self.const
            return torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        if noise.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"noise of shape {tuple(noise.shape)} does not match features {tuple(x.shape)}")
        return noise
