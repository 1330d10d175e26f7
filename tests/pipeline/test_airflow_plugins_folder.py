"""plugins/ is Airflow's plugins folder: it must not load the revenue library's files as plugins.

Airflow imports every plugins/**/*.py under its bare file name (sys.modules["io"] would become
revenue/io.py), so plugins/.airflowignore keeps the library out of plugin discovery; the DAG
imports it as the package ``revenue`` instead.
"""

from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


@pytest.mark.parametrize("syntax", ["glob", "regexp"])
def test_airflow_plugin_discovery_skips_the_revenue_library(syntax):
    from airflow._shared.module_loading import find_path_from_directory  # what plugins_manager uses

    found = list(find_path_from_directory(str(PLUGINS), ".airflowignore", syntax))
    assert not [path for path in found if "revenue" in Path(path).parts]
    assert (PLUGINS / "revenue" / "io.py").is_file()
