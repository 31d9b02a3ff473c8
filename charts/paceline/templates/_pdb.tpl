{{/*
PodDisruptionBudget of a component. Usage: include "paceline.pdb" (dict "ctx" $ "component" "activity-api" "values" .Values.activityApi)
*/}}
{{- define "paceline.pdb" -}}
{{- if .values.pdb.enabled }}
{{- /* issue 15: a PDB must never block a node drain. maxUnavailable (default 1) always lets
one pod go; minAvailable is refused when it is not below the fewest pods the component runs. */ -}}
{{- if kindIs "invalid" .values.pdb.maxUnavailable }}
{{- $fewest := int (.values.replicaCount | default 1) }}
{{- if and .values.autoscaling .values.autoscaling.enabled }}{{ $fewest = int .values.autoscaling.minReplicas }}{{ end }}
{{- $min := .values.pdb.minAvailable }}
{{- if and (not (kindIs "invalid" $min)) (not (kindIs "string" $min)) (ge (int $min) $fewest) }}
{{- fail (printf "%s.pdb.minAvailable=%d with %d replica(s) would block every node drain: use pdb.maxUnavailable (default 1), or run more replicas" .component (int .values.pdb.minAvailable) $fewest) }}
{{- end }}
{{- else if or (eq (toString .values.pdb.maxUnavailable) "0") (eq (toString .values.pdb.maxUnavailable) "0%") }}
{{- fail (printf "%s.pdb.maxUnavailable=0 would block every node drain: use 1 or more" .component) }}
{{- end }}
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
