"""Featurizer options as frozen dataclasses (lhotse style): one declaration gives the spec syntax, the config a
bundle and the cache key record, the range checks and the `--help` text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import quote

from .errors import ConfigError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def option(default: Any, help: str, *, kind: type = str, nullable: bool = False, null: str = "none",
           min: float | None = None, max: float | None = None, above: float | None = None,
           choices: Sequence[str] | None = None, key: bool = True, arg: bool = False, asr: bool = False,
           parse: Callable[[Any], Any] | None = None, show: Callable[[Any], str] | None = None) -> Any:
    """A featurizer option: its default, help line, type and checks.

    `key=False` marks options that do not change the output (device, batch size): they stay out of the config.
    `arg=True` marks the option written as the spec's `:argument`; `asr=True` the Whisper model `--asr` sets.
    `null` is how `None` is spelled in a spec (`language=auto`)."""
    meta = {"help": help, "kind": kind, "nullable": nullable, "null": null, "min": min, "max": max, "above": above,
            "choices": tuple(choices) if choices else None, "key": key, "arg": arg, "asr": asr, "parse": parse,
            "show": show}
    return field(default=default, metadata=meta)


def _coerce(name: str, value: Any, meta: dict[str, Any]) -> Any:
    """The option's value in its declared type, or a ConfigError naming the option."""
    kind = meta["kind"]
    if value is None or (isinstance(value, str) and meta["nullable"] and value.strip().lower() in (meta["null"], "")):
        if meta["nullable"]:
            return None
        raise ConfigError(f"option '{name}' needs a value")
    if meta["parse"] is not None:
        return meta["parse"](value)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in TRUE or text in FALSE:
                return text in TRUE
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"option '{name}' must be {kind.__name__} (got {value!r})") from None


def _check(name: str, value: Any, meta: dict[str, Any]) -> None:
    """Raise a ConfigError when the value is outside the option's range or choices."""
    if value is None:
        return
    if meta["kind"] in (int, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"option '{name}' must be a finite number (got {value!r})")
        if meta["min"] is not None and value < meta["min"]:
            raise ConfigError(f"option '{name}' must be at least {meta['min']} (got {value!r})")
        if meta["above"] is not None and value <= meta["above"]:
            raise ConfigError(f"option '{name}' must be above {meta['above']} (got {value!r})")
        if meta["max"] is not None and value > meta["max"]:
            raise ConfigError(f"option '{name}' must be at most {meta['max']} (got {value!r})")
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"option '{name}' must be one of {', '.join(meta['choices'])} (got {value!r})")


@dataclass(frozen=True)
class FeaturizerOptions:
    """Base of every featurizer's options (no options): parsed, range-checked, written back as a spec."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), f.metadata)
            _check(f.name, value, f.metadata)
            object.__setattr__(self, f.name, value)

    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        """The declared options, in order."""
        return dataclasses.fields(cls)

    @classmethod
    def arg_field(cls) -> str | None:
        """The option written as the spec's `:argument`, if any."""
        return next((f.name for f in cls.fields() if f.metadata["arg"]), None)

    @classmethod
    def from_spec(cls, featurizer: str, arg: str | None, options: dict[str, str]) -> "FeaturizerOptions":
        """From a spec's `:argument` and `key=value` options; unknown options are an error that lists the known."""
        known = {f.name for f in cls.fields()}
        unknown = sorted(set(options) - known)
        if unknown:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"unknown option(s) {', '.join(unknown)} for featurizer '{featurizer}' (known: {listed})")
        kwargs: dict[str, Any] = dict(options)
        if arg:
            target = cls.arg_field()
            if target is None:
                raise ConfigError(f"featurizer '{featurizer}' takes no ':' argument (got {arg!r})")
            if target in kwargs:
                raise ConfigError(f"featurizer '{featurizer}': '{target}' given twice (as ':{arg}' and as an option)")
            kwargs[target] = arg
        return cls(**kwargs)

    def _text(self, f: dataclasses.Field) -> str:
        value = getattr(self, f.name)
        if value is None:
            return f.metadata["null"]
        if f.metadata["show"] is not None:
            return f.metadata["show"](value)
        return str(value).lower() if isinstance(value, bool) else str(value)

    def spec(self, featurizer: str) -> str:
        """The spec that rebuilds these options: non-default options only, the argument after `:`."""
        head, pairs = featurizer, []
        for f in self.fields():
            if getattr(self, f.name) == f.default and not f.metadata["arg"]:
                continue
            text = quote(self._text(f), safe="/+-_.~@")
            if f.metadata["arg"]:
                head = f"{featurizer}:{text}"
            else:
                pairs.append(f"{f.name}={text}")
        return head + ("?" + "&".join(pairs) if pairs else "")

    def config(self) -> dict[str, Any]:
        """The options that change the output (JSON-able): the bundle and the cache key record these."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in self.fields() if f.metadata["key"]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "FeaturizerOptions":
        """From `config()` output; keys that are not options (fingerprints) are left to the featurizer."""
        if not isinstance(config, dict):
            raise ConfigError(f"a featurizer config must be a mapping (got {type(config).__name__})")
        names = {f.name for f in cls.fields()}
        return cls(**{k: v for k, v in config.items() if k in names})

    def with_asr(self, model: str) -> "FeaturizerOptions":
        """These options with the Whisper model of every `asr` option set to `model`."""
        changes = {f.name: model for f in self.fields() if f.metadata["asr"]}
        return dataclasses.replace(self, **changes) if changes else self

    @classmethod
    def help(cls) -> list[str]:
        """One line per option: `name=default  help` (the `speechgrade list` text)."""
        out = []
        for f in cls.fields():
            default = f.metadata["null"] if f.default is None else (
                str(f.default).lower() if isinstance(f.default, bool) else f.default)
            choices = f" ({'|'.join(f.metadata['choices'])})" if f.metadata["choices"] else ""
            where = ":ARG or " if f.metadata["arg"] else ""
            out.append(f"{where}{f.name}={default}{choices}  {f.metadata['help']}")
        return out


ASR_DEFAULT = "base"  # the one place the default Whisper model is named
