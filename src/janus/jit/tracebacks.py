"""Tracebacks through the frames the translator interpreted.

The translator runs the user's functions instruction by instruction, so an
exception they raise leaves no Python frame of theirs in its traceback: it
would seem to come from janus. As it unwinds, each interpreted frame it
leaves is noted (`UserException.frames`); `with_user_frames` then puts one
traceback entry per noted frame (file, line and function name of the user's
code) in front of the exception's own traceback, so it reads as if the code
had run as usual. The entries come from real frames of small code objects
compiled at the user's file and line (the way template engines report errors
in templates); their locals are not the user's.
"""

from __future__ import annotations

import functools
import linecache

from .values import UserException


def note_frame(raised: UserException, frame) -> None:
    """`raised` is leaving the interpreted `frame` (innermost first)."""
    ins = frame.code.instructions[frame.index]
    raised.frames.append((frame.code.code, ins.line or frame.code.code.co_firstlineno))


def with_user_frames(raised: UserException) -> BaseException:
    """The user's exception, its traceback running through their frames."""
    exc = raised.exc
    if not raised.frames:
        return exc
    step = functools.partial(exec, _at(*raised.frames[0], "raise (__exc__", ")"), {"__exc__": exc})
    for code, line in raised.frames[1:]:
        # exec and partial are C: no frame of janus sits between two entries.
        step = functools.partial(exec, _at(code, line, "__next__(", ")"), {"__next__": step})
    try:
        step()
    except BaseException as unwound:  # noqa: BLE001 - it is `exc`, now with the entries
        exc = unwound
    exc.__traceback__ = exc.__traceback__.tb_next  # this function's own entry
    return exc


def _at(code, line: int, opening: str, closing: str):
    """A code object running `opening + closing` at `line` of `code`'s file,
    named like `code`. The statement is indented and padded inside its
    parentheses to span the user's line, so tracebacks underline none of it
    (its columns would point at the wrong part)."""
    text = linecache.getline(code.co_filename, line)
    indent = text[: len(text) - len(text.lstrip())]
    padding = " " * max(0, len(text.strip()) - len(opening) - len(closing))
    if line > 1 and indent and indent.isspace():  # an indented line needs a block
        source = "\n" * (line - 2) + "if 1:\n" + indent + opening + padding + closing
    else:
        source = "\n" * (line - 1) + opening + padding + closing
    synthetic = compile(source, code.co_filename, "exec")
    return synthetic.replace(co_name=code.co_name, co_qualname=code.co_qualname)
