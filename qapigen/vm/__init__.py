"""``qapigen vm``: a simulated QEMU machine behind real QMP sockets (see :mod:`.program`)."""
