"""The API's views: parse, call one service or selector, answer.

Access is the pages' (leads/views.py): a lead outside visible_leads(user) is 404, so its
existence is not revealed; a visible lead on which the user's role may not act is 403
(the service refuses with code "permission"); any other refusal by the lifecycle is 409
with the guard's code and sentence. Intake (POST /leads/, POST /events/) needs a model
permission instead (api/permissions.py) and matches leads by e-mail across all leads.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import Resolver404, resolve
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leads import services
from leads.models import Lead, StageChange
from leads.selectors import visible_leads, with_list_relations
from leads.stages import OPEN_STAGES
from qualification.models import ChecklistItem
from qualification.selectors import checklist_state
from routing.selectors import clocks_for

from . import serializers as s
from .exceptions import error, flatten, refusal_response
from .permissions import MethodPermission

MAX_BATCH = 1000
MAX_ID = s.MAX_ID


def errors_response(description: str = "") -> OpenApiResponse:
    return OpenApiResponse(s.ErrorsSerializer, description=description)


# Every operation can answer these; each view adds its own.
COMMON_ERRORS = {
    401: errors_response("No or an invalid token."),
    403: errors_response("The client's role or permissions do not allow this."),
    429: errors_response("Too many requests for this client; see Retry-After."),
}
BODY_ERRORS = {
    400: errors_response("The request is malformed; each error names its field."),
    413: errors_response("The request body is too large."),
    415: errors_response("The body is not JSON."),
}


class ApiMixin:
    permission_classes = [IsAuthenticated, MethodPermission]

    @classmethod
    def as_view(cls, **initkwargs):
        # Integrations authenticate with tokens, which the login middleware does not know:
        # DRF's authentication and permissions decide, and answer 401/403 as JSON.
        return login_not_required(super().as_view(**initkwargs))


def _lead_for(request, pk: int) -> Lead:
    """The lead if this user may see it; 404 otherwise (as on the pages)."""
    if pk > MAX_ID:
        raise NotFound()
    lead = (
        visible_leads(request.user)
        .select_related("account", "owner", "product_line", "criteria_set")
        .filter(pk=pk)
        .first()
    )
    if lead is None:
        raise NotFound()
    return lead


def _validated(serializer_class, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _blank_to_missing(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in (None, "")}


# --- leads ---------------------------------------------------------------------------------


class LeadCursor(CursorPagination):
    # Oldest change first: a client syncing with updated_since walks to the present, and
    # a lead changed meanwhile comes round again on a later page.
    ordering = ("updated_at", "pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class LeadsView(ApiMixin, GenericAPIView):
    pagination_class = LeadCursor
    serializer_class = s.LeadSerializer
    required_permissions = {"POST": "leads.add_lead"}

    @extend_schema(
        operation_id="leads_list",
        summary="Leads this client may see",
        parameters=[s.LeadListQuerySerializer],
        responses={
            200: s.LeadSerializer(many=True),
            400: errors_response("A filter is malformed."),
            404: errors_response("The cursor is invalid."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request):
        query = _validated(s.LeadListQuerySerializer, request.query_params.dict())
        leads = visible_leads(request.user)
        if "stage" in query:
            leads = leads.filter(stage=query["stage"])
        if "owner" in query:
            leads = leads.filter(owner_id=query["owner"])
        if "source" in query:
            leads = leads.filter(source=query["source"])
        if "product_line" in query:
            leads = leads.filter(product_line__code=query["product_line"])
        if "updated_since" in query:
            leads = leads.filter(updated_at__gte=query["updated_since"])
        page = self.paginate_queryset(with_list_relations(leads))
        return self.get_paginated_response(s.LeadSerializer(page, many=True).data)

    @extend_schema(
        operation_id="leads_upsert",
        summary="Create or update a lead by e-mail",
        request=s.LeadUpsertSerializer,
        responses={
            200: OpenApiResponse(s.LeadUpsertResultSerializer, description="Updated."),
            201: OpenApiResponse(s.LeadUpsertResultSerializer, description="Created."),
            **BODY_ERRORS,
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        payload = _blank_to_missing(_validated(s.LeadUpsertSerializer, request.data))
        try:
            result = services.ingest_lead(payload=payload)
        except services.LeadActionRefused as refused:
            return refusal_response(refused, status.HTTP_400_BAD_REQUEST)  # all about input
        lead = with_list_relations(Lead.objects.filter(pk=result.lead.pk)).get()
        data = {**s.LeadSerializer(lead).data, "created": result.created}
        return Response(data, status=status.HTTP_201_CREATED if result.created else 200)


class LeadDetailView(ApiMixin, APIView):
    @extend_schema(
        operation_id="leads_retrieve",
        summary="A lead with its score explanation, checklist, clocks and history",
        responses={
            200: s.LeadDetailSerializer,
            404: errors_response("No such lead, or not one this client may see."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, pk: int):
        lead = _lead_for(request, pk)
        lead.score = services.compute_score(lead, timezone.now())
        lead.checklist = checklist_state(lead)
        lead.clocks = list(clocks_for(lead))
        lead.running_clocks = [c for c in lead.clocks if c.stopped_at is None]
        lead.history = list(
            StageChange.objects.filter(lead=lead).select_related("actor", "reason").order_by("at")
        )
        lead.available_transitions = services.available_transitions(lead, request.user)
        return Response(s.LeadDetailSerializer(lead).data)


# --- transitions, touches, checklist ---------------------------------------------------------


class TransitionView(ApiMixin, APIView):
    @extend_schema(
        operation_id="leads_transition",
        summary="Move a lead through its lifecycle, as the lead page does",
        parameters=[
            OpenApiParameter(
                "name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(services.TRANSITIONS)
            )
        ],
        request=s.TransitionSerializer,
        responses={
            200: s.TransitionResultSerializer,
            404: errors_response("No such lead (or not visible to this client), or transition."),
            409: errors_response("Refused by the lifecycle: the code and sentence say why."),
            **BODY_ERRORS,
            **COMMON_ERRORS,
        },
    )
    def post(self, request, pk: int, name: str):
        lead = _lead_for(request, pk)
        if name not in services.TRANSITIONS:
            raise NotFound(f"There is no transition called '{name[:40]}'.")
        inputs = _validated(s.TransitionSerializer, request.data)
        takes = services.TRANSITION_INPUTS[name]
        extra = sorted(key for key in inputs if key != "seen_stage" and key not in takes)
        if extra:
            raise ValidationError(
                {
                    key: [
                        ErrorDetail(
                            f"'{name}' does not take '{key}'"
                            + (f"; it takes: {', '.join(takes)}." if takes else "."),
                            code="not_taken",
                        )
                    ]
                    for key in extra
                }
            )
        seen_stage = inputs.pop("seen_stage", None)
        change = services.perform(name, lead=lead, by=request.user, seen_stage=seen_stage, **inputs)
        change = StageChange.objects.select_related("actor", "reason").get(pk=change.pk)
        fresh = with_list_relations(Lead.objects.filter(pk=lead.pk)).get()
        return Response(
            {
                "change": s.StageChangeSerializer(change).data,
                "lead": s.LeadSerializer(fresh).data,
            }
        )


class TouchView(ApiMixin, APIView):
    @extend_schema(
        operation_id="leads_touch",
        summary="Log a sales touch (the first one stops the first-touch clock)",
        request=s.TouchSerializer,
        responses={
            201: s.TouchResultSerializer,
            404: errors_response("No such lead, or not one this client may see."),
            409: errors_response("Refused, e.g. the lead is closed."),
            **BODY_ERRORS,
            **COMMON_ERRORS,
        },
    )
    def post(self, request, pk: int):
        lead = _lead_for(request, pk)
        touch = services.log_touch(
            lead=lead, by=request.user, **_validated(s.TouchSerializer, request.data)
        )
        return Response(s.TouchResultSerializer(touch).data, status=status.HTTP_201_CREATED)


class ChecklistAnswerView(ApiMixin, APIView):
    @extend_schema(
        operation_id="leads_checklist_answer",
        summary="Answer one checklist item (the latest answer counts)",
        request=s.ChecklistAnswerSerializer,
        responses={
            200: s.ChecklistRowSerializer,
            404: errors_response("No such lead or item on this lead's checklist."),
            409: errors_response("Refused, e.g. the lead is closed."),
            **BODY_ERRORS,
            **COMMON_ERRORS,
        },
    )
    def put(self, request, pk: int, item: int):
        lead = _lead_for(request, pk)
        found = None
        if item <= MAX_ID and lead.criteria_set_id is not None:
            found = ChecklistItem.objects.filter(
                pk=item, criteria_set_id=lead.criteria_set_id
            ).first()
        if found is None:
            raise NotFound("This lead's checklist has no such item.")
        answer = _validated(s.ChecklistAnswerSerializer, request.data)
        services.answer_checklist(lead=lead, by=request.user, item=found, **answer)
        row = next(r for r in checklist_state(lead) if r.item_id == found.pk)
        return Response(s.ChecklistRowSerializer(row).data)


# --- engagement events ------------------------------------------------------------------------


class EventsView(ApiMixin, APIView):
    required_permissions = {"POST": "leads.add_engagementevent"}

    @extend_schema(
        operation_id="events_create",
        summary="Record one engagement event, or a batch of up to 1,000",
        description=(
            "A JSON object is one event: 201 created, 200 duplicate (same `external_id`), "
            "400 rejected. A JSON array is a batch: 200 with one result per item, in order; "
            "every valid item is stored even when others are rejected. A batch whose every "
            "item is rejected is a 400 (fields prefixed with the item's index): a 4xx always "
            "means nothing was stored."
        ),
        request=PolymorphicProxySerializer(
            component_name="EventOrBatch",
            serializers=[s.EventSerializer, s.EventSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="EventDuplicateOrBatchResult",
                serializers=[s.EventResultSerializer, s.EventBatchResultSerializer],
                resource_type_field_name=None,
            ),
            201: s.EventResultSerializer,
            **BODY_ERRORS,
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        data = request.data
        if isinstance(data, list):
            if not data:
                raise ValidationError(
                    {"non_field_errors": [ErrorDetail("The batch is empty.", code="empty")]}
                )
            if len(data) > MAX_BATCH:
                raise ValidationError(
                    {
                        "non_field_errors": [
                            ErrorDetail(
                                f"At most {MAX_BATCH} events per request (got {len(data)}).",
                                code="too_many",
                            )
                        ]
                    }
                )
            results = record_events(data)
            counts = {key: 0 for key in ("created", "duplicate", "rejected")}
            for result in results:
                counts[result["status"]] += 1
            if counts["rejected"] == len(results):
                # nothing taken: a 4xx, like any request that stored nothing
                return Response(
                    {"errors": [_in_batch(r["index"], e) for r in results for e in r["errors"]]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            return Response({**counts, "results": results})
        (result,) = record_events([data])
        if result["status"] == "rejected":
            return Response({"errors": result["errors"]}, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if result["status"] == "created" else status.HTTP_200_OK
        return Response(result, status=code)


def _in_batch(index: int, item_error: dict[str, Any]) -> dict[str, Any]:
    field = item_error["field"]
    return {**item_error, "field": f"{index}.{field}" if field else str(index)}


def _result(index: int, state: str, event=None, lead=None, errors=()) -> dict[str, Any]:
    return {"index": index, "status": state, "event": event, "lead": lead, "errors": list(errors)}


def record_events(items: list[Any]) -> list[dict[str, Any]]:
    """Validate every item, find the leads named by e-mail (one query, only if any are),
    then record the valid events in one call of leads.services.record_events, which
    finds the leads named by id, the repeats and the leads that are not there."""
    validator = s.EventSerializer()  # one instance: building fields per item costs time
    valid: dict[int, dict[str, Any]] = {}
    results: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(items):
        try:
            value = validator.plain_value(item)
            valid[index] = validator.run_validation(item) if value is None else value
        except ValidationError as exc:
            results[index] = _result(index, "rejected", errors=flatten(exc.detail))

    emails = {v["email"].strip().lower() for v in valid.values() if "email" in v}
    by_email = (
        dict(
            Lead.objects.filter(
                email__in=emails, archived_at__isnull=True, stage__in=OPEN_STAGES
            ).values_list("email", "pk")
        )
        if emails
        else {}
    )
    batch: list[tuple[int, services.NewEvent]] = []
    for index, item in valid.items():
        lead = item["lead"] if "lead" in item else by_email.get(item["email"].lower())
        if lead is None:
            results[index] = _refused(index, services.no_open_lead("email"))
            continue
        batch.append(
            (
                index,
                services.NewEvent(
                    lead=lead,
                    kind=item["kind"],
                    occurred_at=item["occurred_at"],
                    external_id=(item.get("external_id") or "").strip() or None,
                    url=item.get("url") or "",
                    content_tag=item.get("content_tag") or "",
                    metadata=item.get("metadata") or {},
                ),
            )
        )
    if batch:
        outcomes = services.record_events(events=[e for _, e in batch], now=timezone.now())
        for (index, _), outcome in zip(batch, outcomes, strict=True):
            if outcome.refused is not None:
                results[index] = _refused(index, outcome.refused)
                continue
            state = "created" if outcome.created else "duplicate"
            results[index] = _result(
                index, state, event=outcome.event.pk, lead=outcome.event.lead_id
            )
    return [results[index] for index in range(len(items))]


def _refused(index: int, refused: services.LeadActionRefused) -> dict[str, Any]:
    return _result(index, "rejected", errors=[error(refused.field, refused.code, refused.message)])


# --- anything else under /api/v1/ -------------------------------------------------------------


@extend_schema(exclude=True)
class NotFoundView(ApiMixin, APIView):
    """Unknown API paths answer 404 in the error shape, not with the HTML error page."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def _answer(self, request, *args, **kwargs):
        message = "There is no such API endpoint."
        if not request.path.endswith("/"):
            try:
                resolve(request.path + "/")
                message = f"There is no such API endpoint. Did you mean {request.path}/ ?"
            except Resolver404:
                pass
        raise NotFound(message)

    get = post = put = patch = delete = head = options = _answer
