"""What a use case needs, as an architecture rule: a service function's `deps` is annotated with a
Protocol naming the container fields it uses (with their types), not the whole container.

Read from the source with `ast`: the protocols are declared for type checking only, so nothing of
them exists at run time. A protocol is a class with `Protocol` among its bases; its fields are its
annotations and those of the protocols it inherits (in its module, imported from another service
module, or reached as `module.Name`)."""
import ast
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "chalicelib" / "services"
BOOTSTRAP = ROOT / "chalicelib" / "bootstrap.py"

Key = Tuple[str, str]  # (service module, name)


@dataclass
class DepsProtocol:
    key: Key
    line: int
    bases: List[Key]
    own: Dict[str, ast.expr]  # field name -> its annotation


@dataclass
class Function:
    key: Key
    node: ast.FunctionDef
    protocol: Optional[Key] = None
    fields: Set[str] = field(default_factory=set)  # deps.<field> read in its body
    calls: List[Tuple[int, Optional[Key], str]] = field(default_factory=list)  # (line, callee, text) given deps
    escapes: List[int] = field(default_factory=list)  # lines where deps is used otherwise


class Module:
    def __init__(self, path: Path, package: str):
        self.relative = path.relative_to(ROOT).as_posix()
        self.name = path.stem
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=self.relative)
        self.origins: Dict[str, str] = {}  # a name -> where it comes from ("chalicelib.storage.x.Name")
        self.service_modules: Dict[str, str] = {}  # a local alias -> a service module (`from . import x`)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(package, node.level, node.module)
                for alias in node.names:
                    local = alias.asname or alias.name
                    self.origins[local] = f"{base}.{alias.name}"
                    if base == "chalicelib.services" and node.module is None:
                        self.service_modules[local] = alias.name

    def resolve(self, node: ast.expr) -> Optional[Key]:
        """The service (module, name) an expression names: `Name`, imported `Name` or `module.Name`."""
        if isinstance(node, ast.Name):
            origin = self.origins.get(node.id, "")
            if origin.startswith("chalicelib.services."):
                module, _, name = origin[len("chalicelib.services."):].rpartition(".")
                return (module, name) if module else None
            return (self.name, node.id) if origin == "" else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in self.service_modules:
            return self.service_modules[node.value.id], node.attr
        return None

    def qualified(self, annotation: ast.expr) -> str:
        """An annotation with every imported name spelt where it comes from."""
        origins = self.origins

        class Qualify(ast.NodeTransformer):
            def visit_Name(self, node):
                return ast.Name(origins.get(node.id, node.id))

        return ast.unparse(Qualify().visit(ast.parse(ast.unparse(annotation), mode="eval")))


def _absolute(package: str, level: int, module: Optional[str]) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")[:len(package.split(".")) - level + 1]
    return ".".join(parts + ([module] if module else []))


def _is_protocol_base(module: Module, base: ast.expr) -> bool:
    return (isinstance(base, ast.Name) and module.origins.get(base.id) == "typing.Protocol") or \
        (isinstance(base, ast.Attribute) and base.attr == "Protocol")


def _deps_annotation(node: ast.FunctionDef) -> Tuple[bool, Optional[ast.expr]]:
    for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
        if arg.arg == "deps":
            return True, arg.annotation
    return False, None


