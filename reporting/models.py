"""The targets the reports measure against, set by marketing ops in the admin."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def _percent(default: str, help_text: str) -> models.DecimalField:
    return models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal(default),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=help_text,
    )


class ReportTargets(models.Model):
    """One row (pk 1): the service-level agreement between marketing and sales, and the
    bands the funnel and the score calibration are read against."""

    SINGLETON_PK = 1

    mql_sql_tighten_below = _percent(
        "10", "MQL → SQL below this (%): 'tighten the MQL definition'."
    )
    mql_sql_industry_average = _percent("13", "Industry average MQL → SQL (%).")
    mql_sql_target_low = _percent(
        "20", "Target band for MQL → SQL, lower end (%): the top quartile starts here."
    )
    mql_sql_target_high = _percent("25", "Target band for MQL → SQL, upper end (%).")
    mql_sql_too_high_above = _percent("30", "MQL → SQL above this (%): 'the bar may be too high'.")
    monthly_mql_commitment = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="MQLs marketing commits to deliver per month. Empty: none agreed yet.",
    )
    acceptance_target = _percent("90", "Share of decided MQLs sales should accept (%).")
    calibration_min_sample = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(1)],
        help_text="Decisions a rep needs before the calibration report flags them; also the "
        "fewest MQLs a suggested score threshold must keep.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "report targets"
        verbose_name_plural = "report targets"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="report_targets_single_row"),
        ]

    def __str__(self) -> str:
        return "Report targets"

    def save(self, *args, **kwargs):
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> ReportTargets:
        """The saved targets, or the defaults when nobody has saved any (never writes)."""
        return cls.objects.filter(pk=cls.SINGLETON_PK).first() or cls(pk=cls.SINGLETON_PK)

    def clean(self) -> None:
        order = [
            ("mql_sql_tighten_below", self.mql_sql_tighten_below),
            ("mql_sql_industry_average", self.mql_sql_industry_average),
            ("mql_sql_target_low", self.mql_sql_target_low),
            ("mql_sql_target_high", self.mql_sql_target_high),
            ("mql_sql_too_high_above", self.mql_sql_too_high_above),
        ]
        for (_, lower), (name, upper) in itertools.pairwise(order):
            if lower is not None and upper is not None and upper < lower:
                raise ValidationError(
                    {
                        name: "The MQL → SQL figures must rise in this order: tighten below, "
                        "industry average, target low, target high, too high above."
                    }
                )

    # fractions, for the arithmetic
    def fraction(self, name: str) -> float:
        return float(getattr(self, name)) / 100
