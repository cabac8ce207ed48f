import numpy as np
import pytest

from engine.backend import NUMPY
from tests.engine.standin import STANDIN


@pytest.fixture(params=[NUMPY, STANDIN], ids=["numpy", "stand-in-gpu"])
def backend(request):
    """Every layer test runs on NumPy and on the stand-in GPU backend."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