class Services:
    def __init__(self):
        self.modules = {p.stem: Module(p, "chalicelib.services") for p in sorted(SERVICES.glob("*.py"))}
        self.protocols: Dict[Key, DepsProtocol] = {}
        self.functions: Dict[Key, Function] = {}
        self.unannotated: List[str] = []
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                if isinstance(node, ast.ClassDef) and any(_is_protocol_base(module, b) for b in node.bases):
                    self.protocols[(module.name, node.name)] = DepsProtocol(
                        (module.name, node.name), node.lineno,
                        [key for key in map(module.resolve, node.bases) if key is not None],
                        {s.target.id: s.annotation for s in node.body
                         if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)})
        for module in self.modules.values():
            for node in module.tree.body:
                if isinstance(node, ast.FunctionDef):
                    self._read_function(module, node)

    def _read_function(self, module: Module, node: ast.FunctionDef) -> None:
        has_deps, annotation = _deps_annotation(node)
        if not has_deps:
            return
        function = Function((module.name, node.name), node)
        self.functions[function.key] = function
        protocol = module.resolve(annotation) if annotation is not None else None
        if protocol in self.protocols:
            function.protocol = protocol
        else:
            text = ast.unparse(annotation) if annotation is not None else "nothing"
            self.unannotated.append(f"{module.relative}:{node.lineno}: {node.name}(deps: {text})")
        parents = {child: parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}
        for name in ast.walk(node):
            if not (isinstance(name, ast.Name) and name.id == "deps"):
                continue
            parent = parents[name]
            if isinstance(parent, ast.keyword):
                parent = parents[parent]
            if isinstance(parent, ast.Attribute):
                function.fields.add(parent.attr)
            elif isinstance(parent, ast.Call) and parent.func is not name:
                function.calls.append((parent.lineno, module.resolve(parent.func), ast.unparse(parent.func)))
            else:
                function.escapes.append(name.lineno)

    def needs(self, key: Optional[Key], seen: Tuple[Key, ...] = ()) -> Set[str]:
        """The fields a protocol declares, inherited ones included."""
        if key not in self.protocols:
            return set()
        found = set(self.protocols[key].own)
        for base in self.protocols[key].bases:
            if base not in seen:
                found |= self.needs(base, seen + (key,))
        return found

    def uses(self, key: Key, seen: Tuple[Key, ...] = ()) -> Set[str]:
        """What a function reads, itself or through the functions it hands deps to."""
        function = self.functions[key]
        found = set(function.fields)
        for _, callee, _ in function.calls:
            if callee in self.functions and callee not in seen:
                found |= self.uses(callee, seen + (key,))
        return found

    def where(self, function: Function, line: Optional[int] = None) -> str:
        module = self.modules[function.key[0]]
        return f"{module.relative}:{line or function.node.lineno}: {function.key[1]}"


SOURCE = Services()


