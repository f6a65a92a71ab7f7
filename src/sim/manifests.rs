//! The Dockerfile and the Kubernetes manifests must agree with the real CLI definition (the binary's tests).
//!
//! Every `args:`/`command:` list, every `CLUSTER_CLIENT_*` variable and the
//! image's entrypoint is parsed with the same clap `Cli` the binary uses, so
//! renaming a flag breaks this test rather than production.
//! The lock waits and the `podFailurePolicy` rules are checked against the
//! deadlines and the exit codes they are meant to fit.

use std::path::{Path, PathBuf};

use crate::cli::args::Cli;
use clap::CommandFactory;
use clap::error::ErrorKind;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifests() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read kubernetes/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("kubernetes"), &mut out);
    out.sort();
    out
}

/// The long flag (`--timeout`) that reads environment variable `name`, in any subcommand.
fn flag_for_env(name: &str) -> Option<String> {
    fn find(command: &clap::Command, name: &str) -> Option<String> {
        command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name))
            .and_then(|arg| arg.get_long().map(|long| format!("--{long}")))
            .or_else(|| command.get_subcommands().find_map(|sub| find(sub, name)))
    }
    find(&Cli::command(), name)
}

/// `flag` set to `value` as on a command line, before `rollback` (whose last word is removed
/// where a command that takes `flag` is wanted instead): a flag that takes no
/// value (`--token-file-optional`) is given alone when `value` is a true one ("true",
/// "yes", "1", "on") and left out when it is a false one; any other value is kept, so the
/// parse fails on it.
fn flag_with_value(flag: &str, value: &str) -> Vec<String> {
    fn find(command: &clap::Command, flag: &str) -> Option<clap::Arg> {
        command
            .get_arguments()
            .find(|arg| arg.get_long() == flag.strip_prefix("--"))
            .cloned()
            .or_else(|| command.get_subcommands().find_map(|sub| find(sub, flag)))
    }
    let takes_no_value =
        find(&Cli::command(), flag).is_some_and(|arg| !arg.get_action().takes_values());
    let mut args = vec![flag.to_owned(), value.to_owned()];
    if takes_no_value {
        use clap::builder::TypedValueParser;
        let truth = clap::builder::BoolishValueParser::new().parse_ref(
            &Cli::command(),
            None,
            std::ffi::OsStr::new(value),
        );
        match truth {
            Ok(true) => args = vec![flag.to_owned()],
            Ok(false) => args = Vec::new(),
            Err(_) => {}
        }
    }
    args.push("rollback".to_owned());
    args
}

/// Variables the binary reads that are not tied to one flag.
const OTHER_VARIABLES: &[&str] = &["CLUSTER_CLIENT_TOKEN"];

/// `(name, value)` of every `CLUSTER_CLIENT_*` entry in a container's `env:`.
fn env_entries(text: &str) -> Vec<(String, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.trim().strip_prefix("- name:").map(str::trim) else {
            continue;
        };
        if !name.starts_with("CLUSTER_CLIENT_") {
            continue;
        }
        let value = lines
            .get(i + 1)
            .and_then(|next| next.trim().strip_prefix("value:"))
            .map(|v| v.trim().trim_matches('"').to_owned());
        entries.push((name.to_owned(), value));
    }
    entries
}

/// Parses the argument lists of every container; each must be a flow-style
/// JSON-compatible list, e.g. `args: ["create", "example-group"]`.
fn arg_lists(path: &Path, text: &str) -> Vec<Vec<String>> {
    let mut lists = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        for key in ["args:", "command:"] {
            let Some(rest) = trimmed.strip_prefix(key) else {
                continue;
            };
            let list: Vec<String> = serde_json::from_str(rest.trim()).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: write `{key}` as a one-line list like [\"rollback\"] so this test can check it ({e})",
                    path.display(),
                    number + 1
                )
            });
            if key == "command:" {
                assert_eq!(
                    list.first().map(String::as_str),
                    Some("cluster-client"),
                    "{}:{}: command must start with the binary",
                    path.display(),
                    number + 1
                );
                lists.push(list[1..].to_vec());
            } else {
                lists.push(list);
            }
        }
    }
    lists
}

