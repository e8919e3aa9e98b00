"""Forms parse what a person typed; leads/services.py decides whether it is allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils import timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData, SafeString, mark_safe

from qualification.models import ChecklistAnswer, Reason

from .models import Touch


def _as_text(value: Any) -> str:
    # {{ value|stringformat:"s" }}: text of the value, escaped unless already safe
    return value if isinstance(value, SafeData) else escape(f"{value}")


def _attrs_html(attrs: dict[str, Any]) -> str:
    # django/forms/widgets/attrs.html
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(" " + conditional_escape(name))
        if value is not True:
            out.append('="' + _as_text(value) + '"')
    return "".join(out)


class ListedChoices(ModelChoiceIterator):
    """A model choice field's choices read in one plain query. Django's iterator reads
    them through `QuerySet.iterator()`, which on PostgreSQL opens a server-side cursor
    (DECLARE, FETCH, CLOSE: three statements) for what is a list of a few dozen rows."""

    def __iter__(self) -> Iterator[Any]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset.all():
            yield self.choice(obj)


class ListedModelChoiceField(forms.ModelChoiceField):
    """ModelChoiceField whose choices are read in one plain query (ListedChoices)."""

    iterator = ListedChoices


class PlainSelect(forms.Select):
    """Django's Select with the HTML of its templates (select.html, select_option.html,
    attrs.html) written in Python: a template include per option made the lists' filters
    and the lead page's forms a good part of those pages' time."""

    def render(
        self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        out = ['<select name="', conditional_escape(widget["name"]), '"']
        out += [_attrs_html(widget["attrs"]), ">"]
        for group_name, options, _ in widget["optgroups"]:
            if group_name:
                out += ['\n  <optgroup label="', conditional_escape(group_name), '">']
            for option in options:
                out += ['\n  <option value="', _as_text(option["value"]), '"']
                out += [_attrs_html(option["attrs"]), ">", conditional_escape(option["label"])]
                out.append("</option>\n")
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return mark_safe("".join(out))


class PlainRadioSelect(forms.RadioSelect):
    """Django's RadioSelect with the HTML of its templates (multiple_input.html,
    input_option.html, input.html) written in Python, as PlainSelect."""

    def render(
        self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        ident, css = widget["attrs"].get("id"), widget["attrs"].get("class")
        out = ["<div"]
        if ident:
            out += [' id="', conditional_escape(ident), '"']
        if css:
            out += [' class="', conditional_escape(css), '"']
        out.append(">")
        for group_name, options, _ in widget["optgroups"]:
            if group_name:
                out += ["\n  <div><label>", conditional_escape(group_name), "</label>"]
            for option in options:
                out.append("<div>\n    ")
                option_id = option["attrs"].get("id")
                if option["wrap_label"]:
                    out.append(
                        f'<label for="{conditional_escape(option_id)}">' if option_id else "<label>"
                    )
                out += ['<input type="', conditional_escape(option["type"]), '" name="']
                out += [conditional_escape(option["name"]), '"']
                if option["value"] is not None:
                    out += [' value="', _as_text(option["value"]), '"']
                out += [_attrs_html(option["attrs"]), ">\n"]
                if option["wrap_label"]:
                    out += [" ", conditional_escape(option["label"]), "</label>"]
                out.append("\n\n</div>")
            if group_name:
                out.append("\n  </div>")
        out.append("\n</div>")
        return mark_safe("".join(out))


def reason_field(kind: str) -> forms.ModelChoiceField:
    return ListedModelChoiceField(
        queryset=Reason.objects.filter(kind=kind, active=True, system=False),
        empty_label="Choose a reason…",
        label="Reason",
        required=False,  # the service says what is missing, in the lifecycle's words
        widget=PlainSelect,
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
    kind = forms.ChoiceField(choices=Touch.Kind.choices, label="Touch", widget=PlainSelect)
    outcome = forms.ChoiceField(choices=Touch.Outcome.choices, widget=PlainSelect)
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
                widget=PlainRadioSelect,
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
