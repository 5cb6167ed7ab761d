"""python -m tests.migration_snapshots [--replace REVISION] [--from-git [REF]] [--postgresql URL] [--dialect D]

Writes the schema snapshots of released migrations (see this package's docstring):

- no option: the snapshot of every revision that has none, normally head's after a migration is
  released (the Makefile's `make migration-snapshots`);
- `--replace REVISION`: rewrites one, for a revision that is not released yet;
- `--from-git [REF]`: every revision as first committed on REF's first-parent history (default HEAD).

PostgreSQL snapshots need a server: `--postgresql URL` names a scratch database (created when missing,
its public schema dropped); by default the one beside DATABASE_URL, `<name>_snapshots`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.migration_snapshots import (
    DIALECTS,
    MIGRATIONS,
    ROOT,
    extracted_history,
    revisions,
    snapshot_file,
    write_snapshot,
)


def _postgresql_url(given: str | None) -> str:
    if given:
        return given
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("PostgreSQL snapshots need a server: pass --postgresql URL (a scratch database) or --dialect sqlite")
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_snapshots").render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.migration_snapshots", description=__doc__.split("\n")[2])
    parser.add_argument("--replace", metavar="REVISION", help="rewrite this revision's snapshot (not yet released)")
    parser.add_argument("--from-git", nargs="?", const="HEAD", metavar="REF", help="every revision as first committed")
    parser.add_argument("--postgresql", metavar="URL", help="a scratch PostgreSQL database")
    parser.add_argument("--dialect", choices=DIALECTS, action="append", help="only this dialect (repeatable)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wassit-snapshots-") as scratch:
        urls = {}
        for dialect in args.dialect or DIALECTS:
            if dialect == "sqlite":
                urls[dialect] = f"sqlite:///{Path(scratch) / 'snapshot.db'}"
            else:
                urls[dialect] = _postgresql_url(args.postgresql)

        if args.from_git:
            with extracted_history(args.from_git) as history:
                for revision, commit, directory in history:
                    for url in urls.values():
                        written = write_snapshot(url, revision, directory, source=f"migrations/ at {commit[:12]}")
                        print(f"{revision}: {written.relative_to(ROOT)} (from {commit[:12]})")
            return

        known = revisions(MIGRATIONS)
        if args.replace:
            if args.replace not in known:
                sys.exit(f"unknown revision {args.replace}")
            wanted = [args.replace]
        else:
            wanted = [rev for rev in known if any(not snapshot_file(d, rev).exists() for d in urls)]
        if not wanted:
            print("every revision has its snapshots")
        for revision in wanted:
            for dialect, url in urls.items():
                if args.replace or not snapshot_file(dialect, revision).exists():
                    written = write_snapshot(url, revision, MIGRATIONS, source="today's migrations/")
                    print(f"{revision}: {written.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