fn parse(args: &[String]) -> Result<Cli, clap::Error> {
    crate::cli::argv::parse(
        std::iter::once("cluster-client".to_owned()).chain(args.iter().cloned()),
    )
}

#[test]
fn every_manifest_argument_list_parses_with_the_real_cli() {
    let mut checked = 0;
    for path in manifests() {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        for args in arg_lists(&path, &text) {
            if let Err(e) = parse(&args) {
                panic!("{}: {args:?} does not parse: {e}", path.display());
            }
            checked += 1;
        }
    }
    // The create/delete Job, the bulk Indexed Job and both rollback CronJobs at least.
    assert!(
        checked >= 4,
        "found only {checked} argument lists in kubernetes/"
    );
}

#[test]
fn every_cluster_client_variable_in_the_manifests_is_one_the_binary_reads() {
    let mut checked = 0;
    for path in manifests() {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        for (name, value) in env_entries(&text) {
            checked += 1;
            if OTHER_VARIABLES.contains(&name.as_str()) {
                continue;
            }
            let flag = flag_for_env(&name).unwrap_or_else(|| {
                panic!("{}: {name} is not read by cluster-client", path.display())
            });
            if let Some(value) = value {
                let mut args = flag_with_value(&flag, &value);
                // Note: create takes every option that a variable sets; rollback does not.
                args.pop();
                args.extend(["create".to_owned(), "g".to_owned()]);
                if let Err(e) = parse(&args) {
                    panic!(
                        "{}: {name} has a value the binary rejects: {e}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(
        checked >= 1,
        "no CLUSTER_CLIENT_* variables found in kubernetes/"
    );
}

#[test]
fn dockerfile_entrypoint_env_and_cmd_agree_with_the_binary() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let json_list = |instruction: &str| -> Option<Vec<String>> {
        text.lines()
            .rev()
            .find_map(|line| line.strip_prefix(instruction))
            .map(|rest| serde_json::from_str(rest.trim()).expect("exec-form JSON list"))
    };
    assert_eq!(
        json_list("ENTRYPOINT").as_deref(),
        Some(&["cluster-client".to_owned()][..]),
        "the image must run the binary directly, so `docker run IMAGE create g1` works"
    );
    if let Some(cmd) = json_list("CMD") {
        match parse(&cmd) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
            Err(e) => panic!("Dockerfile CMD {cmd:?} does not parse: {e}"),
        }
    }
    let variables: Vec<&str> = text
        .split_whitespace()
        .filter(|word| word.starts_with("CLUSTER_CLIENT_") && word.contains('='))
        .collect();
    assert!(
        !variables.is_empty(),
        "the image sets CLUSTER_CLIENT_HOSTS and CLUSTER_CLIENT_JOURNAL"
    );
    for variable in variables {
        let (name, _) = variable.split_once('=').expect("NAME=value");
        assert!(
            flag_for_env(name).is_some(),
            "Dockerfile sets {name}, which the binary does not read"
        );
    }
}

#[test]
fn renamed_flags_would_be_caught() {
    // Note: guards the checks above against passing vacuously.
    assert!(parse(&["rollback".to_owned(), "--no-such-flag".to_owned()]).is_err());
    assert_eq!(
        flag_for_env("CLUSTER_CLIENT_TIMEOUT").as_deref(),
        Some("--timeout")
    );
    assert_eq!(flag_for_env("CLUSTER_CLIENT_NO_SUCH_VARIABLE"), None);
}

/// The lines of a pod spec from `containers:` on, with the indentation of the first one
/// removed, so the Job's and the CronJob's copies compare equal when they agree.
fn pod_spec_from_containers(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start() == "containers:")
        .expect("containers:");
    let indent = lines[start].len() - lines[start].trim_start().len();
    lines[start..]
        .iter()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()).to_owned())
        .collect()
}

