"""Progress bars: tqdm, hidden when asked or when $TQDM_DISABLE is set, and redrawn once a minute
when they write into a log file rather than a terminal or a notebook."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

LOG_FILE_INTERVAL = 60.0  # seconds between redraws into a file: one line a minute, not one a batch
INTERACTIVE_INTERVAL = 0.1  # tqdm's default


def hidden(shown: bool = True) -> bool:
    """tqdm's `disable` for a bar the caller wants `shown`: True when it does not, or when
    $TQDM_DISABLE is set (`make reproduce` sets it so that executed notebooks carry no progress
    bars; tqdm reads that variable only for arguments not passed, and every bar here passes one)."""
    return not shown or os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")


def redraw_interval() -> float:
    """tqdm's `mininterval`: 0.1 s on a terminal or in a Jupyter kernel, a minute when stderr is a
    file (a `nohup … > train.log` run), where every redraw is another line kept."""
    interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
    return INTERACTIVE_INTERVAL if interactive else LOG_FILE_INTERVAL


def progress_bar(iterable: Iterable | None = None, *, shown: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar over `iterable` (or updated by hand with `total=`), hidden per `hidden(shown)`
    and redrawn per `redraw_interval` (tqdm's monitor thread, which forces a redraw after
    `maxinterval`, 10 s by default, waits as long)."""
    interval = redraw_interval()
    return tqdm(iterable, disable=hidden(shown), mininterval=interval, maxinterval=max(interval, 10.0), **kwargs)
