"""The one module of test factories. Personas (a rep, another rep, a manager, marketing
ops) are fixtures in tests/conftest.py built from these."""

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
