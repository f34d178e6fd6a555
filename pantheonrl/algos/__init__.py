"""The research algorithms: behaviour cloning (``bc``), ADAP (``adap``), Modular policies (``modular``)."""
