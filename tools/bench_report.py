"""The markdown table of the benchmark records in a folder (what ``make bench`` wrote).

    python tools/bench_report.py                      # outputs/bench/*.json -> outputs/bench/README.md
    python tools/bench_report.py --readme README.md   # also replaces the README's benchmark table

The code is in benchmarks/report.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.report import load_records, markdown_table, replace_marked_block  # noqa: E402
from common.io import atomic_write_text  # noqa: E402


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-dir", default="outputs/bench",
                        help="folder of the records (default outputs/bench)")
    parser.add_argument("--out", default=None,
                        help="markdown file to write (default JSON_DIR/README.md)")
    parser.add_argument("--readme", default=None, metavar="FILE",
                        help="also replace the table between the bench-table markers of FILE")
    args = parser.parse_args(argv)
    try:
        records = load_records(args.json_dir)
        table = markdown_table(records)
        readme_text = None
        if args.readme is not None:  # checked before anything is written
            if not os.path.isfile(args.readme):
                raise FileNotFoundError(f"--readme {args.readme}: no such file")
            with open(args.readme, encoding="utf-8") as handle:
                readme_text = replace_marked_block(handle.read(), table, args.readme)
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"bench_report.py: error: {exc}\n")
    out = args.out or os.path.join(args.json_dir, "README.md")
    atomic_write_text(out, table)
    print(table, end="")
    print(f"wrote {out}" + (f" and the table in {args.readme}" if readme_text else ""))
    if readme_text is not None:
        atomic_write_text(args.readme, readme_text)
    return table


if __name__ == "__main__":
    main()
