import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
