#!/usr/bin/env python3
"""Writes the first ```cpp block after a README heading as a translation unit.

The README's short adapter examples (issue 8: "the README shows a short SQLite
and PostgreSQL example") are compiled by the build (tests/CMakeLists.txt,
target readme_examples), so that an example which no longer compiles against
the headers breaks the build instead of a reader's first try. Its #include
lines go first; the rest becomes the body of a function (the examples are
statements, as a reader would paste them into one).

Usage: extract_example.py README HEADING_PREFIX OUT
"""
import pathlib
import sys


def extract(readme: str, heading: str) -> str:
    lines = readme.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith(heading)), None)
    if start is None:
        raise SystemExit(f"extract_example.py: no heading starting with {heading!r} in the README")
    begin = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "```cpp"), None)
    if begin is None:
        raise SystemExit(f"extract_example.py: no ```cpp block after {heading!r}")
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip() == "```"), None)
    if end is None:
        raise SystemExit(f"extract_example.py: the ```cpp block after {heading!r} is not closed")
    block = lines[begin + 1:end]
    includes = [l for l in block if l.startswith("#include")]
    body = [l for l in block if not l.startswith("#include")]
    return ("// Generated from the README by tests/readme/extract_example.py: edit the README.\n"
            + "\n".join(includes) + "\n\n[[maybe_unused]] static void readme_example() {\n"
            + "\n".join("  " + l if l else "" for l in body) + "\n}\n")


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    readme, heading, out = sys.argv[1:]
    text = extract(pathlib.Path(readme).read_text(encoding="utf-8"), heading)
    path = pathlib.Path(out)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
