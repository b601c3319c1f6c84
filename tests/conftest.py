import pytest
import torch

torch.set_num_threads(1)  # tiny ops on two shared cores: one thread is faster and reproducible


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Procedural-data caches go to a fresh folder (tests never read a stale render); no downloads."""
    import os

    os.environ["SSNLIB_CACHE"] = str(tmp_path_factory.mktemp("ssnlib-cache"))
    os.environ["SSNLIB_OFFLINE"] = "1"  # tests never download weights
    yield
