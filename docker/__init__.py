"""The container image of the release and its deployment checks, step by step.

`docker.engine` (route, podman tool chain), `docker.base` (the debootstrap base
image), `docker.image` (context, build, facts), `docker.smoke` (offline, read-only
smoke tests), `docker.kube` (podman kube play of the manifests), `docker.export`
(OCI archive, deployment on a fresh node); ``docker/build.py`` runs them in order.
``docker/jupyter.py`` does the same for the Jupyter image with `docker.lab`
(JupyterLab in a container, seen from the host), `docker.lab_checks` and
`docker.singleuser`.
Not part of the ``sat`` wheel: release tooling of the repository, like ``recipe``.
"""
