"""The local model matrix: which models the device may run, and which fits its memory.

A :class:`ModelRegistry` holds :class:`ModelSpec` entries. The SDK ships one
matrix, ``models.yaml`` beside this module (:meth:`ModelRegistry.builtin`):
the models it can build itself from the package registry. A user adds any
onnxruntime-genai folder they built (Phi, Qwen, Llama, ...) without code
changes, either with a file in the same format (:meth:`ModelRegistry.load_file`)
or with :meth:`ModelRegistry.register`, which reads the folder's
``genai_config.json``. :meth:`ModelRegistry.pick` then chooses the largest
model that has an ability and fits a memory budget.

The file format (closed: an unknown key is an error naming file, line and column)::

    version: 1
    default: smollm2                   # optional: what `model build` always builds
    models:
      - name: smollm2                  # lower-case letters, digits, '-', '.', '_'
        title: SmolLM2-135M-Instruct, int8        # optional
        folder: smollm2/model          # relative to the model root, or absolute / ~
        parameters: 134_515_008        # optional
        memory_mib: 345                # peak resident memory measured (optional:
                                       #   estimated from the folder's size)
        abilities: [chat, instruct]    # of base, chat, instruct
        chat_template: folder          # folder | none | an inline Jinja template
        licence: Apache-2.0
        build: smollm2                 # optional: a recipe the SDK can build

Registration is not thread-safe: fill the registry at start-up, then share it.
Nothing here loads a model or opens a network connection; :meth:`ModelSpec.load`
loads one, and :meth:`ModelSpec.build` builds one that has a recipe.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from privacy_partition._artifacts import folder_bytes, model_root
from privacy_partition._errors import ConfigurationError, ModelError
from privacy_partition.local._build import RECIPES, build_gguf_model, verify_build
from privacy_partition.local._model import LocalModel, has_chat_template

__all__ = [
    "ABILITIES",
    "FROM_FOLDER",
    "NO_CHAT_TEMPLATE",
    "ModelRegistry",
    "ModelSpec",
]

ABILITIES = frozenset({"base", "chat", "instruct"})
"""What a model can do: continue text (base), follow instructions, hold a chat."""

FROM_FOLDER = "folder"
"""``chat_template`` value: use the template the model folder ships."""

NO_CHAT_TEMPLATE = "none"
"""``chat_template`` value: the model has none (a base model); use :meth:`LocalModel.complete`."""

State = Literal["ready", "missing", "damaged"]
Progress = Callable[[str], None]

_FORMAT_VERSION = 1
_BUILTIN = "models.yaml"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_TOP_KEYS = frozenset({"version", "default", "models"})
_MODEL_KEYS = frozenset(
    {
        "name",
        "title",
        "folder",
        "parameters",
        "memory_mib",
        "abilities",
        "chat_template",
        "licence",
        "build",
    }
)
_REQUIRED_KEYS = ("name", "folder", "abilities", "licence")
# Peak resident memory of a loaded onnxruntime-genai model runs at about 1.1x
# its files plus the interpreter and runtime (SmolLM2: 259 MiB of files, 281-345
# MiB peak); the estimate leans high so that a budget is not overrun.
_ESTIMATE_FACTOR = 1.25
_ESTIMATE_BASE_MIB = 64
_MODEL_SUFFIXES = (".onnx", ".data")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One local model: where it is, what it needs and what it can do.

    Validated at construction (:class:`ConfigurationError`); frozen.
    """

    name: str
    folder: Path
    """The onnxruntime-genai folder (absolute once in a registry)."""
    memory_mib: int
    """Peak resident memory of a process that loads the model and generates, in MiB."""
    abilities: frozenset[str]
    parameters: int | None = None
    chat_template: str = FROM_FOLDER
    """:data:`FROM_FOLDER`, :data:`NO_CHAT_TEMPLATE` or an inline Jinja template."""
    licence: str = "unknown"
    title: str = ""
    build_recipe: str | None = None
    """The name of the recipe that builds the folder, if the SDK can build it."""
    memory_measured: bool = True
    """False when ``memory_mib`` is estimated from the folder's size."""
    default: bool = field(default=False, compare=False)
    """True for the model ``privacy-partition model build`` always builds."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigurationError(
                f"local model name {self.name!r}: use lower-case letters, digits, '-', '.', '_'"
            )
        if self.memory_mib < 1:
            raise ConfigurationError(f"local model {self.name}: memory_mib must be positive")
        if not self.abilities or not self.abilities <= ABILITIES:
            raise ConfigurationError(
                f"local model {self.name}: abilities must be a non-empty subset of "
                f"{sorted(ABILITIES)}"
            )
        if self.parameters is not None and self.parameters < 1:
            raise ConfigurationError(f"local model {self.name}: parameters must be positive")
        if not self.chat_template:
            raise ConfigurationError(f"local model {self.name}: chat_template must not be empty")
        if self.build_recipe is not None and self.build_recipe not in RECIPES:
            raise ConfigurationError(
                f"local model {self.name}: unknown build recipe {self.build_recipe!r} "
                f"(known: {', '.join(sorted(RECIPES))})"
            )

    def state(self) -> State:
        """``ready``, ``missing`` (no folder) or ``damaged`` (a file is missing or differs).

        A built model is checked against its manifest (a digest of every
        file: about a second for 300 MB); a registered folder is checked for
        its config and decoder file.
        """
        if not self.folder.exists():
            return "missing"
        try:
            if self.build_recipe is not None:
                verify_build(self.folder, RECIPES[self.build_recipe])
            else:
                _check_model_folder(self.folder)
        except ModelError:
            return "damaged"
        return "ready"

    def is_present(self) -> bool:
        """Whether the folder holds a model config (cheap; :meth:`state` verifies)."""
        return (self.folder / "genai_config.json").is_file()

    def load(self, *, threads: int | None = None) -> LocalModel:
        """Load the model (once; reuse the result). Raises :class:`ModelError`."""
        template = (
            None if self.chat_template in (FROM_FOLDER, NO_CHAT_TEMPLATE) else self.chat_template
        )
        return LocalModel(self.folder, threads=threads, chat_template=template)

    def build(self, root: Path | None = None, progress: Progress | None = None) -> Path:
        """Build the model from its recipe if it is missing or damaged; return its folder.

        ``root`` holds the downloaded sources (default: ``model_root()``).
        Raises :class:`ConfigurationError` when the model has no recipe (a
        folder someone else built), and :class:`ModelError` when the build fails.
        """
        if self.build_recipe is None:
            raise ConfigurationError(
                f"local model {self.name} has no build recipe: it is a folder built elsewhere"
            )
        return build_gguf_model(RECIPES[self.build_recipe], root, progress, target=self.folder)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready row: the spec, its state and its size on disk."""
        state = self.state()
        return {
            "name": self.name,
            "title": self.title,
            "folder": str(self.folder),
            "state": state,
            "bytes": folder_bytes(self.folder) if state != "missing" else 0,
            "memory_mib": self.memory_mib,
            "memory": "measured" if self.memory_measured else "estimated",
            "parameters": self.parameters,
            "abilities": sorted(self.abilities),
            "chat_template": self.chat_template
            if self.chat_template in (FROM_FOLDER, NO_CHAT_TEMPLATE)
            else "inline",
            "licence": self.licence,
            "build": self.build_recipe,
            "default": self.default,
            "optional": not self.default,
        }


