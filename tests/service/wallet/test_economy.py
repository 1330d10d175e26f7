"""The economy catalogue file (SPEC §3b): the shipped example, and refusals naming the key."""

from __future__ import annotations

import pytest

from service.wallet.economy import Catalogue, CatalogueRefused
from tests.conftest import repo_root

ECONOMY = str(repo_root() / "economy.example.toml")


def test_example_catalogue_is_realistic():
    rules = Catalogue.load(ECONOMY).rules
    assert rules["daily_login_bonus"].daily_count == 1
    assert rules["level_complete"].daily_cap is not None
    assert all(rules[r].server_only for r in ("purchase", "refund", "admin_grant"))


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[earn.x]\nmax_amount = 100001\n", "earn.x.max_amount"),
        ("[earn.x]\nmax_amount = '5'\n", "earn.x.max_amount"),
        ("[earn.x]\nmax_amount = 5\ndaily_kap = 3\n", "earn.x.daily_kap"),
        ("[earn.x]\nmax_amount = 5\ncooldown_seconds = 0\n", "earn.x.cooldown_seconds"),
        ("earn = [1\n", "not TOML"),
    ],
)
def test_bad_catalogue_refuses_to_start_naming_the_key(tmp_path, toml, named):
    path = tmp_path / "economy.toml"
    path.write_text(toml)
    with pytest.raises(CatalogueRefused, match=named.replace(".", r"\.")):
        Catalogue.load(str(path))
