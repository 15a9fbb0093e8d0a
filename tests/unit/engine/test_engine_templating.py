"""Templates: scope, native types, errors naming node and field, and the sandbox."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import TemplateError
from agentflow_app.engine.node import ExpressionStr, NodeConfig, TemplateJSON, TemplateStr
from agentflow_app.engine.resolver import UNRESOLVED, NeedsThread, OnLoop
from agentflow_app.engine.templating import make_scope, references, render, render_config

SCOPE = make_scope(
    {"company": "Acme", "items": [1, 2, 3], "n": 4},
    {"brief": {"text": "three facts", "usage": {"cost_usd": 0.01}}},
)


class Config(NodeConfig):
    url: TemplateStr
    headers: dict[str, TemplateStr] = {}
    tags: list[TemplateStr] = []
    maybe: TemplateStr | None = None
    condition: ExpressionStr = "true"
    body: TemplateJSON = None
    plain: str = "{{ not rendered }}"


def test_scope_is_inputs_and_upstream_outputs() -> None:
    assert render("About {{ inputs.company }}: {{ nodes.brief.output.text }}", SCOPE) == (
        "About Acme: three facts"
    )
    assert render("{{ nodes['brief'].output.usage.cost_usd }}", SCOPE) == 0.01


def test_a_single_expression_keeps_its_type() -> None:
    assert render("{{ inputs.items }}", SCOPE) == [1, 2, 3]
    assert render("{{ inputs.n * 2 }}", SCOPE) == 8
    assert render("{{- inputs.n -}}", SCOPE) == 4
    assert render("n={{ inputs.n }}", SCOPE) == "n=4"
    assert render("{{ inputs.n }}{{ inputs.n }}", SCOPE) == "44"
    assert render("inputs.n > 3", SCOPE, "expression") is True


def test_render_config_walks_marked_fields_only() -> None:
    config = Config(
        url="https://x.test/{{ inputs.company | lower }}",
        headers={"X-Count": "{{ inputs.n }}"},
        tags=["{{ inputs.company }}", "fixed"],
        maybe="{{ inputs.items | length }}",
        condition="inputs.n == 4",
        body={"q": "{{ inputs.company }}", "list": ["{{ inputs.items }}"], "k": 7},
    )
    out = render_config(config, SCOPE, node_id="call")
    assert out.url == "https://x.test/acme"
    assert out.headers == {"X-Count": 4}
    assert out.tags == ["Acme", "fixed"]
    assert out.maybe == 3
    assert out.condition is True
    assert out.body == {"q": "Acme", "list": [[1, 2, 3]], "k": 7}
    assert out.plain == "{{ not rendered }}"
    assert config.url.startswith("https://x.test/{{")  # the original is untouched


def test_errors_name_node_and_field() -> None:
    config = Config(url="ok", headers={"Auth": "{{ inputs.token }}"})
    with pytest.raises(TemplateError) as raised:
        render_config(config, SCOPE, node_id="call")
    assert raised.value.node_id == "call"
    assert raised.value.field == "config.headers.Auth"
    assert "inputs.token was not given" in str(raised.value)

    with pytest.raises(TemplateError) as raised:
        render_config(Config(url="ok", body={"a": ["{{ nodes.nope.output }}"]}), SCOPE, node_id="b")
    assert raised.value.field == "config.body.a[0]"
    assert "nodes.nope is not available" in raised.value.message

    with pytest.raises(TemplateError, match="line 1"):
        render("{% if %}", SCOPE)


def test_references_come_from_the_ast() -> None:
    assert references("{{ nodes.a.output.x }} {{ nodes['b-2'].output }} {{ inputs.q }}") == {
        "a",
        "b-2",
    }
    assert references("nodes.c.output.result", "expression") == {"c"}
    with pytest.raises(TemplateError, match=r"nodes\.<node_id>\.output"):
        references("{{ nodes | tojson }}")


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ lipsum.__globals__ }}",
    "{{ namespace }}",
    "{{ config }}",
    "{{ self }}",
    "self",
    "{{ inputs.company.upper.__self__ }}",
    "{{ inputs.company.upper.__globals__ }}",
    "{{ inputs.items.append(4) }}",
    "{{ inputs.update({'x': 1}) }}",
    "{{ '{0.__class__}'.format(inputs) }}",
    "{{ inputs | attr('__class__') }}",
    "{{ range.__call__ }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, SCOPE, "expression" if "{" not in source else "text")


RUNAWAYS = [
    "{{ range(10**9) | list }}",
    "{{ range(10**6) | list }}",
    "{{ 'x' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ 10 ** 1000000 }}",
    "{{ 2 ** 400000 }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ inputs.items | batch(10**9, 0) | list }}",
    "{% set a = 'x' * 1000000 %}{{ a ~ a }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
]


@pytest.mark.parametrize("source", RUNAWAYS)
def test_runaway_templates_are_stopped(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, SCOPE)


def test_a_resolver_supplies_missing_keys_only_when_asked() -> None:
    asked: list[str] = []

    def resolve(value: dict, key: str):
        asked.append(key)
        if key == "shout":
            return value["word"].upper()
        if key == "broken":
            raise TemplateError(None, None, "the host cannot read that")
        return UNRESOLVED

    scope = make_scope({"w": {"word": "hi"}}, {})
    config = Config(
        url="{{ inputs.w.word }}",
        tags=["{{ inputs.w.shout }}", "{{ inputs.w['shout'] }}"],
        maybe="{{ inputs.w.missing | default('none') }}",
    )
    rendered = render_config(config, scope, node_id="n", resolve=resolve)
    assert (rendered.url, rendered.tags, rendered.maybe) == ("hi", ["HI", "HI"], "none")
    assert asked == ["shout", "shout", "missing"]  # never for keys the value holds

    with pytest.raises(TemplateError, match="the host cannot read that") as raised:
        render_config(Config(url="{{ inputs.w.broken }}"), scope, node_id="n", resolve=resolve)
    assert (raised.value.node_id, raised.value.field) == ("n", "config.url")
    # Without a resolver (or outside render_config) the key is simply missing.
    with pytest.raises(TemplateError, match="no key or attribute 'shout'"):
        render_config(Config(url="{{ inputs.w.shout }}"), scope, node_id="n")


def test_on_the_loop_a_render_stops_only_where_the_host_would_be_asked() -> None:
    on_loop = OnLoop(frozenset({"text"}))
    scope = make_scope({"doc": {"file_id": 3, "name": "a.txt"}}, {"ask": {"text": "hi"}})
    config = Config(
        url="{{ nodes.ask.output.text }}",
        body={"a": ["{{ nodes.ask.output['text'] }}"]},
        maybe="{{ inputs.doc.size | default('none') }}",
    )
    rendered = render_config(config, scope, node_id="n", resolve=on_loop)
    assert (rendered.url, rendered.body, rendered.maybe) == ("hi", {"a": ["hi"]}, "none")
    for template in (
        "{{ inputs.doc.text }}",
        "{{ inputs.doc['text'] }}",
        "{{ inputs.doc.text | default('x') }}",
        "{{ inputs.doc.name }}: {{ inputs.doc.text }}",
    ):
        with pytest.raises(NeedsThread):
            render_config(Config(url=template), scope, node_id="n", resolve=on_loop)
