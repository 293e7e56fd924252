"""YAML policy files to ``Policy`` objects, with errors that point into the file.

The YAML is composed into nodes (``yaml.compose`` with ``SafeLoader``), so
every key and value keeps its file, line and column; those survive the
``extends`` merge, and pydantic's error locations are mapped back to them.
A broken policy never loads partially: any problem stops the load, and
every problem is a ``PolicyError`` (validation problems are reported
together, in file order, the first one giving the error's position).

``extends`` names a file relative to the one that holds it. The base is
loaded first and the file is laid over it: mappings merge key by key, every
other value (lists included) replaces the base's. Cycles are errors.

The policies that ship (``default``, ``strict``, ``healthcare``, ``zh-CN``)
are package data, in ``privacy_partition/policies/`` beside their JSON
Schema (``policies/`` at the root of a checkout links there), so an installed
package has them wherever it runs: ``load_policy("default")`` and
``--policy default`` name them, and a file that exists wins over a name.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from privacy_partition._defaults import shipped_policies
from privacy_partition._errors import PolicyError
from privacy_partition.policy._schema import API_VERSION, PATTERN_MEANINGS, Policy

__all__ = ["MAX_POLICY_BYTES", "load_policy", "shipped_policies"]

MAX_POLICY_BYTES: Final = 1 << 20
# Aliases can make a small file expand exponentially ("billion laughs").
_MAX_NODES: Final = 100_000
_MAX_ERRORS_SHOWN: Final = 10
_STR_TAG: Final = "tag:yaml.org,2002:str"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
# Wheels install unpacked, so the shipped files are real paths: ``extends``
# and error messages need paths, not importlib.resources traversables.
_POLICY_SUFFIXES: Final = (".yaml", ".yml")

_Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class _Mark:
    path: str
    line: int  # 1-based
    column: int  # 1-based

    def error(self, message: str) -> PolicyError:
        return PolicyError(message, path=self.path, line=self.line, column=self.column)


@dataclass(frozen=True, slots=True)
class _Located:
    """A YAML value with where it starts (and where its key starts, in a mapping)."""

    value: Any  # dict[str, _Located] | list[_Located] | a scalar
    mark: _Mark
    key_mark: _Mark | None = None


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Load, merge (``extends``) and validate a policy file.

    ``path`` is a policy file, or the name of a policy that ships with the
    package (``"default"``, ``"strict"``, ``"healthcare"``, ``"zh-CN"``: see
    :func:`shipped_policies`). A file that exists wins over a name. Raises
    ``PolicyError`` naming file, line and column for any problem, and one
    listing the shipped names for a bare name that is neither a file nor a
    shipped policy.
    """
    shown = _resolve(os.fspath(path))
    tree = _load_file(shown, ())
    located = _Locator(tree)
    try:
        policy = Policy.model_validate(located.data)
    except ValidationError as error:
        raise located.error(error) from None
    policy._source = Path(shown)
    return policy


