"""Progress bars follow the caller, and $TQDM_DISABLE (what `make reproduce` sets) silences every one."""

import sys
import types

import pytest

from ssnlib.progress import hidden, progress_bar, redraw_interval


@pytest.mark.parametrize("value, silenced", [("", False), ("0", False), ("false", False), ("1", True), ("True", True)])
def test_tqdm_disable_wins_over_a_shown_bar(monkeypatch, value, silenced):
    monkeypatch.setenv("TQDM_DISABLE", value)
    assert hidden(True) is silenced and hidden(False) is True


def test_without_the_variable_the_caller_decides(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert hidden(True) is False and hidden(False) is True and hidden() is False


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty, kernel, interval", [(True, False, 0.1), (False, True, 0.1), (False, False, 60.0)])
def test_a_bar_writing_into_a_file_redraws_once_a_minute(monkeypatch, tty, kernel, interval):
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    if kernel:
        monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    else:
        monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert redraw_interval() == interval
    with progress_bar(range(3), file=_Stream(tty)) as bar:
        assert (bar.mininterval, bar.maxinterval) == (interval, max(interval, 10.0))
        assert not bar.disable and list(bar) == [0, 1, 2]


def test_a_bar_not_shown_is_disabled(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert progress_bar(range(2), shown=False).disable is True
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(2)).disable is True
