from django.db import migrations

DEFAULTS = [("rfq_submitted", "RFQ submitted"), ("meeting_booked", "Meeting booked")]


def create(apps, schema_editor):
    FastLaneRule = apps.get_model("qualification", "FastLaneRule")
    for kind, label in DEFAULTS:
        FastLaneRule.objects.get_or_create(event_kind=kind, defaults={"label": label})


def remove(apps, schema_editor):
    apps.get_model("qualification", "FastLaneRule").objects.filter(
        event_kind__in=[k for k, _ in DEFAULTS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("qualification", "0003_scoring")]

    operations = [migrations.RunPython(create, remove)]
