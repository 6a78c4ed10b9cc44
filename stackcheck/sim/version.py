"""What the sim's API server says it is: /version as the v1.28.15 release's kube-apiserver
answers it, the minor of the nodes' kubelets as on a kubeadm cluster
(tests/data/facts/kube-apiserver.yml `version-info`, with its sources)."""

from __future__ import annotations

VERSION = {
    "major": "1",
    "minor": "28",
    "gitVersion": "v1.28.15",
    "gitCommit": "841856557ef0f6a399096c42635d114d6f2cf7f4",
    "gitTreeState": "clean",
    "buildDate": "2024-10-22T20:33:16Z",
    "goVersion": "go1.22.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}
