"""qtest, QEMU's test protocol, as a sans-I/O core.

:mod:`.protocol` is the server side of a qtest connection: lines in, replies
and QEMU's log lines out; :mod:`.service` carries out the requests against a
machine's test access (QEMU's ``system/qtest.c`` command set, with its
replies); :mod:`.transport` serves a connection on the selector loop of
:mod:`qapigen.qmp.selector_server`.
"""
