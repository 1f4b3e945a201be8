{{/* The namespace of every namespaced object. */}}
{{- define "stepsplice.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* What the Deployment, Service, PDB and NetworkPolicy select pods by: the same as deploy/base. */}}
{{- define "stepsplice.selectorLabels" -}}
app.kubernetes.io/name: stepsplice
{{- end -}}

{{- define "stepsplice.labels" -}}
{{ include "stepsplice.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "stepsplice.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Where the API server calls, which namespaces it never sends, and how it fails: the same for every webhook. Takes (list $ "/path"). */}}
{{- define "stepsplice.webhookCommon" -}}
{{- $ := index . 0 -}}
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: {{ $.Values.webhooks.failurePolicy }}
timeoutSeconds: {{ $.Values.webhooks.timeoutSeconds }}
matchPolicy: Equivalent
clientConfig:
  service:
    name: stepsplice
    namespace: {{ include "stepsplice.namespace" $ }}
    path: {{ index . 1 }}
  {{- if eq $.Values.certificates.mode "secret" }}
  caBundle: {{ required "certificates.caBundle is required with certificates.mode=secret: the base64 PEM of the CA that signed the Secret's certificate" $.Values.certificates.caBundle }}
  {{- end }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ concat $.Values.webhooks.excludedNamespaces (list (include "stepsplice.namespace" $)) | uniq | toJson }}
{{- end -}}

{{/* cert-manager's CA injector fills the caBundle from the Certificate this names. */}}
{{- define "stepsplice.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "cert-manager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ include "stepsplice.namespace" . }}/stepsplice-serving
{{- end -}}
{{- end -}}
