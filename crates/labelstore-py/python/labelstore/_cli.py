"""The ``labelstore`` command the wheel installs: the binary's own code,
run in-process (same options, output and exit status)."""

import sys

from labelstore import _native


def main() -> None:
    sys.exit(_native.main(["labelstore", *sys.argv[1:]]))
