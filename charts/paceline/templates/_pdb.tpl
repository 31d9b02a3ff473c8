{{/*
PodDisruptionBudget of a component. Usage: include "paceline.pdb" (dict "ctx" $ "component" "activity-api" "values" .Values.activityApi)
*/}}
{{- define "paceline.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "paceline.componentName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "paceline.labels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .values.pdb.maxUnavailable) }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "paceline.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
