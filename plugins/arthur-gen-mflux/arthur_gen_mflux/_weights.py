"""Are a model's weights in the local Hugging Face cache? Answered from the file system only.

The check mirrors what mflux 0.24 accepts as a complete cached snapshot
(``PathResolution._find_complete_cached_snapshot``): the snapshot of the pinned revision
(any snapshot when the repo is not pinned) has at least one existing ``*.safetensors`` in
every weight folder, every shard an index names, and the tokenizer folders. A contract test
runs both checks on the same fabricated caches. No network, no mflux or huggingface_hub
import: the cache folder is worked out from the same environment variables
huggingface_hub reads, at call time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from arthur_gen.errors import BackendUnavailableError

from ._catalog import Entry, Family

__all__ = [
    "download_allowed",
    "download_command",
    "files_stamp",
    "hf_hub_cache",
    "is_hf_repo_id",
    "missing_weights_error",
    "offline",
    "snapshot_dir",
]

_TRUE = {"1", "true", "yes", "on"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def offline() -> bool:
    """Whether huggingface_hub is told not to use the network."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def download_allowed(option: object) -> bool:
    """The ``download`` option, or ARTHUR_GEN_MFLUX_DOWNLOAD=1."""
    return option is True or _env_true("ARTHUR_GEN_MFLUX_DOWNLOAD")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved like ``huggingface_hub.constants``."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if not hf_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        hf_home = os.path.join(xdg, "huggingface")
    return Path(hf_home).expanduser() / "hub"


def is_hf_repo_id(value: str) -> bool:
    """``org/name``, as mflux tells a repo id from a path."""
    return value.count("/") == 1 and not value.startswith(("./", "../", "~/", "/"))


def _exists(path: Path) -> bool:
    # a cache entry is a symlink into blobs/; a broken link is a missing file
    return os.path.exists(path)


def _indexed_shards_present(directory: Path) -> bool:
    for index_path in directory.glob("*.safetensors.index.json"):
        try:
            weight_map = json.loads(index_path.read_text(encoding="utf-8")).get("weight_map")
        except (OSError, ValueError, AttributeError):
            return False
        if not isinstance(weight_map, dict) or not weight_map:
            return False
        for name in set(weight_map.values()):
            if not isinstance(name, str) or Path(name).name != name:
                return False
            if not (directory / name).is_file():
                return False
    return True


def _complete(snapshot: Path, family: Family) -> bool:
    for name in family.root_weight_files:  # mflux: every root-level *.safetensors pattern
        if not _exists(snapshot / name):
            return False
    if family.root_weight_files and not _indexed_shards_present(snapshot):
        return False
    for sub in family.weight_dirs:
        folder = snapshot / sub
        if not folder.is_dir():
            return False
        if not any(f.name.endswith(".safetensors") and _exists(f) for f in folder.iterdir()):
            return False
        if not _indexed_shards_present(folder):
            return False
    for sub in family.tokenizer_dirs:
        folder = snapshot / sub
        if not folder.is_dir() or not any(_exists(f) for f in folder.iterdir()):
            return False
    return True


def snapshot_dir(repo: str, revision: str | None, family: Family) -> Path | None:
    """The complete cached snapshot mflux would load, or None if it would download."""
    snapshots = hf_hub_cache() / f"models--{repo.replace('/', '--')}" / "snapshots"
    if revision is not None:
        candidates: Sequence[Path] = [snapshots / revision]
    elif snapshots.is_dir():
        candidates = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    else:
        candidates = []
    for snapshot in candidates:
        if snapshot.is_dir() and _complete(snapshot, family):
            return snapshot
    return None


def download_command(repo: str, revision: str | None, family: Family) -> str:
    """A command that fetches exactly what mflux loads into the cache it reads."""
    parts = ["hf", "download", repo]
    if revision:
        parts += ["--revision", revision]
    for pattern in family.download_patterns:
        parts += ["--include", pattern]
    import shlex

    return shlex.join(parts)


def missing_weights_error(
    entry: Entry, repo: str, revision: str | None, *, gb: float | None
) -> BackendUnavailableError:
    """The error for weights that are not cached and may not be fetched now."""
    size = f"about {gb:g} GB" if gb is not None else "several GB"
    why = (
        "HF_HUB_OFFLINE is set, so nothing can be downloaded"
        if offline()
        else "arthur-gen does not download multi-GB weights unasked"
    )
    login = (
        f"; {repo} is gated: accept its license on the Hugging Face page and run `hf auth login` first"
        if entry.gated and repo == entry.repo
        else ""
    )
    return BackendUnavailableError(
        f"mflux model {entry.id!r} needs the weights of {repo} ({size}), which are not in "
        f"the Hugging Face cache ({hf_hub_cache()}); {why}. Download them with "
        f"`{download_command(repo, revision, entry.family)}`{login}, or pass "
        "options={'download': True} (CLI: -o download=true) to let mflux fetch them."
    )


#: Bytes hashed from each end of a weights file: catches rewritten files cheaply.
_DIGEST_EDGE = 64 * 1024


def _file_stamp(path: Path) -> str:
    import hashlib

    st = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(_DIGEST_EDGE))
        if st.st_size > 2 * _DIGEST_EDGE:
            fh.seek(-_DIGEST_EDGE, os.SEEK_END)
            digest.update(fh.read(_DIGEST_EDGE))
    return f"{st.st_size}:{st.st_mtime_ns}:{digest.hexdigest()[:16]}"


def files_stamp(paths: Sequence[str]) -> str | None:
    """A short digest of the local files under ``paths`` (a file, or every file in a folder):
    size, mtime and a hash of each file's first and last 64 KiB. None when no path is local
    (e.g. a Hugging Face repo id). Changes when any weights file is added, removed or rewritten.
    """
    import hashlib

    parts: list[str] = []
    for raw in paths:
        root = Path(raw)
        if root.is_file():
            parts.append(f"{root}={_file_stamp(root)}")
        elif root.is_dir():
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                parts.append(f"{root}/{file.relative_to(root)}={_file_stamp(file)}")
            parts.append(f"{root}/")
    if not parts:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
