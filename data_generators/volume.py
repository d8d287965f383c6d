"""Generated data into a Unity Catalog Volume through the Databricks Files API.

On a laptop that runs the package against a workspace (Databricks Connect), `/Volumes/...` is not a local path: the
generator writes into a local folder and `mirror_to_volume` makes the Volume's `landing/`, `manifest/` and
`operational/` hold exactly that — every file uploaded, the files an earlier generation left and this one did not
write deleted (the pipeline would otherwise ingest them). Everything else in the Volume (runs, checkpoints) is left
alone. `globalbev generate --upload-to /Volumes/<catalog>/<schema>/<volume>` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

GENERATED = ("landing", "manifest", "operational")  # what `generate` rewrites under its root


def workspace_files():
    """The Files API of the workspace that the Databricks SDK's default authentication finds (`DATABRICKS_HOST` and a
    token, a `~/.databrickscfg` profile, or `databricks auth login`)."""
    try:
        from databricks.sdk import WorkspaceClient
    except ImportError:
        raise RuntimeError(
            "--upload-to needs the Databricks SDK: pip install databricks-sdk (the `connect` extra has it)"
        ) from None
    return WorkspaceClient().files


def _remote_files(files, folder: str) -> list[str]:
    """Every file under `folder` in the Volume, recursively (none when the folder does not exist)."""
    from databricks.sdk.errors import NotFound

    found, todo = [], [folder]
    while todo:
        current = todo.pop()
        try:
            entries = list(files.list_directory_contents(current))
        except NotFound:
            continue
        for e in entries:
            (todo if e.is_directory else found).append(e.path.rstrip("/"))
    return found


def mirror_to_volume(
    local_root: str | Path,
    volume_root: str,
    files=None,
    progress: Callable[[str], None] = print,
    workers: int = 8,
) -> dict[str, int]:
    """Make `<volume_root>/{landing,manifest,operational}` hold exactly the files under `local_root`'s: upload each
    (overwriting), delete the remote files the local generation does not have. `files`: a Files API
    (`WorkspaceClient().files` when None). Returns the files uploaded, their bytes and the files deleted."""
    volume_root = volume_root.rstrip("/")
    if not volume_root.startswith("/Volumes/") or volume_root.count("/") < 4:
        raise ValueError(f"{volume_root!r} is not in a Volume: give /Volumes/<catalog>/<schema>/<volume>[/folder]")
    files = files if files is not None else workspace_files()
    local_root = Path(local_root)
    local = {
        f"{volume_root}/{p.relative_to(local_root).as_posix()}": p
        for sub in GENERATED
        for p in sorted((local_root / sub).rglob("*"))
        if p.is_file()
    }
    stale = [f for sub in GENERATED for f in _remote_files(files, f"{volume_root}/{sub}") if f not in local]
    for f in stale:
        files.delete(f)
    for d in sorted({target.rsplit("/", 1)[0] for target in local}):
        files.create_directory(d)

    def upload(item: tuple[str, Path]) -> int:
        target, source = item
        with source.open("rb") as fh:
            files.upload(target, fh, overwrite=True)
        return source.stat().st_size

    sizes = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # one HTTP request per file: several at once
        for n, size in enumerate(pool.map(upload, local.items()), 1):
            sizes.append(size)
            if n % 200 == 0 or n == len(local):
                progress(f"uploaded {n:,}/{len(local):,} files ({sum(sizes) / 1e6:.1f} MB) to {volume_root}")
    return {"uploaded": len(local), "bytes": sum(sizes), "deleted": len(stale)}
