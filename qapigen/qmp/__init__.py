"""QMP, the QEMU Machine Protocol, as a sans-I/O core.

:mod:`.jsonstream` reads and writes JSON as QEMU 10.0's monitor does;
:mod:`.protocol` is the server side of a QMP connection built on it.
"""
