"""Zips the `bootstrap` binary for Lambda so that the same binary always gives the same
bytes: one entry, a fixed timestamp and mode, maximum compression.

    python3 scripts/lambda_zip.py BOOTSTRAP ZIP
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

# The earliest time a zip can record; any fixed one would do.
EPOCH = (1980, 1, 1, 0, 0, 0)


def lambda_zip(binary: Path, target: Path) -> None:
    entry = zipfile.ZipInfo("bootstrap", date_time=EPOCH)
    entry.external_attr = 0o100755 << 16  # a regular file, executable: Lambda runs it
    entry.create_system = 3  # Unix, so the mode above is read
    entry.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(entry, binary.read_bytes(), compresslevel=9)


if __name__ == "__main__":
    lambda_zip(Path(sys.argv[1]), Path(sys.argv[2]))
