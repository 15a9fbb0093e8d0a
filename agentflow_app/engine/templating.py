"""Jinja2 templates in a sandbox (SPEC §5): the only code a workflow author gets to write.

Scope is exactly ``inputs`` and ``nodes.<id>.output``: no environment, no secrets, no
Python objects, no Jinja globals except a capped ``range``. On top of Jinja's immutable
sandbox, every attribute of functions, classes and modules is refused (no
``cycler.__init__.__globals__`` walks), ``_``-prefixed names are refused, and the usual
denial-of-service tricks are capped: huge repetitions (``'x' * 10**9``), huge powers,
padded formats (``'%0999999999d'``), huge filter or method arguments, string doubling, loop
iterations and total output.

Templates are compiled once per source text and cached, so the runner pays the parse cost
once per distinct template, not per step.
"""

from __future__ import annotations

import contextvars
import re
import string
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import StrictUndefined, Undefined, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

from agentflow_app.engine.errors import TemplateError
from agentflow_app.engine.node import TemplateField
from agentflow_app.engine.resolver import UNRESOLVED, Resolver, resolve_key, resolving

Kind = Literal["text", "expression", "json"]

#: Longest string or list a template may build, and longest text it may render.
MAX_SIZE = 1_000_000
#: Loop iterations one render may run (all ``for`` loops together).
MAX_ITERATIONS = 1_000_000
#: Longest ``range`` a template may ask for.
MAX_RANGE = 100_000
#: Biggest integer (in bits) ``**`` may produce.
MAX_POWER_BITS = 100_000

#: Filters kept from Jinja's defaults: pure functions over data, none reaching Python objects.
SAFE_FILTERS = frozenset(
    {
        "abs",
        "batch",
        "capitalize",
        "center",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "filesizeformat",
        "first",
        "float",
        "format",
        "groupby",
        "indent",
        "int",
        "items",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "map",
        "max",
        "min",
        "pprint",
        "reject",
        "rejectattr",
        "replace",
        "reverse",
        "round",
        "safe",
        "select",
        "selectattr",
        "slice",
        "sort",
        "string",
        "striptags",
        "sum",
        "title",
        "tojson",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
        "wordwrap",
    }
)

_FORMAT_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_NATIVE = re.compile(r"^\{\{[-+]?(.*?)[-+]?\}\}$", re.DOTALL)


class _Refused(SecurityError):
    """Something a template may not do; the message says what and why."""


class _Budget:
    __slots__ = ("iterations",)

    def __init__(self) -> None:
        self.iterations = 0


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


class NodesScope(dict):
    """``nodes`` in a template: ``{node_id: {"output": ...}}`` of the referenced nodes."""


class InputsScope(dict):
    """``inputs`` in a template: the execution inputs."""


class _Undefined(StrictUndefined):
    """StrictUndefined whose messages speak about inputs and nodes, not dict objects."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint:
            return self._undefined_hint
        if obj is missing:
            return f"{name!r} is undefined: templates can use only inputs and nodes.<id>.output"
        if isinstance(obj, NodesScope):
            return (
                f"nodes.{name} is not available: that node does not exist, is not upstream of "
                "this one, or was skipped"
            )
        if isinstance(obj, InputsScope):
            return f"inputs.{name} was not given (inputs are: {', '.join(obj) or 'none'})"
        if isinstance(name, str):
            return f"{type(obj).__name__} value has no key or attribute {name!r}"
        return f"{type(obj).__name__} value has no element {name!r}"


def _check_size(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > MAX_SIZE:
        raise _Refused(f"a value of {len(value):,} items is over the {MAX_SIZE:,} limit")
    return value


def _check_numbers(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_SIZE:
            raise _Refused(f"the number {arg} is too large for this operation")


def _check_format(fmt: str) -> None:
    """Refuse widths/precisions that would allocate huge strings ('{:>999999999}')."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec:
            _check_numbers(int(n) for n in _FORMAT_SPEC_NUMBER.findall(spec))


def _check_percent(fmt: str, args: Any) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        _check_numbers(int(n) for n in match.groups() if n and n != "*")
    _check_numbers(args if isinstance(args, tuple) else (args,))


