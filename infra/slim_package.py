"""Drop from the Lambda zip what the Python 3.11 Lambda runtime already provides (and data,
countries, fiscal documents and Powertools utilities the product never reads).

`chalice package` bundles botocore (about 16 MB compressed) because pynamodb depends on it, though
the runtime ships boto3, botocore and their dependencies. `make package` runs this on its output,
which also adds each module's bytecode (below).
Usage: python infra/slim_package.py build/deployment.zip
"""
from __future__ import annotations

import importlib.util
import marshal
import os
import sys
import zipfile

# Top-level names provided by the AWS Lambda Python runtime (boto3 and its dependency tree).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


# Translations of holiday names into ~160 languages: the product uses dates only.
UNUSED_DATA = ("holidays/locale/",)

# The holidays package carries ~250 countries and markets; the product asks for Brazil only (and
# the package loads countries lazily, by name). Each package's __init__ imports every module, so
# it is rewritten to import the kept ones.
KEPT_HOLIDAY_MODULES = {
    "holidays/countries/": ("brazil.py",),
    "holidays/financial/": (),
}
REWRITTEN_INITS = {
    "holidays/countries/__init__.py": b"# Slimmed by infra/slim_package.py: Brazil only.\n"
                                      b"from holidays.countries.brazil import Brazil, BR, BRA  # noqa: F401\n",
    "holidays/financial/__init__.py": b"# Slimmed by infra/slim_package.py: no financial markets.\n",
}


# nfelib carries the bindings and XSDs of every Brazilian fiscal document (NF-e, CT-e, MDF-e, BP-e,
# NF3-e, NFCom…); the product uses the NFS-e's alone (chalicelib/fiscal), and not its SOAP client
# (which needs packages the zip does not carry). The package's own __init__ imports none of them.
KEPT_NFELIB = ("nfelib/__init__.py", "nfelib/nfse/")
UNUSED_NFELIB = ("nfelib/nfse/client/",)

# lxml's C headers and Cython sources (for building against it) and the modules nothing imports
# (objectify, lxml.html, ISO Schematron); xsdata's code generator and the schemas it reads (its
# parsers and serializers never import them). tests/deploy's "runs on the Lambda runtime alone"
# parses, serialises, validates and signs an NFS-e document from the slimmed zip.
UNUSED_LIBRARY_PARTS = ("lxml/includes/", "lxml/html/", "lxml/isoschematron/", "lxml/objectify",
                        "xsdata/codegen/", "xsdata/schemas/")
UNUSED_LXML_SOURCES = (".pyx", ".pxd", ".pxi", ".h")


# AWS Lambda Powertools is a toolbox; the product uses its Logger, Metrics and Tracer alone
# (chalicelib/observability.py; Chalice is the router, so no event_handler, and none of the
# utilities: parser, idempotency, feature flags, batch, kafka, data classes...). What those three
# import is kept: the package's shared/, logging/, metrics/, tracing/, and utilities/ only for its
# __init__ and jmespath_utils (Logger's correlation paths). tests/deploy's "runs on the Lambda
# runtime alone" writes a log line, flushes a metric and traces a call from the slimmed zip.
POWERTOOLS_UTILITIES = "aws_lambda_powertools/utilities/"
KEPT_POWERTOOLS_UTILITIES = (POWERTOOLS_UTILITIES + "__init__.py", POWERTOOLS_UTILITIES + "jmespath_utils/")
UNUSED_POWERTOOLS = ("aws_lambda_powertools/event_handler/",)
# wrapt (the X-Ray SDK's) ships the C source of its compiled module beside it.
UNUSED_SOURCES = ("wrapt/_wrappers.c",)


def unused_powertools_part(name: str) -> bool:
    if name.startswith(POWERTOOLS_UTILITIES):
        return not name.startswith(KEPT_POWERTOOLS_UTILITIES)
    return name.startswith(UNUSED_POWERTOOLS) or name in UNUSED_SOURCES


