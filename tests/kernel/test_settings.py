"""Settings: openitsm.toml overlaid with OPENITSM_* variables, and each plugin's own table."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from openitsm.kernel import ConfigurationError, Kernel
from openitsm.kernel.settings import load_settings
from openitsm.kernel.testing import gql


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openitsm.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./openitsm.toml of the checkout is read."""
    monkeypatch.chdir(tmp_path)


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(environ={})
    assert settings.modules is None
    assert settings.graphql.max_depth == 12
    assert settings.server.port == 8000


def test_file_values_with_environment_on_top_and_typed(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'debug = false\nlanguage = "en"\n[server]\nport = 9000\nhost = "0.0.0.0"\n'
        "[graphql]\nmax_depth = 10\n",
    )
    settings = load_settings(
        config,
        environ={
            "OPENITSM_SERVER_PORT": "9100",
            "OPENITSM_DEBUG": "true",
            "OPENITSM_DATA_DIR": str(tmp_path / "data"),
            "OPENITSM_MODULES": "incident, cmdb",
            "OPENITSM_DATABASE_URL": "postgresql://db/openitsm",
        },
    )
    assert settings.server.port == 9100  # the environment wins over the file
    assert settings.server.host == "0.0.0.0"
    assert settings.debug is True
    assert settings.graphql.max_depth == 10
    assert settings.language == "en"
    assert settings.data_dir == tmp_path / "data"
    assert settings.modules == ["incident", "cmdb"]
    assert settings.database_url == "postgresql+psycopg://db/openitsm"
    assert settings.source == str(config)


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    config = write(tmp_path, "[queue]\nworkers = 7\n")
    assert load_settings(environ={"OPENITSM_CONFIG": str(config)}).queue.workers == 7


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"does not exist.*OPENITSM_CONFIG"):
        load_settings(environ={"OPENITSM_CONFIG": str(tmp_path / "nope.toml")})


def test_list_setting_from_environment(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"OPENITSM_ATTACHMENTS_BLOCKED_TYPES": "application/x-foo, application/x-bar"},
    )
    assert settings.attachments.blocked_types == ["application/x-foo", "application/x-bar"]
    settings = load_settings(environ={"OPENITSM_ATTACHMENTS_BLOCKED_TYPES": '["a/b"]'})
    assert settings.attachments.blocked_types == ["a/b"]


def test_unknown_section_names_it_and_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(write(tmp_path, "[grahpql]\nmax_depth = 3\n"), environ={})
    assert "grahpql: unknown key; did you mean 'graphql'?" in str(raised.value)


def test_unknown_key_names_it_and_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(write(tmp_path, "[graphql]\nmax_dept = 3\n"), environ={})
    assert "[graphql] max_dept: unknown key; did you mean 'max_depth'?" in str(raised.value)


def test_unknown_environment_variable_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ={"OPENITSM_GRAPHQL_MAX_DEPT": "3"})
    assert "OPENITSM_GRAPHQL_MAX_DEPT; did you mean OPENITSM_GRAPHQL_MAX_DEPTH?" in str(
        raised.value
    )


def test_bad_value_names_the_key_the_variable_and_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(write(tmp_path, '[server]\nport = "eighty"\n'), environ={})
    message = str(raised.value)
    assert "[server] port" in message
    assert "'eighty'" in message
    assert "OPENITSM_SERVER_PORT" in message


def test_out_of_range_value_from_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\[graphql\] max_depth.*less than or equal"):
        load_settings(environ={"OPENITSM_GRAPHQL_MAX_DEPTH": "999"})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(config, environ={})


def test_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(write(tmp_path, 'secret_key = "hunter2"\n'), environ={})
    message = str(raised.value)
    assert "secret" in message and "OPENITSM_SECRET_KEY" in message
    assert "hunter2" not in message


def test_secret_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={"OPENITSM_SECRET_KEY": "from-env"})
    assert settings.secret() == "from-env"
    assert "from-env" not in repr(settings)


