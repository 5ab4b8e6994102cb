"""`python -m orchestrator serve`: a finished run's model or ensemble behind an HTTP endpoint on
Ray Serve (`plan`: what to serve, from the run's files; `gateway`: the HTTP ingress; `server`:
deploying it and taking it down)."""
