#!/usr/bin/env python3
"""check_dashboard.py: a Grafana dashboard over berth's metrics names only
metrics that berth exports.

  check_dashboard.py --exporter PATH DASHBOARD.json
  check_dashboard.py --exporter PATH --self-test DASHBOARD.json

The exported names come from the code, not from a list kept here: PATH is
examples/prometheus_exporter, run as `PATH --print`, which prints one scrape
of berth::prometheus in the text format; every sample name in it counts
(for a histogram: NAME_bucket, NAME_sum, NAME_count).

Checks: the file is valid JSON with a schemaVersion, panels and a `pool`
template variable; every panel (rows' nested panels included) has at least
one query; every PromQL expression (panel targets, and the metric of each
label_values() variable) names at least one metric, and only exported ones.
Exit status 0 when the dashboard passes, 1 with one line per problem when
not, 2 on a usage error or when the exporter cannot be run.

--self-test: the dashboard must pass, and copies of it broken on purpose
(truncated JSON, an unknown metric in a panel, a histogram's family name
without its _bucket suffix, an unknown metric in the pool variable) must
each fail, naming the problem; an exporter that cannot run must give exit
status 2. CTest runs both (tests/CMakeLists.txt).
"""
import argparse
import contextlib
import copy
import io
import json
import re
import subprocess
import sys

# PromQL words that are neither metric names nor followed by "(".
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
            "unless", "inf", "nan"}


def fail(message):
    """Exit status 2 (usage error, exporter not run), the message on stderr.
    sys.exit(message) would exit 1, the status of a failing dashboard."""
    print(f"check_dashboard: {message}", file=sys.stderr)
    sys.exit(2)


def exported_names(exporter):
    """The sample names in one scrape printed by `exporter --print`."""
    try:
        out = subprocess.run([exporter, "--print"], check=True, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        fail(f"cannot run {exporter} --print: {e}")
    names = set()
    for line in out.splitlines():
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)[{ ]", line)
        if m and not line.startswith("#"):
            names.add(m.group(1))
    if not names:
        fail(f"{exporter} --print printed no samples")
    return names


def metric_names(expr):
    """The metric names a PromQL expression selects."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " ", s)  # Grafana variables ($pool, $__rate_interval)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)  # label lists
    names = []
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):  # not the e of 1e3, nor 5m
        if s[m.end():].lstrip().startswith("("):  # a function or an aggregation
            continue
        if m.group(0).lower() in KEYWORDS:
            continue
        names.append(m.group(0))
    return names


def panels_of(panels):
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))  # a row's collapsed panels


def problems(text, exported):
    """One line per problem of the dashboard text; empty when it passes."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"not valid JSON: {e}"]
    out = []
    if not isinstance(d.get("schemaVersion"), int):
        out.append("no schemaVersion")
    panels = list(panels_of(d.get("panels", [])))
    if not panels:
        out.append("no panels")

    def check(where, expr):
        names = metric_names(expr)
        if not names:
            out.append(f"{where}: names no metric: {expr}")
        for n in names:
            if n not in exported:
                out.append(f"{where}: '{n}' is not a metric berth exports: {expr}")

    for p in panels:
        if p.get("type") == "row":
            continue
        title = p.get("title", f"panel {p.get('id')}")
        exprs = [t.get("expr", "") for t in p.get("targets", [])]
        if not exprs or not all(e.strip() for e in exprs):
            out.append(f"panel '{title}': a target without a query")
        for e in exprs:
            if e.strip():
                check(f"panel '{title}'", e)

    variables = d.get("templating", {}).get("list", [])
    if not any(v.get("name") == "pool" for v in variables):
        out.append("no `pool` template variable")
    for v in variables:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q)
        if m:
            check(f"variable '{v.get('name')}'", m.group(1))
        else:
            check(f"variable '{v.get('name')}'", q)
    return out


def self_test(text, exported):
    """The dashboard passes; each broken copy fails, saying why."""
    failures = []
    got = problems(text, exported)
    if got:
        failures.append("the dashboard itself fails: " + "; ".join(got))
    d = json.loads(text)
    targets = [t for p in panels_of(d["panels"]) for t in p.get("targets", [])]

    def broken(change):
        b = copy.deepcopy(d)
        change(b)
        return json.dumps(b)

    def first_target(b):
        return [t for p in panels_of(b["panels"]) for t in p.get("targets", [])][0]

    hist = next(t["expr"] for t in targets if "_bucket" in t["expr"])
    cases = [
        ("truncated JSON", text[: len(text) // 2], "not valid JSON"),
        ("an unknown metric in a panel",
         broken(lambda b: first_target(b).update(expr="rate(berth_pool_no_such_metric_total[5m])")),
         "'berth_pool_no_such_metric_total' is not a metric berth exports"),
        ("a histogram without _bucket",
         broken(lambda b: first_target(b).update(expr=hist.replace("_bucket", ""))),
         "is not a metric berth exports"),
        ("an unknown metric in the pool variable",
         broken(lambda b: [v.update(query={"query": "label_values(hikaricp_connections_max, pool)"})
                           for v in b["templating"]["list"] if v["name"] == "pool"]),
         "'hikaricp_connections_max' is not a metric berth exports"),
        ("a panel without a query", broken(lambda b: first_target(b).update(expr="")), "a target without a query"),
    ]
    # ExporterNotRunExitsTwoBug: sys.exit(message) exited 1, the status of
    # a failing dashboard; an exporter that cannot run is 2, said on stderr.
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            exported_names("/nonexistent/prometheus_exporter")
        failures.append("an exporter that cannot run: no exit")
    except SystemExit as e:
        if e.code != 2 or "cannot run" not in err.getvalue():
            failures.append(f"an exporter that cannot run: exit status {e.code}, stderr {err.getvalue()!r}; "
                            "expected 2 and a message")
        else:
            print("check_dashboard: self-test: an exporter that cannot run: exit status 2")
    for name, copy_text, want in cases:
        got = problems(copy_text, exported)
        if not any(want in g for g in got):
            failures.append(f"{name}: expected a problem saying \"{want}\", got {got}")
        else:
            print(f"check_dashboard: self-test: {name}: rejected ({got[0]})")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exporter", required=True, help="examples/prometheus_exporter")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("dashboard")
    args = ap.parse_args()
    try:
        with open(args.dashboard, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail(str(e))
    exported = exported_names(args.exporter)
    if args.self_test:
        failures = self_test(text, exported)
        for f in failures:
            print(f"check_dashboard: self-test FAILED: {f}")
        return 1 if failures else 0
    got = problems(text, exported)
    for g in got:
        print(f"{args.dashboard}: {g}")
    if got:
        return 1
    d = json.loads(text)
    n = sum(len(metric_names(t.get("expr", ""))) for p in panels_of(d["panels"]) for t in p.get("targets", []))
    print(f"{args.dashboard}: ok ({len(list(panels_of(d['panels'])))} panels, {n} metric references, "
          f"all among the {len(exported)} names berth exports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
