""" "Complete the look" bundles: slot planning, constrained candidates per slot, LLM composition."""
