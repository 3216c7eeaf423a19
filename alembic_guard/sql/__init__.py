"""SQL understanding through pglast (the PostgreSQL parser itself); never regular expressions."""

from .parse import (alter_commands, constraint_kind, parse_one, quote_ident, range_name, subtype,
                    type_name)

__all__ = ["alter_commands", "constraint_kind", "parse_one", "quote_ident", "range_name", "subtype", "type_name"]
