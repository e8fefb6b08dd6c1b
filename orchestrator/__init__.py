"""The domain of the Ganeti orchestrator: models, allocation, state rules, RAPI client."""
