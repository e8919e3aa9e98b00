"""Demo data for `manage.py seed_demo`: development only, known passwords.

Everything after the users and the criteria goes through the same services as real
traffic (ingest, events, transitions, touches, checklist answers), with times in the
past, so the audit trail of every demo lead is consistent: its stage changes replay to
its current stage. The story the data tells (deterministic, seed 42):
- RFQ and meeting leads convert best, webinar and event leads worst; event leads' MQL->SQL
  sits below 10%.
- Omar rejects far more MQLs than his peers.
- The score predicts SQL, but the components fit threshold is set too low.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from qualification.models import (
    ChecklistItem,
    CriteriaSet,
    ProductLine,
    ScoringRule,
)

from . import services
from .models import Lead
from .roles import MARKETING_OPS, SALES_MANAGER, SALES_REP
from .stages import Stage

DEMO_PASSWORD = "handoff-demo"

# username, first name, last name, role, is_staff (marketing ops works in the admin)
DEMO_USERS = (
    ("marketing", "Mia", "Marsh", MARKETING_OPS, True),
    ("manager", "Max", "Moreno", SALES_MANAGER, False),
    ("rep", "Rita", "Reyes", SALES_REP, False),
    ("omar", "Omar", "Okafor", SALES_REP, False),
    ("lena", "Lena", "Lindqvist", SALES_REP, False),
    ("sam", "Sam", "Sato", SALES_REP, False),
)


def create_users() -> list:
    User = get_user_model()
    users = []
    for username, first, last, role, is_staff in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            # the e-mail address is set after the history is generated (set_demo_emails),
            # so a year of simulated notifications does not queue a year of e-mails
            defaults={"first_name": first, "last_name": last, "is_staff": is_staff},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        users.append(user)
    return users


def set_service_level_commitment() -> None:
    """Marketing commits to about 15% more MQLs a month than the demo year delivered, so
    the scorecard has months that meet it and months that miss it."""
    from reporting.models import ReportTargets

    from .models import StageChange

    year_ago = timezone.now() - dt.timedelta(days=365)
    mqls = StageChange.objects.filter(transition="qualify_mql", at__gte=year_ago).count()
    targets = ReportTargets.load()
    targets.monthly_mql_commitment = max(1, round(mqls / 12 * 1.15))
    targets.save()


def set_demo_emails() -> None:
    """Give the demo users addresses once the history exists; notifications older than
    two days count as read, as they would in a team that uses handoff daily."""
    from routing.models import Notification

    User = get_user_model()
    for user in User.objects.filter(username__in=[u[0] for u in DEMO_USERS], email=""):
        user.email = f"{user.username}@demo.handoff.test"
        user.save(update_fields=["email"])
    Notification.objects.filter(
        read_at__isnull=True, created_at__lt=timezone.now() - dt.timedelta(days=2)
    ).update(read_at=timezone.now())


# --- criteria ---------------------------------------------------------------------------


def _rule(criteria: CriteriaSet, order: int, label: str, points: int, **kwargs) -> None:
    kind = ScoringRule.Kind.ENGAGEMENT if "event_kind" in kwargs else ScoringRule.Kind.FIT
    ScoringRule.objects.create(
        criteria_set=criteria, kind=kind, label=label, points=points, order=order, **kwargs
    )


def _checklist(criteria: CriteriaSet, items: list[tuple[str, str, bool, str]]) -> None:
    for order, (dimension, question, must_have, help_text) in enumerate(items):
        ChecklistItem.objects.create(
            criteria_set=criteria,
            dimension=dimension,
            question=question,
            must_have=must_have,
            help_text=help_text,
            order=order,
        )


def create_criteria() -> dict[str, CriteriaSet]:
    components, _ = ProductLine.objects.get_or_create(
        code="components", defaults={"name": "Industrial components"}
    )
    service, _ = ProductLine.objects.get_or_create(
        code="field-service", defaults={"name": "Field service"}
    )
    comp = CriteriaSet.objects.create(
        name="Industrial components",
        product_line=components,
        sales_motion=CriteriaSet.SalesMotion.TECHNICAL_EVALUATION,
        # Set too low on purpose: the score calibration report shows where it should be.
        fit_threshold=30,
        engagement_threshold=25,
        account_engagement_threshold=90,
        required_fields=["account", "country", "role_category"],
        engagement_half_life_days=30,
        recycle_limit=2,
    )
    served = ["DE", "AT", "CH", "NL", "BE", "FR", "PL", "CZ", "DK", "SE"]
    rules: list[tuple[str, int, dict]] = [
        (
            "Industry is a target vertical",
            20,
            {
                "field": "industry",
                "operator": "in",
                "value": ["Machinery", "Automotive", "Packaging", "Food & beverage"],
            },
        ),
        (
            "Country is in a served region",
            10,
            {"field": "country", "operator": "in", "value": served, "must_have": True},
        ),
        (
            "Company has 200+ employees",
            15,
            {"field": "employee_count", "operator": "range", "value": [200, None]},
        ),
        (
            "Company has 50-199 employees",
            5,
            {"field": "employee_count", "operator": "range", "value": [50, 199]},
        ),
        (
            "Engineer or buyer",
            10,
            {"field": "role_category", "operator": "in", "value": ["engineering", "procurement"]},
        ),
        ("Free-mail address", -20, {"field": "free_mail", "operator": "equals", "value": True}),
        ("Viewed pricing", 10, {"event_kind": "pricing_page_view", "max_points": 20}),
        ("Requested a spec sheet", 15, {"event_kind": "spec_sheet_request"}),
        ("Downloaded content", 5, {"event_kind": "content_download", "max_points": 15}),
        ("Registered for a webinar", 3, {"event_kind": "webinar_registered"}),
        ("Attended a webinar", 10, {"event_kind": "webinar_attended"}),
        ("Submitted a form", 10, {"event_kind": "form_submitted"}),
        ("Replied to an e-mail", 10, {"event_kind": "email_reply"}),
        (
            "Product page views",
            2,
            {"event_kind": "page_view", "url_pattern": "*/products/*", "max_points": 10},
        ),
        ("Visited the careers page", -15, {"event_kind": "page_view", "url_pattern": "*/careers*"}),
        ("Sent an RFQ", 30, {"event_kind": "rfq_submitted"}),
        ("Booked a meeting", 25, {"event_kind": "meeting_booked"}),
        ("Unsubscribed", -25, {"event_kind": "unsubscribe"}),
    ]
    for order, (label, points, kwargs) in enumerate(rules):
        _rule(comp, order, label, points, **kwargs)
    _checklist(
        comp,
        [
            (
                "fit",
                "Application fits our components",
                True,
                "Load, temperature and duty cycle are within the catalogue range.",
            ),
            (
                "authority",
                "Technical decision maker engaged",
                True,
                "The engineer who signs off the specification is in the conversation.",
            ),
            ("budget", "Budget owner identified", True, "Name and role of who approves the spend."),
            ("timeline", "Purchase within 12 months", True, "A project or replacement date."),
            ("need", "Current supplier known", False, "Helps position against the incumbent."),
        ],
    )

    fs = CriteriaSet.objects.create(
        name="Field service",
        product_line=service,
        sales_motion=CriteriaSet.SalesMotion.SERVICE_RENEWAL,
        fit_threshold=35,
        engagement_threshold=20,
        required_fields=["account", "country"],
        engagement_half_life_days=45,
        recycle_limit=2,
    )
    fs_rules: list[tuple[str, int, dict]] = [
        (
            "Runs process plants",
            20,
            {
                "field": "industry",
                "operator": "in",
                "value": ["Chemicals", "Utilities", "Food & beverage", "Pharmaceuticals"],
            },
        ),
        (
            "Country is in a served region",
            10,
            {"field": "country", "operator": "in", "value": served, "must_have": True},
        ),
        (
            "Enterprise account",
            15,
            {"field": "segment", "operator": "equals", "value": "enterprise"},
        ),
        (
            "Maintenance or operations role",
            10,
            {"field": "role_category", "operator": "in", "value": ["maintenance", "operations"]},
        ),
        ("Free-mail address", -20, {"field": "free_mail", "operator": "equals", "value": True}),
        (
            "Read service content",
            5,
            {"event_kind": "content_download", "content_tag": "service", "max_points": 15},
        ),
        ("Attended a webinar", 10, {"event_kind": "webinar_attended"}),
        ("Submitted a form", 10, {"event_kind": "form_submitted"}),
        ("Booked a meeting", 25, {"event_kind": "meeting_booked"}),
        ("Sent an RFQ", 30, {"event_kind": "rfq_submitted"}),
        ("Unsubscribed", -25, {"event_kind": "unsubscribe"}),
    ]
    for order, (label, points, kwargs) in enumerate(fs_rules):
        _rule(fs, order, label, points, **kwargs)
    _checklist(
        fs,
        [
            ("need", "Installed equipment identified", True, "Make, model and age of the assets."),
            ("timeline", "Current contract end date known", True, ""),
            ("budget", "Service budget confirmed", True, ""),
            ("authority", "Maintenance manager engaged", False, ""),
        ],
    )
    now = timezone.now()
    CriteriaSet.objects.filter(pk__in=[comp.pk, fs.pk]).update(
        status=CriteriaSet.Status.ACTIVE, published_at=now
    )
    return {"components": comp, "field-service": fs}


# --- routing and SLAs ----------------------------------------------------------------------

HOLIDAYS_2026 = [
    ("2026-01-01", "New Year"),
    ("2026-04-03", "Good Friday"),
    ("2026-04-06", "Easter Monday"),
    ("2026-05-01", "Labour Day"),
    ("2026-05-14", "Ascension"),
    ("2026-05-25", "Whit Monday"),
    ("2026-10-03", "German Unity Day"),
    ("2026-12-24", "Christmas Eve"),
    ("2026-12-25", "Christmas Day"),
    ("2026-12-26", "Boxing Day"),
    ("2025-12-25", "Christmas Day"),
    ("2025-12-26", "Boxing Day"),
    ("2027-01-01", "New Year"),
]


def create_routing() -> None:
    """Three teams, routing rules, one calendar and three SLA policies."""
    from routing.models import (
        BusinessCalendar,
        Holiday,
        RoutingRule,
        SlaPolicy,
        Team,
        TeamMembership,
    )

    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=[u[0] for u in DEMO_USERS])}
    manager = users["manager"]
    east = Team.objects.create(name="Industrial East", manager=manager, max_open_leads=30)
    west = Team.objects.create(
        name="Industrial West", manager=manager, max_open_leads=30, is_default=True
    )
    service = Team.objects.create(name="Field Service", manager=manager, max_open_leads=30)
    for team, members in (
        (east, [("rep", 2), ("omar", 1)]),
        (west, [("lena", 2)]),
        (service, [("sam", 2), ("rep", 1)]),
    ):
        for username, weight in members:
            TeamMembership.objects.create(team=team, user=users[username], weight=weight)
    field_service = ProductLine.objects.get(code="field-service")
    RoutingRule.objects.create(
        name="Field service to the service team",
        order=10,
        product_line=field_service,
        team=service,
    )
    RoutingRule.objects.create(
        name="DACH, Poland, Czechia and the Nordics to East",
        order=20,
        countries="DE, AT, CH, PL, CZ, DK, SE",
        team=east,
    )
    calendar = BusinessCalendar.objects.create(
        name="Sales office (Berlin)", time_zone="Europe/Berlin"
    )
    for day, name in HOLIDAYS_2026:
        Holiday.objects.create(calendar=calendar, date=dt.date.fromisoformat(day), name=name)
    hours = 60
    day = 8 * hours
    SlaPolicy.objects.create(
        name="Hot: RFQs and booked meetings",
        priority=Lead.Priority.HOT,
        calendar=calendar,
        decision_minutes=1 * hours,
        first_touch_minutes=2 * hours,
        qualification_minutes=5 * day,
        disposition_minutes=2 * day,
        breach_action=SlaPolicy.BreachAction.REASSIGN,
        max_reassignments=1,
    )
    SlaPolicy.objects.create(
        name="Standard",
        priority=Lead.Priority.STANDARD,
        calendar=calendar,
        decision_minutes=4 * hours,
        first_touch_minutes=1 * day,
        qualification_minutes=10 * day,
        disposition_minutes=5 * day,
        breach_action=SlaPolicy.BreachAction.REASSIGN,
        max_reassignments=1,
    )
    SlaPolicy.objects.create(
        name="Low",
        priority=Lead.Priority.LOW,
        calendar=calendar,
        decision_minutes=1 * day,
        first_touch_minutes=2 * day,
        qualification_minutes=15 * day,
        disposition_minutes=5 * day,
        breach_action=SlaPolicy.BreachAction.RETURN,
    )


# --- leads --------------------------------------------------------------------------------

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Katrin",
    "Luca",
    "Marta",
    "Nils",
    "Olga",
    "Pavel",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tess",
    "Ugo",
    "Vera",
    "Willem",
    "Xenia",
    "Yusuf",
    "Zofia",
]
LAST_NAMES = [
    "Andersen",
    "Becker",
    "Costa",
    "Dvorak",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hofmann",
    "Ivanova",
    "Jansen",
    "Keller",
    "Lambert",
    "Meyer",
    "Novak",
    "Olsen",
    "Peeters",
    "Richter",
    "Schmidt",
    "Tanaka",
    "Urban",
    "Vogel",
    "Weber",
    "Zimmer",
]
COMPANIES = [
    ("Hartmann Maschinenbau", "hartmann-mb.example", "Machinery", "DE", "enterprise", 2400),
    ("Nordpack Systems", "nordpack.example", "Packaging", "DK", "mid_market", 420),
    ("Alpen Automotive Parts", "alpen-auto.example", "Automotive", "AT", "enterprise", 5200),
    (
        "Van Dijk Food Processing",
        "vandijk-food.example",
        "Food & beverage",
        "NL",
        "mid_market",
        650,
    ),
    ("Lumière Chimie", "lumiere-chimie.example", "Chemicals", "FR", "enterprise", 3100),
    ("Wisła Energia", "wisla-energia.example", "Utilities", "PL", "enterprise", 1800),
    ("Brno Precision", "brno-precision.example", "Machinery", "CZ", "small_business", 90),
    ("Svea Pharma", "svea-pharma.example", "Pharmaceuticals", "SE", "mid_market", 700),
    ("Helvetia Robotics", "helvetia-robotics.example", "Machinery", "CH", "mid_market", 300),
    ("Flandria Logistics", "flandria-log.example", "Logistics", "BE", "mid_market", 350),
    ("Rhein Retail Group", "rhein-retail.example", "Retail", "DE", "enterprise", 9000),
    ("São Paulo Metalúrgica", "sp-metal.example", "Machinery", "BR", "enterprise", 2100),
    ("Great Lakes Tooling", "gl-tooling.example", "Automotive", "US", "mid_market", 800),
    ("Kleinteil GmbH", "kleinteil.example", "Machinery", "DE", "small_business", 35),
    ("Baltic Brewing", "baltic-brew.example", "Food & beverage", "PL", "mid_market", 260),
    ("Öresund Water", "oresund-water.example", "Utilities", "SE", "enterprise", 1500),
]
TITLES = {
    "engineering": "Design engineer",
    "procurement": "Strategic buyer",
    "maintenance": "Maintenance manager",
    "operations": "Plant operations lead",
    "executive": "Managing director",
    "other": "Marketing coordinator",
}
# channel: (share of leads, intent 0..1, event pattern, campaign)
CHANNELS = {
    "rfq": (0.10, 0.85, ["rfq_submitted"], "RFQ form"),
    "inbound_form": (0.18, 0.6, ["form_submitted", "pricing_page_view", "page_view"], "Contact us"),
    "webinar": (
        0.22,
        0.25,
        ["webinar_registered", "webinar_attended", "content_download"],
        "Webinar: sealing under high load",
    ),
    "event": (0.15, 0.15, ["form_submitted", "content_download"], "Hannover Messe booth"),
    "content": (
        0.15,
        0.35,
        ["content_download", "page_view", "spec_sheet_request"],
        "Bearing selection guide",
    ),
    "outbound": (0.10, 0.5, ["email_reply", "meeting_booked"], "Q2 outbound sequence"),
    "partner": (0.10, 0.55, ["form_submitted", "pricing_page_view"], "Distributor referral"),
}
# Each rep's habit: how readily they reject an MQL, before quality is even considered.
REJECT_BIAS = {"rep": 0.0, "lena": 0.02, "sam": 0.0, "omar": 0.5}


@dataclass
class DemoStats:
    users: int = 0
    leads: int = 0
    events: int = 0
    changes: int = 0


def _pick(rng: random.Random, weighted: dict[str, float]) -> str:
    keys = list(weighted)
    return rng.choices(keys, weights=[weighted[k] for k in keys])[0]


def create_leads(
    *,
    count: int = 480,
    months: int = 12,
    seed: int = 42,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoStats:
    rng = random.Random(seed)
    now = now or timezone.now()
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=[u[0] for u in DEMO_USERS])}
    marketing = users["marketing"]
    reps_by_line = {"components": ["rep", "omar", "lena"], "field-service": ["sam", "rep"]}
    start = now - dt.timedelta(days=30 * months)
    stats = DemoStats()
    from routing import sla

    for n in range(count):
        recent = count * 0.94
        if n < recent:  # a steady year, week after week
            created = start + (now - dt.timedelta(days=2) - start) * (n / recent)
        else:  # the last two days' inflow, the last of it today: the queues have work
            share = (n - recent) / (count - recent)
            created = now - dt.timedelta(days=2) * (1 - share) ** 2
        created = min(created + dt.timedelta(minutes=rng.randint(0, 600)), now)
        created -= dt.timedelta(hours=3)
        # MQLs that arrived since the last lead (follow-ups due, account MQLs, disputes)
        # are worked too, then the SLA sweep catches up, as it would every minute
        for waiting in Lead.objects.filter(stage=Stage.MQL, stage_entered_at__lte=created):
            line = waiting.product_line.code if waiting.product_line_id else "components"
            recent = now - waiting.stage_entered_at < dt.timedelta(days=5)
            _work_the_mql(
                waiting,
                rng,
                0.5,
                waiting.stage_entered_at,
                now,
                users,
                reps_by_line[line],
                marketing,
                0.1 if recent else 1.0,
            )
        if now - created > dt.timedelta(hours=12):
            # the last half day is left unswept: overdue clocks wait for the first real
            # sweep (beat runs it every minute once `make run` is up)
            sla.sweep(created)
        channel = _pick(rng, {k: v[0] for k, v in CHANNELS.items()})
        _share, intent, pattern, campaign = CHANNELS[channel]
        name, domain, industry, country, segment, employees = rng.choice(COMPANIES)
        # three sister companies per name, so accounts are many and owners spread out
        sister = rng.randrange(3)
        if sister:
            name = f"{name} {('Services', 'Systems')[sister - 1]}"
            domain = f"{('svc', 'sys')[sister - 1]}.{domain}"
            employees = max(20, employees // (sister * 3))
        line = (
            "field-service"
            if industry in ("Chemicals", "Utilities", "Pharmaceuticals") or (rng.random() < 0.15)
            else "components"
        )
        role = _pick(
            rng,
            {
                "engineering": 4,
                "procurement": 3,
                "maintenance": 2,
                "operations": 2,
                "executive": 1,
                "other": 1.5,
            },
        )
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        free = rng.random() < 0.07
        email = (f"{first}.{last}{n}@gmail.com" if free else f"{first}.{last}{n}@{domain}").lower()
        result = services.ingest_lead(
            payload={
                "email": email,
                "first_name": first,
                "last_name": last,
                "title": TITLES[role],
                "role_category": role,
                "phone": f"+49 30 {rng.randint(1000000, 9999999)}" if rng.random() < 0.8 else "",
                "country": country,
                "company": name,
                "website": "" if free else domain,
                "industry": industry,
                "segment": segment,
                "employee_count": employees,
                "source": channel,
                "campaign": campaign,
                "utm_source": {"webinar": "on24", "content": "linkedin"}.get(channel, ""),
                "utm_medium": {"webinar": "webinar", "content": "paid_social"}.get(channel, ""),
                "utm_campaign": campaign.lower().replace(" ", "-")[:60],
                "product_line": line,
            },
            at=created,
        )
        lead = result.lead
        stats.leads += 1
        # latent quality: what a rep finds out on the phone (correlated with fit)
        quality = min(1.0, max(0.0, intent * 0.6 + lead.fit_score / 100 + rng.gauss(0, 0.12)))
        t = created
        kinds = list(pattern) if rng.random() > 0.06 else []  # some never engage
        if kinds and rng.random() < intent:
            kinds += rng.sample(
                ["pricing_page_view", "page_view", "content_download", "spec_sheet_request"], 2
            )
        if n >= count * 0.94 and kinds:
            kinds += ["pricing_page_view", "form_submitted"]  # this week's hot inflow
        elif rng.random() < 0.05:
            kinds.append("unsubscribe")
        # this week's leads move at a working day's pace, so today has work in every stage
        pace = 0.1 if now - created < dt.timedelta(days=5) else 1.0
        for i, kind in enumerate(kinds):
            t = t + dt.timedelta(hours=rng.uniform(0.2, 72) * pace)
            if t >= now:
                break
            url = ""
            if kind == "page_view":
                url = rng.choice(
                    [
                        "https://www.example.com/products/seals",
                        "https://www.example.com/products/bearings",
                        "https://www.example.com/careers/openings",
                    ]
                )
            lead = services.record_event(
                lead=lead,
                kind=kind,
                occurred_at=t,
                external_id=f"demo-{n}-{i}",
                url=url,
                content_tag="service" if line == "field-service" else "components",
                now=t,
            ).lead
            stats.events += 1
        if lead.stage == Stage.MQL:
            _work_the_mql(lead, rng, quality, t, now, users, reps_by_line[line], marketing, pace)
        if progress:
            progress(n + 1)
    # MQLs made by account engagement (another contact's event) still need an owner.
    for lead in Lead.objects.filter(stage=Stage.MQL, owner__isnull=True):
        line = lead.product_line.code if lead.product_line_id else "components"
        _owner_for(lead, rng, users, reps_by_line[line])
    _todays_rfqs(users, now)
    # the nightly refresh, as it ran this morning: engagement decays with time, and the
    # lists, the MQL guard and the lead page's explanation then tell the same score
    services.rescore(Lead.objects.all(), now=now)
    from .models import StageChange

    stats.changes = StageChange.objects.count()
    stats.users = len(users)
    return stats


def _todays_rfqs(users: dict, now: dt.datetime) -> None:
    """Whatever the hour the demo is loaded at, each rep starts with fresh work: an RFQ
    that came in within the hour (a hot MQL to decide), and Rita one more she has
    already accepted. Through the real intake; a manager hands each to its rep."""
    from routing import services as routing_services

    manager = users["manager"]
    todays = [("rep", "Greta", "Hofmann", "hartmann-mb.example", True)] + [
        (name, first, last, domain, False)
        for name, first, last, domain in (
            ("rep", "Jonas", "Keller", "alpen-auto.example"),
            ("omar", "Ines", "Novak", "brno-precision.example"),
            ("lena", "Willem", "Peeters", "flandria-log.example"),
            ("sam", "Olga", "Eriksen", "oresund-water.example"),
        )
    ]
    for minutes, (username, first, last, domain, accept) in enumerate(todays, start=1):
        at = now - dt.timedelta(minutes=10 * minutes)
        email = f"{first}.{last}.today@{domain}".lower()
        lead = services.ingest_lead(
            payload={
                "email": email,
                "first_name": first,
                "last_name": last,
                "title": TITLES["engineering"],
                "role_category": "engineering",
                "country": "DE",
                "company": domain.split(".")[0].replace("-", " ").title(),
                "website": domain,
                "industry": "Machinery",
                "employee_count": 400,
                "segment": "mid_market",
                "source": "rfq",
                "campaign": "RFQ form",
                "product_line": "field-service" if username == "sam" else "components",
            },
            at=at,
        ).lead
        lead = services.record_event(
            lead=lead, kind="rfq_submitted", occurred_at=at, now=at, external_id=email
        ).lead
        if lead.stage != Stage.MQL:
            continue
        rep = users[username]
        if lead.owner_id != rep.pk:
            lead = Lead.objects.get(
                pk=routing_services.reassign(
                    lead=lead, to=rep, by=manager, note="Today's RFQs: one each", at=at
                ).lead_id
            )
        if accept:
            services.accept(lead=lead, by=rep, at=at + dt.timedelta(minutes=5))


def _owner_for(lead: Lead, rng: random.Random, users: dict, candidates: list[str]):
    if lead.owner_id:
        return lead.owner
    owner = users[rng.choice(candidates)]
    # Routing assigns owners once it is configured; demo data without routing rules still
    # needs an owner for each MQL.
    Lead.objects.filter(pk=lead.pk).update(owner=owner)
    lead.refresh_from_db()
    return owner


def _at_work(moment: dt.datetime, rng: random.Random) -> dt.datetime:
    """People act in office hours: a moment outside Mon-Fri 8-18 (Berlin) moves to the
    next working morning."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/Berlin"))
    if local.weekday() < 5 and 8 <= local.hour < 18:
        return moment
    day = local.date() if local.hour < 8 else local.date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    morning = dt.datetime.combine(day, dt.time(9), tzinfo=local.tzinfo)
    return morning + dt.timedelta(minutes=rng.randint(0, 120))


