#!/usr/bin/env python3
"""Extracts the runnable fenced blocks of a docs page (used by deploying_doc.sh).

A block runs when its info string names a machine after the language:

    ```sh site                 commands, run on the site machine
    ```sh laptop daemon        a command that runs in the background (a daemon in the foreground)
    ```toml site /etc/x.toml   a file, written to that path on that machine
    ```sh install              not run by the test (the caller says why); so is MACHINE-systemd

Blocks with only a language (```sh) are illustrations and are skipped. Any other word is an
error, so a typo in the page fails the test instead of silently skipping a step.

    doc_blocks.py PAGE.md OUTDIR    writes OUTDIR/NNN (the block) and prints, per block,
                                    "NNN MACHINE KIND [PATH]" with KIND run, daemon or file.
"""
import os
import sys

MACHINES = {"site", "laptop"}
NOT_RUN = {"install", "site-systemd", "laptop-systemd"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    page, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    lines = open(page, encoding="utf-8").read().split("\n")
    count = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("```") or line.strip() == "```":
            i += 1
            continue
        words = line[3:].split()
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            sys.exit(f"{page}:{i + 1}: block never closed")
        body = "\n".join(lines[start:end]) + "\n"
        i = end + 1
        if len(words) < 2 or words[1] in NOT_RUN:
            continue
        lang, machine, rest = words[0], words[1], words[2:]
        if machine not in MACHINES:
            sys.exit(f"{page}:{start}: unknown machine {machine!r} in {line!r}")
        if lang == "sh" and rest == ["daemon"]:
            kind, path = "daemon", ""
        elif lang == "sh" and not rest:
            kind, path = "run", ""
        elif lang != "sh" and len(rest) == 1 and rest[0].startswith("/"):
            kind, path = "file", rest[0]
        else:
            sys.exit(f"{page}:{start}: cannot tell what to do with {line!r}")
        count += 1
        name = f"{count:03d}"
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            f.write(body)
        print(name, machine, kind, path)
    if count == 0:
        sys.exit(f"{page}: no runnable blocks")


if __name__ == "__main__":
    main()
