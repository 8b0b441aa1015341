"""PDF rendering per document (issue #22 §2, task H3): each document rendered many times in one
process after a warm-up, by today's renderers and by the renderers of the commit before this work
(BASE_COMMIT), interleaved round by round so that a busy moment of the machine weighs on both.

  invoice      the fatura, with 6 lines (3 subscriptions that changed seats) and with 40 (20)
  boleto       FEBRABAN's layout with the boleto's Pix (QR code and copia e cola) and its barcode
  DANFSe       from the NFS-e simulator's note of the same invoice

The inputs are the product's own: two contracts (tests.support.billable_organizations, one with
the three bench SKUs, one with every SKU of the demo catalog) billed through the billing service as
`make bench` bills, the boleto's and the DANFSe's data taken as the documents service hands them to
`rendering.pdf.boleto_pdf` and `rendering.danfse.danfse_pdf`; the invoice's data is the documented
input of `rendering.pdf.invoice_pdf` built from the invoice billed (after issue #22 the billing run
no longer renders it: the invoice's PDF is made on its first download).

The baseline. The renderers of BASE_COMMIT (rendering/pdf.py, danfse.py, environment.py) are read
with `git show` into a temporary package (their `from ..` imports pointed at today's `chalicelib`,
whose domain helpers they call), and imported beside today's: same process, same reportlab, same
inputs, same rounds. That is the honest comparison — a figure written down once would compare
today's machine load with another day's. reportlab's ASCII85 setting, which today's renderers turn
off for the process, is put back to reportlab's default before each baseline render. Without git
(a copy of the project outside its repository) the baseline figures are those written below, from
this machine, marked as such.

Measured on the 2-core shared machine (load ~12), BASE_COMMIT's renderers, medians of 40 renders,
CPU ms: invoice 6 lines 1.58, invoice 40 lines 2.92, boleto 32.8, DANFSe 26.9; bytes 2 193, 3 155,
11 288, 8 359. Today's in the same run: 1.02, 1.26, 4.26, 5.17 ms; 2 017, 2 787, 7 249, 5 977 bytes.
The 6-line invoice stays above half (0.65): 0.39 of its 0.64 ms is reportlab's document writer
(`Canvas.save`: the catalogue, page, fonts and info formatted in pure Python), the same for every
document, which only reportlab's C accelerator (the `rl-accel` package, not installed) shortens.

The time is the rendering thread's CPU time (time.thread_time): rendering is pure computation,
and on a machine that other processes (and the bench's own moto threads) keep busy, wall time
measures the queue for a core more than the renderer; the median wall time is reported beside it.

Each document's target: ≤ 0.5 × the baseline's median. "pages identical" rasterizes both versions'
output (pdftoppm, 100 dpi, grey) and compares the images: the speed was not bought with the page.
"""
from __future__ import annotations

import gc
import hashlib
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

BASE_COMMIT = "39e2e0bb6b826554df49766bf4dd24e413092ea6"
RECORDED_BASELINE_MS = {"invoice, 6 lines": 1.58, "invoice, 40 lines": 2.92, "boleto with Pix": 32.8, "DANFSe": 26.9}
PROJECT_DIR = Path(__file__).resolve().parent.parent
MODULES = ("environment", "pdf", "danfse")

Job = Tuple[str, tuple, dict]  # renderer name ("invoice_pdf", "boleto_pdf", "danfse_pdf"), args, kwargs


def baseline_renderers(commit: str = BASE_COMMIT, into: Optional[Path] = None) -> Optional[Dict[str, Callable]]:
    """The renderers as they were at `commit`, importable beside today's; None without git."""
    try:
        sources = {name: subprocess.run(["git", "show", f"{commit}:chalicelib/rendering/{name}.py"], cwd=PROJECT_DIR,
                                        capture_output=True, text=True, check=True).stdout for name in MODULES}
    except (OSError, subprocess.CalledProcessError):
        return None
    package = f"_baseline_rendering_{commit[:12]}"
    root = Path(into or tempfile.mkdtemp(prefix="bench-pdf-"))
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text("")
    for name, source in sources.items():
        (root / package / f"{name}.py").write_text(source.replace("from ..", "from chalicelib."))
    sys.path.insert(0, str(root))
    try:
        pdf, danfse = (importlib.import_module(f"{package}.{name}") for name in ("pdf", "danfse"))
    finally:
        sys.path.remove(str(root))
    return {"invoice_pdf": pdf.invoice_pdf, "boleto_pdf": pdf.boleto_pdf, "danfse_pdf": danfse.danfse_pdf}


