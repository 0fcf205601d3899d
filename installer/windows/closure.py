"""Runtime dependency closure of phiwall for Windows, from installed metadata (markers evaluated for win32)."""
import sys
from importlib import metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
env = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64",
       "python_version": "3.12", "python_full_version": "3.12.9", "implementation_name": "cpython",
       "platform_python_implementation": "CPython", "extra": ""}
pins = {}
for line in open(sys.argv[1]):
    if "==" in line:
        n, v = line.strip().split("==", 1); pins[canonicalize_name(n)] = v.split(";")[0].strip()
roots = [Requirement(r) for r in sys.argv[2:]]
seen, missing = {}, set()
todo = [(r, "") for r in roots]
while todo:
    req, extra = todo.pop()
    if req.marker and not req.marker.evaluate({**env, "extra": extra}):
        continue
    name = canonicalize_name(req.name)
    extras = set(req.extras)
    key = (name, frozenset(extras))
    if key in seen: continue
    seen[key] = 1
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        missing.add(name); continue
    for r in dist.requires or []:
        rr = Requirement(r)
        if rr.marker is None:
            todo.append((rr, "")); continue
        for e in extras | {""}:
            if rr.marker.evaluate({**env, "extra": e}):
                todo.append((rr, e)); break
names = sorted({n for n, _ in seen} | missing)
for n in names:
    print(f"{n}=={pins[n]}" if n in pins else n)
