"""Copies of the PUPA splits in which every row has its own id.

PUPA's ``conversation_hash`` is shared by the turns of one conversation
(New: 388 of 664 rows; TNB: 70 of 237), and ``leak_eval.py`` keys the
sanitizer's answers by it: every row of a conversation is then scored
against the answer for its last row, which counts another prompt's words
as lost and another prompt's values as leaked or not. These copies append
the row number to the hash (``<hash>-<row>``), nothing else changes, so
``leak_eval.py`` itself, unmodified, scores each row against its own
answer.

Usage: pupa_unique_ids.py SOURCE_DIR TARGET_DIR
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

csv.field_size_limit(sys.maxsize)


def main() -> int:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    for split in sorted(source.glob("PUPA_*.csv")):
        with split.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        with (target / split.name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for number, row in enumerate(rows):
                row["conversation_hash"] = f"{row['conversation_hash']}-{number}"
                writer.writerow(row)
        print(f"{target / split.name}: {len(rows)} rows, each with its own id")
    return 0


if __name__ == "__main__":
    sys.exit(main())
