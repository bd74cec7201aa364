from ccms.api import hookimpl


@hookimpl
def ccms_register_routes(ctx, app):  # "app" is not an argument of the hook
    return []
