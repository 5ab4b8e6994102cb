"""What a run leaves behind for people and for later stages: summary.json, report.md and report.html."""
