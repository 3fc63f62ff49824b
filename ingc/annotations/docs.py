"""The generated part of README.md: the supported table and the unsupported list, from the registry.

``python -m ingc.annotations.docs README.md`` rewrites the text between the two markers; a test
checks that the page is up to date.
"""

from __future__ import annotations

import sys

from ingc.annotations import HANDLERS
from ingc.annotations.catalog import ALIASES

START = "<!-- generated: start (python -m ingc.annotations.docs README.md) -->"
END = "<!-- generated: end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def generated() -> str:
    aliases = {canonical: alias for alias, canonical in ALIASES.items()}
    out = ["### Supported annotations", "",
           "| annotation | scope | invalid value | nginx output | handler |",
           "|---|---|---|---|---|"]
    unsupported: list[tuple[str, str]] = []
    for h in HANDLERS:
        for k in h.keys:
            if k.unsupported:
                unsupported.append((k.name, k.unsupported))
                continue
            name = f"`{k.name}`" + (f" (alias `{aliases[k.name]}`)" if k.name in aliases else "")
            out.append(f"| {name} | {k.scope} | {k.invalid} | `{_cell(k.nginx)}` | {h.name} |")
    out += ["", "### Unsupported annotations", "",
            "Reported as `unsupported` with the reason (warning A102); one that restricts access and is switched "
            "on denies the Ingress's locations instead (A103, 503).", "",
            "| annotation | reason |", "|---|---|"]
    out += [f"| `{name}` | {_cell(reason)} |" for name, reason in sorted(unsupported)]
    return "\n".join(out) + "\n"


def update(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{generated()}{END}{tail}"


def main(argv: list[str]) -> int:
    path = argv[0]
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    new = update(text)
    if new != text:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
