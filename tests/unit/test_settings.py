from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import DEFAULT_JWT_SECRET, Settings, SettingsError, load_settings

SECRET = "x" * 40


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings({}, env_file=None)
    assert settings == Settings()
    assert settings.mode == "embedded"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert (settings.bus, settings.dispatcher, settings.objects, settings.venue) == (
        "memory",
        "inline",
        "local",
        "simulated",
    )


def test_values_are_coerced_from_strings() -> None:
    settings = load_settings(
        {
            "QUANT_PORT": "9000",
            "QUANT_REPLAY_SPEED": "2.5",
            "QUANT_BOOTSTRAP_ADMIN": "false",
            "QUANT_S3_ENDPOINT_URL": "",
            "OTHER": "ignored",
        },
        env_file=None,
    )
    assert settings.port == 9000
    assert settings.replay_speed == 2.5
    assert settings.bootstrap_admin is False
    assert settings.s3_endpoint_url is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"QUANT_PORT": "eighty"}, "QUANT_PORT: Expected `int`"),
        ({"QUANT_PORT": "70000"}, "QUANT_PORT: `port` must be in 1..65535"),
        ({"QUANT_BUS": "kafka"}, "QUANT_BUS: Invalid enum value 'kafka'"),
        ({"QUANT_MODE": "production"}, "QUANT_JWT_SECRET: `jwt_secret` is the embedded default"),
        (
            {"QUANT_MODE": "production", "QUANT_JWT_SECRET": "short"},
            "QUANT_JWT_SECRET: `jwt_secret` must be at least 32",
        ),
        ({"QUANT_REDIS_PREFIX": "a b"}, "QUANT_REDIS_PREFIX"),
        (
            {"QUANT_ACCESS_TOKEN_TTL_S": "900", "QUANT_REFRESH_TOKEN_TTL_S": "60"},
            "QUANT_REFRESH_TOKEN_TTL_S",
        ),
        ({"QUANT_DATABSE_URL": "sqlite://"}, "unknown setting(s): QUANT_DATABSE_URL"),
    ],
)
def test_bad_settings_name_the_environment_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    assert message in str(caught.value)


def test_production_mode_accepts_a_real_secret() -> None:
    settings = load_settings(
        {"QUANT_MODE": "production", "QUANT_JWT_SECRET": SECRET}, env_file=None
    )
    assert settings.jwt_secret == SECRET != DEFAULT_JWT_SECRET


def test_environment_overrides_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("QUANT_PORT=8100\nQUANT_HOST=0.0.0.0\n# a comment\n")
    settings = load_settings({"QUANT_PORT": "8200"}, env_file=env_file)
    assert settings.port == 8200
    assert settings.host == "0.0.0.0"
    assert load_settings({}, env_file=tmp_path / "missing.env") == Settings()


CTP = {
    "QUANT_VENUE": "ctp",
    "QUANT_CTP_MD_FRONTS": "tcp://180.168.146.187:10211, tcp://180.168.146.187:10212",
    "QUANT_CTP_TD_FRONTS": "tcp://180.168.146.187:10201",
    "QUANT_CTP_BROKER_ID": "9999",
    "QUANT_CTP_USER_ID": "123456",
    "QUANT_CTP_PASSWORD": "hunter2-secret",
    "QUANT_CTP_APP_ID": "simnow_client_test",
    "QUANT_CTP_AUTH_CODE": "0000000000000000",
}


def test_the_ctp_venue_takes_its_fronts_and_account_from_settings() -> None:
    settings = load_settings(CTP, env_file=None)
    assert settings.ctp_fronts == (
        ("tcp://180.168.146.187:10211", "tcp://180.168.146.187:10212"),
        ("tcp://180.168.146.187:10201",),
    )
    assert (settings.ctp_broker_id, settings.ctp_user_id) == ("9999", "123456")
    # The account it trades is the CTP user's unless named; subscriptions default to all.
    assert settings.ctp_trading_account == "123456"
    assert settings.ctp_symbol_list == ()
    named = load_settings(
        {**CTP, "QUANT_CTP_ACCOUNT_ID": "desk-1", "QUANT_CTP_SYMBOLS": "rb2405, IF2401"},
        env_file=None,
    )
    assert named.ctp_trading_account == "desk-1"
    assert named.ctp_symbol_list == ("rb2405", "IF2401")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"QUANT_CTP_MD_FRONTS": ""}, "QUANT_CTP_MD_FRONTS: `ctp_md_fronts` is required"),
        ({"QUANT_CTP_TD_FRONTS": "180.168.146.187:10201"}, "QUANT_CTP_TD_FRONTS: "),
        ({"QUANT_CTP_PASSWORD": ""}, "QUANT_CTP_PASSWORD: `ctp_password` is required"),
        ({"QUANT_CTP_AUTH_CODE": ""}, "`ctp_app_id` and `ctp_auth_code` go together"),
        ({"QUANT_CTP_ACCOUNT_ID": "my account"}, "QUANT_CTP_ACCOUNT_ID: `ctp_account_id`"),
        ({"QUANT_CTP_ACCOUNT_OWNER": ""}, "`ctp_account_owner` must name the user"),
        ({"QUANT_CTP_SYMBOLS": "rb2405, rb 2410"}, "`ctp_symbols` entries must be contract"),
    ],
)
def test_an_incomplete_ctp_configuration_names_what_is_missing(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**CTP, **change}, env_file=None)
    assert message in str(caught.value)


def test_secrets_never_show_in_the_settings_printed() -> None:
    settings = load_settings(
        {**CTP, "QUANT_JWT_SECRET": "a-jwt-secret-of-enough-length-0123456789"}, env_file=None
    )
    shown = f"{settings!r} {settings}"
    for secret in ("hunter2-secret", "0000000000000000", "a-jwt-secret-of-enough-length"):
        assert secret not in shown
    assert "ctp_password=<set>" in shown
    assert "ctp_user_id='123456'" in shown  # not a secret: shown as is