def _container_fields() -> Tuple[Module, Dict[str, ast.expr]]:
    bootstrap = Module(BOOTSTRAP, "chalicelib")
    container = next(n for n in bootstrap.tree.body if isinstance(n, ast.ClassDef) and n.name == "Container")
    return bootstrap, {s.target.id: s.annotation for s in container.body
                       if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


# --- the rule ------------------------------------------------------------------------------------

def test_every_service_function_taking_deps_annotates_it_with_a_protocol_of_what_it_needs():
    assert len(SOURCE.functions) > 50, "the services were not read"
    assert not SOURCE.unannotated, "annotate deps with a Protocol:\n" + "\n".join(SOURCE.unannotated)


def test_a_service_function_reads_only_the_container_fields_its_protocol_declares():
    offenders = [f"{SOURCE.where(f)} reads deps.{name}, not in {'.'.join(f.protocol)}"
                 for f in SOURCE.functions.values() if f.protocol
                 for name in sorted(f.fields - SOURCE.needs(f.protocol))]
    assert not offenders, "\n".join(offenders)


def test_a_service_function_hands_deps_only_to_service_functions_needing_no_more_than_it_declares():
    offenders = []
    for function in SOURCE.functions.values():
        for line, callee, text in function.calls:
            if callee not in SOURCE.functions:
                offenders.append(f"{SOURCE.where(function, line)} hands deps to {text}, not a service function")
                continue
            missing = SOURCE.needs(SOURCE.functions[callee].protocol) - SOURCE.needs(function.protocol)
            if missing:
                offenders.append(f"{SOURCE.where(function, line)} calls {text}, which also needs "
                                 f"{', '.join(sorted(missing))}")
    assert not offenders, "\n".join(offenders)


def test_deps_is_only_read_field_by_field_or_handed_on_whole():
    offenders = [f"{SOURCE.where(f, line)} uses deps otherwise" for f in SOURCE.functions.values()
                 for line in f.escapes]
    assert not offenders, "read deps.<field>, or pass deps to a service function:\n" + "\n".join(offenders)


def test_every_protocol_field_is_a_container_field_of_the_same_type():
    bootstrap, container = _container_fields()
    offenders = []
    for key, protocol in SOURCE.protocols.items():
        module = SOURCE.modules[key[0]]
        for name, annotation in protocol.own.items():
            where = f"{module.relative}:{annotation.lineno}: {key[1]}.{name}: {ast.unparse(annotation)}"
            if name not in container:
                offenders.append(f"{where}: the Container has no {name}")
            elif ast.unparse(annotation) != ast.unparse(container[name]) \
                    or module.qualified(annotation) != bootstrap.qualified(container[name]):
                offenders.append(f"{where} ({module.qualified(annotation)}): the Container's is "
                                 f"{ast.unparse(container[name])} ({bootstrap.qualified(container[name])})")
    assert not offenders, "\n".join(offenders)


def test_a_protocol_declares_only_what_the_functions_annotated_with_it_use():
    used: Dict[Key, Set[str]] = {}
    for key, function in SOURCE.functions.items():
        if function.protocol:
            used.setdefault(function.protocol, set()).update(SOURCE.uses(key))
    inherited = {base for protocol in SOURCE.protocols.values() for base in protocol.bases}
    offenders = []
    for key, protocol in SOURCE.protocols.items():
        where = f"{SOURCE.modules[key[0]].relative}:{protocol.line}: {key[1]}"
        unused = SOURCE.needs(key) - used.get(key, set())
        if key not in used and key not in inherited:
            offenders.append(f"{where}: annotates no function")
        elif key in used and unused:
            offenders.append(f"{where}: none of its functions uses {', '.join(sorted(unused))}")
    assert not offenders, "\n".join(offenders)


# Run in a child process: it imports the modules as a type checker reads them (TYPE_CHECKING true),
# after the third-party packages, whose own TYPE_CHECKING imports are not meant to run.
TYPE_CHECKED = """
import importlib, pkgutil, typing
for name in ("storage.billing", "storage.licences", "storage.repositories", "storage.support", "adapters.bank",
             "adapters.documents", "adapters.identity", "adapters.licence_provider", "adapters.mail",
             "adapters.nfse", "adapters.queue", "rendering.environment"):
    importlib.import_module("chalicelib." + name)
typing.TYPE_CHECKING = True
from chalicelib import bootstrap, services
container = typing.get_type_hints(bootstrap.Container)
for info in pkgutil.iter_modules(services.__path__):
    module = importlib.import_module("chalicelib.services." + info.name)
    for name, value in vars(module).items():
        if getattr(value, "_is_protocol", False) and value.__module__ == module.__name__:
            for field, hint in typing.get_type_hints(value).items():
                if container.get(field) != hint:
                    print(f"{module.__name__}.{name}.{field}: {hint}, the Container's {container.get(field)}")
            print("protocol", name)
"""


def test_the_protocols_build_as_a_type_checker_reads_them_and_the_container_satisfies_each():
    run = subprocess.run([sys.executable, "-c", TYPE_CHECKED], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert not [line for line in lines if not line.startswith("protocol ")], run.stdout
    assert len(lines) == len(SOURCE.protocols)


def test_the_renewal_job_needs_the_clock_the_subscriptions_and_the_provisioning_queue_only():
    renew_due = SOURCE.functions[("renewals", "renew_due")]
    assert SOURCE.needs(renew_due.protocol) == {"clock", "subscriptions", "provisioning_queue"}
