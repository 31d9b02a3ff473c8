{{/*
ServiceAccount of a component. The token is mounted only for the components
that patch the tokens Secret (automount=true).
Usage: include "paceline.serviceAccount" (dict "ctx" $ "component" "redis" "values" .Values.redis "automount" false)
*/}}
{{- define "paceline.serviceAccount" -}}
{{- if .values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "paceline.serviceAccountName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" . | nindent 4 }}
  {{- with .values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .automount }}
{{- end }}
{{- end -}}

{{/*
Role allowing only get/patch on the tokens Secret, by name.
Usage: include "paceline.tokensRole" (dict "ctx" $ "component" "activity-api")
*/}}
{{- define "paceline.tokensRole" -}}
{{- if .ctx.Values.rbac.create }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "paceline.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" . | nindent 4 }}
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: [{{ include "paceline.tokensSecretName" .ctx | quote }}]
    verbs: ["get", "patch"]
{{- end }}
{{- end -}}

{{/*
RoleBinding of a component's ServiceAccount to its Role.
Usage: include "paceline.tokensRoleBinding" (dict "ctx" $ "component" "activity-api" "values" .Values.activityApi)
*/}}
{{- define "paceline.tokensRoleBinding" -}}
{{- if .ctx.Values.rbac.create }}
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "paceline.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "paceline.componentName" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "paceline.serviceAccountName" . }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end }}
{{- end -}}
