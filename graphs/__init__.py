"""Ready workflows built with orchestrator, one module per pattern."""