#[test]
fn the_job_and_the_cronjob_take_the_same_credentials_from_one_component() {
    let release = root().join("kubernetes/release");
    let kustomization =
        std::fs::read_to_string(release.join("kustomization.yaml")).expect("release");
    for (patch, kind) in [
        ("credentials-job.yaml", "kind: Job"),
        ("credentials-cronjob.yaml", "kind: CronJob"),
    ] {
        let at = kustomization
            .find(&format!("path: {patch}"))
            .unwrap_or_else(|| panic!("release/kustomization.yaml does not apply {patch}"));
        assert!(
            kustomization[at..]
                .lines()
                .take(4)
                .any(|l| l.trim() == kind),
            "{patch} must target {kind}"
        );
    }
    // Every rendering includes the release component: kubernetes/, kubernetes/job/ and the
    // bulk variant's two.
    for dir in RENDERED {
        let text = std::fs::read_to_string(root().join(dir).join("kustomization.yaml"))
            .expect("kustomization");
        assert!(
            text.lines().any(|l| l.trim().ends_with("release")),
            "{dir} does not include the release component"
        );
    }
    let job = std::fs::read_to_string(release.join("credentials-job.yaml")).expect("job patch");
    let cronjob =
        std::fs::read_to_string(release.join("credentials-cronjob.yaml")).expect("cron patch");
    assert_eq!(
        pod_spec_from_containers(&job),
        pod_spec_from_containers(&cronjob),
        "the Job's and the CronJob's credentials differ"
    );
    for needed in [
        "defaultMode: 0440",
        "mountPath: /var/run/secrets/cluster-client",
        "mountPath: /etc/cluster-client-ca",
    ] {
        assert!(job.contains(needed), "credentials-job.yaml lacks {needed}");
    }
    // Each variable names its Secret's one key under that Secret's mount, and the
    // binary takes both files as optional, as the volumes are.
    let mut args: Vec<String> = Vec::new();
    for (name, value) in env_entries(&job) {
        let flag = flag_for_env(&name).unwrap_or_else(|| panic!("{name} is read by no flag"));
        let mut one = flag_with_value(&flag, &value.expect("a value"));
        one.pop();
        args.extend(one);
    }
    args.push("rollback".to_owned());
    let cli = parse(&args).expect("parses");
    let credentials = cli
        .command
        .parts()
        .credentials
        .expect("rollback takes credentials");
    assert!(credentials.token_file_optional && credentials.cacert_optional);
    for (secret, file) in [
        ("cluster-client-token", &credentials.token_file),
        ("cluster-client-ca", &credentials.cacert),
    ] {
        let volume = secret_volume(&job, secret);
        assert!(volume.contains(&"optional: true"), "{secret}: {volume:?}");
        let key = volume
            .iter()
            .find_map(|line| line.strip_prefix("path: "))
            .unwrap_or_else(|| panic!("{secret}: no items path in {volume:?}"));
        let file = file
            .as_deref()
            .unwrap_or_else(|| panic!("no file for {secret}"));
        let mount = file.parent().expect("a mount").display().to_string();
        assert!(job.contains(&format!("mountPath: {mount}")), "{mount}");
        assert_eq!(
            file.file_name(),
            Some(std::ffi::OsStr::new(key)),
            "{secret}"
        );
    }
}

/// The trimmed lines of the `secret:` volume of `secret`, from `secretName:` on.
fn secret_volume<'a>(text: &'a str, secret: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == format!("secretName: {secret}"))
        .unwrap_or_else(|| panic!("no secret volume {secret}"));
    let indent = lines[at].len() - lines[at].trim_start().len();
    std::iter::once(lines[at].trim())
        .chain(
            lines[at + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() >= indent)
                .map(|l| l.trim()),
        )
        .collect()
}

/// The `value:` under `- name: <name>` in a manifest.
fn flag_value(text: &str, name: &str) -> String {
    env_entries(text)
        .into_iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v)
        .unwrap_or_else(|| panic!("no value for {name}"))
}

#[test]
fn the_docs_create_the_two_secrets_the_manifests_mount() {
    let docs = std::fs::read_to_string(root().join("docs/kubernetes.md")).expect("docs");
    for needed in [
        "kubectl -n cluster-client create secret generic cluster-client-token --from-file=token=",
        "kubectl -n cluster-client create secret generic cluster-client-ca --from-file=ca.crt=",
    ] {
        assert!(docs.contains(needed), "docs/kubernetes.md lacks `{needed}`");
    }
}

