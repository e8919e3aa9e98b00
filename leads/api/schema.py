"""drf-spectacular post-processing (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""


def refuse_unknown_fields(result, generator, request, public):
    """Request bodies are StrictSerializers: say in the contract that a field the schema
    does not name is refused (clients and schemathesis then know it)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


def batch_limits(result, generator, request, public):
    """A batch of events holds 1 to 1,000 (leads.api.views.MAX_BATCH)."""
    from .views import MAX_BATCH

    batch = result.get("components", {}).get("schemas", {}).get("EventOrBatchRequest")
    for variant in (batch or {}).get("oneOf", []):
        if variant.get("type") == "array":
            variant.update(minItems=1, maxItems=MAX_BATCH)
    return result
