"""The contract between the control plane (`orchestrator`) and the data plane (`models`): the
settings, jobs, phases and typed messages both sides read. Only the standard library and pydantic
are imported here, so the driver can use it without torch, and an actor without the driver's code."""