#[test]
fn the_shipped_hosts_file_is_one_the_binary_reads_and_the_pods_mount_by_name() {
    let nodes = cluster_client::vocab::hosts::read_hosts_file(&root().join("kubernetes/hosts.txt"))
        .expect("kubernetes/hosts.txt");
    assert!(!nodes.is_empty());
    // The generator keeps the fixed name the Job template and the bulk variant mount,
    // rendered apart from it: with the usual hash suffix their pods would find no list.
    let kustomization = read("kubernetes/kustomization.yaml");
    let generator = &kustomization[kustomization
        .find("configMapGenerator:")
        .expect("configMapGenerator")..];
    for needed in [
        "- name: cluster-client-hosts",
        "- hosts.txt",
        "disableNameSuffixHash: true",
    ] {
        assert!(generator.contains(needed), "the generator lacks {needed}");
    }
    for file in WORKLOADS {
        assert!(
            read(file).contains("name: cluster-client-hosts"),
            "{file} does not mount the hosts ConfigMap"
        );
    }
    // The mount is where the image looks (CLUSTER_CLIENT_HOSTS).
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("CLUSTER_CLIENT_HOSTS=/etc/cluster-client/hosts.txt"));
    for file in WORKLOADS {
        assert!(
            read(file).contains("mountPath: /etc/cluster-client\n"),
            "{file}"
        );
    }
}

#[test]
fn the_egress_policy_lets_the_pods_reach_the_ports_of_the_shipped_hosts_file() {
    let nodes = cluster_client::vocab::hosts::read_hosts_file(&root().join("kubernetes/hosts.txt"))
        .expect("kubernetes/hosts.txt");
    let kustomization = read("kubernetes/kustomization.yaml");
    let patch = &kustomization[kustomization
        .find("path: /spec/egress/1")
        .expect("the nodes' egress rule is set in kubernetes/kustomization.yaml")..];
    for node in &nodes {
        let port = node
            .collection_url()
            .port_or_known_default()
            .expect("a port");
        assert!(
            patch.contains(&format!("port: {port}}}"))
                || patch.contains(&format!("port: {port}\n")),
            "kubernetes/kustomization.yaml does not let the pods reach port {port} of {node}"
        );
    }
    let policy = read("kubernetes/networkpolicy.yaml");
    for needed in ["- Egress", "- Ingress", "k8s-app: kube-dns", "port: 53"] {
        assert!(policy.contains(needed), "networkpolicy.yaml lacks {needed}");
    }
    let selector = &policy[policy.find("podSelector:").expect("podSelector")..];
    assert!(
        selector.contains("app.kubernetes.io/name: cluster-client"),
        "the policy selects every cluster-client pod"
    );
}

#[test]
fn rendered_manifests_carry_the_token_secret_in_both_the_job_and_the_cronjob() {
    // Note: the real renderer when kubectl is installed (.ci/packaging.sh always has it);
    // the static check above covers machines without it.
    let render = |dir: &str| {
        std::process::Command::new("kubectl")
            .args(["kustomize", dir])
            .current_dir(root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let Some(rendered) = RENDERED
        .iter()
        .map(|dir| render(dir))
        .collect::<Option<Vec<_>>>()
    else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping the rendered check: no kubectl with kustomize on PATH");
        }
        return;
    };
    let mut kinds = Vec::new();
    for doc in rendered.iter().flat_map(|text| text.split("\n---\n")) {
        let Some(kind) = doc
            .lines()
            .find_map(|l| l.strip_prefix("kind: "))
            .filter(|k| *k == "Job" || *k == "CronJob")
        else {
            continue;
        };
        for needed in [
            "secretName: cluster-client-token",
            "name: CLUSTER_CLIENT_TOKEN_FILE",
            "name: CLUSTER_CLIENT_CACERT",
            "mountPath: /var/run/secrets/cluster-client",
            "name: cluster-client-hosts",
        ] {
            assert!(doc.contains(needed), "the rendered {kind} lacks {needed}");
        }
        kinds.push(kind.to_owned());
    }
    kinds.sort();
    assert_eq!(kinds, ["CronJob", "CronJob", "Job", "Job"]);
}

