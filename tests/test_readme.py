"""The README's first-minute example runs as printed, on the shipped model, and does what it says:
its resamples change the chosen cells more than the rest of the image."""

import re
import runpy
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def first_python_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A first minute"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_first_minute_example_runs_and_resamples_locally(tmp_path, monkeypatch):
    code = first_python_block()
    assert '"models/cpu/ssn4x4-faces-ld100.safetensors"' in code  # a shipped model, not an untrained one
    script = tmp_path / "example.py"
    script.write_text(code.replace('"models/cpu/', f'"{ROOT}/models/cpu/'))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script))
    grid = np.asarray(Image.open(tmp_path / "resample.png")).astype(float)
    assert grid.shape == (1 + 128 + 1, 4 * (128 + 1) + 1, 3)  # four 128² panels (32² × 4), 1-px gaps
    panels = [grid[1:129, 1 + k * 129: 129 + k * 129] for k in range(4)]
    inside = np.zeros((128, 128), bool)
    inside[:32, 32:96] = True  # cells (0, 1), (0, 2) of the 4×4 grid at 4× size
    for after in panels[1:]:
        change = ((after - panels[0]) ** 2).mean(2)
        assert change[inside].mean() > change[~inside].mean()
