from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from config.postgres import use_array_in, use_c_timestamps

        from . import roles

        # Permissions of new models only exist after post_migrate has created them,
        # so the groups' permissions are synchronised there, after every migrate.
        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="handoff-roles")
        # PostgreSQL timestamps parsed in C (config/postgres.py), on every new connection
        connection_created.connect(use_c_timestamps, dispatch_uid="handoff-c-timestamps")
        # `field__in=[...]` as one array parameter on PostgreSQL (config/postgres.py)
        use_array_in()
