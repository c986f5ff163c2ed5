"""Real models that ship inside PyPI wheels, for tests, benchmarks and the demo (no model hub).

``rapidocr-onnxruntime`` 1.4.4 carries PaddleOCR's three ONNX models (text detection, direction
classification, recognition). :func:`wheel_model` downloads the wheel once with pip (PyPI is the only
registry these machines reach) and keeps the extracted model under ``~/.cache/motherboard/models/``,
keyed by package and version, with the digest checked on every use.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from motherboard.models.digests import digest_file
from motherboard.models.errors import ModelError
from motherboard.models.tensors import TensorSpec


@dataclass(frozen=True)
class WheelModel:
    """A model file inside a wheel, with the input shape it is meant to be compiled for."""

    package: str
    version: str
    member: str
    sha256: str
    inputs: tuple[TensorSpec, ...]
    description: str

    @property
    def file_name(self) -> str:
        return Path(self.member).name


_OCR = ("rapidocr-onnxruntime", "1.4.4")
MODELS: dict[str, WheelModel] = {
    "ocr-cls": WheelModel(
        *_OCR,
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        (TensorSpec("x", "FP32", (-1, 3, 48, 192)),),
        "PP-OCR text direction classifier (MobileNetV3, 0.6 MB): 3×48×192 crops → 2 classes",
    ),
    "ocr-det": WheelModel(
        *_OCR,
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        (TensorSpec("x", "FP32", (1, 3, 320, 320)),),
        "PP-OCRv4 text detector (DBNet, 4.7 MB): an image → a text probability map",
    ),
    "ocr-rec": WheelModel(
        *_OCR,
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        (TensorSpec("x", "FP32", (-1, 3, 48, 320)),),
        "PP-OCRv4 text recogniser (SVTR, 10.9 MB): 3×48×320 crops → 40 steps × 6,625 characters",
    ),
}


def cache_dir() -> Path:
    import os

    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "motherboard" / "models"


def wheel_model(name: str) -> Path:
    """The path of a wheel-shipped model, downloading and extracting its wheel on first use."""
    try:
        spec = MODELS[name]
    except KeyError:
        raise ModelError(f"model {name!r} is unknown; known: {', '.join(MODELS)}") from None
    folder = cache_dir() / f"{spec.package}-{spec.version}"
    path = folder / spec.file_name
    if not path.exists():
        _extract(spec.package, spec.version, folder)
    if digest_file(path) != f"sha256:{spec.sha256}":
        raise ModelError(f"{path}: digest does not match the pinned {spec.sha256}; delete it to fetch again")
    return path


def _extract(package: str, version: str, folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="motherboard-wheel-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "-d", tmp, f"{package}=={version}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ModelError(f"cannot download {package}=={version} from PyPI: {proc.stderr.strip()}")
        staging = Path(tmp) / "models"
        staging.mkdir()
        with zipfile.ZipFile(wheels[0]) as zf:
            for member in zf.namelist():
                if member.endswith(".onnx"):
                    (staging / Path(member).name).write_bytes(zf.read(member))
        folder.parent.mkdir(parents=True, exist_ok=True)
        if not folder.exists():  # another process may have extracted it meanwhile
            staging.replace(folder)
