"""End to end in a real browser: the block picker notebook in JupyterLab and in Voilà, driven by
Debian's headless Chromium through Playwright (no browser download). Skips, saying why, where no
Chromium is installed. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("SSNLIB_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = ROOT / "notebooks" / "09_block_picker.ipynb"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture()
def served_notebook(tmp_path):
    """A copy of the picker notebook (the server autosaves; the committed one must stay clean)."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    env = {**os.environ, "SSNLIB_PRESET": "ci", "OMP_NUM_THREADS": "1"}
    return work, env


def start(command: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture()
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def voila_page(served_notebook, browser, tmp_path, viewport=(1400, 1000)):
    """The picker notebook served by Voilà, open in a page once its cells are drawn."""
    work, env = served_notebook
    port = free_port()
    server = start([sys.executable, "-m", "voila", NOTEBOOK.name, "--no-browser", f"--port={port}",
                    "--Voila.ip=127.0.0.1"], work, env, tmp_path / "voila.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", 120, server)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.goto(f"http://127.0.0.1:{port}/", timeout=300_000)
        page.wait_for_selector(".ssn-cell-1-1", timeout=300_000)
        yield page
    finally:
        stop(server)


def image_source(page) -> str:
    """The picker image's blob URL: the front end makes a new one whenever the kernel sends new bytes."""
    return page.locator("img.ssn-picker-image").first.get_attribute("src")


def resample_and_wait(page, before: str, step: str, what: str = "image") -> None:
    """Press Resample; the image must change from `before` and the status reach `step`."""
    page.get_by_role("button", name="Resample").click()
    deadline = time.time() + 60
    while image_source(page) == before:
        assert time.time() < deadline, f"the {what} did not change after Resample"
        page.wait_for_timeout(250)
    page.wait_for_selector(f"text={step}", timeout=60_000)


def click_cells_and_resample(page, name: str) -> None:
    page.wait_for_selector(".ssn-cell-1-1", timeout=300_000)
    page.wait_for_timeout(500)
    before = image_source(page)
    page.locator(".ssn-cell-1-1").click()
    page.locator(".ssn-cell-1-2").click()
    # the status line is rendered by the kernel from its own session state: a round trip
    page.wait_for_selector("text=selected: (1,1), (1,2)", timeout=60_000)
    assert image_source(page) == before, "selecting cells must not change the image"
    resample_and_wait(page, before, "step 2/2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"picker-{name}.png"), full_page=True)


def test_picker_in_jupyterlab(served_notebook, browser, tmp_path):
    work, env = served_notebook
    port = free_port()
    server = start([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                    "--ServerApp.ip=127.0.0.1",
                    "--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
                    "--ServerApp.disable_check_xsrf=True", "--allow-root", f"--ServerApp.root_dir={work}"],
                   work, env, tmp_path / "jupyterlab.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/lab", 120, server)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}")
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=120_000)
        page.wait_for_timeout(2000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        news = page.get_by_role("button", name="No")  # JupyterLab's "get news?" toast, if it shows
        if news.count():
            news.first.click()
        click_cells_and_resample(page, "jupyterlab")
    finally:
        stop(server)


def test_picker_in_voila(served_notebook, browser, tmp_path):
    with voila_page(served_notebook, browser, tmp_path) as page:
        click_cells_and_resample(page, "voila")


def test_picker_opens_an_uploaded_image_in_voila(served_notebook, browser, tmp_path):
    """"Open image…": the browser uploads a file, the kernel projects it (status line with PSNR),
    and its cells resample like any image's."""
    import numpy as np
    from PIL import Image

    target = tmp_path / "mine.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 48, dtype=np.uint8)[:, None, None], (1, 40, 3))).save(target)
    with voila_page(served_notebook, browser, tmp_path) as page:
        before = image_source(page)
        with page.expect_file_chooser() as chooser:  # the widget's file input exists only while choosing
            page.locator(".ssn-open-image").click()
        chooser.value.set_files(str(target))
        page.wait_for_selector("text=projected mine.png", timeout=120_000)
        assert image_source(page) != before, "the projected image is not shown"
        page.wait_for_selector("text=step 2/2", timeout=10_000)
        projected = image_source(page)
        page.locator(".ssn-cell-1-1").click()
        page.wait_for_selector("text=selected: (1,1)", timeout=60_000)
        resample_and_wait(page, projected, "step 3/3", "projected image")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "picker-upload-voila.png"), full_page=True)


def test_picker_flows_in_voila(served_notebook, browser, tmp_path):
    """The flows that used to leave stale state: New image with the same seed, candidates then
    Resample, Undo then Difference view, Select part."""
    with voila_page(served_notebook, browser, tmp_path, viewport=(1440, 900)) as page:
        first = image_source(page)
        page.get_by_role("button", name="New image").click()  # the box holds the shown seed: the next one
        page.wait_for_selector("text=step 2/2", timeout=60_000)
        second = image_source(page)
        page.get_by_role("button", name="New image").click()
        page.wait_for_selector("text=step 3/3", timeout=60_000)
        assert len({first, second, image_source(page)}) == 3, "New image twice must give two new images"
        page.locator(".ssn-cell-1-1").click()
        page.wait_for_selector("text=selected: (1,1)", timeout=60_000)
        page.get_by_role("button", name="Show candidates").click()
        page.wait_for_selector("text=Use #4", timeout=60_000)
        page.get_by_role("button", name="Resample").click()
        page.wait_for_selector("text=step 4/4", timeout=60_000)
        page.wait_for_selector("text=Use #1", state="detached", timeout=60_000)  # candidates of the old image go
        page.get_by_role("button", name="Difference view").click()
        page.wait_for_selector("text=inside selection", timeout=60_000)
        page.get_by_role("button", name="Undo").click()
        page.wait_for_selector("text=no resample to compare", timeout=60_000)
        page.get_by_role("button", name="Redo").click()
        page.wait_for_selector("text=inside selection", timeout=60_000)
        page.locator(".widget-dropdown:has(label:text-is('part')) select").select_option("face/hair")
        page.get_by_role("button", name="Select part").click()
        # the kernel answers: the hair's cells selected, or (the barely trained ci model) that it has none
        page.wait_for_function("(t => t.includes(\"no 'face/hair' pixels in this image\") || "
                               "(t.includes('selected:') && !t.includes('selected: (1,1) ·')))"
                               "(document.body.innerText)", timeout=60_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "picker-flows-voila.png"), full_page=False)
