"""QMP, the QEMU Machine Protocol, as a sans-I/O core.

:mod:`.json_reader` reads and :mod:`.json_writer` writes JSON as QEMU 10.0's
monitor does;
:mod:`.protocol` is the server side of a QMP connection built on it.
"""
