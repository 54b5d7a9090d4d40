"""Impersonation profiles: a real QEMU binary's QMP facts, recorded and read back.

``profile`` reads them (lazily: nothing here is on ``qapigen vm``'s start
path), ``recorder`` records them by running the binary as libvirt does, and
``libvirt`` holds what libvirt runs and asks.  ``data/`` holds the shipped
profile of Debian's QEMU 10.0.2 for x86_64.
"""
