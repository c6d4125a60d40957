"""Evaluation and the run report: accuracy, pass@k and majority@k (`metrics`), paired bootstrap
and Wilson intervals (`stats`), findings in words (`findings`), `report.md` (`markdown`) and its
plots (`plots`)."""