def _work_the_mql(lead, rng, quality, t, now, users, candidates, marketing, pace) -> None:
    """What the owner does with an MQL, and what marketing does with a rejection; leads
    whose next step would lie in the future stay where they are (open work)."""
    rep = _owner_for(lead, rng, users, candidates)
    if now - t < dt.timedelta(hours=12) and rng.random() < 0.7:
        return  # today's MQL: not decided yet
    bias = REJECT_BIAS.get(rep.username, 0.0)
    t = lead.stage_entered_at  # the decision clock starts when the lead becomes an MQL
    slowness = 3.0 if rep.username == "omar" else 1.0
    decide_at = _at_work(
        t + dt.timedelta(hours=min(rng.expovariate(1 / 1.5) * slowness, 60) * pace), rng
    )
    if decide_at >= now:
        return
    if rng.random() < bias + (1 - quality) * 0.45:
        reason = _pick(
            rng,
            {
                "not-mql-definition": 4,
                "misrouted": 2,
                "incomplete-record": 2,
                "duplicate": 1,
                "bad-contact-data": 1,
                "rejection-other": 1,
            },
        )
        note = {
            "not-mql-definition": "Student project, no purchase intent",
            "rejection-other": "Asked only for a catalogue",
        }.get(reason, "")
        services.reject(lead=lead, by=rep, reason=reason, note=note, at=decide_at)
        lead.refresh_from_db()
        _marketing_disposition(lead, rng, decide_at, now, marketing)
        return
    services.accept(lead=lead, by=rep, at=decide_at)
    lead.refresh_from_db()
    touch_at = _at_work(decide_at + dt.timedelta(hours=rng.uniform(0.3, 6) * pace), rng)
    if touch_at >= now:
        return
    services.log_touch(
        lead=lead,
        by=rep,
        kind=rng.choice(["call", "call", "email", "meeting"]),
        outcome=rng.choice(["connected", "connected", "left_message", "replied"]),
        note="Discussed the application and next steps.",
        occurred_at=touch_at,
    )
    checks_at = touch_at + dt.timedelta(days=rng.uniform(1, 12))
    if checks_at >= now:
        return
    items = list(lead.criteria_set.checklist_items.all())
    for item in items:
        # a must-have is confirmed more often on good leads: MQL->SQL around 13% in all,
        # RFQs far above, event leads below 10%
        if rng.random() < 0.15 + 0.7 * quality:
            answer = "confirmed"
        else:
            answer = rng.choice(["unknown", "not_met"])
        services.answer_checklist(
            lead=lead,
            by=rep,
            item=item,
            answer=answer,
            evidence="From the discovery call" if answer == "confirmed" else "",
            at=checks_at,
        )
    decided_at = checks_at + dt.timedelta(hours=rng.uniform(1, 48))
    if decided_at >= now:
        return
    try:
        services.qualify_sql(
            lead=lead,
            by=rep,
            next_step="Technical workshop with their engineering team",
            at=decided_at,
        )
    except services.LeadActionRefused:
        if rng.random() < 0.6:
            services.nurture(
                lead=lead,
                by=rep,
                reason=rng.choice(["timing-beyond-window", "no-budget-yet", "no-active-project"]),
                follow_up_on=(decided_at + dt.timedelta(days=rng.randint(30, 150))).date(),
                at=decided_at,
            )
        else:
            services.disqualify(
                lead=lead, by=rep, reason=rng.choice(["no-fit", "competitor"]), at=decided_at
            )
        return
    lead.refresh_from_db()
    won_at = decided_at + dt.timedelta(days=rng.uniform(5, 40))
    if won_at < now and rng.random() < 0.55 + quality * 0.3:
        services.convert(lead=lead, by=rep, note="Opportunity created in CRM", at=won_at)


def _marketing_disposition(lead, rng, rejected_at, now, marketing) -> None:
    at = rejected_at + dt.timedelta(days=rng.uniform(0.5, 6))
    if at >= now:
        return
    roll = rng.random()
    if roll < 0.45:
        services.recycle(lead=lead, by=marketing, note="Back to nurture emails", at=at)
    elif roll < 0.55 and lead.disputed_in_cycle != lead.mql_cycle:
        services.dispute(
            lead=lead,
            by=marketing,
            note="Fits the definition: 900 staff, RFQ last year",
            at=at,
        )
    elif roll < 0.8:
        reason = "spam" if lead.free_mail else rng.choice(["no-fit", "student-job-seeker"])
        services.disqualify(lead=lead, by=marketing, reason=reason, at=at)
    # otherwise it waits in marketing's rejected queue
