"""The REST API for integrations, under /api/v1/ (README, "API").

Views are adapters: they parse and validate the request, call leads/services.py or a
selector, and shape the answer. Who sees which lead is decided by
leads.selectors.visible_leads, exactly as for the pages.
"""
