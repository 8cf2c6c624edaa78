"""The systemd unit: rendered from the packaged template, valid for systemd, written without systemd."""

from __future__ import annotations

import configparser
import getpass
import shutil
import subprocess

import pytest

from assistant import cli, service


def _parse(text: str) -> configparser.ConfigParser:
    # systemd allows repeated keys (Environment=); keep them all to check them.
    parser = configparser.ConfigParser(strict=False, interpolation=None, dict_type=dict)
    parser.optionxform = str
    parser.read_string(text)
    return parser


@pytest.fixture(params=[False, True], ids=["user", "system"])
def scope(request, tmp_path):
    return service.scope_for(request.param, tmp_path / "units", user=getpass.getuser())


def test_unit_starts_run_restarts_with_back_off_and_logs_to_the_journal(scope):
    unit = _parse(service.render_unit(scope, exec_start="/opt/calf/.venv/bin/calf-assistant"))
    assert unit["Service"]["ExecStart"] == "/opt/calf/.venv/bin/calf-assistant run"
    assert unit["Service"]["Restart"] == "on-failure"
    assert int(unit["Service"]["RestartSec"]) >= 5
    assert int(unit["Unit"]["StartLimitBurst"]) >= 3 and int(unit["Unit"]["StartLimitIntervalSec"]) > 0
    assert unit["Service"]["StandardOutput"] == "journal"
    assert unit["Service"]["UMask"] == "0077"
    expected_target = "multi-user.target" if scope.system else "default.target"
    assert unit["Install"]["WantedBy"] == expected_target
    assert ("User" in unit["Service"]) == scope.system
    assert "network-online.target" not in service.render_unit(scope)


def test_unit_passes_systemd_analyze_verify(scope):
    """systemd's own parser: exit 0 is not enough, it only warns about unknown keys."""
    assert shutil.which("systemd-analyze"), "systemd-analyze comes with the systemd package (scripts/setup)"
    service.install(scope, use_systemctl=False, out=lambda line: None)
    result = subprocess.run(["systemd-analyze", "verify", str(scope.unit_path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "calf-assistant.service" in line]
    assert result.returncode == 0, result.stderr
    assert problems == [], problems


def test_install_without_systemd_writes_the_unit_and_prints_the_commands(scope):
    lines = []
    assert service.install(scope, use_systemctl=False, out=lines.append) == 0
    assert scope.unit_path.is_file()
    printed = "\n".join(lines)
    assert "enable --now calf-assistant.service" in printed
    assert ("loginctl enable-linger" in printed) == (not scope.system)
    # Installing twice gives the same file (idempotent).
    before = scope.unit_path.read_text()
    service.install(scope, use_systemctl=False, out=lines.append)
    assert scope.unit_path.read_text() == before


def test_status_and_uninstall(scope):
    lines = []
    assert service.status(scope, use_systemctl=False, out=lines.append) == 1
    assert "service install" in lines[-1]
    service.install(scope, use_systemctl=False, out=lines.append)
    assert service.status(scope, use_systemctl=False, out=lines.append) == 0
    assert service.uninstall(scope, use_systemctl=False, out=lines.append) == 0
    assert not scope.unit_path.exists()
    assert service.uninstall(scope, use_systemctl=False, out=lines.append) == 0  # twice is fine


def test_systemctl_is_called_in_order_when_systemd_runs(tmp_path, monkeypatch):
    scope = service.scope_for(False, tmp_path, user="someone")
    calls = []
    monkeypatch.setattr(service, "_run", lambda command: calls.append(command) or subprocess.CompletedProcess(command, 0, "", ""))
    assert service.install(scope, use_systemctl=True, out=lambda line: None) == 0
    assert calls == [
        ["loginctl", "enable-linger", "someone"],
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "calf-assistant.service"],
    ]


def test_service_command_writes_the_user_unit_in_the_xdg_folder(monkeypatch, capsys, _private_homes):
    monkeypatch.setattr(service, "systemd_available", lambda scope: False)
    assert cli.main(["service", "install"]) == 0
    unit = _private_homes / "config" / "systemd" / "user" / "calf-assistant.service"
    assert unit.is_file()
    assert str(unit) in capsys.readouterr().out
    assert cli.main(["service", "status"]) == 0
    assert cli.main(["service", "uninstall"]) == 0
    assert not unit.exists()


def test_template_ships_inside_the_package():
    assert service.TEMPLATE.is_file()
    assert service.TEMPLATE.parent.parent.name == "assistant"
