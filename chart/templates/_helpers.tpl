{{/*
What every resource of the chart shares. The security context is not a value:
every pod runs it, non-root as the image's user, read-only root, no privilege
escalation, no capabilities, the runtime's seccomp profile.
*/}}

{{- define "ctao-sat.uid" -}}10001{{- end }}

{{- define "ctao-sat.labels" -}}
app.kubernetes.io/name: ctao-sat
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ctao-sat
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "ctao-sat.selector" -}}
app.kubernetes.io/name: ctao-sat
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ctao-sat.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}:{{ $tag }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{/* The Jupyter image of the release: the same repository, tag <tag>-jupyter. */}}
{{- define "ctao-sat.jupyterImage" -}}
{{- $tag := printf "%s-jupyter" (.Values.image.tag | default .Chart.AppVersion) -}}
{{- if .Values.jupyter.digest -}}
{{ .Values.image.repository }}:{{ $tag }}@{{ .Values.jupyter.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{/* The analysis Job: <release>-<use case>, or <release>-verify (job.run). */}}
{{- define "ctao-sat.jobName" -}}
{{ .Release.Name }}-{{ if eq .Values.job.run "verify" }}verify{{ else }}{{ .Values.job.usecase }}{{ end }}
{{- end }}

{{- define "ctao-sat.dataClaim" -}}
{{- .Values.data.existingClaim | default (printf "%s-data" .Release.Name) -}}
{{- end }}

{{/* Pod level: what Kubernetes checks before it starts a container. */}}
{{- define "ctao-sat.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ include "ctao-sat.uid" . }}
runAsGroup: {{ include "ctao-sat.uid" . }}
fsGroup: {{ include "ctao-sat.uid" . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container level. */}}
{{- define "ctao-sat.securityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* The data claim read-only at /data (GAMMAPY_DATA of the image). */}}
{{- define "ctao-sat.dataVolume" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "ctao-sat.dataClaim" . }}
    readOnly: true
{{- end }}

{{/* Scratch: HOME of the image is /tmp (caches, matplotlib config). */}}
{{- define "ctao-sat.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end }}

{{- define "ctao-sat.mounts" -}}
- name: data
  mountPath: /data
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
A Ray pod (head or worker): guaranteed resources (requests = limits), /tmp and the
object store's /dev/shm on emptyDirs, the data read-only.
Arguments: dict root, name, cpu, memory.
*/}}
{{- define "ctao-sat.rayPod" -}}
automountServiceAccountToken: false
securityContext:
  {{- include "ctao-sat.podSecurityContext" .root | nindent 2 }}
containers:
  - name: {{ .name }}
    image: {{ include "ctao-sat.image" .root }}
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    {{- if eq .name "ray-head" }}
    ports:
      - containerPort: 6379
        name: gcs
    {{- end }}
    resources:
      requests: {cpu: {{ .cpu | quote }}, memory: {{ .memory }}}
      limits: {cpu: {{ .cpu | quote }}, memory: {{ .memory }}}
    securityContext:
      {{- include "ctao-sat.securityContext" .root | nindent 6 }}
    volumeMounts:
      {{- include "ctao-sat.mounts" .root | nindent 6 }}
      - name: shm
        mountPath: /dev/shm
volumes:
  {{- include "ctao-sat.dataVolume" .root | nindent 2 }}
  {{- include "ctao-sat.tmpVolume" .root | nindent 2 }}
  - name: shm
    emptyDir:
      medium: Memory
      sizeLimit: 1Gi
{{- end }}
