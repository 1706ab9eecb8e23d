{{/* Render-time checks: contradictory or incomplete values fail the install with a message naming the fix. */}}
{{- define "samem.validate" -}}
{{- $v := .Values -}}
{{- if and (not $v.redis.enabled) (not $v.redis.externalUrl) -}}
{{- fail "redis.enabled=false needs redis.externalUrl (redis://[:PASSWORD@]HOST:PORT/DB of your Redis), or set redis.enabled=true" -}}
{{- end -}}
{{- if and $v.redis.enabled $v.redis.externalUrl -}}
{{- fail "redis.enabled=true and redis.externalUrl are both set: choose the chart's Redis (clear redis.externalUrl) or yours (redis.enabled=false)" -}}
{{- end -}}
{{- if and (eq $v.autoscaling.mode "keda") (not $v.redis.enabled) (not $v.autoscaling.keda.redisAddress) -}}
{{- fail "autoscaling.mode=keda with an external Redis needs autoscaling.keda.redisAddress (HOST:PORT) for the workers' redis list-length trigger" -}}
{{- end -}}
{{- if and (eq $v.autoscaling.mode "keda") $v.triton.enabled $v.autoscaling.triton.enabled (not $v.autoscaling.keda.prometheusServerAddress) -}}
{{- fail "autoscaling.mode=keda scales Triton on its queue metrics: set autoscaling.keda.prometheusServerAddress (e.g. http://prometheus-operated.monitoring:9090) or autoscaling.triton.enabled=false" -}}
{{- end -}}
{{- range $name := list "worker" "triton" -}}
{{- $a := index $v.autoscaling $name -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- fail (printf "autoscaling.%s.minReplicas (%d) exceeds autoscaling.%s.maxReplicas (%d)" $name (int $a.minReplicas) $name (int $a.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.autoscaling.mode "hpa") (eq (int $v.autoscaling.worker.minReplicas) 0) -}}
{{- fail "autoscaling.mode=hpa cannot scale workers to zero (autoscaling.worker.minReplicas=0): use autoscaling.mode=keda or minReplicas >= 1" -}}
{{- end -}}
{{- if $v.dashboard.ingress.enabled -}}
{{- if not $v.dashboard.enabled -}}
{{- fail "dashboard.ingress.enabled=true needs dashboard.enabled=true" -}}
{{- end -}}
{{- if not $v.dashboard.ingress.hosts -}}
{{- if $v.dashboard.ingress.tls.enabled -}}
{{- fail "dashboard.ingress.tls.enabled=true needs dashboard.ingress.hosts (the names the certificate is for)" -}}
{{- end -}}
{{- fail "dashboard.ingress.enabled=true needs at least one host in dashboard.ingress.hosts" -}}
{{- end -}}
{{- if and $v.dashboard.ingress.tls.enabled (not $v.dashboard.ingress.tls.secretName) -}}
{{- fail "dashboard.ingress.tls.enabled=true needs dashboard.ingress.tls.secretName (a kubernetes.io/tls Secret, or the name cert-manager should fill)" -}}
{{- end -}}
{{- end -}}
{{- if $v.triton.enabled -}}
{{- if and (eq $v.model.variant "onnx") (eq (int $v.triton.gpus) 0) -}}
{{- fail "model.variant=onnx runs on GPUs (onnxruntime + TensorRT, KIND_GPU): set triton.gpus >= 1, or model.variant=python for a CPU-only Triton" -}}
{{- end -}}
{{- if and (eq $v.triton.repository.source "image") (ne $v.model.variant "onnx") -}}
{{- fail "triton.repository.source=image serves the ONNX repository baked into docker/triton.Dockerfile: set model.variant=onnx, or triton.repository.source=export" -}}
{{- end -}}
{{- if and (eq $v.triton.repository.source "claim") (not $v.triton.repository.existingClaim) -}}
{{- fail "triton.repository.source=claim needs triton.repository.existingClaim (a PVC holding a repository written by samem export)" -}}
{{- end -}}
{{- if and (eq $v.triton.repository.source "export") (not $v.model.checkpoint) -}}
{{- fail "triton.repository.source=export needs model.checkpoint (the checkpoint file on the models volume that samem export reads)" -}}
{{- end -}}
{{- end -}}
{{- if and $v.worker.backend (hasPrefix "triton://" $v.worker.backend | not) (ne $v.worker.backend "local") -}}
{{- fail (printf "worker.backend must be empty, local or triton://HOST:PORT, got %q" $v.worker.backend) -}}
{{- end -}}
{{- if and $v.tls.enabled (not $v.tls.secretName) -}}
{{- fail "tls.enabled=true needs tls.secretName (a kubernetes.io/tls Secret with tls.crt and tls.key, e.g. from cert-manager)" -}}
{{- end -}}
{{- if and $v.model.extra (ne (include "samem.workerBackend" .) "local") -}}
{{- fail "model.extra offers models the workers build in process, but they run on Triton, which serves only model.name: set worker.backend=local, or remove model.extra" -}}
{{- end -}}
{{- $names := list (include "samem.defaultModel" .) -}}
{{- range $v.model.extra -}}
{{- if has .name $names -}}
{{- fail (printf "model.extra: the model name %q is used twice (model.catalogueName or model.name counts too); give each its own name" .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- if and (not $v.auth.existingSecret) (not $v.auth.users) $v.auth.requireUsers -}}
{{- fail "no users: set auth.users (name, token, admin) or auth.existingSecret holding tokens.json; auth.requireUsers=false allows an empty service" -}}
{{- end -}}
{{- range $v.auth.users -}}
{{- if lt (len (toString .token)) 8 -}}
{{- fail (printf "auth.users: the token of %q is shorter than 8 characters" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
