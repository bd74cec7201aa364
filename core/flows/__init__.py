"""The flow engine (流程配置): definitions, versions, instances, tasks, timers.

See ``flow_defs/README.md`` for the definition format."""
