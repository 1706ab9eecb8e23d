{{/* Names, labels, images and shared pod pieces of the samem chart. */}}

{{- define "samem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "samem.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>"; call with (dict "root" $ "component" "triton"). */}}
{{- define "samem.componentName" -}}
{{- printf "%s-%s" (include "samem.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "samem.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component. */}}
{{- define "samem.selectorLabels" -}}
app.kubernetes.io/name: {{ include "samem.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels of one component. */}}
{{- define "samem.labels" -}}
helm.sh/chart: {{ include "samem.chart" .root }}
{{ include "samem.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: samem
{{- end -}}

{{- define "samem.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "samem.dashboardImage" -}}
{{- printf "%s:%s" .Values.dashboard.image.repository (default .Chart.AppVersion .Values.dashboard.image.tag) -}}
{{- end -}}

{{- define "samem.tokensSecret" -}}
{{- default (include "samem.componentName" (dict "root" . "component" "tokens")) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "samem.storageClaim" -}}
{{- default (include "samem.componentName" (dict "root" . "component" "storage")) .Values.storage.existingClaim -}}
{{- end -}}

{{- define "samem.redisHost" -}}
{{- include "samem.componentName" (dict "root" . "component" "redis") -}}
{{- end -}}

{{/* host:port of the Redis the chart runs, for KEDA's redis trigger; an external Redis names its own. */}}
{{- define "samem.redisAddress" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s:%d" (include "samem.redisHost" .) (int .Values.redis.port) -}}
{{- else -}}
{{- .Values.autoscaling.keda.redisAddress -}}
{{- end -}}
{{- end -}}

{{/* What workers pass as --backend: explicit, or the chart's Triton, or in process. */}}
{{- define "samem.workerBackend" -}}
{{- if .Values.worker.backend -}}
{{- .Values.worker.backend -}}
{{- else if .Values.triton.enabled -}}
{{- printf "triton://%s:%d" (include "samem.componentName" (dict "root" . "component" "triton")) (int .Values.triton.ports.grpc) -}}
{{- else -}}
local
{{- end -}}
{{- end -}}

{{/* Model spec NAME:CHECKPOINT on the models volume. */}}
{{- define "samem.modelSpec" -}}
{{- if .Values.model.checkpoint -}}
{{- printf "%s:%s/%s" .Values.model.name .Values.models.mountPath .Values.model.checkpoint -}}
{{- else -}}
{{- .Values.model.name -}}
{{- end -}}
{{- end -}}

{{/* The name of the main model in the catalogue (the default). */}}
{{- define "samem.defaultModel" -}}
{{- default (base .Values.model.name | trimSuffix ".yaml" | trimSuffix ".yml") .Values.model.catalogueName -}}
{{- end -}}

{{/* SAMEM_MODELS: name=SPEC of the main model, then of each model.extra (checkpoints on the models volume). */}}
{{- define "samem.modelCatalogue" -}}
{{- $root := . -}}
{{- $entries := list (printf "%s=%s" (include "samem.defaultModel" .) (include "samem.modelSpec" .)) -}}
{{- range .Values.model.extra -}}
{{- if .checkpoint -}}
{{- $entries = append $entries (printf "%s=%s:%s/%s" .name .model $root.Values.models.mountPath .checkpoint) -}}
{{- else -}}
{{- $entries = append $entries (printf "%s=%s" .name .model) -}}
{{- end -}}
{{- end -}}
{{- join "," $entries -}}
{{- end -}}

{{/* The service's gRPC probe: native gRPC, or the TCP port when it serves TLS (probes cannot speak TLS). */}}
{{- define "samem.grpcProbe" -}}
{{- if .Values.tls.enabled -}}
tcpSocket:
  port: {{ .Values.service.port }}
{{- else -}}
grpc:
  port: {{ .Values.service.port }}
{{- end -}}
{{- end -}}

{{/* Rolls pods when the chart's configuration or tokens change. */}}
{{- define "samem.checksum" -}}
checksum/config: {{ include (print .Template.BasePath "/config.yaml") . | sha256sum }}
{{- end -}}

{{- define "samem.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "samem.containerSecurityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end -}}

{{/* Writable scratch for a read-only root filesystem: HOME, caches and matplotlib's config live in /tmp. */}}
{{- define "samem.scratchEnv" -}}
- name: HOME
  value: /tmp
- name: XDG_CACHE_HOME
  value: /tmp/.cache
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
- name: TORCHINDUCTOR_CACHE_DIR
  value: /tmp/torchinductor
{{- end -}}

{{/* Environment of samem serve / samem worker: the ConfigMap, then the Redis URL from the Secret. */}}
{{- define "samem.serviceEnvFrom" -}}
- configMapRef:
    name: {{ include "samem.componentName" (dict "root" . "component" "config") }}
- secretRef:
    name: {{ include "samem.componentName" (dict "root" . "component" "redis-url") }}
{{- end -}}

{{/* Scheduling of a component: nodeSelector, tolerations, affinity from its values block. */}}
{{- define "samem.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "samem.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A NetworkPolicy peer: the pods of one component. */}}
{{- define "samem.peer" -}}
- podSelector:
    matchLabels:
      {{- include "samem.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- define "samem.metricsRule" -}}
{{- if .root.Values.metrics.enabled }}
- ports:
    - port: {{ .port }}
      protocol: TCP
  from:
    - namespaceSelector:
        {{- toYaml .root.Values.networkPolicy.metricsNamespaceSelector | nindent 8 }}
{{- end }}
{{- end -}}
