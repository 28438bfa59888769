"""`callbot models`: list every model in the manifest and verify its files."""

from __future__ import annotations

import argparse
import sys

from callbot.models import ModelError, installed_version, load_manifest, model_dir, model_file


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="callbot models", description=__doc__)
    parser.add_argument("names", nargs="*", help="models to check (default: all)")
    parser.add_argument("--no-verify", action="store_true", help="list only, skip checksums")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest()
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = args.names or sorted(manifest.models)
    failed = 0
    for name in names:
        try:
            spec = manifest.get(name)
        except ModelError as exc:
            print(f"{name}: {exc}")
            failed += 1
            continue
        pkgs = ", ".join(
            f"{p.name}=={p.version} (installed {installed_version(p.name) or 'no'})"
            for p in spec.packages
        )
        print(f"{spec.name}  [{spec.kind}; {', '.join(spec.languages)}; {spec.license}]")
        print(f"  packages: {pkgs}")
        if args.no_verify:
            continue
        try:
            where = model_dir(spec) if spec.kind == "faster-whisper" else None
            if where is None:
                where = model_file(spec, spec.files[0].name)
        except ModelError as exc:
            print(f"  FAILED: {exc}")
            failed += 1
            continue
        files = len(spec.files) + len(spec.assembled)
        print(f"  ok: {files} files verified (sha256) at {where}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
