"""The OpenAPI contract: a valid schema, and the API keeping it when schemathesis throws
generated requests (valid and invalid) at every operation."""

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leads.stages import Stage
from tests.api.conftest import client_for
from tests.factories import LeadFactory, SlaPolicyFactory, TeamFactory, industrial_criteria

pytestmark = pytest.mark.django_db

# Bounded and repeatable: the same requests on every run (derandomized Hypothesis).
EXAMPLES_PER_OPERATION = 12


def test_the_schema_is_valid_openapi_3():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    validate_schema(schema)  # raises on an invalid document

    assert set(schema["paths"]) == {
        "/api/v1/leads/",
        "/api/v1/leads/{id}/",
        "/api/v1/leads/{id}/transitions/{name}/",
        "/api/v1/leads/{id}/touches/",
        "/api/v1/leads/{id}/checklist/{item}/",
        "/api/v1/events/",
        "/api/v1/reports/{name}/",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"401", "403", "429"} <= documented, (method, path)
            assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]


@pytest.fixture
def wsgi_app():
    # In-process requests inside the test's transaction: like Django's test client, do
    # not let the request signals close the connection that holds it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(rep, manager, marketing):
    """Leads in several stages, so generated calls reach the services, not only 404s."""
    criteria = industrial_criteria()
    SlaPolicyFactory()
    TeamFactory(reps=[rep], manager=manager, is_default=True)
    leads = {
        stage: LeadFactory(stage=stage, owner=rep, criteria_set=criteria)
        for stage in (Stage.MQL, Stage.ACCEPTED, Stage.REJECTED, Stage.SQL)
    }
    return {
        "leads": leads,
        "item": criteria.checklist_items.get().pk,
        "tokens": {
            user.username: client_for(user)._credentials["HTTP_AUTHORIZATION"]
            for user in (rep, manager, marketing)
        },
    }


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _run(operation, mode, *, token, path_parameters=None):
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    checks = CHECKS + ([negative_data_rejection] if mode.is_negative else [])

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],  # report the first failure; no shrinking
    )
    @hypothesis.given(case=strategy)
    def run(case):
        case.call_and_validate(headers={"Authorization": token}, checks=checks)

    run()


def test_the_api_keeps_its_contract_under_generated_requests(wsgi_app, world):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    lead = world["leads"][Stage.ACCEPTED]
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for token in world["tokens"].values():
                _run(operation, mode, token=token)
                ran += 1
        if "{id}" in operation.path:
            # the same operation on a lead that exists, as its owner
            fixed = {"id": lead.pk}
            if "{item}" in operation.path:
                fixed["item"] = world["item"]
            _run(
                operation,
                schemathesis.GenerationMode.POSITIVE,
                token=world["tokens"]["rita"],
                path_parameters=fixed,
            )
            ran += 1
    assert ran >= 6 * 6
