"""Edit a revision file with libcst: find the statements of ``upgrade()``, replace them by a rewrite's
code or put a refusal comment above them, add the header and the ``alembic_guard.ops`` import.

Comments, layout and everything else of the file stay byte-for-byte.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .outcome import OPS_IMPORT, Outcome

HEADER = "# alembic-guard:"

#: a simple statement of upgrade(), its first and last line, and whether it sits in an autocommit block
Located = tuple[cst.SimpleStatementLine, int, int, bool]


class Locator(cst.CSTVisitor):
    """Collects the simple statements of ``upgrade()`` (also inside ``with`` blocks) with their
    line ranges, and whether they sit in an autocommit block."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, function: str = "upgrade"):
        self.function = function
        self.depth = 0
        self.autocommit = 0
        self.found: list[Located] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self.depth == 0 and node.name.value == self.function:
            self.depth = 1
            return True
        return self.depth > 0 and False

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value == self.function:
            self.depth = 0

    def visit_With(self, node: cst.With) -> bool:
        if any("autocommit_block" in cst.Module(body=[]).code_for_node(i.item) for i in node.items):
            self.autocommit += 1
        return True

    def leave_With(self, node: cst.With) -> None:
        if any("autocommit_block" in cst.Module(body=[]).code_for_node(i.item) for i in node.items):
            self.autocommit -= 1

    def visit_If(self, node) -> bool:
        return False

    visit_For = visit_While = visit_Try = visit_If

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        if self.depth:
            pos = self.get_metadata(PositionProvider, node)
            self.found.append((node, pos.start.line, pos.end.line, self.autocommit > 0))
        return False


def locate(module: cst.Module) -> list[Located]:
    """The simple statements of ``upgrade()`` in ``module`` (see Locator)."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    locator = Locator()
    wrapper.visit(locator)
    return locator.found


def statement_call(stmt: cst.SimpleStatementLine) -> cst.Call | None:
    """The call when ``stmt`` is a single call expression (``op.<name>(...)``), else None."""
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
        return None
    value = stmt.body[0].value
    return value if isinstance(value, cst.Call) else None


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, list[cst.BaseStatement]], comments: dict[int, list[str]]):
        self.replacements = replacements
        self.comments = comments

    def leave_SimpleStatementLine(self, original, updated):
        key = id(original)
        if key in self.comments:
            extra = [cst.EmptyLine(comment=cst.Comment(c)) for c in self.comments[key]]
            updated = updated.with_changes(leading_lines=[*updated.leading_lines, *extra])
        if key in self.replacements:
            new = list(self.replacements[key])
            first = new[0]
            lead = [*updated.leading_lines, *first.leading_lines]
            comment = updated.trailing_whitespace.comment
            last = new[-1]
            if comment is not None and isinstance(last, cst.SimpleStatementLine) and len(new) > 1:
                new[-1] = last.with_changes(trailing_whitespace=updated.trailing_whitespace)
            elif comment is not None and isinstance(first, cst.SimpleStatementLine):
                first = first.with_changes(trailing_whitespace=updated.trailing_whitespace)
            elif comment is not None:  # a compound statement (with block): keep the comment above it
                lead.append(cst.EmptyLine(comment=comment))
            new[0] = first.with_changes(leading_lines=lead)
            return cst.FlattenSentinel(new)
        return updated


def _statements(code: str) -> list[cst.BaseStatement]:
    module = cst.parse_module(code + "\n")
    body = list(module.body)
    if body and module.header:  # comment lines before the first statement parse as the module's header
        body[0] = body[0].with_changes(leading_lines=[*module.header, *body[0].leading_lines])
    return body


def apply_rewrites(source: str, chosen: list[tuple[int, Outcome]], header: list[str] | None = None) -> str:
    """``source`` with each (first line of an ``upgrade()`` statement, outcome) applied: code replaces
    the statement, a refusal
    adds comment lines above it; ``header`` comment lines go after the module docstring; the ops
    import is added when a replacement uses alembic_guard.ops. Everything else is untouched."""
    module = cst.parse_module(source)
    by_line = {start: stmt for stmt, start, _end, _ac in locate(module)}
    replacements: dict[int, list[cst.BaseStatement]] = {}
    comments: dict[int, list[str]] = {}
    for line, outcome in chosen:
        stmt = by_line[line]
        if outcome.code:
            replacements[id(stmt)] = _statements(outcome.code)
        elif outcome.refused:
            comments[id(stmt)] = [f"{HEADER} not rewritten: {outcome.refused}."] + \
                ([f"{HEADER} expand/contract plan in `alembic-guard fix` output."] if outcome.plan else [])
    new = module.visit(_Replace(replacements, comments))
    body = list(new.body)
    if any(o.uses_ops for _, o in chosen) and "import alembic_guard.ops" not in source:
        at = next((i for i, s in enumerate(body) if isinstance(s, cst.SimpleStatementLine)
                   and isinstance(s.body[0], cst.ImportFrom) and cst.Module(body=[]).code_for_node(s.body[0])
                   .startswith("from alembic import")), None)
        if at is None:
            at = max((i for i, s in enumerate(body) if isinstance(s, cst.SimpleStatementLine)
                      and isinstance(s.body[0], (cst.Import, cst.ImportFrom))), default=0)
        body.insert(at + 1, cst.parse_statement(OPS_IMPORT + "\n"))
    if header:
        first = 1 if body and _is_docstring(body[0]) else 0
        if first < len(body):
            lines = [cst.EmptyLine(comment=cst.Comment(h)) for h in header]
            target = body[first]
            body[first] = target.with_changes(leading_lines=[*target.leading_lines, *lines])
    return new.with_changes(body=body).code


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
