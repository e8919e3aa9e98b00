"""The one module of test factories. Personas (a rep, another rep, a manager, marketing
ops) are fixtures in tests/conftest.py built from these."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from leads.models import Account, EngagementEvent, Lead, Touch
from leads.stages import Stage
from qualification.models import ChecklistItem, CriteriaSet, ProductLine


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ProductLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductLine
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"line-{n}")
    name = factory.LazyAttribute(lambda p: p.code.replace("-", " ").title())


class CriteriaSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CriteriaSet

    name = "Industrial components"
    product_line = factory.SubFactory(ProductLineFactory)
    sales_motion = CriteriaSet.SalesMotion.TECHNICAL_EVALUATION
    version = 1
    status = CriteriaSet.Status.ACTIVE
    fit_threshold = 40
    engagement_threshold = 30
    required_fields = factory.LazyFunction(list)
    recycle_limit = 2


def active_criteria_with_checklist(*items: tuple[str, bool], **kwargs) -> CriteriaSet:
    """An active set whose checklist is (question, must_have) pairs: built as a draft,
    then activated, as marketing ops would."""
    criteria = CriteriaSetFactory(status=CriteriaSet.Status.DRAFT, **kwargs)
    for order, (question, must_have) in enumerate(items):
        ChecklistItem.objects.create(
            criteria_set=criteria,
            dimension=ChecklistItem.Dimension.BUDGET,
            question=question,
            must_have=must_have,
            order=order,
        )
    CriteriaSet.objects.filter(pk=criteria.pk).update(status=CriteriaSet.Status.ACTIVE)
    criteria.refresh_from_db()
    return criteria


class ChecklistItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChecklistItem

    criteria_set = factory.SubFactory(CriteriaSetFactory)
    dimension = ChecklistItem.Dimension.BUDGET
    question = factory.Sequence(lambda n: f"Question {n}")
    must_have = True
    order = factory.Sequence(int)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ["domain"]

    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.example")
    industry = "Machinery"
    segment = Account.Segment.MID_MARKET
    employee_count = 400
    country = "DE"
    region = "DACH"


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead in any stage: `LeadFactory(stage="mql", owner=rep)`. The stage is set at
    construction, the only moment a protected FSM field may be given a value."""

    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"contact{n}@company.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    title = "Plant engineer"
    role_category = Lead.RoleCategory.ENGINEERING
    country = "DE"
    account = factory.SubFactory(AccountFactory)
    source = Lead.Source.INBOUND_FORM
    criteria_set = factory.SubFactory(CriteriaSetFactory)
    product_line = factory.SelfAttribute("criteria_set.product_line")
    stage = Stage.NEW
    fit_score = 50
    engagement_score = 40
    mql_cycle = factory.LazyAttribute(
        lambda o: 1 if o.stage in (Stage.MQL, Stage.ACCEPTED, Stage.REJECTED, Stage.SQL) else 0
    )


class TouchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touch

    lead = factory.SubFactory(LeadFactory)
    kind = Touch.Kind.CALL
    outcome = Touch.Outcome.CONNECTED
    by = factory.SubFactory(UserFactory)
    occurred_at = factory.LazyFunction(timezone.now)


class EngagementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    lead = factory.SubFactory(LeadFactory)
    kind = EngagementEvent.Kind.PAGE_VIEW
    occurred_at = factory.LazyFunction(timezone.now)


def scoring_rule(criteria_set, label, points, **kwargs):
    from qualification.models import ScoringRule

    kind = ScoringRule.Kind.ENGAGEMENT if "event_kind" in kwargs else ScoringRule.Kind.FIT
    return ScoringRule.objects.create(
        criteria_set=criteria_set, kind=kind, label=label, points=points, **kwargs
    )


# A lead form that fits industrial_criteria: industry +20, served region +10 (a
# must-have), 800 employees +10, engineering +10 = fit 50 (threshold 40).
GOOD_FIT = {
    "email": "Ada.Byron@Plant-Works.example ",
    "first_name": "Ada",
    "last_name": "Byron",
    "company": "Plant Works",
    "industry": "Machinery",
    "employee_count": 800,
    "country": "DE",
    "role_category": "engineering",
    "source": "inbound_form",
    "product_line": "components",
}


