//! Rendering tests: templates and values whose `helm template` output is known from Helm's and
//! Go's documented behaviour, compared byte for byte.

mod common;

use common::{chart, render_err, render_text, render_tgz, tgz};

#[test]
fn values_release_and_chart_objects() {
    let t = "name: {{ .Release.Name }}-{{ .Chart.Name }}\nns: {{ .Release.Namespace }}\nv: {{ .Chart.Version }}\napp: {{ .Chart.AppVersion | quote }}\nsvc: {{ .Release.Service }}\nreplicas: {{ .Values.replicaCount }}\n";
    assert_eq!(
        render_text("replicaCount: 3", t),
        "name: release-name-demo\nns: default\nv: 0.1.0\napp: \"1.0\"\nsvc: Helm\nreplicas: 3\n"
    );
}

#[test]
fn numbers_from_values_print_like_helm() {
    // values.yaml numbers are float64 in Helm: large ones print in exponent form unless
    // converted with int.
    let t = "a: {{ .Values.big }}\nb: {{ int .Values.big }}\nc: {{ .Values.half }}\n";
    assert_eq!(
        render_text("big: 1000000\nhalf: 0.5", t),
        "a: 1e+06\nb: 1000000\nc: 0.5\n"
    );
}

#[test]
fn whitespace_trimming() {
    let t = "a:\n  {{- if true }}\n  b: 1\n  {{- end }}\nc: 2\n";
    assert_eq!(render_text("", t), "a:\n  b: 1\nc: 2\n");
    let t2 = "x: {{- \" y\" -}}   \n\n z";
    assert_eq!(render_text("", t2), "x: yz");
}

#[test]
fn if_else_if_else_and_comparisons() {
    let t = "{{ if eq .Values.mode \"a\" }}A{{ else if eq .Values.mode \"b\" }}B{{ else }}C{{ end }}";
    assert_eq!(render_text("mode: a", t), "A");
    assert_eq!(render_text("mode: b", t), "B");
    assert_eq!(render_text("mode: z", t), "C");
    let t2 = "{{ if and .Values.on (gt (len .Values.list) 1) }}yes{{ else }}no{{ end }}";
    assert_eq!(render_text("on: true\nlist: [1, 2]", t2), "yes");
    assert_eq!(render_text("on: true\nlist: [1]", t2), "no");
    // `and` short-circuits: the nil field is never evaluated.
    assert_eq!(
        render_text("", "{{ if and .Values.x .Values.x.y }}a{{ else }}b{{ end }}"),
        "b"
    );
}

#[test]
fn range_over_lists_maps_and_variables() {
    let values = "ports: [80, 443]\nlabels: {b: two, a: one}";
    let t = "{{- range $i, $p := .Values.ports }}\n- {{ $i }}:{{ $p }}\n{{- end }}\n{{- range $k, $v := .Values.labels }}\n{{ $k }}={{ $v }}\n{{- end }}";
    assert_eq!(render_text(values, t), "\n- 0:80\n- 1:443\na=one\nb=two");
    let t2 = "{{ range .Values.none }}x{{ else }}empty{{ end }}";
    assert_eq!(render_text("none: []", t2), "empty");
    let t3 = "{{ $root := . }}{{ range .Values.ports }}{{ $root.Release.Name }}:{{ . }} {{ end }}";
    assert_eq!(render_text(values, t3), "release-name:80 release-name:443 ");
    let t4 = "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}";
    assert_eq!(render_text("", t4), "2");
    let t5 = "{{ range $i, $e := until 10 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $e }}{{ end }}";
    assert_eq!(render_text("", t5), "02");
}

#[test]
fn with_changes_dot_and_has_else() {
    let t = "{{ with .Values.image }}{{ .repository }}:{{ .tag }}{{ else }}none{{ end }}";
    assert_eq!(render_text("image: {repository: nginx, tag: '1.25'}", t), "nginx:1.25");
    assert_eq!(render_text("", t), "none");
}