def test_generated_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(environ={"OPENITSM_DATA_DIR": str(tmp_path)})
    first = settings.secret()
    assert len(first) > 40
    assert load_settings(environ={"OPENITSM_DATA_DIR": str(tmp_path)}).secret() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


# --- plugin settings: validated against the Settings the plugin declares -------------


def dummy_kernel(tmp_path: Path, dummy_plugin: ModuleType, config: str, **environ: str) -> Kernel:
    path = write(tmp_path, f'modules = ["dummy"]\n{config}')
    env = {"OPENITSM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **environ}
    return Kernel(load_settings(path, environ=env), extra_plugins={"dummy": dummy_plugin})


def test_plugin_settings_from_file_and_environment(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    kernel = dummy_kernel(
        tmp_path,
        dummy_plugin,
        '[plugins.dummy]\ngreeting = "ni hao"\nlimit = 3\n',
        OPENITSM_PLUGINS_DUMMY_LIMIT="9",
        OPENITSM_PLUGINS_DUMMY_API_TOKEN="tok",
    )
    try:
        plugin_settings = kernel.plugins.settings_of("dummy")
        assert isinstance(plugin_settings, dummy_plugin.Settings)
        assert plugin_settings.greeting == "ni hao"
        assert plugin_settings.limit == 9
        assert plugin_settings.api_token.get_secret_value() == "tok"
        assert gql(kernel, "{ dummyGreeting }") == {"data": {"dummyGreeting": "ni hao"}}
    finally:
        kernel.close()


def test_plugin_setting_with_a_bad_value_names_key_and_variable(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        dummy_kernel(tmp_path, dummy_plugin, '[plugins.dummy]\nlimit = "many"\n')
    message = str(raised.value)
    assert "[plugins.dummy] limit" in message
    assert "OPENITSM_PLUGINS_DUMMY_LIMIT" in message
    assert "'many'" in message


def test_plugin_setting_with_a_bad_value_from_environment(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    with pytest.raises(ConfigurationError, match=r"\[plugins.dummy\] limit.*'lots'"):
        dummy_kernel(tmp_path, dummy_plugin, "", OPENITSM_PLUGINS_DUMMY_LIMIT="lots")


def test_unknown_plugin_key_suggests_the_right_one(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        dummy_kernel(tmp_path, dummy_plugin, '[plugins.dummy]\ngreting = "hi"\n')
    assert "[plugins.dummy] greting: unknown key; did you mean 'greeting'?" in str(raised.value)


def test_unknown_plugin_table_suggests_the_right_one(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        dummy_kernel(tmp_path, dummy_plugin, "[plugins.dumy]\nlimit = 1\n")
    assert "[plugins.dumy] names no installed plugin; did you mean [plugins.dummy]?" in str(
        raised.value
    )


def test_unknown_plugin_variable_suggests_the_right_one(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        dummy_kernel(tmp_path, dummy_plugin, "", OPENITSM_PLUGINS_DUMMY_LIMT="1")
    assert "did you mean OPENITSM_PLUGINS_DUMMY_LIMIT?" in str(raised.value)


def test_plugin_secret_in_the_file_is_refused(tmp_path: Path, dummy_plugin: ModuleType) -> None:
    with pytest.raises(ConfigurationError) as raised:
        dummy_kernel(tmp_path, dummy_plugin, '[plugins.dummy]\napi_token = "s3cr3t"\n')
    message = str(raised.value)
    assert "[plugins.dummy] api_token is a secret" in message
    assert "OPENITSM_PLUGINS_DUMMY_API_TOKEN" in message
    assert "s3cr3t" not in message


def test_settings_of_a_disabled_plugin_are_left_alone(
    tmp_path: Path, dummy_plugin: ModuleType
) -> None:
    path = write(tmp_path, 'modules = []\n[plugins.dummy]\nlimit = "not checked while off"\n')
    env = {"OPENITSM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    kernel = Kernel(load_settings(path, environ=env), extra_plugins={"dummy": dummy_plugin})
    try:
        assert kernel.plugins.plugins["dummy"].enabled is False
    finally:
        kernel.close()
