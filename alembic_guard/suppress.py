"""Suppressions: ``# alembic-guard: ignore[rule-id, other-id] reason`` on the op line (or the line
above it), read with Python's tokenizer so strings that merely contain the marker do not count."""

from __future__ import annotations

import functools
import io
import tokenize

MARKER = "alembic-guard:"


def _comments(path: str) -> dict[int, str]:
    """Line → comment of the file's comments that may be suppressions. A file whose bytes do not
    hold the (ASCII) marker has none: it is not tokenized (most revision files; a check of a long
    history would otherwise tokenize every one of them on every run). Read on every call, cached by
    content: a long-lived process (the MCP server, a test session) sees a comment added since."""
    try:
        with open(path, "rb") as fh:
            source = fh.read()
    except OSError:
        return {}
    return _tokenized(source) if MARKER.encode() in source else {}


@functools.lru_cache(maxsize=512)
def _tokenized(source: bytes) -> dict[int, str]:
    try:
        return {tok.start[0]: tok.string for tok in tokenize.tokenize(io.BytesIO(source).readline)
                if tok.type == tokenize.COMMENT}
    except (tokenize.TokenError, SyntaxError):
        return {}


def parse_comment(comment: str) -> tuple[set[str], str] | None:
    """``({rule ids}, reason)`` of a suppression comment; ``{"*"}`` for ``ignore`` without ids."""
    text = comment.lstrip("#").strip()
    if not text.startswith(MARKER):
        return None
    text = text[len(MARKER):].strip()
    if not text.startswith("ignore"):
        return None
    text = text[len("ignore"):]
    ids: set[str] = {"*"}
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        ids = {part.strip() for part in text[1:close].split(",") if part.strip()}
        text = text[close + 1:]
    return ids, text.strip()


def suppression_for(path: str | None, line: int | None, rule: str) -> tuple[int, str] | None:
    """``(comment line, reason)`` of a suppression of ``rule`` at ``line`` or the line above."""
    if not path or not line:
        return None
    comments = _comments(path)
    for ln in (line, line - 1):
        parsed = parse_comment(comments.get(ln, ""))
        if parsed and (rule in parsed[0] or "*" in parsed[0]):
            return ln, parsed[1]
    return None


def suppressions_in(path: str) -> list[tuple[int, set[str]]]:
    """``(line, rule ids)`` of every suppression comment in the file at ``path``."""
    out = []
    for line, comment in sorted(_comments(path).items()):
        parsed = parse_comment(comment)
        if parsed:
            out.append((line, parsed[0]))
    return out
