from ccms.api import hookimpl


@hookimpl
def ccms_register_route(ctx):  # misspelt: the hook is ccms_register_routes
    return []
