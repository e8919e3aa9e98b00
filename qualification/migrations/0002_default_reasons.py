from django.db import migrations

# code, label, kind, category, requires_note, system
REASONS = [
    ("misrouted", "Misrouted (wrong territory or product line)", "rejection", "fit", False, False),
    ("not-mql-definition", "Does not meet the MQL definition", "rejection", "fit", True, False),
    ("incomplete-record", "Incomplete record", "rejection", "data_quality", False, False),
    ("duplicate", "Duplicate", "rejection", "duplicate", False, False),
    ("bad-contact-data", "Bad contact data", "rejection", "data_quality", False, False),
    ("rejection-other", "Other", "rejection", "other", True, False),
    ("no-response-within-sla", "No response within SLA", "rejection", "other", False, True),
    ("timing-beyond-window", "Timing beyond the buying window", "nurture", "timing", False, False),
    ("no-budget-yet", "No budget yet", "nurture", "timing", False, False),
    ("no-active-project", "No active project", "nurture", "need", False, False),
    ("nurture-other", "Other", "nurture", "other", True, False),
    ("competitor", "Competitor", "disqualification", "fit", False, False),
    ("student-job-seeker", "Student or job seeker", "disqualification", "fit", False, False),
    ("no-fit", "No fit", "disqualification", "fit", False, False),
    ("spam", "Spam", "disqualification", "data_quality", False, False),
    ("disqualification-other", "Other", "disqualification", "other", True, False),
    ("recycle-limit-reached", "Recycle limit reached", "disqualification", "other", False, True),
]


def create_reasons(apps, schema_editor):
    Reason = apps.get_model("qualification", "Reason")
    for order, (code, label, kind, category, requires_note, system) in enumerate(REASONS):
        Reason.objects.update_or_create(
            code=code,
            defaults={
                "label": label,
                "kind": kind,
                "category": category,
                "requires_note": requires_note,
                "system": system,
                "order": order,
            },
        )


def remove_reasons(apps, schema_editor):
    apps.get_model("qualification", "Reason").objects.filter(
        code__in=[r[0] for r in REASONS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("qualification", "0001_initial")]

    operations = [migrations.RunPython(create_reasons, remove_reasons)]
