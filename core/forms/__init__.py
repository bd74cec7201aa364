"""The forms engine (表单配置): definitions, layering, registry and storage.

Modules, each usable alone:

* :mod:`ccms.forms.definition` — load and check one definition (meta-schema,
  supported JSON Schema keywords, ``$ref`` cycles, field references);
* :mod:`ccms.forms.overlay` — later layers extend a definition without
  copying it (add fields, relabel, tighten validation);
* :mod:`ccms.forms.registry` — definitions of core, enabled plugins and the
  deployment, in that order;
* :mod:`ccms.forms.store` — versions in the database (draft, publish,
  unpublish, diff, export, import) and the record tables
  (:mod:`ccms.forms.models`).
"""