/// The kustomizations people render or apply: the base, the one-shot Job, the bulk
/// variant's volume and CronJob, and its Indexed Job.
const RENDERED: [&str; 4] = [
    "kubernetes",
    "kubernetes/job",
    "kubernetes/bulk",
    "kubernetes/bulk/job",
];

#[test]
fn the_job_and_the_cronjob_log_json_for_the_log_collector() {
    for file in WORKLOADS {
        let text = std::fs::read_to_string(root().join(file)).expect("manifest");
        let format = flag_value(&text, "CLUSTER_CLIENT_LOG_FORMAT");
        let cli = parse(&["--log-format".to_owned(), format, "rollback".to_owned()])
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            cli.command.logging().log_format,
            crate::cli::args::LogFormat::Json,
            "{file}"
        );
    }
}

/// Every Job and CronJob: the one-shot Job, the rollback CronJob, and the bulk variant's.
const WORKLOADS: [&str; 4] = [
    "kubernetes/job/group-job.yaml",
    "kubernetes/rollback-cronjob.yaml",
    "kubernetes/bulk/job/bulk-job.yaml",
    "kubernetes/bulk/rollback-cronjob.yaml",
];

fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The value of the first `key:` line (comments skipped), e.g. `completions: 4` gives `4`.
fn scalar(text: &str, key: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .map(|value| value.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no {key}:"))
}

/// The one argument list of a manifest, parsed with the real CLI.
fn the_cli(file: &str) -> (Vec<String>, Cli) {
    let text = read(file);
    let lists = arg_lists(Path::new(file), &text);
    let [args] = lists.as_slice() else {
        panic!("{file}: expected one argument list, found {lists:?}");
    };
    let cli = parse(args).unwrap_or_else(|e| panic!("{file}: {e}"));
    (args.clone(), cli)
}

#[test]
fn the_indexed_job_runs_one_shard_per_index_each_with_its_own_journal() {
    use cluster_client::vocab::shard::{self, Shard};
    let file = "kubernetes/bulk/job/bulk-job.yaml";
    let text = read(file);
    let (_, cli) = the_cli(file);
    let shard_options = cli.command.parts().shard.expect("create takes --shard");
    let count = shard_options
        .shard_count
        .expect("the Indexed Job's args give --shard-count");
    assert_eq!(scalar(&text, "completionMode"), "Indexed");
    for key in ["completions", "parallelism"] {
        assert_eq!(
            scalar(&text, key),
            count.to_string(),
            "{file}: {key} must equal --shard-count"
        );
    }
    let journals = &cli
        .command
        .parts()
        .journal
        .expect("create takes --journal")
        .journal;
    let [journal] = journals.as_slice() else {
        panic!("{file}: one --journal");
    };
    assert!(
        shard::has_placeholder(journal),
        "{file}: {journal:?} has no {{shard}}"
    );
    // Each index Kubernetes gives a pod is one shard with its own journal, in one directory.
    let mut journals = std::collections::BTreeSet::new();
    for index in 0..count {
        let shard = Shard::resolve(shard_options.shard, Some(count), Some(&index.to_string()))
            .expect("a valid index")
            .expect("a shard");
        assert_eq!(shard.index(), index);
        let path = shard.fill(journal).expect("fill");
        assert_eq!(path.parent(), journal.parent());
        journals.insert(path);
    }
    assert_eq!(journals.len(), count as usize, "shards share a journal");
    let past = count.to_string();
    assert!(
        Shard::resolve(None, Some(count), Some(&past)).is_err(),
        "an index past --shard-count is refused"
    );

    // The bulk CronJob replays that directory, as a directory, on the same claim.
    let cron_file = "kubernetes/bulk/rollback-cronjob.yaml";
    let (_, cron) = the_cli(cron_file);
    let config =
        crate::cli::config::Config::from_cli_in(&cron, None).expect("the CronJob's config");
    let directory = journal.parent().expect("journal directory").to_owned();
    assert!(matches!(config.task, crate::cli::config::Task::Rollback));
    assert_eq!(
        config.journals,
        crate::cli::config::Journals::Several(vec![crate::cli::config::JournalSource::Dir(
            PathBuf::from(format!("{}/", directory.display()))
        )])
    );
    let pvc = read("kubernetes/bulk/journals-pvc.yaml");
    let claim = scalar(&pvc, "name");
    assert!(
        pvc.contains("- ReadWriteMany"),
        "the shards' pods share the volume"
    );
    for manifest in [&text, &read(cron_file)] {
        assert_eq!(scalar(manifest, "claimName"), claim);
    }
    let bulk = read("kubernetes/bulk/kustomization.yaml");
    for needed in [
        "- journals-pvc.yaml",
        "- rollback-cronjob.yaml",
        "- ../release",
    ] {
        assert!(
            bulk.contains(needed),
            "kubernetes/bulk/kustomization.yaml lacks {needed}"
        );
    }
}

#[test]
fn the_indexed_job_reads_the_groups_file_of_its_configmap() {
    let file = "kubernetes/bulk/job/bulk-job.yaml";
    let text = read(file);
    let (args, cli) = the_cli(file);
    let crate::cli::args::Command::Create(change) = &cli.command else {
        panic!("{file}: not a create");
    };
    let from_file = change.groups.from_file.as_deref().expect("--from-file");
    let (mount, name) = (
        from_file.parent().expect("mount").to_str().expect("utf-8"),
        from_file
            .file_name()
            .expect("name")
            .to_str()
            .expect("utf-8"),
    );
    assert!(
        text.contains(&format!("mountPath: {mount}")),
        "{file} does not mount {mount}"
    );
    assert!(text.contains("name: cluster-client-bulk-groups"));
    let kustomization = read("kubernetes/bulk/job/kustomization.yaml");
    for needed in [
        "- bulk-job.yaml".to_owned(),
        "- name: cluster-client-bulk-groups".to_owned(),
        format!("- {name}"),
        "- ../../release".to_owned(),
    ] {
        assert!(
            kustomization.contains(&needed),
            "kubernetes/bulk/job/kustomization.yaml lacks {needed}"
        );
    }
    // The example list is one cluster-client reads, in every shard (checked as shard 0 with a
    // local hosts file and journal).
    let dir = tempfile::tempdir().expect("tempdir");
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, "node1:8080\n").expect("hosts");
    let groups_file = root().join("kubernetes/bulk/job").join(name);
    let local: Vec<String> = args
        .iter()
        .enumerate()
        .map(
            |(i, arg)| match i.checked_sub(1).map(|before| args[before].as_str()) {
                Some("--from-file") => groups_file.display().to_string(),
                Some("--journal") => dir.path().join("j-{shard}.json").display().to_string(),
                _ => arg.clone(),
            },
        )
        .chain(["--hosts".to_owned(), hosts.display().to_string()])
        .collect();
    let cli = parse(&local).expect("parses");
    let config = crate::cli::config::Config::from_cli_in(&cli, Some("0")).expect("a valid list");
    let crate::cli::config::Task::Change { shard, .. } = config.task else {
        panic!("not a change");
    };
    assert!(
        shard.expect("sharded").named > 1,
        "the example list names several groups"
    );
}

