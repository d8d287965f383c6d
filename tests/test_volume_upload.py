"""Generated data into a Unity Catalog Volume from a laptop (`globalbev generate --upload-to`), through the Databricks
Files API. No workspace is reachable here: the Volume is an in-memory stand-in whose methods have the installed SDK's
own signatures (checked below) and its errors (`NotFound` for a missing folder). What a real workspace adds — auth,
permissions, the network — is listed in docs/runbooks/databricks.md."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[1]
VOLUME = "/Volumes/globalbev_dev/ops/files"


class FakeVolumeFiles:
    """The part of `WorkspaceClient().files` that `mirror_to_volume` uses, over a dict of path -> bytes."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.dirs: set[str] = set()
        self.calls: list[str] = []

    def upload(self, file_path: str, contents, *, overwrite: bool | None = None):
        assert overwrite or file_path not in self.blobs
        assert file_path.rsplit("/", 1)[0] in self.dirs, f"no directory for {file_path}"
        self.blobs[file_path] = contents.read()
        self.calls.append("upload")

    def create_directory(self, directory_path: str):
        parts = directory_path.split("/")
        self.dirs.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))

    def list_directory_contents(self, directory_path: str, *, page_size=None, page_token=None):
        from databricks.sdk.errors import NotFound
        from databricks.sdk.service.files import DirectoryEntry

        if directory_path not in self.dirs:
            raise NotFound(f"{directory_path} does not exist")
        below = directory_path + "/"
        children = {p[len(below) :].split("/")[0] for p in [*self.blobs, *self.dirs] if p.startswith(below)}
        for name in sorted(children):
            path = below + name
            yield DirectoryEntry(path=path, name=name, is_directory=path in self.dirs)

    def delete(self, file_path: str):
        del self.blobs[file_path]
        self.calls.append("delete")


def test_the_stand_in_has_the_sdk_signatures():
    from databricks.sdk.service.files import FilesAPI

    for name in ("upload", "create_directory", "list_directory_contents", "delete"):
        ours = list(inspect.signature(getattr(FakeVolumeFiles, name)).parameters)
        theirs = list(inspect.signature(getattr(FilesAPI, name)).parameters)
        assert ours == theirs, (name, ours, theirs)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_volume_holds_exactly_the_generation(tmp_path):
    from data_generators.volume import mirror_to_volume

    fake = FakeVolumeFiles()
    fake.create_directory(f"{VOLUME}/runs/r1")
    fake.blobs[f"{VOLUME}/runs/r1/summary.json"] = b"{}"  # not the generator's: left alone
    first = _tree(
        tmp_path / "a",
        {"landing/orders/day=0/a.csv": "x", "landing/orders/day=1/b.csv": "yy", "manifest/day0.json": "{}"},
    )
    first_done = mirror_to_volume(first, VOLUME + "/", files=fake, progress=lambda s: None)
    assert first_done == {"uploaded": 3, "bytes": 5, "deleted": 0}
    assert fake.blobs[f"{VOLUME}/landing/orders/day=1/b.csv"] == b"yy"
    second = _tree(tmp_path / "b", {"landing/orders/day=0/a.csv": "z", "operational/shop.customers/c.csv": "id\n"})
    lines = []
    done = mirror_to_volume(second, VOLUME, files=fake, progress=lines.append)
    assert done == {"uploaded": 2, "bytes": 4, "deleted": 2}  # day=1/b.csv and the manifest were the old generation's
    assert sorted(fake.blobs) == [
        f"{VOLUME}/landing/orders/day=0/a.csv",
        f"{VOLUME}/operational/shop.customers/c.csv",
        f"{VOLUME}/runs/r1/summary.json",
    ]
    assert fake.blobs[f"{VOLUME}/landing/orders/day=0/a.csv"] == b"z"
    assert lines == [f"uploaded 2/2 files (0.0 MB) to {VOLUME}"]


@pytest.mark.parametrize("target", ["/tmp/files", "/Volumes/globalbev_dev", "dbfs:/Volumes/a/b/c"])
def test_only_a_volume_is_a_target(tmp_path, target):
    from data_generators.volume import mirror_to_volume

    with pytest.raises(ValueError, match="is not in a Volume"):
        mirror_to_volume(tmp_path, target, files=FakeVolumeFiles())


def test_generate_upload_to_a_volume(tmp_path, monkeypatch, capsys):
    """`globalbev generate --no-pg --upload-to`: a real generation into a temporary folder, mirrored, then removed."""
    from data_generators import cli, volume

    fake, staging = FakeVolumeFiles(), tmp_path / "staging"
    monkeypatch.setattr(volume, "workspace_files", lambda: fake)
    monkeypatch.setattr(cli.tempfile, "mkdtemp", lambda prefix: str(staging))
    parser = cli.argparse.ArgumentParser()
    cli.register_cli(parser.add_subparsers())
    args = parser.parse_args(
        ["generate", "--no-pg", "--scale", "0.0005", "--days", "1", "--no-progress", "--upload-to", VOLUME]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"{VOLUME}: " in out and "files uploaded" in out
    kinds = {p[len(VOLUME) + 1 :].split("/")[0] for p in fake.blobs}
    assert kinds == {"landing", "manifest", "operational"}
    assert any(p.endswith(".csv") for p in fake.blobs if "/operational/" in p)
    assert not staging.exists(), "the temporary copy must be removed once uploaded"


def test_upload_to_refuses_the_embedded_server():
    run = subprocess.run(
        [sys.executable, "-m", "data_generators.cli", "generate", "--upload-to", VOLUME, "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "--upload-to needs --no-pg" in run.stderr


def test_a_failed_upload_keeps_the_data_and_says_why(tmp_path, monkeypatch, capsys):
    from data_generators import cli, volume

    class NoWorkspace(FakeVolumeFiles):
        def upload(self, file_path, contents, *, overwrite=None):
            raise PermissionError(
                "PERMISSION_DENIED: User does not have WRITE VOLUME on Volume 'globalbev_dev.ops.files'"
            )

    monkeypatch.setattr(volume, "workspace_files", NoWorkspace)
    assert cli._upload(_tree(tmp_path / "g", {"landing/a.csv": "x"}), VOLUME, staging=True) == 2
    err = capsys.readouterr().err
    assert "PERMISSION_DENIED" in err and f"stays in {tmp_path / 'g'}" in err
    assert (tmp_path / "g" / "landing" / "a.csv").is_file()
