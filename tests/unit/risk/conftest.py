import pytest
from risk_env import Env


@pytest.fixture
def make_env():
    return Env


@pytest.fixture
def env():
    return Env()