#[test]
fn default_and_required() {
    let t = "tag: {{ .Values.image.tag | default .Chart.AppVersion }}\nport: {{ .Values.port | default 8080 }}";
    assert_eq!(render_text("image: {tag: ''}", t), "tag: 1.0\nport: 8080");
    let t2 = "host: {{ required \"ingress.host is required\" .Values.ingress.host }}";
    assert_eq!(render_text("ingress: {host: a.example}", t2), "host: a.example");
    let err = render_err("ingress: {}", t2);
    assert!(err.contains("ingress.host is required"), "{err}");
}

#[test]
fn missing_values_print_empty_and_nil_fields_fail() {
    assert_eq!(render_text("", "a: {{ .Values.nope }}"), "a: ");
    let err = render_err("", "{{ .Values.missing.field }}");
    assert!(err.contains("nil pointer evaluating interface {}.field"), "{err}");
    let err = render_err("a: null", "{{ .Values.a.b }}");
    assert!(err.contains("nil pointer evaluating interface {}.b"), "{err}");
    // A nil out of a parenthesised pipeline or a variable is untyped: its fields are nil.
    assert_eq!(render_text("", "v={{ (.Values.global).kubeVersion }}"), "v=");
    assert_eq!(render_text("", "{{ $g := .Values.nope }}v={{ $g.x }}"), "v=");
    assert_eq!(
        render_text(
            "",
            "{{ default (default \"v1.2\" .Values.kubeVersion) ((.Values.global).kubeVersion) }}"
        ),
        "v1.2"
    );
}

#[test]
fn helpers_include_nindent_and_to_yaml() {
    let helpers = r#"{{- define "demo.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}
{{- define "demo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}"#;
    let deploy = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "demo.fullname" . }}
  labels:
    {{- include "demo.labels" . | nindent 4 }}
spec:
  template:
    spec:
      containers:
      - name: app
        resources:
          {{- toYaml .Values.resources | nindent 10 }}
"#;
    let values = "resources:\n  limits: {cpu: 100m, memory: 128Mi}\n  requests: {cpu: 50m}\n";
    let out = render_tgz(&chart(
        "demo",
        "",
        values,
        &[("templates/_helpers.tpl", helpers), ("templates/deploy.yaml", deploy)],
    ));
    assert_eq!(out.len(), 1, "partials are not rendered on their own");
    let expected = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: release-name-demo
  labels:
    app.kubernetes.io/name: demo
    app.kubernetes.io/instance: release-name
spec:
  template:
    spec:
      containers:
      - name: app
        resources:
          limits:
            cpu: 100m
            memory: 128Mi
          requests:
            cpu: 50m
"#;
    assert_eq!(out[0].rendered, expected);
    assert_eq!(out[0].result.as_ref().unwrap().len(), 1);
}

#[test]
fn tpl_renders_values_as_templates() {
    let values = "host: \"{{ .Release.Name }}.example.com\"\nextra: |\n  name: {{ .Chart.Name }}\n";
    assert_eq!(
        render_text(values, "h: {{ tpl .Values.host . }}\n{{ tpl .Values.extra . }}"),
        "h: release-name.example.com\nname: demo\n"
    );
}

#[test]
fn sprig_string_and_collection_functions() {
    let t = r#"{{ "Hello" | upper }} {{ lower "ABC" }} {{ replace "-" "_" "a-b" }} {{ "abc" | squote }} {{ b64enc "user:pw" }}
{{ list 1 2 3 | join "," }} {{ dict "a" 1 "b" 2 | keys | sortAlpha | join "" }} {{ ternary "y" "n" true }} {{ hasPrefix "ab" "abc" }}
{{ $d := dict "k" "v" }}{{ $_ := set $d "k2" "v2" }}{{ $d | toJson }} {{ merge (dict "a" 1) (dict "a" 2 "b" 3) | toJson }}
{{ semverCompare ">=1.21-0" .Capabilities.KubeVersion.GitVersion }} {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "foo/v9" }}
{{ printf "%s:%d" "port" 80 }} {{ "  x  " | trim }} {{ coalesce "" nil "z" }} {{ empty "" }} {{ "a,b" | splitList "," | last }}"#;
    let expected = "HELLO abc a_b 'abc' dXNlcjpwdw==\n1,2,3 ab y true\n{\"k\":\"v\",\"k2\":\"v2\"} {\"a\":1,\"b\":3}\ntrue true false\nport:80 x z true b";
    assert_eq!(render_text("", t), expected);
}

