#!/usr/bin/env python3
"""Checks that include/nhttps.h tells, for every function, what becomes of
what crosses the boundary (issue 18, point 2; the README promises it).

A function whose result is a pointer, or which takes a string (`char *`),
bytes (`uint8_t *`), a `userdata`, or an out-pointer to a new object, must
say in its own comment what becomes of them: one of the phrases below
(copied, borrowed, valid until, lives until, owned by, freed by, the
caller's, ...). A function that takes a `userdata` must moreover say, in
one sentence naming it, until when it must stay valid (or live). A comment
on the type is not enough: a reader looks up the function.

  check_ownership_docs.py [HEADER]   prints PASS/FAIL lines for c-tests/run.sh
"""
import re
import sys

WORDS = re.compile(
    r"\b(copied|copies|copy of|borrowed|borrows|valid until|valid while|valid as long|"
    r"lives? until|lives? as long|live until|owned by|owns|ownership|freed|frees|free it|"
    r"must live|kept until|keeps? (?:a|its|their) (?:own )?(?:copy|reference)|"
    r"not kept|is read at|read now|read at the call|the caller's|gives the caller|"
    r"takes (?:its own )?reference|own reference|caller owns|static|for the program's life|"
    r"never free|into the caller's|writes into|until the call returns|during the call)\b",
    re.IGNORECASE)

# A `userdata` and, in the same sentence, how long it must stay valid.
USERDATA_LIFE = re.compile(r"`userdata`[^.]*\b(?:valid|live|lives)\b", re.IGNORECASE)

DECL = re.compile(r"^(?P<ret>[A-Za-z_][\w\s\*]*?)\b(?P<name>nhttps_\w+)\((?P<params>[^;]*)\);", re.S)


def declarations(text):
    """(name, return type, parameters, its comment) for each function."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^[A-Za-z_].*\bnhttps_\w+\(", line) and not line.startswith(("typedef", "#")):
            start = i
            decl = line
            while not decl.rstrip().endswith(";") and i + 1 < len(lines):
                i += 1
                decl += "\n" + lines[i]
            comment = []
            j = start - 1
            while j >= 0 and lines[j].startswith("//"):
                comment.insert(0, lines[j][2:].strip())
                j -= 1
            m = DECL.match(decl)
            if m:
                yield m.group("name"), m.group("ret").strip(), m.group("params"), " ".join(comment)
        i += 1


def needs_words(ret, params):
    """What in the signature needs an ownership statement, or None."""
    reasons = []
    if "*" in ret:
        reasons.append("returns a pointer")
    for p in params.split(","):
        p = " ".join(p.split())
        if not p or p == "void":
            continue
        if re.search(r"\bchar\s*\*", p):
            reasons.append("takes a string")
        elif re.search(r"\buint8_t\s*\*", p):
            reasons.append("takes bytes")
        elif re.search(r"\buserdata\b", p):
            reasons.append("takes userdata")
        elif re.search(r"\*\s*\*\s*\w+_out\b|\*\*\s*\w+$", p):
            reasons.append("gives an object through an out-pointer")
    return ", ".join(dict.fromkeys(reasons)) or None


def main():
    header = sys.argv[1] if len(sys.argv) > 1 else "include/nhttps.h"
    text = open(header, encoding="utf-8").read()
    checked, missing = 0, []
    for name, ret, params, comment in declarations(text):
        why = needs_words(ret, params)
        if why is None:
            continue
        checked += 1
        if not WORDS.search(comment):
            missing.append("%s (%s)" % (name, why))
        elif "takes userdata" in why and not USERDATA_LIFE.search(comment):
            missing.append("%s (takes userdata: not said until when it must live)" % name)
    if missing:
        print("FAIL every_function_says_what_becomes_of_its_pointers: %d of %d do not say:\n  %s"
              % (len(missing), checked, "\n  ".join(missing)))
        return 1
    print("PASS every_function_says_what_becomes_of_its_pointers (%d functions)" % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
