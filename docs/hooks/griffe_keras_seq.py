"""Griffe extension: read keras-seq's docstring house style as Google-style sections.

The house style writes

    Call arguments:
        query: `(batch, Tq, d)`.

    Example:

    >>> layer = ...

Griffe knows neither a "Call arguments" section nor an example block that is not indented
under its title. Before griffe parses a docstring, this extension indents the lines of an
`Example:` block under it and names it `Examples:` (so it renders as doctest code), keeps a
multi-line `Returns:` description as one value, and turns the items of any
section griffe does not know ("Call arguments", "Signatures", ...) into a bullet list, which
griffe shows as an admonition titled like the section. Nothing in the source changes.
"""

import re

import griffe

KNOWN = {"args", "arguments", "params", "parameters", "returns", "return", "yields", "yield",
         "raises", "raise", "exceptions", "warns", "warnings", "attributes", "example",
         "examples", "note", "notes", "receives", "receive", "other parameters",
         "other params", "other args", "other arguments", "keyword args",
         "keyword arguments", "methods", "functions", "classes", "modules", "deprecated",
         "see also", "references", "todo", "tip", "important", "warning", "danger", "caution"}
HEADER = re.compile(r"^([A-Z][A-Za-z ]{1,40})( \([^)]*\))?:\s*$")
ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_, .*]*?)( \([^)]*\))?:\s(.*)$")


def _is_header(line):
    return HEADER.match(line) is not None


def rewrite(text):
    """The docstring `text` (already dedented) in the form griffe's Google parser reads."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = HEADER.match(line)
        if not match:
            out.append(line)
            i += 1
            continue
        title = match.group(1).strip().lower()
        # The section's body: until the next header at column 0.
        j = i + 1
        while j < len(lines) and not _is_header(lines[j]):
            j += 1
        body = lines[i + 1:j]
        while body and not body[-1].strip():
            body.pop()
        trailing = lines[i + 1 + len(body):j]
        if title in ("example", "examples"):
            while body and not body[0].strip():
                body.pop(0)
            indented = all(not b.strip() or b.startswith(" ") for b in body)
            out.append("Examples:")  # griffe's examples section (doctest blocks)
            out += body if indented else [("    " + b) if b.strip() else "" for b in body]
        elif title in ("returns", "return", "yields", "yield") and body:
            # One value described over several lines: continuation lines go one level deeper,
            # or griffe would read each line as another returned value.
            out.append(line)
            out.append(body[0])
            out += [("    " + b) if b.strip() else "" for b in body[1:]]
        elif title in KNOWN or not body or not ITEM.match(body[0][4:]) or not all(
                not b.strip() or b.startswith("    ") for b in body):
            out.append(line)
            out += body
        else:
            out.append(line)
            for b in body:
                stripped = b[4:] if b.startswith("    ") else b.lstrip()
                item = ITEM.match(stripped)
                if item and not b.startswith("        "):
                    name, kind, rest = item.groups()
                    kind = kind or ""
                    out.append(f"    - `{name.strip()}`{kind}: {rest}")
                else:
                    out.append("      " + stripped.strip() if stripped.strip() else "")
        out += trailing
        i = j
    return "\n".join(out)


class KerasSeqDocstrings(griffe.Extension):
    """Rewrites each docstring with `rewrite` before griffe parses it."""

    def on_instance(self, *, node, obj, agent, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
