"""Forms parse what a person typed; leads/services.py decides whether it is allowed."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from qualification.models import ChecklistAnswer, Reason

from .models import Touch


def reason_field(kind: str) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Reason.objects.filter(kind=kind, active=True, system=False),
        empty_label="Choose a reason…",
        label="Reason",
        required=False,  # the service says what is missing, in the lifecycle's words
    )


class NoteMixin(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class AcceptForm(forms.Form):
    pass


class RejectForm(NoteMixin):
    reason = reason_field(Reason.Kind.REJECTION)
    field_order = ["reason", "note"]


class DisqualifyForm(NoteMixin):
    reason = reason_field(Reason.Kind.DISQUALIFICATION)
    field_order = ["reason", "note"]


class NurtureForm(NoteMixin):
    reason = reason_field(Reason.Kind.NURTURE)
    follow_up_on = forms.DateField(
        label="Follow up on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="On this date the lead comes back to you as an MQL.",
    )
    field_order = ["reason", "follow_up_on", "note"]


class QualifySqlForm(NoteMixin):
    next_step = forms.CharField(
        label="Agreed next step",
        max_length=300,
        required=False,
        help_text="e.g. Technical workshop on 12 March with their plant engineer",
    )
    field_order = ["next_step", "note"]


class DisputeForm(forms.Form):
    note = forms.CharField(
        label="Why the rejection is wrong",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class RecycleForm(NoteMixin):
    pass


class ConvertForm(NoteMixin):
    pass


class EngageForm(forms.Form):
    pass


class QualifyMqlForm(forms.Form):
    pass


TRANSITION_FORMS: dict[str, type[forms.Form]] = {
    "engage": EngageForm,
    "qualify_mql": QualifyMqlForm,
    "accept": AcceptForm,
    "reject": RejectForm,
    "qualify_sql": QualifySqlForm,
    "nurture": NurtureForm,
    "convert": ConvertForm,
    "recycle": RecycleForm,
    "dispute": DisputeForm,
    "disqualify": DisqualifyForm,
}

TRANSITION_LABELS = {
    "engage": "Mark engaged",
    "qualify_mql": "Make MQL",
    "accept": "Accept",
    "reject": "Reject",
    "qualify_sql": "Qualify to SQL",
    "nurture": "Move to nurture",
    "convert": "Convert to opportunity",
    "recycle": "Recycle to nurture",
    "dispute": "Dispute rejection",
    "disqualify": "Disqualify",
}


class TouchForm(forms.Form):
    kind = forms.ChoiceField(choices=Touch.Kind.choices, label="Touch")
    outcome = forms.ChoiceField(choices=Touch.Outcome.choices)
    occurred_at = forms.DateTimeField(
        label="When",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: now.",
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def clean_occurred_at(self):
        return self.cleaned_data.get("occurred_at") or timezone.now()


class ChecklistForm(forms.Form):
    """One answer and evidence field per checklist item (rows of checklist_state)."""

    def __init__(self, *args, rows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = list(rows)
        for row in self.rows:
            self.fields[f"answer_{row.item_id}"] = forms.ChoiceField(
                choices=ChecklistAnswer.Answer.choices,
                initial=row.answer,
                widget=forms.RadioSelect,
                label=row.question,
            )
            self.fields[f"evidence_{row.item_id}"] = forms.CharField(
                required=False, initial=row.evidence, label=f"Evidence for “{row.question}”"
            )

    def items(self):
        """(row, answer field, evidence field) per item, for the template."""
        return [
            (row, self[f"answer_{row.item_id}"], self[f"evidence_{row.item_id}"])
            for row in self.rows
        ]

    def changed_answers(self):
        """(item_id, answer, evidence) for items whose answer or evidence changed."""
        out = []
        for row in self.rows:
            answer = self.cleaned_data[f"answer_{row.item_id}"]
            evidence = self.cleaned_data[f"evidence_{row.item_id}"].strip()
            if answer != row.answer or evidence != row.evidence:
                out.append((row.item_id, answer, evidence))
        return out
