"""Analytics: turns the metrics history into a report (statistics, trends, anomalies, forecasts,
a 7-panel dashboard, a JSON report and a graded executive summary).

The front door is `generate.generate_report`. Heavy libraries (scikit-learn, statsmodels, matplotlib)
are imported only by the modules here, which nothing on the trading path imports; this package's own
import is light, so the application can read `analytics.config` without them.
"""
