"""One rule for every user-given name that becomes part of a path (a run name, a sweep's
study name, a trial's folder): a relative name of plain parts, so that nothing is ever
written or deleted outside the root it is meant for.

`check_relative_name` refuses an absolute path, '~', '..', '.', a backslash, empty parts
and parts with surrounding spaces (and, where one folder is meant, any '/'), before
anything is written.
"""
from __future__ import annotations


from common.errors import ConfigError


def check_relative_name(name: str, what: str, lives_in: str, *, nested: bool = True) -> str:
    """`name`, if it is a relative folder name (with `nested`, several parts joined by '/');
    else a ConfigError naming `what` and where such folders live (`lives_in`)."""
    parts = str(name).split("/")
    if (not str(name).strip() or str(name).startswith(("/", "~")) or "\\" in str(name)
            or any(part in ("", ".", "..") or part != part.strip() for part in parts)
            or (not nested and len(parts) > 1)):
        shape = "a relative folder name" if nested else "a plain folder name (no '/')"
        raise ConfigError(f"{what}: {name!r} is not {shape} (no leading '/' or '~', no '..', '.', '\\' or empty "
                          f"parts); {lives_in}")
    return str(name)
