"""Links written once a row. Django's `reverse()` walks the URL patterns and quotes the
arguments on every call (17 to 33 µs here); a list of 50 leads with one to three links a
row spent a sixth of its rendering there. `url_with_ids` reverses a pattern once, with
marker ids, and fills in the ids of each row: the same URL as `reverse()`, for integer
arguments (the other arguments are part of what is remembered). A URL that writes its
ids otherwise than as they are (a converter that pads them, say) is reversed by Django
each time."""

from __future__ import annotations

import functools

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# far from any id a row has, and unlike any other part of a URL
_MARK = 987_654_321_000


def url_with_ids(viewname: str, *args: int | str) -> str:
    """`reverse(viewname, args=args)`, its integer arguments filled into a remembered
    pattern (per URL configuration and script prefix, as `reverse()` depends on them)."""
    shape = tuple(None if type(arg) is int else arg for arg in args)
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    pattern = _pattern(viewname, shape, urlconf, get_script_prefix())
    if pattern is None:
        return reverse(viewname, args=args)
    return pattern.format(*(arg for arg in args if type(arg) is int))


@functools.lru_cache(maxsize=256)
def _pattern(viewname: str, shape: tuple[str | None, ...], urlconf: str, prefix: str) -> str | None:
    """The URL with a `{n}` for each integer argument. `prefix` is not read here:
    `reverse()` takes the thread's script prefix itself, and it is part of the key."""
    marks = [_MARK + index if kind is None else kind for index, kind in enumerate(shape)]
    try:
        url = reverse(viewname, urlconf=urlconf, args=marks)
    except NoReverseMatch:
        return None  # no such URL, or not for ids that long: reverse() says which
    url = url.replace("{", "{{").replace("}", "}}")
    ints = 0
    for mark in marks:
        if type(mark) is int:
            if url.count(str(mark)) != 1:
                return None  # the id is not written as it is
            url = url.replace(str(mark), f"{{{ints}}}")
            ints += 1
    return url
