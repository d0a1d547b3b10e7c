#!/usr/bin/env python3
"""Project commands that need nothing but Python 3.11+ and the package index.

    python3 manage.py run      install what the bot needs into .venv, then run `python -m bot`
    python3 manage.py test     install the test tools into .venv, then run pytest: every test
                               that stores anything once on SQLite and once on PostgreSQL (a
                               throwaway server), in four workers (`-n 1` for one, or
                               `--database=sqlite` for one engine)
    python3 manage.py lint     ruff (lint and format check), mypy, import-linter (the layers)
                               and hadolint (the Dockerfile)
    python3 manage.py lock     remake requirements.lock after changing dependencies
    python3 manage.py bench NAME   run bench/NAME.py
    python3 manage.py i18n     extract the sentences into bot/locales/messages.pot and merge
                               them into every language's .po file
    python3 manage.py i18n add CODE   start a language's .po file (e.g. `i18n add de`)
    python3 manage.py i18n check   compile every catalog from its .po and check it (CI)

Extra arguments are passed on: `python3 manage.py test -k submit -x`.
The virtual environment is (re)installed only when pyproject.toml or requirements.lock changes.
The bot's own dependencies come from requirements.lock (exact versions and hashes), as in the
Docker image, so the tests run against the packages that ship.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LOCK = ROOT / "requirements.lock"
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


# The lock holds the bot's runtime dependencies for any platform, on the oldest Python it supports.
LOCK_COMMAND = [
    "pip", "compile", "pyproject.toml", "--universal", "--generate-hashes",
    "--python-version", "3.11", "-o", "requirements.lock",
    "--custom-compile-command", "python3 manage.py lock",
]  # fmt: skip


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project with `extras` unless that is already done."""
    if sys.version_info < (3, 11):  # noqa: UP036 (manage.py may be started by an old python3)
        sys.exit("This project needs Python 3.11 or newer; run it with python3.11 manage.py ...")
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    inputs = (ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes() + extras.encode()
    digest = hashlib.sha256(inputs).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing the project{f' [{extras}]' if extras else ''} into .venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
    subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True, cwd=ROOT)
    subprocess.run([*pip, "-e", target], check=True, cwd=ROOT)
    stamp.write_text(digest)


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist's workers, unless the arguments choose: the tests mostly wait (on timers,
    fakes and subprocesses), so four workers fit two cores."""
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses", "--dist")) for a in args)
    return [] if chosen or "no:xdist" in args else ["-n", "4"]


def run(*args: str) -> int:
    return subprocess.call([str(PYTHON), *args], cwd=ROOT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "run":
        ensure_venv("")
        return run("-m", "bot", *rest)
    if command == "test":
        ensure_venv("dev")
        return run("-m", "pytest", *parallel(rest), *rest)
    if command == "lint":
        ensure_venv("dev")
        return (
            run("-m", "ruff", "check", ".")
            or run("-m", "ruff", "format", "--check", ".")
            or run("-m", "mypy")
            or subprocess.call([str(BIN / "lint-imports")], cwd=ROOT)
            or subprocess.call([str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT)
        )
    if command == "lock":
        ensure_venv("dev")
        return subprocess.call([str(BIN / "uv"), *LOCK_COMMAND], cwd=ROOT)
    if command == "i18n":
        ensure_venv("dev")
        return i18n(rest)
    if command == "bench":
        ensure_venv("dev")
        if not rest:
            scripts = sorted((ROOT / "bench").glob("[!_]*.py"))
            names = ", ".join(p.stem for p in scripts)
            print(f"Which benchmark? {names}")
            return 2
        return run("-m", f"bench.{rest[0]}", *rest[1:])
    print(f"Unknown command {command!r}.\n{__doc__}")
    return 2


POT = "bot/locales/messages.pot"
# gettext, ngettext(singular, plural, n) and N_ (a sentence in a table), as bot/texts calls them.
KEYWORDS = ["-k", "gettext", "-k", "ngettext:1,2", "-k", "N_", "--no-default-keywords"]


def i18n(args: list[str]) -> int:
    pybabel = str(BIN / "pybabel")
    if args[:1] == ["add"] and len(args) == 2:
        if not re.fullmatch(r"[a-z]{2}", args[1]):
            # Telegram's language codes for menus are two-letter ISO 639-1 codes (de, pt, uk).
            print("A language is a two-letter code, such as de, pt or uk.")
            return 2
        return subprocess.call(
            [pybabel, "init", "-i", POT, "-d", "bot/locales", "-l", args[1]], cwd=ROOT
        )
    if args == ["check"]:
        return i18n_check(pybabel)
    if args:
        print("Use `python3 manage.py i18n`, `i18n add CODE` or `i18n check`.")
        return 2
    if extract_template(pybabel, POT):
        return 1
    if not any((ROOT / "bot" / "locales").glob("*/LC_MESSAGES/messages.po")):
        return 0  # no language yet: `i18n add CODE` starts one from the template
    update = [pybabel, "update", "-i", POT, "-d", "bot/locales", "--no-fuzzy-matching"]
    update += ["--ignore-obsolete", "--ignore-pot-creation-date"]
    return subprocess.call(update, cwd=ROOT)


def extract_template(pybabel: str, output: str) -> int:
    extract = [pybabel, "extract", "-F", "babel.cfg", *KEYWORDS, "--sort-by-file"]
    extract += ["-c", "TRANSLATORS:", "--omit-header", "-o", output, "."]
    done = subprocess.run(extract, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        print(done.stdout + done.stderr)
    return done.returncode


# Compiles every catalog from its .po (as the bot does at start: no .mo is committed), checks
# its formats, and compares the committed template's sentences with the code's.
CATALOG_CHECK = """
import io, sys
from pathlib import Path
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

def ids(path):
    with open(path, "rb") as f:
        return {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(f) if m.id}

fresh, committed = ids(sys.argv[1]), ids(sys.argv[2])
bad = 0
if fresh != committed:
    print(f"{sys.argv[2]} is stale: run python3 manage.py i18n "
          f"({len(fresh - committed)} new, {len(committed - fresh)} gone)")
    bad = 1
for po in sorted(Path("bot/locales").glob("*/LC_MESSAGES/messages.po")):
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parts[-3])
    for message, errors in catalog.check():
        for error in errors:
            print(f"{po}:{message.lineno}: {error}")
            bad = 1
    write_mo(io.BytesIO(), catalog)
    done = sum(1 for m in catalog if m.id and m.string and all(m.string) and not m.fuzzy)
    print(f"{po.parts[-3]}: {done} of {len([m for m in catalog if m.id])} translated, compiled")
sys.exit(bad)
"""


def i18n_check(pybabel: str) -> int:
    with tempfile.TemporaryDirectory() as temp:
        fresh = str(Path(temp) / "messages.pot")
        if extract_template(pybabel, fresh):
            return 1
        return run("-c", CATALOG_CHECK, fresh, POT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
