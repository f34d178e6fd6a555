"""Small games that the algorithm tests and benchmarks use (``docs/algorithms.md``).

``Arms-v0`` (:mod:`.arms`, Modular), ``KArmCoordination-v0`` (:mod:`.karm`, ADAP), and the CoMeDi games
``BlindBandits-v0`` (:mod:`.blind_bandits`) and ``BalanceBeam-v0`` (:mod:`.balance_beam`), the low-rank
adaptation games ``CoordinationMAB-v0`` (:mod:`.coordination_mab`) and ``Particle-v0`` (:mod:`.particle`), and
SILI's ``StableDriving-v0`` (:mod:`.stable_driving`).
"""
