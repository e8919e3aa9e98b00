"""JSON bodies, strictly: bounded in size, UTF-8 only, and free of values PostgreSQL
cannot store (NUL characters, unpaired surrogates, non-finite numbers), so bad input is a
400 (or 413) with the error shape and never a 500 further down."""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.parsers import BaseParser

from .exceptions import PayloadTooLarge


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate, e.g. "\ud800"
        return True
    return False


def _invalid_text(path: str) -> ValidationError:
    return ValidationError(
        {
            path or "non_field_errors": [
                ErrorDetail(
                    "Text may not contain NUL characters or unpaired surrogates.",
                    code="invalid_text",
                )
            ]
        }
    )


def _check_text(data: Any) -> None:
    # iterative: a deeply nested body must not exhaust the stack
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _bad_text(value):
                raise _invalid_text(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if _bad_text(key):
                    raise _invalid_text(path)
                stack.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(value))


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge()  # refused before reading a byte of it
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"The body is not UTF-8 (invalid byte at position {exc.start}).", code="not_utf8"
            ) from exc
        try:
            data = json.loads(
                text.removeprefix("\ufeff"),
                parse_float=_finite,
                parse_constant=_refuse_constant,
            )
        except json.JSONDecodeError as exc:
            raise ParseError(
                f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
                code="invalid_json",
            ) from exc
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The body is not valid JSON: {exc}.", code="invalid_json") from exc
        # A NUL or an unpaired surrogate can only come from a \\u escape (json.loads
        # refuses raw control characters, and the UTF-8 decoding raw surrogates): a body
        # without one (a batch of events, usually) needs no walk through its strings.
        if "\\u" in text:
            _check_text(data)
        return data
