"""Generated reference docs match the code."""

from __future__ import annotations

from host.docgen import render_all
from host.testing import PROJECT_ROOT


def test_generated_docs_are_up_to_date() -> None:
    for relative, text in render_all().items():
        path = PROJECT_ROOT / relative
        assert path.is_file(), f"{relative} missing: run `mmhost docs --write`"
        assert path.read_text() == text, f"{relative} is stale: run `mmhost docs --write`"


def test_readme_starts_with_the_two_commands() -> None:
    head = (PROJECT_ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "make run" in head and "make test" in head


def test_readme_strategy_example_runs(tmp_path) -> None:
    """The strategy the README teaches loads from a folder and trades."""
    from host.testing import build_host, config_dict, replay

    readme = (PROJECT_ROOT / "README.md").read_text()
    start = readme.index("# strategies/join_touch.py")
    source = readme[start : readme.index("```", start)]
    (tmp_path / "join_touch.py").write_text(source)
    config = config_dict()
    config["strategies"][0].update(name="join_touch", params={"size_lots": 2})
    runtime = replay(build_host(config, strategy_dirs=[tmp_path]), duration_s=30)
    orders = list(runtime.engine.oms.orders.values())
    assert orders and {o.size_lots for o in orders} == {2}
    assert {o.tag for o in orders} == {"bid", "ask"}
