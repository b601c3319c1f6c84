"""Pure-PyTorch primitives shared by every network (CPU and GPU, no custom CUDA build).

These follow StyleGAN2's reference ops: FIR resampling with upfirdn2d semantics, bias + leaky
ReLU with gain √2, and the shifted-window sums that make the spatially modulated convolution's
normalizer (paper eq. 14) cheap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def setup_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """Separable 2-D FIR filter from 1-D taps, normalised to unit sum."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim != 1 or f.numel() == 0:
        raise ValueError(f"filter taps must be a non-empty 1-D sequence, got shape {tuple(f.shape)}")
    f2 = f[:, None] * f[None, :]
    return f2 / f2.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with the FIR filter `f`, downsample.

    Same semantics as StyleGAN2's `upfirdn2d` with symmetric padding `pad` = (before, after) on
    both axes; the filter is applied as a true convolution (flipped), scaled by `gain`.
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    p0, p1 = pad
    kernel = (f * gain).flip([0, 1]).to(dtype=x.dtype, device=x.device)
    kernel = kernel[None, None].expand(c, 1, -1, -1)
    if p0 == p1 >= 0:  # symmetric padding is the convolution's own (no padded copy of x)
        x = F.conv2d(x, kernel, padding=p0, groups=c)
    else:
        x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
        x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
        x = F.conv2d(x, kernel, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """FIR upsampling by `factor` (StyleGAN2's skip-connection upsampler), output size factor·H."""
    taps = f.shape[0]
    p = taps - factor
    return upfirdn2d(x, f, up=factor, pad=((p + 1) // 2 + factor - 1, p // 2), gain=factor**2)


def blur(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int], gain: float = 1.0) -> torch.Tensor:
    """FIR low-pass filtering with explicit padding (the blur around strided convolutions)."""
    return upfirdn2d(x, f, pad=pad, gain=gain)


def bias_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, gain: float = 1.0) -> torch.Tensor:
    """Add a per-channel bias, then leaky ReLU (slope 0.2) scaled by √2 · `gain`, as StyleGAN2.

    Computed as lrelu(√2·gain·x + √2·gain·bias) — leaky ReLU is positively homogeneous — so the
    scaling rides on the bias addition instead of a pass of its own.
    """
    scale = LRELU_GAIN * gain
    if bias is None:
        return F.leaky_relu(x * scale, LRELU_SLOPE)
    bias = (bias * scale).to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(torch.add(bias, x, alpha=scale), LRELU_SLOPE)


def scaled_bias_leaky_relu(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                           noise: torch.Tensor | None = None,
                           noise_strength: torch.Tensor | None = None) -> torch.Tensor:
    """lrelu(x · scale + noise · strength + bias) · √2 in three passes over x instead of six: the
    epilogue of a modulated convolution (x (N, C, H, W), per-sample-and-channel demodulation
    `scale` (N, C), noise (N, 1, H, W) or None, bias (C,)), the √2 folded into the factors."""
    n, c = x.shape[:2]
    y = torch.addcmul((bias * LRELU_GAIN).to(x.dtype).reshape(1, c, 1, 1), x,
                      (scale * LRELU_GAIN).to(x.dtype).reshape(n, c, 1, 1))
    if noise is not None:
        y = y + noise.to(x.dtype) * (noise_strength * LRELU_GAIN).to(x.dtype)
    return F.leaky_relu(y, LRELU_SLOPE)


def window_sums(x: torch.Tensor, dim: int, kernel_size: int, repeat: int = 1) -> torch.Tensor:
    """Sums of `x` along `dim` over the windows read by each tap of a zero-padded 'same' conv.

    For a kernel of odd size k and padding p = k // 2, output position i reads input i + u − p at
    tap u. Returns a tensor whose `dim` has size k: entry u is Σ_i x[i + u − p] over the valid
    positions only (zero padding contributes nothing). With `repeat` = f the sums are those of x
    nearest-upsampled f times along `dim`, computed without upsampling. Computed as the total
    minus the few excluded border entries: O(size), exact up to float rounding (no long-range
    cancellation as with plain prefix sums).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"window_sums needs an odd kernel size, got {kernel_size}")
    p = kernel_size // 2
    source = x.shape[dim]
    size = source * repeat
    total = x.sum(dim, keepdim=True) * repeat
    edge = min(p, size)
    rows = -(-edge // repeat)  # source entries covering the first/last `edge` upsampled entries
    head = x.narrow(dim, 0, rows).repeat_interleave(repeat, dim).narrow(dim, 0, edge).cumsum(dim)
    tail = x.narrow(dim, source - rows, rows).repeat_interleave(repeat, dim).flip(dim).narrow(dim, 0, edge).cumsum(dim)
    sums = []
    for u in range(kernel_size):
        offset = u - p
        s = total
        if offset > 0:  # reads [offset, size): the first `offset` entries are never read
            s = s - head.narrow(dim, min(offset, size) - 1, 1)
        elif offset < 0:  # reads [0, size + offset): the last `-offset` entries are never read
            s = s - tail.narrow(dim, min(-offset, size) - 1, 1)
        sums.append(s)
    return torch.cat(sums, dim)