#[test]
fn to_yaml_of_lists_and_strings_matches_helm() {
    let values = "env:\n- name: A\n  value: '1'\n- name: B\n  value: 'true'\nannotations: {}\n";
    let t = "env:\n{{ toYaml .Values.env | indent 2 }}\nann: {{ toYaml .Values.annotations }}";
    assert_eq!(
        render_text(values, t),
        "env:\n  - name: A\n    value: \"1\"\n  - name: B\n    value: \"true\"\nann: {}"
    );
}

#[test]
fn subcharts_get_their_values_and_globals() {
    let files = [
        ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 1.x\n  repository: https://charts.example.com\n"),
        ("app/values.yaml", "global: {env: prod}\ndb: {port: 5433}\n"),
        ("app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\ndata:\n  dbport: {{ .Values.db.port | quote }}\n  env: {{ .Values.global.env }}\n"),
        ("app/charts/db/Chart.yaml", "apiVersion: v2\nname: db\nversion: 2.0.0\n"),
        ("app/charts/db/values.yaml", "port: 5432\nuser: admin\n"),
        ("app/charts/db/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Chart.Name }}}\ndata:\n  port: {{ .Values.port | quote }}\n  user: {{ .Values.user }}\n  env: {{ .Values.global.env }}\n"),
    ];
    let out = render_tgz(&tgz(&files));
    let top = out.iter().find(|o| o.location == "templates/cm.yaml").unwrap();
    assert_eq!(
        top.rendered,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\ndata:\n  dbport: \"5433\"\n  env: prod\n"
    );
    let sub = out
        .iter()
        .find(|o| o.location == "charts/db/templates/cm.yaml")
        .unwrap();
    assert_eq!(
        sub.rendered,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\ndata:\n  port: \"5433\"\n  user: admin\n  env: prod\n"
    );
}

#[test]
fn packaged_subchart_tgz_and_disabled_condition() {
    let sub = tgz(&[
        ("cache/Chart.yaml", "apiVersion: v2\nname: cache\nversion: 1.0.0\n"),
        (
            "cache/templates/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cache}\n",
        ),
    ]);
    let parent = |enabled: bool| {
        common::tgz_bytes(&[
            ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- {name: cache, version: 1.0.0, repository: 'oci://r.example/charts', condition: cache.enabled}\n".to_vec()),
            ("app/values.yaml", format!("cache: {{enabled: {enabled}}}\n").into_bytes()),
            ("app/charts/cache-1.0.0.tgz", sub.clone()),
        ])
    };
    let on = render_tgz(&parent(true));
    assert!(on.iter().any(|o| o.location == "charts/cache/templates/x.yaml"));
    let off = render_tgz(&parent(false));
    assert!(off.is_empty());
}

