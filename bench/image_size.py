"""The runtime image's installed Python packages, by profile, measured without a Docker daemon:
each distribution's installed size is the sum of the file sizes its RECORD lists, read from this
(dev) virtualenv, which holds every package of every profile. Reports figures, asserts nothing:

    .venv/bin/python -m bench.image_size [--before PYPROJECT]

- `serve`: what the slim image installs (requirements/serve.lock), the ONNX path without torch;
- `torch`: the `AISLE_EMBED_BACKEND=torch` image (requirements/torch.lock + torch);
- `before`: the dependency closure of an older pyproject.toml's core dependencies (what
  `pip install .` put in the image before the split), e.g. `git show main:pyproject.toml`.
The image adds the exported int8 model (about 22 MB) and the code to these figures.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_sizes() -> dict[str, int]:
    sizes: dict[str, int] = {}
    for dist in metadata.distributions():
        total = sum((f.size or 0) for f in dist.files or [])
        sizes[_norm(dist.metadata["Name"])] = total
    return sizes


def lock_names(lock: Path) -> set[str]:
    return {
        _norm(line.split("==")[0]) for line in lock.read_text().splitlines() if re.match(r"^[A-Za-z]", line)
    }


def closure(roots: list[str]) -> set[str]:
    """Every distribution `roots` pull in, extras' requirements left out (as pip does)."""
    seen: set[str] = set()
    todo = [_norm(Requirement(r).name) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_norm(req.name))
    return seen


def report(names: set[str], sizes: dict[str, int]) -> dict[str, object]:
    present = {n: sizes[n] for n in names if n in sizes}
    biggest = sorted(present.items(), key=lambda kv: -kv[1])[:8]
    return {
        "packages": len(present),
        "installed_mb": round(sum(present.values()) / MB, 1),
        "largest_mb": {n: round(s / MB, 1) for n, s in biggest},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="installed size per install profile")
    parser.add_argument("--before", type=Path, help="an older pyproject.toml to compare with")
    args = parser.parse_args()
    sizes = installed_sizes()
    out: dict[str, object] = {
        "serve": report(lock_names(ROOT / "requirements" / "serve.lock"), sizes),
        "torch": report(lock_names(ROOT / "requirements" / "torch.lock") | {"torch"}, sizes),
    }
    if args.before:
        deps = tomllib.loads(args.before.read_text())["project"]["dependencies"]
        out["before"] = report(closure(deps), sizes)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
