"""A routing record's and a clock's lead, a notification's recipient: indexed twice, by
the foreign key alone and by a composite index that starts with it (assignment_lead_at,
sla_clock_lead_kind, notification_recipient), which serves every lookup the single one
did. One index fewer to write for every record, clock and notification."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0015_without_redundant_indexes"),
        ("routing", "0002_webhooks"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="assignment",
            name="lead",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="assignments",
                to="leads.lead",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="recipient",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="slaclock",
            name="lead",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="sla_clocks",
                to="leads.lead",
            ),
        ),
    ]