def unused_fiscal_part(name: str) -> bool:
    if name.startswith("nfelib/"):
        return not name.startswith(KEPT_NFELIB) or name.startswith(UNUSED_NFELIB) or "/tests/" in name or "/samples/" in name
    if name.startswith("lxml/") and name.endswith(UNUSED_LXML_SOURCES):
        return True
    return name.startswith(UNUSED_LIBRARY_PARTS)


def unused_holiday_module(name: str) -> bool:
    for folder, kept in KEPT_HOLIDAY_MODULES.items():
        if name.startswith(folder) and name not in REWRITTEN_INITS:
            return name[len(folder):] not in kept
    return False


def provided_by_runtime(name: str) -> bool:
    top = name.split("/", 1)[0]
    base = top.split("-", 1)[0].lower() if top.endswith((".dist-info", ".egg-info")) else top
    return base in RUNTIME_PROVIDED or base.replace("python_", "") in RUNTIME_PROVIDED or top == "six.py"


# Bytecode. Lambda's /var/task is read-only, so a function whose zip has no `__pycache__` compiles
# every module it imports from source on each cold start (our code and every library's: `chalice
# package` unpacks wheels, which carry no bytecode). The zip carries it, compiled here for the Lambda
# runtime's Python (the zip's runtime is the Python that runs `chalice package`: 3.11), as hash-based
# pycs checked against their source (PEP 552): Lambda's extraction of the zip does not keep the files'
# times, which a timestamp-based pyc would be checked against. A runtime of another minor version
# ignores them (another magic number) and compiles as before.
LAMBDA_CACHE_TAG = "cpython-311"


def bytecode(name: str, source: bytes):
    """(the pyc's name in the zip, its bytes) for a module's source, or None where the source does
    not compile (a library's Python 2 leftovers: never imported, as pip's own compile skips them)."""
    try:
        code = compile(source, name, "exec", dont_inherit=True, optimize=0)  # Lambda runs python without -O
    except (SyntaxError, ValueError):
        return None
    folder, file = os.path.split(name)
    pyc = f"{folder}/__pycache__/{file[:-3]}.{LAMBDA_CACHE_TAG}.pyc" if folder else \
        f"__pycache__/{file[:-3]}.{LAMBDA_CACHE_TAG}.pyc"
    flags = (0b11).to_bytes(4, "little")  # hash-based, checked against the source
    return pyc, importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source) + marshal.dumps(code)


def slim(path: str) -> tuple:
    """Rewrite the zip without the runtime-provided packages, each module with its bytecode;
    returns (bytes before, bytes after)."""
    before = os.path.getsize(path)
    temporary = path + ".slim"
    # Only with the runtime's own Python: another one's bytecode would be ignored there.
    compiling = sys.implementation.cache_tag == LAMBDA_CACHE_TAG
    if not compiling:
        print(f"slim_package: bytecode not added ({sys.implementation.cache_tag}, not the runtime's "
              f"{LAMBDA_CACHE_TAG}): every cold start will compile what it imports", file=sys.stderr)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            name = info.filename
            if (provided_by_runtime(name) or name.startswith(UNUSED_DATA) or unused_holiday_module(name)
                    or unused_fiscal_part(name) or unused_powertools_part(name)
                    or (compiling and name.endswith(".pyc"))):
                continue
            content = REWRITTEN_INITS.get(name) or source.read(name)
            target.writestr(info, content)
            compiled = bytecode(name, content) if compiling and name.endswith(".py") else None
            if compiled is not None:
                pyc = zipfile.ZipInfo(compiled[0], date_time=info.date_time)
                pyc.compress_type, pyc.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
                target.writestr(pyc, compiled[1])
    os.replace(temporary, path)
    return before, os.path.getsize(path)


if __name__ == "__main__":
    before, after = slim(sys.argv[1])
    print(f"{sys.argv[1]}: {before / 1e6:.1f} MB → {after / 1e6:.1f} MB (runtime-provided packages left out, bytecode added)")
