#!/usr/bin/env python3
"""Every function of the public headers has a row in the bad-argument table.

Usage: check_api_table.py TABLE.c HEADER.h...

Extracts the functions the headers declare (comments and preprocessor lines
removed, declarations joined across lines, typedefs of function pointers
skipped) and the names of the table's rows (API_ROW(name) in TABLE.c), and
fails naming every function without a row and every row naming no function.
"""
import re
import sys

DECL = re.compile(r"\b([A-Za-z_]\w*)\s*\(([^()]*)\)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?;", re.S)
ROW = re.compile(r"^\s*API_ROW\s*\(\s*([A-Za-z_]\w*)\s*\)", re.M)


def strip(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # The C++ guards (extern "C" { ... }) would hide the whole header in braces.
    text = re.sub(r"^[ \t]*#[ \t]*ifdef[ \t]+__cplusplus\b.*?^[ \t]*#[ \t]*endif[^\n]*", " ", text, flags=re.S | re.M)
    # Preprocessor lines, with their continuations.
    return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)


def header_functions(path, unread):
    """The functions path declares; statements with parentheses that are
    neither a plain declaration nor a typedef go to unread, so a declaration
    this reader cannot parse (a raw function-pointer parameter, say) fails
    the check instead of slipping past it."""
    with open(path, encoding="utf-8") as f:
        text = strip(f.read())
    names = []
    # Split into top-level statements at ';' outside braces, so struct and
    # enum bodies (and their members) never look like declarations.
    depth, start = 0, 0
    for i, c in enumerate(text):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ";" and depth == 0:
            stmt = " ".join(text[start:i + 1].split())
            start = i + 1
            if stmt.startswith("typedef") or "{" in stmt or "}" in stmt:
                # A braced statement ends with its closing brace: keep what
                # follows it only (typedef struct {...} name; is no function).
                continue
            m = DECL.search(stmt)
            if m and not re.search(r"\(\s*\*", stmt):
                names.append(m.group(1))
            elif "(" in stmt:
                unread.append(f"{path}: {stmt}")
        if c == "}" and depth == 0:
            start = i + 1
    return names


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        rows = ROW.findall(strip(f.read()))
    declared, unread = [], []
    for h in argv[2:]:
        declared += header_functions(h, unread)
    bad = 0
    for stmt in unread:
        print(f"cannot read this declaration (make it plain or teach check_api_table.py): {stmt}")
        bad = 1
    for name in sorted(set(rows)):
        if rows.count(name) > 1:
            print(f"{argv[1]}: row {name} appears {rows.count(name)} times")
            bad = 1
    for name in declared:
        if name not in rows:
            print(f"missing from {argv[1]}: {name} (declared in a public header, no API_ROW)")
            bad = 1
    for name in rows:
        if name not in declared:
            print(f"{argv[1]}: row {name} names no function of the public headers")
            bad = 1
    if len(set(declared)) != len(declared):
        print("a function is declared twice in the headers")
    print(f"{len(declared)} functions declared, {len(set(rows))} rows")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
