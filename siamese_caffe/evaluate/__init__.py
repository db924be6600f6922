"""Stage 5, evaluation: the labelled digits measured (sets), pair and neighbour metrics,
plots, and the report (report, report_markdown); defaults in settings."""
