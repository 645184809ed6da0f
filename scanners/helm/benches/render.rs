//! Benchmark: a chart of 50 templates (deployments, services, config maps, service accounts and
//! ingresses built from `_helpers.tpl` the way generated charts are) is unpacked, rendered and
//! checked end to end. Target: well under 100 ms per scan.
//!
//! Run with `cargo bench -p regscan-scanner-helm`.

use std::io::Write as _;
use std::time::Instant;

use regscan_scanner_helm::{HelmConfig, HelmScanner};

const HELPERS: &str = r#"{{- define "bench.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "bench.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}
{{- define "bench.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bench.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "bench.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bench.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
"#;

fn deployment(i: usize) -> String {
    format!(
        r#"{{{{- $c := index .Values.components {i} }}}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ include "bench.fullname" . }}}}-{{{{ $c.name }}}}
  labels:
    {{{{- include "bench.labels" . | nindent 4 }}}}
spec:
  replicas: {{{{ $c.replicas | default 1 }}}}
  selector:
    matchLabels:
      {{{{- include "bench.selectorLabels" . | nindent 6 }}}}
  template:
    metadata:
      annotations:
        checksum/config: {{{{ $c | toJson | sha256sum }}}}
      labels:
        {{{{- include "bench.selectorLabels" . | nindent 8 }}}}
    spec:
      serviceAccountName: {{{{ include "bench.fullname" . }}}}
      securityContext:
        {{{{- toYaml .Values.podSecurityContext | nindent 8 }}}}
      containers:
        - name: {{{{ $c.name }}}}
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag | default .Chart.AppVersion }}}}"
          securityContext:
            {{{{- toYaml .Values.securityContext | nindent 12 }}}}
          ports:
          {{{{- range $p := $c.ports }}}}
            - name: port-{{{{ $p }}}}
              containerPort: {{{{ $p }}}}
          {{{{- end }}}}
          env:
          {{{{- range $k, $v := .Values.env }}}}
            - name: {{{{ $k | upper }}}}
              value: {{{{ $v | quote }}}}
          {{{{- end }}}}
          resources:
            {{{{- toYaml .Values.resources | nindent 12 }}}}
"#
    )
}

fn service(i: usize) -> String {
    format!(
        "{{{{- $c := index .Values.components {i} }}}}\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{{{ include \"bench.fullname\" . }}}}-{{{{ $c.name }}}}\n  labels:\n    {{{{- include \"bench.labels\" . | nindent 4 }}}}\nspec:\n  type: {{{{ .Values.service.type }}}}\n  ports:\n  {{{{- range $c.ports }}}}\n    - port: {{{{ . }}}}\n      targetPort: {{{{ . }}}}\n  {{{{- end }}}}\n  selector:\n    {{{{- include \"bench.selectorLabels\" . | nindent 4 }}}}\n"
    )
}

fn configmap(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ include \"bench.fullname\" . }}}}-cfg-{i}\ndata:\n  {{{{- range $k, $v := .Values.config }}}}\n  {{{{ $k }}}}: {{{{ tpl ($v | toString) $ | quote }}}}\n  {{{{- end }}}}\n"
    )
}

fn ingress(i: usize) -> String {
    format!(
        "{{{{- if .Values.ingress.enabled }}}}\n{{{{- $c := index .Values.components {i} }}}}\napiVersion: {{{{ if semverCompare \">=1.19-0\" .Capabilities.KubeVersion.GitVersion }}}}networking.k8s.io/v1{{{{ else }}}}networking.k8s.io/v1beta1{{{{ end }}}}\nkind: Ingress\nmetadata:\n  name: {{{{ include \"bench.fullname\" . }}}}-{{{{ $c.name }}}}\nspec:\n  rules:\n  {{{{- range .Values.ingress.hosts }}}}\n    - host: {{{{ .host | quote }}}}\n      http:\n        paths:\n        {{{{- range .paths }}}}\n          - path: {{{{ .path }}}}\n            pathType: Prefix\n            backend:\n              service:\n                name: {{{{ $c.name }}}}\n                port:\n                  number: {{{{ index $c.ports 0 }}}}\n        {{{{- end }}}}\n  {{{{- end }}}}\n{{{{- end }}}}\n"
    )
}

fn values() -> String {
    let mut v = String::from(
        "image:\n  repository: registry.example.com/bench\n  tag: ''\nservice:\n  type: ClusterIP\npodSecurityContext:\n  runAsNonRoot: true\n  runAsUser: 1000\n  fsGroup: 1000\nsecurityContext:\n  allowPrivilegeEscalation: false\n  readOnlyRootFilesystem: true\n  capabilities:\n    drop: [ALL]\nresources:\n  limits: {cpu: 500m, memory: 256Mi}\n  requests: {cpu: 100m, memory: 128Mi}\nenv:\n  log_level: info\n  mode: production\n  region: eu-west-1\nconfig:\n  a: '{{ .Release.Name }}'\n  b: plain\n  c: '{{ .Chart.Name }}-{{ .Chart.Version }}'\ningress:\n  enabled: true\n  hosts:\n  - host: bench.example.com\n    paths: [{path: /}, {path: /api}]\ncomponents:\n",
    );
    for i in 0..10 {
        v.push_str(&format!(
            "- name: comp{i}\n  replicas: {}\n  ports: [80{i}0, 90{i}0]\n",
            i % 3 + 1
        ));
    }
    v
}

fn chart() -> Vec<u8> {
    let mut files: Vec<(String, String)> = vec![
        (
            "bench/Chart.yaml".into(),
            "apiVersion: v2\nname: bench\nversion: 1.2.3\nappVersion: \"4.5.6\"\nkubeVersion: \">=1.23.0-0\"\n".into(),
        ),
        ("bench/values.yaml".into(), values()),
        ("bench/templates/_helpers.tpl".into(), HELPERS.into()),
    ];
    for i in 0..10 {
        files.push((format!("bench/templates/deploy-{i}.yaml"), deployment(i)));
        files.push((format!("bench/templates/svc-{i}.yaml"), service(i)));
        files.push((format!("bench/templates/cm-{i}.yaml"), configmap(i)));
        files.push((format!("bench/templates/ingress-{i}.yaml"), ingress(i)));
        files.push((
            format!("bench/templates/sa-{i}.yaml"),
            format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{{{ include \"bench.fullname\" . }}}}-sa-{i}\nautomountServiceAccountToken: false\n"),
        ));
    }
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (p, c) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, p, c.as_bytes()).expect("append");
    }
    let mut gz = b.into_inner().expect("tar");
    gz.flush().expect("flush");
    gz.finish().expect("gzip")
}

fn main() {
    let bytes = chart();
    let scanner = HelmScanner::new(HelmConfig::default());
    // Warm up and check the chart renders cleanly.
    let out = scanner.scan_chart(&bytes, None).expect("bench chart scans");
    let objects = out.details["objects"].as_array().map_or(0, Vec::len);
    let gaps = out.details["render_errors"].as_array().map_or(0, Vec::len);
    assert_eq!(gaps, 0, "bench chart must render: {}", out.details["render_errors"]);
    let runs = 50;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = scanner.scan_chart(&bytes, None).expect("scan");
        times.push(t.elapsed());
        std::hint::black_box(out);
    }
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / runs as f64;
    println!(
        "helm chart scan: 50 templates, {} bytes compressed, {objects} objects, {} findings",
        bytes.len(),
        out.findings.len()
    );
    println!(
        "  {runs} runs: min {:.2} ms, median {:.2} ms, mean {mean:.2} ms, max {:.2} ms",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[runs - 1])
    );
}
