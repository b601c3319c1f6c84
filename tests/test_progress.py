"""Progress bars follow the caller, and $TQDM_DISABLE (what `make reproduce` sets) silences every one."""

import pytest

from ssnlib.progress import hidden


@pytest.mark.parametrize("value, silenced", [("", False), ("0", False), ("false", False), ("1", True), ("True", True)])
def test_tqdm_disable_wins_over_a_shown_bar(monkeypatch, value, silenced):
    monkeypatch.setenv("TQDM_DISABLE", value)
    assert hidden(True) is silenced and hidden(False) is True


def test_without_the_variable_the_caller_decides(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert hidden(True) is False and hidden(False) is True and hidden() is False