def current_renderers() -> Dict[str, Callable]:
    from chalicelib.rendering import danfse, pdf

    return {"invoice_pdf": pdf.invoice_pdf, "boleto_pdf": pdf.boleto_pdf, "danfse_pdf": danfse.danfse_pdf}


def _invoice_data(deps, organization_id: str, period_end) -> Dict[str, Any]:
    """`rendering.pdf.invoice_pdf`'s documented input, for the invoice billed to the organisation."""
    from chalicelib.domain.organizations import format_cnpj

    invoice = deps.invoices.invoice_for_period(organization_id, period_end)
    organization = deps.organizations.get(organization_id)
    return {"number": invoice.number, "payment_method": invoice.payment_method, "deposit": None,
            "issuer": {"name": deps.settings.beneficiary_name, "document": format_cnpj(deps.settings.beneficiary_cnpj)},
            "customer": {"name": organization.name, "document": format_cnpj(organization.cnpj)},
            "period_start": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
            "issued_on": invoice.issued_at, "due_date": invoice.due_date.isoformat(),
            "total_cents": invoice.total_cents,
            "lines": [{"description": line.description, "amount_cents": line.amount_cents} for line in invoice.lines]}


def product_inputs(deps, closing_day: int = 9) -> Dict[str, Job]:
    """Bills two contracts closing on `closing_day` (November 2026) and returns the documents to
    render: {name: (renderer, args, kwargs)}. The container's clock is put back afterwards."""
    from datetime import date, datetime, timezone

    from app import app
    from bench.run import DirectEventSource
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.domain.clock import SAO_PAULO, FixedClock
    from chalicelib.rendering import danfse, pdf
    from chalicelib.services import billing
    from local.seed import CATALOG
    from tests.support import BILLABLE_SKUS, billable_organizations

    previous_clock = deps.clock
    deps.clock = FixedClock(datetime(2026, 11, closing_day + 1, 12, tzinfo=SAO_PAULO).astimezone(timezone.utc))
    few = billable_organizations(deps, 1, closing_day=closing_day, skus=BILLABLE_SKUS)[0]
    many = billable_organizations(deps, 1, closing_day=closing_day, skus=[sku for sku, *_ in CATALOG])[0]
    taken: Dict[str, list] = {"boleto_pdf": [], "danfse_pdf": []}
    originals = {"boleto_pdf": (pdf, pdf.boleto_pdf), "danfse_pdf": (danfse, danfse.danfse_pdf)}

    def tap(name, render):
        def tapped(*args, **kwargs):
            taken[name].append((args, kwargs))
            return render(*args, **kwargs)
        return tapped

    for name, (module, render) in originals.items():
        setattr(module, name, tap(name, render))
    events = DirectEventSource(app, deps)
    try:
        billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[closing_day])
        events.drain()
    finally:
        events.close()
        for name, (module, render) in originals.items():
            setattr(module, name, render)
        deps.clock = previous_clock
    period_end = date(2026, 11, closing_day)
    invoices = {key: _invoice_data(deps, organization_id, period_end) for key, organization_id in (("few", few), ("many", many))}
    if events.failed_batches or len(taken["boleto_pdf"]) != 2 or len(taken["danfse_pdf"]) != 2:
        raise RuntimeError(f"billing two contracts rendered {len(taken['boleto_pdf'])} boleto(s) and "
                           f"{len(taken['danfse_pdf'])} DANFSe(s), {events.failed_batches} failed batch(es)")
    (boleto_args, boleto_kwargs), (danfse_args, danfse_kwargs) = taken["boleto_pdf"][0], taken["danfse_pdf"][0]
    return {f"invoice, {len(invoices['few']['lines'])} lines": ("invoice_pdf", (invoices["few"],), {}),
            f"invoice, {len(invoices['many']['lines'])} lines": ("invoice_pdf", (invoices["many"],), {}),
            "boleto with Pix": ("boleto_pdf", boleto_args, boleto_kwargs),
            "DANFSe": ("danfse_pdf", danfse_args, danfse_kwargs)}


def _reportlab_defaults() -> None:
    """reportlab's own ASCII85 setting, for a baseline render (today's renderers turn it off)."""
    from reportlab import rl_config

    rl_config.useA85 = 1


def _pages(document: bytes) -> Optional[list]:
    """A digest of each page rasterized, or None without pdftoppm."""
    if not shutil.which("pdftoppm"):
        return None
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "document.pdf").write_bytes(document)
        subprocess.run(["pdftoppm", "-r", "100", "-gray", str(Path(folder) / "document.pdf"), str(Path(folder) / "page")],
                       check=True, capture_output=True)
        return [hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()
                for name in sorted(os.listdir(folder)) if name.startswith("page")]


