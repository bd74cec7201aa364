from ccms.api import run_plugin_migrations

run_plugin_migrations()
