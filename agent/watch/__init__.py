"""Folder watching and enrolment: clinical recordings are fingerprinted as they land.

`FolderWatcher` (watcher.py) is the component; stability.py decides when a file is complete,
scan.py walks folders, ledger.py remembers what was seen, handler.py maps watchdog events.
"""

from agent.watch.watcher import FolderWatcher, WatchStats

__all__ = ["FolderWatcher", "WatchStats"]
