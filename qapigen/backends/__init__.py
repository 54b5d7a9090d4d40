"""The back ends: they read the checked model (through the visitor) and write something.

``dump`` (QEMU's test-suite format), ``introspect`` (query-qmp-schema),
``validate`` (JSON documents and QMP transcripts), ``diff`` (what changed),
``jsonschema_export`` (JSON Schema), and ``python`` (the bindings generator).
"""
