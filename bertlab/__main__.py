"""Command line: ``python -m bertlab doctor`` / ``bertlab doctor``, ``bertlab build``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bertlab", description="Helpers for the bertlab BERT course.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the installation, the models and the data; exit 1 on a FAIL")
    build = commands.add_parser("build", help="build the embedded model's cache (idempotent)")
    build.add_argument("--model", default=None, help="model name (default: BERTLAB_MODEL or minilm-l6)")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from bertlab import doctor

        return 0 if doctor.report() else 1
    from bertlab import models

    try:
        folder = models.ensure_built(args.model)
    except models.ModelUnavailableError as error:
        print(f"bertlab build: {error}", file=sys.stderr)
        return 1
    print(f"bertlab: model cache ready at {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
