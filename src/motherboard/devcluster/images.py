"""Container images for the dev cluster's real nodes, built without Docker and without any registry.

Three images, each an OCI layout packed with ``umoci`` and cached under
``${MOTHERBOARD_CACHE:-~/.cache/motherboard}/images/<name>-<key>/``, where the key is a hash of everything
the image is made from (so a change rebuilds it and nothing else does):

- **pause** (``registry.k8s.io/pause:3.10``): the sandbox container, a few lines of Go in
  ``hack/images/pause``. Imported under the name containerd's CRI uses by default, so no pull is tried.
- **python** (``docker.io/motherboard/python:3.11-bookworm``): a Debian bookworm ``minbase`` with python3,
  made by ``mmdebstrap`` from Debian's mirror (about 80 s once).
- **project** (``docker.io/motherboard/device-plugin-simulated:<version>``, also tagged
  ``docker.io/motherboard/{motherboard,operator,scheduler}:<version>``, the chart's names): python + a layer with the package's dependencies, copied
  from this virtualenv's installed distributions (keyed by their names and versions; no download) + a small
  layer with ``src/motherboard`` and the simulated device plugin's config files (keyed by their content).
  It is what ``device-plugins/simulated/Dockerfile`` describes for real registries.

A real node imports them into its containerd with ``ctr images import`` (streamed, no tarball on disk) unless
containerd already holds the same manifest digest.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from motherboard import __version__
from motherboard.devcluster.paths import cache_dir, repo_root

Progress = Callable[[str], None]

RECIPE = "1"
"""Bumped when the way images are made changes, so every cached image is rebuilt."""
PAUSE_REF = "registry.k8s.io/pause:3.10"
PYTHON_TAG = "3.11-bookworm"
PYTHON_REF = f"docker.io/motherboard/python:{PYTHON_TAG}"
PROJECT_REPO = "docker.io/motherboard/device-plugin-simulated"
PROJECT_ALIAS_REPOS = (
    "docker.io/motherboard/motherboard",
    # The chart's operator and scheduler images (it sets their commands), so `helm install` runs them here.
    "docker.io/motherboard/operator",
    "docker.io/motherboard/scheduler",
)
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
DEBIAN_PACKAGES = ("python3", "lld")
"""``lld``: compile jobs run in the project's image and link TVM's shared libraries with ``ld.lld`` (x86-64 and
aarch64 alike, see :mod:`motherboard.models.backends.tvm`); without it only ONNX Runtime could build there."""
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"
"""Debian's python3 puts this on ``sys.path`` (pip's ``--target`` for a system install)."""
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NONROOT_HOOKS = (
    # The chart runs the operator and scheduler as 65532 (distroless' `nonroot`); kopf asks getpass.getuser()
    # for its identity, which fails for a uid without a passwd entry.
    "--customize-hook=echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >> \"$1/etc/passwd\"",
    "--customize-hook=echo 'nonroot:x:65532:' >> \"$1/etc/group\"",
)


class ImageError(RuntimeError):
    """An image could not be built or imported (a missing tool, a failed mmdebstrap, a containerd error)."""


@dataclass(frozen=True)
class Image:
    """A built image: its OCI layout in the cache and the references it is imported as."""

    layout: Path
    tag: str
    """The tag inside the layout (``org.opencontainers.image.ref.name``)."""
    refs: tuple[str, ...]

    @property
    def ref(self) -> str:
        return self.refs[0]

    def manifest_digest(self) -> str:
        index = json.loads((self.layout / "index.json").read_text())
        for desc in index.get("manifests", []):
            if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == self.tag:
                return str(desc["digest"])
        raise ImageError(f"{self.layout} has no tag {self.tag}")


def images_dir() -> Path:
    return cache_dir() / "images"


def _quiet(_: str) -> None:
    return None


def _run(argv: list[str], what: str, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ImageError(f"{what}: {argv[0]} is not installed (run `make system-packages`)") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ImageError(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout


def _digest(parts: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _cached(name: str, key: str, build: Callable[[Path], None], progress: Progress) -> Path:
    """The layout ``images/<name>-<key>``, built by ``build(staging)`` into a sibling and renamed into place."""
    final = images_dir() / f"{name}-{key}"
    if (final / "index.json").is_file():
        return final
    images_dir().mkdir(parents=True, exist_ok=True)
    for stale in images_dir().glob(f".{name}-*"):  # a build killed half-way
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-{key}.", dir=images_dir()))
    started = time.monotonic()
    progress(f"building image {name} ({key})")
    try:
        build(staging)
        if final.exists():
            shutil.rmtree(final)
        (staging / "layout").rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"  built image {name} in {time.monotonic() - started:.0f}s → {final}")
    # Older builds of the same image (another source, other versions) are never used again: the project
    # image alone would leave one layout per source change behind.
    for old in images_dir().iterdir():
        if old != final and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{16}}", old.name):
            shutil.rmtree(old, ignore_errors=True)
    return final


def _umoci_layer(layout: Path, tag: str, layer: Path, new_tag: str | None = None) -> None:
    argv = ["umoci", "raw", "add-layer", "--image", f"{layout}:{tag}"]
    if new_tag:
        argv += ["--tag", new_tag]
    _run([*argv, str(layer)], f"umoci add-layer {layer.name}")


def _umoci_config(layout: Path, tag: str, *args: str) -> None:
    _run(["umoci", "config", "--image", f"{layout}:{tag}", *args], "umoci config")


def _untag(layout: Path, tag: str) -> None:
    """Drop an intermediate tag: `ctr import` would import every tag of the layout as an image."""
    _run(["umoci", "rm", "--image", f"{layout}:{tag}"], "umoci rm")


def _fresh_layout(layout: Path, tag: str) -> None:
    _run(["umoci", "init", "--layout", str(layout)], "umoci init")
    _run(["umoci", "new", "--image", f"{layout}:{tag}"], "umoci new")


# --- pause -------------------------------------------------------------------------------------------------
def pause_image(progress: Progress = _quiet) -> Image:
    source = repo_root() / "hack" / "images" / "pause"
    files = sorted(p for p in source.iterdir() if p.is_file())
    go = shutil.which("go")
    if go is None:
        raise ImageError("the Go toolchain is not on PATH; it builds the pause image")
    go_version = _run([go, "env", "GOVERSION"], "go env").strip()
    key = _digest([RECIPE, go_version, *(f"{p.name}\n{p.read_text()}" for p in files)])

    def build(staging: Path) -> None:
        root = staging / "rootfs"
        root.mkdir()
        env = {**os.environ, "CGO_ENABLED": "0"}
        _run([go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(root / "pause"), "."], "go build pause",
             cwd=source, env=env)  # fmt: skip
        layer = staging / "layer.tar"
        with tarfile.open(layer, "w") as tar:
            tar.add(root / "pause", arcname="pause", filter=_root_owned)
        layout = staging / "layout"
        _fresh_layout(layout, "3.10")
        _umoci_layer(layout, "3.10", layer)
        _umoci_config(layout, "3.10", "--config.entrypoint", "/pause", "--config.user", "65535:65535")
        _run(["umoci", "gc", "--layout", str(layout)], "umoci gc")

    return Image(_cached("pause", key, build, progress), "3.10", (PAUSE_REF,))


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


# --- python (Debian) ---------------------------------------------------------------------------------------
def python_image(progress: Progress = _quiet) -> Image:
    key = _digest([RECIPE, DEBIAN_SUITE, *DEBIAN_MIRRORS, *DEBIAN_PACKAGES, *NONROOT_HOOKS])

    def build(staging: Path) -> None:
        rootfs = staging / "rootfs.tar"
        _run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                "--quiet",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                # Documentation and apt lists are dead weight in an image nobody runs apt in.
                "--dpkgopt=path-exclude=/usr/share/{doc,man,info,locale}/*",
                "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*",
                *NONROOT_HOOKS,
                DEBIAN_SUITE,
                str(rootfs),
                *DEBIAN_MIRRORS,
            ],
            "mmdebstrap (Debian base image)",
        )
        layout = staging / "layout"
        _fresh_layout(layout, PYTHON_TAG)
        _umoci_layer(layout, PYTHON_TAG, rootfs)
        _umoci_config(layout, PYTHON_TAG, "--config.cmd", "python3", "--config.env", PATH_ENV)
        _run(["umoci", "gc", "--layout", str(layout)], "umoci gc")

    return Image(_cached("python-bookworm", key, build, progress), PYTHON_TAG, (PYTHON_REF,))


# --- the project -------------------------------------------------------------------------------------------
def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(root: str = "motherboard") -> list[md.Distribution]:
    """The installed distributions ``root`` needs at run time (no extras), ``root`` itself excluded."""
    seen: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = _normalise(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise ImageError(
                f"{name} (a dependency of {root}) is not installed; run `make install`"
            ) from None
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    seen.pop(_normalise(root), None)
    return sorted(seen.values(), key=lambda d: _normalise(d.metadata["Name"]))


def _dist_files(dist: md.Distribution) -> Iterator[tuple[Path, str]]:
    """(file on disk, path inside site-packages) of one distribution, from its RECORD."""
    for file in dist.files or []:
        rel = str(file)
        # Scripts and data outside site-packages (../../../bin/…) are not needed to import the package.
        if rel.startswith("..") or "__pycache__" in rel:
            continue
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            yield path, rel


def _project_sources() -> list[tuple[Path, str]]:
    root = repo_root()
    out = [
        (p, f"{SITE_PACKAGES}/{p.relative_to(root / 'src').as_posix()}")
        for p in sorted((root / "src" / "motherboard").rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith((".pyc", ".so"))
    ]
    plugin = root / "device-plugins" / "simulated"
    out.append((plugin / "config.yaml", "etc/motherboard/device-plugin.yaml"))
    out.append((plugin / "devices.yaml", "etc/motherboard/simulated/devices.yaml"))
    # The scheduler's placement profiles, where scheduler/Dockerfile and the chart expect them.
    out += [
        (p, f"etc/motherboard/profiles/{p.name}")
        for p in sorted((root / "scheduler" / "profiles").glob("*.yaml"))
    ]
    return out


def project_image(progress: Progress = _quiet) -> Image:
    """python + the dependencies' layer (cached by their versions) + the project's layer (by its content)."""
    base = python_image(progress)
    dists = dependency_closure()
    deps_key = _digest([RECIPE, base.layout.name, *(f"{d.metadata['Name']}=={d.version}" for d in dists)])

    def build_deps(staging: Path) -> None:
        layer = staging / "deps.tar"
        with tarfile.open(layer, "w") as tar:
            for dist in dists:
                for path, rel in _dist_files(dist):
                    tar.add(path, arcname=f"{SITE_PACKAGES}/{rel}", filter=_root_owned)
        layout = staging / "layout"
        _copy_layout(base.layout, layout)
        _umoci_layer(layout, base.tag, layer, new_tag="deps")
        _untag(layout, base.tag)
        _run(["umoci", "gc", "--layout", str(layout)], "umoci gc")

    deps = _cached("project-deps", deps_key, build_deps, progress)
    sources = _project_sources()
    src_key = _digest([RECIPE, deps.name, __version__, *(f"{rel}\n" for _, rel in sources),
                       *(p.read_bytes() for p, _ in sources)])  # fmt: skip

    def build_project(staging: Path) -> None:
        layer = staging / "project.tar"
        with tarfile.open(layer, "w") as tar:
            for path, rel in sources:
                tar.add(path, arcname=rel, filter=_root_owned)
            _add_text(tar, f"{SITE_PACKAGES}/motherboard-{__version__}.dist-info/METADATA",
                      f"Metadata-Version: 2.1\nName: motherboard\nVersion: {__version__}\n")  # fmt: skip
            _add_text(tar, "usr/local/bin/motherboard",
                      "#!/usr/bin/python3\nimport sys\nfrom motherboard.cli import main\nsys.exit(main())\n",
                      mode=0o755)  # fmt: skip
        layout = staging / "layout"
        _copy_layout(deps, layout)
        _umoci_layer(layout, "deps", layer, new_tag=__version__)
        # The simulated device plugin's Dockerfile ENTRYPOINT; other uses set the pod's `command`.
        _umoci_config(
            layout,
            __version__,
            "--config.entrypoint", "motherboard",
            "--config.entrypoint", "device-plugin",
            "--config.entrypoint", "run",
            "--config.entrypoint", "--config",
            "--config.entrypoint", "/etc/motherboard/device-plugin.yaml",
            "--clear=config.cmd",  # the base's `python3` would become the plugin's arguments
            "--config.env", PATH_ENV,
        )  # fmt: skip
        _untag(layout, "deps")
        _run(["umoci", "gc", "--layout", str(layout)], "umoci gc")

    built = _cached("project", src_key, build_project, progress)
    aliases = tuple(f"{repo}:{__version__}" for repo in PROJECT_ALIAS_REPOS)
    return Image(built, __version__, (f"{PROJECT_REPO}:{__version__}", *aliases))


def _add_text(tar: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = _root_owned(tarfile.TarInfo(name))
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _copy_layout(src: Path, dst: Path) -> None:
    """Hard-link the blobs (content-addressed, never rewritten) and copy the small JSON files."""
    shutil.copytree(src, dst, copy_function=_link_or_copy)
    # umoci rewrites index.json in place: it must not be shared with the cached layout.
    for name in ("index.json", "oci-layout"):
        (dst / name).unlink()
        shutil.copy2(src / name, dst / name)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --- import ------------------------------------------------------------------------------------------------
def imported_digests(ctr: list[str]) -> dict[str, str]:
    """Reference → manifest digest of what containerd's ``k8s.io`` namespace holds."""
    out = _run([*ctr, "-n", "k8s.io", "images", "ls"], "ctr images ls")
    refs: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3:  # REF TYPE DIGEST SIZE PLATFORMS LABELS
            refs[cols[0]] = cols[2]
    return refs


