#!/usr/bin/env python3
"""contrib/grafana/postern-dashboard.json: valid JSON with the datasource/job/instance variables,
and every panel query valid PromQL (`promtool check rules` on the queries as recording rules,
Grafana's $variables replaced). That the queries name only metrics the daemon serves is checked
by tools_metric_families_test (MetricFamilies.DashboardNamesOnlyServedMetrics). Exit 77 without
promtool."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

source = os.environ.get("POSTERN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
dashboard = json.load(open(os.path.join(source, "contrib", "grafana", "postern-dashboard.json")))
if not shutil.which("promtool"):
    print("SKIP: promtool (Debian package prometheus) is not installed")
    sys.exit(77)

exprs = []
def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))
walk(dashboard["panels"])
assert len(exprs) >= 20, f"only {len(exprs)} queries"
for var in ("datasource", "job", "instance"):
    assert var in [v["name"] for v in dashboard["templating"]["list"]], var

with tempfile.TemporaryDirectory() as tmp:
    rules = os.path.join(tmp, "rules.yml")
    with open(rules, "w") as f:
        f.write("groups:\n- name: dashboard\n  rules:\n")
        for i, (title, expr) in enumerate(exprs):
            expr = expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
            f.write(f"  - record: dashboard:query{i}\n    expr: {json.dumps(expr)}\n")
    result = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout, result.stderr)
        sys.exit(1)
print(f"{len(exprs)} dashboard queries are valid PromQL")
