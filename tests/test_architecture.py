"""The import graph: imports point one way, nothing imports in a circle, and views only render.

As `tests/test_states.py` guards the one gatekeeper of state, this guards the shape of the code: every
module under `webapp/` is parsed with `ast` (imports at every level, inside functions and under
`TYPE_CHECKING` too: a lazy import is still a dependency, it only hides it), and the test fails on

(a) a cycle between modules,
(b) a cycle between packages: the children of every package (`webapp.letters`, `webapp.web.api`, …),
    each child's modules taken together,
(c) an import against the layers of `LAYERS` below: up a layer, or across one without a reason in
    `ALLOWED_WITHIN_LAYER`; and a module no layer places,
(d) a view (a module under `webapp/web`) that reads tables or the vault itself: it imports `sqlalchemy`,
    calls `db.session.execute/get/scalar/query`, or imports `webapp.vault` or `read_proof`.

Only the imports a module names count, not the package `__init__` modules Python runs on the way
(`import webapp.models` runs `webapp/__init__.py` first).  A package's `__init__` may import its own
children (its public face); a child that imported it back would be a cycle of (a).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

WEBAPP = Path(__file__).resolve().parents[1] / "webapp"

# The layers, top to bottom.  A module imports from the layers below its own, never from a layer above;
# within a layer, a package imports another only where ALLOWED_WITHIN_LAYER says so.  Each name is a package
# or module directly under `webapp`.
LAYERS: tuple[tuple[str, ...], ...] = (
    # The composition root: `create_app` builds the collaborators, registers the blueprints and commands.
    ("webapp",),
    # Adapters, each turning one way in (HTTP, the scheduler's clock, a shell) into calls of the domain.
    ("webapp.web", "webapp.cli", "webapp.jobs"),
    # The registry of sweeps for lost work: it names every domain's jobs; the scheduler and the CLI run it.
    ("webapp.sweepers",),
    # The domain: the only writers of letters, accounts and the console's actions.  Their RQ jobs live next
    # to the service each adapts, so that a domain function enqueues a function object without importing up.
    ("webapp.letters", "webapp.accounts", "webapp.support"),
    # The collaborators the domain receives (settings, clock, vault, SMS, email, trust), built by `create_app`:
    # above what it bundles.  Trust and hooks take narrower protocols of their own package instead.
    ("webapp.services",),
    # Capabilities the domain calls, which know nothing of a letter's life: sealed evidence and proofs,
    # providers, encryption, one-time codes, outgoing webhooks.  They never call the domain back: the
    # domain calls them and records what follows (a proof ready is a letter event, for `letters.proofs`).
    # `oidc` is the OpenID Connect client of identity providers (issue 19).
    ("webapp.trust", "webapp.notify", "webapp.vault", "webapp.hooks", "webapp.otp", "webapp.oidc"),
    # What statuses, events and proof kinds are called, in every language: pages and proofs read it.
    ("webapp.labels",),
    # The tables, and the enums of their columns.
    ("webapp.models",),
    # Enqueueing after commit: jobs are function objects, so it names none.
    ("webapp.queue",),
    # Infrastructure every layer may use, free of any domain: settings, the unbound extensions, the clock,
    # languages, the embedded Redis.
    (
        "webapp.config",
        "webapp.extensions",
        "webapp.clock",
        "webapp.i18n",
        "webapp.embedded_redis",
        "webapp.logredact",
        "webapp.textinput",
    ),
)

# Imports between two packages of one layer, each for a reason; any other is an error.
ALLOWED_WITHIN_LAYER: dict[tuple[str, str], str] = {
    ("webapp.support", "webapp.letters"): "the console's actions (resend, unlock, retry) are the letters' services",
    ("webapp.support", "webapp.accounts"): "agents are accounts; the console searches organisations and users",
    ("webapp.trust", "webapp.vault"): "proofs are stored encrypted",
    ("webapp.hooks", "webapp.vault"): "endpoint secrets are stored encrypted",
}

# (d) What a view may not do.  Views converted while issue 14 was under way were listed here until they
# stopped; the list is empty, and an entry added later must still violate (the list only shrinks).
VIEW_ALLOW_LIST: dict[str, str] = {}
FORBIDDEN_IN_VIEWS = ("sqlalchemy", "webapp.vault", "webapp.trust.proofs.read_proof")
SESSION_READS = {"execute", "get", "get_one", "scalar", "scalars", "query"}


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: set[str] = field(default_factory=set)  # dotted names as written, resolved against relative imports
    session_reads: list[int] = field(default_factory=list)  # lines of db.session.execute(…) and the like


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(WEBAPP.rglob("*.py")):
        parts = list(path.relative_to(WEBAPP.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = Module(name, path, is_package)
    for module in found.values():
        _read(module)
    return found


def _read(module: Module, source: str | None = None) -> None:
    if source is None:
        source = module.path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(module.path))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            module.imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            module.imports.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and _is_session_read(node.func):
            module.session_reads.append(node.lineno)


def _is_session_read(func: ast.expr) -> bool:
    """`db.session.execute(…)`, `db.session.get(…)`, …"""
    return (
        isinstance(func, ast.Attribute)
        and func.attr in SESSION_READS
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "session"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "db"
    )


def _resolve(name: str) -> str | None:
    """The module of ours an imported name lives in (`webapp.letters.states.Event` → `webapp.letters.states`)."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module → the modules of ours it imports."""
    edges: dict[str, frozenset[str]] = {}
    for module in modules().values():
        targets = {_resolve(name) for name in module.imports if name == "webapp" or name.startswith("webapp.")}
        edges[module.name] = frozenset(t for t in targets if t is not None and t != module.name)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _edges_between(components: Iterable[list[str]], edges: dict[str, set[str]]) -> Iterator[str]:
    """The imports that close each cycle, to say what to break."""
    for component in components:
        members = set(component)
        yield "\n".join(f"  {source} → {target}" for source in component for target in sorted(edges[source] & members))


