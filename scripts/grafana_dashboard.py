"""Write docs/grafana/alluse-cluster.json: the cluster's Grafana dashboard, the console's seven charts over
Prometheus (every gateway service and agent, by instance). Built with Grafana's own Foundation SDK (its types
are generated from Grafana's schema); tests/integration/cluster/test_grafana_dashboard.py checks the file is
this script's output, that it survives Grafana's schema, and that Prometheus parses every query.

    python scripts/grafana_dashboard.py            # rewrite the file
    python scripts/grafana_dashboard.py --check    # exit 1 if the file is not what this script writes
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PATH = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "alluse-cluster.json"
SOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# (title, unit, [(PromQL, legend)]): the console's seven charts, across processes
CHARTS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Trading: orders per second", "ops", [
        ('sum by (event) (rate(alluse_orders_total{job="agent"}[1m]))', "{{event}}"),
        ("sum(rate(alluse_cluster_gateway_sent_total[1m]))", "sent by the gateway"),
    ]),
    ("Market data: quotes per second", "ops", [
        ("sum(rate(alluse_cluster_quotes_published_total[1m]))", "published by the gateway"),
        ('sum by (instance) (rate(alluse_quotes_total{outcome="accepted"}[1m]))', "accepted by {{instance}}"),
    ]),
    ("Resources: resident memory", "bytes", [
        ("alluse_process_rss_bytes", "{{job}} {{instance}}"),
    ]),
    ("Equity across accounts, with its least-squares trend an hour ahead", "currencyUSD", [
        ("sum(alluse_account_equity_usd)", "equity"),
        ("predict_linear(sum(alluse_account_equity_usd)[1h:1m], 3600)", "trend, an hour ahead"),
    ]),
    ("Order path: submit latency p90", "s", [
        ("histogram_quantile(0.9, sum by (le, instance) (rate(alluse_order_submit_seconds_bucket[1m])))",
         "{{instance}}"),
    ]),
    ("Resident memory forecast, 30 minutes ahead", "bytes", [
        ("predict_linear(alluse_process_rss_bytes[30m], 1800)", "{{job}} {{instance}}"),
    ]),
]  # fmt: skip
STATS: list[tuple[str, str]] = [  # the current statistics
    ("Accounts run by live agents", "sum(alluse_cluster_agent_accounts)"),
    ("Agents up", 'sum(up{job="agent"})'),
    ("Gateway services active (exactly 1)", "sum(alluse_cluster_gateway_active)"),
    ("Fencing token", "max(alluse_cluster_lease_token)"),
    ("Orders held after a takeover", "sum(alluse_cluster_orders_held)"),
]


def build() -> dict[str, object]:
    board = (
        dashboard.Dashboard("ALL-USE cluster")
        .uid("alluse-cluster")
        .tags(["alluse"])
        .refresh("10s")
        .time("now-1h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    row = (stat.Panel().title("Current statistics").datasource(SOURCE).height(4).span(24)
           .graph_mode(common.BigValueGraphMode.NONE).text_mode(common.BigValueTextMode.VALUE_AND_NAME))  # fmt: skip
    for i, (legend, expr) in enumerate(STATS):
        row = row.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(65 + i)))
    board = board.with_panel(row)
    for title, unit, queries in CHARTS:
        panel = (timeseries.Panel().title(title).datasource(SOURCE).unit(unit).height(8).span(12)
                 .legend(common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
                         .placement(common.LegendPlacement.BOTTOM).show_legend(True))
                 .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                          .sort(common.SortOrder.DESCENDING)))  # fmt: skip
        for i, (expr, legend) in enumerate(queries):
            panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(65 + i)))
        board = board.with_panel(panel)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def text() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    wanted = text()
    if "--check" in sys.argv:
        sys.exit(0 if PATH.read_text(encoding="utf-8") == wanted else 1)
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(wanted, encoding="utf-8")
