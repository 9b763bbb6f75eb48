"""A deterministic, seeded stand-in for ESI's public-contract routes (tests, benchmarks, demos).

- :class:`services.esi_sim.world.SimWorld`: the in-memory world, advancing in cache generations.
- :func:`services.esi_sim.app.create_app`: the FastAPI app serving it like ESI.
- :class:`services.esi_sim.faults.FaultConfig`: fault injection (``POST /_sim/faults``).
- :func:`services.esi_sim.main.run`: serve it with uvicorn.
"""
