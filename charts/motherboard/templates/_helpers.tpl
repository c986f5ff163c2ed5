{{/* Names, labels and images shared by every template. */}}

{{/* The release's base name: the release name if it already says "motherboard", else "<release>-motherboard". */}}
{{- define "motherboard.fullname" -}}
{{- if contains "motherboard" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-motherboard" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "motherboard.operator.name" -}}{{ include "motherboard.fullname" . }}-operator{{- end -}}
{{- define "motherboard.scheduler.name" -}}{{ include "motherboard.fullname" . }}-scheduler{{- end -}}
{{- define "motherboard.devicePlugin.name" -}}{{ include "motherboard.fullname" . }}-device-plugin{{- end -}}
{{- define "motherboard.webhook.service" -}}{{ include "motherboard.fullname" . }}-webhook{{- end -}}

{{/* Labels on every object. */}}
{{- define "motherboard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: motherboard
app.kubernetes.io/name: motherboard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of a component's objects: (dict "ctx" $ "component" "operator"). */}}
{{- define "motherboard.componentLabels" -}}
{{ include "motherboard.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "operator"). */}}
{{- define "motherboard.selector" -}}
app.kubernetes.io/name: motherboard
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference: (dict "ctx" $ "repository" "motherboard/operator"). */}}
{{- define "motherboard.image" -}}
{{- $tag := .ctx.Values.image.tag | default .ctx.Chart.AppVersion -}}
{{- if .ctx.Values.image.registry -}}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Pod-level fields shared by the operator and the scheduler. */}}
{{- define "motherboard.podCommon" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext: {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- end -}}