class ModelRegistry:
    """The local models an app may run, by name; see the module docstring.

    Iterating yields the specs in the order they were added.
    """

    def __init__(self, specs: Iterable[ModelSpec] = (), *, root: Path | None = None) -> None:
        """An empty registry (or one of ``specs``); relative folders resolve against ``root``.

        ``root`` defaults to ``model_root()`` (``$PRIVACY_PARTITION_MODELS``).
        """
        self.root = model_root() if root is None else Path(root)
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.add(spec)

    @classmethod
    def builtin(cls, root: Path | None = None) -> ModelRegistry:
        """The matrix the SDK ships (``privacy_partition/local/models.yaml``)."""
        registry = cls(root=root)
        text = resources.files(__package__).joinpath(_BUILTIN).read_text(encoding="utf-8")
        registry._load_text(text, f"privacy_partition/local/{_BUILTIN}")
        return registry

    def load_file(self, path: str | Path) -> tuple[ModelSpec, ...]:
        """Add the models listed in a YAML file of the format above; return them.

        Raises :class:`ConfigurationError` naming file, line and column.
        """
        shown = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"{shown}: cannot read the model list") from exc
        return self._load_text(text, shown)

    def add(self, spec: ModelSpec) -> ModelSpec:
        """Add ``spec`` (its folder made absolute); names are unique."""
        if spec.name in self._specs:
            raise ConfigurationError(f"local model {spec.name} is already registered")
        if spec.default and self.default is not None:
            raise ConfigurationError(
                f"local model {spec.name}: {self.default.name} is already the default"
            )
        folder = spec.folder.expanduser()
        if not folder.is_absolute():
            folder = self.root / folder
        resolved = dataclasses.replace(spec, folder=folder)
        self._specs[spec.name] = resolved
        return resolved

    def register(
        self,
        folder: str | Path,
        *,
        name: str | None = None,
        memory_mib: int | None = None,
        abilities: Iterable[str] | None = None,
        parameters: int | None = None,
        chat_template: str = FROM_FOLDER,
        licence: str = "unknown",
        title: str | None = None,
    ) -> ModelSpec:
        """Add an onnxruntime-genai folder someone built; return its spec.

        The folder must hold a ``genai_config.json`` whose decoder file is
        present (else :class:`ModelError`). Defaults come from the folder:
        ``name`` from its name (its parent's when it is called ``model``),
        ``memory_mib`` estimated from the size of its model files,
        ``abilities`` chat and instruct when it ships a chat template and base
        otherwise, ``title`` from the model type in ``genai_config.json``.
        """
        path = Path(folder).expanduser()
        if not path.is_absolute():
            path = self.root / path
        model_type = _check_model_folder(path)
        derived = path.parent.name if path.name == "model" else path.name
        if abilities is None:
            has_template = chat_template != NO_CHAT_TEMPLATE and (
                chat_template != FROM_FOLDER or has_chat_template(path)
            )
            abilities = ("chat", "instruct") if has_template else ("base",)
        spec = ModelSpec(
            name=name if name is not None else derived.lower(),
            folder=path,
            memory_mib=memory_mib if memory_mib is not None else estimate_memory_mib(path),
            abilities=frozenset(abilities),
            parameters=parameters,
            chat_template=chat_template,
            licence=licence,
            title=title if title is not None else f"{model_type} (onnxruntime-genai folder)",
            memory_measured=memory_mib is not None,
        )
        return self.add(spec)

    def get(self, name: str) -> ModelSpec:
        """The spec called ``name``; :class:`ConfigurationError` if there is none."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none"
            raise ConfigurationError(f"no local model named {name!r} (known: {known})") from None

    @property
    def default(self) -> ModelSpec | None:
        """The model ``privacy-partition model build`` always builds, if any."""
        return next((spec for spec in self._specs.values() if spec.default), None)

    def load_default(self, *, threads: int | None = None) -> LocalModel | None:
        """The :attr:`default` model, loaded, if it is built; None if it is not.

        Never builds or downloads anything: a default whose folder holds no
        model (not built yet), or a registry without a default, gives None.
        A folder that is there but fails its check (:meth:`ModelSpec.state`:
        a changed file, a build of another recipe) or its load raises
        :class:`ModelError`, which says how to rebuild it.
        """
        spec = self.default
        if spec is None or not spec.is_present():
            return None
        if spec.state() != "ready":
            raise ModelError(
                f"the default local model {spec.name} in {spec.folder} is damaged or out of "
                "date: rebuild it with `privacy-partition model build`"
            )
        return spec.load(threads=threads)

    def pick(
        self, memory_budget_mib: int, ability: str = "chat", *, present_only: bool = True
    ) -> ModelSpec:
        """The largest model with ``ability`` whose memory need fits ``memory_budget_mib``.

        Largest means the greatest memory need within the budget (every entry
        has one, measured or estimated, so models of any origin compare), then
        the most parameters, then the name. With ``present_only`` (the default)
        only models whose folder is on disk count.

        Raises :class:`ConfigurationError` when no model has the ability or
        none of those fits the budget, and :class:`ModelError` when some fit
        but none of them is built.
        """
        if ability not in ABILITIES:
            raise ConfigurationError(
                f"unknown ability {ability!r} (known: {', '.join(sorted(ABILITIES))})"
            )
        if memory_budget_mib < 1:
            raise ConfigurationError("memory_budget_mib must be positive")
        able = [spec for spec in self._specs.values() if ability in spec.abilities]
        if not able:
            raise ConfigurationError(f"no local model is registered with the ability {ability}")
        fitting = [spec for spec in able if spec.memory_mib <= memory_budget_mib]
        if not fitting:
            smallest = min(able, key=lambda spec: spec.memory_mib)
            raise ConfigurationError(
                f"no local model with the ability {ability} fits {memory_budget_mib} MiB: "
                f"the smallest, {smallest.name}, needs {smallest.memory_mib} MiB"
            )
        if present_only:
            present = [spec for spec in fitting if spec.is_present()]
            if not present:
                names = ", ".join(spec.name for spec in fitting)
                raise ModelError(
                    f"no built local model with the ability {ability} fits "
                    f"{memory_budget_mib} MiB; build one of: {names} "
                    "(privacy-partition model build NAME)"
                )
            fitting = present
        return max(fitting, key=lambda spec: (spec.memory_mib, spec.parameters or 0, spec.name))

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(tuple(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def _load_text(self, text: str, shown: str) -> tuple[ModelSpec, ...]:
        specs = _parse(text, shown, self.root)
        added = []
        for spec, mark in specs:
            try:
                added.append(self.add(spec))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{_where(shown, mark)}: {exc}") from None
        return tuple(added)


def estimate_memory_mib(folder: Path) -> int:
    """A conservative memory need for an onnxruntime-genai folder, from its model files."""
    weights = sum(
        path.stat().st_size
        for path in folder.iterdir()
        if path.is_file() and path.name.endswith(_MODEL_SUFFIXES)
    )
    return math.ceil(weights / 2**20 * _ESTIMATE_FACTOR) + _ESTIMATE_BASE_MIB


def _check_model_folder(folder: Path) -> str:
    """The model type of an onnxruntime-genai folder; :class:`ModelError` if it is not one."""
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder")
    config_path = folder / "genai_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        model = config["model"]
        model_type = model["type"]
        decoder = model["decoder"]["filename"]
    except FileNotFoundError:
        raise ModelError(
            f"{folder} is not an onnxruntime-genai model folder: no genai_config.json"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{config_path} is not an onnxruntime-genai model config") from exc
    if not isinstance(model_type, str) or not isinstance(decoder, str):
        raise ModelError(f"{config_path} is not an onnxruntime-genai model config")
    if not (folder / decoder).is_file():
        raise ModelError(f"{folder}: the decoder {decoder} named in genai_config.json is missing")
    return model_type


# -- the file format ------------------------------------------------------------


def _where(shown: str, mark: yaml.Mark) -> str:
    return f"{shown}:{mark.line + 1}:{mark.column + 1}"


def _parse(text: str, shown: str, root: Path) -> list[tuple[ModelSpec, yaml.Mark]]:
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _where(shown, mark) if mark is not None else shown
        raise ConfigurationError(f"{where}: {exc.problem or 'invalid YAML'}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{shown}: invalid YAML") from exc
    if tree is None:
        raise ConfigurationError(f"{shown}: the model list is empty")
    top = _mapping(tree, shown, "the file", _TOP_KEYS)
    if "version" not in top:
        raise ConfigurationError(f"{_where(shown, tree.start_mark)}: version: is required")
    if _value(top["version"], shown, "version", int) != _FORMAT_VERSION:
        raise ConfigurationError(
            f"{_where(shown, top['version'].start_mark)}: version: expected {_FORMAT_VERSION}"
        )
    default = _value(top["default"], shown, "default", str) if "default" in top else None
    models = top.get("models")
    if not isinstance(models, yaml.SequenceNode):
        at = models.start_mark if models is not None else tree.start_mark
        raise ConfigurationError(f"{_where(shown, at)}: models: expected a list of models")
    parsed = [
        (_model(node, shown, f"models[{index}]", default, root), node.start_mark)
        for index, node in enumerate(models.value)
    ]
    if default is not None and not any(spec.name == default for spec, _ in parsed):
        raise ConfigurationError(
            f"{_where(shown, top['default'].start_mark)}: default: no model named {default!r}"
        )
    return parsed


def _model(node: yaml.Node, shown: str, label: str, default: str | None, root: Path) -> ModelSpec:
    fields = _mapping(node, shown, label, _MODEL_KEYS)
    for key in _REQUIRED_KEYS:
        if key not in fields:
            raise ConfigurationError(
                f"{_where(shown, node.start_mark)}: {label}.{key}: is required"
            )

    def get(key: str, kind: type[Any]) -> Any:
        return _value(fields[key], shown, f"{label}.{key}", kind) if key in fields else None

    abilities = get("abilities", list)
    if not all(isinstance(item, str) for item in abilities):
        raise ConfigurationError(
            f"{_where(shown, fields['abilities'].start_mark)}: {label}.abilities: "
            "expected a list of names"
        )
    memory = get("memory_mib", int)
    folder = Path(get("folder", str)).expanduser()
    if not folder.is_absolute():
        folder = root / folder
    name = get("name", str)
    try:
        return ModelSpec(
            name=name,
            folder=folder,
            memory_mib=memory if memory is not None else _estimate_or_unknown(folder),
            abilities=frozenset(abilities),
            parameters=get("parameters", int),
            chat_template=get("chat_template", str) or FROM_FOLDER,
            licence=get("licence", str),
            title=get("title", str) or "",
            build_recipe=get("build", str),
            memory_measured=memory is not None,
            default=name == default,
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"{_where(shown, node.start_mark)}: {label}: {exc}") from None


def _estimate_or_unknown(folder: Path) -> int:
    # An entry without memory_mib is estimated from its files; a folder not
    # built yet cannot be measured, so it needs the figure in the file.
    try:
        return estimate_memory_mib(folder)
    except OSError:
        raise ConfigurationError(
            f"memory_mib is required while {folder} is not built (it is estimated from the files)"
        ) from None


def _mapping(
    node: yaml.Node, shown: str, label: str, allowed: frozenset[str]
) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigurationError(f"{_where(shown, node.start_mark)}: {label}: expected a mapping")
    fields: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in allowed:
            raise ConfigurationError(
                f"{_where(shown, key_node.start_mark)}: {label}: unknown key {key!r} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        if key in fields:
            raise ConfigurationError(
                f"{_where(shown, key_node.start_mark)}: {label}: duplicate key {key!r}"
            )
        fields[key] = value_node
    return fields


def _value(node: yaml.Node, shown: str, label: str, kind: type[Any]) -> Any:
    value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    # bool is an int in Python; a YAML `true` is never a count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = {int: "an integer", str: "text", list: "a list"}.get(kind, kind.__name__)
        raise ConfigurationError(f"{_where(shown, node.start_mark)}: {label}: expected {expected}")
    return value
