"""Create the PhiWall project's own repository root: the `signatures/trusted/root.json` agents ship.

    phiwall-publish project-root --keys /secure/offline/phiwall-keys --repo /srv/phiwall-updates

Generates three root keys (threshold 2) and one key each for targets, snapshot and timestamp
under --keys (private files 0600, NEVER in the source tree), creates the repository with the
shipped catalog as its first bundle, and copies root v1 to signatures/trusted/root.json.

Hospitals do not use this: they make their own root with `phiwall-publish keygen` and
`init`, and point agents at it with `[signatures] trusted_root` (docs/key-management.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.errors import SignatureError
from agent.updates.bundle import bundle_bytes
from agent.updates.source import SHIPPED_ROOT, build_bundle, read_manifest
from phiwall_publish.keys import KeyRing, generate_key
from phiwall_publish.repository import Repository, Thresholds

TRUSTED_ROOT = SHIPPED_ROOT / "trusted" / "root.json"


def make_project_root(keys: Path, repo_dir: Path) -> Path:
    """Create the keys, the repository and its first bundle; copy root v1 to TRUSTED_ROOT.

    The command is `phiwall-publish project-root` (phiwall_publish.cli).
    """
    keys = keys.resolve()
    if keys.is_relative_to(SHIPPED_ROOT.parent):
        raise SignatureError("--keys must be outside the source tree: private keys are never committed")
    if keys.exists() and any(keys.iterdir()):
        raise SignatureError(f"{keys} is not empty; refusing to overwrite keys")
    for role, count in (("root", 3), ("targets", 1), ("snapshot", 1), ("timestamp", 1)):
        for index in range(1, count + 1):
            generate_key(keys, role, f"{role}-{index}")  # type: ignore[arg-type]
    ring = KeyRing.load([keys])
    repo = Repository(repo_dir)
    repo.init(ring, Thresholds(root=2))
    repo.publish(bundle_bytes(build_bundle(read_manifest(SHIPPED_ROOT))), ring)
    TRUSTED_ROOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo.metadata_dir / "1.root.json", TRUSTED_ROOT)
    return TRUSTED_ROOT
