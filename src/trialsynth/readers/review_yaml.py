"""``review.yaml`` in and out: strict YAML reading with line numbers, and a fixed layout.

Reading uses PyYAML's safe loader (no timestamps: dates stay text), refuses repeated keys, and
maps every pydantic error to the YAML line of the field it concerns. Writing puts each model's own
fields first and its provenance (``inferred, provisional, basis``) last, leaves defaults out
(``settings`` is always shown) and never wraps lines, so a diff shows one change per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trialsynth.readers.bounded import read_bounded
from trialsynth.review.protocol import MAX_YAML_BYTES, SCHEMA, Loc, Problem, Protocol, ProtocolError

__all__ = ["HEADER", "Problem", "ProtocolError", "dump_protocol", "load_protocol",
           "parse_protocol", "protocol_data"]


# ---------------------------------------------------------------------------------------------
# Cross-references (checked after the field validation, each with its own path)
# ---------------------------------------------------------------------------------------------
def reference_problems(p: Protocol) -> list[tuple[Loc, str]]:
    """Unique ids and references between sections; (path, message) per problem."""
    out: list[tuple[Loc, str]] = []
    q = p.question

    def unique(items: Sequence[Any], where: Loc, attr: str = "id") -> set[str]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            key = getattr(item, attr)
            if key in seen:
                out.append(((*where, i, attr), f"{attr} {key!r} is used twice"))
            seen.add(key)
        return seen

    iv = unique(q.interventions, ("question", "interventions"))
    cp = unique(q.comparators, ("question", "comparators"))
    oc = unique(q.outcomes, ("question", "outcomes"))
    tw = unique(q.time_windows, ("question", "time_windows"))
    cm = unique(p.comparisons, ("comparisons",))
    an = unique(p.analyses, ("analyses",))
    for i, c in enumerate(p.comparisons):
        if c.intervention is not None and c.intervention not in iv:
            out.append((("comparisons", i, "intervention"),
                        f"{c.intervention!r} is not an intervention id in question.interventions"))
        if c.comparator is not None and c.comparator not in cp:
            out.append((("comparisons", i, "comparator"),
                        f"{c.comparator!r} is not a comparator id in question.comparators"))
    types = {o.id: o.type for o in q.outcomes}
    for i, a in enumerate(p.analyses):
        if a.comparison not in cm:
            out.append((("analyses", i, "id"), f"comparison {a.comparison!r} of analysis {a.id} "
                        "is not listed under comparisons"))
        if a.outcome is not None and a.outcome not in oc:
            out.append((("analyses", i, "outcome"),
                        f"{a.outcome!r} is not an outcome id in question.outcomes"))
        elif a.outcome is not None and a.data_type != "generic" and types[a.outcome] not in (
                None, a.data_type):
            out.append((("analyses", i, "data_type"), f"{a.data_type} data cannot measure "
                        f"outcome {a.outcome!r} of type {types[a.outcome]}"))
        if a.time_window is not None and a.time_window not in tw:
            out.append((("analyses", i, "time_window"),
                        f"{a.time_window!r} is not a time window id in question.time_windows"))
    for i, so in enumerate(q.summary_of_findings or []):
        if so.outcome not in oc:
            out.append((("question", "summary_of_findings", i, "outcome"),
                        f"{so.outcome!r} is not an outcome id in question.outcomes"))
        if so.time_window is not None and so.time_window not in tw:
            out.append((("question", "summary_of_findings", i, "time_window"),
                        f"{so.time_window!r} is not a time window id in question.time_windows"))
    g = p.grade
    seen_ov: set[tuple[str, str]] = set()
    for i, o in enumerate(g.overrides):
        if o.analysis not in an:
            out.append((("grade", "overrides", i, "analysis"), f"no analysis {o.analysis!r}"))
        if (o.analysis, o.domain) in seen_ov:
            out.append((("grade", "overrides", i, "domain"),
                        f"a second override of {o.domain} for analysis {o.analysis}"))
        seen_ov.add((o.analysis, o.domain))
    unique(g.flags, ("grade", "flags"), "analysis")
    for i, fl in enumerate(g.flags):
        if fl.analysis not in an:
            out.append((("grade", "flags", i, "analysis"), f"no analysis {fl.analysis!r}"))
    for i, ind in enumerate(g.indirectness.flags):
        for j, a_id in enumerate(ind.analyses):
            if a_id not in an:
                out.append((("grade", "indirectness", "flags", i, "analyses", j),
                            f"no analysis {a_id!r}"))
    return out


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when present) without timestamp conversion (dates stay text)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line(node: yaml.Node | None, loc: Loc) -> int | None:
    """YAML line of the deepest node on ``loc`` (1-based)."""
    if node is None:
        return None
    best = node
    for part in loc:
        nxt = None
        if isinstance(best, yaml.MappingNode) and isinstance(part, str):
            nxt = next((v for k, v in best.value if getattr(k, "value", None) == part), None)
            if nxt is None:  # an unknown key: point at the key itself
                nxt = next((k for k, _ in best.value if getattr(k, "value", None) == part), None)
        elif isinstance(best, yaml.SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(best.value):
            nxt = best.value[part]
        if nxt is None:
            if isinstance(part, str) and not isinstance(best, yaml.MappingNode | yaml.SequenceNode):
                continue
            break
        best = nxt
    return best.start_mark.line + 1


MAX_DEPTH = 32  # review.yaml nests 6 levels; anything far deeper is not a review
# digits of a number: review.yaml holds counts, percentages and decimals; Python refuses to turn
# more than 4300 digits into an int (CVE-2020-10735 limit), so a far longer one is refused here
MAX_DIGITS = 100
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _structure(node: yaml.Node | None) -> list[Problem]:
    """Repeated keys, anchors/aliases (a node reached twice: refused, they can multiply the work
    of validation exponentially) and excessive nesting, each with its line."""
    out: list[Problem] = []
    seen_nodes: set[int] = set()

    def walk(n: yaml.Node | None, loc: Loc) -> None:
        if n is None:
            return
        line = n.start_mark.line + 1
        if id(n) in seen_nodes:
            if not any(p.message.startswith("YAML anchors") for p in out):  # one is enough
                out.append(Problem(_path(loc), line, "YAML anchors and aliases are not allowed"))
            return
        seen_nodes.add(id(n))
        if len(loc) > MAX_DEPTH:
            out.append(Problem(_path(loc), line, f"nested more than {MAX_DEPTH} levels deep"))
            return
        if isinstance(n, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in n.value:
                key = str(getattr(k, "value", ""))
                if key in keys:
                    out.append(Problem(_path((*loc, key)), k.start_mark.line + 1,
                                       "key appears twice in the same mapping"))
                keys.add(key)
                walk(v, (*loc, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*loc, i))
        elif n.tag in _NUMBER_TAGS and sum(c.isdigit() for c in str(n.value)) > MAX_DIGITS:
            out.append(Problem(_path(loc), line, f"a number of {len(str(n.value))} characters; "
                               f"numbers in review.yaml have at most {MAX_DIGITS} digits"))

    walk(node, ())
    return out


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        return "unknown key (not part of the review.yaml schema; check the spelling)"
    if err.get("type") == "missing":
        return "required field is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    given = err.get("input")
    if err.get("type") in ("literal_error", "enum") and isinstance(given, str | int | float):
        msg += f" (got {given!r})"
    return msg


TOO_DEEP = "nested far too deeply to be a review.yaml"  # Python's recursion limit or PyYAML's own


def parse_protocol(text: str, *, file: str = "review.yaml") -> Protocol:
    """Validate the text of a ``review.yaml``; raise :class:`ProtocolError` naming every problem."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        problems = _structure(node)
        if problems:
            raise ProtocolError(problems, file=file)
        data = loader.construct_document(node) if node is not None else None
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError([Problem("", None, TOO_DEEP)], file=file) from None
    except ValueError as exc:  # a scalar the safe constructor cannot turn into a value
        raise ProtocolError([Problem("", None, f"a value cannot be read ({exc})")],
                            file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        if "nesting depth" in what:  # PyYAML ≥ 6.0.4 stops deep nesting itself, before Python does
            raise ProtocolError([Problem("", line, f"{TOO_DEEP} ({what})")], file=file) from None
        raise ProtocolError([Problem("", line, f"not valid YAML ({what})")], file=file) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProtocolError([Problem("", 1, "the file must hold a mapping (schema: "
                                            f"{SCHEMA}, review: ..., ...)")], file=file)
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        raise ProtocolError([Problem(_path(tuple(e["loc"])), _line(node, tuple(e["loc"])),
                                     _message(e)) for e in errs], file=file) from None
    refs = reference_problems(protocol)
    if refs:
        raise ProtocolError([Problem(_path(loc), _line(node, loc), msg) for loc, msg in refs],
                            file=file)
    return protocol


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate ``review.yaml`` (UTF-8, at most :data:`MAX_YAML_BYTES`)."""
    path = Path(path)
    raw = read_bounded(path, str(path), MAX_YAML_BYTES)  # regular files only (no FIFO, no device)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ProtocolError([Problem("", line, f"not UTF-8 text (byte {exc.start})")],
                            file=str(path)) from None
    return parse_protocol(text, file=str(path))


HEADER = """\
# trialsynth review folder: the review's question, its analyses and the reviewer's GRADE input.
# Schema trialsynth-review/1 (trialsynth.review.protocol). Data tables: studies.csv, outcome_data.csv,
# risk_of_bias.csv. `inferred: true` = read by trialsynth from the data, not stated by the
# source; `provisional: true` = a placeholder or project default to check; `basis` says why.
# `settings` applies to every analysis. The review's own settings are each analysis' `settings`;
# Cochrane's 2025 default is random_effects_method: REML, hksj: true, prediction_interval: true;
# prediction_interval null: the report shows it for random effects with 3 or more studies.
# grade: the reviewer's input, e.g. overrides: [{analysis: '1.1', domain: imprecision,
#   downgrade: 2, rationale: ...}]; indirectness flags: [{study: ..., aspect: population,
#   match: indirect, rationale: ...}]. Every override and flag needs its rationale.
# trialsynth rewrites this file in a fixed layout; comments other than this header are not kept.
"""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # never write anchors (the reader refuses them)

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)  # indent list items under their key


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def protocol_data(protocol: Protocol) -> dict[str, Any]:
    """The protocol as plain data in file layout (defaults left out, ``settings`` always shown)."""
    data = protocol.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["schema"] = SCHEMA
    data["settings"] = protocol.settings.model_dump(mode="json", by_alias=True)
    if protocol.settings.designs == type(protocol.settings.designs)():  # defaults: not written
        data["settings"].pop("designs", None)
    data["grade"] = protocol.grade.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["grade"] = {"overrides": [], "flags": [], **data["grade"]}
    data["grade"]["indirectness"] = {"default": protocol.grade.indirectness.default,
                                     "flags": data["grade"].get("indirectness", {}).get("flags", [])}
    order = list(Protocol.model_fields)
    keys = sorted(data, key=lambda k: order.index("schema_" if k == "schema" else k))
    return _provenance_last({k: data[k] for k in keys})


_PROVENANCE_KEYS = ("inferred", "provisional", "basis")


def _provenance_last(obj: Any) -> Any:
    """Each mapping with its own fields first and ``inferred, provisional, basis`` last; whole
    floats written as integers (``10``, not ``10.0``; they read back as the same float)."""
    if isinstance(obj, list):
        return [_provenance_last(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53 and str(obj) != "-0.0":
        return int(obj)
    if not isinstance(obj, dict):
        return obj
    first = {k: _provenance_last(v) for k, v in obj.items() if k not in _PROVENANCE_KEYS}
    return first | {k: obj[k] for k in _PROVENANCE_KEYS if k in obj}


def dump_protocol(protocol: Protocol) -> str:
    """``review.yaml`` text: the header, then the protocol in a fixed, diff-friendly layout."""
    body = yaml.dump(protocol_data(protocol), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=10**6, default_flow_style=False)
    return HEADER + body