def _child_of(package: str, module: str) -> str | None:
    """The child of `package` (a module or subpackage) that holds `module`, or None outside it or the package's
    own `__init__`."""
    if not module.startswith(package + "."):
        return None
    return package + "." + module[len(package) + 1 :].split(".")[0]


def _unit(module: str) -> str:
    """The package or module directly under `webapp` that holds `module`."""
    return module if module == "webapp" else ".".join(module.split(".")[:2])


def _layer(module: str) -> int | None:
    unit = _unit(module)
    for number, layer in enumerate(LAYERS):
        if unit in layer:
            return number
    return None


# --- (a) and (b): no cycle -------------------------------------------------------------------------


def test_the_graph_sees_every_module_and_its_lazy_imports() -> None:
    """The test is only as good as the graph: known modules and imports inside functions are in it."""
    assert {"webapp", "webapp.letters.lifecycle", "webapp.web.api.letters", "webapp.models"} <= set(modules())
    edges = graph()
    assert "webapp.letters.lifecycle" in edges["webapp.letters.deposit"]
    assert "webapp.web" in edges["webapp"]  # imported inside create_app


def test_no_import_cycle_between_modules() -> None:
    edges = {name: set(targets) for name, targets in graph().items()}
    cycles = _cycles(edges)
    assert not cycles, "import cycles between modules:\n" + "\n\n".join(_edges_between(cycles, edges))


def test_no_import_cycle_between_packages() -> None:
    packages = sorted(name for name, module in modules().items() if module.is_package)
    problems = []
    for package in packages:
        edges: dict[str, set[str]] = {}
        for source, targets in graph().items():
            child = _child_of(package, source)
            if child is None:
                continue
            edges.setdefault(child, set())
            for target in targets:
                other = _child_of(package, target)
                if other is not None and other != child:
                    edges[child].add(other)
        cycles = _cycles(edges)
        if cycles:
            problems.append(f"inside {package}:\n" + "\n".join(_edges_between(cycles, edges)))
    assert not problems, "import cycles between packages:\n" + "\n\n".join(problems)


def test_cycle_detection_finds_a_cycle_and_the_imports_that_close_it() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    cycles = _cycles(edges)
    assert cycles == [["a", "b", "c"]]
    assert list(_edges_between(cycles, edges)) == ["  a → b\n  b → c\n  c → a"]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# --- (c) the layers --------------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(name for name in modules() if _layer(name) is None)
    assert not unplaced, f"place these in LAYERS of tests/test_architecture.py: {unplaced}"
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed))


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for source, targets in sorted(graph().items()):
        for target in sorted(targets):
            source_layer, target_layer = _layer(source), _layer(target)
            assert source_layer is not None, source
            assert target_layer is not None, target
            pair = (_unit(source), _unit(target))
            if target_layer < source_layer:
                wrong.append(f"  {source} (layer {source_layer}) → {target} (layer {target_layer}): upwards")
            elif target_layer == source_layer and pair[0] != pair[1] and pair not in ALLOWED_WITHIN_LAYER:
                wrong.append(f"  {source} → {target}: within layer {source_layer}, not in ALLOWED_WITHIN_LAYER")
    assert not wrong, "imports against the layers of LAYERS:\n" + "\n".join(wrong)


def test_every_allowance_within_a_layer_is_used() -> None:
    used = {
        (_unit(source), _unit(target))
        for source, targets in graph().items()
        for target in targets
        if _unit(source) != _unit(target)
    }
    assert set(ALLOWED_WITHIN_LAYER) <= used, f"unused: remove {sorted(set(ALLOWED_WITHIN_LAYER) - used)}"
    for source, target in ALLOWED_WITHIN_LAYER:
        assert _layer(source) == _layer(target), (source, target)


# --- (d) views render what the domain gives them ------------------------------------------------------


def _view_violations(module: Module) -> list[str]:
    found = []
    for name in sorted(module.imports):
        for forbidden in FORBIDDEN_IN_VIEWS:
            if name == forbidden or name.startswith(forbidden + "."):
                found.append(f"imports {name}")
    found.extend(f"reads a table at line {line}" for line in sorted(module.session_reads))
    return found


def _views() -> list[Module]:
    return [module for name, module in sorted(modules().items()) if name.startswith("webapp.web.")]


def test_views_neither_query_tables_nor_open_the_vault() -> None:
    offenders = {}
    for module in _views():
        found = _view_violations(module)
        if found and module.name not in VIEW_ALLOW_LIST:
            offenders[module.name] = found
    assert not offenders, "views must call a domain function instead (letters/, accounts/, support/, hooks/):\n" + (
        "\n".join(f"  {name}: {', '.join(found)}" for name, found in offenders.items())
    )


def test_the_allow_list_only_holds_views_that_still_need_it() -> None:
    views = {module.name: module for module in _views()}
    stale = sorted(name for name in VIEW_ALLOW_LIST if name not in views or not _view_violations(views[name]))
    assert not stale, f"these views no longer read tables or the vault: remove them from VIEW_ALLOW_LIST: {stale}"


def test_the_view_rule_sees_queries_and_forbidden_imports() -> None:
    source = "from sqlalchemy import select\nfrom webapp.trust.proofs import read_proof\ndb.session.execute(q)\n"
    module = Module("webapp.web.example", WEBAPP / "web" / "example.py", is_package=False)
    _read(module, source)
    assert _view_violations(module) == [
        "imports sqlalchemy.select",
        "imports webapp.trust.proofs.read_proof",
        "reads a table at line 3",
    ]
