from ccms.api import hookimpl


@hookimpl
def ccms_register_dashboard_panels(ctx):  # a hook may take any subset of the spec's arguments
    return [{"title": "fx_gamma panel", "text": "fx_gamma"}]
