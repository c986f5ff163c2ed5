"""Run an aarch64 TVM artifact on an x86-64 machine under ``qemu-aarch64`` user emulation.

Edge nodes are Arm; the machines that build and test Motherboard are not. To check that a cross-compiled
artifact really computes what the model does, a small C++ driver (``run_vm.cc``, built with Debian's
``g++-aarch64-linux-gnu`` against TVM FFI's headers) loads the artifact with the TVM runtime libraries
taken from the aarch64 wheels on PyPI and runs ``main`` under qemu. Driver and libraries are cached under
``~/.cache/motherboard/aarch64/`` keyed by the TVM versions and the driver's source digest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from motherboard.models.digests import digest_file, short
from motherboard.models.errors import ModelError

CROSS_CXX = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64"
SYSROOT = Path("/usr/aarch64-linux-gnu")
DRIVER_SOURCE = Path(__file__).with_name("run_vm.cc")
_WHEEL_LIBS = {"apache-tvm": "tvm/lib/libtvm_runtime.so", "apache-tvm-ffi": "tvm_ffi/lib/libtvm_ffi.so"}


def cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "motherboard" / "aarch64"


def missing_tools() -> list[str]:
    """The host tools emulation needs that are not installed (Debian packages in parentheses)."""
    wanted = {CROSS_CXX: "g++-aarch64-linux-gnu", QEMU: "qemu-user", "ld.lld": "lld"}
    return [f"{tool} ({package})" for tool, package in wanted.items() if shutil.which(tool) is None]


def _runtime_libs(root: Path) -> Path:
    """The aarch64 TVM runtime libraries, from the aarch64 wheels of the versions installed here."""
    libs = root / f"tvm-{version('apache-tvm')}-ffi-{version('apache-tvm-ffi')}"
    if all((libs / Path(member).name).exists() for member in _WHEEL_LIBS.values()):
        return libs
    with tempfile.TemporaryDirectory(prefix="motherboard-aarch64-") as tmp:
        pins = [f"{name}=={version(name)}" for name in _WHEEL_LIBS]
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--platform", "manylinux_2_28_aarch64", "--python-version", "3.11", "-d", tmp, *pins],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ModelError(
                f"cannot download the aarch64 TVM wheels ({' '.join(pins)}): {proc.stderr.strip()}"
            )
        staging = Path(tmp) / "libs"
        staging.mkdir()
        for wheel in Path(tmp).glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                for member in _WHEEL_LIBS.values():
                    if member in zf.namelist():
                        (staging / Path(member).name).write_bytes(zf.read(member))
        libs.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(libs, ignore_errors=True)
        shutil.move(staging, libs)
    return libs


def _driver(root: Path, libs: Path) -> Path:
    key = short(digest_file(DRIVER_SOURCE), 16) + "-" + libs.name
    driver = root / f"run_vm-{key}"
    if driver.exists():
        return driver
    import tvm_ffi

    include = Path(tvm_ffi.__file__).parent / "include"
    tmp = driver.with_suffix(".tmp")
    proc = subprocess.run(
        [CROSS_CXX, "-std=c++17", "-O1", f"-I{include}", str(DRIVER_SOURCE), "-o", str(tmp),
         f"-L{libs}", "-ltvm_ffi", "-ltvm_runtime"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ModelError(f"building the aarch64 driver failed: {proc.stderr.strip()[-2000:]}")
    tmp.replace(driver)
    return driver


def run_aarch64(
    artifact: Path, inputs: Sequence[np.ndarray[Any, Any]], timeout: float = 120
) -> list[np.ndarray[Any, Any]]:
    """Run an aarch64 artifact's ``main`` on float32 ``inputs`` under qemu; return its outputs."""
    missing = missing_tools()
    if missing:
        raise ModelError(
            f"aarch64 emulation needs {', '.join(missing)}: apt-get install them (make install does)"
        )
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    libs = _runtime_libs(root)
    driver = _driver(root, libs)
    with tempfile.TemporaryDirectory(prefix="motherboard-qemu-") as tmp:
        args = []
        for i, array in enumerate(inputs):
            path = Path(tmp) / f"in{i}.bin"
            np.ascontiguousarray(array, dtype=np.float32).tofile(path)
            args.append(f"{path}:{','.join(str(d) for d in array.shape)}")
        out = Path(tmp) / "out.bin"
        env = dict(os.environ, QEMU_LD_PREFIX=str(SYSROOT), LD_LIBRARY_PATH=str(libs))
        proc = subprocess.run(
            [QEMU, str(driver), str(artifact), str(out), *args],
            capture_output=True, text=True, env=env, timeout=timeout, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ModelError(f"{artifact} failed under {QEMU}: {proc.stderr.strip()[-2000:]}")
        return _read_outputs(out.read_bytes())


def _read_outputs(data: bytes) -> list[np.ndarray[Any, Any]]:
    outputs = []
    offset = 0
    while offset < len(data):
        ndim = int(np.frombuffer(data, np.int64, 1, offset)[0])
        offset += 8
        shape = tuple(int(d) for d in np.frombuffer(data, np.int64, ndim, offset))
        offset += 8 * ndim
        count = int(np.prod(shape))
        outputs.append(np.frombuffer(data, np.float32, count, offset).reshape(shape).copy())
        offset += 4 * count
    return outputs