/// The lines that harden a pod, comments left out: the security contexts (pod and
/// container), the service account and its token, the image, and the grace period.
fn hardening(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let mut kept = Vec::new();
    let mut block: Option<usize> = None;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(start) = block {
            if indent > start {
                kept.push(trimmed.to_owned());
                continue;
            }
            block = None;
        }
        if trimmed == "securityContext:" {
            block = Some(indent);
            kept.push(trimmed.to_owned());
        } else if [
            "restartPolicy:",
            "serviceAccountName:",
            "automountServiceAccountToken:",
            "enableServiceLinks:",
            "terminationGracePeriodSeconds:",
            "image:",
            "imagePullPolicy:",
            "podReplacementPolicy:",
        ]
        .iter()
        .any(|key| trimmed.starts_with(key))
        {
            kept.push(trimmed.to_owned());
        }
    }
    kept
}

#[test]
fn the_bulk_workloads_are_hardened_like_the_others() {
    for (theirs, ours) in [
        (
            "kubernetes/job/group-job.yaml",
            "kubernetes/bulk/job/bulk-job.yaml",
        ),
        (
            "kubernetes/rollback-cronjob.yaml",
            "kubernetes/bulk/rollback-cronjob.yaml",
        ),
    ] {
        let expected = hardening(&read(theirs));
        assert!(expected.len() > 15, "{theirs}: read only {expected:?}");
        assert_eq!(
            hardening(&read(ours)),
            expected,
            "{ours} differs from {theirs}"
        );
    }
}

