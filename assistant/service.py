"""Start the assistant at boot: a systemd unit written from assistant/templates/, enabled with systemctl.

A user unit (the default) runs as the caregiver's user, next to that user's PulseAudio and settings;
`loginctl enable-linger` makes it start at boot without anyone logging in. A system unit (--system)
runs as a named user from /etc/systemd/system. Where systemctl cannot be used (containers, CI), the
unit is still written and the exact commands to enable it are printed, so nothing is left half done.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import InputError

UNIT_NAME = "calf-assistant.service"
TEMPLATE = Path(__file__).resolve().parent / "templates" / UNIT_NAME
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


@dataclass(frozen=True)
class Scope:
    """Where a unit lives and how systemctl reaches it."""

    system: bool
    unit_dir: Path
    user: str
    """The account the assistant runs as (the caregiver's or the older person's login)."""

    @property
    def unit_path(self) -> Path:
        return self.unit_dir / UNIT_NAME

    def systemctl(self, *arguments: str) -> list[str]:
        return ["systemctl", *([] if self.system else ["--user"]), *arguments]

    @property
    def journal(self) -> str:
        return f"journalctl {'' if self.system else '--user '}-u calf-assistant"


@dataclass(frozen=True)
class ServiceState:
    installed: bool
    enabled: bool
    active: bool
    systemd: bool
    """False when systemctl cannot be asked (no systemd running here), so enabled/active are unknown."""

    path: Path
    scope: Scope


def user_unit_dir() -> Path:
    # systemd --user reads $XDG_CONFIG_HOME/systemd/user, falling back to ~/.config like we do.
    value = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(value) if value and os.path.isabs(value) else Path.home() / ".config"
    return base / "systemd" / "user"


def _service_user() -> str:
    # Under sudo the unit should run as the person who asked, not as root.
    return os.environ.get("SUDO_USER") or getpass.getuser()


def scope_for(system: bool, unit_dir: Path | None = None, user: str | None = None) -> Scope:
    default = SYSTEM_UNIT_DIR if system else user_unit_dir()
    return Scope(system=system, unit_dir=unit_dir or default, user=user or _service_user())


def executable() -> str:
    """The calf-assistant launcher of this installation (the venv's, not whatever is first on PATH)."""
    beside = Path(sys.executable).parent / "calf-assistant"
    if beside.is_file():
        return str(beside)
    found = shutil.which("calf-assistant")
    if found:
        return found
    return f"{sys.executable} -m assistant"


def _system_identity(user: str) -> tuple[str, str]:
    """User= lines and the runtime folder a system unit needs to reach that user's sound server."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        raise InputError(f"there is no user '{user}' on this system; give the login that should run the assistant") from None
    identity = f"User={user}\nSupplementaryGroups=audio\n"
    environment = f"Environment=XDG_RUNTIME_DIR=/run/user/{uid}\n"
    return identity, environment


def render_unit(scope: Scope, exec_start: str | None = None) -> str:
    exec_start = exec_start or executable()
    if scope.system:
        identity, environment = _system_identity(scope.user)
        after, wants, wanted_by, prefix = "sound.target", "sound.target", "multi-user.target", ""
    else:
        identity, environment = "", ""
        after, wants, wanted_by, prefix = "sound.target pulseaudio.service pipewire-pulse.service", "sound.target", "default.target", "--user "
    return TEMPLATE.read_text(encoding="utf-8").format(
        exec_start=exec_start,
        identity=identity,
        environment=environment,
        after=after,
        wants=wants,
        wanted_by=wanted_by,
        scope=prefix,
    )


def systemd_available(scope: Scope) -> bool:
    """True when systemctl can really talk to a running systemd for this scope."""
    if shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
        return False
    if scope.system:
        return True
    probe = subprocess.run(scope.systemctl("show-environment"), capture_output=True, text=True, timeout=10)
    return probe.returncode == 0


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def enable_commands(scope: Scope) -> list[list[str]]:
    commands = [scope.systemctl("daemon-reload"), scope.systemctl("enable", "--now", UNIT_NAME)]
    if not scope.system:
        # Without linger a user unit starts only when that user logs in, not at boot.
        commands.insert(0, ["loginctl", "enable-linger", scope.user])
    return commands


def disable_commands(scope: Scope) -> list[list[str]]:
    return [scope.systemctl("disable", "--now", UNIT_NAME)]


def _write_unit(scope: Scope, text: str) -> Path:
    scope.unit_dir.mkdir(parents=True, exist_ok=True)
    temporary = scope.unit_path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o644)
    os.replace(temporary, scope.unit_path)
    return scope.unit_path


def install(scope: Scope, *, use_systemctl: bool | None = None, out=print) -> int:
    path = _write_unit(scope, render_unit(scope))
    out(f"wrote {path}")
    commands = enable_commands(scope)
    if use_systemctl is None:
        use_systemctl = systemd_available(scope)
    if not use_systemctl:
        out("systemd is not running here, so the service was not started. On the device, run:")
        for command in commands:
            out("  " + " ".join(command))
        return 0
    for command in commands:
        result = _run(command)
        if result.returncode != 0:
            out(f"'{' '.join(command)}' failed: {(result.stderr or result.stdout).strip()}")
            out(f"fix the problem above, then run: {' '.join(command)}")
            return 1
    out(f"calf-assistant now starts at boot and restarts after a failure; logs: {scope.journal}")
    return 0


def uninstall(scope: Scope, *, use_systemctl: bool | None = None, out=print) -> int:
    if use_systemctl is None:
        use_systemctl = systemd_available(scope)
    if use_systemctl and scope.unit_path.exists():
        for command in disable_commands(scope):
            _run(command)  # a unit that was never enabled fails to disable; that is fine
    existed = scope.unit_path.exists()
    scope.unit_path.unlink(missing_ok=True)
    if use_systemctl:
        _run(scope.systemctl("daemon-reload"))
    elif existed:
        out("systemd is not running here; if the unit was enabled on the device, also run:")
        out("  " + " ".join(disable_commands(scope)[0]))
    out(f"removed {scope.unit_path}" if existed else f"no unit was installed at {scope.unit_path}")
    return 0


def state(scope: Scope, *, use_systemctl: bool | None = None) -> ServiceState:
    installed = scope.unit_path.is_file()
    if use_systemctl is None:
        use_systemctl = systemd_available(scope)
    enabled = active = False
    if use_systemctl and installed:
        enabled = _run(scope.systemctl("is-enabled", "--quiet", UNIT_NAME)).returncode == 0
        active = _run(scope.systemctl("is-active", "--quiet", UNIT_NAME)).returncode == 0
    return ServiceState(installed, enabled, active, use_systemctl, scope.unit_path, scope)


def status(scope: Scope, *, use_systemctl: bool | None = None, out=print) -> int:
    current = state(scope, use_systemctl=use_systemctl)
    if not current.installed:
        out(f"not installed ({current.path}); install with: calf-assistant service install{' --system' if scope.system else ''}")
        return 1
    if not current.systemd:
        out(f"installed at {current.path}; systemd is not running here, so its state is unknown")
        return 0
    out(f"installed at {current.path}; {'enabled' if current.enabled else 'not enabled'} at boot; "
        f"{'running' if current.active else 'not running'}")
    if not current.active:
        out(f"start it with: {' '.join(scope.systemctl('restart', UNIT_NAME))}; see why it stopped: {current.scope.journal}")
        return 1
    return 0


def service_command(args, settings) -> int:
    scope = scope_for(bool(getattr(args, "system", False)))
    if scope.system and os.geteuid() != 0 and args.action != "status":
        raise InputError(f"a system unit is written to {SYSTEM_UNIT_DIR}; run this with sudo")
    if args.action == "install":
        mode = getattr(getattr(settings, "activation", None), "mode", "")
        if mode == "enter":
            print("note: activation is the Enter key, which a service has no keyboard for; "
                  "choose a button or wake phrase with: calf-assistant setup")
        return install(scope)
    if args.action == "uninstall":
        return uninstall(scope)
    return status(scope)