def industrial_criteria(**overrides) -> CriteriaSet:
    """An active set for industrial components with the rules the intake tests use.

    Fit: target industry +20, served region +10 (must-have), 50+ employees +10,
    engineering or procurement role +10, free-mail -20. Thresholds: fit 40, engagement 30.
    Engagement: pricing page +15, download +10, webinar attended +15, page view +2
    (at most 10), RFQ +30, unsubscribe -20. Half-life 30 days.
    """
    criteria = CriteriaSetFactory(
        product_line=ProductLineFactory(code="components", name="Industrial components"),
        status=CriteriaSet.Status.DRAFT,
        **overrides,
    )
    scoring_rule(
        criteria,
        "Target industry",
        20,
        field="industry",
        operator="in",
        value=["Machinery", "Automotive"],
    )
    scoring_rule(
        criteria,
        "Served region",
        10,
        field="country",
        operator="in",
        value=["DE", "AT", "CH"],
        must_have=True,
    )
    scoring_rule(
        criteria, "50+ employees", 10, field="employee_count", operator="range", value=[50, None]
    )
    scoring_rule(
        criteria,
        "Technical or buying role",
        10,
        field="role_category",
        operator="in",
        value=["engineering", "procurement"],
    )
    scoring_rule(
        criteria, "Free-mail address", -20, field="free_mail", operator="equals", value=True
    )
    scoring_rule(criteria, "Viewed pricing", 15, event_kind="pricing_page_view")
    scoring_rule(criteria, "Downloaded content", 10, event_kind="content_download")
    scoring_rule(criteria, "Attended a webinar", 15, event_kind="webinar_attended")
    scoring_rule(criteria, "Page views", 2, event_kind="page_view", max_points=10)
    scoring_rule(criteria, "Sent an RFQ", 30, event_kind="rfq_submitted")
    scoring_rule(criteria, "Unsubscribed", -20, event_kind="unsubscribe")
    ChecklistItemFactory(criteria_set=criteria, question="Budget owner identified")
    CriteriaSet.objects.filter(pk=criteria.pk).update(status=CriteriaSet.Status.ACTIVE)
    criteria.refresh_from_db()
    return criteria


# --- routing ---------------------------------------------------------------------------


class TeamFactory(factory.django.DjangoModelFactory):
    """`TeamFactory(reps=[rep, (other_rep, 2)])`: members with their weights (default 1)."""

    class Meta:
        model = "routing.Team"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")
    manager = factory.SubFactory(UserFactory, role="Sales manager")
    max_open_leads = 25

    @factory.post_generation
    def reps(self, create, extracted, **kwargs):
        from routing.models import TeamMembership

        for entry in extracted or ():
            user, weight = entry if isinstance(entry, tuple) else (entry, 1)
            TeamMembership.objects.create(team=self, user=user, weight=weight)


class RoutingRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "routing.RoutingRule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    order = factory.Sequence(int)
    team = factory.SubFactory(TeamFactory)


class BusinessCalendarFactory(factory.django.DjangoModelFactory):
    """Monday to Friday, 9 to 17, Berlin time."""

    class Meta:
        model = "routing.BusinessCalendar"

    name = factory.Sequence(lambda n: f"Calendar {n}")
    time_zone = "Europe/Berlin"
    working_days = factory.LazyFunction(lambda: [0, 1, 2, 3, 4])
    start = factory.LazyFunction(lambda: dt.time(9))
    end = factory.LazyFunction(lambda: dt.time(17))


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    """Standard priority: decide in 4 business hours, first touch in 1 business day,
    qualify in 10, disposition in 5; warn at 75 %; notify on breach."""

    class Meta:
        model = "routing.SlaPolicy"

    name = factory.Sequence(lambda n: f"Policy {n}")
    priority = Lead.Priority.STANDARD
    calendar = factory.SubFactory(BusinessCalendarFactory)
    decision_minutes = 4 * 60
    first_touch_minutes = 8 * 60
    qualification_minutes = 10 * 8 * 60
    disposition_minutes = 5 * 8 * 60
    warning_percent = 75
    breach_action = "notify"
    max_reassignments = 1
