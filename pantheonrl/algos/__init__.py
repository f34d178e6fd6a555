"""The research algorithms: behaviour cloning (``bc``), ADAP (``adap``), Modular policies (``modular``).

Importing this package (``import pantheonrl`` does) registers ``ADAP`` and ``ModularAlgorithm`` in
:data:`pantheonrl.registry.ALGORITHMS`; :mod:`.kinds` maps the trainer's names (``ADAP_MULT``, ...) onto them.
"""

from pantheonrl.algos import adap, modular  # noqa: F401  (register ADAP and ModularAlgorithm)
