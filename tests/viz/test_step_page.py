"""The step-through page: self-contained, safe with any label, and stepped through in a real
browser (headless Chromium driven by selenium) with every number asserted.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (``make test``
installs them as root) and the ``selenium`` package (the ``test`` extra); without
them they skip, saying which is missing. One browser serves the whole module.

Set ``UPDATE_SCREENSHOT=1`` to also write the mid-way screenshot to
``docs/step_through.png`` (the README's picture).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Value, toposort
from viz.cli import main
from viz.step_page import StepThrough, json_for_script, step_through

ROOT = Path(__file__).resolve().parents[2]
FMT = "{:.4g}".format

# --- the data block -------------------------------------------------------------------


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=10,
    )
)
def test_json_for_script_reads_back_and_cannot_end_the_script(data: Any) -> None:
    text = json_for_script(data)
    assert json.loads(text) == data
    for ch in "<>&\u2028\u2029":
        assert ch not in text


def test_json_for_script_escapes_a_closing_tag() -> None:
    assert json_for_script("</script>") == '"\\u003c/script\\u003e"'


# --- the page, without a browser ------------------------------------------------------


def _neuron() -> Value:
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.label = "y"
    return y


@pytest.mark.needs_dot
def test_the_page_is_self_contained() -> None:
    page = step_through(_neuron(), title="tanh(x*w + b)").to_html()
    assert page.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no external script, style, image, font or frame.
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "@import" not in page and "url(" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # namespaces
    assert page.count("<svg") == 1  # the graph, drawn once


@pytest.mark.needs_dot
def test_repr_html_is_the_same_page_in_an_iframe() -> None:
    st_ = step_through(_neuron())
    frame = st_._repr_html_()
    m = re.fullmatch(
        r'<iframe srcdoc="([^"]*)" style="[^"]*" sandbox="allow-scripts" '
        r'title="[^"]*"></iframe>',
        frame,
    )
    assert m is not None
    assert html.unescape(m.group(1)) == st_.to_html()


def test_users_grads_are_untouched_and_text_needs_no_graphviz(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot
    y = _neuron()
    y.backward()
    before = [v.grad for v in toposort(y)]
    st_ = step_through(y)
    assert [v.grad for v in toposort(y)] == before
    assert "grad(x) = grad(n3) × ∂n3/∂x  = 0.501 × (-3) = -1.503" in st_.to_text()
    assert repr(st_) == "<StepThrough 'y': 6 forward and 6 backward steps>"
    shown = st_._repr_html_()  # Jupyter keeps going: the steps as text, and how to get dot
    assert "apt-get install graphviz" in shown
    assert html.escape(st_.to_text()) in shown


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="rankdir"):
        step_through(_neuron(), rankdir="XY")
    with pytest.raises(ValueError, match="fmt"):
        step_through(_neuron(), fmt="{:q}")


@pytest.mark.needs_dot
def test_save_follows_the_shared_file_policy(tmp_path: Path) -> None:
    """The page is written by nn.atomic: a regular file replaced atomically, a
    symlink followed with the link kept, a directory refused naming the path."""
    st_ = step_through(_neuron())
    path = st_.save(tmp_path / "steps.html")
    assert path.read_text(encoding="utf-8") == st_.to_html()
    other = tmp_path / "other.html"
    other.write_text("old", encoding="utf-8")
    link = tmp_path / "link.html"
    link.symlink_to(other)
    st_.save(link)
    assert link.is_symlink()
    assert other.read_text(encoding="utf-8") == st_.to_html()
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError, match="folder"):
        st_.save(tmp_path / "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "link.html",
        "other.html",
        "steps.html",
    ]


@pytest.mark.needs_dot
def test_frames_one_svg_per_step(tmp_path: Path) -> None:
    st_ = step_through(_neuron())
    paths = st_.save_frames(tmp_path / "frames")
    assert [p.name for p in paths] == [f"step_{i:03d}.svg" for i in range(1, 13)]
    assert all(p.read_text(encoding="utf-8").startswith("<?xml") for p in paths)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        st_.save_frames(tmp_path / "file")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        st_.save_frames(tmp_path / "no" / "such")


# --- in a real browser ----------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
)


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'chainrule[test]')"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return (
                f"{program!r} is not on PATH: install Debian's chromium and chromium-driver "
                "(make test does, as root: apt-get install chromium chromium-driver)"
            )
    if shutil.which("dot") is None:
        return "the Graphviz 'dot' program is not installed (apt-get install graphviz)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _browser_missing()
    if reason is not None:
        pytest.skip(reason)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chainrule-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = shutil.which("chromium") or "chromium"
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver: Any, path: Path) -> Any:
    from selenium.webdriver.common.by import By

    driver.get(path.resolve().as_uri())
    return driver.find_element(By.TAG_NAME, "body")


def _key(body: Any, name: str) -> None:
    from selenium.webdriver.common.keys import Keys

    body.send_keys(getattr(Keys, name))


def _page_state(driver: Any) -> dict[str, Any]:
    """What the page shows now, read from the DOM."""
    return driver.execute_script(  # type: ignore[no-any-return]
        """
        function t(id) { return document.getElementById(id).textContent; }
        var cur = document.querySelectorAll('#graph g.node.value.current');
        var grads = {}, datas = {}, classes = {};
        document.querySelectorAll('#graph g.node.value').forEach(function (g) {
          var id = g.querySelector('title').textContent;
          grads[id] = document.getElementById('v-' + id + '-grad').textContent;
          datas[id] = document.getElementById('v-' + id + '-data').textContent;
          classes[id] = g.getAttribute('class');
        });
        return {
          current: Array.prototype.map.call(cur, function (g) {
            return g.querySelector('title').textContent; }),
          step: document.body.getAttribute('data-step'),
          formula: t('step-formula'), numbers: t('step-numbers'), exact: t('step-exact'),
          counter: t('counter'), phase: t('phase'), grads: grads, datas: datas,
          classes: classes
        };
        """
    )


def _n(x: float) -> str:
    text = FMT(x)
    return f"({text})" if text.startswith("-") else text


def _expected_numbers(v: Value, order: list[Value], phase: str) -> str:
    """The numbers line for node ``v``, built from the engine's own numbers: its data
    from its operands (forward), or its grad as the sum over its uses (backward)."""
    if phase == "forward":
        if not v.parents:
            return f"= {FMT(v.data)}"
        ops = {"*": " × ", "+": " + "}
        if v.op in ops:
            a, b = v.parents
            return f"= {_n(a.data)}{ops[v.op]}{_n(b.data)} = {FMT(v.data)}"
        (a,) = v.parents
        return f"= {v.op}({_n(a.data)}) = {FMT(v.data)}"
    if v is order[-1]:
        return "= 1"
    terms = []
    for use in reversed(order):  # backward()'s order of passing on
        for parent, local in zip(use.parents, use.local_grads, strict=True):
            if parent is v:
                terms.append(f"{_n(use.grad)} × {_n(local)}")
    return "= " + " + ".join(terms) + f" = {FMT(v.grad)}"


def test_stepping_through_with_the_keyboard_shows_the_engines_numbers(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "steps.html"
    assert main(["steps", "tanh(x*w + b)", "x=2", "w=-3", "b=6.88", "-o", str(page)]) == 0
    capsys.readouterr()
    # The engine's own numbers for the same expression.
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.backward()
    order = toposort(y)
    ids = {f"n{i}": v for i, v in enumerate(order)}
    n = 2 * len(order)

    body = _open(browser, page)
    seen_backward: list[str] = []
    for k in range(n):
        if k:
            _key(body, "ARROW_RIGHT")
        s = _page_state(browser)
        assert s["step"] == str(k) and s["counter"] == f"step {k + 1} of {n}"
        assert len(s["current"]) == 1
        (node_id,) = s["current"]
        v = ids[node_id]
        phase = "forward" if k < len(order) else "backward"
        assert s["phase"] == f"{phase} pass"
        assert s["numbers"] == _expected_numbers(v, order, phase)
        if phase == "forward":
            assert node_id == f"n{k}"  # topological order
            assert float(s["exact"]) == v.data and s["exact"] == repr(v.data)
            known = {f"n{i}" for i in range(k + 1)}
            assert all(g == "?" for g in s["grads"].values())
        else:
            seen_backward.append(node_id)
            assert float(s["exact"]) == v.grad and s["exact"] == repr(v.grad)
            assert s["grads"][node_id] == FMT(v.grad)
            # every use of this node was finished before it
            for use in order:
                if v in use.parents:
                    assert f"n{order.index(use)}" in seen_backward[:-1]
            known = set(ids)
        for i, text in s["datas"].items():
            assert text == (FMT(ids[i].data) if i in known else "?")
            assert ("pending" in s["classes"][i].split()) == (i not in known)
        for i, text in s["grads"].items():
            reached = i in seen_backward
            assert text == (FMT(ids[i].grad) if reached else "?")
            assert ("nograd" in s["classes"][i].split()) == (i in known and not reached)
        if node_id == "n3" and phase == "backward":  # grad(n3): mid-way, for the README
            browser.save_screenshot(str(tmp_path / "step_through.png"))
            if os.environ.get("UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(tmp_path / "step_through.png", ROOT / "docs" / "step_through.png")
    assert sorted(seen_backward) == sorted(ids)
    assert (tmp_path / "step_through.png").stat().st_size > 10_000

    # ...and back: Left undoes, Home and End jump, the formula follows.
    _key(body, "ARROW_LEFT")
    assert _page_state(browser)["step"] == str(n - 2)
    _key(body, "HOME")
    s = _page_state(browser)
    assert (s["step"], s["formula"]) == ("0", f"{order[0].label}  (input)")
    _key(body, "END")
    s = _page_state(browser)
    assert s["step"] == str(n - 1) and s["formula"] == "grad(w) = grad(n3) × ∂n3/∂w"
    _key(body, "ARROW_RIGHT")  # past the end: stays
    assert _page_state(browser)["step"] == str(n - 1)


def test_not_reached_looks_different_from_a_grad_of_zero(browser: Any, tmp_path: Path) -> None:
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    y = (x * w).relu() + Value(1.0, label="b")  # relu at -6: x, w and x*w get grad 0
    st_ = step_through(y)
    page = st_.save(tmp_path / "relu.html")
    body = _open(browser, page)
    steps = st_.steps
    x_id = next(i for i, name in steps.names.items() if name == "x")
    x_step = len(steps.forward) + [b.node for b in steps.backward].index(x_id)
    for _ in range(x_step - 1):
        _key(body, "ARROW_RIGHT")
    style = """
        var g = document.getElementById('v-' + arguments[0]);
        var box = getComputedStyle(g.querySelector('path'));
        var t = getComputedStyle(document.getElementById('v-' + arguments[0] + '-grad'));
        return [document.getElementById('v-' + arguments[0] + '-grad').textContent,
                box.strokeDasharray, t.fill, t.fontStyle];
    """
    before = browser.execute_script(style, x_id)
    _key(body, "ARROW_RIGHT")
    after = browser.execute_script(style, x_id)
    assert before[0] == "?" and after[0] == "0"
    assert before[1] != after[1]  # dashed box, then solid
    assert before[2] != after[2] and before[3] == "italic" and after[3] == "normal"


def test_a_hostile_label_is_shown_as_text(browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    y = Value(1.0, label=evil) * 2.0
    page = step_through(y, title=evil).save(tmp_path / "evil.html")
    body = _open(browser, page)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert browser.execute_script("return document.querySelectorAll('script').length") == 2
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    formulas = []
    for _ in range(len(step_through(y))):
        formulas.append(_page_state(browser)["formula"])
        _key(body, "ARROW_RIGHT")
    assert f"{evil}  (input)" in formulas
    assert f"grad({evil}) = grad(n2) × ∂n2/∂{evil}" in formulas
    assert browser.find_element("css selector", "header .expr").text == evil
    history = browser.execute_script("return document.getElementById('history').textContent")
    assert evil in history
    assert browser.get_log("browser") == []


def test_buttons_and_play(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    st_ = step_through(Value(3.0, label="a") * Value(4.0, label="b"))
    assert isinstance(st_, StepThrough) and len(st_) == 6
    _open(browser, st_.save(tmp_path / "small.html"))
    click = "document.getElementById(arguments[0]).click()"
    browser.execute_script(click, "next")
    browser.execute_script(click, "next")
    assert _page_state(browser)["step"] == "2"
    browser.execute_script(click, "prev")
    assert _page_state(browser)["step"] == "1"
    browser.execute_script(click, "last")
    assert _page_state(browser)["step"] == "5"
    assert browser.execute_script("return document.getElementById('next').disabled") is True
    browser.execute_script(click, "first")
    browser.execute_script(click, "play")  # one step every 1.1 s
    WebDriverWait(browser, 4, poll_frequency=0.1).until(lambda d: _page_state(d)["step"] == "2")
    browser.execute_script(click, "play")  # pause
    stopped = _page_state(browser)["step"]
    assert browser.execute_script("return document.getElementById('play').textContent") == (
        "\u25b6 play"
    )
    assert stopped in {"2", "3"}


def test_the_docstring_examples_run() -> None:
    import doctest

    import viz.step_page

    result = doctest.testmod(viz.step_page)
    assert result.attempted >= 4 and result.failed == 0
