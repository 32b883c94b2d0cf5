"""Put the Colab-like environment back to Colab's image (tools/colab/colab-image.txt).

Run with that environment's interpreter (``.venv-colab/bin/python tools/colab/reset_image.py``).
The course's setup cell changes the environment it runs in (that is its job), so before each
test run this removes what is not in the image and reinstalls, without dependencies, every
package whose version moved. On an unchanged environment it only reads metadata (about 1 s).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

IMAGE = Path(__file__).with_name("colab-image.txt")
KEEP = {"pip"}  # the installer itself is not part of the comparison


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_pins(path: Path = IMAGE) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"{path}: every line must pin name==version, got {line!r}")
        pins[canonical(name)] = version.strip()
    return pins


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def differences(pins: dict[str, str], current: dict[str, str]) -> tuple[list[str], list[str]]:
    """(packages to remove, name==version requirements to reinstall)."""
    extra = sorted(set(current) - set(pins) - KEEP)
    moved = sorted(f"{name}=={version}" for name, version in pins.items() if current.get(name) != version)
    return extra, moved


def reset(pins: dict[str, str]) -> dict:
    extra, moved = differences(pins, installed())
    pip = [sys.executable, "-m", "pip"]
    if extra:
        subprocess.run([*pip, "uninstall", "-y", "-q", *extra], check=True)
    if moved:
        subprocess.run([*pip, "install", "-q", "--no-deps", *moved], check=True)
    left_extra, left_moved = differences(pins, installed())
    if left_extra or left_moved:
        raise SystemExit(f"could not restore Colab's image: still extra {left_extra}, still different {left_moved}")
    return {"removed": extra, "reinstalled": moved}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report the differences (exit 1 if any)")
    args = parser.parse_args(argv)
    pins = image_pins()
    if args.check:
        extra, moved = differences(pins, installed())
        print(json.dumps({"extra": extra, "different": moved}))
        return 1 if extra or moved else 0
    print(json.dumps(reset(pins)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
