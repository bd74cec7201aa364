"""Fixture: a menu item computed per user (and the page it leads to), its
OpenAPI entry, an extra template folder, and a shut-down hook."""

from pathlib import Path

from ccms.api import Request, api_doc, Response, Route, hookimpl, render, requires

STOPPED: list[str] = []


@hookimpl
def ccms_register_menu_items(ctx, user):
    # Only people holding fx_hooks.view get the dynamic entry, titled with their name.
    if user is None or not ctx.can_anywhere(user, "fx_hooks.view"):
        return []
    return [{"id": "fx_hooks", "title": {"zh-CN": f"{user.display_name}的待办"}, "order": 5,
             "children": [{"id": "fx_hooks.todo", "title": "我的待办", "url": "/fx_hooks/todo"}]}]


@requires("fx_hooks.view")
async def todo(request: Request) -> Response:
    # placeholder.html: the extra template folder below overrides the theme's
    return render(request, "placeholder.html", {"title": "我的待办", "plugin": None, "plugin_name": "fx_hooks"})


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_hooks/todo", todo)]


@hookimpl
def ccms_register_api_docs(ctx):
    return [api_doc("/fx_hooks/todo", "get", "fx_hooks 待办 / fx_hooks to-do", permission="fx_hooks.view",
                    tag="fx_hooks")]


@hookimpl
def ccms_register_template_dirs(ctx):
    return [str(Path(__file__).parent / "extra_templates")]


@hookimpl
def ccms_app_stopping(ctx):
    STOPPED.append(ctx.identity)


from ccms.forms.fields import FieldType  # noqa: E402


class PlateNumber(FieldType):
    """A vehicle plate (e.g. 苏E12345): a field type a plugin adds."""

    name = "plate"
    label = ("车牌号", "Plate number")

    def check(self, value, prop):
        import re
        if not re.fullmatch(r"[\u4e00-\u9fa5][A-Z][A-Z0-9]{5,6}", str(value)):
            return {"message": "车牌号格式不正确", "message_en": "not a plate number"}
        return None


@hookimpl
def ccms_register_field_types(ctx):
    return [PlateNumber()]
