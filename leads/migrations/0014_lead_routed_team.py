import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Exists, OuterRef, Subquery


def from_assignments(apps, schema_editor):
    """Each lead's team: the team of its latest assignment with a team."""
    Lead = apps.get_model("leads", "Lead")
    Assignment = apps.get_model("routing", "Assignment")
    latest = Assignment.objects.filter(lead=OuterRef("pk"), team__isnull=False).order_by(
        "-at", "-pk"
    )
    Lead.objects.filter(Exists(latest)).update(routed_team=Subquery(latest.values("team")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0013_lead_fillfactor"),
        ("routing", "0002_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="routed_team",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="routing.team",
            ),
        ),
        migrations.RunPython(from_assignments, migrations.RunPython.noop),
    ]
