{{/*
Names. As in MetalLB's chart: the chart's name unless nameOverride; the full
name is the release's when it already holds that name (`helm install ferrolb`
gives `ferrolb`, hence `ferrolb-controller`, the names of deploy/), else
RELEASE-NAME; fullnameOverride replaces it.
*/}}
{{- define "ferrolb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferrolb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "ferrolb.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The controller's and the speaker's object names. */}}
{{- define "ferrolb.controller.fullname" -}}
{{- printf "%s-controller" (include "ferrolb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "ferrolb.speaker.fullname" -}}
{{- printf "%s-speaker" (include "ferrolb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ServiceAccounts: the given name, else the component's (when created) or "default". */}}
{{- define "ferrolb.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "ferrolb.controller.fullname" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}
{{- define "ferrolb.speaker.serviceAccountName" -}}
{{- if .Values.speaker.serviceAccount.create }}
{{- default (include "ferrolb.speaker.fullname" .) .Values.speaker.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.speaker.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret whose `secretkey` authenticates the speakers' gossip. */}}
{{- define "ferrolb.memberlistSecretName" -}}
{{- default (printf "%s-memberlist" (include "ferrolb.fullname" .)) .Values.speaker.secretName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The image both components run. */}}
{{- define "ferrolb.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
Labels. What selects the pods is the two labels of deploy/ (name and
component): selectors cannot change after install. Every object also gets
Helm's usual labels.
*/}}
{{- define "ferrolb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrolb.name" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ferrolb.labels" -}}
{{ include "ferrolb.selectorLabels" . }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
RUST_LOG for MetalLB's logLevel names; nothing for `info` (the daemons'
default), so that the default pods are deploy/'s.
*/}}
{{- define "ferrolb.rustLog" -}}
{{- $levels := dict "all" "trace" "debug" "debug" "info" "" "warn" "warn" "error" "error" "none" "off" }}
{{- if not (hasKey $levels .) }}
{{- fail (printf "logLevel %q is not one of all, debug, info, warn, error, none" .) }}
{{- end }}
{{- get $levels . }}
{{- end }}

{{/* A probe of the health port: the probe's values (enabled excluded) over `path`. */}}
{{- define "ferrolb.probe" -}}
httpGet:
  path: {{ .path }}
  port: health
{{- range $key := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "successThreshold" "failureThreshold" }}
{{- if and (hasKey $.probe $key) (not (kindIs "invalid" (index $.probe $key))) }}
{{ $key }}: {{ index $.probe $key }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The HTTPS port of /metrics (prometheus.metricsPort, as MetalLB's: 9120).
The probes and the scrape annotations use the plain port, 7472.
*/}}
{{- define "ferrolb.metricsPort" -}}
{{- int .Values.prometheus.metricsPort }}
{{- end }}

{{/*
The args of a component's HTTPS metrics: another port than 9120, and the
certificate directory when its Secret is given (mounted at /etc/metrics).
*/}}
{{- define "ferrolb.secureMetricsArgs" -}}
{{- $port := int .root.Values.prometheus.metricsPort }}
{{- if ne $port 9120 }}
- --secure-metrics-address
- {{ printf "0.0.0.0:%d" $port | quote }}
{{- end }}
{{- if .secret }}
- --metrics-cert-dir
- /etc/metrics
{{- end }}
{{- end }}