#[test]
fn files_object() {
    let files = [
        ("demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
        ("demo/conf/app.conf", "a=1\nb=2"),
        ("demo/templates/cm.yaml", "data:\n  app.conf: |-\n{{ .Files.Get \"conf/app.conf\" | indent 4 }}\n{{ (.Files.Glob \"conf/*\").AsConfig | indent 2 }}\nlines: {{ len (.Files.Lines \"conf/app.conf\") }}\n"),
    ];
    let out = render_tgz(&tgz(&files));
    assert_eq!(
        out[0].rendered,
        "data:\n  app.conf: |-\n    a=1\n    b=2\n  app.conf: |-\n    a=1\n    b=2\nlines: 2\n"
    );
}

#[test]
fn unsupported_functions_and_parse_errors_are_reported_per_template() {
    let out = render_tgz(&chart(
        "demo",
        "",
        "",
        &[
            (
                "templates/good.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
            ),
            (
                "templates/cert.yaml",
                "{{ $ip := getHostByName \"example.com\" }}ip: {{ $ip }}\n",
            ),
            ("templates/broken.yaml", "{{ if .Values.x }}\nno end\n"),
            ("templates/notyaml.yaml", "a: [1\n"),
        ],
    ));
    let get = |l: &str| out.iter().find(|o| o.location == l).unwrap();
    assert!(get("templates/good.yaml").result.is_ok());
    assert!(get("templates/cert.yaml")
        .result
        .as_ref()
        .unwrap_err()
        .contains("not supported"));
    assert!(get("templates/broken.yaml")
        .result
        .as_ref()
        .unwrap_err()
        .contains("unexpected EOF"));
    assert!(get("templates/notyaml.yaml")
        .result
        .as_ref()
        .unwrap_err()
        .contains("not valid YAML"));
}

#[test]
fn block_and_template_actions() {
    let t = "{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" \"a\" }}{{ block \"y\" 2 }}<{{ . }}>{{ end }}";
    assert_eq!(render_text("", t), "[a]<2>");
}

#[test]
fn library_chart_helpers_in_the_bitnami_style() {
    let common = r#"{{- define "common.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- define "common.tplvalues.render" -}}
{{- $value := typeIs "string" .value | ternary .value (.value | toYaml) }}
{{- if contains "{{" (toJson .value) }}
  {{- if .scope }}
      {{- tpl (cat "{{- with $.RelativeScope -}}" $value "{{- end }}") (merge (dict "RelativeScope" .scope) .context) }}
  {{- else }}
    {{- tpl $value .context }}
  {{- end }}
{{- else }}
    {{- $value }}
{{- end }}
{{- end -}}
{{- define "common.images.image" -}}
{{- $registryName := default .imageRoot.registry ((.global).imageRegistry) -}}
{{- $separator := ":" -}}
{{- $termination := .imageRoot.tag | toString -}}
{{- if .imageRoot.digest }}
    {{- $separator = "@" -}}
    {{- $termination = .imageRoot.digest | toString -}}
{{- end -}}
{{- if $registryName }}
    {{- printf "%s/%s%s%s" $registryName .imageRoot.repository $separator $termination -}}
{{- else -}}
    {{- printf "%s%s%s" .imageRoot.repository $separator $termination -}}
{{- end -}}
{{- end -}}"#;
    let app = r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ include "common.names.fullname" . }}
  annotations: {{- include "common.tplvalues.render" (dict "value" .Values.podAnnotations "context" $) | nindent 4 }}
spec:
  containers:
  - name: app
    image: {{ include "common.images.image" (dict "imageRoot" .Values.image "global" .Values.global) }}
"#;
    let files = [
        ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- {name: common, version: 2.x.x, repository: 'oci://registry-1.docker.io/bitnamicharts', tags: [bitnami-common]}\n"),
        ("app/values.yaml", "image: {registry: docker.io, repository: bitnami/nginx, tag: 1.25.3}\npodAnnotations: {owner: '{{ .Release.Name }}'}\n"),
        ("app/templates/pod.yaml", app),
        ("app/charts/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 2.13.0\ntype: library\n"),
        ("app/charts/common/templates/_names.tpl", common),
        ("app/charts/common/templates/should-not-render.yaml", "kind: ConfigMap\n"),
    ];
    let out = render_tgz(&tgz(&files));
    assert_eq!(out.len(), 1, "library charts render nothing themselves");
    // toYaml single-quotes a value starting with `{`, and tpl keeps the quotes, as in Helm.
    assert_eq!(
        out[0].rendered,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: release-name-app\n  annotations:\n    owner: 'release-name'\nspec:\n  containers:\n  - name: app\n    image: docker.io/bitnami/nginx:1.25.3\n"
    );
}

#[test]
fn idioms_from_widely_used_charts() {
    let values = "a: false\nb: false\nn: ~\naffinity: {nodeAffinity: {extra: 1}}\n";
    let t = r#"{{- define "aff" -}}
nodeAffinity:
  base: 0
{{- end -}}
t={{ ternary true false (or .Values.a .Values.b) }}
k={{ if kindIs "bool" .Values.n }}bool{{ else }}not{{ end }}
{{- $d := include "aff" . | fromYaml }}
{{- with .Values.affinity }}{{ $_ := set $d "nodeAffinity" (mergeOverwrite $d.nodeAffinity .nodeAffinity) }}{{ end }}
{{ toYaml $d }}
c={{ concat (list 1) (list) (list 2 3) | len }} m={{ eq (typeOf (dict)) "map[string]interface {}" }}"#;
    assert_eq!(
        render_text(values, t),
        "t=false\nk=not\nnodeAffinity:\n  base: 0\n  extra: 1\nc=3 m=true"
    );
}