def measure(jobs: Dict[str, Job], now: Dict[str, Callable], before: Optional[Dict[str, Callable]], rounds: int,
            warmup: int = 3) -> Dict[str, dict]:
    """Median ms and bytes of each document, today's and (when `before`) the baseline's,
    interleaved: each round renders every document with both, alternating which goes first, after
    a garbage collection (not timed) so that neither is timed collecting the other's garbage."""
    versions = {"now": now, **({"before": before} if before else {})}
    times = {name: {version: [] for version in versions} for name in jobs}
    walls = {name: {version: [] for version in versions} for name in jobs}
    output: Dict[str, Dict[str, bytes]] = {name: {} for name in jobs}
    for round_number in range(warmup + rounds):
        order = list(versions) if round_number % 2 else list(reversed(versions))
        for name, (renderer, args, kwargs) in jobs.items():
            for version in order:
                if version == "before":
                    _reportlab_defaults()
                gc.collect()  # neither version pays for the garbage the other left
                started, cpu = time.perf_counter(), time.thread_time()
                document = versions[version][renderer](*args, **kwargs)
                if round_number >= warmup:
                    times[name][version].append(time.thread_time() - cpu)
                    walls[name][version].append(time.perf_counter() - started)
                output[name][version] = document
    results = {}
    for name in jobs:
        result = {f"{version} (median ms)": round(1000 * statistics.median(times[name][version]), 2)
                  for version in versions}
        result.update({f"{version} (median wall ms)": round(1000 * statistics.median(walls[name][version]), 2)
                       for version in versions})
        result.update({f"{version} (bytes)": len(output[name][version]) for version in versions})
        if before:
            pages_now, pages_before = _pages(output[name]["now"]), _pages(output[name]["before"])
            result["pages identical"] = None if pages_now is None else pages_now == pages_before
        results[name] = result
    return results


def pdf_bench(deps, rounds: Optional[int] = None) -> dict:
    """`make bench`'s PDF section: var/bench/pdf.json."""
    from bench.run import record

    rounds = rounds or int(os.environ.get("BENCH_PDF_ROUNDS", "40"))
    jobs = product_inputs(deps)
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as folder:
        why_not = "not importable without git (or without the commit)"
        try:
            before = baseline_renderers(into=Path(folder))
            if before:  # today's domain helpers, which the old renderers call, may have moved on
                for renderer, args, kwargs in jobs.values():
                    _reportlab_defaults()
                    before[renderer](*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - reported, and the recorded figures used instead
            before, why_not = None, f"not renderable today ({type(error).__name__}: {error})"
        results = measure(jobs, current_renderers(), before, rounds)
    figures: Dict[str, Any] = {"baseline": f"renderers of {BASE_COMMIT[:10]}, measured in this run" if before else
                               f"renderers of {BASE_COMMIT[:10]} {why_not}: the figures recorded on this machine "
                               "(bench/pdf.py's docstring)",
                               "rounds (after 3 of warm-up)": rounds}
    met = True
    for name, result in results.items():
        baseline = result.get("before (median ms)", RECORDED_BASELINE_MS.get(name))
        if baseline:
            result["ratio to the baseline"] = round(result["now (median ms)"] / baseline, 2)
            result["saved (ms)"] = round(baseline - result["now (median ms)"], 2)
        result["target"] = "≤ 0.5 × the baseline, pages identical"
        result["met"] = bool(baseline) and result["now (median ms)"] <= 0.5 * baseline and \
            result.get("pages identical") is not False
        met = met and result["met"]
        figures[name] = result
    few = next(name for name in results if name.startswith("invoice"))
    billed = ("boleto with Pix", "DANFSe")
    figures["per invoice: ms saved (boleto + DANFSe, rendered by billing)"] = round(
        sum(figures[name].get("saved (ms)", 0) for name in billed), 2)
    figures["per invoice: ms saved (with the invoice's PDF, rendered on its first download)"] = round(
        sum(figures[name].get("saved (ms)", 0) for name in (*billed, few)), 2)
    figures["per invoice: bytes attached (boleto + DANFSe), now / before"] = (
        f"{sum(results[name]['now (bytes)'] for name in billed)} / "
        f"{sum(results[name].get('before (bytes)', 0) for name in billed) or '-'}")
    figures["target"] = "each document ≤ 0.5 × the baseline's median, its pages identical"
    figures["met"] = met
    return record("pdf", figures)


if __name__ == "__main__":  # the section alone: python -m bench.pdf (BENCH_PDF_ROUNDS=10 for a quick look)
    import logging

    from bench.run import _world

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server, world_deps, _ = _world()
    try:
        pdf_bench(world_deps)
    finally:
        server.stop()