def _safe_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise _Refused(f"range() of {len(result):,} numbers is over the {MAX_RANGE:,} limit")
    return result


def _guard_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """Check a filter's extra arguments before it runs and its result after."""

    # The value (and a leading context/environment for pass_* filters) is not checked.
    skip = 2 if hasattr(func, "jinja_pass_arg") else 1

    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_numbers(args[skip:])
        _check_numbers(kwargs.values())
        return _check_size(func(*args, **kwargs))

    # Keep Jinja's pass_context / pass_environment marker.
    if hasattr(func, "jinja_pass_arg"):
        guarded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


def _format_filter(value: str, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise _Refused("format() takes positional or keyword arguments, not both")
    _check_percent(str(value), args)
    return str(value) % (kwargs or args)


class _CodeGenerator(CodeGenerator):
    """Counts loop iterations and checks string concatenation (``~``) against the caps."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not node.recursive:
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("counted"), [node.iter], [], None, None
            )
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, narrowed to data and capped against runaway templates."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
        self.globals.clear()
        self.globals["range"] = _safe_range
        filters = {name: self.filters[name] for name in SAFE_FILTERS if name in self.filters}
        filters["format"] = _format_filter
        self.filters = {name: _guard_filter(func) for name, func in filters.items()}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        if isinstance(
            obj,
            type
            | types.ModuleType
            | types.FunctionType
            | types.MethodType
            | types.BuiltinFunctionType
            | types.BuiltinMethodType
            | types.CodeType
            | types.FrameType
            | types.GeneratorType,
        ):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # JSON data first: `inputs.items` is the "items" input, not dict.items.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        if (value := resolve_key(obj, attribute)) is not UNRESOLVED:
            return value
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if (value := resolve_key(obj, argument)) is not UNRESOLVED:
            return value
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt)
            _check_numbers(args)
            _check_numbers(kwargs.values())
            return _check_size(wrapped(*args, **kwargs))

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_numbers(args)
        _check_numbers(kwargs.values())
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * max(times, 0) > MAX_SIZE
                ):
                    raise _Refused(
                        f"repeating a value {times:,} times is over the {MAX_SIZE:,} limit"
                    )
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                bits = max(abs(left), 2).bit_length() * right
                if bits > MAX_POWER_BITS:
                    raise _Refused("that power is too large to compute")
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return _check_size(super().call_binop(context, operator, left, right))

    def checked_join(self, values: Iterable[Any]) -> str:
        parts = [str(v) for v in values]
        if sum(map(len, parts)) > MAX_SIZE:
            raise _Refused(f"joining text longer than the {MAX_SIZE:,} character limit")
        return "".join(parts)

    def counted(self, iterable: Any) -> Iterator[Any]:
        budget = _budget.get(None)
        if budget is None:  # rendering outside render_*: give it its own budget
            budget = _Budget()
        for item in iterable:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise _Refused(f"loops ran over {MAX_ITERATIONS:,} iterations")
            yield item


ENV = SandboxEnvironment()


# -- compile (cached) ------------------------------------------------------------------------


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    if isinstance(exc, UndefinedError):
        return str(exc)
    if isinstance(exc, SecurityError):
        return f"not allowed in templates: {exc}"
    if isinstance(exc, RecursionError):
        return "recursion too deep"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}"


def _refuse_self(ast: nodes.Template) -> None:
    if any(name.name == "self" for name in ast.find_all(nodes.Name)):
        raise _Refused("'self' (the template object) is not available in templates")


class _Compiled:
    """A parsed template: either a single native expression or a text template."""

    __slots__ = ("ast", "expression", "template")

    def __init__(self, source: str, kind: Kind) -> None:
        self.expression = None
        self.template = None
        if kind == "expression":
            self.ast = ENV.parse("{{ " + source + " }}")
            _refuse_self(self.ast)
            self.expression = ENV.compile_expression(source, undefined_to_none=False)
            return
        self.ast = ENV.parse(source)
        body = self.ast.body
        _refuse_self(self.ast)
        match = _NATIVE.match(source)
        if (
            match
            and len(body) == 1
            and isinstance(body[0], nodes.Output)
            and len(body[0].nodes) == 1
            and not isinstance(body[0].nodes[0], nodes.TemplateData)
        ):
            self.expression = ENV.compile_expression(match.group(1), undefined_to_none=False)
        else:
            self.template = ENV.from_string(source)


@lru_cache(maxsize=4096)
def _compile_cached(source: str, kind: Kind) -> _Compiled | TemplateError:
    try:
        return _Compiled(source, kind)
    except TemplateSyntaxError as exc:
        return TemplateError(None, None, _describe(exc))
    except SecurityError as exc:
        return TemplateError(None, None, _describe(exc))


def _compile(source: str, kind: Kind) -> _Compiled:
    compiled = _compile_cached(source, kind)
    if isinstance(compiled, TemplateError):
        raise compiled.located(None, None)
    return compiled


def check(source: str, kind: Kind = "text") -> None:
    """Raise :class:`TemplateError` when ``source`` does not parse."""
    _compile(source, kind)


# -- references (validation) -----------------------------------------------------------------


def references(source: str, kind: Kind = "text") -> set[str]:
    """The node ids a template reads through ``nodes.<id>`` or ``nodes['<id>']``.

    Raises:
        TemplateError: when it does not parse, or reaches into ``nodes`` by a computed key
            (then validation could not prove the node is upstream).
    """
    ast = _compile(source, kind).ast
    found: set[str] = set()
    matched: set[int] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "nodes" and target.ctx == "load":
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
            else:
                continue
            matched.add(id(target))
    for name in ast.find_all(nodes.Name):
        if name.name == "nodes" and name.ctx == "load" and id(name) not in matched:
            raise TemplateError(
                None,
                None,
                "refer to another node's output as nodes.<node_id>.output "
                "(a computed or missing node id cannot be checked)",
            )
    return found


# -- render ------------------------------------------------------------------------------------


def make_scope(inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The whole template scope: ``inputs`` and ``nodes.<id>.output`` for ``outputs``."""
    return {
        "inputs": InputsScope(inputs),
        "nodes": NodesScope({node_id: {"output": out} for node_id, out in outputs.items()}),
    }


def render(source: str, scope: Mapping[str, Any], kind: Kind = "text") -> Any:
    """Render one template.

    A ``text`` template that is exactly one ``{{ expression }}`` keeps the expression's
    type (a list stays a list); other text templates give a string. An ``expression`` is
    evaluated to its value.

    Raises:
        TemplateError: without node or field (the caller knows them).
    """
    compiled = _compile(source, kind)
    token = _budget.set(_Budget())
    try:
        if compiled.expression is not None:
            value = compiled.expression(**scope)
            if isinstance(value, Undefined):
                value._fail_with_undefined_error()
            return value
        size = 0
        parts = []
        for chunk in compiled.template.generate(**scope):
            size += len(chunk)
            if size > MAX_SIZE:
                raise _Refused(f"the rendered text is over the {MAX_SIZE:,} character limit")
            parts.append(chunk)
        return "".join(parts)
    except TemplateError:
        raise
    except Exception as exc:  # anything the template did is the template's error
        raise TemplateError(None, None, _describe(exc)) from None
    finally:
        _budget.reset(token)


def _render_json(value: Any, scope: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, str):
        try:
            return render(value, scope, "text")
        except TemplateError as exc:
            raise exc.located(None, path) from None
    if isinstance(value, dict):
        return {k: _render_json(v, scope, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_json(v, scope, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


# -- config walking ----------------------------------------------------------------------------

#: ``visit(kind, value, path) -> new value`` is applied to every template leaf.
Visit = Callable[[Kind, Any, str], Any]
Walker = Callable[[Any, Visit, str], Any]


def _leaf(kind: Kind) -> Walker:
    def walk(value: Any, visit: Visit, path: str) -> Any:
        if kind == "json" or isinstance(value, str):
            return visit(kind, value, path)
        return value

    return walk


def _runtime_type(annotation: Any) -> type | tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _runtime_type(typing.get_args(annotation)[0])
    if origin is not None:
        return origin if isinstance(origin, type) else object
    return annotation if isinstance(annotation, type) else object


def _walker_for(annotation: Any) -> Walker | None:
    """How to find the template leaves in a value of ``annotation`` (None: it has none)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        for meta in args[1:]:
            if isinstance(meta, TemplateField):
                return _leaf(meta.kind)
        return _walker_for(args[0])
    if origin in (typing.Union, types.UnionType):
        options = [(_runtime_type(a), w) for a in args if (w := _walker_for(a)) is not None]
        if not options:
            return None

        def walk_union(value: Any, visit: Visit, path: str) -> Any:
            for runtime, walker in options:
                if runtime is object or isinstance(value, runtime):
                    return walker(value, visit, path)
            return value

        return walk_union
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is ...):
        inner = _walker_for(args[0]) if args else None
        if inner is None:
            return None
        return lambda v, visit, path: (
            [inner(x, visit, f"{path}[{i}]") for i, x in enumerate(v)]
            if isinstance(v, list | tuple | set | frozenset)
            else v
        )
    if origin is dict or origin is Mapping:
        inner = _walker_for(args[1]) if len(args) == 2 else None
        if inner is None:
            return None
        return lambda v, visit, path: (
            {k: inner(x, visit, f"{path}.{k}") for k, x in v.items()} if isinstance(v, dict) else v
        )
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = _model_walkers(annotation)
        if not fields:
            return None
        return lambda v, visit, path: _walk_model(v, fields, visit, path)
    return None


@lru_cache(maxsize=1024)
def _model_walkers(model: type[BaseModel]) -> tuple[tuple[str, Walker], ...]:
    found = []
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, TemplateField)), None)
        walker = _leaf(marker.kind) if marker is not None else _walker_for(info.annotation)
        if walker is not None:
            found.append((name, walker))
    return tuple(found)


def _walk_model(value: Any, fields: tuple[tuple[str, Walker], ...], visit: Visit, path: str) -> Any:
    if not isinstance(value, BaseModel):
        return value
    update = {}
    for name, walker in fields:
        current = getattr(value, name)
        if current is not None:
            update[name] = walker(current, visit, f"{path}.{name}" if path else name)
    return value.model_copy(update=update) if update else value


def template_fields(config: BaseModel, prefix: str = "config") -> list[tuple[str, Kind, Any]]:
    """Every template in ``config`` as ``(field path, kind, source)``, for validation."""
    found: list[tuple[str, Kind, Any]] = []

    def collect(kind: Kind, value: Any, path: str) -> Any:
        found.append((path, kind, value))
        return value

    _walk_model(config, _model_walkers(type(config)), collect, prefix)
    return found


def json_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """The strings of a JSON value with their paths (each is a template of a json field)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from json_strings(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from json_strings(v, f"{path}[{i}]")


def has_templates(model: type[BaseModel]) -> bool:
    """Whether instances of ``model`` need rendering at all (the runner skips those that don't)."""
    return bool(_model_walkers(model))


def render_config(
    config: BaseModel | dict[str, Any],
    scope: Mapping[str, Any],
    *,
    node_id: str | None = None,
    prefix: str = "config",
    resolve: Resolver | None = None,
) -> Any:
    """Render every template field of ``config`` (a model instance, or a dict of JSON).

    A model comes back as a copy with its template fields rendered (values keep native
    types, unvalidated: a ``TemplateStr`` that is ``{{ inputs.items }}`` holds the list); a
    dict is treated as JSON whose strings are all templates. ``resolve`` supplies keys the
    values lack (a file's ``text``; see resolver.py); it may block, so a caller on an event
    loop renders in a thread.

    Raises:
        TemplateError: naming ``node_id`` and the field path, e.g. ``config.headers.X``.
    """

    def visit(kind: Kind, value: Any, path: str) -> Any:
        try:
            if kind == "json":
                return _render_json(value, scope, path)
            return render(value, scope, kind)
        except TemplateError as exc:
            raise exc.located(node_id, exc.field or path) from None

    with resolving(resolve):
        if isinstance(config, BaseModel):
            return _walk_model(config, _model_walkers(type(config)), visit, prefix)
        return visit("json", config, prefix)
