"""Revenue pipeline (SPEC §5): pure DataFrame stages, and the Parquet stage runner in ``revenue.stages``.

Stage modules: normalise, dedup, reconcile, roas, arpdau. I/O at the edges: io (inputs, atomic
writers), reports and report_html (the seven report files). Tools: synth (data with ground
truth), ``python -m revenue run`` (CLI).
"""