#[test]
fn certificate_and_password_functions_render_helm_shaped_output() {
    // The Bitnami pattern: a CA, a certificate signed by it, a basic-auth file.
    let t = r#"{{- $ca := genCA "demo-ca" 365 }}
{{- $cert := genSignedCert "demo" (list "127.0.0.1") (list "demo.default.svc") 365 $ca }}
{{- $self := genSelfSignedCert "self" nil nil 30 }}
apiVersion: v1
kind: Secret
metadata:
  name: demo-tls
type: kubernetes.io/tls
data:
  ca.crt: {{ $ca.Cert | b64enc }}
  tls.crt: {{ $cert.Cert | b64enc }}
  tls.key: {{ $cert.Key | b64enc }}
  self.crt: {{ $self.Cert | b64enc }}
  auth: {{ htpasswd "admin" "changeme" | b64enc }}
"#;
    let out = render_tgz(&chart("demo", "", "", &[("templates/tls.yaml", t)]));
    let docs = out[0].result.as_ref().expect("renders");
    let data = &docs[0]["data"];
    let decode = |k: &str| {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD
            .decode(data[k].as_str().unwrap())
            .unwrap();
        String::from_utf8(b).unwrap()
    };
    for k in ["ca.crt", "tls.crt", "self.crt"] {
        assert!(decode(k).starts_with("-----BEGIN CERTIFICATE-----\n"), "{k}");
    }
    assert!(decode("tls.key").contains("PRIVATE KEY-----"));
    assert!(decode("auth").starts_with("admin:$2a$10$"), "{}", decode("auth"));
}

#[test]
fn has_key_on_a_nil_lookup_is_false() {
    // Bitnami's "reuse the existing password" idiom under `helm template`, where lookup finds
    // nothing.
    let t = r#"{{- $secret := (lookup "v1" "Secret" .Release.Namespace "db").data }}
reused: {{ hasKey $secret "password" }}
"#;
    assert_eq!(render_text("", t).trim(), "reused: false");
}

#[test]
fn go_regexps_that_rust_rejects_are_translated() {
    // redis-ha validates hostnames with an RE2 class that Rust's syntax reads as a bad range.
    let t = r#"ok: {{ regexMatch "^[\\w-\\.]+$" "redis-ha.default_1" }}
bad: {{ regexMatch "^[\\w-\\.]+$" "redis ha" }}
quoted: {{ regexQuoteMeta "v1.2-rc" }}
"#;
    assert_eq!(render_text("", t), "ok: true\nbad: false\nquoted: v1\\.2-rc\n");
}

#[test]
fn errors_inside_an_included_helper_name_the_helpers_file() {
    let helpers = "{{/* helpers */}}\n{{- define \"demo.password\" -}}\n\n{{ required \"auth.password is required\" .Values.auth.password }}\n{{- end }}\n";
    let t = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  pw: {{ include \"demo.password\" . }}\n";
    let out = render_tgz(&chart(
        "demo",
        "",
        "auth: {}\n",
        &[("templates/_helpers.tpl", helpers), ("templates/secret.yaml", t)],
    ));
    let o = out.iter().find(|o| o.location == "templates/secret.yaml").unwrap();
    let e = o.result.as_ref().unwrap_err();
    assert!(e.contains("demo/templates/_helpers.tpl:4:"), "{e}");
    assert!(!e.contains("secret.yaml"), "{e}");
    // Back in the including file, its own lines are named again.
    let t2 = "{{ include \"demo.ok\" . }}\n{{ fail \"own line\" }}\n";
    let helpers2 = "{{ define \"demo.ok\" }}fine{{ end }}";
    let out = render_tgz(&chart(
        "demo",
        "",
        "",
        &[("templates/_helpers.tpl", helpers2), ("templates/t.yaml", t2)],
    ));
    let e = out
        .iter()
        .find(|o| o.location == "templates/t.yaml")
        .unwrap()
        .result
        .clone()
        .unwrap_err();
    assert!(e.contains("demo/templates/t.yaml:2:"), "{e}");
}
