"""Secrets that are not given are generated once, privately, and reused."""

from __future__ import annotations

import stat

import pytest

from agentflow_app.errors import ConfigError
from agentflow_app.settings import get_settings


@pytest.fixture
def data_dir(tmp_path, set_env):
    set_env(
        AGENTFLOW_DATA_DIR=str(tmp_path), AGENTFLOW_SECRET_KEY=None, AGENTFLOW_ENCRYPTION_KEYS=None
    )
    return tmp_path


def test_generated_secrets_are_private_and_stable(data_dir, set_env) -> None:
    first_key = get_settings().secret_key()
    first_fernet = get_settings().encryption_keys()
    for name in ("secret_key", "encryption_keys"):
        mode = stat.S_IMODE((data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    set_env(AGENTFLOW_DATA_DIR=str(data_dir))  # a restart: settings are read afresh
    assert get_settings().secret_key() == first_key
    assert get_settings().encryption_keys() == first_fernet


def test_given_secrets_win_and_nothing_is_written(data_dir, set_env) -> None:
    set_env(AGENTFLOW_SECRET_KEY="s3cret", AGENTFLOW_ENCRYPTION_KEYS="k1, k2")
    assert get_settings().secret_key() == "s3cret"
    assert get_settings().encryption_keys() == ["k1", "k2"]
    assert not (data_dir / "secret_key").exists()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "DB_URL",
            "mysql://x",
            "DB_URL: Value error, DB_URL must start with sqlite:/// or postgresql",
        ),
        ("REDIS_URL", "http://x", "REDIS_URL: Value error, REDIS_URL must start with redis://"),
        ("AGENTFLOW_TOKEN_TTL_S", "soon", "AGENTFLOW_TOKEN_TTL_S"),
    ],
)
def test_malformed_settings_name_the_variable(data_dir, set_env, variable, value, expected) -> None:
    set_env(**{variable: value})
    with pytest.raises(ConfigError) as error:
        get_settings()
    assert expected in str(error.value)
