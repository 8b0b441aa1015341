"""Drop from the Lambda zip what the Python 3.11 Lambda runtime already provides (and data and
countries the product never reads).

`chalice package` bundles botocore (about 16 MB compressed) because pynamodb depends on it, though
the runtime ships boto3, botocore and their dependencies. `make package` runs this on its output.
Usage: python infra/slim_package.py build/deployment.zip
"""
from __future__ import annotations

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


def unused_holiday_module(name: str) -> bool:
    for folder, kept in KEPT_HOLIDAY_MODULES.items():
        if name.startswith(folder) and name not in REWRITTEN_INITS:
            return name[len(folder):] not in kept
    return False


def provided_by_runtime(name: str) -> bool:
    top = name.split("/", 1)[0]
    base = top.split("-", 1)[0].lower() if top.endswith((".dist-info", ".egg-info")) else top
    return base in RUNTIME_PROVIDED or base.replace("python_", "") in RUNTIME_PROVIDED or top == "six.py"


def slim(path: str) -> tuple:
    """Rewrite the zip without the runtime-provided packages; returns (bytes before, bytes after)."""
    before = os.path.getsize(path)
    temporary = path + ".slim"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            name = info.filename
            if provided_by_runtime(name) or name.startswith(UNUSED_DATA) or unused_holiday_module(name):
                continue
            target.writestr(info, REWRITTEN_INITS.get(name) or source.read(name))
    os.replace(temporary, path)
    return before, os.path.getsize(path)


if __name__ == "__main__":
    before, after = slim(sys.argv[1])
    print(f"{sys.argv[1]}: {before / 1e6:.1f} MB → {after / 1e6:.1f} MB (runtime-provided packages left out)")
