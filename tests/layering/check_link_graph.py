#!/usr/bin/env python3
"""Checks the README's link graph (the table between <!-- link-graph --> markers in its Architecture
section) against the target_link_libraries() of every target in core/, indexer/, ui/ and app/: the
same targets, each with exactly the project targets it links (PUBLIC or PRIVATE; system libraries
are not listed). A link added or removed in CMake without the README, or the other way round,
fails with the difference.

Usage: check_link_graph.py SOURCE_ROOT
"""
import pathlib
import re
import sys

FOLDERS = ["core", "indexer", "ui", "app"]

# Edges the README already leaves out because a branch of this stop removes them; each reason says
# which. An entry whose edge is gone is reported (delete it then), not failed.
PENDING_REMOVAL: dict = {}


def cmake_link_graph(root):
    texts = [p.read_text() for f in FOLDERS for p in sorted((root / f).rglob("CMakeLists.txt"))]
    code = "\n".join(re.sub(r"#.*", "", t) for t in texts)
    targets = set(re.findall(r"add_(?:library|executable)\(\s*([\w-]+)", code))
    graph = {t: set() for t in targets}
    for target, args in re.findall(r"target_link_libraries\(\s*([\w-]+)([^)]*)\)", code):
        if target in graph:
            graph[target] |= {a for a in args.split() if a in targets}
    return graph


def readme_link_graph(readme):
    block = re.search(r"<!-- link-graph -->(.*?)<!-- /link-graph -->", readme, re.S)
    if not block:
        sys.exit("link graph: no <!-- link-graph --> table in README.md")
    graph = {}
    for row in block.group(1).splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        target = re.findall(r"`([\w-]+)`", cells[0])[0]
        graph[target] = set(re.findall(r"`([\w-]+)`", cells[1]))
    return graph


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    cmake = cmake_link_graph(root)
    readme = readme_link_graph((root / "README.md").read_text())
    problems = []
    for target in sorted(cmake.keys() | readme.keys()):
        if target not in readme:
            problems.append(f"{target}: a CMake target the README's link graph does not list")
            continue
        if target not in cmake:
            problems.append(f"{target}: listed in the README but no CMake target has this name")
            continue
        for dep in sorted(cmake[target] - readme[target]):
            if (target, dep) in PENDING_REMOVAL:
                print(f"link graph: note: {target} -> {dep} still linked "
                      f"({PENDING_REMOVAL[(target, dep)]})")
            else:
                problems.append(f"{target} links {dep} (CMake) but the README does not say so")
        for dep in sorted(readme[target] - cmake[target]):
            problems.append(f"{target} -> {dep} is in the README but not linked in CMake")
    for edge, why in PENDING_REMOVAL.items():
        if edge[0] in cmake and edge[1] not in cmake[edge[0]]:
            print(f"link graph: note: {edge[0]} -> {edge[1]} is gone ({why}): "
                  "remove it from PENDING_REMOVAL")
    for p in problems:
        print(f"link graph: {p}")
    if problems:
        return 1
    print(f"link graph: ok ({len(cmake)} targets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
