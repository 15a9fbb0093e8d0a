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


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"AGENTFLOW_SMTP_URL": "smtp://mailer:hunter2@mail.example.com"},
            "AGENTFLOW_SMTP_URL: Value error, needs AGENTFLOW_MAIL_FROM",
        ),
        (
            {"AGENTFLOW_MAIL_FROM": "a@b.test", "AGENTFLOW_SMTP_URL": "http://mailer:hunter2@h"},
            "AGENTFLOW_SMTP_URL: Value error, must look like smtp://user:password@host:port",
        ),
        (
            {"AGENTFLOW_MAIL_FROM": "a@b.test", "AGENTFLOW_SMTP_URL": "smtp://u:hunter2@h:0"},
            "AGENTFLOW_SMTP_URL: Value error, the port must be a number from 1 to 65535",
        ),
        (
            {"AGENTFLOW_MAIL_FROM": "a@b.test", "AGENTFLOW_SMTP_URL": "smtps://h?starttls=true"},
            "AGENTFLOW_SMTP_URL: Value error, the only option is ?starttls=true, for smtp://",
        ),
        (
            {
                "AGENTFLOW_MAIL_FROM": "a@b.test",
                "AGENTFLOW_SMTP_URL": "smtp://h",
                "AGENTFLOW_SES_REGION": "eu-west-1",
            },
            "AGENTFLOW_SES_REGION: Value error, set AGENTFLOW_SMTP_URL or AGENTFLOW_SES_REGION",
        ),
        (
            {"AGENTFLOW_MAIL_FROM": "AgentFlow", "AGENTFLOW_SES_REGION": "eu-west-1"},
            "AGENTFLOW_MAIL_FROM: Value error, must be an email address",
        ),
    ],
)
def test_malformed_mail_settings_are_named_without_the_password(
    data_dir, set_env, values, expected
) -> None:
    set_env(
        **{"AGENTFLOW_MAIL_FROM": None, "AGENTFLOW_SMTP_URL": None, "AGENTFLOW_SES_REGION": None}
    )
    set_env(**values)
    with pytest.raises(ConfigError) as error:
        get_settings()
    assert expected in str(error.value)
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    "url", ["smtp://mail.example.com", "smtp://u:p%40ss@h:2525?starttls=true", "smtps://h:465"]
)
def test_the_mail_settings_take_the_three_kinds_of_smtp_url(data_dir, set_env, url) -> None:
    set_env(AGENTFLOW_MAIL_FROM="AgentFlow <noreply@b.test>", AGENTFLOW_SMTP_URL=url)
    assert get_settings().agentflow_smtp_url.get_secret_value() == url
