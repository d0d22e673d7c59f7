"""Generated files that are checked in (``docs/*``, blocks of README.md): written only
when their content changes, so that a test run that regenerates them leaves an
unchanged checkout clean."""

from __future__ import annotations

from pathlib import Path


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` (UTF-8) to ``path`` unless it already holds exactly that; True if written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def markers(name: str) -> tuple[str, str]:
    """The comments that delimit the generated block ``name`` in a Markdown file."""
    return f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"


def replace_generated_block(text: str, name: str, block: str) -> str:
    """``text`` with the lines between the ``name`` markers replaced by ``block``.

    The block starts on the line after the BEGIN marker and ends with a newline
    (one is added if missing), so the END marker stays on a line of its own.
    ValueError unless ``text`` has exactly one BEGIN marker followed by exactly one END.
    """
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"no single {begin} ... {end} block")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    if not block.endswith("\n"):
        block += "\n"
    return f"{head}{begin}\n{block}{end}{tail}"
