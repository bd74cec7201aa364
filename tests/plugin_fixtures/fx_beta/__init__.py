from ccms.api import hookimpl


@hookimpl
def ccms_register_dashboard_panels(ctx, user):
    return [{"title": "fx_beta panel", "text": "fx_beta"}]
