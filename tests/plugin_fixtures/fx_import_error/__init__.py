import no_such_module_for_ccms_tests  # noqa: F401