def import_image(image: Image, ctr: list[str], progress: Progress = _quiet) -> bool:
    """Import ``image`` under all its references unless containerd has them already; True if it imported."""
    digest = image.manifest_digest()
    have = imported_digests(ctr)
    if all(have.get(ref) == digest for ref in image.refs):
        return False
    started = time.monotonic()
    first, *aliases = image.refs
    repo = first.rsplit(":", 1)[0]
    # `ctr import` names an OCI archive's images <base-name>:<ref.name>; the archive is streamed from tar.
    tar = subprocess.Popen(["tar", "-C", str(image.layout), "-cf", "-", "."], stdout=subprocess.PIPE)
    try:
        done = subprocess.run(
            [*ctr, "-n", "k8s.io", "images", "import", "--base-name", repo, "-"],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    if done.returncode != 0:
        raise ImageError(f"importing {first} into containerd failed: {done.stderr.strip()[-300:]}")
    for alias in aliases:
        if alias in have:  # `ctr images tag` refuses to move an existing reference
            _run([*ctr, "-n", "k8s.io", "images", "rm", alias], f"ctr images rm {alias}")
        _run([*ctr, "-n", "k8s.io", "images", "tag", first, alias], f"ctr images tag {alias}")
    progress(f"  imported {first} in {time.monotonic() - started:.1f}s")
    return True
