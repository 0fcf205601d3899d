"""Create the PhiWall project's own repository root: the `signatures/trusted/root.json` agents ship.

    phiwall-publish project-root --keys /secure/offline/phiwall-keys --repo /srv/phiwall-updates

Generates three root keys (threshold 2) and one key each for targets, snapshot and timestamp
under --keys (private files 0600, NEVER in the source tree), creates the repository with the
shipped catalog as its first bundle, and copies root v1 to signatures/trusted/root.json.

Hospitals do not use this: they make their own root with `phiwall-publish keygen` and
`init`, and point agents at it with `[signatures] trusted_root` (docs/key-management.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from agent.updates.bundle import bundle_bytes
from agent.updates.source import SHIPPED_ROOT, build_bundle, read_manifest
from phiwall_publish.keys import KeyRing, generate_key
from phiwall_publish.repository import Repository, Thresholds

TRUSTED_ROOT = SHIPPED_ROOT / "trusted" / "root.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=Path, required=True, help="where to create the keys (outside the checkout)")
    parser.add_argument("--repo", type=Path, required=True, help="where to create the repository")
    args = parser.parse_args(argv)
    keys: Path = args.keys.resolve()
    if keys.is_relative_to(SHIPPED_ROOT.parent):
        parser.error("--keys must be outside the source tree: private keys are never committed")
    if keys.exists() and any(keys.iterdir()):
        parser.error(f"{keys} is not empty; refusing to overwrite keys")
    for role, count in (("root", 3), ("targets", 1), ("snapshot", 1), ("timestamp", 1)):
        for index in range(1, count + 1):
            generate_key(keys, role, f"{role}-{index}")  # type: ignore[arg-type]
    ring = KeyRing.load([keys])
    repo = Repository(args.repo)
    repo.init(ring, Thresholds(root=2))
    repo.publish(bundle_bytes(build_bundle(read_manifest(SHIPPED_ROOT))), ring)
    TRUSTED_ROOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo.metadata_dir / "1.root.json", TRUSTED_ROOT)
    print(f"keys in {keys} (move the root keys to offline media), repository in {args.repo}")
    print(f"trusted root written to {TRUSTED_ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
