"""The leaderboard: records -> tables, versions, sensitivity and figures. The stage is
bench.leaderboard.stage (`python -m bench.leaderboard`); the others are its parts: records (load),
stats and paired (the table and its statistics), sensitivity, version (a table's identity and
history), render and plots (the published files) and publish (all-or-nothing)."""
