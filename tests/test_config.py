"""wsgidav.yaml: every invalid value is refused at start with a message naming the key."""

from __future__ import annotations

import pytest

from davserver.config import ConfigError, ServerConfig, load_config


def write(tmp_path, text: str):
    path = tmp_path / "wsgidav.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_the_defaults():
    config = load_config(None)
    assert config == ServerConfig()
    assert config.base_url() == "http://127.0.0.1:8080/"


def test_empty_file_gives_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "# nothing set\n")) == ServerConfig()


def test_a_full_valid_file(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    config = load_config(
        write(
            tmp_path,
            f"""
host: 0.0.0.0
port: 8443
database: postgresql://praxis@db/praxis
public_base_url: https://kalender.example.org/dav/
practice_name: Praxis am Park
timezone: Europe/Berlin
max_body_size: 2000000
threads: 4
processes: 2
log_level: WARNING
access_log: false
tls:
  certificate: {cert}
  private_key: {key}
sync:
  pseudonymize: true
  direction: server-to-device
  device_delete: delete
auth:
  cache_seconds: 30
  max_failures: 5
  realm: Praxis am Park
""",
        )
    )
    assert (config.port, config.threads, config.processes) == (8443, 4, 2)
    assert config.database == "postgresql://praxis@db/praxis"
    assert config.tls.certificate == str(cert)
    assert config.sync.pseudonymize is True and config.sync.device_delete == "delete"
    assert config.auth.max_failures == 5 and config.auth.lockout_seconds == 300
    assert config.access_log is False
    assert config.base_url() == "https://kalender.example.org/dav/"


@pytest.mark.parametrize(
    "text,key",
    [
        ("listen: 1\n", "listen"),
        ("port: eighty\n", "port"),
        ("port: 8080.5\n", "port"),
        ("port: true\n", "port"),
        ("port: 0\n", "port"),
        ("port: 65536\n", "port"),
        ("threads: 0\n", "threads"),
        ("processes: -2\n", "processes"),
        ("max_body_size: 100\n", "max_body_size"),
        ("timezone: Europe/Atlantis\n", "timezone"),
        ("timezone: 5\n", "timezone"),
        ("timezone:\n", "timezone"),
        ("database:\n", "database"),
        ("log_level: loud\n", "log_level"),
        ("log_level:\n", "log_level"),
        ("access_log: maybe\n", "access_log"),
        ("public_base_url: ftp://example.org/\n", "public_base_url"),
        ("public_base_url: kalender.example.org\n", "public_base_url"),
        ("tls: yes please\n", "tls"),
        ("tls:\n  certificate: /no/such/cert.pem\n  private_key: /no/such/key.pem\n", "tls.certificate"),
        ("tls:\n  certificate: /no/such/cert.pem\n", "tls"),
        ("tls:\n  ca: x\n", "tls.ca"),
        ("sync:\n  direction: both\n", "sync.direction"),
        ("sync:\n  device_delete: shred\n", "sync.device_delete"),
        ("sync:\n  pseudonymize: 1\n", "sync.pseudonymize"),
        ("auth:\n  max_failures: 0\n", "auth.max_failures"),
        ("auth:\n  max_failures: -3\n", "auth.max_failures"),
        ("auth:\n  cache_seconds: soon\n", "auth.cache_seconds"),
        ("auth:\n  realm: 'say \"hi\"'\n", "auth.realm"),
        ("auth:\n  realm: ''\n", "auth.realm"),
        ("base_url: http://x/\n", "base_url"),
        ("__class__: x\n", "__class__"),
        ("1: one\n", "1"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert message.startswith(key), message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["port: [1\n", "a: b: c\n", "\tport: 1\n"])
def test_invalid_yaml_names_the_file_and_line(tmp_path, text):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert "wsgidav.yaml" in str(err.value) and "YAML" in str(err.value)


@pytest.mark.parametrize("text", ["- port: 1\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, text))


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "missing.yaml")