/// The lines of a kustomization, without comments, blank lines and the `resources:` entry
/// (its relative path depends on where the overlay sits).
fn overlay_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split(" #").next().unwrap_or(line).trim_end())
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .filter(|line| !line.contains("kubernetes/bulk/job"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_bulk_run_overlay_is_the_one_ci_renders() {
    let docs = read("docs/kubernetes.md");
    let start = docs
        .find("# runs/tenants-2026-12/kustomization.yaml")
        .expect("docs/kubernetes.md shows the bulk-run overlay");
    let documented = &docs[start..start + docs[start..].find("```").expect("end of block")];
    let script = read(".ci/packaging.sh");
    let start = script
        .find("<<YAML\n")
        .expect(".ci/packaging.sh writes the overlay")
        + "<<YAML\n".len();
    let rendered = &script[start..start + script[start..].find("\nYAML").expect("end")];
    let documented = overlay_lines(documented);
    assert!(documented.len() > 10, "{documented:?}");
    assert_eq!(documented, overlay_lines(rendered));
}

/// The `CLUSTER_CLIENT_LOCK_WAIT` a workload sets, parsed as the binary parses it.
fn lock_wait(file: &str) -> std::time::Duration {
    let name = "CLUSTER_CLIENT_LOCK_WAIT";
    let flag = flag_for_env(name).unwrap_or_else(|| panic!("{name} is read by no flag"));
    let value = flag_value(&read(file), name);
    parse(&flag_with_value(&flag, &value))
        .unwrap_or_else(|e| panic!("{file}: {name} {value:?} does not parse: {e}"))
        .command
        .parts()
        .lock
        .expect("rollback takes --lock-wait")
        .lock_wait
}

/// A whole number of seconds a manifest sets under `key`.
fn seconds(file: &str, key: &str) -> std::time::Duration {
    let value = scalar(&read(file), key);
    std::time::Duration::from_secs(
        value
            .parse()
            .unwrap_or_else(|e| panic!("{file}: {key}: {value:?}: {e}")),
    )
}

/// Each Job with the CronJob that replays its journals.
const JOB_AND_ITS_CRONJOB: [(&str, &str); 2] = [
    (
        "kubernetes/job/group-job.yaml",
        "kubernetes/rollback-cronjob.yaml",
    ),
    (
        "kubernetes/bulk/job/bulk-job.yaml",
        "kubernetes/bulk/rollback-cronjob.yaml",
    ),
];

// Note: about four request budgets of the default retries (docs/guarantees.md): a replay
// that gets the lock just as its wait runs out still has time for its repairs.
const REPLAY_TIME: std::time::Duration = std::time::Duration::from_secs(90);

#[test]
fn every_lock_wait_gives_up_before_its_deadline_and_a_job_outwaits_a_replay() {
    for (job, cronjob) in JOB_AND_ITS_CRONJOB {
        let cron_wait = lock_wait(cronjob);
        let cron_deadline = seconds(cronjob, "activeDeadlineSeconds");
        assert!(
            cron_wait + REPLAY_TIME <= cron_deadline,
            "{cronjob}: a lock wait of {cron_wait:?} leaves less than {REPLAY_TIME:?} of the \
             {cron_deadline:?} deadline to replay; lower CLUSTER_CLIENT_LOCK_WAIT"
        );
        // The longest a replay holds the lock: the deadline's SIGTERM, then the grace
        // before SIGKILL.
        let held = cron_deadline + seconds(cronjob, "terminationGracePeriodSeconds");
        let job_wait = lock_wait(job);
        assert!(
            job_wait > held,
            "{job}: a lock wait of {job_wait:?} is not longer than {cronjob} can hold the \
             lock ({held:?}), so a Job started during a replay would exit 2"
        );
        let job_deadline = seconds(job, "activeDeadlineSeconds");
        assert!(
            job_wait < job_deadline,
            "{job}: a lock wait of {job_wait:?} is not below its {job_deadline:?} deadline"
        );
    }
}

/// One rule of a `podFailurePolicy`, as far as the test needs it.
#[derive(Debug)]
enum Rule {
    /// `action` when the container's exit code is (`In`) or is not (`NotIn`) in `values`.
    ExitCodes {
        action: String,
        not_in: bool,
        values: Vec<i32>,
    },
    /// `action` when the pod has condition DisruptionTarget (evicted).
    Evicted { action: String },
}

/// The rules of the manifest's `podFailurePolicy`, in order. Each rule is an `- action:` line
/// followed by either `operator:` and `values: [..]` or `- type: DisruptionTarget`.
fn failure_rules(file: &str) -> Vec<Rule> {
    let text = read(file);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "podFailurePolicy:")
        .filter(|l| !l.starts_with('#'))
        .take_while(|l| *l != "template:")
        .collect();
    let mut rules = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(action) = line.strip_prefix("- action: ") else {
            continue;
        };
        let rest: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("- action: "))
            .copied()
            .collect();
        let field = |key: &str| rest.iter().find_map(|l| l.strip_prefix(key));
        let action = action.to_owned();
        rules.push(
            match (field("operator: "), field("values: "), field("- type: ")) {
                (Some(operator), Some(values), None) => Rule::ExitCodes {
                    action,
                    not_in: operator == "NotIn",
                    values: serde_json::from_str(values).expect("values: [..]"),
                },
                (None, None, Some("DisruptionTarget")) => Rule::Evicted { action },
                other => panic!("{file}: a rule this test does not know: {other:?}"),
            },
        );
    }
    rules
}

