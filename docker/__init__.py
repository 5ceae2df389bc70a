"""The container image of the release and its deployment checks, step by step.

`docker.engine` (route, podman tool chain), `docker.base` (the debootstrap base
image), `docker.image` (context, build, facts), `docker.smoke` (offline, read-only
smoke tests), `docker.kube` (podman kube play of the manifests), `docker.export`
(OCI archive, deployment on a fresh node); ``docker/build.py`` runs them in order.
Not part of the ``sat`` wheel: release tooling of the repository, like ``recipe``.
"""
