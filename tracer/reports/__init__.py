"""Turn analysis results into report.json, terminal summaries and documents."""