/// What Kubernetes does with a failed pod: the first rule that matches, or "Count" (against
/// the back-off limit) when none does.
fn decide(rules: &[Rule], exit: i32, evicted: bool) -> &str {
    rules
        .iter()
        .find_map(|rule| match rule {
            Rule::ExitCodes {
                action,
                not_in,
                values,
            } => (values.contains(&exit) != *not_in).then_some(action.as_str()),
            Rule::Evicted { action } => evicted.then_some(action.as_str()),
        })
        .unwrap_or("Count")
}

#[test]
fn an_evicted_pod_that_sent_nothing_is_retried_and_bad_input_or_pending_repairs_fail() {
    // (exit, evicted) -> what the one-shot Job does; the Indexed Job fails the index instead.
    let jobs = [
        ((1, false), "Count"),
        ((1, true), "Ignore"),
        ((2, false), "Fail"),
        ((2, true), "Ignore"),
        ((3, false), "Fail"),
        ((3, true), "Fail"),
        ((137, false), "Fail"),
        ((137, true), "Fail"),
    ];
    for (file, fail) in [
        ("kubernetes/job/group-job.yaml", "FailJob"),
        ("kubernetes/bulk/job/bulk-job.yaml", "FailIndex"),
    ] {
        let rules = failure_rules(file);
        for ((exit, evicted), want) in jobs {
            let want = if want == "Fail" { fail } else { want };
            assert_eq!(
                decide(&rules, exit, evicted),
                want,
                "{file}: exit {exit}, evicted {evicted}: {rules:?}"
            );
        }
    }
    // A replay is idempotent: an evicted one is always started again; exit 2 otherwise
    // needs a person, and the rest waits for the next scheduled run (backoffLimit 0).
    for file in [
        "kubernetes/rollback-cronjob.yaml",
        "kubernetes/bulk/rollback-cronjob.yaml",
    ] {
        let rules = failure_rules(file);
        for exit in [1, 2, 3, 137] {
            assert_eq!(decide(&rules, exit, true), "Ignore", "{file}: exit {exit}");
        }
        assert_eq!(decide(&rules, 2, false), "FailJob", "{file}");
        assert_eq!(decide(&rules, 3, false), "Count", "{file}");
    }
}
