from django.db import models


class Stage(models.TextChoices):
    NEW = "new", "New"
    ENGAGED = "engaged", "Engaged"
    MQL = "mql", "MQL"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SQL = "sql", "SQL"
    NURTURE = "nurture", "Nurture"
    OPPORTUNITY = "opportunity", "Opportunity"
    DISQUALIFIED = "disqualified", "Disqualified"


# What get_stage_display shows, for code that reads stages as plain values.
STAGE_LABELS = dict(Stage.choices)

# A closed lead has left the lifecycle: converted or disqualified.
CLOSED_STAGES = (Stage.OPPORTUNITY, Stage.DISQUALIFIED)
OPEN_STAGES = tuple(s for s in Stage.values if s not in CLOSED_STAGES)
# Stages in which a sales rep is expected to act.
SALES_STAGES = (Stage.MQL, Stage.ACCEPTED, Stage.SQL)