def _resolve(given: str) -> str:
    """The file ``given`` names: itself if it is a file, else a shipped policy of that name."""
    if os.path.isfile(given):
        return given
    shipped = shipped_policies()
    if given in shipped:
        return str(shipped[given])
    bare = os.path.basename(given) == given and not given.endswith(_POLICY_SUFFIXES)
    if bare and given:
        close = difflib.get_close_matches(given, shipped, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise PolicyError(
            f"no policy file and no shipped policy named {given!r} "
            f"(shipped: {', '.join(shipped) or 'none'}){hint}"
        )
    return given


# -- reading files ---------------------------------------------------------------


def _load_file(shown: str, chain: tuple[str, ...]) -> _Located:
    """``shown`` as a located tree, with its ``extends`` chain merged under it."""
    tree = _compose(shown)
    _check_api_version(tree)
    extends = tree.value.pop("extends", None)
    if chain:
        _rebase_key_files(tree, os.path.dirname(shown), os.path.dirname(chain[0]))
    if extends is None:
        return tree
    if not isinstance(extends.value, str) or not extends.value:
        raise extends.mark.error("'extends' expects a file name")
    base = os.path.normpath(os.path.join(os.path.dirname(shown), extends.value))
    here = [os.path.realpath(p) for p in (*chain, shown)]
    if os.path.realpath(base) in here:
        cycle = " -> ".join([*chain, shown, base])
        raise extends.mark.error(f"'extends' makes a cycle: {cycle}")
    if not os.path.isfile(base):
        raise extends.mark.error(f"'extends' names {extends.value!r}, which is not a file")
    return _merge(_load_file(base, (*chain, shown)), tree)


def _compose(shown: str) -> _Located:
    try:
        with open(shown, "rb") as stream:
            raw = stream.read(MAX_POLICY_BYTES + 1)
    except OSError as error:
        raise PolicyError(f"cannot read policy ({error.strerror})", path=shown) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy larger than {MAX_POLICY_BYTES} bytes", path=shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(f"not UTF-8 (byte {error.start})", path=shown) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = _mark(shown, mark) if mark else None
        message = f"invalid YAML: {error.problem or error.context}"
        if where is None:
            raise PolicyError(message, path=shown) from None
        raise where.error(message) from None
    except yaml.YAMLError:
        raise PolicyError("invalid YAML", path=shown) from None
    except RecursionError:
        # PyYAML composes recursively: a few hundred nested brackets exhaust the stack.
        raise PolicyError("invalid YAML: nested too deeply", path=shown) from None
    if node is None:
        raise PolicyError("the policy is empty", path=shown)
    tree = _Builder(shown).build(node)
    if not isinstance(tree.value, dict):
        raise tree.mark.error("expected a mapping at the top level")
    return tree


def _mark(shown: str, mark: yaml.Mark) -> _Mark:
    return _Mark(shown, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns YAML nodes into located values; refuses what a policy must not hold."""

    def __init__(self, shown: str) -> None:
        self._shown = shown
        self._constructor = SafeConstructor()
        self._nodes = 0

    def build(
        self, node: Node, key_mark: _Mark | None = None, parents: frozenset[int] = frozenset()
    ) -> _Located:
        mark = _mark(self._shown, node.start_mark)
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            raise mark.error(f"the policy holds more than {_MAX_NODES} values")
        if id(node) in parents:
            raise mark.error("an alias refers to a value that contains it")
        inner = parents | {id(node)}
        if isinstance(node, MappingNode):
            return _Located(self._mapping(node, inner), mark, key_mark)
        if isinstance(node, SequenceNode):
            return _Located([self.build(item, None, inner) for item in node.value], mark, key_mark)
        try:
            value = self._constructor.construct_object(node, deep=True)
        except ConstructorError as error:
            raise mark.error(f"invalid value: {error.problem}") from None
        return _Located(value, mark, key_mark)

    def _mapping(self, node: MappingNode, parents: frozenset[int]) -> dict[str, _Located]:
        mapping: dict[str, _Located] = {}
        for key_node, value_node in node.value:
            key_mark = _mark(self._shown, key_node.start_mark)
            if key_node.tag == _MERGE_TAG:
                raise key_mark.error("YAML merge keys ('<<') are not supported; use 'extends'")
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
                raise key_mark.error("expected a string key (quote it if YAML reads it otherwise)")
            key = key_node.value
            if key in mapping:
                first = mapping[key].key_mark
                at = f" (first at line {first.line})" if first else ""
                raise key_mark.error(f"duplicate key {key!r}{at}")
            mapping[key] = self.build(value_node, key_mark, parents)
        return mapping


def _check_api_version(tree: _Located) -> None:
    version = tree.value.get("apiVersion")
    if version is None:
        raise tree.mark.error(f"missing 'apiVersion' (expected {API_VERSION!r})")
    if version.value != API_VERSION:
        raise version.mark.error(f"unsupported apiVersion (expected {API_VERSION!r})")


def _rebase_key_files(tree: _Located, directory: str, root_directory: str) -> None:
    """Make each relative ``key_file`` of a base file relative to the root file's directory.

    A key file is written relative to the file that names it; after the
    merge it must mean the same from the policy's own directory. Paths stay
    relative so that the digest does not depend on the installation.
    """
    recipients = tree.value.get("recipients")
    if recipients is None or not isinstance(recipients.value, dict):
        return
    for recipient in recipients.value.values():
        key_file = recipient.value.get("key_file") if isinstance(recipient.value, dict) else None
        if key_file is None or not isinstance(key_file.value, str):
            continue
        if not os.path.isabs(key_file.value):
            rebased = os.path.relpath(
                os.path.join(directory, key_file.value), root_directory or os.curdir
            )
            recipient.value["key_file"] = _Located(rebased, key_file.mark, key_file.key_mark)


def _merge(base: _Located, override: _Located) -> _Located:
    if isinstance(base.value, dict) and isinstance(override.value, dict):
        merged = dict(base.value)
        for key, value in override.value.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return _Located(merged, override.mark, override.key_mark)
    return override


# -- mapping validation errors back to the file ------------------------------------


class _Locator:
    """Plain data for pydantic, and the marks to explain what pydantic rejects."""

    def __init__(self, tree: _Located) -> None:
        self._marks: dict[_Loc, _Located] = {}
        self.data = self._plain(tree, ())

    def _plain(self, located: _Located, loc: _Loc) -> Any:
        self._marks[loc] = located
        if isinstance(located.value, dict):
            return {k: self._plain(v, (*loc, k)) for k, v in located.value.items()}
        if isinstance(located.value, list):
            return [self._plain(v, (*loc, i)) for i, v in enumerate(located.value)]
        return located.value

    def error(self, error: ValidationError) -> PolicyError:
        problems = sorted(
            (self._explain(detail) for detail in error.errors(include_url=False)),
            key=lambda problem: (problem[0].path, problem[0].line, problem[0].column),
        )
        (first_mark, first_message), rest = problems[0], problems[1:_MAX_ERRORS_SHOWN]
        message = first_message + "".join(
            f"\n{mark.path}:{mark.line}:{mark.column}: {text}" for mark, text in rest
        )
        if len(problems) > _MAX_ERRORS_SHOWN:
            message += f"\n({len(problems) - _MAX_ERRORS_SHOWN} more errors)"
        return first_mark.error(message)

    def _explain(self, detail: ErrorDetails) -> tuple[_Mark, str]:
        loc = tuple(detail["loc"])
        on_key = "[key]" in loc
        if on_key:
            loc = loc[: loc.index("[key]")]
        found: _Loc = ()
        for part in loc:
            if (*found, part) not in self._marks:
                break
            found = (*found, part)
        located = self._marks[found]
        kind = detail["type"]
        if kind == "extra_forbidden":
            return located.key_mark or located.mark, _unknown_key(loc)
        if kind == "missing":
            return located.mark, f"missing required key {_last_name(loc)!r}"
        where = _dotted(found)
        mark = located.key_mark if on_key and located.key_mark else located.mark
        text = _describe(detail, on_key)
        return mark, f"{where}: {text}" if where else text


def _describe(detail: ErrorDetails, on_key: bool) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx", {})
    subject = "key" if on_key else "value"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    if kind in {"enum", "literal_error"}:
        got = detail["input"]
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        return f"expected one of: {_choices(str(ctx.get('expected', '')))}{shown}"
    if kind == "string_pattern_mismatch":
        meaning = PATTERN_MEANINGS.get(str(ctx.get("pattern")), f"to match {ctx.get('pattern')}")
        return f"expected {meaning} as {subject}"
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return f"expected {expected}"
    bound = _BOUNDS.get(kind)
    if bound is not None:
        template, key = bound
        return template.format(ctx.get(key))
    message = detail["msg"]
    return message[:1].lower() + message[1:]


_EXPECTED: Final = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


_BOUNDS: Final = {
    "greater_than_equal": ("expected a number of at least {}", "ge"),
    "less_than_equal": ("expected a number of at most {}", "le"),
    "too_short": ("expected at least {} item(s)", "min_length"),
    "string_too_short": ("expected at least {} character(s)", "min_length"),
    "string_too_long": ("expected at most {} characters", "max_length"),
}


def _choices(expected: str) -> str:
    """Pydantic's "'a', 'b' or 'c'" as "a, b, c"."""
    return expected.replace(" or ", ", ").replace("'", "")


def _dotted(loc: _Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _last_name(loc: _Loc) -> str:
    return next((str(part) for part in reversed(loc) if isinstance(part, str)), "?")


def _unknown_key(loc: _Loc) -> str:
    key = str(loc[-1])
    allowed = _keys_at(loc[:-1])
    if not allowed:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r} ({hint}expected one of: {', '.join(allowed)})"


def _keys_at(loc: _Loc) -> list[str]:
    """The keys the model at ``loc`` accepts, following field annotations from ``Policy``."""
    annotation: Any = Policy
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _model_in(annotation)
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _step(annotation: Any, part: str | int) -> Any:
    model = _model_in(annotation)
    if model is not None:
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    for inner in _unwrapped(annotation):
        origin = typing.get_origin(inner)
        args = typing.get_args(inner)
        if origin is tuple and isinstance(part, int):
            return args[0]
        if origin is dict and isinstance(part, str):
            return args[1]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for inner in _unwrapped(annotation):
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return None


def _unwrapped(annotation: Any) -> Iterator[Any]:
    """``annotation`` with Optional, unions and Annotated taken apart."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _unwrapped(typing.get_args(annotation)[0])
    elif origin is Union or origin is types.UnionType:
        for arg in typing.get_args(annotation):
            yield from _unwrapped(arg)
    else:
        yield annotation
