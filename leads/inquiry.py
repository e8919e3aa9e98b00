"""The public inquiry form (web-to-lead) and its RFQ variant: /inquiry/ and /inquiry/rfq/.

Marketing links to it (or embeds it in an iframe) per product line:
/inquiry/?product_line=components&utm_campaign=spring. It asks the qualification
questions of that product line's active criteria set, and a submission goes through the
same services as the API: ingest_lead, then record_event (form_submitted or
rfq_submitted), so the lead is scored, can take the RFQ fast lane and is routed.

No login and no CSRF token: the page is meant to be embedded in other sites, where the
browser withholds Django's cookies from the iframe; an anonymous form has no session to
abuse. Spam is held off by a honeypot field and a per-address limit counted in the cache
(Redis), with no third-party service.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from qualification.models import ChecklistItem, CriteriaSet, ProductLine

from . import services
from .models import EngagementEvent, Lead

# At most this many submissions per network address and window (valid or not).
RATE_LIMIT = 10
RATE_WINDOW_SECONDS = 3600
HONEYPOT = "homepage"
TRACKING = ("campaign", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class InquiryForm(forms.Form):
    first_name = forms.CharField(max_length=80)
    last_name = forms.CharField(max_length=80)
    email = forms.EmailField(label="Business e-mail", max_length=254)
    company = forms.CharField(max_length=200)
    title = forms.CharField(label="Job title", max_length=120, required=False)
    role_category = forms.ChoiceField(
        label="Your role", choices=[("", "—"), *Lead.RoleCategory.choices], required=False
    )
    country = forms.RegexField(
        regex=r"^[A-Za-z]{2}$",
        max_length=2,
        required=False,
        help_text="Two letters, e.g. DE",
        error_messages={"invalid": "Give the two-letter country code, e.g. DE."},
    )
    phone = forms.CharField(max_length=40, required=False)
    message = forms.CharField(
        label="How can we help?", max_length=5000, required=False, widget=forms.Textarea
    )
    # Bots fill every field; people never see this one (hidden by CSS, not type=hidden).
    homepage = forms.CharField(required=False, label="Leave this empty")
    # Names this submission: a double click or a resent POST records one event.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, questions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for item in self.questions:
            self.fields[f"question_{item.pk}"] = forms.CharField(
                label=item.question,
                help_text=item.help_text,
                max_length=1000,
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        for name in TRACKING:
            self.fields[name] = forms.CharField(
                max_length=120, required=False, widget=forms.HiddenInput
            )

    def contact_fields(self):
        skip = {HONEYPOT, "token", *TRACKING}
        return [
            self[name]
            for name in self.fields
            if name not in skip and not name.startswith("question_") and name not in RFQ_FIELDS
        ]

    def question_fields(self):
        return [self[f"question_{item.pk}"] for item in self.questions]

    def answers(self) -> list[dict]:
        return [
            {
                "item": item.pk,
                "question": item.question,
                "answer": self.cleaned_data[f"question_{item.pk}"].strip(),
            }
            for item in self.questions
            if self.cleaned_data[f"question_{item.pk}"].strip()
        ]


RFQ_FIELDS = ("specification", "quantity", "needed_by")


class RfqForm(InquiryForm):
    specification = forms.CharField(
        label="What do you need quoted?",
        max_length=5000,
        widget=forms.Textarea,
        help_text="Part numbers, specifications, drawings you can describe.",
    )
    quantity = forms.IntegerField(min_value=1, max_value=10_000_000, required=False)
    needed_by = forms.DateField(
        label="Needed by", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def rfq_fields(self):
        return [self[name] for name in RFQ_FIELDS]


def _product_lines() -> list[ProductLine]:
    """Lines with an active criteria set: only those have questions and scoring."""
    return list(
        ProductLine.objects.filter(criteria_sets__status=CriteriaSet.Status.ACTIVE)
        .distinct()
        .order_by("name")
    )


def _address(request) -> str:
    # The peer address. Behind a proxy, configure it to pass the client's address as the
    # peer; X-Forwarded-For is not trusted (a spammer would choose a fresh one each time).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def rate_key(address: str) -> str:
    return f"inquiry:rate:{address}"


def _over_limit(request) -> bool:
    key = rate_key(_address(request))
    cache.add(key, 0, RATE_WINDOW_SECONDS)  # starts the window on the first submission
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.set(key, 1, RATE_WINDOW_SECONDS)
        count = 1
    return count > RATE_LIMIT


def _submit(form: InquiryForm, line: ProductLine, *, rfq: bool, page: str) -> None:
    data = form.cleaned_data
    payload = {
        "email": data["email"],
        "first_name": data["first_name"],
        "last_name": data["last_name"],
        "company": data["company"],
        "title": data["title"],
        "role_category": data["role_category"],
        "country": data["country"].upper(),
        "phone": data["phone"],
        "source": Lead.Source.RFQ if rfq else Lead.Source.INBOUND_FORM,
        "product_line": line.code,
        **{name: data[name] for name in TRACKING},
    }
    metadata = {"form": "rfq" if rfq else "inquiry", "answers": form.answers()}
    if data["message"].strip():
        metadata["message"] = data["message"].strip()
    if rfq:
        metadata["specification"] = data["specification"].strip()
        if data["quantity"]:
            metadata["quantity"] = data["quantity"]
        if data["needed_by"]:
            metadata["needed_by"] = data["needed_by"].isoformat()
    kind = EngagementEvent.Kind.RFQ_SUBMITTED if rfq else EngagementEvent.Kind.FORM_SUBMITTED
    with transaction.atomic():  # the lead and its event, or neither
        lead = services.ingest_lead(payload=payload).lead
        services.record_event(
            lead=lead,
            kind=kind,
            occurred_at=timezone.now(),
            external_id=f"inquiry:{data['token']}",
            url=page[:500],
            metadata=metadata,
        )


def _inquiry(request, *, rfq: bool):
    lines = _product_lines()
    code = request.POST.get("product_line") or request.GET.get("product_line") or ""
    line = next((pl for pl in lines if pl.code == code), None)
    if line is None and len(lines) == 1:
        line = lines[0]
    template = "leads/inquiry_rfq.html" if rfq else "leads/inquiry.html"
    context = {"lines": lines, "line": line, "rfq": rfq, "honeypot": HONEYPOT}
    if line is None:
        # first step: which product is it about? (its questions follow)
        status = 400 if request.method == "POST" else 200
        return render(request, template, {**context, "choose": True}, status=status)
    questions = ChecklistItem.objects.filter(
        criteria_set__product_line=line, criteria_set__status=CriteriaSet.Status.ACTIVE
    ).order_by("order", "pk")
    form_class = RfqForm if rfq else InquiryForm
    if request.method != "POST":
        initial = {"token": uuid.uuid4(), **{k: request.GET.get(k, "")[:120] for k in TRACKING}}
        form = form_class(questions=questions, initial=initial)
        return render(request, template, {**context, "form": form})

    if _over_limit(request):
        return render(request, template, {**context, "limited": True}, status=429)
    if request.POST.get(HONEYPOT):
        # a bot: answer as if all went well, so it learns nothing
        return redirect("inquiry-thanks")
    form = form_class(request.POST, questions=questions)
    if form.is_valid():
        try:
            _submit(form, line, rfq=rfq, page=request.META.get("HTTP_REFERER", ""))
        except services.LeadActionRefused as refused:
            form.add_error(refused.field if refused.field in form.fields else None, refused.message)
        else:
            return redirect("inquiry-thanks")
    return render(request, template, {**context, "form": form}, status=400)


@login_not_required
@xframe_options_exempt
@csrf_exempt
@require_http_methods(["GET", "POST"])
def inquiry(request):
    return _inquiry(request, rfq=False)


@login_not_required
@xframe_options_exempt
@csrf_exempt
@require_http_methods(["GET", "POST"])
def inquiry_rfq(request):
    return _inquiry(request, rfq=True)


@login_not_required
@xframe_options_exempt
def thanks(request):
    return render(request, "leads/inquiry.html", {"thanks": True})


urlpatterns = [
    path("inquiry/", inquiry, name="inquiry"),
    path("inquiry/rfq/", inquiry_rfq, name="inquiry-rfq"),
    path("inquiry/thanks/", thanks, name="inquiry-thanks"),
]
