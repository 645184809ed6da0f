{{- define "regscan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regscan.fullname" -}}
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

{{- define "regscan.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "regscan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "regscan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regscan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "regscan.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "regscan.secretName" -}}
{{- default (include "regscan.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "regscan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "regscan.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Environment shared by the receiver and the workers: secrets by reference only. */}}
{{- define "regscan.env" -}}
{{- $secret := include "regscan.secretName" . }}
{{- $full := include "regscan.fullname" . }}
- name: REGSCAN_WEBHOOK_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.webhookTokenKey }}}
- name: REGSCAN_API_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.apiTokenKey }}}
{{- if .Values.postgresql.enabled }}
- name: REGSCAN_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.postgresql.passwordKey }}}
- name: REGSCAN_DATABASE_URL
  value: {{ printf "postgres://regscan:$(REGSCAN_POSTGRES_PASSWORD)@%s-postgresql:5432/regscan" $full | quote }}
{{- else }}
- name: REGSCAN_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.databaseUrlKey }}}
{{- end }}
{{- if .Values.rabbitmq.enabled }}
- name: REGSCAN_RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.rabbitmq.passwordKey }}}
- name: REGSCAN_QUEUE_URL
  value: {{ printf "amqp://regscan:$(REGSCAN_RABBITMQ_PASSWORD)@%s-rabbitmq:5672/%%2f" $full | quote }}
{{- else }}
- name: REGSCAN_QUEUE_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.queueUrlKey }}}
{{- end }}
{{- range $i, $r := .Values.config.registries }}
{{- if $r.passwordSecret }}
- name: {{ printf "REGSCAN_REGISTRY_PASSWORD_%d" $i }}
  valueFrom:
    secretKeyRef: {name: {{ $r.passwordSecret.name }}, key: {{ $r.passwordSecret.key }}}
{{- end }}
{{- end }}
- name: TMPDIR
  value: /tmp
{{- end }}

{{- define "regscan.volumes" -}}
- name: config
  configMap:
    name: {{ include "regscan.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: 256Mi
{{- end }}

{{- define "regscan.volumeMounts" -}}
- name: config
  mountPath: /etc/regscan
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/regscan
{{- end }}
