"""One shape for every 4xx answer of the API:

    {"errors": [{"field": "email", "code": "invalid", "message": "Enter a valid e-mail."}]}

`field` is a dotted path into the request ("3.occurred_at" in a batch) or null when the
error is about the request as a whole. `code` is stable for programs; `message` is for
people.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from leads.services import LeadActionRefused

# A refused action is a 409 (the lead's state or configuration says no), except when the
# refusal is about who asks (403) or the thing is not there (404).
REFUSAL_STATUS = {
    "permission": status.HTTP_403_FORBIDDEN,
    "gone": status.HTTP_404_NOT_FOUND,
    "unknown_transition": status.HTTP_404_NOT_FOUND,
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def error(field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"field": field, "code": code, "message": message}


def flatten(detail: Any, path: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """DRF's nested error details as a flat list of {field, code, message}."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            inner = path if key == api_settings.NON_FIELD_ERRORS_KEY else (*path, str(key))
            errors += flatten(value, inner)
        return errors
    if isinstance(detail, list):
        errors = []
        for index, item in enumerate(detail):
            # a list of dicts is one error dict per item of a list field or many=True
            errors += flatten(item, (*path, str(index)) if isinstance(item, dict) else path)
        return errors
    return [error(".".join(path) or None, getattr(detail, "code", None) or "invalid", str(detail))]


def refusal_response(refused: LeadActionRefused, status_code: int | None = None) -> Response:
    status_code = status_code or REFUSAL_STATUS.get(refused.code, status.HTTP_409_CONFLICT)
    return Response(
        {"errors": [error(refused.field, refused.code, refused.message)]}, status=status_code
    )


def handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]."""
    if isinstance(exc, LeadActionRefused):
        return refusal_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()  # never echo what was looked up
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)  # status, headers (Retry-After), rollback
    if response is not None:
        response.data = {"errors": flatten(exc.detail)}
    return response
