"""selfheal: an LLM code-generation service that evaluates its own output and repairs its own prompts."""

__all__ = ["__version__"]

__version__ = "0.1.0"
