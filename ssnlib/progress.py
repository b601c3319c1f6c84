"""Progress bars: tqdm, hidden when asked or when $TQDM_DISABLE is set."""

from __future__ import annotations

import os


def hidden(shown: bool = True) -> bool:
    """tqdm's `disable` for a bar the caller wants `shown`: True when it does not, or when
    $TQDM_DISABLE is set (`make reproduce` sets it so that executed notebooks carry no progress
    bars; tqdm reads that variable only for arguments not passed, and every bar here passes one)."""
    return not shown or os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")
