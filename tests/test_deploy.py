"""The deployment files stay true to the CLI, though no Docker engine runs here to try them."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import build_parser
from app.config import ConfigError, load_settings
from app.secret_policy import new_secret
from tests.conftest import REPO

COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = {
    name: spec
    for name, spec in SERVICES.items()
    if str(spec.get("image", "")).startswith("stablecheckout")
}
MOUNTED_CONFIG = "/etc/stablecheckout/config.toml"


def test_the_promised_topology() -> None:
    assert {
        "postgres",
        "redis",
        "migrate",
        "api1",
        "api2",
        "watch1",
        "watch2",
        "proxy",
        "demo",
    } <= set(SERVICES)
    assert SERVICES["demo"]["profiles"] == ["demo"]


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_command_is_a_valid_cli_call(name: str) -> None:
    command = OURS[name]["command"]
    args = build_parser().parse_args(command)
    assert args.command in {"serve", "watch", "migrate", "dev"}
    if args.command in {"serve", "watch", "migrate"}:
        assert args.config == MOUNTED_CONFIG
        mounts = [v.split(":")[1] for v in OURS[name].get("volumes", [])]
        assert MOUNTED_CONFIG in mounts
        env = OURS[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["REDIS_URL"].startswith("redis://")
    if name.startswith("api"):
        assert args.command == "serve" and args.api_only and args.listen == "0.0.0.0:8080"
    if name.startswith("watch"):
        assert args.command == "watch"


def test_startup_order() -> None:
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api1", "api2", "watch1", "watch2"):
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert SERVICES["migrate"]["restart"] == "no"


def test_proxy_reaches_both_replicas_and_upgrades_websockets() -> None:
    nginx = (REPO / "deploy" / "nginx.conf").read_text()
    assert set(re.findall(r"server (api\d):8080", nginx)) == {"api1", "api2"}
    assert "proxy_set_header Upgrade $http_upgrade" in nginx
    source = SERVICES["proxy"]["volumes"][0].split(":")[0]
    assert (REPO / source).resolve() == (REPO / "deploy" / "nginx.conf").resolve()


def test_mounted_config_refuses_its_placeholders_and_loads_with_real_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As shipped, the file must not start a server: its secrets are public."""
    with pytest.raises(ConfigError) as info:
        load_settings(REPO / "deploy" / "config.toml")
    message = str(info.value)
    assert "admin.secret" in message and "merchant.secret" in message
    assert "stablecheckout gen-secret" in message
    monkeypatch.setenv("STABLECHECKOUT_MERCHANT__SECRET", new_secret())
    monkeypatch.setenv("STABLECHECKOUT_ADMIN__SECRET", new_secret())
    settings = load_settings(REPO / "deploy" / "config.toml")
    assert settings.server.listen == "0.0.0.0:8080"
    assert settings.server.trusted_proxies, "behind nginx, limits must key on the shopper"


def test_proxy_cuts_off_slow_clients_and_forwards_the_client_address() -> None:
    nginx = (REPO / "deploy" / "nginx.conf").read_text()
    for directive in (
        "client_header_timeout",
        "client_body_timeout",
        "send_timeout",
        "limit_conn per_client",
    ):
        assert re.search(rf"^\s*{directive} ", nginx, re.M), directive
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in nginx


def test_dockerfile_is_small_and_non_root() -> None:
    text = (REPO / "Dockerfile").read_text()
    runtime = text.split("AS runtime", 1)[1].split("FROM ", 1)[0]
    assert re.search(r"^USER stablecheckout$", runtime, re.M)
    assert 'ENTRYPOINT ["stablecheckout"]' in runtime
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", runtime, re.M).group(1))  # type: ignore[union-attr]
    assert build_parser().parse_args(cmd).command == "serve"
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in shlex.split(source):
            assert (REPO / path).exists(), path
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "node_modules", ".git"} <= set(ignored)
    assert Path(REPO / "uv.lock").exists()


def test_proxy_keeps_metrics_and_signatures_private() -> None:
    """Issue 14, item 16: the public proxy neither forwards `/metrics` nor logs query strings."""
    nginx = (REPO / "deploy" / "nginx.conf").read_text()
    assert re.search(r"location = /metrics \{\s*return 404;", nginx)
    log_format = re.search(r"log_format stablecheckout ([^;]+);", nginx)
    assert log_format is not None and "$request " not in log_format.group(1) + " "
    assert "$args" not in log_format.group(1) and "$request_uri" not in log_format.group(1)
    assert "access_log /var/log/nginx/access.log stablecheckout;" in nginx


def test_runtime_image_leaves_the_development_tooling_out() -> None:
    """Issue 15: `devkit` (anvil driver, simulators, demo shop) ships only in the `demo` image."""
    text = (REPO / "Dockerfile").read_text()
    before_demo, demo = text.split("AS demo", 1)
    assert "devkit" not in before_demo.replace("# ", "").split("FROM", 1)[1]
    assert re.search(r"^COPY devkit \./devkit$", demo, re.M)


def test_the_product_never_imports_the_development_tooling() -> None:
    """`app/` and `watchers/` import `devkit` nowhere, except the CLI's lazy `dev` command."""
    import ast

    offenders = []
    for path in [*(REPO / "app").rglob("*.py"), *(REPO / "watchers").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "devkit" or n.startswith("devkit.") for n in names):
                lazy = path.name == "cli.py" and node.col_offset > 0
                if not lazy:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
