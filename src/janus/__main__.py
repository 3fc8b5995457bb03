"""`python -m janus script.py [args]`: runs a script with the JIT on from its
first line (as `import janus` does; `JANUS_JIT=0` still turns it off)."""

from __future__ import annotations

import runpy
import sys


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m janus script.py [args...]")
        return 0 if argv else 2
    import janus  # noqa: F401 - installs the JIT's frame hook

    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
